"End to end: `hpa-train` on a tiny synthetic set, the export round trip in a fresh process, bad options, and `--folds all` then an ensemble."
import json, shutil, sys, torch, pytest
import pandas as pd
from hpa_fastai.all import read_labels, train

from helpers import Started, main, ok, fails, selected
SCHED = 'crop24:1:3e-3,full:1:1e-3'

PRED = """
import sys, json, torch
from fastai.learner import load_learner
from hpa_fastai.all import read_labels
learn = load_learner(sys.argv[1], cpu=True)
df = read_labels(sys.argv[2])
print(json.dumps(learn.predict_ids(df.id[:6], sys.argv[3]).probs.tolist()))
"""

@pytest.fixture(scope='module', autouse=True)
def fresh(request, synth):
    "The shared model's export.pkl unpickled in a new interpreter that predicts 6 images; started as this module starts, to run beside the tests before the last"
    if not selected(request, 'test_export_round_trip_fresh_process'): yield None; return
    p = Started([sys.executable, '-c', PRED, request.getfixturevalue('model')/'export.pkl', synth/'train.csv', synth/'train'], timeout=300)
    yield p
    p.close()

def test_hpa_train_cli(synth, tmp_path):
    r = ok(main('hpa-train', '--csv', synth/'train.csv', '--out', 'm', '--schedule', SCHED, '--bs', 16, '--workers', 0, '--quiet', cwd=tmp_path))  # a relative --out, as users type it
    assert 'macro F1' in r.stdout
    for f in ('export.pkl','model.json','history.csv','per_class_f1.csv'): assert (tmp_path/'m'/f).exists()
    meta = json.loads((tmp_path/'m/model.json').read_text())
    assert meta['channels']=='rgby' and len(meta['classes'])==28 and meta['schedule']==['crop24:1:0.003', 'full:1:0.001']
    assert len(meta['stats'][0])==4
    assert (meta['arch'],meta['head'],meta['pretrained'])==('tf_efficientnet_lite0','views:ggg*1.5,ggb*2',True)  # the CPU recipe's body and head (its schedule is the probe)

def test_default_synthetic_set_is_made_when_no_csv(tmp_path):
    "The no-CSV path `make demo` takes: the synthetic default is written (once, by rank 0) and trained on"
    learn = train(out=tmp_path/'m', synth=tmp_path/'s', synth_n=32, synth_size=32, synth_min=1, schedule='full:1:1e-3', bs=16, progress=False)
    df = read_labels(tmp_path/'s/train.csv')
    assert len(df)==32 and len(list((tmp_path/'s/train').glob('*_green.png')))==32
    assert (tmp_path/'m/export.pkl').exists() and learn.hpa['fmt']=='hpa2018'

@pytest.mark.parametrize('args,msg', [
    (['--csv', 'nope.csv'],                         'Label table nope.csv does not exist'),
    (['--schedule', 'crop:1'],                      "is not of the form crop<size>"),
    (['--arch', 'resnet999'],                       "arch='resnet999' is not a timm architecture"),
    (['--loss', 'dice'],                            "Unknown loss 'dice'"),
    (['--channels', 'rgbq'],                        "channels='rgbq'"),
    (['--weights', 'no_such_weights.pth'],          'Pretrained weights file no_such_weights.pth does not exist'),
    (['--fold', '7'],                               'fold'),
])
def test_hpa_train_bad_options(synth, tmp_path, args, msg):
    fails(main('hpa-train', '--csv', synth/'train.csv', '--out', tmp_path/'m', '--schedule', SCHED, '--quiet', *args, cwd=tmp_path), msg)

def test_hpa_train_missing_image(synth, tmp_path):
    shutil.copytree(synth, tmp_path/'d')
    df = read_labels(tmp_path/'d/train.csv')
    (tmp_path/'d/train'/f'{df.id[5]}_yellow.png').unlink()
    line = fails(main('hpa-train', '--csv', tmp_path/'d/train.csv', '--out', tmp_path/'m', '--schedule', SCHED, '--quiet'), 'missing its yellow channel')
    assert f"1 of {len(df)} samples have no usable image" in line

def test_hpa_train_all_folds_then_ensemble(synth, folds, tmp_path):
    "K-fold (`hpa-train --folds all --n-folds 2`): OOF probabilities for every image once, thresholds fitted on them, and the folds predicted as one ensemble"
    assert 'out-of-fold macro F1' in folds.run.stdout
    oof = pd.read_csv(folds.path/'oof.csv')
    assert sorted(oof.id)==sorted(read_labels(synth/'train.csv').id) and oof.shape[1]==29
    th = [float(o) for o in (folds.path/'thresholds.txt').read_text().split()]
    assert len(th)==28 and all(0<o<1 for o in th)
    ok(main('hpa-predict', folds.path/'fold0/export.pkl', folds.path/'fold1/export.pkl', '--csv', synth/'train.csv', '--images', synth/'train',
            '--out', tmp_path/'sub.csv', '--quiet'))
    sub = pd.read_csv(tmp_path/'sub.csv', dtype=str, keep_default_na=False)
    assert list(sub.columns)==['Id','Predicted'] and sub.Id.tolist()==read_labels(synth/'train.csv').id.tolist()

@pytest.mark.slow
def test_export_round_trip_fresh_process(synth, learn, fresh):
    "The shared model's export.pkl, unpickled in a new interpreter, predicts what the trained learner predicts"
    mine = torch.tensor(learn.predict_ids(read_labels(synth/'train.csv').id[:6], synth/'train').probs.tolist())
    r = fresh.result()
    assert r.returncode==0, r.stderr[-2000:]
    theirs = torch.tensor(json.loads(r.stdout.strip().splitlines()[-1]))
    assert torch.allclose(mine, theirs, atol=1e-3)
