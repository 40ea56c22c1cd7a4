"Every path from a model to labels decodes with the model's own per-class thresholds: `learn.predict`, `get_preds`, `predict_ids`, `hpa-predict`, the safe pair, `export.pkl` and the fold models of `--folds all`."
import pytest, torch, numpy as np, pandas as pd
from pathlib import Path
from hpa_fastai.synth import make_synth
from hpa_fastai.labels import read_labels
from hpa_fastai.learner import train
from hpa_fastai.inference import load_hpa, train_folds, model_thresh
from hpa_fastai.cli import hpa_predict

SCHED = 'full:1:1e-3'

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    p = tmp_path_factory.mktemp('thr')
    make_synth(p, n=40, size=32, seed=3, progress=False)
    return p

@pytest.fixture(scope='module')
def model(data):
    "A model whose per-class thresholds sit between its own probabilities, so that a path decoding at 0.5 would differ"
    learn = train(data/'train.csv', out=data/'m', schedule=SCHED, size=32, bs=8, progress=False)
    ids = read_labels(data/'train.csv').id.tolist()[:12]
    p,_ = learn.get_preds(dl=learn.dls.test_dl([data/'train'/i for i in ids]))
    learn.thresh = torch.quantile(p, 0.5, dim=0).clamp(0.01, 0.99)   # per class, half the images above: midway between two probabilities
    learn.export_hpa(data/'m')
    return learn, ids, p

def labels_of(dec, vocab): return [[c for c,h in zip(vocab, r) if h] for r in dec]

def test_all_paths_agree(data, model, tmp_path):
    learn,ids,p = model
    th = torch.tensor(learn.thresh)
    want = p>th
    assert want.any() and (want!=(p>0.5)).any()        # the thresholds change decisions
    vocab = list(learn.dls.vocab)
    _,_,dec = learn.get_preds(dl=learn.dls.test_dl([data/'train'/i for i in ids]), with_decoded=True)
    assert torch.equal(dec, want)
    for i,w in zip(ids, want):
        names,hot,pr = learn.predict(data/'train'/i)
        assert torch.equal(hot, pr>th) and torch.equal(hot, w) and list(names)==labels_of([w], vocab)[0]
    assert learn.predict_ids(ids, data/'train').predicted.tolist() == labels_of(want, vocab)
    for src in (data/'m', data/'m'/'export.pkl'):     # the safe pair (a folder) and the pickle
        l = load_hpa(src)
        assert torch.allclose(model_thresh(l), th)
        assert [list(l.predict(data/'train'/i)[0]) for i in ids] == labels_of(want, vocab)
        _,_,d = l.get_preds(dl=l.dls.test_dl([data/'train'/i for i in ids]), with_decoded=True)
        assert torch.equal(d, want)
    pd.DataFrame({'Id':ids, 'Predicted':''}).to_csv(tmp_path/'ids.csv', index=False)
    hpa_predict(str(data/'m'), csv=str(tmp_path/'ids.csv'), images=str(data/'train'), out=str(tmp_path/'sub.csv'), min_labels=0, quiet=True)
    sub = pd.read_csv(tmp_path/'sub.csv', dtype=str, keep_default_na=False)
    assert sub.Predicted.tolist() == [' '.join(str(j) for j in torch.where(r)[0].tolist()) for r in want]

def test_fold_models_carry_oof_thresholds(data):
    ids,probs,targs,th = train_folds(data/'train.csv', out=data/'f', folds='0,1', n_folds=4, schedule=SCHED, size=32, bs=8, progress=False)
    for k in (0,1):
        for src in (data/'f'/f'fold{k}', data/'f'/f'fold{k}'/'export.pkl'):
            l = load_hpa(src)
            assert torch.allclose(model_thresh(l), th)
            i = ids[0]
            names,hot,pr = l.predict(data/'train'/i)
            assert torch.equal(hot, pr>th)
