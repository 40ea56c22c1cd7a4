"""The safe model pair: `model.safetensors` + `model.json` load without unpickling anything (pickle and torch.load are
disabled in a fresh process), give the predictions of `export.pkl`, and a folder holding both is loaded from the pair."""
import json, pickle, subprocess, sys, pytest, torch
import numpy as np
from hpa_fastai.all import load_hpa, predict

NO_PICKLE = """
import pickle, _pickle, torch, torch.serialization
def _no(*a, **k): raise AssertionError('unpickling was attempted')
class _NoUnpickler:
    def __init__(self, *a, **k): raise AssertionError('unpickling was attempted')
pickle.load = pickle.loads = _pickle.load = _pickle.loads = _no
pickle.Unpickler = _pickle.Unpickler = _NoUnpickler
torch.load = torch.serialization.load = _no
"""
GUARDED = NO_PICKLE + """
import sys, json
from hpa_fastai.all import load_hpa, predict
from hpa_fastai.cli import hpa_predict
m,images,sent,o = sys.argv[1:]
res = {}
for k in ('folder', 'model.safetensors', 'model.json'):  # the safe pair, named three ways
    ids,p = predict(load_hpa(m if k=='folder' else f'{m}/{k}'), None, images, progress=False)
    res[k] = dict(ids=ids, probs=p.tolist())
hpa_predict.__wrapped__(sent, images=images, out=f'{o}/sub.csv', probs=f'{o}/p.npy', quiet=True)  # a folder whose export.pkl would run code
for k,f in (('pickle.loads', lambda: pickle.loads(pickle.dumps(1))), ('export.pkl', lambda: load_hpa(f'{m}/export.pkl'))):  # last: the guard is live
    try: f(); res[k] = 'no error'
    except Exception as e: res[k] = f'{type(e).__name__}: {e}'
print(json.dumps(res))
"""

class Marker:
    "Unpickling this creates a file: what a malicious export.pkl could do"
    def __init__(self, fn): self.fn = fn
    def __reduce__(self): return (open, (self.fn, 'w'))

@pytest.fixture(scope='module')
def guarded(synth, model, tmp_path_factory):
    """One fresh process with unpickling disabled: it predicts `synth` with the shared model's safe pair (named as a folder
    and as either file), runs `hpa-predict` on a folder `sent` holding the pair and an export.pkl that would create a file
    `pwned`, then tries to unpickle; what it saw, by case"""
    d = tmp_path_factory.mktemp('safe')
    sent = d/'sent'; sent.mkdir()
    for f in ('model.safetensors','model.json'): (sent/f).write_bytes((model/f).read_bytes())
    (sent/'export.pkl').write_bytes(pickle.dumps(Marker(str(d/'pwned'))))
    r = subprocess.run([sys.executable, '-c', GUARDED, model, synth/'train', sent, d], capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr[-3000:]
    return d, json.loads(r.stdout.splitlines()[-1])

@pytest.fixture(scope='module')
def ref(synth, model):
    "The shared model's predictions from export.pkl, unpickled in this process"
    return predict(load_hpa(model/'export.pkl'), None, synth/'train', progress=False)

@pytest.mark.slow
def test_checks_are_live(guarded):
    "The guard really stops unpickling: pickle.loads fails, and so does loading export.pkl"
    _,res = guarded
    assert res['pickle.loads']=='AssertionError: unpickling was attempted'
    assert 'unpickling was attempted' in res['export.pkl'], res['export.pkl']

@pytest.mark.slow
@pytest.mark.parametrize('which', ['folder', 'model.safetensors', 'model.json'])
def test_safe_pair_never_unpickles(guarded, ref, which):
    out = guarded[1][which]
    ids,p = ref
    assert out['ids']==ids
    assert torch.allclose(torch.tensor(out['probs']), p, atol=1e-6)

@pytest.mark.slow
def test_hpa_predict_on_a_folder_uses_the_pair(guarded, ref):
    "A folder whose export.pkl would run code: hpa-predict reads the pair and the code never runs"
    d,_ = guarded
    assert not (d/'pwned').exists() and (d/'sub.csv').exists()
    assert np.allclose(np.load(d/'p.npy'), ref[1].numpy(), atol=1e-5)
    with pytest.raises(Exception): load_hpa(d/'sent'/'export.pkl')  # naming the pickle does unpickle it: the danger is real
    assert (d/'pwned').exists()

def test_metadata(model):
    meta = json.loads((model/'model.json').read_text())
    for k in ('arch','channels','classes','stats','size','thresh','n_in','n_out'): assert k in meta
    assert meta['arch']=='resnet10t' and meta['n_in']==4 and meta['n_out']==28 and len(meta['stats'][0])==4
