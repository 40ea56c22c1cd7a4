"""Hostile input, by category (issue 20): every console script over cases generated from declared data, not listed by hand.

Categories (the `cat` of each case id):
- `option`: every numeric option of every script (from the script's signature), at the edges of its declared range (`core.OPTS`,
  or the script's own `@checked` table): out-of-range values must be refused naming the option; the values just inside each
  edge must not be called out of range. Options without a declared range get the generic hostile values.
- `list`: string options that hold lists or names (--folds, --schedule, --sizes, --cascade, --thresh, --channels, the enums), the
  microscope channel map and z-plane (hpa-predict --stains, --z, on an OME-TIFF), and the options that only go together
  (hpa-evaluate --cells, --masks, --cell-labels).
- `file`: each input file (label table, image, model, thresholds, probabilities, submission, dupes report, id list, image folder;
  microscope file, cell mask and mask folder, cell submission, cell table, crop model, bioimage.io sample) replaced by a folder,
  an empty file, a FIFO, a dangling symlink, binary garbage, an over-long name, an unreadable file, a decompression bomb (images),
  an over-long id (label tables).
- `array`: stacked `.npy`/`.tif` arrays of every dtype x {normal, one NaN, one inf, out of range} and 16-bit PNGs, cached by
  `hpa-prep` (all of them), predicted by `hpa-predict` (one dtype per family, the non-finite floats, the other containers) and
  segmented by `hpa-segment` (one array per kind of outcome); crafted `.npy` headers. The expected image comes from the
  documented dtype rule (`by_rule`), written out here: what it refuses must be refused (hpa-prep: skipped and listed), what it
  reads must be read as it says.
- `nonfinite`: NaN, inf and out-of-range numbers inside threshold and probability files, cell submissions, cell tables and cell masks.
- `model`: `model.json` field mutations, one per kind of failure (delete, wrong type, one element short for lists and names,
  NaN for numbers; the record-only fields deleted together), weights with NaN or inf, missing, extra or half, and a crafted
  `export.pkl` that creates a marker file when unpickled (`hpa-predict FOLDER`, `hpa-evaluate --model FOLDER`); the same kinds,
  one case each, for `hpa-export` and `hpa-cells`, and hpa-cells given a model of other classes.
- `collision`: every (output, input) and (output, output) pair of a script's path options set to one file; outputs into a
  folder holding a data set; the HPA 2021 commands' outputs (hpa-segment's mask folder, hpa-export's file, hpa-cells' folder,
  hpa-evaluate --cells' report, hpa-synth --fmt hpa2021's masks/ and cells.csv) onto their inputs.
- `debug`: `HPA_DEBUG=1` shows the traceback, in every script.

For every case: either a refusal (exit status != 0, stderr one short paragraph starting `<script>: `, naming the culprit, no
traceback, no 'unexpected error'), or, where the input is legal, exit 0 with a correct result; and no file that existed before
changed (sha256 of every file in the case folder, before and after; on exit 0 the declared outputs may change). Expensive steps
(training, drawing synthetic images, converting, downloading, hashing, hpa-evaluate's plots) are replaced by a sentinel: reaching
one means the input was not refused before work started (in a legal case, that it was accepted). A FIFO that a script opens is
released by a watchdog, and the case counts as a hang. Cases whose subject is not the model share one loaded copy of it
(`shared_model`), and each script's argument parser is built once (`_parser`): beside the imports and the shared model's
training, the module takes ~25 s on 2 idle cores (bioimage.io, ~3 s to import, is reached by two cases). A table of counts per
category is printed at the end of the module (`-s` shows it) and written to `hostile.md` in pytest's temporary folder (with each
failing case's command and output); `HOSTILE_SHOW=1` with `-s` prints every case's command and outcome."""
import hashlib, inspect, json, math, os, re, shlex, shutil, stat, struct, threading, time, zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from unittest import mock
import numpy as np, pandas as pd, pytest
from hpa_fastai.core import OPTS, Opt

import helpers
from helpers import main, script

SCRIPTS = ['hpa-synth','hpa-train','hpa-predict','hpa-evaluate','hpa-demo','hpa-prep','hpa-download','hpa-dupes','hpa-segment','hpa-export','hpa-cells']
ROOT = os.geteuid()==0   # permissions mean nothing to root: the unreadable-file cases skip
NOWHERE = 'http://127.0.0.1:9'  # a refused connection, at once
T = '--schedule full:1:1e-2 --size 32 --bs 8 --arch resnet10t --workers 0 --quiet'   # hpa-train: the smallest run
# the HPA 2021 side (shared inputs in `base`): {b}/c a synthetic hpa2021 set of 4 images of 64 px with its true masks (c/masks) and cell table
# (c/cells.csv); {b}/m21 an untrained model of its 19 classes (per-cell scoring needs them; building it trains nothing); {b}/cs hpa-cells' output on
# it (cs/submission.csv, a cell submission); {b}/ome/o1.ome.tif the first image as an OME-TIFF z-stack (2 planes, the second the image) of
# unnamed channels in the order of MAP
MAP = 'nucleus=0,protein=1,microtubules=2,er=3'
C = '{b}/m21 {b}/c/train --masks {b}/c/masks --out {d}/o --quiet'   # hpa-cells on the true masks
CE = '--cells {b}/cs/submission.csv --masks {b}/c/masks --cell-labels {b}/c/cells.csv --out {d}/rep'   # hpa-evaluate of a cell submission
CID = r'[0-9a-f]{8}-[0-9a-f]{4}-'   # an hpa2021 id (uuid-like), as a culprit: a message naming one of set c's files
OME = '{b}/m --images {b}/ome --out {d}/sub.csv --probs {d}/p.csv --quiet'   # hpa-predict of the OME-TIFF
SEG = '{b}/c/train --out {d}/masks --quiet'

class _Reached(BaseException):
    "Raised by a stand-in for an expensive step: the command got past its checks into real work (a BaseException, so no handler turns it into a message)"

FIT = 'fastai.learner:Learner.fit'
SYNTH = 'hpa_fastai.synth:sample_labels'
PREP = 'hpa_fastai.cache:_prep1'
DOWNLOAD = 'hpa_fastai.download:_one'
HASH = 'hpa_fastai.dupes:hash_folder'
REPORT = 'hpa_fastai.evaluate:plot_f1_per_class'              # hpa-evaluate's report plots (~0.7 s), after its tables are written: always guarded
INTERP = 'hpa_fastai.evaluate:HPAInterpretation.from_labels'   # hpa-evaluate --model: predicting and interpreting, after the model loaded

@dataclass
class Case:
    cat:str; script:str; desc:str
    args:str                 # the command line after the script name: {d} the case folder, {b} the shared base folder
    setup:object=None        # setup(b, d): make the case's inputs in d
    expect:str='fail'        # fail: refused; ok: exit 0 passing `check`, or a guarded step reached; either: refused, or as ok; accept: an in-range value, not called out of range;
                             # listed: refused, or exit 0/3 with the culprit listed; debug: HPA_DEBUG=1 shows a traceback
    culprit:tuple=()         # regexes: a refusal must match one of them
    outs:tuple=()            # outputs (relative to d) that may change on exit 0
    check:object=None        # check(b, d, r) -> None, or what is wrong with an exit-0 result
    guard:tuple=(FIT,)       # expensive steps replaced by the sentinel
    opt:str=None             # the option of an `option` case
    env:dict=None
    own:bool=False           # the case's subject is the model: it always loads the model itself (other cases share one loaded copy of the base model)
    @property
    def id(self): return f'{self.cat}:{self.script}:{self.desc}'

def _dash(o): return '--'+o.replace('_','-')
def _opt_re(o): return (re.escape(_dash(o))+r'(?![\w-])', r'(?<![\w-])'+re.escape(o)+r'\s*=')   # `--n-folds` or `n_folds=`
def _name_re(*names): return tuple(re.escape(str(n)) for n in names)

# %% option values, from the declared ranges
def _table(name)->dict:
    "The range table that script `name` checks with: that of an `@checked` on its function (its closure), else `core.OPTS`"
    g,t = script(name).__wrapped__,None
    while g is not None and t is None:
        for c in getattr(g, '__closure__', None) or ():
            try: v = c.cell_contents
            except ValueError: continue
            if isinstance(v, dict) and v and all(isinstance(o, Opt) for o in v.values()): t = v
        g = getattr(g, '__wrapped__', None)
    return t or OPTS

def numeric_options(name)->list:
    "(option, is_int, Opt or None, default) of each int/float option of script `name`; a declared range its default falls outside is not this option's"
    res,t = [],_table(name)
    for k,p in inspect.signature(script(name).__wrapped__).parameters.items():
        a = p.annotation if not isinstance(p.annotation, str) else {'int':int, 'float':float}.get(p.annotation)
        if a not in (int, float) or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD): continue
        o = t.get(k)
        d = None if p.default is inspect.Parameter.empty else p.default
        if o is not None and (d is not None and not o.ok(d) or o.int!=(a is int) and a is int): o = None   # e.g. hpa-dupes --thresh (bits) is not OPTS' 0..1 threshold
        res.append((k, a is int, o, d))
    return res

def _fmt(v): return repr(float(v)) if isinstance(v, float) and math.isfinite(v) else str(v)

def option_values(o:Opt, is_int:bool)->list:
    "(value, in_range) at the edges of `o` and the generic hostile values; `o=None`: only the generic ones, in_range None (either)"
    gen = [float('nan'), float('inf'), float('-inf'), -1, 0, 10**12] + ([0.5] if is_int else [])
    if o is None: return [(v, False if isinstance(v, float) and not math.isfinite(v) else None) for v in gen]
    vals = list(gen)
    if o.lo is not None:
        vals += [o.lo if o.gt else o.lo-1]
        vals += [o.lo + (1 if o.int else 1e-3)] if o.gt else [o.lo]
        if o.int: vals += [o.lo+0.5]
    if o.hi is not None: vals += [o.hi, o.hi+1] + ([o.hi-0.5] if o.int else [])
    seen,res = set(),[]
    for v in vals:
        s = _fmt(v)
        if s in seen: continue
        seen.add(s); res.append((v, o.ok(v)))
    return res

def _afile(b, d): (d/'afile').write_text('a regular file')
# per script: the other arguments (valid where the later work is cheap or guarded; a missing label table for hpa-train, whose
# data pipeline at a large --size would be expensive), and the expensive steps to guard
OPT_BASE = {
    'hpa-synth':    ('--path {d}/x --n 10 --size 32 --quiet', (SYNTH,)),
    'hpa-train':    ('--csv {d}/missing.csv --out {d}/o '+T, (FIT, SYNTH)),
    'hpa-predict':  ('{b}/m --images {b}/t/train --out {d}/sub.csv --quiet', ()),
    'hpa-evaluate': ('--labels {b}/s/train.csv --probs {b}/probs.csv --out {d}/rep', ()),
    'hpa-demo':     ('--out {d}/o --data {d}/missing_synth --quiet', (FIT, SYNTH)),
    'hpa-prep':     ('{b}/s/train --out {d}/c --sizes 32 --quiet', (PREP,)),
    'hpa-download': (f'--csv {{b}}/v18.csv --out {{d}}/v18 --base-url {NOWHERE} --retries 0 --quiet', (DOWNLOAD,)),
    'hpa-dupes':    ('{b}/s/train --out {d}/d.csv --quiet', (HASH,)),
    'hpa-segment':  ('{b}/c/train --out {d}/masks --quiet', ()),    # the watershed on 4 images of 64 px: ~0.05 s, run for real
    'hpa-export':   ('{b}/m --out {d}/m.onnx', ()),                 # (no numeric option)
    'hpa-cells':    (C, ()),
}

def _with(args:str, opt:str, val:str)->str:
    "`args` with option `opt` set to `val` (replaced where `args` has it)"
    t,k = shlex.split(args),_dash(opt)
    if k in t: t[t.index(k)+1] = val
    else: t += [k, val]
    return shlex.join(t)

def option_cases()->list:
    res = []
    for s in SCRIPTS:
        base,guard = OPT_BASE[s]
        for k,is_int,o,d in numeric_options(s):
            for v,inr in option_values(o, is_int):
                desc = f"{_dash(k)}={_fmt(v)}" + ('' if o else ' (no declared range)')
                exp = 'accept' if inr else 'fail' if inr is False else 'either'
                res.append(Case('option', s, desc, _with(base, k, _fmt(v)), expect=exp, culprit=_opt_re(k), guard=guard, opt=k,
                                outs=('sub.csv','rep','c','x','v18','d.csv','o','masks')))
    return res

# %% string options holding lists or names
def _copy_s(b, d): shutil.copytree(b/'s', d/'s')
LISTS = {  # script, option, the other arguments, setup, guard: values that must be refused
    ('hpa-train','folds'):     ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,), ['0,0', '-1', 'a', '', '0,,1', '5', '0.5', 'nan']),
    ('hpa-train','schedule'):  ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,),
                                ['crop0:1:1e-3', 'full:0:1e-3', 'full:1:-1', 'full:1:nan', 'full:1:inf', 'crop', '', 'full:1.5:1e-3',
                                 'full:1:11', 'crop100000:1:1e-3', 'full:1:1e-3,,full:1:1e-3', 'zoom:1:1e-3', 'probe:1', 'Probe']),
    ('hpa-prep','sizes'):      ('{b}/s/train --out {d}/c --quiet', None, (PREP,), ['0', '-1', 'a', '', '32,,64', '7', '16385', 'nan', 'inf', '32.5']),
    ('hpa-predict','cascade'): ('{b}/m --images {b}/t/train --out {d}/sub.csv --quiet', None, (), ['0', '-1', 'nan', 'a', '', '0.5,,0.8', 'inf', '-0.5,0.5']),
    ('hpa-predict','thresh'):  ('{b}/m --images {b}/t/train --out {d}/sub.csv --quiet', None, (), ['-0.1', '1.5', 'nan', 'inf', '-inf', '']),
    ('hpa-prep','channels'):   ('{b}/s/train --out {d}/c --sizes 32 --quiet', None, (PREP,), ['x', 'rr', '', 'rgbyr', 'r,g']),
    ('hpa-dupes','channels'):  ('{b}/s/train --out {d}/d.csv --quiet', None, (HASH,), ['x', 'rr', '', 'rgbyr']),
    ('hpa-train','channels'):  ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,), ['x', 'rr', '', 'rgbyr']),
    # enums: one value that is none of them
    ('hpa-predict','tta'):     ('{b}/m --images {b}/t/train --out {d}/sub.csv --quiet', None, (), ['bogus']),
    ('hpa-predict','rule'):    ('{b}/m --images {b}/t/train --out {d}/sub.csv --quiet', None, (), ['bogus']),
    ('hpa-predict','fmt'):     ('{b}/m --images {b}/t/train --out {d}/sub.csv --quiet', None, (), ['bogus']),
    ('hpa-predict','mixed_precision'): ('{b}/m --images {b}/t/train --out {d}/sub.csv --quiet', None, (), ['bogus']),
    ('hpa-train','loss'):      ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,), ['bogus']),
    ('hpa-train','mixed_precision'): ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,), ['bogus']),
    ('hpa-train','extra_init'): ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,), ['bogus']),
    ('hpa-train','arch'):      ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,), ['bogus_arch']),
    ('hpa-train','oversample'): ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,), ['bogus']),
    ('hpa-prep','format'):     ('{b}/s/train --out {d}/c --sizes 32 --quiet', None, (PREP,), ['bogus']),
    ('hpa-synth','fmt'):       ('--path {d}/x --n 10 --size 32 --quiet', None, (SYNTH,), ['bogus']),
    # microscope files: the channel map and the z-plane (hpa-predict of the OME-TIFF {b}/ome/o1.ome.tif, whose channels have no names)
    ('hpa-predict','stains'):  (OME, None, (), ['golgi=1', 'protein=1,protein=2', 'nucleus=0,protein=0,microtubules=2,er=3', 'nucleus=0,protein=1,microtubules=2,er=9',
                                                'nucleus=-1,protein=1,microtubules=2,er=3', 'nucleus=0,protein=1,microtubules=2,er=1.5', 'nucleus=0,protein=1,microtubules=2',
                                                'nucleus=0,protein=1,microtubules=2,er=DAPI', '', ',', 'protein=', '=1', 'nucleus=0=1']),
    ('hpa-predict','z'):       (OME+' --stains '+MAP, None, (), ['-1', '1.0', 'top', 'nan', 'inf', '2', '99999999999999999999']),
    ('hpa-train','norm'):      ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,), ['bogus', '', 'ImageNet']),
    ('hpa-train','head'):      ('--csv {d}/s/train.csv --out {d}/o '+T, _copy_s, (FIT,), ['bogus', '', 'views:gg', 'stages:ggb']),
    ('hpa-segment','channels'): (SEG, None, (), ['x', 'rr', '', 'rgbyr', 'rgy']),   # rgy: no nucleus stain
    ('hpa-segment','method'):  (SEG, None, (), ['bogus', 'cellpose', 'hpacellseg']),   # cellpose, hpacellseg: without their weight files
    ('hpa-segment','fmt'):     (SEG, None, (), ['bogus', 'jpg', '']),
    ('hpa-export','to'):       ('{b}/m --out {d}/m.onnx', None, (), ['bogus', '', 'ONNX']),
    ('hpa-export','license'):  ('{b}/m --to bioimageio --out {d}/p.zip', None, (), ['bogus']),   # bioimage.io: one case (its import alone takes ~3 s)
    ('hpa-cells','method'):    (C, None, (), ['bogus', '', 'crop', 'blend', 'blend_cam']),   # crop, blend, blend_cam: without a --crop-model
}
# legal values: hpa-predict exits 0 with a submission; hpa-train reaches training (`full:1`: the learning rate defaults to 1e-3)
LEGAL = {('hpa-predict','thresh'): ['0', '1', '0.3'], ('hpa-predict','cascade'): ['0.9,0.5', '1'], ('hpa-train','schedule'): ['full:1', 'probe', 'probe,full:1:1e-3'],
         ('hpa-predict','stains'): [MAP, 'nucleus=0,protein=1,microtubules=2,er=zeros', 'er=3,microtubules=2,nucleus=0,green=1'], ('hpa-predict','z'): ['max', '1', '0', ''],
         ('hpa-train','norm'): ['data', 'imagenet'], ('hpa-train','head'): ['linear', 'fastai', 'stages', 'views', 'views:ggb*0.5'], ('hpa-cells','method'): ['image', 'cam'],
         ('hpa-segment','fmt'): ['tif'], ('hpa-segment','channels'): ['rgby', 'bgry']}

def _wrote(fn):
    def f(b, d, r): return None if (d/fn).is_file() and (d/fn).stat().st_size else f'exit 0 but no {fn} written'
    return f

def _as_png(b, d, r):
    "The OME-TIFF, mapped (and max-projected, or plane 1), is predicted as the image it holds: the probabilities of its PNGs"
    return _check_predict(b.u21)(b, d, r)

def _seg_masks(b, d, r, fmt='png'):
    "hpa-segment wrote the masks `segment` gives each image of set c"
    from hpa_fastai.segment import segment, read_mask
    from hpa_fastai.image import open_hpa
    for i in b.cids:
        fn = d/'masks'/f'{i}_cells.{fmt}'
        if not fn.is_file(): return f'exit 0 but no {fn.name} written'
        if (read_mask(fn)!=segment(open_hpa(b/'c/train'/i))[0]).any(): return f'{fn.name} differs from what segment gives'

LEGAL_CHECK = {('hpa-predict','stains',MAP): _as_png, ('hpa-predict','stains','er=3,microtubules=2,nucleus=0,green=1'): _as_png,
               ('hpa-predict','z','max'): _as_png, ('hpa-predict','z','1'): _as_png, ('hpa-predict','z',''): _as_png,
               ('hpa-segment','fmt','tif'): partial(_seg_masks, fmt='tif'), ('hpa-segment','channels','rgby'): _seg_masks}

# options that only go together: hpa-evaluate's cell scoring (--cells needs --masks and --cell-labels, and excludes the image-level inputs)
COMBOS = [
    ('hpa-evaluate', '--cells without --masks', '--cells {b}/cs/submission.csv --cell-labels {b}/c/cells.csv --out {d}/rep', _opt_re('masks')),
    ('hpa-evaluate', '--cells without --cell-labels', '--cells {b}/cs/submission.csv --masks {b}/c/masks --out {d}/rep', _opt_re('cell-labels')),
    ('hpa-evaluate', '--cells with --labels', CE+' --labels {b}/s/train.csv', _opt_re('labels')),
    ('hpa-evaluate', '--cells with --probs', CE+' --probs {b}/probs.csv', _opt_re('probs')),
    ('hpa-evaluate', '--masks without --cells', '--labels {b}/s/train.csv --probs {b}/probs.csv --masks {b}/c/masks --out {d}/rep', _opt_re('masks')),
    ('hpa-evaluate', '--cell-labels without --cells', '--labels {b}/s/train.csv --probs {b}/probs.csv --cell-labels {b}/c/cells.csv --out {d}/rep', _opt_re('cell-labels')),
]

def list_cases()->list:
    res = [Case('list', s, desc, args, culprit=cul, outs=('rep',), guard=()) for s,desc,args,cul in COMBOS]
    for (s,k),(args,setup,guard,vals) in LISTS.items():
        for v in vals:
            res.append(Case('list', s, f'{_dash(k)}={v!r}', _with(args, k, v), setup, culprit=_opt_re(k)+(r'\b'+k+r'\b',)+(_name_re(v) if len(v)>1 else ()), guard=guard,
                            outs=('sub.csv','c','d.csv','o','x','masks','m.onnx')))
        for v in LEGAL.get((s,k), []):
            chk = LEGAL_CHECK.get((s,k,v)) or (_wrote('sub.csv') if s=='hpa-predict' else _wrote('o/submission.csv') if s=='hpa-cells' else None)
            res.append(Case('list', s, f'{_dash(k)}={v!r} (legal)', _with(args, k, v), setup, expect='ok', check=chk, guard=guard, outs=('sub.csv','p.csv','o','masks')))
    return res

# %% file kinds in place of an input
def _bomb(fn):
    "A PNG whose header claims 100000 x 100000 pixels (a decompression bomb), a few hundred bytes long"
    def chunk(t, data): return struct.pack('>I', len(data)) + t + data + struct.pack('>I', zlib.crc32(t+data) & 0xffffffff)
    ihdr = struct.pack('>IIBBBBB', 100000, 100000, 8, 0, 0, 0, 0)
    Path(fn).write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0'*1000)) + chunk(b'IEND', b''))

def make_kind(kind:str, fn:Path, valid:Path=None, folder:bool=False)->Path:
    "Put a hostile `kind` at `fn` (returned; `longname` returns another path); `valid`: a legal file to copy for `noperm`; `folder`: `fn` stands for a folder"
    fn = Path(fn)
    if kind=='folder': fn.mkdir()
    elif kind in ('empty','file'): fn.write_bytes(b'')
    elif kind=='fifo': os.mkfifo(fn)
    elif kind=='dangling': os.symlink(fn.parent/'no_such_target', fn)
    elif kind=='garbage': fn.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind=='longname': return fn.parent/('x'*300 + fn.suffix)
    elif kind=='bomb': _bomb(fn)
    elif kind=='noperm':
        if folder: shutil.copytree(valid, fn)
        elif valid: shutil.copy(valid, fn)
        else: fn.write_text('x')
        os.chmod(fn, 0)
    else: raise ValueError(kind)
    return fn

FILE_KINDS = ['folder','empty','fifo','dangling','garbage','longname','noperm']
FOLDER_KINDS = ['file','fifo','dangling','longname','noperm']
IMAGE_KINDS = ['folder','empty','fifo','dangling','garbage','noperm','bomb']
# role -> (script, command with {X} for the hostile path, file name, legal file to copy (relative to b), setup, expect, kinds)
def _copy_t(b, d): shutil.copytree(b/'t/train', d/'t')
def _copy_c(b, d): shutil.copytree(b/'c', d/'c')
def _copy_ome(b, d): shutil.copytree(b/'ome', d/'ome')
def _copy_m(b, d, link:bool=False, src:str='m'):
    "A copy of the base model `b/src` (m, or the hpa2021 model m21) in `d/m`; `link`: its weights a symlink to the base model's (cases that change only model.json: 20 MB less to copy and hash)"
    (d/'m').mkdir(); shutil.copy(b/src/'model.json', d/'m/model.json')
    if link: os.symlink(b/src/'model.safetensors', d/'m/model.safetensors')
    else: shutil.copy(b/src/'model.safetensors', d/'m/model.safetensors')
INPUTS = [
    ('hpa-train', 'label table', '--csv {X} --images {d}/s/train --out {d}/o '+T, 'labels.csv', 's/train.csv', _copy_s, FILE_KINDS+['longid']),
    ('hpa-train', 'dupes report', '--csv {d}/s/train.csv --dupes {X} --out {d}/o '+T, 'dupes.csv', None, _copy_s, FILE_KINDS),
    ('hpa-train', 'image folder', '--csv {d}/s/train.csv --images {X} --out {d}/o '+T, 'imgs', 's/train', _copy_s, FOLDER_KINDS),
    ('hpa-train', 'image', '--csv {d}/s/train.csv --out {d}/o '+T, 's/train/{ID}_green.png', None, _copy_s, IMAGE_KINDS),
    ('hpa-predict', 'model', '{X} --images {b}/t/train --out {d}/sub.csv --quiet', 'model.safetensors', 'm/model.safetensors', None, FILE_KINDS),
    ('hpa-predict', 'id list', '{b}/m --images {b}/t/train --csv {X} --out {d}/sub.csv --quiet', 'ids.csv', 't/ids.csv', None, FILE_KINDS+['longid']),
    ('hpa-predict', 'thresholds', '{b}/m --images {b}/t/train --thresh {X} --out {d}/sub.csv --quiet', 'thresh.txt', 'thresh.txt', None, FILE_KINDS),
    ('hpa-predict', 'dupes report', '{b}/m --images {b}/t/train --dupes {X} --out {d}/sub.csv --quiet', 'dupes.csv', None, None, FILE_KINDS),
    ('hpa-predict', 'image folder', '{b}/m --images {X} --out {d}/sub.csv --quiet', 'imgs', 't/train', None, FOLDER_KINDS),
    ('hpa-predict', 'image', '{b}/m --images {d}/t --out {d}/sub.csv --quiet', 't/{ID}_green.png', None, _copy_t, IMAGE_KINDS),
    ('hpa-evaluate', 'label table', '--labels {X} --probs {b}/probs.csv --out {d}/rep', 'labels.csv', 's/train.csv', None, FILE_KINDS),
    ('hpa-evaluate', 'probabilities', '--labels {b}/s/train.csv --probs {X} --out {d}/rep', 'probs.csv', 'probs.csv', None, FILE_KINDS),
    ('hpa-evaluate', 'submission', '--labels {b}/s/train.csv --submission {X} --out {d}/rep', 'sub.csv', 'sub.csv', None, FILE_KINDS),
    ('hpa-evaluate', 'model', '--labels {b}/s/train.csv --model {X} --images {b}/s/train --out {d}/rep', 'model.safetensors', 'm/model.safetensors', None, FILE_KINDS),
    ('hpa-evaluate', 'npy ids', '--labels {b}/s/train.csv --probs {b}/probs.npy --ids {X} --out {d}/rep', 'ids.txt', 'probs_ids.txt', None, FILE_KINDS),
    ('hpa-prep', 'label table', '{b}/s/train --csv {X} --out {d}/c --sizes 32 --quiet', 'labels.csv', 's/train.csv', None, FILE_KINDS+['longid']),
    ('hpa-prep', 'image folder', '{X} --out {d}/c --sizes 32 --quiet', 'imgs', 's/train', None, FOLDER_KINDS),
    ('hpa-prep', 'image', '{d}/s/train --out {d}/c --sizes 32 --quiet', 's/train/{ID}_green.png', None, _copy_s, IMAGE_KINDS),
    ('hpa-download', 'label table', f'--csv {{X}} --out {{d}}/v18 --base-url {NOWHERE} --retries 0 --quiet', 'v18.csv', 'v18.csv', None, FILE_KINDS),
    ('hpa-dupes', 'image folder', '{X} --out {d}/d.csv --quiet', 'imgs', 's/train', None, FOLDER_KINDS),
    ('hpa-dupes', 'image', '{d}/s/train --out {d}/d.csv --quiet', 's/train/{ID}_green.png', None, _copy_s, IMAGE_KINDS),
    ('hpa-predict', 'microscope file', '{b}/m --images {d}/ome --stains '+MAP+' --out {d}/sub.csv --quiet', 'ome/o1.ome.tif', None, _copy_ome, ['folder','empty','fifo','dangling','garbage']),
    ('hpa-segment', 'image folder', '{X} --out {d}/masks --quiet', 'imgs', 'c/train', None, FOLDER_KINDS),
    ('hpa-segment', 'image', '{d}/c/train --out {d}/masks --quiet', 'c/train/{CID}_green.png', None, _copy_c, IMAGE_KINDS),
    ('hpa-export', 'model', '{X} --out {d}/m.onnx', 'model.safetensors', 'm/model.safetensors', None, FILE_KINDS),
    ('hpa-export', 'sample', '{b}/m --to bioimageio --sample {X} --out {d}/p.zip', 'smp.png', None, None, ['garbage']),   # bioimage.io: one case
    ('hpa-cells', 'model', '{X} {b}/c/train --masks {b}/c/masks --out {d}/o --quiet', 'model.safetensors', 'm21/model.safetensors', None, FILE_KINDS),
    ('hpa-cells', 'crop model', C+' --crop-model {X}', 'model.safetensors', 'm21/model.safetensors', None, FILE_KINDS),
    ('hpa-cells', 'image folder', '{b}/m21 {X} --masks {b}/c/masks --out {d}/o --quiet', 'imgs', 'c/train', None, FOLDER_KINDS),
    ('hpa-cells', 'image', '{b}/m21 {d}/c/train --masks {d}/c/masks --out {d}/o --quiet', 'c/train/{CID}_green.png', None, _copy_c, IMAGE_KINDS),
    ('hpa-cells', 'id list', '{b}/m21 {b}/c/train --csv {X} --masks {b}/c/masks --out {d}/o --quiet', 'ids.csv', 'c/train.csv', None, FILE_KINDS+['longid']),
    ('hpa-cells', 'mask folder', '{b}/m21 {b}/c/train --masks {X} --out {d}/o --quiet', 'msk', 'c/masks', None, FOLDER_KINDS),
    ('hpa-cells', 'mask', '{b}/m21 {d}/c/train --masks {d}/c/masks --out {d}/o --quiet', 'c/masks/{CID}.png', None, _copy_c, IMAGE_KINDS),
    ('hpa-evaluate', 'cell submission', '--cells {X} --masks {b}/c/masks --cell-labels {b}/c/cells.csv --out {d}/rep', 'sub.csv', 'cs/submission.csv', None, FILE_KINDS+['longid']),
    ('hpa-evaluate', 'cell table', '--cells {b}/cs/submission.csv --masks {b}/c/masks --cell-labels {X} --out {d}/rep', 'cells.csv', 'c/cells.csv', None, FILE_KINDS+['longid']),
    ('hpa-evaluate', 'mask folder', '--cells {b}/cs/submission.csv --masks {X} --cell-labels {b}/c/cells.csv --out {d}/rep', 'msk', 'c/masks', None, FOLDER_KINDS),
    ('hpa-evaluate', 'cell mask', '--cells {b}/cs/submission.csv --masks {d}/c/masks --cell-labels {b}/c/cells.csv --out {d}/rep', 'c/masks/{CID}.png', None, _copy_c, IMAGE_KINDS),
]
def _ome_as(what):
    "ome/o1.ome.tif written another way: a TIFF without OME-XML, a time series, or a TZCYX stack that holds the same image (legal)"
    def f(b, d):
        import tifffile
        (d/'ome').mkdir(); fn = d/'ome/o1.ome.tif'
        x = b.u21[[2,1,0,3]]
        if what=='plain TIFF': tifffile.imwrite(fn, x, ome=False)   # (tifffile writes OME-XML into a file named .ome.tif unless told not to)
        elif what=='2 time points': tifffile.imwrite(fn, np.stack([x, x]), ome=True, metadata=dict(axes='TCYX'))
        else: tifffile.imwrite(fn, np.stack([x//2, x])[None], ome=True, metadata=dict(axes='TZCYX'))
    return f

def _seg_named(b, d):
    "Set c's true masks named as hpa-segment names them, <ID>_cells.png, in the folder sm"
    (d/'sm').mkdir(); [shutil.copy(b/'c/masks'/f'{i}.png', d/'sm'/f'{i}_cells.png') for i in b.cids]
LONG_ID = 'a'*300

def _file_setup(name, valid, setup, kind, folder):
    def f(b, d):
        if setup: setup(b, d)
        fn = d/name.format(ID=b.ids[0] if 's/' in name else b.tids[0], CID=b.cids[0])
        if fn.exists() or fn.is_symlink(): fn.unlink()
        if kind=='longid':   # a legal table whose first id is 300 characters long
            df = pd.read_csv(b/valid); df.iloc[0, 0] = LONG_ID; df.to_csv(fn, index=False)
        else: make_kind(kind, fn, b/valid if valid else None, folder)
        d.joinpath('.X').write_text(str(make_kind('longname', fn) if kind=='longname' else fn))
    return f

def file_cases()->list:
    res = []
    for s,role,args,name,valid,setup,kinds in INPUTS:
        image,folder = role=='image',role.endswith('folder')
        for k in kinds:
            c = Case('file', s, f'{role}={k}', args, _file_setup(name, valid, setup, k, folder),
                     expect='listed' if image and s in ('hpa-prep','hpa-dupes','hpa-segment') else 'fail',
                     culprit=('x'*20,) if k=='longname' else ('a'*20, r'\brow\b') if k=='longid' else ('green',) if image else (CID,) if '{CID}' in name else _name_re(Path(name).name)
                             + ((r'\bome has no images',) if role=='microscope file' else ()),   # a folder, FIFO or link is not listed as a sample: the folder holds none
                     outs=('sub.csv','rep','c','v18','d.csv','o','masks','m.onnx','p.zip'), own=role=='model')
            if k=='noperm': c.desc += ' (skipped as root)' if ROOT else ''
            res.append(c)
    for what in ('plain TIFF', '2 time points', '5-D TZCYX of 2 planes (legal)'):
        res.append(Case('file', 'hpa-predict', f'microscope file = {what}', OME.replace('{b}/ome', '{d}/ome')+' --stains '+MAP, _ome_as(what),
                        expect='ok' if 'legal' in what else 'fail', culprit=_name_re('o1.ome.tif'), check=_as_png, outs=('sub.csv','p.csv'), guard=()))
    res.append(Case('file', 'hpa-cells', "mask folder of hpa-segment's <ID>_cells.png (legal)", '{b}/m21 {b}/c/train --masks {d}/sm --out {d}/o --quiet', _seg_named,
                    expect='ok', check=_wrote('o/submission.csv'), outs=('o',), guard=()))
    return res

# %% image arrays: dtypes x {normal, one NaN, one inf, out of range}
INTS = ['int8','int16','int32','int64','uint32','uint64']
CRAFTED = ('huge_header','object','5_channels','1d','truncated')
def encodings()->list:
    "(container, dtype, variant): the arrays the sweep writes"
    res = [('npy',t,'normal') for t in ['bool','uint8','uint16']+INTS+['float16','float32','float64']]
    res += [('npy',t,'x257') for t in ['int32','int64','uint32','uint64']]   # 16-bit values in a wide integer: refused (wide integers are 0..255)
    res += [('npy',t,v) for t in ['float16','float32','float64'] for v in ('nan','inf','oor')]
    res += [('npy',t,'oor') for t in INTS]
    res += [('tif','uint16','normal'), ('tif','float32','normal'), ('tif','float32','nan'), ('tif','float32','oor'), ('png16','uint16','normal')]
    res += [('npy','uint8',v) for v in CRAFTED]   # crafted headers
    return res
# hpa-predict reads arrays through the same `open_item` as hpa-prep, which is cheap and gets every encoding: hpa-predict (a model run each) gets one dtype
# per family, the non-finite floats, the other containers and the crafted headers
PREDICT_DTYPES = ('bool','uint8','uint16','int16','int64','float32')
def _predicted(c, t, v)->bool: return c!='npy' or v in CRAFTED or t in PREDICT_DTYPES and v!='x257' or t=='float32'

def by_rule(x:np.ndarray):
    """The uint8 image the documented dtype rule (nbs/02_image.ipynb, `to_uint8`) makes of array `x`, written out here independently; None: refused.
    bool -> 0/255; 8-bit integers as is; 16-bit integers (uint16 and int16) 0..65535 divided by 257; wider integers 0..255 as is; floats finite in [0,1],
    times 255; anything out of range is refused"""
    k,bits = x.dtype.kind,x.dtype.itemsize*8
    if k=='b': return x.astype(np.uint8)*255
    if k in 'iu':
        hi = 65535 if bits==16 else 255
        if x.min()<0 or x.max()>hi: return None
        return np.round(x.astype(np.float64)/257).astype(np.uint8) if bits==16 else x.astype(np.uint8)
    if not np.isfinite(x).all() or x.min()<0 or x.max()>1: return None
    return np.round(x.astype(np.float64)*255).astype(np.uint8)

def encode(u:np.ndarray, t:str, v:str)->np.ndarray:
    "An array of dtype `t`, variant `v`, made from uint8 image `u` (4,H,W): the values a user of that dtype would plausibly store"
    if t=='bool': return u>127
    if t=='uint8': return u
    if t=='uint16': return u.astype(np.uint16)*257
    if t.startswith('float'):
        x = (u/255).astype(t)
        if v=='nan': x[0,0,0] = np.nan
        if v=='inf': x[0,0,0] = np.inf
        if v=='oor': x[0,0,0] = 2.
        return x
    if v=='x257': return u.astype(t)*257
    x = (u//2).astype(t) if t=='int8' else u.astype(t)   # int16 holding 0..255: the rule reads it as 16-bit (values/257), not as 8-bit
    if v=='oor': x[0,0,0] = -1 if t.startswith('int') else 70000
    return x

def _crafted(fn, v, u):
    "A `.npy` whose header is hostile: 3.6 TiB promised, an object dtype, 5 channels, 1-D, or fewer bytes than promised"
    if v=='huge_header':
        with open(fn, 'wb') as f:
            np.lib.format.write_array_header_1_0(f, {'descr':'|u1', 'fortran_order':False, 'shape':(4, 1_000_000, 1_000_000)}); f.write(b'\0'*64)
    elif v=='object':
        with open(fn, 'wb') as f:
            np.lib.format.write_array_header_1_0(f, {'descr':'|O', 'fortran_order':False, 'shape':(4,)}); f.write(b'\0'*64)
    elif v=='5_channels': np.save(fn, np.concatenate([u, u[:1]]))
    elif v=='1d': np.save(fn, u.ravel())
    elif v=='truncated': np.save(fn, u); Path(fn).write_bytes(Path(fn).read_bytes()[:300])

def write_encoded(folder:Path, id:str, u:np.ndarray, c:str, t:str, v:str):
    "Write sample `id` (made from image `u`) into `folder` as container `c`, dtype `t`, variant `v`; return the uint8 image the dtype rule makes of it (None: must be refused)"
    folder.mkdir(parents=True, exist_ok=True)
    if v in CRAFTED: _crafted(folder/f'{id}.npy', v, u); return None
    x = encode(u, t, v)
    if c=='npy': np.save(folder/f'{id}.npy', x)
    elif c=='tif':
        import tifffile; tifffile.imwrite(folder/f'{id}.tif', x)
    elif c=='png16':
        from PIL import Image
        for i,s in enumerate(('red','green','blue','yellow')): Image.fromarray(x[i]).save(folder/f'{id}_{s}.png')
    return by_rule(x)

def _diff(a, e)->int: return int(np.abs(a.astype(int)-e.astype(int)).max()) if a.shape==e.shape else 10**9

def _check_prep(id, exp):
    def f(b, d, r):
        fn = d/'c/32'/f'{id}.npy'
        if not fn.exists(): return f'exit {r.returncode} but {fn.name} is neither in the cache nor listed as skipped'
        a = np.load(fn)
        if exp is None: return f'exit {r.returncode}: an array the dtype rule refuses was cached as {a.dtype} {a.shape}'
        return None if _diff(a, exp)<=1 else f'cached image differs from what the dtype rule gives: max |diff| {_diff(a, exp)} ({a.dtype} {a.shape})'
    return f

def _probs(fn): return pd.read_csv(fn).drop(columns='id').to_numpy(float)

def _check_predict(exp):
    def f(b, d, r):
        if exp is None: return 'exit 0 on an array the dtype rule refuses'
        p = _probs(d/'p.csv')
        if not np.isfinite(p).all(): return 'non-finite probabilities written'
        err = np.abs(p-b.ref_probs(exp)).max()
        return None if err<=0.01 else f'probabilities differ from those of the image the dtype rule gives by {err:.3f} (a blank image differs by {b.blank_gap:.3f})'
    return f

def array_cases()->list:
    res = []
    for c,t,v in encodings():
        base = dict(culprit=_name_re('a0'), setup=('array', c, t, v))   # written in `run_case`, which has the image
        if _predicted(c, t, v):
            res.append(Case('array', 'hpa-predict', f'{c}:{t}:{v}', '{b}/m --images {d}/img --out {d}/sub.csv --probs {d}/p.csv --quiet',
                            outs=('sub.csv','p.csv'), guard=(), **base))
        res.append(Case('array', 'hpa-prep', f'{c}:{t}:{v}', '{d}/img --out {d}/c --sizes 32 --workers 1 --quiet', outs=('c',), guard=(), **base))
        if (c,t,v) in SEGMENTED or v in CRAFTED:
            res.append(Case('array', 'hpa-segment', f'{c}:{t}:{v}', '{d}/img --out {d}/masks --quiet', outs=('masks',), guard=(), **base))
    return res

# hpa-segment reads samples with the same `open_hpa`: one array per kind of outcome (read as is, scaled, refused as non-finite or out of range) and the crafted headers
SEGMENTED = {('npy','uint8','normal'), ('npy','bool','normal'), ('npy','uint16','normal'), ('npy','float32','normal'), ('npy','float32','nan'), ('npy','float32','inf'),
             ('npy','float16','oor'), ('npy','int64','oor'), ('npy','uint32','x257'), ('tif','float32','nan'), ('png16','uint16','normal')}

def _check_seg(exp):
    def f(b, d, r):
        from hpa_fastai.segment import segment, read_mask
        if exp is None: return 'exit 0 on an array the dtype rule refuses'
        fn = d/'masks/a0_cells.png'
        if not fn.is_file(): return f'exit {r.returncode} but no {fn.name} written'
        m,e = read_mask(fn),segment(exp)[0]
        return None if m.shape==e.shape and (m==e).mean()>=0.99 else f'{fn.name} is not the mask of the image the dtype rule gives ({(m==e).mean() if m.shape==e.shape else m.shape} agree)'
    return f

# %% non-finite and out-of-range numbers inside files
def _write(rel, text):
    def f(b, d): (d/rel).write_text(text(b))
    return f
def _probs_with(v):
    def text(b):
        df = pd.read_csv(b/'probs.csv'); df.iloc[0, 1] = float(v); return df.to_csv(index=False)
    return text
def nonfinite_cases()->list:
    res = []
    for v in ('nan','inf','-inf','1.5','-0.1'):
        res.append(Case('nonfinite', 'hpa-predict', f'thresh file with {v}', '{b}/m --images {b}/t/train --thresh {d}/th.txt --out {d}/sub.csv --quiet',
                        _write('th.txt', lambda b, v=v: '\n'.join([v]+['0.5']*27)+'\n'), culprit=_name_re('th.txt'), outs=('sub.csv',), guard=()))
        res.append(Case('nonfinite', 'hpa-evaluate', f'probs csv with {v}', '--labels {b}/s/train.csv --probs {d}/p.csv --out {d}/rep',
                        _write('p.csv', _probs_with(v)), culprit=_name_re('p.csv'), outs=('rep',), guard=()))
    for v in ('nan','inf'):
        def setup(b, d, v=v):
            x = np.load(b/'probs.npy'); x[0,0] = float(v); np.save(d/'p.npy', x); shutil.copy(b/'probs_ids.txt', d/'p_ids.txt')
        res.append(Case('nonfinite', 'hpa-evaluate', f'probs npy with {v}', '--labels {b}/s/train.csv --probs {d}/p.npy --out {d}/rep',
                        setup, culprit=_name_re('p.npy'), outs=('rep',), guard=()))
    # HPA 2021: a cell submission's confidence, the true cell table's numbers, a cell mask's labels
    for v in ('nan','inf','-inf','1e999'):
        res.append(Case('nonfinite', 'hpa-evaluate', f'cell submission confidence {v}', CE.replace('{b}/cs/submission.csv', '{d}/cs.csv'),
                        _sub_with(v), culprit=_name_re('cs.csv'), outs=('rep',), guard=()))
    for col,v in (('Label','19'), ('Label','-1'), ('Label','nan'), ('cell','0'), ('cell','-1'), ('cell','nan'), ('cell','1e9')):
        res.append(Case('nonfinite', 'hpa-evaluate', f'cell table {col} {v}', CE.replace('{b}/c/cells.csv', '{d}/cells.csv'),
                        _cells_with(col, v), culprit=_name_re('cells.csv'), outs=('rep',), guard=()))
    for v in ('nan','-1'):
        res.append(Case('nonfinite', 'hpa-evaluate', f'cell mask npy with {v}', CE.replace('{b}/c/masks', '{d}/c/masks'), _mask_with(v), culprit=(CID,), outs=('rep',), guard=()))
        res.append(Case('nonfinite', 'hpa-cells', f'cell mask npy with {v}', C.replace('{b}/c/', '{d}/c/'), _mask_with(v), culprit=(CID,), outs=('o',), guard=()))
    return res

def _sub_with(v):
    "A copy of the cell submission cs/submission.csv whose first confidence is `v`"
    def f(b, d):
        df = pd.read_csv(b/'cs/submission.csv', dtype=str, keep_default_na=False)
        t = df.PredictionString[0].split(); t[1] = v; df.loc[0, 'PredictionString'] = ' '.join(t)
        df.to_csv(d/'cs.csv', index=False)
    return f

def _cells_with(col, v):
    "A copy of the true cell table c/cells.csv whose first `col` is `v`"
    def f(b, d):
        df = pd.read_csv(b/'c/cells.csv', dtype=str, keep_default_na=False); df.loc[0, col] = v; df.to_csv(d/'cells.csv', index=False)
    return f

def _mask_with(v):
    "A copy of set c whose first true mask is a .npy (in place of its .png) holding one `v`: a float mask with NaN, an int32 mask with a negative label"
    def f(b, d):
        _copy_c(b, d)
        fn = d/'c/masks'/f'{b.cids[0]}.png'
        from PIL import Image
        m = np.asarray(Image.open(fn)).astype(np.float32 if v=='nan' else np.int32); fn.unlink()
        m[0,0] = float(v)
        np.save(fn.with_suffix('.npy'), m)
    return f

# %% model folders
MODEL_KEYS = ['arch','fmt','classes','channels','stats','size','head','pretrained','loss','gamma','fold','n_folds','seed','schedule',
              'thresh','format','version','weights','n_in','n_out','bs','crop','valid_crop','init','data']   # what export_hpa writes; test_model_keys keeps it honest
REQUIRED = {'arch','classes','channels','stats'}
INFO = {'fold','n_folds','seed','schedule','pretrained','weights','init','data'}   # a record of the training run, and the weights' file name (always model.safetensors beside it); nothing loads them

def _mutate(v, how):
    "`v` mutated: `type` (a value of another type), `len` (one element short: a list or name that no longer fits), `nan` (its first number NaN), `zero_std` (stats only)"
    if how=='type': return 123 if isinstance(v, str) else 'x'
    if how=='len':
        if isinstance(v, list): return v[:-1] if v and not isinstance(v[0], list) else [o[:-1] for o in v]
        if isinstance(v, str): return v[:-1]
        return [v]*27   # a scalar threshold: a list of the wrong length
    if how=='nan':
        if isinstance(v, list): return [_mutate(v[0], 'nan')] + v[1:]
        return float('nan')

def _can(v, how, k=None)->bool:
    "Whether mutation `how` is a failure of its own for a value like `v`: one element short is for lists and names (and the scalar threshold, as a per-class list one short); for other scalars it is only another wrong type"
    if how=='len': return isinstance(v, (list, str)) or k=='thresh'
    if how=='nan': return isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, list) and v and _can(v[0], 'nan')
    return True

def _json_setup(key, how, src='m'):
    def f(b, d):
        _copy_m(b, d, link=True, src=src)
        m = json.loads((d/'m/model.json').read_text())
        if how=='del': [m.pop(k) for k in (sorted(INFO) if key=='INFO' else [key])]
        elif how=='zero_std': m['stats'][1] = [0.]*len(m['stats'][1])
        else: m[key] = _mutate(m[key], how)
        (d/'m/model.json').write_text(json.dumps(m, indent=1))
    return f

def _check_model(b, d, r):
    p = _probs(d/'p.csv')
    if not np.isfinite(p).all(): return 'non-finite probabilities written'
    err = np.abs(p-b.t_probs).max()
    return None if err<1e-3 else f'probabilities differ from the unmodified model by {err:.3g}'

def _weights_setup(how, src='m'):
    def f(b, d):
        import safetensors.torch as st, torch
        _copy_m(b, d, src=src)
        sd = st.load_file(str(d/'m/model.safetensors'))
        k = next(k for k,v in sd.items() if v.is_floating_point() and v.numel()>1)
        if how=='nan': sd[k].view(-1)[0] = float('nan')
        elif how=='inf': sd[k].view(-1)[0] = float('inf')
        elif how=='missing': sd.pop(k)
        elif how=='extra': sd['bogus.weight'] = torch.zeros(3)
        elif how=='half': sd = {k:v.half() if v.is_floating_point() else v for k,v in sd.items()}
        st.save_file(sd, str(d/'m/model.safetensors'))
    return f

class _Evil:
    "Unpickled, it creates file `fn`: what a crafted export.pkl could do instead"
    def __init__(self, fn): self.fn = str(fn)
    def __reduce__(self): return (exec, (f"open({self.fn!r}, 'w').close()",))

def _pickle_setup(files, src='m'):
    def f(b, d):
        import torch
        (d/'m').mkdir()
        torch.save(_Evil(d/'MARKER'), d/'m/export.pkl')
        for o in files: shutil.copy(b/src/o, d/'m'/o)
    return f

def _no_marker(b, d, r): return 'the crafted export.pkl ran: MARKER was created' if (d/'MARKER').exists() else _check_model(b, d, r)

def model_cases()->list:
    res,P = [],'{d}/m --images {b}/t/train --out {d}/sub.csv --probs {d}/p.csv --quiet'
    sample = dict(arch='a', fmt='a', classes=['a','b'], channels='rgby', stats=[[0.1]*4,[0.1]*4], size=32, head='linear', pretrained=False,
                  loss='focal', gamma=2., fold=0, n_folds=5, seed=42, schedule=['full:1:0.01'], thresh=0.5, format='hpa_fastai', version=1,
                  weights='model.safetensors', n_in=4, n_out=28, bs=8, crop=None, valid_crop=None)   # the value types of MODEL_KEYS
    # each field the loader reads: deleted, of another type, one element short (lists and names), non-finite (numbers); the fields nothing loads
    # (a record of the training run) are one kind: deleted all at once. Only deletions of optional fields may load (and must predict as before)
    res.append(Case('model', 'hpa-predict', f"model.json {', '.join(sorted(INFO))}: del", P, _json_setup('INFO', 'del'), expect='either',
                    culprit=_name_re('model.json'), outs=('sub.csv','p.csv'), check=_check_model, guard=(), own=True))
    for k in MODEL_KEYS:
        if k in INFO: continue
        for how in ('del','type','len','nan'):
            if how in ('len','nan') and not _can(sample[k], how, k): continue
            exp = 'either' if how=='del' and k not in REQUIRED else 'fail'
            res.append(Case('model', 'hpa-predict', f'model.json {k}: {how}', P, _json_setup(k, how), expect=exp,
                            culprit=_name_re('model.json'), outs=('sub.csv','p.csv'), check=_check_model, guard=(), own=True))
    res.append(Case('model', 'hpa-predict', 'model.json stats: std 0', P, _json_setup('stats', 'zero_std'), culprit=_name_re('model.json'), guard=(), own=True))
    for how in ('nan','inf','missing','extra','half'):
        res.append(Case('model', 'hpa-predict', f'weights: {how}', P, _weights_setup(how), expect='either' if how=='half' else 'fail',
                        culprit=_name_re('model.safetensors'), outs=('sub.csv','p.csv'), check=_check_model, guard=(), own=True))
    for files in ((), ('model.json',), ('model.safetensors',), ('model.json','model.safetensors')):
        desc = f"crafted export.pkl{''.join(' + '+o for o in files)}"
        ok = len(files)==2
        for s,args in (('hpa-predict', P), ('hpa-evaluate', '--labels {b}/t/labels.csv --model {d}/m --images {b}/t/train --out {d}/rep')):
            res.append(Case('model', s, desc, args, _pickle_setup(files), expect='either' if ok else 'fail', culprit=_name_re('m'),
                            outs=('sub.csv','p.csv','rep'), check=_no_marker if s=='hpa-predict' else None, guard=(INTERP,), own=True))   # a MARKER fails any case
    # hpa-export and hpa-cells load a model as hpa-predict does: one case per kind of failure, on their own models (hpa-cells: the hpa2021 one)
    for s,args,src,chk in (('hpa-export', '{d}/m --out {d}/m.onnx', 'm', _wrote('m.onnx')), ('hpa-cells', C.replace('{b}/m21', '{d}/m'), 'm21', _wrote('o/submission.csv'))):
        kw = dict(outs=('m.onnx','o'), guard=(), own=True)
        for k,how in (('classes','del'), ('arch','type'), ('stats','nan'), ('stats','zero_std'), ('channels','len'), ('thresh','nan')):
            res.append(Case('model', s, f'model.json {k}: {how}', args, _json_setup(k, how, src), culprit=_name_re('model.json'), **kw))
        for how in ('nan','inf','missing'):
            res.append(Case('model', s, f'weights: {how}', args, _weights_setup(how, src), culprit=_name_re('model.safetensors'), **kw))
        for files in ((), ('model.json','model.safetensors')):
            res.append(Case('model', s, f"crafted export.pkl{''.join(' + '+o for o in files)}", args, _pickle_setup(files, src), expect='either' if files else 'fail',
                            culprit=_name_re('m'), check=chk, **kw))
    # hpa-cells scores the 19 classes of HPA 2021: a model of other classes, as the image or the crop model
    res.append(Case('model', 'hpa-cells', 'image model of 28 classes', C.replace('{b}/m21', '{b}/m'), culprit=('28 classes', '19'), outs=('o',), guard=()))
    res.append(Case('model', 'hpa-cells', 'crop model of 28 classes', C+' --crop-model {b}/m', culprit=('28 classes', '19'), outs=('o',), guard=()))
    return res

# %% output collisions
def _predict_setup(b, d):
    _copy_m(b, d); _copy_t(b, d)
    shutil.copy(b/'t/ids.csv', d/'ids.csv'); shutil.copy(b/'thresh.txt', d/'th.txt'); shutil.copy(b/'t/dupes.csv', d/'dupes.csv')
COLLIDE = {  # script: (command, setup, inputs {option: path}, outputs {option: path}); every pair is made to collide
    'hpa-predict': ('{d}/m --images {d}/t --csv {d}/ids.csv --thresh {d}/th.txt --dupes {d}/dupes.csv --out {d}/sub.csv --probs {d}/p.csv --quiet',
                    _predict_setup,
                    {'model.json':'m/model.json', 'model.safetensors':'m/model.safetensors', 'images':'t/{TID}_green.png', 'csv':'ids.csv',
                     'thresh':'th.txt', 'dupes':'dupes.csv'},
                    {'out':'sub.csv', 'probs':'p.csv'}),
    'hpa-dupes': ('{d}/s/train --out {d}/d.csv --hashes {d}/h.csv --plot {d}/plot.png --workers 1 --quiet', _copy_s,
                  {'images':'s/train/{ID}_green.png', 'images (blue)':'s/train/{ID}_blue.png'},
                  {'out':'d.csv', 'hashes':'h.csv', 'plot':'plot.png'}),
}
# folder outputs: the files they write, where an input of the same kind is put
DIR_OUT = [
    ('hpa-evaluate', 'labels', '--labels {d}/rep/per_class.csv --probs {b}/probs.csv --out {d}/rep', 'rep/per_class.csv', 's/train.csv'),
    ('hpa-evaluate', 'probs', '--labels {b}/s/train.csv --probs {d}/rep/per_class.csv --out {d}/rep', 'rep/per_class.csv', 'probs.csv'),
    ('hpa-evaluate', 'submission', '--labels {b}/s/train.csv --submission {d}/rep/per_class.csv --out {d}/rep', 'rep/per_class.csv', 'sub.csv'),
    ('hpa-evaluate', 'labels = --out', '--labels {d}/l.csv --probs {b}/probs.csv --out {d}/l.csv', 'l.csv', 's/train.csv'),
    ('hpa-prep', 'csv', '{b}/s/train --csv {d}/c/32/labels.csv --out {d}/c --sizes 32 --workers 1 --quiet', 'c/32/labels.csv', 's/train.csv'),
    ('hpa-prep', 'csv = --out', '{b}/s/train --csv {d}/l.csv --out {d}/l.csv --sizes 32 --workers 1 --quiet', 'l.csv', 's/train.csv'),
    ('hpa-download', 'csv', f'--csv {{d}}/v18/train.csv --out {{d}}/v18 --base-url {NOWHERE} --retries 0 --timeout 1 --workers 1 --quiet', 'v18/train.csv', 'v18.csv'),
    ('hpa-train', 'csv', '--csv {d}/o/history.csv --images {b}/s/train --out {d}/o '+T, 'o/history.csv', 's/train.csv'),
    ('hpa-train', 'csv (model.json)', '--csv {d}/o/model.json --images {b}/s/train --out {d}/o '+T, 'o/model.json', 's/train.csv'),
]
EXISTING = [  # outputs into a folder that holds a data set, without --force
    ('hpa-synth', '--path {d}/s --n 10 --size 32 --quiet'),
    ('hpa-download', f'--csv {{b}}/v18.csv --out {{d}}/s --base-url {NOWHERE} --retries 0 --timeout 1 --workers 1 --quiet'),
]

def _put(rel, src):
    def f(b, d): (d/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy(b/src, d/rel)
    return f

def collision_cases()->list:
    res = []
    for s,(args,setup,ins,outs) in COLLIDE.items():
        res.append(Case('collision', s, 'no collision (control)', args, setup, expect='either', outs=tuple(outs.values()), guard=(),
                        check=_wrote(next(iter(outs.values())))))
        items = list(outs.items())
        pairs = [(o,p,i,q) for o,p in items for i,q in ins.items()] + [(o,p,o2,p2) for j,(o,p) in enumerate(items) for o2,p2 in items[j+1:]]
        for o,p,i,q in pairs:
            t = args.replace('{d}/'+p, '{d}/'+q)
            res.append(Case('collision', s, f'--{o} = {i}', t, setup, culprit=_opt_re(o)+_name_re(Path(q).name.split('{')[0] or '_green'), guard=(),
                            outs=tuple(v for v in outs.values() if v!=p)))
    for s,i,args,rel,src in DIR_OUT:
        res.append(Case('collision', s, f'--out holds {i} ({rel})', args, _put(rel, src), culprit=_opt_re('out')+_name_re(Path(rel).name), guard=(FIT,)))
    for s,args in EXISTING:
        res.append(Case('collision', s, 'output folder holds a data set', args, _copy_s, culprit=_opt_re('path')+_opt_re('out')+_name_re('force', 's'),
                        guard=(FIT,)))
    for s,desc,args,setup,exp,culprit,outs,check in HPA2021_COLLIDE:
        res.append(Case('collision', s, desc, args, setup, expect=exp, culprit=culprit, outs=outs, check=check, guard=()))
    return res

# the HPA 2021 commands' outputs onto their inputs: (script, what, command, setup, expect, culprit, outputs that may change on exit 0, check)
def _export_setup(b, d):
    "A copy of the base model with the other files of a model folder: its card MODEL.md (which hpa-export reads) and an export.pkl"
    _copy_m(b, d); (d/'m/MODEL.md').write_text('# A model card\n'); (d/'m/export.pkl').write_bytes(b'a pickle')
def _link_train(b, d): _copy_c(b, d); os.symlink(d/'c/train', d/'lnk')
def _masks_in_out(b, d): _copy_c(b, d); shutil.copytree(b/'c/masks', d/'o/masks')
def _images_in_out(b, d): _copy_c(b, d); shutil.copytree(b/'c/train', d/'o/masks')
def _ids_in_out(fn):
    def f(b, d): _copy_c(b, d); (d/'o').mkdir(); shutil.copy(b/'c/train.csv', d/'o'/fn)
    return f
def _synth_with(what):
    "A folder x that holds one part of an hpa2021 data set that hpa-synth did not make: a mask in masks/, a cell table, masks as a file, cells.csv as a folder"
    def f(b, d):
        (d/'x').mkdir()
        if what=='masks': (d/'x/masks').mkdir(); shutil.copy(b/'c/masks'/f'{b.cids[0]}.png', d/'x/masks')
        elif what=='cells.csv': shutil.copy(b/'c/cells.csv', d/'x/cells.csv')
        elif what=='masks file': (d/'x/masks').write_text('a file')
        elif what=='cells.csv folder': (d/'x/cells.csv').mkdir()
    return f
_OUT = _opt_re('out')
HPA2021_COLLIDE = [
    ('hpa-segment', '--out = images', '{d}/c/train --out {d}/c/train --quiet', _copy_c, 'fail', _OUT+_name_re('train'), (), None),
    ('hpa-segment', '--out = a link to images', '{d}/c/train --out {d}/lnk --quiet', _link_train, 'fail', _OUT+_name_re('lnk'), (), None),
    ('hpa-segment', '--out = an image file', '{d}/c/train --out {d}/c/train/{CID}_green.png --quiet', _copy_c, 'fail', _OUT+('_green',), (), None),
    ('hpa-export', 'no collision (control)', '{d}/m --out {d}/m/model.onnx', _export_setup, 'ok', (), ('m/model.onnx',), _wrote('m/model.onnx')),
    *[('hpa-export', f'--to {t} --out = {o}', f'{{d}}/m --to {t} --out {{d}}/m/{o}', _export_setup, 'fail', _OUT+_name_re(o), (), None)
      for t in ('onnx','torchscript') for o in ('model.safetensors','model.json','MODEL.md','export.pkl')],
    ('hpa-export', 'MODEL a file, --out = MODEL.md', '{d}/m/model.safetensors --to torchscript --out {d}/m/MODEL.md', _export_setup, 'fail', _OUT+_name_re('MODEL.md'), (), None),
    ('hpa-export', '--out = the model folder', '{d}/m --out {d}/m', _export_setup, 'fail', _OUT+_name_re('m'), (), None),
    ('hpa-export', '--to bioimageio --out = model.json', '{d}/m --to bioimageio --out {d}/m/model.json', _export_setup, 'fail', _OUT+_name_re('model.json'), (), None),
    ('hpa-export', '--to bioimageio --out = the model folder', '{d}/m --to bioimageio --out {d}/m', _export_setup, 'fail', _OUT+_name_re('m'), (), None),
    ('hpa-cells', '--out = images', '{b}/m21 {d}/c/train --masks {d}/c/masks --out {d}/c/train --quiet', _copy_c, 'fail', _OUT+_name_re('train'), (), None),
    ('hpa-cells', '--out = masks', '{b}/m21 {d}/c/train --masks {d}/c/masks --out {d}/c/masks --quiet', _copy_c, 'fail', _OUT+_name_re('masks'), (), None),
    ('hpa-cells', '--images = --out/masks', '{b}/m21 {d}/o/masks --masks {d}/c/masks --out {d}/o --quiet', _images_in_out, 'fail', _OUT+_name_re('masks'), (), None),
    ('hpa-cells', '--csv = --out/submission.csv', C.replace('{b}/c/', '{d}/c/')+' --csv {d}/o/submission.csv', _ids_in_out('submission.csv'), 'fail', _opt_re('csv'), (), None),
    ('hpa-cells', '--csv = --out/cells.csv', C.replace('{b}/c/', '{d}/c/')+' --csv {d}/o/cells.csv', _ids_in_out('cells.csv'), 'fail', _opt_re('csv'), (), None),
    ('hpa-cells', '--masks = --out/masks (kept as they are)', '{b}/m21 {d}/c/train --masks {d}/o/masks --out {d}/o --quiet', _masks_in_out, 'ok', (),
     ('o/submission.csv','o/cells.csv'), _wrote('o/submission.csv')),
    ('hpa-cells', '--out holds a data set (its cells.csv and masks/)', '{b}/m21 {d}/c/train --out {d}/c --quiet', _copy_c, 'either',
     _OUT+_name_re('cells.csv', 'masks'), ('c/submission.csv',), _wrote('c/submission.csv')),
    ('hpa-cells', '--out = the model folder', '{d}/m {b}/c/train --masks {b}/c/masks --out {d}/m --quiet', partial(_copy_m, src='m21'), 'either', _OUT,
     ('m/submission.csv','m/cells.csv','m/masks'), _wrote('m/submission.csv')),
    ('hpa-evaluate', '--cells: --out = masks', CE.replace('{b}/c/masks', '{d}/c/masks').replace('{d}/rep', '{d}/c/masks'), _copy_c, 'fail', _OUT+_name_re('masks'), (), None),
    ('hpa-evaluate', '--cells: --out holds cells (rep/per_class.csv)', CE.replace('{b}/cs/submission.csv', '{d}/rep/per_class.csv'), _put('rep/per_class.csv', 'cs/submission.csv'),
     'fail', _OUT+_name_re('per_class.csv'), (), None),
    ('hpa-evaluate', '--cells: --out holds cell labels (rep/per_class.csv)', CE.replace('{b}/c/cells.csv', '{d}/rep/per_class.csv'), _put('rep/per_class.csv', 'c/cells.csv'),
     'fail', _OUT+_name_re('per_class.csv'), (), None),
    ('hpa-evaluate', '--cells: --out = the submission file', CE.replace('{b}/cs/submission.csv', '{d}/cs.csv').replace('{d}/rep', '{d}/cs.csv'), _put('cs.csv', 'cs/submission.csv'),
     'fail', _OUT+_name_re('cs.csv'), (), None),
    *[('hpa-synth', f'--fmt hpa2021: --path holds {w}', '--path {d}/x --fmt hpa2021 --n 10 --size 32 --quiet', _synth_with(w), 'fail',
       _opt_re('path')+_name_re(w.split()[0], 'force'), (), None) for w in ('masks', 'cells.csv', 'masks file', 'cells.csv folder')],
    ('hpa-synth', '--fmt hpa2021: --path holds another hpa2021 set', '--path {d}/c --fmt hpa2021 --n 10 --size 32 --quiet', _copy_c, 'fail', _opt_re('path')+_name_re('force'), (), None),
]

# %% HPA_DEBUG=1
DEBUG = {
    'hpa-synth': ('--path {d}/afile/x --n 10 --size 32 --quiet', _afile), 'hpa-train': ('--csv {d}/missing.csv '+T, None),
    'hpa-predict': ('{d}/missing.pkl --images {b}/t/train --out {d}/sub.csv --quiet', None),
    'hpa-evaluate': ('--labels {d}/missing.csv --probs {b}/probs.csv --out {d}/rep', None),
    'hpa-demo': ('--out {d}/o --data {d}/afile --quiet', _afile), 'hpa-prep': ('{d}/missing --out {d}/c --quiet', None),
    'hpa-download': ('--csv {d}/missing.csv --out {d}/v18 --quiet', None), 'hpa-dupes': ('{d}/missing --out {d}/d.csv --quiet', None),
    'hpa-segment': ('{d}/missing --out {d}/masks --quiet', None), 'hpa-export': ('{d}/missing --out {d}/m.onnx', None),
    'hpa-cells': ('{d}/missing {b}/c/train --out {d}/o --quiet', None),
}
def debug_cases()->list:
    return [Case('debug', s, 'HPA_DEBUG=1', a, st, expect='debug', env={'HPA_DEBUG':'1'}, guard=(FIT,)) for s,(a,st) in DEBUG.items()]

CASES = option_cases() + list_cases() + file_cases() + array_cases() + nonfinite_cases() + model_cases() + collision_cases() + debug_cases()

# %% shared inputs, read-only for every case
class _Base(type(Path())):
    "The base folder, with attributes"

@pytest.fixture(scope='module')
def base(tmp_path_factory, model):
    from hpa_fastai.all import make_synth, open_hpa, load_hpa
    b = _Base(tmp_path_factory.mktemp('hostile_base'))
    make_synth(b/'s', n=8, size=32, seed=5, progress=False)
    make_synth(b/'t', n=2, size=32, seed=9, progress=False)
    (b/'m').mkdir(); [shutil.copy(Path(model)/o, b/'m'/o) for o in ('model.json','model.safetensors')]
    ids = pd.read_csv(b/'s/train.csv').Id.tolist(); tids = pd.read_csv(b/'t/train.csv').Id.tolist()
    pd.DataFrame({'Id':tids, 'Predicted':''}).to_csv(b/'t/ids.csv', index=False)
    shutil.copy(b/'t/train.csv', b/'t/labels.csv')
    pd.DataFrame({'group':[0,0], 'id':tids, 'source':['t','t'], 'distance':[0,0]}).to_csv(b/'t/dupes.csv', index=False)
    (b/'thresh.txt').write_text('\n'.join(['0.5']*28)+'\n')
    classes = json.loads((b/'m/model.json').read_text())['classes']
    p = np.random.default_rng(0).random((len(ids), len(classes))).astype(np.float32)
    df = pd.DataFrame(p, columns=classes); df.insert(0, 'id', ids); df.to_csv(b/'probs.csv', index=False)
    np.save(b/'probs.npy', p); (b/'probs_ids.txt').write_text('\n'.join(ids)+'\n')
    pd.DataFrame({'Id':ids, 'Predicted':['0']*len(ids)}).to_csv(b/'sub.csv', index=False)
    pd.DataFrame({'Id':['10580_1610_C1_1','10580_1610_C1_2'], 'Target':['0','1 2']}).to_csv(b/'v18.csv', index=False)
    b.ids,b.tids = ids,tids
    _hpa2021(b)
    r = main('hpa-predict', b/'m', '--images', b/'t/train', '--out', b/'ref_sub.csv', '--probs', b/'ref_p.csv', '--quiet')   # loads the model for real
    assert r.returncode==0, r.stderr
    b.t_probs = _probs(b/'ref_p.csv')
    b.learn = load_hpa(b/'m')   # the one loaded copy the cases whose subject is not the model share (`shared_model`)
    b.learn21 = load_hpa(b/'m21')
    with shared_model(b): r = main('hpa-cells', b/'m21', b/'c/train', '--masks', b/'c/masks', '--out', b/'cs', '--quiet')   # a cell submission, cs/submission.csv
    assert r.returncode==0, r.stderr
    b.u = open_hpa(b/'t/train'/tids[0])   # the image every array case encodes
    cache = {}
    def ref_probs(e):
        "The probabilities the shared model gives uint8 image `e`"
        k = hashlib.sha256(e.tobytes()).hexdigest()
        if k not in cache:
            d = b/'refs'/k[:12]; d.mkdir(parents=True)
            np.save(d/'a0.npy', np.ascontiguousarray(e, np.uint8))
            with shared_model(b): r = main('hpa-predict', b/'m', '--images', d, '--out', d/'sub.csv', '--probs', d/'p.csv', '--quiet')
            assert r.returncode==0, r.stderr
            cache[k] = _probs(d/'p.csv')
        return cache[k]
    b.ref_probs = ref_probs
    b.blank_gap = float(np.abs(ref_probs(b.u)-ref_probs(np.zeros_like(b.u))).max())   # how far a blanked image moves the probabilities
    b.files = _fingerprint(b)
    yield b
    assert _fingerprint(b)==b.files, 'a file of the shared inputs was changed'

def _hpa2021(b):
    "The HPA 2021 inputs (see `C` at the top): set c, the untrained model m21 of its classes, and the OME-TIFF ome/o1.ome.tif; ~0.5 s"
    import tempfile, tifffile
    from hpa_fastai.all import make_synth, hpa_setup, open_hpa
    make_synth(b/'c', n=4, size=64, fmt='hpa2021', seed=5, progress=False)
    b.cids = pd.read_csv(b/'c/train.csv').ID.tolist()
    with tempfile.TemporaryDirectory() as t:   # hpa_setup builds the Learner (and writes folds.csv into its `out`); nothing is trained
        learn = hpa_setup(b/'c/train.csv', out=t, arch='resnet10t', schedule='full:1:1e-3', bs=4, n_folds=2, workers=0, progress=False)[0]
        learn.export_hpa(t)
        (b/'m21').mkdir(); [shutil.copy(Path(t)/o, b/'m21'/o) for o in ('model.json','model.safetensors')]
    b.u21 = open_hpa(b/'c/train'/b.cids[0])
    (b/'ome').mkdir()
    x = b.u21[[2,1,0,3]]   # nucleus, protein, microtubules, er: the order of MAP
    tifffile.imwrite(b/'ome/o1.ome.tif', np.stack([x//2, x]), ome=True, metadata=dict(axes='ZCYX'))

# %% running and judging one case
def _fingerprint(b:Path)->dict:
    return {str(p.relative_to(b)):(p.stat().st_size, p.stat().st_mtime_ns) for p in b.rglob('*') if p.is_file() and 'refs' not in p.parts}

def checksums(d:Path, prev:dict=None)->dict:
    """(stat, sha256) of every regular file under `d` (symlinks by target, FIFOs and unreadable files by kind; compare the second items);
    `prev`, an earlier result: a file whose inode, size, mtime and ctime are all unchanged keeps its sha256 (any write changes the ctime)"""
    res = {}
    for root,dirs,files in os.walk(d):
        for n in files+[o for o in dirs if os.path.islink(os.path.join(root, o))]:
            p = os.path.join(root, n); st = os.lstat(p); k = os.path.relpath(p, d)
            if stat.S_ISLNK(st.st_mode): res[k] = (None, ('link', os.readlink(p)))
            elif not stat.S_ISREG(st.st_mode): res[k] = (None, ('special', stat.S_IFMT(st.st_mode)))
            else:
                key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                if prev and k in prev and prev[k][0]==key: res[k] = prev[k]; continue
                try: res[k] = (key, hashlib.sha256(Path(p).read_bytes()).hexdigest())
                except OSError: res[k] = (key, ('unreadable', st.st_size, st.st_mtime_ns))
    return res

def shared_model(b:Path, d:Path=None):
    """`load_hpa` in hpa-predict, hpa-cells and hpa-export patched for a case whose subject is not the model: the base model `b/m` (or `b/m21`), or
    the case's unchanged copy `d/m` of it, is the copy loaded once (`b.learn`, `b.learn21`; predicting and exporting do not change it); any other
    model loads for real. Cases about the model never get it (`Case.own`)"""
    import hpa_fastai.inference as inf, hpa_fastai.cells as cells, hpa_fastai.interop as iop
    real = inf.load_hpa
    def same(p, m)->bool:
        if p.resolve()==(b/m).resolve(): return True
        if d is None or p.resolve()!=(d/'m').resolve() or (p/'export.pkl').exists(): return False
        try: return (p/'model.json').read_bytes()==(b/m/'model.json').read_bytes() and (p/'model.safetensors').stat().st_size==(b/m/'model.safetensors').stat().st_size
        except OSError: return False
    def load(fn, cpu=True):
        if Path(fn).is_dir():
            for m,l in (('m', 'learn'), ('m21', 'learn21')):
                if getattr(b, l, None) is not None and same(Path(fn), m): return getattr(b, l)
        return real(fn, cpu)
    return _Patches([mock.patch.object(mod, 'load_hpa', load) for mod in (inf, cells, iop)])

class _Patches:
    "Several `mock.patch`es as one: `start`/`stop`, or a context manager"
    def __init__(self, ps): self.ps = ps
    def start(self): [p.start() for p in self.ps]
    def stop(self): [p.stop() for p in reversed(self.ps)]
    def __enter__(self): self.start(); return self
    def __exit__(self, *a): self.stop()

class Watchdog:
    "Releases any reader blocked on a FIFO under `d` (opens it for writing and closes it: the reader sees end-of-file); `hung` says one was"
    def __init__(self, d:Path):
        self.fifos = [str(p) for p in d.rglob('*') if not p.is_symlink() and stat.S_ISFIFO(p.lstat().st_mode)]
        self.hung,self.stop = False,threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
    def run(self):
        while not self.stop.wait(0.1):
            for f in self.fifos:
                try: fd = os.open(f, os.O_WRONLY|os.O_NONBLOCK)
                except OSError: continue   # no reader
                os.close(fd); self.hung = True
    def __enter__(self):
        if self.fifos: self.t.start()
        return self
    def __exit__(self, *a):
        self.stop.set()
        if self.fifos: self.t.join()

_PARSERS,_ANNO = {},helpers.anno_parser
def _parser(f, prog=None, **kw):
    "fastcore's `anno_parser`, built once per script: building it reads the function's source for its docments (~12 ms, most of a refused case)"
    if (f, prog) not in _PARSERS: _PARSERS[(f, prog)] = _ANNO(f, prog=prog, **kw)
    return _PARSERS[(f, prog)]

def _raiser(name):
    def f(*a, **k): raise _Reached(name)
    return f

def run_case(c:Case, b:Path, d:Path):
    "Set up and run case `c` in folder `d`: (result, reached, hung, changed files)"
    d.mkdir(parents=True, exist_ok=True)
    X = None
    if isinstance(c.setup, tuple):   # an array case: what the dtype rule makes of it must be read, what it refuses refused (hpa-prep: skipped and listed)
        _,ct,t,v = c.setup
        exp = write_encoded(d/'img', 'a0', b.u, ct, t, v)
        c.check = _check_predict(exp) if c.script=='hpa-predict' else _check_seg(exp) if c.script=='hpa-segment' else _check_prep('a0', exp)
        c.expect = 'ok' if exp is not None else 'listed' if c.script=='hpa-prep' else 'fail'
    elif c.setup: c.setup(b, d)
    if (d/'.X').exists(): X = (d/'.X').read_text()
    args = c.args.replace('{X}', X or '').replace('{d}', str(d)).replace('{b}', str(b))
    for k,v in (('{ID}', b.ids[0]), ('{TID}', b.tids[0]), ('{CID}', b.cids[0])): args = args.replace(k, v)
    argv = shlex.split(args)
    before = checksums(d)
    reached = None
    guard = c.guard + ((REPORT,) if c.script=='hpa-evaluate' else ())
    with Watchdog(d) as w, mock.patch.dict(os.environ, {'HPA_DEBUG':''}):
        patches = [mock.patch(g.replace(':', '.'), _raiser(g)) for g in guard] + ([] if c.own else [shared_model(b, d)]) + [mock.patch.object(helpers, 'anno_parser', _parser)]
        for p in patches: p.start()
        try: r = main(c.script, *argv, cwd=d, env=c.env)
        except _Reached as e: r,reached = None,str(e)
        finally:
            for p in patches: p.stop()
    after = checksums(d, before)
    if r is None: r = type('R', (), dict(returncode=None, stdout='', stderr='', args=[c.script, *argv]))()
    rc = r.returncode
    keep = () if rc not in (0, 3) else c.outs
    changed = [k for k,v in before.items() if not any(k==o or k.startswith(o+os.sep) for o in keep) and after.get(k, (None, None))[1]!=v[1]]
    return r, reached, w.hung, changed

def judge(c:Case, b, d, r, reached, hung, changed)->tuple:
    "(flags, note): which of traceback / unclear / wrong / changed / hang this outcome is"
    f = dict(traceback=False, unclear=False, wrong=False, changed=bool(changed), hang=hung)
    notes = [f'files changed: {changed}'] if changed else []
    if hung: notes.append('opened a FIFO and blocked on it (released by the watchdog)')
    msg,name = (r.stderr or '').strip(),c.script
    if (d/'MARKER').exists(): f['wrong'] = True; notes.append('the crafted export.pkl ran: MARKER was created')
    if c.expect=='debug':
        if 'Traceback' not in r.stderr: f['wrong'] = True; notes.append('HPA_DEBUG=1 but no traceback')
        return f,'; '.join(notes)
    if reached:
        if c.expect not in ('accept','either','ok'): f['wrong'] = True; notes.append(f'not refused before real work ({reached} was reached)')
        return f,'; '.join(notes)
    if 'Traceback' in r.stderr or 'unexpected error' in r.stderr:
        f['traceback'] = True; notes.append('traceback or unexpected error'); return f,'; '.join(notes)
    rc = r.returncode
    if rc==0 or rc==3 and c.expect=='listed':
        if c.expect=='fail': f['wrong'] = True; notes.append(f'exit {rc}: accepted')
        elif c.expect=='ok' and rc!=0: f['wrong'] = True; notes.append(f'exit {rc}: a legal input was skipped')
        elif c.expect=='listed' and not c.check:
            if not any(re.search(x, r.stdout+r.stderr, re.I) for x in c.culprit): f['unclear'] = True; notes.append(f'exit {rc} without naming the culprit')
        elif c.check:
            why = c.check(b, d, r)
            if why and c.expect=='listed' and rc==3 and any(re.search(x, r.stdout+r.stderr, re.I) for x in c.culprit): why = None   # skipped and listed
            if why: f['wrong'] = True; notes.append(why)
        return f,'; '.join(notes)
    # a refusal: one short paragraph `<script>: ...` (or argparse's usage + `<script>: error: ...`), naming the culprit
    lines = msg.splitlines()
    argparse_ = rc==2 and lines and lines[0].startswith('usage:') and f'{name}: error:' in msg
    clean = argparse_ or (lines and len(lines)<=3 and lines[0].startswith(f'{name}: '))
    if c.expect=='accept':
        if c.opt and 'out of range' in msg and any(re.search(x, msg, re.I) for x in c.culprit): f['wrong'] = True; notes.append('an in-range value was refused as out of range')
        elif not clean: f['unclear'] = True; notes.append('not one short paragraph starting with the script name')
        return f,'; '.join(notes)
    if c.expect=='ok': f['wrong'] = True; notes.append('a legal input was refused')
    if not clean: f['unclear'] = True; notes.append('not one short paragraph starting with the script name')
    elif c.culprit and not any(re.search(x, msg, re.I) for x in c.culprit): f['unclear'] = True; notes.append('does not name the culprit')
    return f,'; '.join(notes)

RESULTS = {}

@pytest.fixture(scope='module', autouse=True)
def summary(tmp_path_factory):
    yield
    if not RESULTS: return
    cats = list(dict.fromkeys(c.cat for c in CASES))
    keys = ['traceback','unclear','wrong','changed','hang']
    rows = []
    for cat in cats:
        rs = [v for (c,_),v in RESULTS.items() if c==cat]
        if rs: rows.append((cat, len(rs), *(sum(r[0][k] for r in rs) for k in keys), sum(any(r[0].values()) for r in rs)))
    tot = ('all', *(sum(r[i] for r in rows) for i in range(1, 8)))
    md = ('| category | cases | tracebacks | unclear messages | wrong results | files changed | hangs | failing |\n|---|---|---|---|---|---|---|---|\n'
          + '\n'.join('| ' + ' | '.join(map(str, r)) + ' |' for r in rows+[tot]) + '\n')
    fn = tmp_path_factory.getbasetemp()/'hostile.md'
    fails = '\n'.join(f'- `{k[1]}`: {v[1]}\n  `{v[2]}` -> {v[3]}' for k,v in RESULTS.items() if any(v[0].values()))
    fn.write_text(md + '\n' + fails + '\n')
    print(f'\n{md}(written to {fn})')

@pytest.fixture(scope='module')
def cases_dir(tmp_path_factory):
    "One folder holding every case's folder (pytest's `tmp_path` scans its whole temporary folder for each of ~700 cases)"
    return tmp_path_factory.mktemp('hostile_cases')

NUM = {c.id:i for i,c in enumerate(CASES)}
@pytest.mark.parametrize('c', CASES, ids=[c.id for c in CASES])
def test_hostile(c, base, cases_dir):
    if 'noperm' in c.desc and ROOT: pytest.skip('permissions mean nothing to root')
    t = time.time()
    d = cases_dir/f'{NUM[c.id]:03d}_{re.sub(r"[^A-Za-z0-9_-]+", "_", c.id)[:40]}'   # no "=" or ".": hpa-dupes reads NAME=PATH
    r,reached,hung,changed = run_case(c, base, d)
    flags,note = judge(c, base, d, r, reached, hung, changed)
    short = lambda s: s.replace(str(d)+'/', '').replace(str(base)+'/', 'B/')
    cmd = short(' '.join(map(str, r.args)))
    out = short(' '.join((r.stderr or '').split())[-300:]) if r.returncode is not None else f'reached {reached}'
    RESULTS[(c.cat, c.id)] = (flags, note, cmd, f'exit {r.returncode}: {out}')
    if os.environ.get("HOSTILE_SHOW"): print(f"\n{c.id}: {cmd} -> exit {r.returncode}: {out}")
    assert not any(flags.values()), f"{note}\n  {cmd}\n  exit {r.returncode}, stderr: {(r.stderr or '')[-1500:]}"

def test_model_keys(model):
    "The model.json fields the sweep mutates are those export_hpa writes"
    assert sorted(json.loads((Path(model)/'model.json').read_text()))==sorted(MODEL_KEYS)

def test_pickle_payload_works(tmp_path):
    "The crafted export.pkl does run code when unpickled (so a missing marker in the `model` cases means it was not unpickled)"
    import torch
    torch.save(_Evil(tmp_path/'MARKER'), tmp_path/'export.pkl')
    torch.load(tmp_path/'export.pkl', weights_only=False)
    assert (tmp_path/'MARKER').exists()
