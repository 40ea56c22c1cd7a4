"""Duplicate search: `find_pairs` (upper triangle, uint8 counters, chunks of 256) against the first version (full rows,
`hamming` with a uint64 sum, chunks of 512), on the same random 128-bit hashes with planted duplicates, plus the time of
hashing real images. Prints both times, their ratio and the extrapolation to the ~117k images of 2018 train+test+HPAv18.
Usage: python benchmarks/bench_dupes.py [N]"""
import sys, time, numpy as np
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, load_avg, SHARED
from hpa_fastai.dupes import find_pairs, hamming, hash_sample

def baseline(H, thresh=12, chunk=512):
    "The first version of find_pairs"
    res = []
    for s in range(0, len(H), chunk):
        d = hamming(H[s:s+chunk,None], H[None,:])
        i,j = np.nonzero(d<=thresh)
        k = j>i+s
        res.append(np.stack([i[k]+s, j[k], d[i[k],j[k]].astype(np.int64)], 1))
    return np.concatenate(res)

def timed(f, *a):
    t = time.perf_counter(); r = f(*a); return r, time.perf_counter()-t

if __name__=='__main__':
    n = int(sys.argv[1]) if len(sys.argv)>1 else 8000
    print(machine()); print(load_avg())
    rng = np.random.default_rng(0)
    H = rng.integers(0, 2**63, (n,2), dtype=np.uint64)
    for k in range(50): H[rng.integers(n)] = H[k] ^ np.uint64(1 << int(rng.integers(64)))   # planted near-duplicates
    a,ta = timed(baseline, H)
    b,tb = timed(find_pairs, H)
    assert sorted(map(tuple, a.tolist()))==sorted(map(tuple, b.tolist())), 'results differ'
    pairs = n*(n-1)/2
    print(f"N={n}: baseline {ta:.2f}s ({pairs/ta:.2e} pairs/s), find_pairs {tb:.2f}s ({pairs/tb:.2e} pairs/s): {ta/tb:.1f}x faster, same {len(b)} pairs")
    big = 117_380
    print(f"extrapolated to {big} images ({big*(big-1)/2:.2e} pairs): baseline {big*(big-1)/2/(pairs/ta)/60:.1f} min, find_pairs {big*(big-1)/2/(pairs/tb)/60:.1f} min")
    tr = SHARED/'hpa2018'/'train'
    if tr.is_dir():
        ids = sorted({o.name.rsplit('_',1)[0] for o in tr.iterdir()})[:16]
        _,t = timed(lambda: [hash_sample(tr/i) for i in ids])
        print(f"hashing blue+green of a 512 px Kaggle 2018 sample: {t/len(ids)*1000:.0f} ms per image (one thread)")
    v = SHARED/'hpav18'/'images'
    if v.is_dir():
        _,t = timed(lambda: [hash_sample(v/i) for i in ('10580_1610_C1_1','10580_1610_C1_2','10580_1756_B1_1')])
        print(f"hashing blue+green of a 2048 px HPAv18 colour JPEG sample: {t/3*1000:.0f} ms per image (one thread)")
    print(load_avg())
