"""Prediction throughput of the ONNX path against the fastai path, on the same images in one run (CPU): the same model
(an untrained timm net, the safe pair and `hpa-export --to onnx` of it), the same folder of synthetic 4-PNG samples.

- fastai path: `hpa_fastai.inference.predict(MODEL_FOLDER, ...)`: `load_hpa`, fastai's test DataLoader, the network
- ONNX path: `hpa_fastai.onnx_predict.predict_onnx(model.onnx, ...)`: onnxruntime, numpy and Pillow, no torch

Both read and resize every image and load the model in each call, as `hpa-predict` does. A second table times the
network alone on one batch already in memory (torch vs onnxruntime), to tell the graph from the pipeline.

    python benchmarks/bench_onnx.py                          # resnet18, 64 images of 128 px, bs 16, 1 thread, 3 rounds
    python benchmarks/bench_onnx.py --arch efficientnet_b0 --n 128 --size 256 --threads 2
"""
import tempfile, time, warnings
warnings.filterwarnings('ignore')
from pathlib import Path
import numpy as np, torch
from fastcore.script import call_parse
from _common import machine, load_avg

def timed(fns:dict, rounds:int)->dict:
    "Seconds of each call of every function of `fns`, taken in turn for `rounds` rounds (so that a change of load falls on all)"
    res = {k:[] for k in fns}
    for _ in range(rounds):
        for k,f in fns.items():
            t0 = time.perf_counter(); f(); res[k].append(time.perf_counter()-t0)
    return res

@call_parse
def main(
    arch:str='resnet18', # timm architecture (untrained: the speed does not depend on the weights)
    n:int=64,            # Images
    size:int=128,        # Image side
    bs:int=16,           # Batch size of both paths
    threads:int=1,       # torch and onnxruntime threads (1: on a shared 2-core box more threads wait on each other); 0: each library's default
    rounds:int=3,        # Alternating rounds; the median is reported
):
    from hpa_fastai.all import make_synth, read_labels, hpa_dls, hpa_learner, predict
    from hpa_fastai.interop import export_model
    from hpa_fastai.onnx_predict import predict_onnx, load_onnx, load_input, ids_in_folder
    if threads: torch.set_num_threads(threads)
    tp = Path(tempfile.mkdtemp())
    df = read_labels(make_synth(tp/'s', n=n, size=size, seed=0, progress=False))
    imgs = tp/'s/train'
    learn = hpa_learner(hpa_dls(df, imgs, n_folds=2, bs=bs, num_workers=0, n_stats=16), arch, path=tp)
    learn.export_hpa(tp/'m')
    export_model(tp/'m')
    print(f"machine: {machine()}\nmodel: timm {arch} (4 stains, 28 classes), {n} synthetic images of {size} px, bs {bs}, "
          f"{threads or 'default'} thread(s), {rounds} rounds; {load_avg()}")
    fastai = lambda: predict(tp/'m', None, imgs, bs=bs, progress=False)[1].numpy()
    onnx = lambda: predict_onnx(tp/'m/model.onnx', imgs, out=None, bs=bs, threads=threads or None)[2]
    pf,po = fastai(),onnx()                                    # warm-up, and the check that both give the same probabilities
    print(f"max |probability difference| between the paths: {np.abs(pf-po).max():.1e}")
    res = timed({'fastai path (predict)': fastai, 'ONNX path (predict_onnx)': onnx}, rounds)
    base = np.median(res['fastai path (predict)'])
    print(f"\nwhole path, {n} images from files (baseline: the fastai path, median of {rounds})")
    for k,v in res.items():
        m = np.median(v)
        print(f"  {k:26s} {n/m:7.1f} images/s  {m:6.2f} s  ratio {base/m:.2f}x  (rounds: {', '.join(f'{o:.2f}' for o in v)} s)")
    s,meta = load_onnx(tp/'m/model.onnx', threads or None)
    ids = ids_in_folder(imgs)[:bs]
    x = np.stack([load_input(imgs, i, meta) for i in ids])
    net = learn.model.eval()
    mean,std = (torch.tensor(o, dtype=torch.float32).view(1,-1,1,1) for o in learn.hpa['stats'])
    xt = (torch.from_numpy(x)/255-mean)/std
    def _torch():
        with torch.no_grad(): net(xt)
    def _ort(): s.run(None, {'image': x})
    for f in (_torch, _ort): f()
    res2 = timed({'torch (network alone)': _torch, 'onnxruntime (whole graph)': _ort}, rounds*3)
    base = np.median(res2['torch (network alone)'])
    print(f"\nnetwork only, one batch of {bs} in memory (baseline: torch, median of {rounds*3})")
    for k,v in res2.items():
        m = np.median(v)
        print(f"  {k:26s} {bs/m:7.1f} images/s  {m*1000:6.1f} ms  ratio {base/m:.2f}x")
    r = np.median(res['fastai path (predict)'])/np.median(res['ONNX path (predict_onnx)'])
    print(f"\nONNX path / fastai path throughput: {r:.2f}x; {load_avg()}")
