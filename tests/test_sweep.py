"""Bad-input sweep: every console script over each bad input. Each must end with a one-paragraph message that names
what is wrong, an exit status other than 0, no traceback, and no damage to an output that existed before. Where
skipping is safe (`--skip-bad`), the bad samples are skipped and listed in a report. The table input -> command ->
message is written to `sweep.md` in the pytest temporary folder and printed (run with `-s` to see it).

The scripts run in this process (`helpers.main`: the same argument parser and function as the console script), except the
rows with a file-size limit (a full disk), which is a limit of a process: those run as the installed console scripts in
new processes, started first so that they run beside the others, and they also check that `hpa-synth`, `hpa-train`,
`hpa-predict` and `hpa-evaluate` end a bad input with one line `<script>: ...` on stderr and exit status 1."""
import os, resource, shutil, signal, pytest
import numpy as np, pandas as pd
from PIL import Image
from hpa_fastai.all import make_synth

from helpers import start, main

# %% fixtures: one small valid set and the shared model, read-only for every row
@pytest.fixture(scope='module')
def base(tmp_path_factory, model):
    b = tmp_path_factory.mktemp('sweep_base')
    make_synth(b/'s', n=24, size=32, seed=5, progress=False)
    make_synth(b/'z', n=6, size=32, fmt='z2g', seed=5, progress=False)
    make_synth(b/'s21', n=8, size=32, fmt='hpa2021', seed=5, progress=False)
    shutil.copytree(model, b/'m')
    return b

def _copyset(b, d):
    shutil.copytree(b/'s', d/'s')
    return pd.read_csv(d/'s/train.csv')

def _first(d): return pd.read_csv(d/'s/train.csv').Id[0]

# setups: each gets (base, row folder) and prepares the bad input
def missing_image(b, d):  _copyset(b, d); (d/'s/train'/f'{_first(d)}_green.png').unlink()
def corrupt_image(b, d):
    _copyset(b, d); fn = d/'s/train'/f'{_first(d)}_blue.png'
    fn.write_bytes(fn.read_bytes()[:60])
def channel_sizes(b, d):  _copyset(b, d); Image.fromarray(np.zeros((16,32), np.uint8)).save(d/'s/train'/f'{_first(d)}_yellow.png')
def _table(text):
    def f(b, d): _copyset(b, d); (d/'s/train.csv').write_text(text(pd.read_csv(d/'s/train.csv')))
    return f
bad_label   = _table(lambda df: df.assign(Target=['0 28']+df.Target.tolist()[1:]).to_csv(index=False))
malformed   = _table(lambda df: 'Name;Tags\n' + '\n'.join(f'{i};{t}' for i,t in zip(df.Id, df.Target)) + '\n')
dup_ids     = _table(lambda df: pd.concat([df, df.iloc[:1]]).to_csv(index=False))
traversal   = _table(lambda df: df.assign(Id=['../../etc/passwd']+df.Id.tolist()[1:]).to_csv(index=False))
def file_in_the_way(b, d): _copyset(b, d); (d/'afile').write_text('a regular file where a folder should be')
def existing(b, d):
    "A valid set and outputs from an earlier run, which the failing command must leave as they were"
    _copyset(b, d)
    (d/'old').mkdir(); (d/'old/export.pkl').write_bytes(b'earlier model'); (d/'old/model.safetensors').write_bytes(b'earlier weights')
    (d/'sub.csv').write_text('Id,Predicted\nearlier,0\n'); (d/'rep').mkdir(); (d/'rep/metrics.json').write_text('{"earlier": 1}\n')
    from hpa_fastai.core import _set_role
    for f in ('old/export.pkl', 'old/model.safetensors', 'sub.csv', 'rep/metrics.json'): _set_role(d/f, 'output')  # as hpa_fastai marks what it writes: earlier outputs, not a user's files
def model_copy(b, d): _copyset(b, d); shutil.copytree(b/'m', d/'m', ignore=shutil.ignore_patterns('checkpoints'))
def corrupt_pkl(b, d): _copyset(b, d); (d/'bad.pkl').write_bytes(b'not a pickle at all')
def truncated_safetensors(b, d):
    model_copy(b, d); fn = d/'m/model.safetensors'; fn.write_bytes(fn.read_bytes()[:1000])
def json_19_classes(b, d):
    model_copy(b, d); fn = d/'m/model.json'
    import json; m = json.loads(fn.read_text()); m['classes'] = m['classes'][:19]; fn.write_text(json.dumps(m))
def thresh_19(b, d): model_copy(b, d); (d/'th.txt').write_text('\n'.join(['0.5']*19))
def rgb_images(b, d): model_copy(b, d); shutil.copytree(b/'z', d/'z')
def labels_2021(b, d): model_copy(b, d); shutil.copytree(b/'s21', d/'s21')
def bad_probs(b, d): _copyset(b, d); (d/'p.csv').write_text('id,nothing\na,b\n')

# rows: name of the bad input, setup, command + arguments ({d} = row folder, {b} = shared folder), expected words,
# optional file-size limit in bytes (a full disk) and files that existed before and must be unchanged
T = '--schedule full:1:1e-2 --bs 8 --n-folds 3 --arch resnet10t --quiet'
TABLE = [
    # hpa-synth
    dict(input='image size below the minimum', setup=None, cmd='hpa-synth --path {d}/x --n 4 --size 8 --quiet', expect='too small'),
    dict(input='output folder under a regular file', setup=file_in_the_way, cmd='hpa-synth --path {d}/afile/x --n 4 --size 32 --quiet', expect='afile'),
    dict(input='full disk (file-size limit)', setup=None, cmd='hpa-synth --path {d}/x --n 4 --size 32 --quiet', expect='file-size limit', limit=300),
    # hpa-train
    dict(input='missing image', setup=missing_image, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/o {T}', expect='have no usable image'),
    dict(input='corrupt (truncated) image', setup=corrupt_image, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/o {T}', expect='truncated or corrupt'),
    dict(input='channels of different sizes', setup=channel_sizes, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/o {T}', expect='different sizes'),
    dict(input='class id outside the classes', setup=bad_label, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/o {T}', expect='outside the 28'),
    dict(input='malformed CSV (unknown columns)', setup=malformed, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/o {T}', expect='match no known format'),
    dict(input='duplicate ids', setup=dup_ids, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/o {T}', expect='duplicate ids'),
    dict(input='path-traversal id', setup=traversal, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/o {T}', expect='is not a plain file name'),
    dict(input='output folder under a regular file', setup=file_in_the_way, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/afile/o {T}', expect='is a file, not a folder'),
    dict(input='full disk (file-size limit) at the first checkpoint', setup=existing, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/old {T}',
         expect='file-size limit', limit=200_000, keep=['old/export.pkl','old/model.safetensors']),
    dict(input='unknown --head', setup=_copyset, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/o {T} --head mlp', expect="head='mlp' is not one of linear, fastai"),
    dict(input='--resume of a folder with no checkpoint', setup=None, cmd='hpa-train --resume {d}/none --quiet', expect='there is no checkpoint'),
    # hpa-predict
    dict(input='non-existent model file', setup=_copyset, cmd='hpa-predict {d}/nope.pkl --images {d}/s/train --out {d}/p.csv --quiet', expect='does not exist'),
    dict(input='corrupt model file', setup=corrupt_pkl, cmd='hpa-predict {d}/bad.pkl --images {d}/s/train --out {d}/p.csv --quiet', expect='is not a fastai export'),
    dict(input='truncated safetensors', setup=truncated_safetensors, cmd='hpa-predict {d}/m --images {d}/s/train --out {d}/p.csv --quiet', expect='not a readable safetensors'),
    dict(input='weights and metadata with different class counts', setup=json_19_classes, cmd='hpa-predict {d}/m --images {d}/s/train --out {d}/p.csv --quiet', expect='has n_out 28, but its channels and classes give 19'),
    dict(input='model with 28 classes, 2021 format (19)', setup=model_copy, cmd='hpa-predict {d}/m --images {d}/s/train --fmt hpa2021 --out {d}/p.csv --quiet', expect='28 classes'),
    dict(input='19 thresholds for a 28-class model', setup=thresh_19, cmd='hpa-predict {d}/m --images {d}/s/train --thresh {d}/th.txt --out {d}/p.csv --quiet', expect='has 19 thresholds'),
    dict(input='RGB images (no yellow) for an RGBY model', setup=rgb_images, cmd='hpa-predict {d}/m --images {d}/z/train --out {d}/p.csv --quiet', expect='yellow'),
    dict(input='missing image', setup=lambda b,d: (model_copy(b,d), (d/'s/train'/f'{_first(d)}_green.png').unlink()),
         cmd='hpa-predict {d}/m --images {d}/s/train --out {d}/p.csv --quiet', expect='green'),
    dict(input='corrupt (truncated) image', setup=lambda b,d: (model_copy(b,d), (d/'s/train'/f'{_first(d)}_blue.png').write_bytes(b'\x89PNG\r\n')),
         cmd='hpa-predict {d}/m --images {d}/s/train --out {d}/p.csv --quiet', expect='truncated or corrupt'),
    dict(input='path-traversal id in the id list', setup=lambda b,d: (model_copy(b,d), (d/'ids.csv').write_text('Id,Predicted\n../../etc/passwd,\n')),
         cmd='hpa-predict {d}/m --images {d}/s/train --csv {d}/ids.csv --out {d}/p.csv --quiet', expect='is not a plain file name'),
    dict(input='duplicate ids in the id list', setup=lambda b,d: (model_copy(b,d), (d/'ids.csv').write_text(f'Id,Predicted\n{_first(d)},\n{_first(d)},\n')),
         cmd='hpa-predict {d}/m --images {d}/s/train --csv {d}/ids.csv --out {d}/p.csv --quiet', expect='duplicate ids'),
    dict(input='output folder under a regular file', setup=lambda b,d: (model_copy(b,d), (d/'afile').write_text('x')),
         cmd='hpa-predict {d}/m --images {d}/s/train --out {d}/afile/p.csv --quiet', expect='is a file, not a folder'),
    dict(input='full disk (file-size limit) writing the submission', setup=lambda b,d: (existing(b,d), shutil.copytree(b/'m', d/'m', ignore=shutil.ignore_patterns('checkpoints'))),
         cmd='hpa-predict {d}/m --images {d}/s/train --out {d}/sub.csv --quiet', expect='file-size limit', limit=400, keep=['sub.csv']),
    # hpa-evaluate
    dict(input='non-existent label table', setup=None, cmd='hpa-evaluate --labels {d}/none.csv --probs {d}/p.csv --out {d}/rep', expect='does not exist'),
    dict(input='malformed probabilities CSV', setup=bad_probs, cmd='hpa-evaluate --labels {d}/s/train.csv --probs {d}/p.csv --out {d}/rep', expect='p.csv'),
    dict(input='model with 28 classes, labels with 19', setup=labels_2021, cmd='hpa-evaluate --labels {d}/s21/train.csv --model {d}/m --images {d}/s21/train --out {d}/rep', expect='differ from the 19 classes'),
    dict(input='full disk (file-size limit) writing the report', setup=lambda b,d: (existing(b,d), pd.DataFrame({'Id':pd.read_csv(d/'s/train.csv').Id, 'Predicted':'0'}).to_csv(d/'subm.csv', index=False)),
         cmd='hpa-evaluate --labels {d}/s/train.csv --submission {d}/subm.csv --out {d}/rep', expect='file-size limit', limit=60, keep=['rep/metrics.json']),
    # the other helpers' commands
    dict(input='non-existent image folder', setup=None, cmd='hpa-prep {d}/no_such_folder --out {d}/c --quiet', expect='no_such_folder'),
    dict(input='non-existent label table', setup=None, cmd='hpa-download --csv {d}/no_such.csv --out {d}/v18 --quiet', expect='no_such.csv'),
    dict(input='non-existent image folder', setup=None, cmd='hpa-dupes {d}/no_such_folder --out {d}/d.csv --quiet', expect='no_such_folder'),
]
SKIP = [  # --skip-bad: the run goes on without the bad samples and lists them
    dict(input='corrupt image, --skip-bad', setup=corrupt_image, cmd=f'hpa-train --csv {{d}}/s/train.csv --out {{d}}/o --skip-bad {T}', report='o/skipped.csv'),
    dict(input='corrupt image, --skip-bad', setup=lambda b,d: (model_copy(b,d), (d/'s/train'/f'{_first(d)}_blue.png').write_bytes(b'\x89PNG\r\n')),
         cmd='hpa-predict {d}/m --images {d}/s/train --out {d}/p.csv --skip-bad --quiet', report='p_skipped.csv'),
]

def _limit(n):
    def f():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    return f

def _setup(row, b, d):
    "Make the row's folder and its bad input; the bytes of the files that must survive"
    d.mkdir(parents=True, exist_ok=True)
    if row.get('setup'): row['setup'](b, d)
    return {k:(d/k).read_bytes() for k in row.get('keep', [])}

def _start(row, b, d):
    "A row with a file-size limit: the installed console script in a new process under the limit, started now"
    return start(*row['cmd'].format(d=d, b=b).split(), cwd=d, preexec_fn=_limit(row['limit']), env={**os.environ, 'HPA_DEBUG':''})

def _short(cmd, d): return cmd.split()[0] + ' ' + ' '.join(o.replace(str(d)+'/', '') for o in cmd.split()[1:])

@pytest.mark.slow
def test_sweep(base, tmp_path):
    rows = [dict(r, i=i, d=tmp_path/f'row{i}') for i,r in enumerate(TABLE+SKIP)]
    before = {r['i']:_setup(r, base, r['d']) for r in rows if r.get('limit')}
    procs = {r['i']:_start(r, base, r['d']) for r in rows if r.get('limit')}
    res = {}
    for r in rows:
        if r.get('limit'): continue
        before[r['i']] = _setup(r, base, r['d'])
        res[r['i']] = main(*r['cmd'].format(d=r['d'], b=base).split(), cwd=r['d'], env={'HPA_DEBUG':''})
    res |= {i:p.result() for i,p in procs.items()}
    fails,table = [],[]
    for row in rows:
        r,d = res[row['i']],row['d']
        cmd_ = _short(row['cmd'], d).replace(str(base)+'/', '')
        if 'report' in row:   # --skip-bad: exit 0, the bad sample listed in the report
            if r.returncode!=0 or not (d/row['report']).exists():
                fails.append(f"{row['input']} | {row['cmd']} -> rc {r.returncode}, stderr: {r.stderr[-1500:]}"); continue
            bad = pd.read_csv(d/row['report'])
            if bad.id.tolist()!=[_first(d)] or 'truncated or corrupt' not in bad.reason[0]: fails.append(f"{row['input']}: {row['report']} holds {bad.to_dict('records')}")
            table.append((row['input'], cmd_, f"exit 0; skipped listed in {row['report']}: " + bad.reason[0].replace(str(d)+'/', '')))
            continue
        msg = r.stderr.strip()
        table.append((row['input'], cmd_, ' '.join(msg.replace(str(d)+'/', '').split())))
        if r.returncode==0 or 'Traceback' in r.stderr or row['expect'] not in r.stderr or '\n\n' in msg:
            fails.append(f"{row['input']} | {row['cmd']} -> rc {r.returncode}, stderr: {r.stderr[-1500:]}")
        if row.get('limit') and (r.returncode!=1 or len(msg.splitlines())!=1 or not msg.startswith(row['cmd'].split()[0]+': ')):
            fails.append(f"{row['input']} | {row['cmd']}: the console script did not end with one line '<script>: ...' and status 1: rc {r.returncode}, stderr: {r.stderr[-1500:]}")
        for k,v in before[row['i']].items():
            if (d/k).read_bytes()!=v: fails.append(f"{row['input']}: {k}, which existed before, was changed")
        if list(d.rglob('.*.tmp*')): fails.append(f"{row['input']}: temporary files left: {list(d.rglob('.*.tmp*'))}")
    md = '| input | command | message |\n|---|---|---|\n' + '\n'.join(f'| {a} | `{b}` | {c} |' for a,b,c in table) + '\n'
    (tmp_path/'sweep.md').write_text(md)
    print(f'\n{md}\n(written to {tmp_path/"sweep.md"})')
    assert not fails, '\n\n'.join(fails)
    assert len(table)==len(TABLE)+len(SKIP) and all(c for _,_,c in table)

def test_hpa_debug_keeps_the_traceback(base, tmp_path):
    "HPA_DEBUG=1: a bad input ends with the traceback of the library's error instead of the one line"
    r = main('hpa-predict', tmp_path/'nope.pkl', '--images', base/'s/train', '--out', tmp_path/'p.csv', '--quiet', env={'HPA_DEBUG':'1'})
    assert r.returncode==1 and 'Traceback' in r.stderr and f'HPADataError: Model {tmp_path/"nope.pkl"} does not exist' in r.stderr, r.stderr
