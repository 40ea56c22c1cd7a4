"A wheel built from the repo (what `pip install .` installs) carries the class tables and reads labels without the repo"
import os, shutil, subprocess, sys, textwrap, zipfile, pytest
from pathlib import Path

from helpers import ok
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PY = [sys.executable, '-m', 'pip', '-q', '--disable-pip-version-check']

@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    "Build the wheel from a copy of what the build reads (so no `build/` or egg-info lands in the repo), offline"
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp/'src'
    src.mkdir()
    for o in ('pyproject.toml', 'README.md'): shutil.copy(ROOT/o, src/o)
    for o in ('hpa_fastai', 'data'): shutil.copytree(ROOT/o, src/o, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    ok(subprocess.run([*PY, 'wheel', str(src), '--no-deps', '--no-build-isolation', '--no-index', '-w', str(tmp/'dist')],
                      capture_output=True, text=True, timeout=120))
    whl, = (tmp/'dist').glob('hpa_fastai-*.whl')
    return whl

def test_wheel_contents(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = next(z.read(o).decode() for o in names if o.endswith('.dist-info/METADATA'))
    for fmt in ('hpa2018', 'hpa2021', 'z2g'): assert f'hpa_fastai/tables/classes_{fmt}.csv' in names
    assert 'hpa_fastai/tables/__init__.py' in names and 'hpa_fastai/labels.py' in names
    reqs = [l.split(':',1)[1].strip() for l in meta.splitlines() if l.startswith('Requires-Dist:')]
    for r in ('numpy>=2', 'torch<=2.14.1,>=2.4', 'fastai>=2.8', 'safetensors>=0.4'): assert r in reqs, reqs

def test_installed_wheel_reads_labels(wheel, tmp_path):
    "Install the wheel alone into a folder and use it from outside the repo (the venv supplies the other packages)"
    site = tmp_path/'site'
    ok(subprocess.run([*PY, 'install', '--no-deps', '--no-index', '--target', str(site), str(wheel)],
                      capture_output=True, text=True, timeout=120))
    (tmp_path/'train.csv').write_text('Id,Target\na,16 0\nb,27\n')
    code = textwrap.dedent(f'''
        import hpa_fastai, hpa_fastai.labels as L
        from pathlib import Path
        site = Path({str(site)!r})
        assert Path(hpa_fastai.__file__).is_relative_to(site), hpa_fastai.__file__
        assert L.data_path()==site/'hpa_fastai'/'tables', L.data_path()
        df = L.read_labels('train.csv')
        assert df.labels.tolist()==[[16,0],[27]], df.labels.tolist()
        assert len(L.class_names('hpa2018'))==28 and len(L.class_names('hpa2021'))==19 and len(L.class_names('z2g'))==10
        print(df.names.tolist(), L.class_names('hpa2021')[0])''')
    env = os.environ | {'PYTHONPATH': str(site)}
    r = ok(subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120))
    assert r.stdout.strip()=="[['Cytokinetic bridge', 'Nucleoplasm'], ['Rods & rings']] Nucleoplasm", r.stdout
