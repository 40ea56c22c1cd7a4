"""Loader throughput (samples/s) for 512 px RGBY with the same augmentations and 2 workers: the 4-PNG folder (baseline),
a naive per-channel PIL reader, a stacked-PNG cache and the `.npy` cache of `hpa-prep`, read a batch at a time by
`CacheDL` and, for comparison, through fastai's per-item path.

    python benchmarks/bench_loader.py                 # the 64 real 512 px images (synthetic when absent), ~2 min
    python benchmarks/bench_loader.py --repeat 16 --epochs 3 --source synth --n 128
"""
import os, time, tempfile, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import numpy as np, pandas as pd, torch
from PIL import Image
from fastcore.script import call_parse, store_true
import types
from fastai.vision.all import DisplayedTransform, Pipeline, TfmdDL
from hpa_fastai.labels import read_labels
from hpa_fastai.image import TensorImageRGBY
from hpa_fastai.data import hpa_dls, add_folds
from hpa_fastai.cache import prep_cache
from _common import machine, load_avg, drop_caches, data_512, du

STATS = ([0.08,0.05,0.05,0.08], [0.13,0.1,0.13,0.13])   # fixed: channel_stats is not what is measured

class NaivePIL(DisplayedTransform):
    "The reader a first script writes: open each `<id>_<stain>.png` with PIL, convert to L, stack"
    def encodes(self, fn):
        return TensorImageRGBY(torch.from_numpy(np.stack([np.array(Image.open(f'{fn}_{c}.png').convert('L')) for c in ('red','green','blue','yellow')])))

def make_dls(df, path, bs, workers, device, mode=None):
    "`hpa_dls` (dihedral + brightness + contrast + normalise, full 512 px images); mode 'naive' swaps only the file reader, 'per-item' turns off `CacheDL`'s batch reads"
    dls = hpa_dls(df, path, fold=0, bs=bs, stats=STATS, num_workers=workers, device=device)
    if mode=='per-item':
        for dl in dls.loaders: dl.create_batches = types.MethodType(TfmdDL.create_batches, dl)   # fastai's own: one item at a time, then collate
    if mode=='naive':
        for dl in dls.loaders:   # keep split_idx: it is what tells the training loader to run its random augmentations
            old = dl.dataset.tls[0].tfms
            dl.dataset.tls[0].tfms = Pipeline([old[0], NaivePIL()], split_idx=old.split_idx)
        assert dls.train.split_idx==0 and dls.valid.split_idx==1
    return dls

def _cpu():
    t = os.times()   # this process plus its finished children: the DataLoader workers, which are joined at the epoch's end
    return t.user+t.system+t.children_user+t.children_system

STEADY = {}   # per loader: (seconds, samples) after the first batch of each timed epoch

def epoch(dl, augment=True):
    "Wall seconds, samples and CPU seconds (main + workers) of one pass over `dl`, with or without its batch augmentations"
    ab = dl.after_batch
    if not augment: dl.after_batch = Pipeline([], split_idx=ab.split_idx)
    n,t0,c0,t1,n1 = 0,time.perf_counter(),_cpu(),None,0
    for x,y in dl:
        if x.is_cuda: torch.cuda.synchronize()
        n += len(x)
        if t1 is None: t1,n1 = time.perf_counter(),n   # the first batch pays for starting the workers
    dl.after_batch = ab
    t = time.perf_counter()
    STEADY[id(dl)] = (t-t1, n-n1)
    return t-t0, n, _cpu()-c0

@call_parse
def main(
    n:int=64,              # Distinct samples (the real set has 64)
    repeat:int=4,          # Rows per sample in the epoch (the epoch is n*repeat samples)
    epochs:int=2,          # Timed read-only epochs per loader (after one warm-up epoch; taken round-robin across loaders), the best reported; then one augmented epoch
    bs:int=16,             # Batch size
    workers:int=2,         # DataLoader workers
    source:str='auto',     # 'real' (shared/data), 'synth', or 'auto' (real when present)
    device:str='cpu',      # Where the batch augmentations run: cpu, or cuda as in training on a GPU
    cold:store_true=False, # Also time one epoch right after dropping the page cache (needs root)
    threads:int=1,         # torch threads of the main process (collation, batch augmentation); 0: torch's default
):
    if threads: torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp(prefix='bench_loader_'))
    t0 = time.perf_counter()
    csv,desc = data_512(tmp/'src', n, source)
    src = tmp/'src'/'train'
    prep_cache(src, tmp/'npy', csv, sizes=512, progress=False)
    prep_cache(src, tmp/'png', csv, sizes=512, fmt='png', progress=False)
    print(f"machine: {machine()}\ndata: {desc}; made the caches in {time.perf_counter()-t0:.0f}s")
    df = read_labels(csv)
    nid = len(df)
    df = add_folds(df, 4, seed=0)
    df = pd.concat([df]*repeat, ignore_index=True); df.attrs = read_labels(csv).attrs
    df['fold'] = np.where(np.arange(len(df))<len(df)-bs, 1, 0)     # one batch of validation: the epoch is the training set
    ntr = int((df.fold!=0).sum())
    print(f"epoch: {ntr} samples ({nid} distinct x {repeat}), bs {bs}, {workers} workers, full 512 px images, "
          f"train augmentations DihedralRGBY+Brightness+Contrast+Normalize on {device}; {load_avg()}")
    srcs = [('4-PNG folder (open_hpa)', src, None, du(src)), ('naive per-channel PIL', src, 'naive', du(src)),
            ('stacked RGBA PNG cache', tmp/'png'/'512', None, du(tmp/'png'/'512')),
            ('.npy cache, fastai per-item path', tmp/'npy'/'512', 'per-item', du(tmp/'npy'/'512')),
            ('hpa-prep .npy cache (CacheDL)', tmp/'npy'/'512', None, du(tmp/'npy'/'512'))]
    todo = []
    for name,path,mode,nbytes in srcs:
        dl = make_dls(df, path, bs, workers, device, mode).train
        r = dict(source=name, MiB_per_sample=nbytes/nid/2**20)
        if cold:
            r['cold_dropped'] = drop_caches()
            s,k,c = epoch(dl, augment=False); r['cold_read_sps'] = k/s
        epoch(dl, augment=False)                            # warm-up: page cache, workers, allocator
        todo.append((name, dl, r, [], []))
    for _ in range(epochs):   # round-robin over the loaders: a change in what else the machine runs falls on all of them alike
        for name,dl,r,runs,steady in todo: runs.append(epoch(dl, augment=False)); steady.append(STEADY[id(dl)])
    rows = []
    for name,dl,r,runs,steady in todo:
        r['read_sps'] = max(k/s for s,k,c in runs)
        r['steady_sps'] = max(k/s for s,k in steady)   # after the first batch: the rate a long epoch runs at
        r['cpu_ms_per_sample'] = min(c/k for s,k,c in runs)*1000
        s,k,c = epoch(dl); r['augmented_sps'] = k/s
        rows.append(r)
        print(f"  {name}: {r['read_sps']:.1f} samples/s read ({r['cpu_ms_per_sample']:.1f} CPU ms/sample), {r['augmented_sps']:.1f} with batch augmentation"
              + (f", {r['cold_read_sps']:.1f} cold" if cold else ''), flush=True)
    res = pd.DataFrame(rows).set_index('source')
    base = res.iloc[0]
    for c in [o for o in ('read_sps','steady_sps','augmented_sps','cold_read_sps') if o in res]: res[c.replace('sps','x')] = res[c]/base[c]
    res['cpu_x'] = base['cpu_ms_per_sample']/res['cpu_ms_per_sample']   # samples per CPU-second, relative: robust to a busy machine
    pd.set_option('display.width', 200)
    print(f"\nbaseline = the 4-PNG folder, measured in this run; {load_avg()}")
    print(res.round(2).to_string())
    npy = res.loc['hpa-prep .npy cache (CacheDL)']
    x,xs = npy['read_x'],npy['steady_x']
    print(f"\nnpy cache vs 4-PNG folder: {x:.1f}x samples/s through the {workers} workers over whole epochs of {ntr} samples "
          f"(target >= 5x: {'met' if x>=5 else 'NOT met'}), {xs:.1f}x once the workers are running (after the first batch), "
          f"{npy['cpu_x']:.1f}x fewer CPU seconds per sample; {npy['augmented_x']:.1f}x with the batch augmentations on {device}")
    import shutil; shutil.rmtree(tmp)
