"End to end: `hpa-download` against a local HTTP server serving the real HPAv18 JPEGs, with injected faults (500s, timeouts, truncated bodies, corrupt bodies, 404s), resume, and a kill half-way."
import subprocess, time, signal, pytest, pandas as pd
from types import SimpleNamespace
from functools import partial
from PIL import Image
from hpa_fastai.all import hpav18_url, hpa_download, open_hpa, STAINS
from hpa_fastai.download import FaultServer  # a test server: importable, but not in `__all__`

from helpers import cmd, run
run = partial(run, timeout=300)
FAST = ['--timeout', 1, '--retries', 3, '--backoff', 0.05, '--workers', 8, '--quiet']

def run_here(capsys, **kw):
    "`hpa-download` in this process (saves the ~10 s import of a new one): a CompletedProcess-like (returncode, stdout, stderr)"
    capsys.readouterr()
    try: hpa_download.__wrapped__(**kw); rc,err = 0,''
    except SystemExit as e: rc,err = 1,f"{e}\n"
    return SimpleNamespace(returncode=rc, stdout=capsys.readouterr().out, stderr=err)

def v18(shared):
    src = shared/'hpav18'
    if not (src/'images').is_dir(): pytest.skip('no HPAv18 sample images')
    return src

def check_outputs(out):
    "Every file under a final name is a complete 512 px grey PNG; nothing temporary or foreign is left"
    fs = sorted((out/'train').iterdir())
    assert not [o.name for o in fs if o.name.startswith('.') or o.suffix!='.png'], [o.name for o in fs]
    for o in fs:
        with Image.open(o) as im: im.load(); assert (im.mode, im.size)==('L', (512,512)), o
    return {o.name for o in fs}

@pytest.mark.slow
def test_faults_and_resume(shared, tmp_path, capsys):
    src = v18(shared)
    lab = pd.read_csv(src/'labels.csv', dtype=str)
    have = {f'{i}_{c}.jpg' for i,cs in zip(lab.Id, lab.channels_present) for c in cs.split()}
    missing = {f'{i}_{c}.jpg' for i in lab.Id for c in STAINS} - have       # 8 stains of the 3 partial samples: permanent 404s
    faults = {'10580_1610_C1_1_red.jpg':    [500, 500],     # two server errors, then fine
              '10580_1610_C1_1_green.jpg':  ['slow'],       # answer after the client's timeout, then fine
              '10580_1610_C1_2_blue.jpg':   ['truncate'],   # half the promised Content-Length, then fine
              '10580_1756_B1_1_yellow.jpg': ['garbage'],    # a full-length body that is not a JPEG, then fine
              '10580_1756_B1_2_red.jpg':    [500]*4,        # more 500s than 1+3 attempts: fails now, fine on the rerun
              '10814_50_A1_1_blue.jpg':     [404]}          # a 404 is not retried: fails now, fine on the rerun
    csv,out = tmp_path/'v18.csv',tmp_path/'out'
    lab[['Id','Target']].to_csv(csv, index=False)
    with FaultServer(src/'images', faults, slow=2.5) as srv:
        t = time.time()
        r1 = run('hpa-download', '--csv', csv, '--out', out, '--base-url', srv.url, *FAST)
        t1,hits1 = time.time()-t,dict(srv.hits)
        log1,f1 = (out/'download.log').read_text(),pd.read_csv(out/'failures.csv')
        r2 = run_here(capsys, csv=csv, out=out, base_url=srv.url, timeout=1, retries=3, backoff=0.05, workers=8, quiet=True)
        hits2 = {k:v-hits1.get(k, 0) for k,v in srv.hits.items() if v-hits1.get(k, 0)}
    with capsys.disabled():
        print(f"\n--- first run ({t1:.1f}s), exit {r1.returncode}\n{r1.stdout}{r1.stderr}--- download.log of the first run\n{log1}"
              f"--- failures.csv after the first run\n{f1.to_string(index=False)}\n--- second run, exit {r2.returncode}\n{r2.stdout}{r2.stderr}"
              f"--- requests of the second run: {hits2}")
    # first run: every retryable fault retried to success, the 404s and the exhausted 500 reported, exit 1
    assert r1.returncode==1 and 'Traceback' not in r1.stderr, r1.stderr
    assert '34 downloaded, 0 skipped (already done), 10 failed' in r1.stdout, r1.stdout
    assert r1.stderr.strip()==f"hpa-download: 10 of 44 files failed (listed in {out/'failures.csv'}); run the same command again to retry them."
    assert hits1['10580_1610_C1_1_red.jpg']==3 and hits1['10580_1610_C1_1_green.jpg']==2
    assert hits1['10580_1610_C1_2_blue.jpg']==2 and hits1['10580_1756_B1_1_yellow.jpg']==2
    assert hits1['10580_1756_B1_2_red.jpg']==4 and hits1['10814_50_A1_1_blue.jpg']==1
    assert all(hits1[m]==1 for m in missing)                                       # 404s are asked once
    for s in ('HTTP 500', 'timeout after 1s', 'truncated body', 'not a decodable image'): assert s in log1, s
    assert sorted(f1.id+'_'+f1.stain+'.jpg')==sorted(missing|{'10580_1756_B1_2_red.jpg','10814_50_A1_1_blue.jpg'})
    assert set(f1.columns)=={'id','stain','url','reason'}
    assert f1.url.iloc[0]==hpav18_url(f1.id.iloc[0], f1.stain.iloc[0], srv.url)
    assert set(f1.reason)=={'HTTP 404 Not Found', 'HTTP 500 Internal Server Error'}
    # the second run asks only for what failed, gets the two transient failures, still reports the 8 missing stains
    assert r2.returncode==1 and '2 downloaded, 34 skipped (already done), 8 failed' in r2.stdout, r2.stdout
    assert set(hits2)==missing|{'10580_1756_B1_2_red.jpg','10814_50_A1_1_blue.jpg'} and set(hits2.values())=={1}
    names = check_outputs(out)
    assert names=={f'{o[:-4]}.png' for o in have}
    complete = lab.Id[lab.channels_present.str.split().map(len)==4].tolist()
    assert pd.read_csv(out/'train.csv', dtype=str).Id.tolist()==complete and len(complete)==8
    # the converted planes are what the library's own HPAv18 reader makes of the JPEGs, and hpa-train's reader takes them
    i = complete[0]
    assert (open_hpa(out/'train'/i)==open_hpa(src/'images'/i, size=512)).all()

@pytest.mark.slow
def test_kill_and_resume(shared, tmp_path, capsys):
    "Killed half-way (SIGKILL), a download leaves only complete files under final names; the rerun skips exactly those"
    src = v18(shared)
    lab = pd.read_csv(src/'labels.csv', dtype=str)
    csv,out = tmp_path/'v18.csv',tmp_path/'out'
    lab[lab.channels_present.str.split().map(len)==4][['Id','Target']].iloc[:4].to_csv(csv, index=False)
    with FaultServer(src/'images', delay=0.3) as srv:
        p = subprocess.Popen(cmd('hpa-download', '--csv', csv, '--out', out, '--base-url', srv.url, '--workers', 2, '--quiet'),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t = time.time()
        while time.time()-t<120 and len(list((out/'train').glob('[!.]*.png')) if (out/'train').is_dir() else [])<4: time.sleep(0.05)
        p.send_signal(signal.SIGKILL); p.wait()
        tmp = [o.name for o in (out/'train').iterdir() if o.name.startswith('.')]
        done = {o.name for o in (out/'train').glob('[!.]*.png')}
        assert 4<=len(done)<16
        for o in done:
            with Image.open(out/'train'/o) as im: im.load(); assert im.size==(512,512)
        hits = sum(srv.hits.values())
        r = run_here(capsys, csv=csv, out=out, base_url=srv.url, workers=8, quiet=True)
        asked = sum(srv.hits.values())-hits
    assert r.returncode==0, r.stderr
    assert f"{16-len(done)} downloaded, {len(done)} skipped (already done), 0 failed" in r.stdout, r.stdout
    assert asked==16-len(done)
    assert check_outputs(out)>=done and len(check_outputs(out))==16
    assert not (out/'failures.csv').exists()
    with capsys.disabled(): print(f"\nkilled with {len(done)} files done and {len(tmp)} temporary file(s) ({tmp}); rerun: {r.stdout.strip()}")

def fails(msg, **kw):
    "`hpa-download` in process: exits with one `hpa-download: ...` line containing `msg`"
    with pytest.raises(SystemExit) as e: hpa_download.__wrapped__(**kw)
    assert str(e.value).startswith('hpa-download: ') and msg in str(e.value) and '\n' not in str(e.value), str(e.value)

def test_bad_inputs(tmp_path):
    fails('--csv is required: the HPAv18 label table', out=tmp_path)
    fails('nope.csv does not exist', csv=tmp_path/'nope.csv', out=tmp_path)
    (tmp_path/'bad.csv').write_text('Id,Target\n10580_1610_C1_1,0\n12345,0\n')
    fails("bad.csv row 3 has id '12345', which is not an HPAv18 id", csv=tmp_path/'bad.csv', out=tmp_path)
    (tmp_path/'z.csv').write_text('Image,Label\n10580_1610_C1_1,0\n')
    fails("z.csv is in the z2g format", csv=tmp_path/'z.csv', out=tmp_path)
    # a server that is not there: every file fails after its retries and is reported; nothing is written
    (tmp_path/'one.csv').write_text('Id,Target\n10580_1610_C1_1,0\n')
    fails('4 of 4 files failed', csv=tmp_path/'one.csv', out=tmp_path/'o', base_url='http://127.0.0.1:9', retries=1, backoff=0.01, quiet=True)
    f = pd.read_csv(tmp_path/'o'/'failures.csv')
    assert len(f)==4 and f.reason.str.startswith('ConnectionRefusedError').all() and not list((tmp_path/'o'/'train').iterdir()), f.reason.tolist()
    assert not (tmp_path/'o'/'train.csv').exists()        # no complete sample: no (empty) label table
    # every numeric option is checked before any work (nothing is created)
    for k,v in [('workers', -1), ('timeout', 0), ('retries', 101), ('backoff', -1.), ('n', 0), ('size', 0)]:
        fails(f'--{k} {v} is out of range', csv=tmp_path/'one.csv', out=tmp_path/'never', **{k:v})
    assert not (tmp_path/'never').exists()
    # the label table is never an output
    (tmp_path/'o'/'train.csv').write_text('Id,Target\n10580_1610_C1_1,0\n')
    fails(f"--out {tmp_path/'o'/'train.csv'} is also --csv", csv=tmp_path/'o'/'train.csv', out=tmp_path/'o')

def test_existing_data_set(tmp_path, capsys):
    "Someone else's data set in --out is refused and left as it was; --force writes into it (replacing only train.csv); a failed run keeps the earlier train.csv"
    (tmp_path/'one.csv').write_text('Id,Target\n10580_1610_C1_1,0\n')
    out = tmp_path/'theirs'; (out/'train').mkdir(parents=True)
    (out/'train.csv').write_text('Id,Target\nmine,0\n'); (out/'train'/'mine_red.png').write_bytes(b'my image')
    kw = dict(csv=tmp_path/'one.csv', out=out, base_url='http://127.0.0.1:9', retries=0, quiet=True)
    fails(f"Folder {out} already holds a data set that hpa-download did not make: a label table train.csv of samples that are not in one.csv and "
          "1 file(s) in train/ that are not images of one.csv, e.g. mine_red.png; pass --force to write into it (its train.csv is replaced), or choose another --out.", **kw)
    assert sorted(o.name for o in out.rglob('*'))==['mine_red.png', 'train', 'train.csv']
    r = run_here(capsys, force=True, **kw)                 # forced, but the server is down: their table stays
    assert r.returncode==1 and '0 downloaded, 0 skipped (already done), 4 failed; no complete sample' in r.stdout, r.stdout+r.stderr
    assert (out/'train.csv').read_text()=='Id,Target\nmine,0\n' and (out/'train'/'mine_red.png').read_bytes()==b'my image'
    r = run_here(capsys, **kw)                             # ours now (download.json): a rerun needs no --force
    assert r.returncode==1 and '4 failed' in r.stdout and 'hpa-download: 4 of 4 files failed' in r.stderr, r.stderr
