"End-to-end checks of the installed `hpa-evaluate` console script (the library itself is tested in nbs/07_evaluate.ipynb and nbs/06b_interpret.ipynb)"
import json, re, subprocess, sys
from pathlib import Path
from types import SimpleNamespace
import pandas as pd, pytest
from hpa_fastai.labels import class_names
from hpa_fastai.synth import make_synth
from helpers import run, ok

EXE = Path(sys.executable).parent/'hpa-evaluate'
NAMES = class_names('hpa2018')
# Hand-made: class 0 TP a,b FP c -> F1 .8; class 1 TP a FN c -> 2/3; class 2 FP c FN d -> 0; the other 25 classes absent
MACRO = (.8+2/3+0)/3

@pytest.fixture(scope='module')
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp('ev')
    pd.DataFrame({'Id':list('abcd'), 'Target':['0 1','0','1','2']}).to_csv(d/'labels.csv', index=False)
    p = pd.DataFrame(0., index=list('dcba'), columns=NAMES)
    p.iloc[:,:3] = [[.1,.3,.1],[.6,.2,.9],[.7,.1,.2],[.9,.8,.1]]
    p.rename_axis('id').reset_index().to_csv(d/'probs.csv', index=False)
    p.drop(columns=['Nucleoli']).rename_axis('id').reset_index().to_csv(d/'nocol.csv', index=False)
    pd.DataFrame({'Id':list('abcd'), 'Predicted':['0 1','0','0 2','']}).to_csv(d/'sub.csv', index=False)
    pd.DataFrame({'Id':list('abcdxy'), 'Predicted':['0']*6}).to_csv(d/'extra.csv', index=False)
    pd.DataFrame({'Id':list('ab'), 'Predicted':['0']*2}).to_csv(d/'short.csv', index=False)
    return d

@pytest.fixture(scope='module')
def res(d):
    "Every command of this file, started at once (each spends most of its time importing torch and fastai)"
    L = ('--labels', d/'labels.csv')
    cmds = dict(probs=(*L, '--probs', d/'probs.csv', '--out', d/'rep_p'),
                sub=(*L, '--submission', d/'sub.csv', '--out', d/'rep_s'), extra=(*L, '--submission', d/'extra.csv', '--out', d/'x'),
                short=(*L, '--submission', d/'short.csv', '--out', d/'x'), nocol=(*L, '--probs', d/'nocol.csv', '--out', d/'x'),
                nofile=(*L, '--probs', d/'nope.csv', '--out', d/'x'))
    ps = {k:subprocess.Popen([str(EXE), *map(str, v)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k,v in cmds.items()}
    res = {}
    for k,p in ps.items():
        out,err = p.communicate(timeout=120)
        res[k] = SimpleNamespace(returncode=p.returncode, stdout=out, stderr=err)
    return res

def _macro(stdout): return float(re.search(r'macro F1 ([0-9.]+) over the 3 classes present', stdout)[1])

def test_probs(d, res):
    r = res['probs']
    assert r.returncode==0, r.stderr
    assert _macro(r.stdout)==pytest.approx(MACRO, abs=1e-4)
    assert 'over all 28 classes, competition style' in r.stdout and 'Nuclear membrane' in r.stdout
    assert sorted(o.name for o in (d/'rep_p').iterdir())==['f1_per_class.png','f1_vs_threshold.png','metrics.json','per_class.csv','per_class.md']
    m = json.loads((d/'rep_p/metrics.json').read_text())
    assert m['macro_f1_present']==pytest.approx(MACRO) and m['macro_f1_all']==pytest.approx(MACRO*3/28) and m['n_samples']==4
    pc = pd.read_csv(d/'rep_p/per_class.csv')
    assert pc.f1[:3].tolist()==pytest.approx([.8,2/3,0], abs=1e-4) and pc.support.sum()==5
    assert '| 1 | Nuclear membrane | 2 | 1 |' in (d/'rep_p/per_class.md').read_text()

def test_submission(d, res):
    r = res['sub']
    assert r.returncode==0, r.stderr
    assert _macro(r.stdout)==pytest.approx(MACRO, abs=1e-4)
    assert sorted(o.name for o in (d/'rep_s').iterdir())==['f1_per_class.png','metrics.json','per_class.csv','per_class.md']

@pytest.mark.parametrize('k,msg', [('extra', 'has 2 id(s) not in the labels'), ('short', '2 of the 4 labelled ids have no prediction'),
    ('nocol', 'lacks the column(s) of 1 class(es), e.g. 2 Nucleoli'), ('nofile', 'does not exist')])
def test_bad_inputs(res, k, msg):
    r = res[k]
    assert r.returncode!=0
    assert r.stderr.startswith('hpa-evaluate: ') and msg in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines())==1 and 'Traceback' not in r.stderr

PICTURES = ['cam.png', 'confused_pairs.png', 'f1_vs_threshold_per_class.png', 'top_losses.png']

@pytest.fixture(scope='module')
def mod(tmp_path_factory):
    "A model trained for one epoch on 40 synthetic 32 px images, and `hpa-evaluate --model` of it on those images"
    d = tmp_path_factory.mktemp('evm')
    make_synth(d/'s', n=40, size=32, seed=3, progress=False)
    ok(run('hpa-train', '--csv', d/'s/train.csv', '--out', d/'m', '--schedule', 'full:1:1e-3', '--bs', 8, '--quiet', timeout=300))
    r = run('hpa-evaluate', '--labels', d/'s/train.csv', '--model', d/'m', '--images', d/'s/train', '--out', d/'rep', timeout=300)
    return d, r

def test_model_pictures(mod):
    "With --model the report gains pictures of the model's errors, named in the printed summary and in metrics.json"
    d,r = mod
    ok(r)
    names = sorted(o.name for o in (d/'rep').iterdir())
    assert names==sorted(['f1_per_class.png','f1_vs_threshold.png','metrics.json','per_class.csv','per_class.md', *PICTURES]), names
    line = next(o for o in r.stdout.splitlines() if o.startswith("pictures of the model's errors: "))
    assert sorted(line.split(': ', 1)[1].split(', '))==PICTURES
    assert sorted(json.loads((d/'rep/metrics.json').read_text())['pictures'])==PICTURES
    from PIL import Image
    for o in PICTURES:
        with Image.open(d/'rep'/o) as im: assert im.format=='PNG' and min(im.size)>50, (o, im.size)
    assert "pictures of the model's errors" in (d/'rep/per_class.md').read_text()
