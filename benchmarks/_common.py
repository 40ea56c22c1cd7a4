"Shared helpers of the benchmarks: the machine, the page cache, the 512 px data sets"
import os, platform, shutil, subprocess
from pathlib import Path
import pandas as pd, torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('HPA_SHARED_DATA', ROOT.parent/'shared'/'data'))

def machine()->str:
    "CPU model, cores, RAM, torch threads, and the GPU if any, in one line"
    cpu = next((l.split(':',1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    ram = next(int(l.split()[1])/2**20 for l in open('/proc/meminfo') if l.startswith('MemTotal'))
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ', no GPU'
    return f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GiB RAM, torch {torch.__version__} ({torch.get_num_threads()} threads){gpu}"

def load_avg()->str: return 'load average %.1f %.1f %.1f' % os.getloadavg()

def drop_caches()->bool:
    "Drop the page cache (needs root): `sync; echo 3 > /proc/sys/vm/drop_caches`; returns whether it worked"
    try:
        subprocess.run(['sync'], check=True)
        Path('/proc/sys/vm/drop_caches').write_text('3\n')
        return True
    except (OSError, subprocess.CalledProcessError): return False

def real_512(dest:Path, n:int=None)->Path:
    "A Kaggle-2018 set of the real 512 px images in shared/data (4 grey PNGs each), linked into `dest`; returns its CSV or None"
    src = SHARED/'hpa2018'
    if not (src/'train.csv').exists(): return None
    df = pd.read_csv(src/'train.csv')
    if n: df = df.head(n)
    (dest/'train').mkdir(parents=True, exist_ok=True)
    for i in df.Id:
        for c in ('red','green','blue','yellow'): shutil.copy(src/'train'/f'{i}_{c}.png', dest/'train'/f'{i}_{c}.png')
    df.to_csv(dest/'train.csv', index=False)
    return dest/'train.csv'

def data_512(dest:Path, n:int=64, source:str='auto')->tuple:
    "`(csv, description)` of a 512 px Kaggle-layout set: the real images when present (`source='auto'|'real'`), else synthetic"
    csv = real_512(dest, n) if source in ('auto','real') else None
    if csv is not None: return csv, f"{len(pd.read_csv(csv))} real Kaggle HPA 2018 samples (512 px, 4 grey PNGs)"
    if source=='real': raise SystemExit(f"no real data at {SHARED}")
    from hpa_fastai.synth import make_synth
    return make_synth(dest, n=n, size=512, seed=0, progress=False), f"{n} synthetic samples (512 px, 4 grey PNGs, hpa_fastai.synth)"

def du(path)->int: return sum(f.stat().st_size for f in Path(path).rglob('*') if f.is_file())
