"""End-to-end checks of `hpa-evaluate`, run in this process (the library itself is tested in nbs/12_evaluate.ipynb and
nbs/11_interpret.ipynb; `--submission` on the table below in nbs/16_cli.ipynb; the installed script in test_sweep.py)"""
import json, re
import pandas as pd, pytest
from PIL import Image
from hpa_fastai.all import class_names
from helpers import main, ok, fails

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
    pd.DataFrame({'Id':list('abcdxy'), 'Predicted':['0']*6}).to_csv(d/'extra.csv', index=False)
    pd.DataFrame({'Id':list('ab'), 'Predicted':['0']*2}).to_csv(d/'short.csv', index=False)
    return d

def _macro(stdout): return float(re.search(r'macro F1 ([0-9.]+) over the 3 classes present', stdout)[1])

def test_probs(d):
    r = ok(main('hpa-evaluate', '--labels', d/'labels.csv', '--probs', d/'probs.csv', '--out', d/'rep_p'))
    assert _macro(r.stdout)==pytest.approx(MACRO, abs=1e-4)
    assert 'over all 28 classes, competition style' in r.stdout and 'Nuclear membrane' in r.stdout
    assert sorted(o.name for o in (d/'rep_p').iterdir())==['f1_per_class.png','f1_vs_threshold.png','metrics.json','per_class.csv','per_class.md']
    m = json.loads((d/'rep_p/metrics.json').read_text())
    assert m['macro_f1_present']==pytest.approx(MACRO) and m['macro_f1_all']==pytest.approx(MACRO*3/28) and m['n_samples']==4
    pc = pd.read_csv(d/'rep_p/per_class.csv')
    assert pc.f1[:3].tolist()==pytest.approx([.8,2/3,0], abs=1e-4) and pc.support.sum()==5
    assert '| 1 | Nuclear membrane | 2 | 1 |' in (d/'rep_p/per_class.md').read_text()

@pytest.mark.parametrize('args,msg', [(('--submission', 'extra.csv'), 'has 2 id(s) not in the labels'),
    (('--submission', 'short.csv'), '2 of the 4 labelled ids have no prediction'),
    (('--probs', 'nocol.csv'), 'lacks the column(s) of 1 class(es), e.g. 2 Nucleoli'), (('--probs', 'nope.csv'), 'does not exist')])
def test_bad_inputs(d, tmp_path, args, msg):
    fails(main('hpa-evaluate', '--labels', d/'labels.csv', args[0], d/args[1], '--out', tmp_path/'x'), msg)

PICTURES = ['cam.png', 'confused_pairs.png', 'f1_vs_threshold_per_class.png', 'top_losses.png']

def test_model_pictures(synth, model, tmp_path):
    "With --model (the shared model, on the images it was trained on) the report gains pictures of the model's errors, named in the printed summary and in metrics.json"
    rep = tmp_path/'rep'
    r = ok(main('hpa-evaluate', '--labels', synth/'train.csv', '--model', model, '--images', synth/'train', '--out', rep))
    names = sorted(o.name for o in rep.iterdir())
    assert names==sorted(['f1_per_class.png','f1_vs_threshold.png','metrics.json','per_class.csv','per_class.md', *PICTURES]), names
    line = next(o for o in r.stdout.splitlines() if o.startswith("pictures of the model's errors: "))
    assert sorted(line.split(': ', 1)[1].split(', '))==PICTURES
    assert sorted(json.loads((rep/'metrics.json').read_text())['pictures'])==PICTURES
    for o in PICTURES:
        with Image.open(rep/o) as im: assert im.format=='PNG' and min(im.size)>50, (o, im.size)
    assert "pictures of the model's errors" in (rep/'per_class.md').read_text()
