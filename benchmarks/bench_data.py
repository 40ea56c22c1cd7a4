"""Is `hpa-train`'s default recipe held back by itself or by its training images? The default (every option at its
default) trains on synthetic sets of several sizes, drawn as issue 17 draws its 400 images (28 classes at their default
frequencies, 256 px, at least `min_per_class` per class for each 400 images), and each model is scored on the same
test set of another seed. Prints test macro F1 and training minutes as ratios to the first size, measured in the same run.

    python benchmarks/bench_data.py                       # 400, 800 and 1600 training images (~30 min on 2 cores)
    python benchmarks/bench_data.py --sizes 400,2000
"""
import time, json, warnings, contextlib, io
warnings.filterwarnings('ignore')
from pathlib import Path
import torch
from fastcore.script import call_parse
from _common import machine, load_avg
from bench_recipe import cpu_s

def score(out:Path, test:Path)->tuple:
    "Macro F1 (over the classes present) of the model in `out` on the labelled test set at its thresholds, F1 per class, and the classes"
    from hpa_fastai.all import load_hpa, predict, read_labels, multi_hot, f1_per_class, model_thresh
    learn = load_hpa(out)
    df = read_labels(test/'train.csv')
    y = torch.tensor(multi_hot(df))
    _,p = predict(learn, df.id.tolist(), test/'train', progress=False)
    f = f1_per_class(p, y, model_thresh(learn))
    return float(f[y.sum(0)>0].mean()),f,list(learn.hpa['classes'])

@call_parse
def main(
    path:str='bench_data', # Working folder: the data sets and one model folder per size
    sizes:str='400,800,1600', # Training set sizes, comma-separated; the first is the baseline
    size:int=256,          # Image side
    min_per_class:int=8,   # Every class gets at least this many training images per 400
    n_test:int=600,        # Test images (another seed), at least `min_per_class` per class
):
    from hpa_fastai.all import make_synth
    from hpa_fastai.cli import hpa_train
    p,ns = Path(path),[int(o) for o in sizes.split(',')]
    te = p/f'test{n_test}'
    make_synth(te, n=n_test, size=size, seed=2, min_per_class=min_per_class, progress=False)
    print(f"machine: {machine()}\ndata: synthetic {size} px training sets of {sizes} images (min {min_per_class} per class per 400), "
          f"{n_test} test images of another seed (min {min_per_class} per class); {load_avg()}")
    res = {}
    for n in ns:
        tr = p/f'train{n}'
        make_synth(tr, n=n, size=size, seed=1, min_per_class=min_per_class*n//400, progress=False)
        t0,c0 = time.time(),cpu_s()
        with contextlib.redirect_stdout(io.StringIO()): hpa_train(csv=str(tr/'train.csv'), out=str(p/f'm{n}'), quiet=True)  # every default
        wall,cpu = time.time()-t0,cpu_s()-c0
        f1,f,cls = score(p/f'm{n}', te)
        res[n] = dict(f1=f1, wall=wall, cpu=cpu, per_class=f.tolist())
        print(f"  {n:5d} images: test macro F1 {f1:.3f}  train {wall/60:5.1f} min wall, {cpu/60:5.1f} CPU min", flush=True)
    b = res[ns[0]]
    print(f"\nbaseline = {ns[0]} training images, measured in this run; {load_avg()}")
    print("| training images | test macro F1 | ratio | train min (wall) | ratio | CPU min | ratio |\n|---|---|---|---|---|---|---|")
    for n,r in res.items(): print(f"| {n} | {r['f1']:.3f} | {r['f1']/b['f1']:.2f} | {r['wall']/60:.1f} | {r['wall']/b['wall']:.2f} | {r['cpu']/60:.1f} | {r['cpu']/b['cpu']:.2f} |")
    print("\nF1 per class (test):\n| class | " + ' | '.join(map(str, ns)) + ' |\n|---|' + '---|'*len(ns))
    for i,c in enumerate(cls): print(f"| {c} | " + ' | '.join(f"{res[n]['per_class'][i]:.2f}" for n in ns) + ' |')
    (p/'results.json').write_text(json.dumps(res, indent=1))
