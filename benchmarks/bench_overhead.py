"""The fastai training loop against a plain PyTorch loop: same model, same initial weights, same batches, same
optimizer (torch.optim.Adam, wrapped by fastai's `OptimWrapper`), on the CPU. Prints seconds per step and the ratio.

    python benchmarks/bench_overhead.py                    # resnet18, 4 x 64 px, bs 16, 10 steps x 3 rounds, ~2 min
    python benchmarks/bench_overhead.py --size 256 --steps 30 --rounds 5
"""
import copy, time, warnings
warnings.filterwarnings('ignore')
import numpy as np, torch, torch.nn as nn
from functools import partial
from fastcore.script import call_parse
from fastai.vision.all import Learner, DataLoaders, OptimWrapper, BCEWithLogitsLossFlat, Adam, Callback
import timm
from _common import machine, load_avg

class TrainTimer(Callback):
    "Time the training phase only (fastai's `fit` also validates; the plain loop does not)"
    def before_train(self): self.t0 = time.perf_counter()
    def after_train(self):  self.secs = time.perf_counter()-self.t0

def plain(model, batches, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    crit = nn.BCEWithLogitsLoss()
    model.train()
    t0 = time.perf_counter()
    for x,y in batches:
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
    return time.perf_counter()-t0

def fastai_fit(model, batches, lr, opt_func):
    dls = DataLoaders(batches, batches[:1])        # plain lists of (x,y): fastai takes any iterable with len
    learn = Learner(dls, model, loss_func=BCEWithLogitsLossFlat(), opt_func=opt_func, cbs=TrainTimer())
    with learn.no_bar(), learn.no_logging(): learn.fit(1, lr)
    return learn.train_timer.secs

@call_parse
def main(
    arch:str='resnet18',  # timm architecture
    size:int=64,          # Image side
    bs:int=16,            # Batch size
    steps:int=10,         # Batches per timed epoch
    rounds:int=3,         # Alternating rounds plain/fastai/fastai-Adam; the median is reported
    threads:int=1,        # torch threads; 1 because OpenMP spin-waiting on a shared 2-core box makes 2 threads ~4x slower; 0: torch's default
):
    if threads: torch.set_num_threads(threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.rand(bs, 4, size, size, generator=g), (torch.rand(bs, 28, generator=g)<0.1).float()) for _ in range(steps)]
    model0 = timm.create_model(arch, pretrained=False, in_chans=4, num_classes=28)
    print(f"machine: {machine()}\nmodel: timm {arch}, 4 x {size} px, bs {bs}, {steps} steps per epoch, {rounds} rounds; {load_avg()}")
    plain(copy.deepcopy(model0), batches[:2], 1e-3)                  # warm-up: allocator, kernels
    fastai_fit(copy.deepcopy(model0), batches[:2], 1e-3, partial(OptimWrapper, opt=torch.optim.Adam))
    res = {'plain PyTorch loop': [], 'fastai Learner.fit, torch Adam': [], 'fastai Learner.fit, fastai Adam': []}
    for r in range(rounds):
        res['plain PyTorch loop'].append(plain(copy.deepcopy(model0), batches, 1e-3))
        res['fastai Learner.fit, torch Adam'].append(fastai_fit(copy.deepcopy(model0), batches, 1e-3, partial(OptimWrapper, opt=torch.optim.Adam)))
        res['fastai Learner.fit, fastai Adam'].append(fastai_fit(copy.deepcopy(model0), batches, 1e-3, Adam))
    base = np.median(res['plain PyTorch loop'])
    print(f"\nbaseline = the plain loop, measured in this run (median of {rounds}); {load_avg()}")
    for k,v in res.items():
        m = np.median(v)
        print(f"  {k:33s} {m/steps*1000:8.1f} ms/step  ratio {m/base:.3f}  (rounds: {', '.join(f'{o/steps*1000:.0f}' for o in v)} ms/step)")
    m = np.median(res['fastai Learner.fit, torch Adam'])
    print(f"\nfastai overhead over the plain loop, same optimizer: {100*(m/base-1):+.1f}% per step")
