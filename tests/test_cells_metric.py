"""`hpa-evaluate --cells`: an HPA 2021 cell submission scored against synthetic single-cell truth, run in this process (the
metric itself is tested by hand in nbs/04_cellsub.ipynb, the report in nbs/12_evaluate.ipynb)"""
import json
import numpy as np, pandas as pd, pytest
from hpa_fastai.synth import make_synth
from hpa_fastai.cellsub import read_cell_labels, read_cell_mask, cell_sub_row, write_cell_submission

from helpers import main, ok, fails

@pytest.fixture(scope='module')
def d(tmp_path_factory):
    "6 synthetic hpa2021 images (48 px) with their truth, a perfect cell submission and one with the Nucleoplasm ranking reversed"
    d = tmp_path_factory.mktemp('cells')
    make_synth(d/'s', n=6, size=48, fmt='hpa2021', seed=2, progress=False)
    cl = read_cell_labels(d/'s/cells.csv')
    for name,flip in (('right.csv', False), ('flip.csv', True)):
        rows = []
        for id,g in cl.groupby('ID', sort=False):
            p = np.full((len(g),19), .05)
            for i,ls in enumerate(g.labels): p[i,ls] = .9
            if flip: p[:,0] = 1-p[:,0]                        # Nucleoplasm: every wrong cell above every right one
            rows.append(cell_sub_row(id, read_cell_mask(d/f's/masks/{id}.png'), p, g.cell))
        write_cell_submission(d/name, rows)
    return d

def _args(d, sub): return ('hpa-evaluate', '--cells', sub, '--masks', d/'s/masks', '--cell-labels', d/'s/cells.csv')

def test_perfect(d):
    r = ok(main(*_args(d, d/'right.csv'), '--out', d/'rep'))
    assert 'mAP 1.0000 at IoU 0.6 over the' in r.stdout and 'Negative' in r.stdout and r.stdout.strip().endswith(f"report in {d/'rep'}")
    assert sorted(o.name for o in (d/'rep').iterdir())==['ap_per_class.png','metrics.json','per_class.csv','per_class.md']
    m = json.loads((d/'rep/metrics.json').read_text())
    assert m['map']==1 and m['n_images']==6 and m['iou']==0.6

def test_ranking(d):
    "Nucleoplasm ranked upside down: its AP drops below 1, the other classes stay perfect"
    ok(main(*_args(d, d/'flip.csv'), '--out', d/'rep_f'))
    pc = pd.read_csv(d/'rep_f/per_class.csv')
    assert pc.true_cells[0]>0 and pc.ap[0]<1 and (pc.ap[1:].dropna()==1).all()
    assert json.loads((d/'rep_f/metrics.json').read_text())['map']==pytest.approx(pc.ap.mean(), abs=1e-3)

@pytest.mark.parametrize('extra,msg', [(('--labels', 'x.csv'), '--labels is the image-level table'),
                                       (('--probs', 'p.csv'), 'Give exactly one of --probs, --submission, --model or --cells')])
def test_bad(d, tmp_path, extra, msg):
    fails(main(*_args(d, d/'right.csv'), *extra, '--out', tmp_path/'r'), msg)
    assert not (tmp_path/'r').exists()

def test_incomplete(d, tmp_path):
    fails(main('hpa-evaluate', '--cells', d/'right.csv', '--masks', d/'s/masks', '--out', tmp_path/'r'), '--cells needs --cell-labels')
    assert not (tmp_path/'r').exists()

def test_malformed(d, tmp_path):
    "A malformed row is named, with the problem, and no report is written"
    df = pd.read_csv(d/'right.csv', dtype=str, keep_default_na=False)
    df.loc[1, 'PredictionString'] = df.PredictionString[1] + ' 3 0.5'
    df.to_csv(tmp_path/'bad.csv', index=False)
    fails(main(*_args(d, tmp_path/'bad.csv'), '--out', tmp_path/'r'), f"row 3 (ID {df.ID[1]!r}): the PredictionString has")
    assert not (tmp_path/'r').exists()
