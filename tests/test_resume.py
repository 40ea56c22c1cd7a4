"""Kill and resume: `hpa-train` is killed with SIGKILL inside a stage and at the stage switch, `hpa-train --resume OUT`
finishes the run, and the result is compared with an uninterrupted run of the same seed (run in this process)."""
import os, re, signal, subprocess, time, pytest, torch
import pandas as pd
from safetensors.torch import load_file
from hpa_fastai.all import make_synth

from helpers import cmd as _cmd, main, ok, fails
SCHED = 'crop24:2:1e-2,full:1:5e-3'  # fit 0 = stage 0 (2 epochs), fit 1 = stage 1; `done` counts a fit's epochs

def _args(d, out): return ['hpa-train', '--csv', d/'train.csv', '--out', out, '--schedule', SCHED, '--bs', 8, '--n-folds', 4,
                           '--seed', 7, '--workers', 0, '--arch', 'resnet10t', '--quiet']
def _train(d, out): return _cmd(*_args(d, out))

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "The synthetic set and the uninterrupted reference run"
    d = tmp_path_factory.mktemp('resume')
    make_synth(d/'s', n=32, size=32, seed=3, progress=False)
    return d, ok(main(*_args(d/'s', d/'ref'))).stdout

def _ckpt(out):
    fn = out/'checkpoints/last.pth'
    if not fn.exists(): return None
    try: return torch.load(fn, weights_only=True)  # renamed into place whole, so never half-written
    except Exception: return None

def _kill_at(cmd, out, fit, done, timeout=300):
    "Start `cmd`, wait until its checkpoint has reached `fit`/`done`, SIGKILL it; the checkpoint at the kill"
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while time.time()-t0<timeout:
        ck = _ckpt(out)
        if ck and (ck['fit'],ck['done'])>=(fit,done): break
        if p.poll() is not None: pytest.fail(f'hpa-train ended before the kill: {p.stderr.read()[-2000:]}')
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    assert p.wait()==-signal.SIGKILL
    return _ckpt(out)

def _f1(stdout): return float(re.search(r'macro F1 ([0-9.]+)', stdout)[1])
def _hist(out): return pd.read_csv(out/'history.csv').drop(columns='time')

@pytest.mark.slow
def test_kill_and_resume(runs):
    "Kill inside stage 0, resume, kill the resumed run again at the stage switch, resume again: the end equals the uninterrupted run"
    d,ref_out = runs
    out = d/'killed'
    ck1 = _kill_at(_train(d/'s', out), out, 0, 1)                                    # inside stage 0
    assert {'model','opt','rng','dl_rng','config','best','smooth'} <= set(ck1)
    assert ck1['opt']['state'] and '"fold": 0' in ck1['config'] and '"seed": 7' in ck1['config']
    ck2 = _kill_at(_cmd('hpa-train', '--resume', out, '--quiet'), out, 0, 2)        # the resumed run, at the stage switch
    assert not (out/'export.pkl').exists()
    r = subprocess.run(_cmd('hpa-train', '--resume', out, '--quiet'), capture_output=True, text=True, timeout=600)
    assert r.returncode==0, r.stderr[-2000:]
    ref,res = _f1(ref_out),_f1(r.stdout)
    a,b = load_file(str(d/'ref/model.safetensors')),load_file(str(out/'model.safetensors'))
    same = all(torch.equal(a[k], b[k]) for k in a)
    print(f"\nSIGKILL at checkpoints (stage {ck1['fit']}, {ck1['done']} epoch done) and (stage {ck2['fit']}, {ck2['done']} epochs done = "
          f"the stage switch); final validation macro F1: uninterrupted {ref:.6f}, killed twice and resumed {res:.6f}; "
          f"last valid_loss {_hist(d/'ref').valid_loss.iloc[-1]:.6f} vs {_hist(out).valid_loss.iloc[-1]:.6f}; weights bit-identical: {same}")
    assert abs(ref-res)<1e-4                                                  # same seed on the CPU: the same run, within float noise
    pd.testing.assert_frame_equal(_hist(out), _hist(d/'ref'), rtol=1e-4)    # every epoch's losses, none logged twice
    assert max((a[k]-b[k]).abs().max().item() for k in a if a[k].is_floating_point())<1e-4
    assert not list(out.rglob('.*.tmp*'))  # a temporary file of a killed write is removed by the next write of that file

def test_resume_without_checkpoint(tmp_path):
    assert 'Cannot resume' in fails(main('hpa-train', '--resume', tmp_path/'nothing', '--quiet'), 'there is no checkpoint')

def test_resume_refuses_changed_data(runs, tmp_path):
    """A finished run's checkpoint, then its data changed: `--resume` refuses, naming what changed, and changes no file of the run.
    The label table (a row dropped), then an image brightened (the statistics)"""
    import shutil, hashlib
    import numpy as np
    from PIL import Image
    d,_ = runs
    shutil.copytree(d/'s', tmp_path/'s')
    out,fn = tmp_path/'o',tmp_path/'s/train.csv'
    ok(main('hpa-train', '--csv', fn, '--out', out, '--schedule', 'full:1:1e-2', '--bs', 8, '--n-folds', 4, '--workers', 0, '--arch', 'resnet10t', '--quiet'))
    table = fn.read_text()
    img = next((tmp_path/'s/train').glob('*_green.png'))
    def brighten(): Image.fromarray(np.full_like(np.array(Image.open(img)), 255)).save(img)
    for change,what in [(lambda: fn.write_text(''.join(table.splitlines(keepends=True)[:-1])), 'the label table'),
                        (lambda: (fn.write_text(table), brighten()), 'the per-stain statistics')]:
        change()
        before = {p:hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob('*') if p.is_file()}
        fails(main('hpa-train', '--resume', out, '--quiet'), f'{what} changed since the run started')
        assert before=={p:hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob('*') if p.is_file()}
