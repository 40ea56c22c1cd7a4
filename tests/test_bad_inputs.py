"Every bad input named in the foundation issue gets an `HPADataError` whose sentence names the file, row or option."
import numpy as np, pytest
from PIL import Image
from hpa_fastai.all import HPADataError, read_labels, open_hpa, RGBYBlock

def _sample(folder, id, size=16, stains=('red','green','blue','yellow'), ext='png'):
    for c in stains: Image.fromarray(np.full((size,size), 100, np.uint8)).save(folder/f'{id}_{c}.{ext}')

def _csv(tmp_path, text, name='t.csv'):
    (tmp_path/name).write_text(text)
    return tmp_path/name

def test_missing_channel(tmp_path):
    _sample(tmp_path, 'a', stains=('red','green','blue'))
    with pytest.raises(HPADataError, match=r"Sample 'a' in .* is missing its yellow channel: no a_yellow\.png"): open_hpa(tmp_path/'a')

def test_missing_sample_and_folder(tmp_path):
    with pytest.raises(HPADataError, match="No image for id 'zz'"): open_hpa(tmp_path/'zz')
    with pytest.raises(HPADataError, match="Image folder .*nope does not exist"): open_hpa(tmp_path/'nope'/'zz')

@pytest.mark.parametrize('ext', ['png','jpg'])
def test_truncated(tmp_path, ext):
    _sample(tmp_path, 'a', size=64, ext=ext)
    fn = tmp_path/f'a_blue.{ext}'
    fn.write_bytes(fn.read_bytes()[:len(fn.read_bytes())//2])
    with pytest.raises(HPADataError, match=rf"Cannot read image .*a_blue\.{ext}: the file is truncated or corrupt"): open_hpa(tmp_path/'a')

def test_corrupt(tmp_path):
    _sample(tmp_path, 'a')
    (tmp_path/'a_green.png').write_bytes(b'this is not a png at all')
    with pytest.raises(HPADataError, match=r"a_green\.png: the file is truncated or corrupt"): open_hpa(tmp_path/'a')

def test_channel_sizes(tmp_path):
    _sample(tmp_path, 'a')
    Image.fromarray(np.zeros((8,16), np.uint8)).save(tmp_path/'a_yellow.png')
    with pytest.raises(HPADataError, match=r"different sizes: .*yellow 16x8 \(a_yellow\.png\)"): open_hpa(tmp_path/'a')

def test_bad_channels_option():
    with pytest.raises(HPADataError, match=r"channels='rgbk'"): RGBYBlock('rgbk')

@pytest.mark.parametrize('text,msg', [
    ('Id,Target\na,0\nb,28\n',          r"t\.csv row 3 \(id b\): class 28 in Target='28' is outside the 28"),
    ('Id,Target\na,0\nb,\n',            r"t\.csv row 3 \(id b\): the Target cell is empty"),
    ('ID,Label\na,1 2\n',               r"t\.csv row 2 \(id a\): '1 2' .*separated by '\|'"),
    ('Id,Target\na,-1\n',               r"row 2 \(id a\): '-1' in Target='-1' is not a class id"),
    ('Name,Tags\na,0\n',                r"t\.csv has columns \['Name', 'Tags'\], which match no known format"),
    ('Id\na\n',                         r"t\.csv has columns \['Id'\]"),
    ('Id,Target\na,0\nb,1\na,2\n',      r"duplicate ids: 'a' appears on rows 2, 4"),
    ('Id,Target\n../../etc/passwd,0\n', r"t\.csv row 2: id '\.\./\.\./etc/passwd' is not a plain file name"),
    ('Id,Target\nsub/a,0\n',            r"row 2: id 'sub/a' is not a plain file name"),
    ('Id,Target\n',                     r"has a header but no rows"),
    ('',                                r"t\.csv is empty"),
])
def test_bad_tables(tmp_path, text, msg):
    with pytest.raises(HPADataError, match=msg): read_labels(_csv(tmp_path, text))

def test_missing_table(tmp_path):
    with pytest.raises(HPADataError, match=r"Label table .*none\.csv does not exist"): read_labels(tmp_path/'none.csv')

def test_forced_format_missing_column(tmp_path):
    with pytest.raises(HPADataError, match=r"lacks column\(s\) \['ID', 'Label'\]"): read_labels(_csv(tmp_path, 'Id,Target\na,0\n'), fmt='hpa2021')

def test_error_is_one_sentence_not_traceback(tmp_path):
    "The message alone is enough: it names the file and row, and is a ValueError for callers that catch those"
    try: read_labels(_csv(tmp_path, 'Id,Target\na,99\n'))
    except ValueError as e: assert 't.csv row 2' in str(e) and '\n' not in str(e)
    else: pytest.fail('no error raised')

import os, re, socket, struct, tifffile, torch
from hpa_fastai.all import open_item, read_image, to_uint8, verify_samples, MAX_PIXELS
import pandas as pd

def _sock(p): s = socket.socket(socket.AF_UNIX); s.bind(str(p)); s.close()

@pytest.mark.parametrize('make,msg', [
    (os.mkfifo, 'is a FIFO (named pipe), not an image file'),
    (_sock, 'is a socket, not an image file'),
    (os.mkdir, 'is a folder, not an image file'),
    (lambda p: os.symlink(p.parent/'gone.png', p), 'is a symbolic link to'),
    (lambda p: p.touch(), 'is empty (0 bytes)'),
], ids=['fifo','socket','folder','dangling-link','empty'])
def test_special_files(tmp_path, make, msg):
    "A special file in place of a stain is named, per sample, and never blocks (a FIFO with no writer would)"
    _sample(tmp_path, 'a')
    fn = tmp_path/'a_green.png'; fn.unlink(); make(fn)
    with pytest.raises(HPADataError, match=r"a_green\.png "+re.escape(msg)): open_hpa(tmp_path/'a')
    with pytest.raises(HPADataError, match=r"a_green\.png "+re.escape(msg)): open_item(fn)
    assert verify_samples(pd.DataFrame({'id':['a']}), tmp_path).reason[0].count('a_green.png')==1

def test_device_and_long_names(tmp_path):
    with pytest.raises(HPADataError, match='/dev/null is a character device'): read_image('/dev/null')
    with pytest.raises(HPADataError, match='is too long: its file names would have'): open_hpa(tmp_path/('x'*300))
    with pytest.raises(HPADataError, match=r'is too long \(304 bytes\) for the file system'): read_image(tmp_path/('x'*300+'.png'))

@pytest.mark.parametrize('w', [8200, 10000, 20000])
def test_png_bomb(tmp_path, w):
    "A 1-bit PNG of w x w pixels (a few KB) is refused before it is decoded, at every size: our limit, PIL's warning, PIL's error"
    Image.new('1', (w, w)).save(tmp_path/'a_green.png')
    assert (tmp_path/'a_green.png').stat().st_size < 2**20
    with pytest.raises(HPADataError, match=r'a_green\.png .*decompression bomb'): read_image(tmp_path/'a_green.png')

def test_npy_headers(tmp_path):
    "A header claiming 3.6 TiB in a small file, and an object array, are refused without allocating or unpickling"
    h = b"{'descr': '|u1', 'fortran_order': False, 'shape': (4, 1000000, 1000000), }"; h += b' '*(63-(len(h)+10)%64)+b'\n'
    (tmp_path/'a.npy').write_bytes(b'\x93NUMPY\x01\x00'+struct.pack('<H', len(h))+h+b'\0'*64)
    with pytest.raises(HPADataError, match=r'a\.npy: the file is truncated or corrupt \(64 bytes of data where the header promises 4000000000000'): open_item(tmp_path/'a.npy')
    np.save(tmp_path/'o.npy', np.array([{'x': 1}], dtype=object), allow_pickle=True)
    with pytest.raises(HPADataError, match=r'o\.npy: it holds an array of object'): open_item(tmp_path/'o.npy')

@pytest.mark.parametrize('dt', ['uint8','int8','uint16','int16','uint32','int32','uint64','int64','float16','float32','float64'])
def test_dtype_rule(tmp_path, dt):
    "Every dtype: its range from the dtype, never from max(); out of range, NaN and inf refused naming the file"
    x = np.tile(np.array([[0, 50], [100, 127]]), (4, 4))   # 8x8: a sample's side is at least MIN_SIDE pixels
    flt,b16 = np.dtype(dt).kind=='f',np.dtype(dt).itemsize==2 and np.dtype(dt).kind!='f'
    a = (x/255 if flt else x*257 if b16 else x).astype(dt)
    np.save(tmp_path/'p.npy', a)
    assert np.array_equal(open_item(tmp_path/'p.npy', 'g')[0], x.astype(np.uint8))
    assert np.array_equal(open_item(torch.from_numpy(a) if dt not in ('uint32','uint64') else a, 'g')[0], x.astype(np.uint8))
    if flt:
        for v,m in ((np.nan, 'has 1 NaN or infinite'), (np.inf, 'has 1 NaN or infinite'), (2., r'has values [0-9.]+\.\.2\.0, outside 0\.\.1')):
            b = a.copy(); b[0,0] = v; np.save(tmp_path/'q.npy', b)
            with pytest.raises(HPADataError, match=rf'q\.npy \({dt}\) {m}'): open_item(tmp_path/'q.npy', 'g')
    else:
        hi = 65535 if b16 else 255
        if np.iinfo(dt).max>hi:
            np.save(tmp_path/'q.npy', np.tile(np.array([[0, hi+1]], dt), (8, 4)))
            with pytest.raises(HPADataError, match=rf'q\.npy \({dt}\) has values 0\.\.{hi+1}, outside 0\.\.{hi}'): open_item(tmp_path/'q.npy', 'g')

def test_16bit_png_and_float_tiff(tmp_path):
    Image.fromarray(np.tile(np.array([[0, 257, 65535]], np.uint16), (8, 3))).save(tmp_path/'a_green.png')   # 8x9: at least MIN_SIDE
    assert open_item(tmp_path/'a_green.png', 'g').tolist()==[np.tile([[0, 1, 255]], (8, 3)).tolist()]
    f = np.zeros((8, 9), np.float32); f[0,1],f[0,2] = .5,np.nan
    tifffile.imwrite(tmp_path/'b_green.tif', f)
    with pytest.raises(HPADataError, match=r'b_green\.tif \(float32\) has 1 NaN'): open_item(tmp_path/'b_green.tif', 'g')
