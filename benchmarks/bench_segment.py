"""Cell segmentation with `hpa_fastai.segment`'s default watershed (no weights). Synthetic images: F1 of the cell matches
at IoU >= 0.6 and mean IoU of the matched cells, against the cells and nuclei the stains were drawn from. Real images:
seconds per HPA 2021 full-resolution image (the 2048 px samples in ../shared/data, skipped when absent), segmentation
alone and the whole `segment_folder` step (read, segment, write both masks and an overlay), with the overlay pictures
written to --out for a look.
Usage: python benchmarks/bench_segment.py [--n 20] [--sizes 128,256,512] [--out /tmp/hpa_bench_segment]"""
import argparse, sys, time, tempfile, numpy as np
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, load_avg, SHARED
from hpa_fastai.segment import segment, match_cells, segment_folder, nucleus_diameter
from hpa_fastai.synth import synth_image
from hpa_fastai.image import STAINS, to_uint8, open_hpa, ids_in_folder
from hpa_fastai.labels import class_names

def synth_truth(seed:int, size:int)->tuple:
    "A synthetic image (uint8 (4,H,W)) showing one class, with its true cell and nucleus masks"
    d = synth_image([class_names()[seed%28]], size, seed=seed)
    c = d['cells']
    return np.stack([to_uint8(d[o]) for o in STAINS]), c.lbl, np.where(c.nuc, c.lbl, 0)

def synthetic(n:int, size:int):
    xs = [synth_truth(i, size) for i in range(n)]
    t = time.perf_counter(); res = [segment(o[0]) for o in xs]; dt = (time.perf_counter()-t)/n
    mc,mn = match_cells([o[0] for o in res], [o[1] for o in xs]),match_cells([o[1] for o in res], [o[2] for o in xs])
    print(f"synthetic, {n} images of {size} px: cells F1@0.6 {mc['f1']:.3f}, mean IoU {mc['mean_iou']:.3f} "
          f"({mc['tp']} of {mc['tp']+mc['fn']} found, {mc['fp']} false); nuclei F1@0.6 {mn['f1']:.3f}, mean IoU {mn['mean_iou']:.3f}; "
          f"{dt*1000:.0f} ms per image")

def real(out:Path):
    src = SHARED/'hpa2021'/'images'
    if not src.is_dir(): return print(f"real HPA 2021 images: skipped ({src} is absent)")
    ts = []
    for i in ids_in_folder(src):
        x = open_hpa(src/i)
        t = time.perf_counter(); cells,nuc = segment(x); ts.append(time.perf_counter()-t)
        print(f"  {i}: {x.shape[2]}x{x.shape[1]} px, nucleus diameter {nucleus_diameter(x[2]):.0f} px, {cells.max()} cells, {ts[-1]:.2f} s")
    df = segment_folder(src, out, overlay=True, progress=False)
    print(f"real HPA 2021, {len(ts)} images: segment {np.mean(ts):.2f} s per image; with reading the 4 PNGs and writing both masks "
          f"and the overlay (segment_folder) {df.seconds.mean():.2f} s per image; {df.cells.sum()} cells; overlays in {out}")

if __name__=='__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=20, help='synthetic images per size')
    p.add_argument('--sizes', default='128,256,512', help='synthetic image sides, comma-separated')
    p.add_argument('--out', default=str(Path(tempfile.gettempdir())/'hpa_bench_segment'), help='folder for the masks and overlays of the real images')
    a = p.parse_args()
    print(machine()); print(load_avg())
    for s in a.sizes.split(','): synthetic(a.n, int(s))
    real(Path(a.out))
    print(load_avg())
