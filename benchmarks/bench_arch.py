"""Seconds per training step of timm architectures on this machine (4-channel input, 28 outputs, forward + backward +
AdamW step), as ratios to the first one: which model to train from scratch on a CPU.

    python benchmarks/bench_arch.py                                        # 128 px, bs 32, 2 threads
    python benchmarks/bench_arch.py --archs resnet18,resnet34,efficientnet_b0 --size 256 --bs 16
"""
import time, warnings
warnings.filterwarnings('ignore')
import numpy as np, torch, timm
from fastcore.script import call_parse
from _common import machine, load_avg

def step_secs(model, x, y, steps:int)->float:
    "Median seconds of `steps` training steps on the batch `x`,`y`"
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    crit = torch.nn.BCEWithLogitsLoss()
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        crit(model(x), y).backward()
        opt.step()
        ts.append(time.perf_counter()-t0)
    return float(np.median(ts))

@call_parse
def main(
    archs:str='resnet18,resnet10t,regnetx_002,regnetx_004,mobilenetv3_large_100,efficientnet_b0',  # timm names; the first is the baseline
    size:int=128, # Image side
    bs:int=32,    # Batch size
    steps:int=5,  # Timed steps per model (after one warm-up step); the median is reported
    rounds:int=2, # Rounds over all models, to spread drifts in machine load; the median of rounds is reported
    threads:int=2,# torch threads (0: torch's default)
):
    if threads: torch.set_num_threads(threads)
    torch.manual_seed(0)
    x,y = torch.rand(bs, 4, size, size),(torch.rand(bs, 28)<0.1).float()
    names = archs.split(',')
    models = {a: timm.create_model(a, pretrained=False, in_chans=4, num_classes=28).train() for a in names}
    print(f"machine: {machine()}\ninput: {bs} x 4 x {size} x {size}, 28 outputs, AdamW; {steps} steps x {rounds} rounds per model; {load_avg()}")
    for m in models.values(): step_secs(m, x, y, 1)   # warm-up: allocator, kernels
    res = {a: [] for a in names}
    for r in range(rounds):
        for a,m in models.items(): res[a].append(step_secs(m, x, y, steps))
    base = np.median(res[names[0]])
    print(f"\nbaseline = {names[0]}, measured in this run; {load_avg()}")
    print(f"  {'architecture':24s} {'params':>8s} {'ms/step':>9s} {'ratio':>7s} {'speed-up':>9s}")
    for a,v in res.items():
        m,n = np.median(v),sum(p.numel() for p in models[a].parameters())/1e6
        print(f"  {a:24s} {n:7.2f}M {m*1000:9.0f} {m/base:7.3f} {base/m:8.2f}x")
