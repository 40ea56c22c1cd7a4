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
