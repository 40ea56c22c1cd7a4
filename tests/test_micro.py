"""A biologist's own microscope files (issue 19): the shared model's synthetic test images, re-written as OME-TIFFs with
their channels in another order, at half the model's pixel size (2x upsampled) and in a z-stack, are predicted by
`hpa-predict --stains ...` exactly as the PNGs they came from; without the right map they are not.

The command a user types: hpa-predict MODEL --images FOLDER --stains nucleus=0,protein=1,microtubules=2,er=3"""
import shutil, numpy as np, pandas as pd, pytest, tifffile
from PIL import Image
from hpa_fastai.micro import train_um_per_px
from helpers import main, ok, fails

STAINS = ('red','green','blue','yellow')
MAP = 'nucleus=0,protein=1,microtubules=2,er=3'     # the files' channel order below

@pytest.fixture(scope='module')
def dirs(synth, tmp_path_factory):
    "Six synthetic samples as PNGs (`png/`), and as OME-TIFFs: channels unnamed (`ome/`) and named (`named/`)"
    d = tmp_path_factory.mktemp('micro')
    ids = sorted(pd.read_csv(synth/'train.csv').iloc[:6, 0].astype(str))
    for o in ('png','ome','named'): (d/o).mkdir()
    um = train_um_per_px(32, 'hpa2018')              # the shared model's pixel size: it was trained at --size 32
    meta = dict(axes='ZCYX', PhysicalSizeX=um/2, PhysicalSizeXUnit='µm', PhysicalSizeY=um/2, PhysicalSizeYUnit='µm')
    for i in ids:
        for c in STAINS: shutil.copy(synth/'train'/f'{i}_{c}.png', d/'png')
        x = np.stack([np.asarray(Image.open(synth/'train'/f'{i}_{c}.png')) for c in STAINS])
        f = x[[2,1,0,3]].repeat(2, 1).repeat(2, 2)   # channels nucleus, protein, microtubules, ER; pixels of half the size
        zs = np.stack([f//3, f, f//2])               # a z-stack whose brightest plane is the image
        tifffile.imwrite(d/'ome'/f'{i}.ome.tif', zs, ome=True, metadata=meta)
        tifffile.imwrite(d/'named'/f'{i}.ome.tif', zs, ome=True, metadata={**meta, 'Channel': {'Name': ['DAPI', 'EGFP', 'alpha-tubulin', 'Calreticulin']}})
    return d

def probs(model, d, images, name, *args):
    "The probabilities `hpa-predict` writes for the images in `d/images` (extra options `args`)"
    ok(main('hpa-predict', model, '--images', d/images, '--out', d/f'{name}.csv', '--probs', d/f'{name}.npy', '--quiet', *args))
    return np.load(d/f'{name}.npy')

def test_show(model, dirs):
    "Mapped, max-projected and rescaled, the OME-TIFFs give the PNGs' probabilities; in the wrong order they do not"
    want = probs(model, dirs, 'png', 'png')
    np.testing.assert_allclose(probs(model, dirs, 'ome', 'ome', '--stains', MAP), want, atol=1e-5)
    np.testing.assert_allclose(probs(model, dirs, 'named', 'named'), want, atol=1e-5)    # the channel names decide
    np.testing.assert_allclose(probs(model, dirs, 'ome', 'z1', '--stains', MAP, '--z', 1), want, atol=1e-5)   # plane 1 is the image
    wrong = probs(model, dirs, 'ome', 'wrong', '--stains', 'microtubules=0,protein=1,nucleus=2,er=3')   # nucleus and microtubules swapped
    assert np.abs(wrong-want).max()>1e-3
    assert np.abs(probs(model, dirs, 'ome', 'z0', '--stains', MAP, '--z', 0)-want).max()>1e-3           # plane 0 is a third as bright
    assert pd.read_csv(dirs/'ome.csv').Id.tolist()==pd.read_csv(dirs/'png.csv').Id.tolist()

def test_bad_options(model, dirs):
    "Without a map, and with a bad one, hpa-predict says what is wrong in one sentence"
    run = lambda *a: main('hpa-predict', model, '--images', dirs/'ome', '--out', dirs/'bad.csv', '--quiet', *a)
    fails(run(), "pass --stains, e.g. --stains microtubules=0,protein=1,nucleus=2,er=3.")
    fails(run('--stains', 'golgi=1'), "--stains 'golgi=1': 'golgi' is not a stain")
    fails(run('--stains', 'protein=1,nucleus=1'), "maps channel 1 to both protein and nucleus")
    fails(run('--stains', 'nucleus=0,protein=7,microtubules=2,er=3'), "maps protein to channel 7, but")
    fails(run('--stains', 'nucleus=0,protein=1,microtubules=2'), "or pass er=zeros")
    fails(run('--stains', MAP, '--z', 3), "--z 3 is not a plane of")
    fails(run('--stains', MAP, '--z', 'top'), "--z 'top' is not a z-plane")
