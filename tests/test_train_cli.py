"End to end: `hpa-train` on a tiny synthetic set, the export round trip in a fresh process, and bad options."
import json, subprocess, sys, pytest, torch
from hpa_fastai.synth import make_synth
from hpa_fastai.labels import read_labels
from hpa_fastai.learner import train

from helpers import run
SCHED = 'crop32:1:3e-3,full:1:1e-3'

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    p = tmp_path_factory.mktemp('tiny')
    make_synth(p, n=60, size=64, seed=3, progress=False)
    return p

def test_hpa_train_cli(tiny, tmp_path):
    r = run('hpa-train', '--csv', tiny/'train.csv', '--out', 'm', '--schedule', SCHED, '--bs', 16, '--quiet', cwd=tmp_path)  # a relative --out, as users type it
    assert r.returncode==0, r.stderr[-2000:]
    assert 'macro F1' in r.stdout and 'Traceback' not in r.stderr
    for f in ('export.pkl','model.json','history.csv','per_class_f1.csv'): assert (tmp_path/'m'/f).exists()
    meta = json.loads((tmp_path/'m/model.json').read_text())
    assert meta['channels']=='rgby' and len(meta['classes'])==28 and meta['schedule']==['crop32:1:0.003', 'full:1:0.001']
    assert len(meta['stats'][0])==4

def test_default_synthetic_set_is_made_when_no_csv(tmp_path):
    "The no-CSV path `make demo` takes: the synthetic default is written (once, by rank 0) and trained on"
    learn = train(out=tmp_path/'m', synth=tmp_path/'s', synth_n=60, synth_size=32, synth_min=1, schedule='full:1:1e-3', bs=16, progress=False)
    df = read_labels(tmp_path/'s/train.csv')
    assert len(df)==60 and len(list((tmp_path/'s/train').glob('*_green.png')))==60
    assert (tmp_path/'m/export.pkl').exists() and learn.hpa['fmt']=='hpa2018'

PRED = """
import sys, json, torch
from fastai.learner import load_learner
from hpa_fastai.labels import read_labels
learn = load_learner(sys.argv[1], cpu=True)
df = read_labels(sys.argv[2])
print(json.dumps(learn.predict_ids(df.id[:6], sys.argv[3]).probs.tolist()))
"""

def test_export_round_trip_fresh_process(tiny, tmp_path):
    learn = train(tiny/'train.csv', out=tmp_path/'m', schedule=SCHED, bs=16, progress=False)
    mine = torch.tensor(learn.predict_ids(read_labels(tiny/'train.csv').id[:6], tiny/'train').probs.tolist())
    r = subprocess.run([sys.executable, '-c', PRED, tmp_path/'m/export.pkl', tiny/'train.csv', tiny/'train'], capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr[-2000:]
    theirs = torch.tensor(json.loads(r.stdout.strip().splitlines()[-1]))
    assert torch.allclose(mine, theirs, atol=1e-3)

@pytest.mark.parametrize('args,msg', [
    (['--csv', 'nope.csv'],                         'Label table nope.csv does not exist'),
    (['--schedule', 'crop:1'],                      "is not of the form crop<size>"),
    (['--arch', 'resnet999'],                       "arch='resnet999' is not a timm architecture"),
    (['--loss', 'dice'],                            "Unknown loss 'dice'"),
    (['--channels', 'rgbq'],                        "channels='rgbq'"),
    (['--weights', 'no_such_weights.pth'],          'Pretrained weights file no_such_weights.pth does not exist'),
    (['--fold', '7'],                               'fold'),
])
def test_hpa_train_bad_options(tiny, tmp_path, args, msg):
    r = run('hpa-train', '--csv', tiny/'train.csv', '--out', tmp_path/'m', '--schedule', SCHED, '--quiet', *args, cwd=tmp_path)
    assert r.returncode!=0
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert msg in r.stderr, r.stderr[-3000:]
    assert r.stderr.strip().startswith('hpa-train: ')

def test_hpa_train_missing_image(tiny, tmp_path):
    import shutil
    shutil.copytree(tiny, tmp_path/'d')
    df = read_labels(tmp_path/'d/train.csv')
    (tmp_path/'d/train'/f'{df.id[5]}_yellow.png').unlink()
    r = run('hpa-train', '--csv', tmp_path/'d/train.csv', '--out', tmp_path/'m', '--schedule', SCHED, '--quiet')
    assert r.returncode!=0 and 'Traceback' not in r.stderr
    assert "1 of 60 samples have no usable image" in r.stderr and "missing its yellow channel" in r.stderr

def test_hpa_train_all_folds_then_ensemble(tiny, tmp_path):
    "K-fold: OOF probabilities for every image once, thresholds fitted on them, and the folds predicted as one ensemble"
    r = run('hpa-train', '--csv', tiny/'train.csv', '--out', tmp_path/'kf', '--folds', 'all', '--n-folds', 2, '--schedule', 'full:1:1e-3', '--bs', 16, '--quiet')
    assert r.returncode==0, r.stderr[-2000:]
    assert 'out-of-fold macro F1' in r.stdout
    import pandas as pd
    oof = pd.read_csv(tmp_path/'kf/oof.csv')
    assert sorted(oof.id)==sorted(read_labels(tiny/'train.csv').id) and oof.shape[1]==29
    th = [float(o) for o in (tmp_path/'kf/thresholds.txt').read_text().split()]
    assert len(th)==28 and all(0<o<1 for o in th)
    r = run('hpa-predict', tmp_path/'kf/fold0/export.pkl', tmp_path/'kf/fold1/export.pkl', '--csv', tiny/'train.csv', '--images', tiny/'train',
            '--out', tmp_path/'sub.csv', '--quiet')
    assert r.returncode==0, r.stderr[-2000:]
    sub = pd.read_csv(tmp_path/'sub.csv', dtype=str, keep_default_na=False)
    assert list(sub.columns)==['Id','Predicted'] and sub.Id.tolist()==read_labels(tiny/'train.csv').id.tolist()
