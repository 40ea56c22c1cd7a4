"""Models out to other tools (`hpa_fastai.interop`): `hpa-export` (installed as a console script) writes a bioimage.io
package of the shared model that `bioimageio.core`'s own `test_model` passes (each weight format reproduces the test
output at batch sizes 1 and 2); the ONNX file predicts without torch or fastai (`hpa_fastai/onnx_predict.py` copied alone beside it, the two
imports blocked) and writes the submission `hpa-predict` writes. Skipped without the `interop` extra
(`pip install "hpa_fastai[interop]"`)."""
import shutil, subprocess, sys, zipfile, pytest
pytest.importorskip('onnx'); pytest.importorskip('onnxruntime'); pytest.importorskip('bioimageio.core')

BLOCKED = """
import sys, runpy
sys.modules.update(torch=None, fastai=None, hpa_fastai=None)   # `import torch` now raises ImportError
sys.argv = ['onnx_predict.py', *sys.argv[1:]]
runpy.run_path('onnx_predict.py', run_name='__main__')
assert not {'torch','fastai','hpa_fastai'} & {k for k,v in sys.modules.items() if v is not None}
"""

@pytest.mark.slow
def test_bioimageio_package(model, tmp_path):
    "`hpa-export` (in this process) writes the package; `test_model` passes every weight format; a licence that is not SPDX is refused"
    from importlib.metadata import entry_points
    from bioimageio.core import test_model
    from hpa_fastai.interop import hpa_export
    assert {'hpa-export': 'hpa_fastai.interop:hpa_export'}.items() <= {e.name:e.value for e in entry_points(group='console_scripts')}.items()
    fn = hpa_export.__wrapped__(str(model), to='bioimageio', out=str(tmp_path/'pkg.zip'), author='A. Biologist')
    assert fn==tmp_path/'pkg.zip'
    names = sorted(zipfile.ZipFile(tmp_path/'pkg.zip').namelist())
    assert names==['README.md', 'cover.png', 'environment.yaml', 'hpa_net.py', 'rdf.yaml', 'sample_input.tif', 'sample_output.tif',
                   'test_input.npy', 'test_output.npy', 'weights.onnx', 'weights.pt', 'weights_torchscript.pt']
    readme = zipfile.ZipFile(tmp_path/'pkg.zip').read('README.md').decode()
    assert '## Validation: macro F1' in readme and '## Using this package' in readme   # the model folder's own MODEL.md, with its scores
    s = test_model(tmp_path/'pkg.zip', devices=['cpu'])
    lines = [f"{d.status:7} {d.name}" for d in s.details]
    print(f"bioimageio.core test_model: {s.status}, {len(lines)} checks\n" + '\n'.join(lines))
    assert s.status=='passed', '\n'.join(lines)
    assert {f"Reproduce test outputs from test inputs ({w})" for w in ('onnx', 'pytorch_state_dict', 'torchscript')} <= {d.name for d in s.details}
    with pytest.raises(SystemExit, match="hpa-export: --license 'my licence' is not an SPDX licence id"):
        hpa_export.__wrapped__(str(model), to='bioimageio', out=str(tmp_path/'b.zip'), license='my licence')
    assert not (tmp_path/'b.zip').exists()

def test_onnx_without_torch(model, synth, tmp_path):
    "`onnx_predict.py` alone, with torch, fastai and hpa_fastai unimportable, writes `hpa-predict`'s submission and probabilities"
    import hpa_fastai.onnx_predict as op
    from hpa_fastai.interop import export_model
    from hpa_fastai.inference import predict_submission
    export_model(model, tmp_path/'model.onnx')
    shutil.copy(op.__file__, tmp_path/'onnx_predict.py')
    r = subprocess.run([sys.executable, '-c', BLOCKED, 'model.onnx', '--images', synth/'train', '--out', 'sub.csv', '--probs', 'probs.csv'],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr
    assert 'onnx_predict: wrote 40 predictions to sub.csv' in r.stdout
    predict_submission([model], images=synth/'train', out=tmp_path/'ref.csv', probs=tmp_path/'ref_probs.csv', progress=False)
    assert (tmp_path/'sub.csv').read_text()==(tmp_path/'ref.csv').read_text()
    import pandas as pd
    a,b = pd.read_csv(tmp_path/'probs.csv'),pd.read_csv(tmp_path/'ref_probs.csv')
    assert a.id.equals(b.id) and (a.iloc[:,1:]-b.iloc[:,1:]).abs().max().max()<=1e-4
