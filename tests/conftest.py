import os, pytest
from helpers import SHARED
# One torch thread per process, in this one and in every script the tests start: the tests' images are tiny, and on a
# machine of 2 cores two threads per process (a script running beside this process, or anyone else's work) spend their
# time waiting for each other: 1 epoch of the shared model takes ~1.5 s with one thread and 7-10 s with two on a busy machine.
os.environ.setdefault('OMP_NUM_THREADS', '1')

@pytest.fixture(scope='session')
def shared():
    "The real HPA sample data beside the repo; tests that need it skip cleanly when it is absent"
    if not SHARED.is_dir(): pytest.skip(f'real HPA data not found at {SHARED}')
    return SHARED

@pytest.fixture(scope='session')
def synth(tmp_path_factory):
    "40 synthetic 32 px images in the 2018 format (`synth/train.csv`, `synth/train/`), shared read-only by the tests"
    from hpa_fastai.all import make_synth
    p = tmp_path_factory.mktemp('synth')
    make_synth(p, n=40, size=32, seed=3, progress=False)
    return p

@pytest.fixture(scope='session')
def trained(synth, tmp_path_factory):
    """The one trained model the tests share: resnet10t, 1 epoch on `synth`, exported to a folder (export.pkl, the safe pair,
    history.csv, per_class_f1.csv); `--size 32` is carried by the export, so real 512 px images are resized on load"""
    from hpa_fastai.all import train
    out = tmp_path_factory.mktemp('model')
    learn = train(synth/'train.csv', out=out, schedule='full:1:1e-2', size=32, bs=8, arch='resnet10t', workers=0, progress=False)
    return out, learn

@pytest.fixture(scope='session')
def model(trained):
    "The shared model's folder; tests read it and copy it, never change it"
    return trained[0]

@pytest.fixture(scope='session')
def learn(trained):
    "The shared model's `Learner` as `train` returned it; a test that changes it puts it back"
    return trained[1]

@pytest.fixture(scope='session')
def folds(synth, tmp_path_factory):
    """`hpa-train --folds all --n-folds 2` on `synth`, in this process: `folds.path` holds fold0/, fold1/ (two models of one
    data set that differ), oof.csv and thresholds.txt; `folds.run` is how the command ended, `folds.result` what it returned"""
    from types import SimpleNamespace
    from helpers import main, ok
    out = tmp_path_factory.mktemp('folds')
    r = ok(main('hpa-train', '--csv', synth/'train.csv', '--out', out, '--folds', 'all', '--n-folds', 2, '--schedule', 'full:1:1e-2',
                '--size', 32, '--bs', 8, '--arch', 'resnet10t', '--workers', 0, '--quiet'))
    return SimpleNamespace(path=out, run=r, result=r.result)
