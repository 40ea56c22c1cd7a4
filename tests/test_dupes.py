"""End to end: `hpa-dupes` on the real Kaggle 2018 and HPAv18 images plus perturbed copies (precision/recall of the pairs),
`hpa-train --dupes` folds, `hpa-predict --dupes` averaging, bad inputs. The real-data report runs the installed console
script in a new process, started as the module starts so that it runs beside the other tests; the rest runs in this process."""
import itertools, pytest, numpy as np, pandas as pd
from PIL import Image
from hpa_fastai.all import read_dupes, hpa_dupes, to_plane, decode_jpeg, STAINS, make_synth, hpa_setup
from hpa_fastai.dupes import perturbed_copies, pair_set, pair_scores  # evaluation helpers: importable, not in `__all__`
from hpa_fastai.cli import hpa_predict, hpa_train

from helpers import SHARED, start, main, ok, selected

def true_pairs(cp, extra=()):
    "Pairs a perfect report finds: each copy with its original, copies of one original with each other, and `extra`"
    t = {tuple(sorted(p)) for p in zip(cp.dupe, cp.original)}
    t |= {tuple(sorted(p)) for _,g in cp.groupby('original') for p in itertools.combinations(g.dupe, 2)}
    return t | {tuple(sorted(p)) for p in extra}

@pytest.fixture(scope='module', autouse=True)
def real(request, tmp_path_factory):
    """64 real 2018 images + 30 perturbed copies (24 once, 6 twice) + the HPAv18 colour JPEGs and their 512 px grey conversions,
    and `hpa-dupes` (the installed script) of the four folders, started as this module starts to run beside the tests before the last"""
    tr,v18 = SHARED/'hpa2018'/'train',SHARED/'hpav18'
    if not selected(request, 'test_report_real'): yield None; return
    if not tr.is_dir() or not (v18/'images').is_dir(): yield None; return
    d = tmp_path_factory.mktemp('real')
    ids = sorted({o.name.rsplit('_',1)[0] for o in tr.iterdir()})
    cp = perturbed_copies(tr, d/'copies', ids[:24]+ids[:6])
    lab = pd.read_csv(v18/'labels.csv', dtype=str)
    full = lab.Id[lab.channels_present.str.split().map(len)==4].tolist()
    (d/'v18png').mkdir()
    for i in full:   # what hpa-download makes of each JPEG, under another id: the cross-format duplicate of the real data
        for c in STAINS: Image.fromarray(to_plane(decode_jpeg((v18/'images'/f'{i}_{c}.jpg').read_bytes()), c)).save(d/'v18png'/f'png_{i}_{c}.png')
    p = start('hpa-dupes', f'hpa2018={tr}', f'copies={d/"copies"}', f'v18={v18/"images"}', f'v18png={d/"v18png"}',
              '--out', d/'dupes.csv', '--plot', d/'groups.jpg', '--hashes', d/'hashes.csv', '--quiet')
    yield d,cp,full,p
    p.close()

@pytest.fixture(scope='module')
def synth_dupes(tmp_path_factory):
    "A 40-image synthetic set with perturbed copies of 8 of its images (labels copied), and its duplicate report"
    p = tmp_path_factory.mktemp('dup')
    make_synth(p, n=40, size=32, seed=5, min_per_class=1, progress=False)
    lab = pd.read_csv(p/'train.csv', dtype=str)
    cp = perturbed_copies(p/'train', p/'train', lab.Id[:8].tolist())
    pd.concat([lab, pd.DataFrame({'Id': cp.dupe, 'Target': lab.set_index('Id').Target[cp.original].values})]).to_csv(p/'train.csv', index=False)
    ok(main('hpa-dupes', p/'train', '--out', p/'dupes.csv', '--quiet'))
    return p,cp

def test_report_synth(synth_dupes):
    p,cp = synth_dupes
    rep = pd.read_csv(p/'dupes.csv', dtype={'id':str})
    assert pair_scores(pair_set(rep), true_pairs(cp)) == dict(found=8, true=8, correct=8, precision=1., recall=1.)

def test_folds_keep_groups(synth_dupes):
    "hpa_setup (what hpa-train runs) with a report never puts two members of a group in different folds; without one it does"
    p,cp = synth_dupes
    grp = read_dupes(p/'dupes.csv')
    def split_groups(**kw):
        learn,_,_ = hpa_setup(p/'train.csv', out=p/'m', schedule='full:1:1e-3', bs=8, progress=False, **kw)
        va = set(learn.dls.valid.items.id)
        return sum(len({i in va for i in g.index})>1 for _,g in grp.groupby(grp))
    assert split_groups(dupes=p/'dupes.csv')==0
    assert split_groups()>0

def test_train_predict_cli(synth_dupes, tmp_path, capsys):
    "hpa-train --dupes runs end to end; hpa-predict --dupes gives every member of a group the same probabilities and leaves the rest alone"
    p,cp = synth_dupes
    hpa_train.__wrapped__(csv=p/'train.csv', dupes=p/'dupes.csv', out=tmp_path/'m', schedule='full:1:1e-3', bs=8, arch='resnet10t', pretrained=False, quiet=True)
    for d in (None, p/'dupes.csv'):
        hpa_predict.__wrapped__(tmp_path/'m', images=p/'train', out=tmp_path/f'sub{d is None}.csv', probs=tmp_path/f'p{d is None}.csv', dupes=d, quiet=True)
    raw,avg = [pd.read_csv(tmp_path/f'p{o}.csv', dtype={'id':str}).set_index('id') for o in (True, False)]
    grp = read_dupes(p/'dupes.csv')
    for _,g in grp.groupby(grp):
        a = avg.loc[g.index].values
        assert np.allclose(a, a[0], atol=1e-5) and np.allclose(a[0], raw.loc[g.index].values.mean(0), atol=1e-4)
    assert not all(np.allclose(raw.loc[g.index].values, raw.loc[g.index].values[0], atol=1e-5) for _,g in grp.groupby(grp))
    with pytest.raises(SystemExit, match=f"hpa-predict: Duplicate report {tmp_path/'none.csv'} does not exist: make one with hpa-dupes."):
        hpa_predict.__wrapped__(tmp_path/'m', images=p/'train', out=tmp_path/'s.csv', dupes=tmp_path/'none.csv', quiet=True)
    alone = [i for i in raw.index if i not in grp.index]
    assert len(alone)==40-8 and np.allclose(raw.loc[alone].values, avg.loc[alone].values, atol=1e-5)

def fails(msg, *folders, **kw):
    with pytest.raises(SystemExit) as e: hpa_dupes.__wrapped__(*folders, **kw)
    assert str(e.value).startswith('hpa-dupes: ') and msg in str(e.value) and '\n' not in str(e.value), str(e.value)

def test_bad_inputs(tmp_path, synth_dupes):
    p,_ = synth_dupes
    fails('Pass at least one image folder')
    fails(f'Image folder {tmp_path/"nope"} does not exist', tmp_path/'nope', out=tmp_path/'d.csv')
    fails("channels='q' is not a set of stains", p/'train', channels='q', out=tmp_path/'d.csv')
    fails('same source name', p/'train', f'train={p/"train"}', out=tmp_path/'d.csv')
    fails(f'Cannot write {tmp_path/"no"/"d.csv"}: folder {tmp_path/"no"} does not exist', p/'train', out=tmp_path/'no'/'d.csv', quiet=True)
    # outputs never overwrite an input or one another, numeric options have ranges: all refused before any image is read
    im = sorted((p/'train').iterdir())[0]
    fails(f'--out {im} is a file in the image folder {p/"train"} (train)', p/'train', out=im)
    fails(f'--plot {p/"train"/"g.png"} is an image in the image folder', p/'train', out=tmp_path/'d.csv', plot=p/'train'/'g.png')
    fails(f'--hashes {tmp_path/"d.csv"} is also --out {tmp_path/"d.csv"}', p/'train', out=tmp_path/'d.csv', hashes=tmp_path/'d.csv')
    fails('--plot x.csv needs the extension of a picture format', p/'train', out=tmp_path/'d.csv', plot='x.csv')
    fails('--thresh 257 is out of range: the Hamming distance in bits (64 per stain of --channels rgby) must be an integer from 0 to 256.', p/'train', channels='rgby', thresh=257, out=tmp_path/'d.csv')
    fails('--workers -1 is out of range', p/'train', workers=-1, out=tmp_path/'d.csv')
    assert not (tmp_path/'d.csv').exists() and not (p/'train'/'g.png').exists()
    (tmp_path/'bad.csv').write_text('a,b\n1,2\n')
    with pytest.raises(SystemExit, match=r"^hpa-train: Duplicate report .*bad.csv has columns \['a', 'b'\]; expected group,id \(as hpa-dupes writes\).$"):
        hpa_train.__wrapped__(csv=p/'train.csv', dupes=tmp_path/'bad.csv', out=tmp_path/'m', quiet=True)

@pytest.mark.slow
def test_report_real(real, capsys):
    if real is None: pytest.skip('no real sample images')
    d,cp,full,p = real
    r = ok(p.result())
    rep = pd.read_csv(d/'dupes.csv', dtype={'id':str})
    sc = pair_scores(pair_set(rep), true_pairs(cp, [(i, f'png_{i}') for i in full]))
    with capsys.disabled(): print(f"\n{r.stdout}{rep.groupby('group').size().value_counts().sort_index().rename('groups of size').to_dict()}\n{sc}\n"
                                  f"distances: copies {rep[rep.source=='copies'].distance.max()} max, v18 JPEG vs PNG {rep[rep.source=='v18png'].distance.max()} max")
    assert list(rep.columns)==['group','id','source','distance']
    assert (sc['precision'], sc['recall'])==(1., 1.), sc
    assert rep.groupby('group').source.apply(lambda s: (s=='hpa2018').sum()+(s=='v18').sum()).eq(1).all()   # no group of two originals
    assert rep.group.nunique()==24+len(full)
    assert 'skipped 3 unreadable sample(s) of v18' in r.stdout                 # the 3 partial HPAv18 samples
    assert (d/'groups.jpg').stat().st_size>10_000 and len(pd.read_csv(d/'hashes.csv'))==64+30+8+8
