"""Which training recipe should `hpa-train` default to on a CPU? Candidate recipes train on one synthetic set and are
scored on a separately generated test set; each prints its macro F1 and its training time, as ratios to today's default
measured in the same run.

The set is what issue 17 names: `hpa-synth` with the 28 classes at their default frequencies, 400 training images of
256 px, `--min-per-class` so that every class is present; the test set is another draw (other seed) of 200 images.

    python benchmarks/bench_recipe.py                          # every candidate (~50 min on 2 cores)
    python benchmarks/bench_recipe.py --only lite0_prog          # some of them (the baseline always runs)
"""
import os, time, json, warnings, resource
warnings.filterwarnings('ignore')
from pathlib import Path
import torch
from fastcore.script import call_parse
from _common import machine, load_avg

# name -> `train` options (every other option at its default); the first is the baseline
CANDIDATES = dict(
    lite0_views = dict(arch='tf_efficientnet_lite0', pretrained=True, head='views', schedule='probe'),  # a linear probe on RGB views of the stains (the protein as grey at 1.5x, protein+nucleus), each turned four ways, in fp32 (hpa-train's default before lite0_v2_bf16)
    default    = dict(schedule='crop96:8:1e-2,full:4:5e-3'),                                     # resnet18 from scratch: the default before this benchmark
    r18_long   = dict(schedule='crop96:16:1e-2,full:6:5e-3'),                                    # the same, twice the epochs
    lite0_prog = dict(arch='tf_efficientnet_lite0', pretrained=True, schedule='crop96:8:5e-3,full:4:3e-3', lr_mult=10, norm='data'),  # ImageNet (offline wheel), progressive
    lite0_full = dict(arch='tf_efficientnet_lite0', pretrained=True, schedule='full:5:5e-3', lr_mult=10, norm='data'),  # the same at fixed full size, about the same wall time (hpa-train's default before lite0_probe)
    lite0_probe = dict(arch='tf_efficientnet_lite0', pretrained=True, head='stages', extra_init='zero', schedule='probe'), # a linear probe on every stage's pooled features, ImageNet normalisation (hpa-train's default before lite0_views)
    lite0_views_bf16 = dict(arch='tf_efficientnet_lite0', pretrained=True, head='views', schedule='probe', mixed_precision='bf16'),  # lite0_views under bf16 autocast (a CPU with AVX512-BF16 or AMX)
    lite0_ggb2_bf16 = dict(arch='tf_efficientnet_lite0', pretrained=True, head='views:ggb*2', schedule='probe', mixed_precision='bf16'),  # protein+nucleus alone, at twice the size
    lite0_v2_bf16 = dict(arch='tf_efficientnet_lite0', pretrained=True, head='views:ggg*1.5,ggb*2', schedule='probe', mixed_precision='bf16'),  # both views, protein+nucleus at twice the size
    lite0_v3_bf16 = dict(arch='tf_efficientnet_lite0', pretrained=True, head='views:ggg*3,ggb*2', schedule='probe', mixed_precision='bf16'),  # both views at twice lite0_views' sizes
    lite0_v4_bf16 = dict(arch='tf_efficientnet_lite0', pretrained=True, head='views:ggg*1.5,ggg*3,ggb*2', schedule='probe', mixed_precision='bf16'),  # the protein alone at two sizes, and protein+nucleus at twice the size
)

def cpu_s()->float:
    "CPU seconds of this process and its finished children"
    s,c = resource.getrusage(resource.RUSAGE_SELF),resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime+s.ru_stime+c.ru_utime+c.ru_stime

def score(out:Path, test:Path)->float:
    "Macro F1 (over the classes present) of the model in `out` on the labelled test set, at the model's thresholds"
    from hpa_fastai.all import load_hpa, predict, read_labels, multi_hot, macro_f1, model_thresh
    learn = load_hpa(out)
    df = read_labels(test/'train.csv')
    ids,p = predict(learn, df.id.tolist(), test/'train', progress=False)
    return float(macro_f1(p, torch.tensor(multi_hot(df)), model_thresh(learn)))

@call_parse
def main(
    path:str='bench_recipe', # Working folder: the data sets and one model folder per candidate
    only:str=None,           # Comma-separated candidate names (default: all); the first of CANDIDATES is always run, as the baseline
    n:int=400,               # Training images
    size:int=256,            # Image side
    min_per_class:int=8,     # Every class gets at least this many training images
    n_test:int=200,          # Test images (another seed)
    workers:int=0,           # DataLoader workers
):
    from hpa_fastai.all import make_synth, train
    p = Path(path)
    tr,te = p/'train400',p/'test200'
    make_synth(tr, n=n, size=size, seed=1, min_per_class=min_per_class, progress=False)
    make_synth(te, n=n_test, size=size, seed=2, min_per_class=min_per_class//2, progress=False)
    names = list(CANDIDATES)
    names = [names[0]] + [o for o in (only.split(',') if only else names[1:]) if o!=names[0]]
    print(f"machine: {machine()}\ndata: {n} synthetic {size} px training images (min {min_per_class} per class), {n_test} test images of another seed; {load_avg()}")
    res = {}
    for k in names:
        kw = CANDIDATES[k]
        t0,c0 = time.time(),cpu_s()
        train(tr/'train.csv', out=p/k, workers=workers, progress=False, **kw)
        wall,cpu = time.time()-t0,cpu_s()-c0
        res[k] = dict(f1=score(p/k, te), wall=wall, cpu=cpu, opts=kw)
        print(f"  {k:14s} test macro F1 {res[k]['f1']:.3f}  train {wall/60:5.1f} min wall, {cpu/60:5.1f} CPU min   {kw}", flush=True)
    b = res[names[0]]
    print(f"\nbaseline = {names[0]}, measured in this run; {load_avg()}")
    print(f"| recipe | options | test macro F1 | ratio | train min (wall) | ratio | CPU min | ratio |\n|---|---|---|---|---|---|---|---|")
    for k,r in res.items():
        opts = ', '.join(f'{a}={v}' for a,v in r['opts'].items())
        print(f"| {k} | {opts} | {r['f1']:.3f} | {r['f1']/b['f1']:.2f} | {r['wall']/60:.1f} | {r['wall']/b['wall']:.2f} | {r['cpu']/60:.1f} | {r['cpu']/b['cpu']:.2f} |")
    (p/'results.json').write_text(json.dumps(res, indent=1))
