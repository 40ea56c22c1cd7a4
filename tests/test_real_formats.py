"Every real format in ../shared/data loads with the right shapes, dtypes, value ranges and labels."
import numpy as np, torch, pytest
from hpa_fastai.all import HPADataError, read_labels, class_counts, TensorImageRGBY

def _check(x, c, hw):
    assert isinstance(x, TensorImageRGBY) and x.dtype==torch.uint8
    assert tuple(x.shape)==(c, *hw)
    assert 0 <= int(x.min()) < int(x.max()) <= 255          # real signal, not an empty or saturated plane

def test_hpa2018(shared):
    df = read_labels(shared/'hpa2018/train.csv')
    assert df.attrs['fmt']=='hpa2018' and len(df)==64
    assert all(1<=len(o)<=28 and all(0<=i<28 for i in o) for o in df.labels)
    for i in df.id[:8]: _check(TensorImageRGBY.create(shared/'hpa2018/train'/i), 4, (512,512))
    x = TensorImageRGBY.create(shared/'hpa2018/train'/df.id[0], 'g', size=128)
    _check(x, 1, (128,128))
    full = np.stack([np.asarray(__import__('PIL.Image').Image.open(shared/'hpa2018/train'/f'{df.id[0]}_green.png'))])
    assert np.array_equal(TensorImageRGBY.create(shared/'hpa2018/train'/df.id[0], 'g').numpy(), full)

def test_hpa2018_tables(shared):
    df = read_labels(shared/'hpa2018/labels/train_full.csv')
    assert len(df)==31072 and sum(27 in o for o in df.labels)==11
    assert [sum(i in o for o in df.labels) for i in range(28)]==class_counts('hpa2018')
    sub = read_labels(shared/'hpa2018/labels/sample_submission.csv', labelled=False)
    assert len(sub)==11702 and list(sub.columns)==['id','Predicted']

def test_hpav18(shared):
    df = read_labels(shared/'hpav18/labels.csv')
    assert df.attrs['fmt']=='hpa2018' and len(df)==11
    full = df[df.channels_present.str.split().str.len()==4]
    assert len(full)==8
    for i in full.id[:3]:
        x = TensorImageRGBY.create(shared/'hpav18/images'/i, size=512)
        _check(x, 4, (512,512))
    # the stain's own colour plane: green comes from G of the green JPEG, yellow from mean(R,G)
    from PIL import Image
    i = full.id.iloc[0]
    g = np.asarray(Image.open(shared/'hpav18/images'/f'{i}_green.jpg'))
    y = np.asarray(Image.open(shared/'hpav18/images'/f'{i}_yellow.jpg'))
    x = TensorImageRGBY.create(shared/'hpav18/images'/i, 'gy').numpy()
    assert np.array_equal(x[0], g[...,1])
    assert np.array_equal(x[1], ((y[...,0].astype(int)+y[...,1])//2).astype(np.uint8))
    for _,r in df[df.channels_present.str.split().str.len()<4].iterrows():
        with pytest.raises(HPADataError, match='missing its'): TensorImageRGBY.create(shared/'hpav18/images'/r.id)
    assert len(read_labels(shared/'hpav18/HPAv18RBGY_wodpl.csv'))==74606

def test_hpa2021(shared):
    df = read_labels(shared/'hpa2021/labels.csv')
    assert df.attrs['fmt']=='hpa2021' and len(df)==7 and len(df.attrs['classes'])==19
    assert all(all(0<=i<19 for i in o) for o in df.labels)
    assert df.labels[0]==[8,5,0]
    for i in df.id: _check(TensorImageRGBY.create(shared/'hpa2021/images'/i, size=256), 4, (256,256))
    assert len(read_labels(shared/'hpa2021/train_full.csv'))==21806

def test_z2g(shared):
    df = read_labels(shared/'z2g/train_full.csv')
    assert df.attrs['fmt']=='z2g' and len(df)==19236 and all(all(0<=i<10 for i in o) for o in df.labels)
    _check(TensorImageRGBY.create(shared/'z2g/test/10034', 'rgb'), 3, (512,512))
    with pytest.raises(HPADataError, match="no yellow"): TensorImageRGBY.create(shared/'z2g/test/10034')
