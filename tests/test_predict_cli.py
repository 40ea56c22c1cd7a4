"End to end: `hpa-predict` on synthetic and real images, id order, the Zero-to-GANs layout, fold ensembles and bad inputs."
import pytest, numpy as np, pandas as pd
from pathlib import Path
from functools import partial
from hpa_fastai.synth import make_synth
from hpa_fastai.labels import read_labels
from hpa_fastai.cli import hpa_predict

from helpers import run, ok, fails
run = partial(run, timeout=300)
DATA = Path(__file__).resolve().parents[2]/'shared'/'data'
SCHED = 'full:1:1e-3'

@pytest.fixture(scope='module')
def mods(tmp_path_factory):
    "Two 2018-format models (folds 0 and 1) and one Zero-to-GANs model, trained for one epoch on 32 px synthetic images"
    p = tmp_path_factory.mktemp('pred')
    make_synth(p/'s', n=40, size=32, seed=3, progress=False)
    make_synth(p/'z', n=40, size=32, seed=3, fmt='z2g', progress=False)
    # --size 32 is carried by the export: real 512 px images are resized to 32 px on load, which keeps the tests fast
    for f in (0,1): ok(run('hpa-train', '--csv', p/'s/train.csv', '--out', p/f'm{f}', '--schedule', SCHED, '--fold', f, '--size', 32, '--bs', 8, '--quiet'))
    ok(run('hpa-train', '--csv', p/'z/train.csv', '--out', p/'mz', '--channels', 'rgb', '--size', 32, '--schedule', SCHED, '--bs', 8, '--quiet'))
    return p

def check_2018(fn, ids):
    sub = pd.read_csv(fn, dtype=str, keep_default_na=False)
    assert list(sub.columns)==['Id','Predicted'] and sub.Id.tolist()==list(ids)
    assert all(o and all(c.isdigit() and int(c)<28 for c in o.split(' ')) for o in sub.Predicted)
    return sub

def test_folder(mods, tmp_path):
    r = ok(run('hpa-predict', mods/'m0', '--images', mods/'s/train', '--out', tmp_path/'sub.csv', '--tta', 'mean', '--quiet'))
    assert r.stdout.startswith('hpa-predict: wrote 40 hpa2018 predictions')
    check_2018(tmp_path/'sub.csv', sorted(read_labels(mods/'s/train.csv').id))

def test_csv_order(mods, tmp_path):
    ids = read_labels(mods/'s/train.csv').id.tolist()[::-1][:15]
    pd.DataFrame({'Id':ids, 'Predicted':''}).to_csv(tmp_path/'sample_submission.csv', index=False)
    ok(run('hpa-predict', mods/'m0/export.pkl', '--csv', tmp_path/'sample_submission.csv', '--images', mods/'s/train', '--out', tmp_path/'sub.csv',
           '--probs', tmp_path/'p.csv', '--rule', 'prior', '--quiet'))
    check_2018(tmp_path/'sub.csv', ids)
    assert pd.read_csv(tmp_path/'p.csv').id.tolist()==ids

def test_ensemble_is_mean(mods, tmp_path):
    "In-process (no interpreter start-up per call): the probabilities of the fold ensemble are the mean of its members'"
    for name,ms in [('p0',[mods/'m0']), ('p1',[mods/'m1']), ('ens',[mods/'m0', mods/'m1'])]:
        hpa_predict.__wrapped__(*ms, images=mods/'s/train', out=tmp_path/'sub.csv', probs=tmp_path/f'{name}.npy', quiet=True)
    p0,p1,ens = [np.load(tmp_path/f'{o}.npy') for o in ('p0','p1','ens')]
    assert ens.shape==(40,28) and not np.allclose(p0, p1)
    np.testing.assert_allclose(ens, (p0+p1)/2, atol=1e-6)

def test_z2g(mods, tmp_path):
    if not DATA.is_dir(): pytest.skip(f'real data not found at {DATA}')
    ok(run('hpa-predict', mods/'mz', '--images', DATA/'z2g/test', '--out', tmp_path/'sub.csv', '--quiet'))
    sub = pd.read_csv(tmp_path/'sub.csv', dtype=str, keep_default_na=False)
    assert list(sub.columns)==['Image','Label'] and sub.Image.tolist()==['10034']
    assert sub.Label[0] and all(int(c)<10 for c in sub.Label[0].split(' '))

def test_real_hpa2018(mods, tmp_path):
    if not DATA.is_dir(): pytest.skip(f'real data not found at {DATA}')
    csv = DATA/'hpa2018/train.csv'
    r = ok(run('hpa-predict', mods/'m0', '--csv', csv, '--images', DATA/'hpa2018/train', '--out', tmp_path/'sub.csv', '--quiet'))
    assert 'wrote 64 hpa2018 predictions' in r.stdout
    check_2018(tmp_path/'sub.csv', read_labels(csv).id)

def test_bad_inputs(mods, tmp_path):
    fails(run('hpa-predict', tmp_path/'nope.pkl', '--images', mods/'s/train', '--out', tmp_path/'x.csv'), 'does not exist')
    pd.DataFrame({'Id':[read_labels(mods/'s/train.csv').id[0], 'ghost'], 'Predicted':''}).to_csv(tmp_path/'ids.csv', index=False)
    fails(run('hpa-predict', mods/'m0', '--csv', tmp_path/'ids.csv', '--images', mods/'s/train', '--out', tmp_path/'x.csv'), "No image for id 'ghost'")
    (tmp_path/'junk.pkl').write_text('junk')
    for ms,kw,msg in [([tmp_path/'junk.pkl'], {}, 'is not a fastai export'), ([mods/'m0'], dict(images=tmp_path/'nowhere'), 'Image folder'),
                      ([mods/'m0', mods/'mz'], {}, 'must share channels and classes'), ([], {}, 'at least one model')]:
        with pytest.raises(SystemExit, match=msg) as e: hpa_predict.__wrapped__(*ms, **{'images':mods/'s/train', 'out':tmp_path/'x.csv', **kw})
        assert str(e.value).startswith('hpa-predict: ') and '\n' not in str(e.value)
    assert not (tmp_path/'x.csv').exists()
