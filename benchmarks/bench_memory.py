"""Peak memory while iterating one epoch of the `.npy` cache with 2 workers, for N and MULT*N distinct 512 px samples:
it must stay flat in the data set size (the loader keeps no per-sample state; the page cache is the kernel's, reclaimable).

    python benchmarks/bench_memory.py                  # N=256 and 1024 samples (1 GiB of cache), ~2 min
    python benchmarks/bench_memory.py --n 4096 --mult 6 # 4 GiB and 24 GiB: more than this machine's RAM
"""
import json, shutil, subprocess, sys, tempfile, threading, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import numpy as np, pandas as pd, psutil
from fastcore.script import call_parse, store_true
from _common import machine, load_avg, drop_caches, data_512

STATS = ([0.08,0.05,0.05,0.08], [0.13,0.1,0.13,0.13])

def meminfo(key='Cached')->float: return next(int(l.split()[1])/2**10 for l in open('/proc/meminfo') if l.startswith(key+':'))

def child(csv, folder, bs, workers, augment):
    "Iterate one epoch of the cache; print peak RSS of this process plus its workers (sampled every 20 ms) as JSON"
    from fastai.vision.all import Pipeline
    from hpa_fastai.data import hpa_dls
    from hpa_fastai.labels import read_labels
    df = read_labels(csv); df['fold'] = np.where(np.arange(len(df))<len(df)-bs, 1, 0)
    me,peak,stop = psutil.Process(),[0,0],False
    def sample():
        while not stop:
            try:
                ps = [me]+me.children(recursive=True)
                rss = sum(p.memory_info().rss for p in ps)
                peak[0],peak[1] = max(peak[0], rss),max(peak[1], len(ps))
            except psutil.Error: pass
            time.sleep(0.02)
    dl = hpa_dls(df, folder, fold=0, bs=bs, stats=STATS, num_workers=workers).train
    if not augment: dl.after_batch = Pipeline([])
    base = me.memory_info().rss
    th = threading.Thread(target=sample, daemon=True); th.start()
    n,t0,c0 = 0,time.perf_counter(),meminfo()
    for x,y in dl: n += len(x)
    stop = True; th.join()
    hwm = next(int(l.split()[1])*1024 for l in open('/proc/self/status') if l.startswith('VmHWM'))
    print(json.dumps(dict(samples=n, seconds=time.perf_counter()-t0, rss_before=base, peak_rss_total=peak[0], procs=peak[1],
                          main_hwm=hwm, page_cache_growth=(meminfo()-c0)*2**20)))

@call_parse
def main(
    n:int=256,              # Samples of the small set
    mult:int=4,             # The large set has MULT*N samples
    bs:int=16,              # Batch size
    workers:int=2,          # DataLoader workers
    augment:store_true=False, # Also run the batch augmentations (on the CPU, in the main process)
    source:str='auto',      # 'real', 'synth' or 'auto': the 512 px samples that are copied under new ids
    child_args:str=None,    # (internal) CSV,FOLDER of a measuring child process
):
    if child_args: return child(*child_args.split(','), bs, workers, augment)
    from hpa_fastai.cache import prep_cache
    tmp = Path(tempfile.mkdtemp(prefix='bench_mem_'))
    csv,desc = data_512(tmp/'src', 64, source)
    prep_cache(tmp/'src'/'train', tmp/'c', csv, sizes=512, progress=False)
    base = pd.read_csv(csv)
    print(f"machine: {machine()}\nsource: {desc}, cached by hpa-prep and copied under new ids (distinct files)")
    rows = []
    for k in (n, n*mult):
        d = tmp/f'set{k}'; d.mkdir()
        ids = [f'{base.Id[j%len(base)]}-{j}' for j in range(k)]
        for j,i in enumerate(ids): shutil.copyfile(tmp/'c'/'512'/f'{base.Id[j%len(base)]}.npy', d/f'{i}.npy')
        pd.DataFrame({'Id':ids, 'Target':[base.Target[j%len(base)] for j in range(k)]}).to_csv(tmp/f'set{k}.csv', index=False)
        dropped = drop_caches()
        r = subprocess.run([sys.executable, __file__, '--child-args', f'{tmp/f"set{k}.csv"},{d}', '--bs', str(bs), '--workers', str(workers)]
                           + (['--augment'] if augment else []), capture_output=True, text=True)
        if r.returncode: raise SystemExit(r.stderr[-3000:])
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res.update(n=k, cache_GiB=k*(4*512*512+128)/2**30, page_cache_dropped=dropped)
        rows.append(res)
        print(f"  {k} samples ({res['cache_GiB']:.2f} GiB): peak RSS main+{res['procs']-1} workers {res['peak_rss_total']/2**20:.0f} MiB, "
              f"main VmHWM {res['main_hwm']/2**20:.0f} MiB, {res['samples']/res['seconds']:.0f} samples/s, page cache +{res['page_cache_growth']/2**20:.0f} MiB; {load_avg()}", flush=True)
        shutil.rmtree(d)
    a,b = rows
    print(f"\nbaseline = the {n}-sample epoch in this run. Data set x{b['n']/a['n']:.0f}: peak RSS (main+workers) x{b['peak_rss_total']/a['peak_rss_total']:.2f}, "
          f"main VmHWM x{b['main_hwm']/a['main_hwm']:.2f} (flat means ~1.0). Page cache {'dropped' if a['page_cache_dropped'] else 'NOT dropped (not root)'} before each epoch.")
    shutil.rmtree(tmp)
