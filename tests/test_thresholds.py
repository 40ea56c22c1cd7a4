"Every path from a model to labels decodes with the model's own per-class thresholds: `learn.predict`, `get_preds`, `predict_ids`, `hpa-predict`, the safe pair, `export.pkl` and the fold models of `--folds all`."
import pytest, torch
import pandas as pd
from hpa_fastai.all import read_labels, load_hpa, model_thresh
from hpa_fastai.cli import hpa_predict

@pytest.fixture
def thr(synth, learn, tmp_path):
    """The shared model with per-class thresholds between its own probabilities, so that a path decoding at 0.5 would
    differ, exported to `tmp_path/'m'`; the shared learner gets its threshold back afterwards"""
    ids = read_labels(synth/'train.csv').id.tolist()[:12]
    p,_ = learn.get_preds(dl=learn.dls.test_dl([synth/'train'/i for i in ids]))
    old = learn.thresh
    learn.thresh = torch.quantile(p, 0.5, dim=0).clamp(0.01, 0.99)   # per class, half the images above: midway between two probabilities
    learn.export_hpa(tmp_path/'m')
    yield learn, ids, p
    learn.thresh = old

def labels_of(dec, vocab): return [[c for c,h in zip(vocab, r) if h] for r in dec]

def test_all_paths_agree(synth, thr, tmp_path):
    learn,ids,p = thr
    th = torch.tensor(learn.thresh)
    want = p>th
    assert want.any() and (want!=(p>0.5)).any()        # the thresholds change decisions
    vocab = list(learn.dls.vocab)
    _,_,dec = learn.get_preds(dl=learn.dls.test_dl([synth/'train'/i for i in ids]), with_decoded=True)
    assert torch.equal(dec, want)
    for i,w in zip(ids, want):
        names,hot,pr = learn.predict(synth/'train'/i)
        assert torch.equal(hot, pr>th) and torch.equal(hot, w) and list(names)==labels_of([w], vocab)[0]
    assert learn.predict_ids(ids, synth/'train').predicted.tolist() == labels_of(want, vocab)
    for src in (tmp_path/'m', tmp_path/'m'/'export.pkl'):     # the safe pair (a folder) and the pickle
        l = load_hpa(src)
        assert torch.allclose(model_thresh(l), th)
        assert [list(l.predict(synth/'train'/i)[0]) for i in ids] == labels_of(want, vocab)
        _,_,d = l.get_preds(dl=l.dls.test_dl([synth/'train'/i for i in ids]), with_decoded=True)
        assert torch.equal(d, want)
    pd.DataFrame({'Id':ids, 'Predicted':''}).to_csv(tmp_path/'ids.csv', index=False)
    hpa_predict(str(tmp_path/'m'), csv=str(tmp_path/'ids.csv'), images=str(synth/'train'), out=str(tmp_path/'sub.csv'), min_labels=0, quiet=True)
    sub = pd.read_csv(tmp_path/'sub.csv', dtype=str, keep_default_na=False)
    assert sub.Predicted.tolist() == [' '.join(str(j) for j in torch.where(r)[0].tolist()) for r in want]

def test_fold_models_carry_oof_thresholds(synth, folds):
    ids,probs,targs,th = folds.result
    for k in (0,1):
        for src in (folds.path/f'fold{k}', folds.path/f'fold{k}'/'export.pkl'):
            l = load_hpa(src)
            assert torch.allclose(model_thresh(l), th)
            i = ids[0]
            names,hot,pr = l.predict(synth/'train'/i)
            assert torch.equal(hot, pr>th)
