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
    for args,msg in [(('--fmt','hpa2019'), 'Unknown format'), (('--n','0'), 'at least 1 image'), (('--size','8'), 'too small')]:
        fails(main('hpa-synth', '--path', tmp_path/'x', '--quiet', *args), msg)
    assert not (tmp_path/'x').exists()
