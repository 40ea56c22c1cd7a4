"End-to-end checks of the installed `hpa-synth` console script (the library itself is tested in nbs/02_synth.ipynb)"
import pandas as pd
from PIL import Image

from helpers import run as _run

def run(*args): return _run('hpa-synth', *args, timeout=120)

def test_hpa2018(tmp_path):
    r = run('--path', tmp_path/'s', '--n', 12, '--size', 48, '--quiet')
    assert r.returncode==0, r.stderr
    assert r.stdout.strip().startswith('hpa-synth: wrote 12 hpa2018 images')
    df = pd.read_csv(tmp_path/'s/train.csv', dtype=str)
    assert df.columns.tolist()==['Id','Target'] and len(df)==12
    for i in df.Id:
        for c in ('red','green','blue','yellow'):
            im = Image.open(tmp_path/f's/train/{i}_{c}.png')
            assert (im.mode, im.size)==('L', (48,48))

def test_z2g_deterministic(tmp_path):
    for d in ('a','b'): assert run('--path', tmp_path/d, '--n', 5, '--fmt', 'z2g', '--size', 40, '--quiet').returncode==0
    df = pd.read_csv(tmp_path/'a/train.csv', dtype=str)
    assert df.columns.tolist()==['Image','Label'] and all(o.isdigit() for o in df.Image)
    for p in sorted((tmp_path/'a').rglob('*.*')): assert p.read_bytes()==(tmp_path/'b'/p.relative_to(tmp_path/'a')).read_bytes()

def test_bad_options(tmp_path):
    for args,msg in [(('--fmt','hpa2019'), 'Unknown format'), (('--n','0'), 'at least 1 image'), (('--size','8'), 'too small')]:
        r = run('--path', tmp_path/'x', '--quiet', *args)
        assert r.returncode!=0
        assert 'Traceback' not in r.stderr
        assert r.stderr.strip().startswith('hpa-synth:') and msg in r.stderr and len(r.stderr.strip().splitlines())==1
    assert not (tmp_path/'x').exists()
