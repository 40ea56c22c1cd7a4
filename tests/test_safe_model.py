"""The safe model pair: `model.safetensors` + `model.json` load without unpickling anything (pickle and torch.load are
disabled in a fresh process), give the predictions of `export.pkl`, and a folder holding both is loaded from the pair."""
import json, pickle, subprocess, sys, pytest, torch
from hpa_fastai.synth import make_synth
from hpa_fastai.learner import train
from hpa_fastai.inference import load_hpa, predict

NO_PICKLE = """
import pickle, _pickle, torch, torch.serialization
def _no(*a, **k): raise AssertionError('unpickling was attempted')
class _NoUnpickler:
    def __init__(self, *a, **k): raise AssertionError('unpickling was attempted')
pickle.load = pickle.loads = _pickle.load = _pickle.loads = _no
pickle.Unpickler = _pickle.Unpickler = _NoUnpickler
torch.load = torch.serialization.load = _no
"""
PREDICT = NO_PICKLE + """
import sys, json
from hpa_fastai.inference import load_hpa, predict
ids,p = predict(load_hpa(sys.argv[1]), None, sys.argv[2], progress=False)
print(json.dumps(dict(ids=ids, probs=p.tolist())))
"""
CLI = NO_PICKLE + """
import sys
from hpa_fastai.cli import hpa_predict
hpa_predict.__wrapped__(sys.argv[1], images=sys.argv[2], out=sys.argv[3], probs=sys.argv[4], quiet=True)
"""

class Marker:
    "Unpickling this creates a file: what a malicious export.pkl could do"
    def __init__(self, fn): self.fn = fn
    def __reduce__(self): return (open, (self.fn, 'w'))

@pytest.fixture(scope='module')
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp('safe')
    make_synth(d/'s', n=32, size=32, seed=4, progress=False)
    train(d/'s/train.csv', out=d/'m', schedule='full:1:1e-2', bs=8, n_folds=4, arch='resnet10t', progress=False)
    return d

def _run(code, *args):
    r = subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr[-3000:]
    return r.stdout

def test_checks_are_live():
    "The guard really stops unpickling: the same code fails on export.pkl"
    r = subprocess.run([sys.executable, '-c', NO_PICKLE+"pickle.loads(pickle.dumps(1))"], capture_output=True, text=True)
    assert r.returncode!=0 and 'unpickling was attempted' in r.stderr

@pytest.mark.parametrize('which', ['folder', 'model.safetensors', 'model.json'])
def test_safe_pair_never_unpickles(model, which):
    d = model
    fn = d/'m' if which=='folder' else d/'m'/which
    out = json.loads(_run(PREDICT, fn, d/'s/train').splitlines()[-1])
    ids,ref = predict(load_hpa(d/'m/export.pkl'), None, d/'s/train', progress=False)  # the pickle, in this process
    assert out['ids']==ids
    assert torch.allclose(torch.tensor(out['probs']), ref, atol=1e-6)

def test_export_pkl_is_refused_by_the_guard(model):
    r = subprocess.run([sys.executable, '-c', PREDICT, model/'m/export.pkl', model/'s/train'], capture_output=True, text=True, timeout=300)
    assert r.returncode!=0 and 'unpickling was attempted' in r.stderr

def test_hpa_predict_on_a_folder_uses_the_pair(model, tmp_path):
    "A folder whose export.pkl would run code: hpa-predict reads the pair and the code never runs"
    m = tmp_path/'sent'; m.mkdir()
    for f in ('model.safetensors','model.json'): (m/f).write_bytes((model/'m'/f).read_bytes())
    (m/'export.pkl').write_bytes(pickle.dumps(Marker(str(tmp_path/'pwned'))))
    _run(CLI, m, model/'s/train', tmp_path/'sub.csv', tmp_path/'p.npy')
    assert not (tmp_path/'pwned').exists() and (tmp_path/'sub.csv').exists()
    import numpy as np
    _,ref = predict(load_hpa(model/'m/export.pkl'), None, model/'s/train', progress=False)
    assert np.allclose(np.load(tmp_path/'p.npy'), ref.numpy(), atol=1e-5)
    with pytest.raises(Exception): load_hpa(m/'export.pkl')  # naming the pickle does unpickle it: the danger is real
    assert (tmp_path/'pwned').exists()

def test_metadata(model):
    meta = json.loads((model/'m/model.json').read_text())
    for k in ('arch','channels','classes','stats','size','thresh','n_in','n_out'): assert k in meta
    assert meta['arch']=='resnet10t' and meta['n_in']==4 and meta['n_out']==28 and len(meta['stats'][0])==4
