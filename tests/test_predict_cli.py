"End to end: `hpa-predict` on synthetic and real images, id order, the Zero-to-GANs layout, fold ensembles and bad inputs."
import pytest, numpy as np, pandas as pd
from hpa_fastai.all import make_synth, read_labels, train
from hpa_fastai.cli import hpa_predict

from helpers import main, ok, fails

@pytest.fixture(scope='module')
def mz(tmp_path_factory):
    "A Zero-to-GANs (RGB, 10 classes) model, 1 epoch on 24 synthetic 32 px images; `--size 32` is carried by the export"
    p = tmp_path_factory.mktemp('z2g')
    make_synth(p/'z', n=24, size=32, seed=3, fmt='z2g', progress=False)
    train(p/'z/train.csv', out=p/'mz', channels='rgb', size=32, schedule='full:1:1e-2', bs=8, arch='resnet10t', workers=0, progress=False)
    return p/'mz'

def check_2018(fn, ids):
    sub = pd.read_csv(fn, dtype=str, keep_default_na=False)
    assert list(sub.columns)==['Id','Predicted'] and sub.Id.tolist()==list(ids)
    assert all(o and all(c.isdigit() and int(c)<28 for c in o.split(' ')) for o in sub.Predicted)
    return sub

def test_folder(synth, model, tmp_path):
    r = ok(main('hpa-predict', model, '--images', synth/'train', '--out', tmp_path/'sub.csv', '--tta', 'mean', '--quiet'))
    assert r.stdout.startswith('hpa-predict: wrote 40 hpa2018 predictions')
    check_2018(tmp_path/'sub.csv', sorted(read_labels(synth/'train.csv').id))

def test_csv_order(synth, model, tmp_path):
    ids = read_labels(synth/'train.csv').id.tolist()[::-1][:15]
    pd.DataFrame({'Id':ids, 'Predicted':''}).to_csv(tmp_path/'sample_submission.csv', index=False)
    ok(main('hpa-predict', model/'export.pkl', '--csv', tmp_path/'sample_submission.csv', '--images', synth/'train', '--out', tmp_path/'sub.csv',
            '--probs', tmp_path/'p.csv', '--rule', 'prior', '--quiet'))
    check_2018(tmp_path/'sub.csv', ids)
    assert pd.read_csv(tmp_path/'p.csv').id.tolist()==ids

def test_ensemble_is_mean(synth, folds, tmp_path):
    "The probabilities of an ensemble (the two fold models) are the mean of its members'"
    m0,m1 = folds.path/'fold0',folds.path/'fold1'
    for name,ms in [('p0',[m0]), ('p1',[m1]), ('ens',[m0, m1])]:
        hpa_predict.__wrapped__(*ms, images=synth/'train', out=tmp_path/'sub.csv', probs=tmp_path/f'{name}.npy', quiet=True)
    p0,p1,ens = [np.load(tmp_path/f'{o}.npy') for o in ('p0','p1','ens')]
    assert ens.shape==(40,28) and not np.allclose(p0, p1)
    np.testing.assert_allclose(ens, (p0+p1)/2, atol=1e-6)

def test_z2g(shared, mz, tmp_path):
    ok(main('hpa-predict', mz, '--images', shared/'z2g/test', '--out', tmp_path/'sub.csv', '--quiet'))
    sub = pd.read_csv(tmp_path/'sub.csv', dtype=str, keep_default_na=False)
    assert list(sub.columns)==['Image','Label'] and sub.Image.tolist()==['10034']
    assert sub.Label[0] and all(int(c)<10 for c in sub.Label[0].split(' '))

def test_real_hpa2018(shared, model, tmp_path):
    csv = shared/'hpa2018/train.csv'
    r = ok(main('hpa-predict', model, '--csv', csv, '--images', shared/'hpa2018/train', '--out', tmp_path/'sub.csv', '--quiet'))
    assert 'wrote 64 hpa2018 predictions' in r.stdout
    check_2018(tmp_path/'sub.csv', read_labels(csv).id)

def test_bad_inputs(synth, model, mz, tmp_path):
    fails(main('hpa-predict', tmp_path/'nope.pkl', '--images', synth/'train', '--out', tmp_path/'x.csv'), 'does not exist')
    pd.DataFrame({'Id':[read_labels(synth/'train.csv').id[0], 'ghost'], 'Predicted':''}).to_csv(tmp_path/'ids.csv', index=False)
    fails(main('hpa-predict', model, '--csv', tmp_path/'ids.csv', '--images', synth/'train', '--out', tmp_path/'x.csv'), "No image for id 'ghost'")
    (tmp_path/'junk.pkl').write_text('junk')
    for ms,kw,msg in [([tmp_path/'junk.pkl'], {}, 'is not a fastai export'), ([model], dict(images=tmp_path/'nowhere'), 'Image folder'),
                      ([model, mz], {}, 'must share channels and classes'), ([], {}, 'at least one model')]:
        with pytest.raises(SystemExit, match=msg) as e: hpa_predict.__wrapped__(*ms, **{'images':synth/'train', 'out':tmp_path/'x.csv', **kw})
        assert str(e.value).startswith('hpa-predict: ') and '\n' not in str(e.value)
    assert not (tmp_path/'x.csv').exists()
