"""Multi-process runs on CPU (gloo): `hpa-train` under `torchrun` and `hpa-predict` under `accelerate launch`, 2 processes.

Each run writes a per-rank log (`HPA_RANK_LOG`, see `hpa_fastai.distrib.RankLog`), which is how the tests know that two
processes really ran and what each of them saw."""
import json, os, subprocess, sys, pytest, torch
import numpy as np, pandas as pd
from pathlib import Path
from hpa_fastai.all import make_synth, read_labels, add_folds, macro_f1, load_hpa, predict

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
N,FOLDS,BS = 64,5,8   # 5 folds of 64: a validation fold of 13, odd, so DistributedDL must pad it to 14 for 2 ranks

def launch(cmd, tmp, log):
    env = dict(os.environ, HPA_RANK_LOG=str(log), OMP_NUM_THREADS='1')
    r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, cwd=tmp, env=env, timeout=300)
    if r.returncode:  # the whole stderr, saved and shown: an abort's own stack can sit far above the launcher's summary
        (Path(tmp)/'launch_stderr.txt').write_text(r.stderr)
        pytest.fail(f"{cmd[0].name} exited with {r.returncode}\n--- stdout (end) ---\n{r.stdout[-3000:]}\n--- stderr (all) ---\n{r.stderr}")
    return r

def rank_logs(log):
    "The records of each rank, {rank: [record, ...]}"
    return {int(f.stem[4:]): json.loads(f.read_text()) for f in sorted(Path(log).glob('rank*.json'))}

@pytest.fixture(scope='module')
def run2(tmp_path_factory):
    "`hpa-train` under `torchrun --nproc_per_node 2` on a tiny synthetic set"
    tmp = tmp_path_factory.mktemp('distrib')
    make_synth(tmp/'s', n=N, size=32, seed=3, progress=False)
    r = launch([BIN/'torchrun', '--standalone', '--nproc_per_node', 2, BIN/'hpa-train', '--csv', 's/train.csv', '--out', 'm',
                '--schedule', 'full:1:1e-3', '--n-folds', FOLDS, '--bs', BS, '--workers', 0, '--arch', 'resnet18', '--no-pretrained', '--quiet'], tmp, tmp/'log')
    return tmp, r

def test_two_processes_each_half_the_batches(run2):
    tmp,_ = run2
    logs = rank_logs(tmp/'log')
    assert sorted(logs)==[0,1]
    fits = {k:[o for o in v if o['kind']=='fit'] for k,v in logs.items()}
    assert all(len(v)==1 for v in fits.values())
    f0,f1 = fits[0][0],fits[1][0]
    assert f0['world_size']==f1['world_size']==2 and f0['pid']!=f1['pid']
    n_valid = int((add_folds(read_labels(tmp/'s/train.csv'), FOLDS, 42).fold==0).sum())
    n_train = N-n_valid
    # one process would run `train_dl_len` batches (drop_last); each rank ran half of them, on its half of the samples
    assert f0['train_dl_len']==n_train//BS
    for f in (f0,f1):
        assert f['train_batches']*2==f['train_dl_len'], f
        assert f['train_samples']==f['train_batches']*BS
        assert f['valid_samples']==-(-n_valid//2)   # validation split in two, the odd fold padded by one repeat
    assert n_valid%2==1

def test_gathered_metric_equals_single_process(run2):
    tmp,r = run2
    hist = pd.read_csv(tmp/'m/history.csv')
    assert len(hist)==1                              # one row: only rank 0 wrote the log
    df = add_folds(read_labels(tmp/'s/train.csv'), FOLDS, 42)
    va = df[df.fold==0]
    learn = load_hpa(tmp/'m')
    _,probs = predict(learn, va.id.tolist(), tmp/'s/train', progress=False)   # one process, the exported weights
    targs = torch.zeros(len(va), len(learn.hpa['classes']))
    for i,ls in enumerate(va.labels): targs[i, list(ls)] = 1
    single = macro_f1(probs, targs, learn.thresh)
    assert abs(hist.macro_f1_present.iloc[-1]-single)<1e-5, (hist.macro_f1_present.iloc[-1], single)
    assert f'macro F1 {single:.4f}' in r.stdout       # the CLI's gathered `validate` too
    pc = pd.read_csv(tmp/'m/per_class_f1.csv')
    assert pc.support.sum()==targs.sum()              # the gathered per-class table counts each sample once

def test_exactly_one_export(run2):
    tmp,r = run2
    assert [str(o.relative_to(tmp)) for o in tmp.rglob('export*.pkl')]==['m/export.pkl']
    assert not list(tmp.rglob('.*tmp*'))
    assert r.stdout.count('hpa-train: macro F1')==1   # rank 0 reports, rank 1 is silent

def test_accelerate_launch_predict_keeps_order(run2):
    tmp,_ = run2
    ids = read_labels(tmp/'s/train.csv').id.tolist()[::-1][:N-1]   # reversed, and an odd count, so the last batch is padded
    pd.DataFrame({'Id':ids, 'Predicted':''}).to_csv(tmp/'ids.csv', index=False)
    r = launch([BIN/'accelerate', 'launch', '--multi_gpu', '--num_processes', 2, '--num_machines', 1, '--mixed_precision', 'no',
                '--dynamo_backend', 'no', BIN/'hpa-predict', 'm', '--csv', 'ids.csv', '--images', 's/train', '--out', 'sub.csv',
                '--probs', 'p.npy', '--bs', 5, '--quiet'], tmp, tmp/'plog')
    logs = rank_logs(tmp/'plog')
    assert sorted(logs)==[0,1] and logs[0][0]['pid']!=logs[1][0]['pid']
    assert [o[0]['valid_samples'] for o in logs.values()]==[N//2, N//2]    # 63 rows: 32 + 32, one of them padding
    assert r.stdout.count('hpa-predict: wrote')==1
    assert pd.read_csv(tmp/'sub.csv').Id.tolist()==ids
    _,single = predict(load_hpa(tmp/'m'), ids, tmp/'s/train', bs=5, progress=False)
    np.testing.assert_allclose(np.load(tmp/'p.npy'), single.numpy(), atol=1e-6)

def test_predict_bf16_channels_last_close_to_fp32(run2):
    "The prediction switches, in one process on this CPU: bf16 autocast and channels_last change the numbers only slightly"
    tmp,_ = run2
    ids = read_labels(tmp/'s/train.csv').id.tolist()[:16]
    _,p32 = predict(load_hpa(tmp/'m'), ids, tmp/'s/train', progress=False)
    _,p16 = predict(load_hpa(tmp/'m'), ids, tmp/'s/train', progress=False, mixed_precision='bf16', channels_last=True)
    assert p16.dtype==torch.float32 and not torch.equal(p16, p32)   # it did run in bf16
    assert (p16-p32).abs().max()<0.05
