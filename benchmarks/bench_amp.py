"""Training throughput on one GPU at 512 px: fp32 against bf16 (and fp16) mixed precision, with and without
channels_last, through the same switches `hpa-train --mixed-precision/--channels-last` uses (`hpa_fastai.distrib.set_precision`,
i.e. fastai's `MixedPrecision` and `ChannelsLast` callbacks). Batches are random 4-channel tensors already on the GPU,
so the figure is the model's training step (forward, backward, optimizer), not the image loading. Prints samples/s
and each ratio against fp32 measured in the same run.

    python benchmarks/bench_amp.py                          # resnet34, bs 32, 512 px, 20 steps after 5 warm-up
    python benchmarks/bench_amp.py --arch efficientnet_b0 --bs 48 --modes fp32,bf16,bf16+cl
"""
import time, warnings
warnings.filterwarnings('ignore')
import torch
from fastcore.script import call_parse
from fastai.vision.all import Learner, DataLoaders, BCEWithLogitsLossFlat, Callback
import timm
from hpa_fastai.distrib import set_precision
from _common import machine, load_avg

class StepTimer(Callback):
    "Time the training batches after `warmup`, synchronising the GPU"
    def __init__(self, warmup): self.warmup,self.n,self.t0 = warmup,0,None
    def before_batch(self):
        if self.training and self.n==self.warmup: torch.cuda.synchronize(); self.t0 = time.perf_counter()
    def after_batch(self):
        if self.training: self.n += 1
    def after_train(self): torch.cuda.synchronize(); self.secs = time.perf_counter()-self.t0

def run(mode, arch, bs, size, steps, warmup, classes=28):
    prec,cl = mode.split('+')[0],mode.endswith('+cl')
    torch.manual_seed(0)
    xs = [(torch.randn(bs, 4, size, size, device='cuda'), (torch.rand(bs, classes, device='cuda')<0.1).float()) for _ in range(4)]
    batches = [xs[i%4] for i in range(warmup+steps)]
    model = timm.create_model(arch, pretrained=False, in_chans=4, num_classes=classes).cuda()
    learn = Learner(DataLoaders(batches, batches[:1]), model, loss_func=BCEWithLogitsLossFlat(), cbs=StepTimer(warmup))
    set_precision(learn, 'no' if prec=='fp32' else prec, channels_last=cl)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return steps*bs/learn.step_timer.secs

@call_parse
def main(
    arch:str='resnet34',              # timm architecture
    bs:int=32,                        # Batch size
    size:int=512,                     # Image side in pixels
    steps:int=20,                     # Timed training steps
    warmup:int=5,                     # Untimed steps first (cuDNN autotuning, allocator)
    modes:str='fp32,bf16,bf16+cl,fp16', # Comma-separated: fp32, bf16, fp16, each optionally +cl (channels_last)
):
    "Samples/s of training steps at each precision, and the ratio to fp32"
    print(machine()); print(load_avg())
    if not torch.cuda.is_available(): raise SystemExit("bench_amp: no CUDA GPU on this machine: mixed precision is a GPU feature, nothing measured.")
    torch.backends.cudnn.benchmark = True
    ms = modes.split(',')
    if 'fp32' not in ms: ms = ['fp32']+ms
    res = {m:run(m, arch, bs, size, steps, warmup) for m in ms}
    print(f"{arch}, bs {bs}, {size} px, {steps} steps after {warmup} warm-up:")
    for m,v in res.items(): print(f"  {m:>8}: {v:8.1f} samples/s  ({v/res['fp32']:.2f}x fp32)")
