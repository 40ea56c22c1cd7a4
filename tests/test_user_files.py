"""Outputs never overwrite a file of a run or a user's file of another kind, whatever option names it; tables are read as
spreadsheets write them; starting weights, model metadata and images that cannot work get one sentence, before any work.

Each case is a class of failure the hostile sweep found, tried through the console scripts (in this process) on copies,
with every file checked unchanged afterwards."""
import hashlib, json, shutil
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from helpers import main, ok, fails

def _keeps_roles()->bool:
    "Whether this machine's temporary folder keeps extended attributes, where hpa_fastai marks what it wrote (without them, files are told apart by their kind alone)"
    import os, tempfile
    with tempfile.NamedTemporaryFile() as f:
        try: os.setxattr(f.name, 'user.hpa_fastai', b'output'); return True
        except (OSError, AttributeError): return False

roles = pytest.mark.skipif(not _keeps_roles(), reason='no extended attributes here: a user\'s file is told from an output by its kind alone')

def ev(d, *args): return main('hpa-evaluate', *args, cwd=d)  # its default report folder, report/, in `d`

def _md5s(d)->dict: return {p:hashlib.md5(p.read_bytes()).hexdigest() for p in Path(d).rglob('*') if p.is_file()}

@pytest.fixture
def run(folds, tmp_path):
    "A copy of the `--folds all` run: fold<k>/ (each with checkpoints/last.pth, history.csv, MODEL.md, ...), oof.csv, thresholds.txt"
    shutil.copytree(folds.path, tmp_path/'run')
    return tmp_path/'run'

@pytest.fixture
def data(synth, tmp_path):
    "A copy of the shared synthetic set (train.csv, train/)"
    shutil.copytree(synth, tmp_path/'s')
    return tmp_path/'s'

@pytest.fixture(scope='module')
def set21(tmp_path_factory):
    "A synthetic HPA 2021 set (its label table, images, true cell masks and cell table: a data set's files) and a model trained on it, shared read-only"
    from hpa_fastai.all import make_synth, train
    d = tmp_path_factory.mktemp('s21')
    make_synth(d/'s', n=16, fmt='hpa2021', size=32, seed=1, progress=False)
    train(d/'s'/'train.csv', out=d/'m21', schedule='full:1:1e-2', size=32, bs=8, arch='resnet10t', workers=0, progress=False)
    return d/'s', d/'m21'

RUN_FILES = ['checkpoints/last.pth', 'history.csv', 'folds.csv', 'per_class_f1.csv', 'MODEL.md', 'model.json', 'export.pkl']

@pytest.mark.parametrize('f', RUN_FILES)
def test_export_spares_every_run_file(run, f):
    m,before = run/'fold0',_md5s(run)
    fails(main('hpa-export', m, '--to', 'onnx', '--out', m/f), 'outputs never overwrite')
    assert _md5s(run)==before

@pytest.mark.parametrize('f', ['oof.csv', 'thresholds.txt', 'fold1/history.csv', 'fold0/checkpoints/last.pth'])
def test_predict_spares_every_run_file(run, data, f):
    "An ensemble's root: its out-of-fold table, its thresholds and each fold's files are inputs of a prediction"
    before = _md5s(run)
    fails(main('hpa-predict', run/'fold0', run/'fold1', '--images', data/'train', '--out', run/f, '--quiet'), 'outputs never overwrite')
    assert _md5s(run)==before

@pytest.mark.parametrize('opt,f', [('--csv', 'oof.csv'), ('--csv', 'thresholds.txt'), ('--dupes', 'oof.csv'), ('--weights', 'checkpoints/last.pth')])
def test_train_inputs_are_not_its_outputs(data, tmp_path, opt, f):
    "A label table, a duplicate report or starting weights inside `--out`, under the name of a file the run writes"
    out = tmp_path/'m'; (out/f).parent.mkdir(parents=True)
    shutil.copy(data/'train.csv', out/f)
    args = ['--csv', data/'train.csv'] if opt!='--csv' else []
    before = _md5s(out)
    fails(main('hpa-train', *args, opt, out/f, '--out', out, '--images', data/'train', '--arch', 'resnet10t', '--no-pretrained', '--size', 32, '--quiet'),
          'outputs never overwrite')
    assert _md5s(out)==before

@roles
def test_a_file_of_another_kind_is_never_replaced(model, data, tmp_path):
    "A label table given as --hashes, notes given as --out: refused and unchanged; an earlier output of the same kind is replaced"
    lab = tmp_path/'labels.csv'; shutil.copy(data/'train.csv', lab)
    fails(main('hpa-dupes', data/'train', '--out', tmp_path/'d.csv', '--hashes', lab, '--quiet'), "holds a label table that hpa_fastai did not write")
    assert lab.read_bytes()==(data/'train.csv').read_bytes()
    notes = tmp_path/'notes.txt'; notes.write_text('my notes\n')
    fails(main('hpa-predict', model, '--images', data/'train', '--out', notes, '--quiet'), "first line is 'my notes'")
    assert notes.read_text()=='my notes\n'
    for _ in range(2): ok(main('hpa-predict', model, '--images', data/'train', '--out', tmp_path/'sub.csv', '--probs', tmp_path/'p.csv', '--quiet'))  # a rerun replaces its own

def test_reports_never_land_in_the_image_folder(model, data):
    before = _md5s(data)
    fails(main('hpa-evaluate', '--labels', data/'train.csv', '--model', model, '--images', data/'train', '--out', data/'train'), 'a folder the command reads')
    assert _md5s(data)==before

def test_tables_as_spreadsheets_write_them(data, tmp_path):
    "Trailing commas, a byte-order mark, CRLF, semicolons: read alike; an extra value or a column named twice: one sentence with the line"
    clean = ok(ev(tmp_path, '--labels', data/'train.csv', '--submission', data/'train.csv')).stdout
    rows = (data/'train.csv').read_text().splitlines()
    variants = {'trailing.csv': '\n'.join(r+',' for r in rows[1:]), 'excel.csv': '\r\n'.join(r.replace(',', ';') for r in rows[1:])}
    (tmp_path/'trailing.csv').write_text(rows[0]+'\n'+variants['trailing.csv']+'\n')
    (tmp_path/'excel.csv').write_bytes(('\ufeff'+rows[0].replace(',', ';')+'\r\n'+variants['excel.csv']+'\r\n').encode('utf-8'))
    for v in variants: assert ok(ev(tmp_path, '--labels', tmp_path/v, '--submission', data/'train.csv')).stdout==clean
    (tmp_path/'extra.csv').write_text('\n'.join(rows[:2]+[rows[2]+',7']+rows[3:])+'\n')
    fails(ev(tmp_path, '--labels', tmp_path/'extra.csv', '--submission', data/'train.csv'), 'line 3 has 3 cells but the header has 2 columns')
    p = tmp_path/'p.csv'; p.write_text('id,Nucleoplasm,Nucleoplasm\nx,0.1,0.9\n')
    fails(ev(tmp_path, '--labels', data/'train.csv', '--probs', p), "has the column 'Nucleoplasm' twice")
    d = tmp_path/'dupes.csv'; d.write_text(f'group,id,source,distance\n,{rows[1].split(",")[0]},train,0\n,{rows[2].split(",")[0]},train,0\n')
    fails(main('hpa-train', '--csv', data/'train.csv', '--dupes', d, '--out', tmp_path/'m', '--arch', 'resnet10t', '--no-pretrained', '--size', 32, '--quiet'), 'row 2 has an empty group')

def test_starting_weights_that_do_not_fit(model, data, tmp_path):
    "Text, a dict of anything, an hpa_fastai model, another architecture: one sentence each, before training starts"
    (tmp_path/'w.txt').write_text('hello')
    torch.save({'a': torch.zeros(3)}, tmp_path/'other.pth')
    import timm
    torch.save(timm.create_model('resnet18', num_classes=10).state_dict(), tmp_path/'r18.pth')
    common = ['--csv', data/'train.csv', '--arch', 'resnet10t', '--size', 32, '--bs', 8, '--workers', 0, '--schedule', 'full:1:1e-2', '--out', tmp_path/'m', '--quiet']
    for w,msg in [('w.txt', 'not a checkpoint that torch or safetensors can read'), ('other.pth', 'only 0 of the'),
                  (model/'model.safetensors', 'it is an hpa_fastai model'), ('r18.pth', "does not fit timm's 'resnet10t'"), ('none.pth', 'does not exist')]:
        fails(main('hpa-train', *common, '--weights', tmp_path/w), msg)

def test_model_metadata_out_of_range(model, data, tmp_path):
    m = tmp_path/'m'; shutil.copytree(model, m)
    meta = json.loads((m/'model.json').read_text()); meta['crop'] = [30000, 30000]; (m/'model.json').write_text(json.dumps(meta))
    fails(main('hpa-predict', m/'model.safetensors', '--images', data/'train', '--out', tmp_path/'s.csv', '--quiet'), 'crop 30000 in Model metadata')

def test_an_image_without_pixels(model, tmp_path):
    d = tmp_path/'imgs'; d.mkdir(); np.save(d/'x.npy', np.zeros((4, 0, 64), np.uint8))
    fails(main('hpa-predict', model, '--images', d, '--out', tmp_path/'s.csv', '--quiet'), 'has no pixels (shape (4, 0, 64))')

def test_download_needs_an_address(data, tmp_path):
    t = tmp_path/'v18.csv'; t.write_text('Id,Target\n1_a,0\n')
    fails(main('hpa-download', '--csv', t, '--out', tmp_path/'v', '--base-url', '', '--quiet'), "--base-url '' is not an http://")

def test_out_of_memory_is_a_sentence():
    from hpa_fastai.core import cli_errors
    with pytest.raises(SystemExit, match='hpa-x: not enough memory'):
        with cli_errors('hpa-x'): raise RuntimeError('[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can\'t allocate memory: you tried to allocate 4294967296 bytes.')

def test_grad_cam_of_a_views_head(data, tmp_path):
    "The default head of `hpa-train` runs its body once per view and turn, and an EfficientNet-family features body (the default's) loops over its stages itself: the heat map still comes"
    from hpa_fastai.all import train, grad_cam
    learn = train(data/'train.csv', out=tmp_path/'m', schedule='full:1:1e-2', size=32, bs=8, arch='mobilenetv2_050', head='views', workers=0, progress=False)
    x,_ = learn.dls.valid.one_batch()
    c = grad_cam(learn.model, x[:2], 0)
    assert c.shape==(2, 32, 32) and float(c.max())==1.

def test_package_folder_spares_a_users_folder(model, tmp_path):
    "A bioimage.io package written as a folder replaces an earlier package there, never a user's README.md or data"
    pytest.importorskip('bioimageio.spec')
    d = tmp_path/'mine'; d.mkdir(); (d/'README.md').write_text('# my project\n'); (d/'train.csv').write_text('Id,Target\nx,1\n')
    before = _md5s(d)
    fails(main('hpa-export', model, '--to', 'bioimageio', '--out', d), 'holds files that are not a bioimage.io package (e.g. README.md)')
    assert _md5s(d)==before

@roles
def test_a_long_prediction_refuses_before_it_starts(model, data, tmp_path):
    "A --probs or --out that may not be replaced is refused before any image is predicted: no submission is left behind"
    (tmp_path/'user.json').write_text('{"a": 1}')
    fails(main('hpa-predict', model, '--images', data/'train', '--out', tmp_path/'o.csv', '--probs', tmp_path/'user.json', '--quiet'), 'needs the extension .csv')
    shutil.copy(data/'train.csv', tmp_path/'p.csv')
    fails(main('hpa-predict', model, '--images', data/'train', '--out', tmp_path/'o.csv', '--probs', tmp_path/'p.csv', '--quiet'), "holds a label table that hpa_fastai did not write, not probabilities")
    assert not (tmp_path/'o.csv').exists()

@pytest.mark.parametrize('f', ['oof.csv', 'thresholds.txt', 'fold0/history.csv'])
def test_no_command_but_training_writes_a_run_file(run, model, data, f):
    "Another run's files are not this command's inputs, but they are a run's record: only hpa-train writes them"
    before = _md5s(run)
    fails(main('hpa-predict', model, '--images', data/'train', '--out', tmp := run.parent/'o.csv', '--probs' if f.endswith('.csv') else '--out', run/f, '--quiet'),
          'is a file of the training run in')
    assert _md5s(run)==before

@roles
def test_labels_in_a_submission_layout(set21, tmp_path):
    "HPA 2021's image labels (ID,Label) look exactly like its image-level submission: the data set's table is still never replaced, a submission is"
    s,m = set21
    before = _md5s(s)
    fails(main('hpa-predict', m, '--images', s/'train', '--out', s/'train.csv', '--quiet'), 'a label table that hpa_fastai wrote for a data set')
    assert _md5s(s)==before
    mine = tmp_path/'mine.csv'; shutil.copyfile(s/'train.csv', mine)   # a copy carries no mark: a user's own table
    fails(main('hpa-predict', m, '--images', s/'train', '--out', mine, '--quiet'), 'a label table that hpa_fastai did not write')
    for _ in range(2): ok(main('hpa-predict', m, '--images', s/'train', '--out', tmp_path/'sub.csv', '--quiet'))

@roles
def test_a_report_folder_is_checked_whole_before_writing(model, data, tmp_path):
    "A user's file among a report's names stops the report before its first file; the model's own folder is an input"
    ok(main('hpa-predict', model, '--images', data/'train', '--out', tmp_path/'s.csv', '--probs', tmp_path/'p.csv', '--quiet'))
    for f in ['per_class.csv', 'cam.png', 'metrics.json']:
        rep = tmp_path/f'rep_{f}'; rep.mkdir(); shutil.copyfile(data/'train.csv', rep/f)
        fails(main('hpa-evaluate', '--labels', data/'train.csv', '--probs', tmp_path/'p.csv', '--out', rep), 'hpa_fastai did not write it: a report never replaces')
        assert [o.name for o in rep.iterdir()]==[f]
    before = _md5s(model)
    fails(main('hpa-evaluate', '--labels', data/'train.csv', '--model', model, '--images', data/'train', '--out', model), 'a folder the command reads')
    assert _md5s(model)==before
    for _ in range(2): ok(main('hpa-evaluate', '--labels', data/'train.csv', '--probs', tmp_path/'p.csv', '--out', tmp_path/'rep'))  # its own report, rewritten

@roles
def test_masks_of_another_tool_are_kept(data, tmp_path):
    out = tmp_path/'masks'; out.mkdir()
    i = sorted(data.glob('train/*_blue.png'))[0].name[:-len('_blue.png')]
    shutil.copyfile(data/'train'/f'{i}_blue.png', out/f'{i}_cells.png')   # e.g. cellpose's, under the same name
    before = _md5s(out)
    fails(main('hpa-segment', data/'train', '--out', out, '--quiet'), 'hpa_fastai did not write it: hpa-segment never replaces')
    assert _md5s(out)==before
    for _ in range(2): ok(main('hpa-segment', data/'train', '--out', tmp_path/'m2', '--quiet'))

@roles
def test_a_data_sets_masks_are_kept(set21, tmp_path):
    "hpa-synth's true cell masks (what hpa-evaluate --cells scores against) are a data set's, even in the folder hpa-cells writes its masks to, even through a link"
    s,m = set21
    before = _md5s(s)
    fails(main('hpa-cells', m, s/'train', '--out', s, '--quiet'), 'holds a cells.csv that hpa-cells did not write')
    shutil.copytree(s/'masks', tmp_path/'d2'/'masks')   # the masks alone (a copy keeps what they are)
    fails(main('hpa-cells', m, s/'train', '--out', tmp_path/'d2', '--quiet'), 'is part of a data set: hpa-cells never replaces')
    (tmp_path/'e').mkdir(); (tmp_path/'e'/'masks').symlink_to(s/'masks')
    fails(main('hpa-cells', m, s/'train', '--out', tmp_path/'e', '--quiet'), 'is part of a data set')
    assert _md5s(s)==before
    fails(main('hpa-cells', m, s/'train', '--out', m, '--quiet'), 'a folder the command reads')

@roles
def test_a_cache_folder_of_someone_elses_files(data, tmp_path):
    "hpa-prep adopts the arrays a killed run of its own left, never a user's arrays or table of the same names"
    from hpa_fastai.all import read_labels
    ids = read_labels(data/'train.csv').id.tolist()
    d = tmp_path/'c'/'32'; d.mkdir(parents=True)
    np.save(d/f'{ids[0]}.npy', np.full((4, 32, 32), 7, np.uint8))
    before = _md5s(tmp_path/'c')
    fails(main('hpa-prep', data/'train', '--csv', data/'train.csv', '--out', tmp_path/'c', '--sizes', 32, '--quiet'), 'hpa_fastai did not write it: hpa-prep never replaces it')
    (d/f'{ids[0]}.npy').unlink(); (d/'labels.csv').write_text('Id,Target\nx,1\n')
    fails(main('hpa-prep', data/'train', '--csv', data/'train.csv', '--out', tmp_path/'c', '--sizes', 32, '--quiet'), 'labels.csv is already there')
    (d/'labels.csv').unlink()
    for _ in range(2): ok(main('hpa-prep', data/'train', '--csv', data/'train.csv', '--out', tmp_path/'c', '--sizes', 32, '--quiet'))

def test_dupes_checks_its_outputs_before_hashing(data, tmp_path):
    lab = tmp_path/'labels.csv'; shutil.copyfile(data/'train.csv', lab)
    fails(main('hpa-dupes', data/'train', '--out', tmp_path/'d.csv', '--hashes', lab, '--quiet'), 'not a hash table')
    assert not (tmp_path/'d.csv').exists()
    fails(main('hpa-dupes', data/'train', '--out', data/'train'/'d.csv', '--quiet'), 'is a new file in the image folder')

@roles
def test_training_checks_its_folder_before_training(data, tmp_path):
    "A user's file under one of a run's names, or the image folder as --out, is refused before the first epoch: nothing is written"
    common = ['--csv', data/'train.csv', '--arch', 'resnet10t', '--no-pretrained', '--size', 32, '--bs', 8, '--workers', 0, '--schedule', 'full:1:1e-2', '--quiet']
    before = _md5s(data)
    fails(main('hpa-train', *common, '--out', data/'train'), 'is the image folder')
    assert _md5s(data)==before
    for f,text in [('history.csv', 'epoch,my\n'), ('model.json', '{"my": "config"}'), ('MODEL.md', '# My model notes\n'), ('oof.csv', 'Id,Target\nx,1\n')]:
        out = tmp_path/f'o_{f}'; out.mkdir(); (out/f).write_text(text)
        fails(main('hpa-train', *common, '--out', out), 'hpa_fastai did not write it: hpa-train never replaces it')
        assert [o.name for o in out.iterdir()]==[f] and (out/f).read_text()==text

@roles
def test_folds_check_their_root_first(data, tmp_path):
    out = tmp_path/'r'; out.mkdir(); (out/'thresholds.txt').write_text('my thresholds notes\n')
    fails(main('hpa-train', '--csv', data/'train.csv', '--out', out, '--folds', 'all', '--n-folds', 2, '--arch', 'resnet10t', '--no-pretrained', '--size', 32, '--quiet'),
          'hpa_fastai did not write it: hpa-train never replaces it')
    assert [o.name for o in out.iterdir()]==['thresholds.txt']

def test_a_probability_that_is_not_a_number_is_named(data, tmp_path):
    from hpa_fastai.all import read_labels, class_names
    ids,cls = read_labels(data/'train.csv').id.tolist(),class_names('hpa2018')
    rows = [','.join(['id', *cls])] + [','.join([i, *['0.1']*len(cls)]) for i in ids]
    rows[2] = rows[2].replace(',0.1', ',yes', 1)
    (tmp_path/'p.csv').write_text('\n'.join(rows)+'\n')
    fails(ev(tmp_path, '--labels', data/'train.csv', '--probs', tmp_path/'p.csv'), "line 3, class 0 (Nucleoplasm): 'yes' is not a number")
    (tmp_path/'p.csv').write_text('\n'.join(rows).replace(',yes', ',1.5')+'\n')
    fails(ev(tmp_path, '--labels', data/'train.csv', '--probs', tmp_path/'p.csv'), 'first at line 3, class 0 (Nucleoplasm)')

def test_a_submission_of_another_format(data, tmp_path):
    "HPA 2021 and Kaggle 2018 number their classes differently: a 2021 submission is not scored against 2018 labels"
    from hpa_fastai.all import read_labels
    ids = read_labels(data/'train.csv').id.tolist()
    (tmp_path/'s21.csv').write_text('ID,Label\n' + ''.join(f'{i},8|0\n' for i in ids))
    fails(ev(tmp_path, '--labels', data/'train.csv', '--submission', tmp_path/'s21.csv'), 'is in the HPA')
    (tmp_path/'p.npy').parent.mkdir(exist_ok=True); np.save(tmp_path/'p.npy', np.full((len(ids), 28), 0.1, np.float32))
    (tmp_path/'p_ids.txt').write_bytes(('\ufeff' + '\n'.join(ids) + '\n').encode())   # Notepad's byte-order mark
    ok(ev(tmp_path, '--labels', data/'train.csv', '--probs', tmp_path/'p.npy'))

def test_threshold_files_as_editors_save_them(model, data, tmp_path):
    "A byte-order mark or UTF-16 (Notepad's \"Unicode\") is read; a decimal comma, or a word, is named with its line"
    th = [f'0.{10+i}' for i in range(28)]
    (tmp_path/'bom.txt').write_bytes(('\ufeff' + '\n'.join(th) + '\n').encode())
    (tmp_path/'u16.txt').write_bytes(('\n'.join(th) + '\n').encode('utf-16'))
    subs = [ok(main('hpa-predict', model, '--images', data/'train', '--out', tmp_path/f'{f}.csv', '--thresh', tmp_path/f'{f}.txt', '--quiet')) and (tmp_path/f'{f}.csv').read_text() for f in ('bom', 'u16')]
    assert subs[0]==subs[1]
    (tmp_path/'comma.txt').write_text('\n'.join(o.replace('.', ',') for o in th) + '\n')
    fails(main('hpa-predict', model, '--images', data/'train', '--out', tmp_path/'c.csv', '--thresh', tmp_path/'comma.txt', '--quiet'), 'decimal commas (0,10)')
    (tmp_path/'word.txt').write_text('\n'.join(th[:3] + ['high'] + th[4:]) + '\n')
    fails(main('hpa-predict', model, '--images', data/'train', '--out', tmp_path/'w.csv', '--thresh', tmp_path/'word.txt', '--quiet'), "line 4: 'high' is not a number")
    fails(main('hpa-predict', model, '--images', data/'train', '--out', tmp_path/'m.csv', '--min-labels', 29, '--quiet'), '--min-labels 29 is more than the 28 classes')

def test_a_value_argparse_cannot_read():
    fails(main('hpa-predict', 'm', '--bs', '1e9'), "--bs '1e9' is not a whole number")
    fails(main('hpa-train', '--size', '1e2'), "--size '1e2' is not a whole number")

def test_images_that_are_not_one_sample(model, data, tmp_path):
    "An animation, two files for one stain, a stacked file beside stain files, a sliver of pixels: each named, none read silently"
    from PIL import Image
    i = sorted(data.glob('train/*_blue.png'))[0].name[:-len('_blue.png')]
    def folder(name, extra):
        d = tmp_path/name; d.mkdir()
        for c in ('red','green','blue','yellow'): shutil.copyfile(data/'train'/f'{i}_{c}.png', d/f'{i}_{c}.png')
        extra(d); return d
    def anim(d):
        fr = [Image.open(d/f'{i}_green.png').convert('L'), Image.new('L', (32, 32), 255)]
        fr[0].save(d/f'{i}_green.png', save_all=True, append_images=fr[1:])
    cases = [(anim, 'has 2 frames'), (lambda d: shutil.copyfile(d/f'{i}_green.png', d/f'{i}_green.jpg'), 'has 2 files for its green stain'),
             (lambda d: np.save(d/f'{i}.npy', np.zeros((4, 32, 32), np.uint8)), 'has a stacked image'),
             (lambda d: [Image.new('L', (1, 5000)).save(d/f'{i}_{c}.png') for c in ('red','green','blue','yellow')], 'a side under 8 is not a micrograph')]
    for k,(extra,msg) in enumerate(cases):
        fails(main('hpa-predict', model, '--images', folder(f'c{k}', extra), '--out', tmp_path/f's{k}.csv', '--quiet'), msg)
    fails(main('hpa-train', '--csv', data/'train.csv', '--weights', tmp_path, '--arch', 'resnet10t', '--out', tmp_path/'m', '--quiet'), 'is a folder, not a file')

def test_synth_never_fills_someone_elses_folder(model, data):
    "An image folder or a model folder given as --path is not an empty place for a new data set"
    for p,msg in [(data/'train', 'image file(s)'), (model, 'a trained model')]:
        before = _md5s(p)
        fails(main('hpa-synth', '--path', p, '--n', 10, '--size', 32, '--quiet'), msg)
        assert _md5s(p)==before
