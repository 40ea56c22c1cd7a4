"""End-to-end checks of `hpa-synth`, run in this process (the library itself is tested in nbs/03_synth.ipynb; the installed
console script, in a new process, in test_sweep.py)"""
import pandas as pd
from PIL import Image

from helpers import main, ok, fails

def test_hpa2018(tmp_path):
    r = ok(main('hpa-synth', '--path', tmp_path/'s', '--n', 12, '--size', 48, '--quiet'))
    assert r.stdout.strip().startswith('hpa-synth: wrote 12 hpa2018 images')
    df = pd.read_csv(tmp_path/'s/train.csv', dtype=str)
    assert df.columns.tolist()==['Id','Target'] and len(df)==12
    for i in df.Id:
        for c in ('red','green','blue','yellow'):
            im = Image.open(tmp_path/f's/train/{i}_{c}.png')
            assert (im.mode, im.size)==('L', (48,48))

def test_z2g_deterministic(tmp_path):
    for d in ('a','b'): ok(main('hpa-synth', '--path', tmp_path/d, '--n', 5, '--fmt', 'z2g', '--size', 40, '--quiet'))
    df = pd.read_csv(tmp_path/'a/train.csv', dtype=str)
    assert df.columns.tolist()==['Image','Label'] and all(o.isdigit() for o in df.Image)
    for p in sorted((tmp_path/'a').rglob('*.*')): assert p.read_bytes()==(tmp_path/'b'/p.relative_to(tmp_path/'a')).read_bytes()

def test_bad_options(tmp_path):
    "One line `hpa-synth: ...` and status 1, and nothing written"
    for args,msg in [(('--fmt','hpa2019'), 'Unknown format'), (('--n','0'), '--n 0 is out of range'), (('--size','8'), 'too small')]:
        fails(main('hpa-synth', '--path', tmp_path/'x', '--quiet', *args), msg)
    assert not (tmp_path/'x').exists()

def test_existing_data_set(tmp_path):
    "A folder holding someone else's data set is refused (nothing touched); the same hpa-synth run again is not; --force writes over theirs and keeps their other files"
    args = ('--n', 4, '--size', 32, '--quiet')
    (tmp_path/'theirs'/'train').mkdir(parents=True)
    (tmp_path/'theirs'/'train.csv').write_text('Id,Target\nmine,0\n')
    (tmp_path/'theirs'/'train'/'mine_red.png').write_bytes(b'my image')
    fails(main('hpa-synth', '--path', tmp_path/'theirs', *args),
          f"Folder {tmp_path/'theirs'} already holds a data set that hpa-synth did not make: a label table train.csv and 1 file(s) in train/; pass --force to replace it, or choose another --path.")
    assert (tmp_path/'theirs'/'train.csv').read_text()=='Id,Target\nmine,0\n' and not (tmp_path/'theirs'/'synth.json').exists()
    ok(main('hpa-synth', '--path', tmp_path/'s', *args))
    ok(main('hpa-synth', '--path', tmp_path/'s', *args))
    fails(main('hpa-synth', '--path', tmp_path/'s', '--seed', 1, *args), 'made by hpa-synth with other parameters (seed 42, not 1)')
    from hpa_fastai.cli import hpa_synth
    import inspect
    if 'force' not in inspect.signature(hpa_synth).parameters: return   # --force: added to the console script in nbs/16_cli
    ok(main('hpa-synth', '--path', tmp_path/'theirs', '--force', *args))
    assert len(pd.read_csv(tmp_path/'theirs'/'train.csv'))==4 and (tmp_path/'theirs'/'train'/'mine_red.png').read_bytes()==b'my image'

def test_hpa2021_cells(tmp_path):
    "hpa2021 also writes the single-cell truth: a 16-bit mask per image in masks/ and cells.csv, whose union per image is train.csv"
    ok(main('hpa-synth', '--path', tmp_path/'s', '--n', 6, '--fmt', 'hpa2021', '--size', 40, '--quiet'))
    df,cells = pd.read_csv(tmp_path/'s/train.csv', dtype=str),pd.read_csv(tmp_path/'s/cells.csv', dtype=str)
    assert cells.columns.tolist()==['ID','cell','Label'] and set(cells.ID)==set(df.ID)
    for i,l in zip(df.ID, df.Label):
        im = Image.open(tmp_path/f's/masks/{i}.png')
        assert (im.mode, im.size)==('I;16', (40,40))
        union = {o for s in cells.Label[cells.ID==i] for o in s.split('|')} - {'18'}
        assert set(l.split('|'))==(union or {'18'})
