"""The safe model pair: `model.safetensors` + `model.json` load without unpickling anything (pickle and torch.load are
disabled in a fresh process), give the predictions of `export.pkl`, and a folder holding both is loaded from the pair.
A folder never unpickles: without the pair it is refused, even with an export.pkl in it; only an export.pkl named
explicitly is unpickled, with a warning (once per process) that this runs code."""
import json, pickle, shutil, subprocess, sys, pytest, torch
import numpy as np
import hpa_fastai.export
from hpa_fastai.all import load_hpa, predict, HPADataError
from helpers import main, ok, fails

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
for k,f in (('pickle.loads', lambda: pickle.loads(pickle.dumps(1))), ('export.pkl', lambda: load_hpa(f'{m}/export.pkl')),  # last: the guard is live
            ('export.pkl again', lambda: load_hpa(f'{sent}/export.pkl'))):  # a second pickle: no second warning
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
    return d, json.loads(r.stdout.splitlines()[-1]), r.stderr

@pytest.fixture(scope='module')
def ref(synth, model):
    "The shared model's predictions from export.pkl, unpickled in this process"
    return predict(load_hpa(model/'export.pkl'), None, synth/'train', progress=False)

@pytest.mark.slow
def test_checks_are_live(guarded):
    "The guard really stops unpickling: pickle.loads fails, and so does loading export.pkl"
    _,res,_ = guarded
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
    d,_,_ = guarded
    assert not (d/'pwned').exists() and (d/'sub.csv').exists()
    assert np.allclose(np.load(d/'p.npy'), ref[1].numpy(), atol=1e-5)
    with pytest.raises(Exception): load_hpa(d/'sent'/'export.pkl')  # naming the pickle does unpickle it: the danger is real
    assert (d/'pwned').exists()

def test_metadata(model):
    meta = json.loads((model/'model.json').read_text())
    for k in ('arch','channels','classes','stats','size','thresh','n_in','n_out'): assert k in meta
    assert meta['arch']=='resnet10t' and meta['n_in']==4 and meta['n_out']==28 and len(meta['stats'][0])==4

@pytest.mark.slow
def test_pickle_warning_once(guarded):
    "Naming an export.pkl warns on stderr that unpickling runs code, once per process however many pickles are loaded"
    _,res,err = guarded
    assert 'unpickling was attempted' in res['export.pkl again'], res['export.pkl again']
    assert err.count('unpickles it, which runs any code')==1, err[-3000:]
    assert 'prefer the safe pair model.safetensors + model.json' in err

@pytest.mark.parametrize('have', [(), ('model.json',), ('model.safetensors',)])
def test_folder_never_unpickles(model, synth, tmp_path, have):
    "A folder without the safe pair (or with half of it) is refused with a sentence naming its export.pkl, which is never loaded"
    d = tmp_path/'sent'; d.mkdir()
    for f in have: shutil.copy(model/f, d)
    (d/'export.pkl').write_bytes(pickle.dumps(Marker(str(tmp_path/'pwned'))))
    msg = f"{d/'export.pkl'} is a pickle, which runs code when loaded: pass that file explicitly only if you trust it"
    with pytest.raises(HPADataError) as e: load_hpa(d)
    assert msg in str(e.value) and (not have or f"has no {'model.safetensors' if have==('model.json',) else 'model.json'}" in str(e.value)), e.value
    fails(main('hpa-predict', d, '--images', synth/'train', '--out', tmp_path/'sub.csv', '--quiet'), msg)
    assert not (tmp_path/'pwned').exists() and not (tmp_path/'sub.csv').exists()

def test_explicit_pickle_warns(model, synth, tmp_path):
    "hpa-predict on an explicit export.pkl unpickles it (our own trusted file here) and warns that this runs code"
    hpa_fastai.export._pkl_warned.clear()  # once per process: an earlier test may have had the warning
    with pytest.warns(UserWarning, match='unpickles it, which runs any code'):
        ok(main('hpa-predict', model/'export.pkl', '--images', synth/'train', '--out', tmp_path/'sub.csv', '--quiet'))
    assert (tmp_path/'sub.csv').exists()

@pytest.mark.parametrize('name', ['model.pt', 'model.txt', 'export'])
def test_other_names_refused(model, tmp_path, name):
    "A file that is neither half of the pair nor a .pkl is refused with a sentence"
    (tmp_path/name).write_bytes((model/'model.safetensors').read_bytes())
    with pytest.raises(HPADataError, match='is not a model file'): load_hpa(tmp_path/name)
