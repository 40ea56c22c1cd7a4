"""End to end: `hpa-prep` caches, then `hpa-train`/`hpa-predict` on the cache; corrupt sources; kill and resume; bad options; real data.
The installed console script runs in a new process for the corrupt source (exit status 3; started as the module starts, so
that it runs beside the other tests) and for the kill; the rest runs in this process."""
import json, shutil, signal, subprocess, time, pytest, numpy as np, pandas as pd
from pathlib import Path
from hpa_fastai.all import make_synth, open_hpa, hpa_prep

from helpers import cmd, start, main, ok, selected

def prep(*args, **kw):
    "Run `hpa-prep` in this process (no interpreter start-up); returns the exit status"
    try: hpa_prep.__wrapped__(*map(str, args), **kw); return 0
    except SystemExit as e: return e.code

def prep_fails(capsys, msg, *args, **kw):
    "Like `fails`, in process: SystemExit's message is the one line the console script prints"
    code = prep(*args, **kw)
    assert isinstance(code, str) and code.startswith('hpa-prep: ') and msg in code and len(code.splitlines())==1, code

def same_as_source(cache, src, ids, size, channels='rgby'):
    for i in ids: assert np.array_equal(open_hpa(Path(cache)/i, channels), open_hpa(Path(src)/i, channels, size)), i

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "24 synthetic 64 px images, to cache at 64 and 32 px"
    p = tmp_path_factory.mktemp('prep')
    make_synth(p/'s', n=24, size=64, seed=5, progress=False)
    return p

@pytest.fixture(scope='module', autouse=True)
def corrupt(request, data, tmp_path_factory):
    "`hpa-prep` (the installed script) of a copy of `data` with one PNG truncated: started as this module starts, to run beside the tests before the last"
    if not selected(request, 'test_corrupt_source'): yield None; return
    d = tmp_path_factory.mktemp('corrupt')
    shutil.copytree(data/'s', d/'src')
    ids = pd.read_csv(d/'src/train.csv').Id.tolist()
    bad = d/'src/train'/f'{ids[7]}_blue.png'
    bad.write_bytes(bad.read_bytes()[:200])
    p = start('hpa-prep', d/'src/train', '--csv', d/'src/train.csv', '--out', d/'c', '--sizes', 32, '--quiet', timeout=300)
    yield d,ids,bad,p
    p.close()

def test_prep_train_predict(data, tmp_path, capsys):
    "Cache at two sizes, then train and predict on the 32 px cache exactly as on a raw folder"
    src,c = data/'s'/'train',tmp_path/'c'
    r = ok(main('hpa-prep', src, '--csv', data/'s/train.csv', '--out', c, '--sizes', '64,32', '--quiet'))
    assert '24 samples, 24 converted, 0 already cached, 0 skipped' in r.stdout, r.stdout
    ids = pd.read_csv(data/'s/train.csv').Id.tolist()
    for sz in (64,32):
        m = json.loads((c/str(sz)/'manifest.json').read_text())
        assert (m['n'], m['size'], m['format'], m['channels'], m['skipped']) == (24, sz, 'npy', 'rgby', {})
        assert sorted(m['items'])==sorted(ids)
        assert pd.read_csv(c/str(sz)/'labels.csv').equals(pd.read_csv(data/'s/train.csv'))
        same_as_source(c/str(sz), src, ids, sz)
    assert not list(c.rglob('.*.tmp*')), 'temporary files left behind'
    assert prep(src, c, data/'s/train.csv', sizes='64,32', quiet=True)==0
    assert '0 converted, 24 already cached' in capsys.readouterr().out
    ok(main('hpa-train', '--csv', c/'32'/'labels.csv', '--images', c/'32', '--out', tmp_path/'m', '--schedule', 'full:1:1e-3', '--bs', 8, '--arch', 'resnet10t', '--no-pretrained', '--quiet'))
    ok(main('hpa-predict', tmp_path/'m', '--images', c/'32', '--out', tmp_path/'sub.csv', '--quiet'))
    sub = pd.read_csv(tmp_path/'sub.csv')
    assert sorted(sub.Id)==sorted(ids) and len(sub)==24

def test_unlabelled_and_png(data, tmp_path):
    "Without --csv every sample of the folder is cached (a test set); --format png writes stacked RGBA PNGs"
    src = data/'s'/'train'
    assert prep(src, tmp_path/'c', sizes='32', format='png', quiet=True)==0
    fns = sorted((tmp_path/'c'/'32').glob('*.png'))
    assert len(fns)==24 and not (tmp_path/'c'/'32'/'labels.csv').exists()
    same_as_source(tmp_path/'c'/'32', src, [o.stem for o in fns], 32)

def test_processes(data, tmp_path):
    "--processes gives the same files as threads"
    src = data/'s'/'train'
    assert prep(src, tmp_path/'t', data/'s/train.csv', sizes='32', quiet=True)==0
    assert prep(src, tmp_path/'p', data/'s/train.csv', sizes='32', processes=True, workers=2, quiet=True)==0
    for f in (tmp_path/'t'/'32').glob('*.npy'): assert f.read_bytes()==(tmp_path/'p'/'32'/f.name).read_bytes()
    mt,mp = [json.loads((tmp_path/o/'32'/'manifest.json').read_text())['items'] for o in 'tp']
    assert mt==mp and len(mt)==24

@pytest.mark.slow
def test_kill_and_resume(tmp_path, capsys):
    "SIGKILL in the middle of a run leaves only complete files; the next run adopts or redoes them and ends identical"
    make_synth(tmp_path/'s', n=120, size=96, seed=1, progress=False)
    src,c = tmp_path/'s'/'train',tmp_path/'c'
    args = ['hpa-prep', src, '--csv', tmp_path/'s/train.csv', '--out', c, '--sizes', '96,48', '--workers', 1, '--quiet']
    p = subprocess.Popen(cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    while time.time()-t0<120 and len(list((c/'48').glob('*.npy')) if (c/'48').is_dir() else [])<20: time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    n_before = len(list((c/'48').glob('*.npy')))
    assert 20<=n_before<120, f'the run was not interrupted in the middle ({n_before} files)'
    assert prep(src, c, tmp_path/'s/train.csv', sizes='96,48', workers=1, quiet=True)==0
    out = capsys.readouterr().out
    made = int(out.split(' converted')[0].split(', ')[-1])
    assert made<120 and '0 skipped' in out, out
    ids = pd.read_csv(tmp_path/'s/train.csv').Id.tolist()
    for sz in (96,48):
        m = json.loads((c/str(sz)/'manifest.json').read_text())
        assert m['n']==120 and sorted(m['items'])==sorted(ids)
        same_as_source(c/str(sz), src, ids, sz)
    assert prep(src, c, tmp_path/'s/train.csv', sizes='96,48', verify=True, quiet=True)==0
    assert '0 converted, 120 already cached' in capsys.readouterr().out

@pytest.mark.parametrize('kw,msg', [
    (dict(format='jpg'), "format='jpg' is not a cache format"),
    (dict(sizes='big'), "sizes='big'"),
    (dict(sizes='4'), "--sizes 4 is out of range: the image side in pixels must be an integer from 8 to 16384"),
    (dict(sizes='64,99999'), "--sizes 99999 is out of range"),
    (dict(workers=-1), "--workers -1 is out of range: the number of workers must be an integer from 0 to 512"),
    (dict(channels='rgbx'), "channels='rgbx'"),
])
def test_bad_options(data, tmp_path, capsys, kw, msg):
    prep_fails(capsys, msg, data/'s'/'train', tmp_path/'c', quiet=True, **kw)

def test_bad_folders(data, tmp_path, capsys):
    prep_fails(capsys, 'does not exist', tmp_path/'nope', tmp_path/'c')
    prep_fails(capsys, 'does not exist', data/'s'/'train', tmp_path/'c', tmp_path/'nope.csv')
    assert prep(data/'s'/'train', tmp_path/'c', sizes='32', quiet=True)==0
    prep_fails(capsys, "made with format='npy'", data/'s'/'train', tmp_path/'c', sizes='32', format='png', quiet=True)
    (tmp_path/'c'/'32'/'manifest.json').write_text('{"items": ')
    prep_fails(capsys, 'manifest.json is not valid JSON', data/'s'/'train', tmp_path/'c', sizes='32', quiet=True)

def test_real_kaggle_and_hpav18(shared, tmp_path, capsys):
    "Real 512 px Kaggle PNGs, and HPAv18 colour JPEGs (2048²) whose partial samples are skipped by name"
    k = pd.read_csv(shared/'hpa2018'/'train.csv').head(6)
    k.to_csv(tmp_path/'k.csv', index=False)
    assert prep(shared/'hpa2018'/'train', tmp_path/'k', tmp_path/'k.csv', sizes='512,128', quiet=True)==0
    same_as_source(tmp_path/'k'/'512', shared/'hpa2018'/'train', k.Id, 512)
    same_as_source(tmp_path/'k'/'128', shared/'hpa2018'/'train', k.Id, 128)
    v = pd.read_csv(shared/'hpav18'/'labels.csv')
    part = v[v.channels_present.str.split().str.len()<4].Id.tolist()
    capsys.readouterr()
    code = prep(shared/'hpav18'/'images', tmp_path/'v', shared/'hpav18'/'labels.csv', sizes='64', quiet=True)
    err = capsys.readouterr().err
    assert code==(3 if part else 0), err
    for i in part: assert f'{i}:' in err and 'missing' in err
    full = v[~v.Id.isin(part)].Id.tolist()
    assert sorted(pd.read_csv(tmp_path/'v'/'64'/'labels.csv').Id)==sorted(full)
    same_as_source(tmp_path/'v'/'64', shared/'hpav18'/'images', full, 64)

@pytest.mark.slow
def test_corrupt_source(corrupt):
    "A truncated PNG is named on stderr and skipped (exit 3); every other sample is cached and listed in labels.csv"
    d,ids,bad,p = corrupt
    r = p.result()
    assert r.returncode==3 and 'Traceback' not in r.stderr, r.stderr
    assert str(bad) in r.stderr and '1 skipped' in r.stdout
    good = [o for o in ids if o!=ids[7]]
    assert sorted(o.stem for o in (d/'c'/'32').glob('*.npy'))==sorted(good)
    assert sorted(pd.read_csv(d/'c'/'32'/'labels.csv').Id)==sorted(good)
    m = json.loads((d/'c'/'32'/'manifest.json').read_text())
    assert list(m['skipped'])==[ids[7]] and str(bad) in m['skipped'][ids[7]]
    same_as_source(d/'c'/'32', d/'src/train', good, 32)

def test_output_is_input(data, tmp_path, capsys):
    "The cache never writes into its source: --out (or its size folder) is not --images, its labels.csv is not --csv"
    src = data/'s'/'train'
    before = sorted(o.name for o in src.iterdir())
    prep_fails(capsys, 'would write the cache into the --images folder', src, src, sizes='32', quiet=True)
    assert prep(src, tmp_path/'c', sizes='32', quiet=True)==0
    prep_fails(capsys, 'would write the cache into the --images folder', tmp_path/'c'/'32', tmp_path/'c', sizes='32', quiet=True)
    shutil.copy(data/'s/train.csv', tmp_path/'c'/'32'/'labels.csv')
    prep_fails(capsys, 'labels.csv is also --csv', src, tmp_path/'c', tmp_path/'c'/'32'/'labels.csv', sizes='32', quiet=True)
    assert sorted(o.name for o in src.iterdir())==before

def test_hostile_sources_skipped(data, tmp_path, capsys):
    "A FIFO, a folder, a link to nothing, an empty file, a decompression bomb and a NaN TIFF in place of a stain: each sample skipped by name (exit 3), never a hang"
    import os
    from PIL import Image
    d = tmp_path/'src'; shutil.copytree(data/'s'/'train', d)
    ids = sorted(pd.read_csv(data/'s/train.csv').Id)
    makers = [os.mkfifo, os.mkdir, lambda p: os.symlink(d/'gone.png', p), lambda p: p.touch(),
              lambda p: Image.new('1', (9000, 9000)).save(p), None]
    for i,mk in zip(ids, makers):
        fn = d/f'{i}_green.png'; fn.unlink()
        if mk: mk(fn)
        else: import tifffile; tifffile.imwrite(d/f'{i}_green.tif', np.full((64,64), np.nan, np.float32))
    code = prep(d, tmp_path/'c', data/'s/train.csv', sizes='32', quiet=True)
    err = capsys.readouterr().err
    assert code==3 and 'Traceback' not in err, err
    for i,w in zip(ids, ['FIFO', 'folder', 'symbolic link', 'empty', 'decompression bomb', 'NaN or infinite']): assert f'{i}:' in err and w in err.split(f'{i}:')[1].splitlines()[0], (w, err)
    m = json.loads((tmp_path/'c'/'32'/'manifest.json').read_text())
    assert sorted(m['skipped'])==ids[:6] and len(m['items'])==len(ids)-6

def test_debug_traceback(data, tmp_path, capsys, monkeypatch):
    "HPA_DEBUG=1 shows the traceback of a bad option; without it, the one sentence"
    from hpa_fastai.core import HPADataError
    monkeypatch.setenv('HPA_DEBUG', '1')
    with pytest.raises(HPADataError, match='would write the cache'): hpa_prep.__wrapped__(str(data/'s'/'train'), str(data/'s'/'train'), quiet=True)

@pytest.fixture(scope='module', autouse=True)
def two_writers(request, tmp_path_factory):
    "Two `hpa-prep` processes, each with half of a table, into one cache: started as this module starts, to run beside the tests before the last"
    if not selected(request, 'test_two_writers'): yield None; return
    d = tmp_path_factory.mktemp('two')
    make_synth(d/'s', n=60, size=192, seed=2, progress=False)
    df = pd.read_csv(d/'s/train.csv')
    df.iloc[::2].to_csv(d/'a.csv', index=False); df.iloc[1::2].to_csv(d/'b.csv', index=False)
    ps = [start('hpa-prep', d/'s'/'train', '--csv', d/f'{h}.csv', '--out', d/'c', '--sizes', '192,48', '--workers', 1, '--quiet', timeout=300) for h in 'ab']
    yield d,df,ps
    for p in ps: p.close()

@pytest.mark.slow
def test_two_writers(two_writers):
    "Two hpa-prep processes fill one cache at once, each with half of the table: the manifest and labels.csv list every sample of both"
    d,df,ps = two_writers
    for r in [p.result() for p in ps]: assert r.returncode==0 and '30 samples, 30 converted' in r.stdout, r.stdout+r.stderr
    for sz in (192,48):
        m = json.loads((d/'c'/str(sz)/'manifest.json').read_text())
        assert m['n']==60 and sorted(m['items'])==sorted(df.Id), (sz, m['n'])
        assert sorted(pd.read_csv(d/'c'/str(sz)/'labels.csv').Id)==sorted(df.Id)
    same_as_source(d/'c'/'48', d/'s'/'train', df.Id, 48)
