"""Outputs never overwrite a file of a run or a user's file of another kind, whatever option names it; tables are read as
spreadsheets write them; starting weights, model metadata and images that cannot work get one sentence, before any work.

Each case is a class of failure the hostile sweep found, tried through the console scripts (in this process) on copies,
with every file checked unchanged afterwards."""
import hashlib, json, shutil
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from helpers import main, ok, fails

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
    clean = ok(main('hpa-evaluate', '--labels', data/'train.csv', '--submission', data/'train.csv')).stdout
    rows = (data/'train.csv').read_text().splitlines()
    variants = {'trailing.csv': '\n'.join(r+',' for r in rows[1:]), 'excel.csv': '\r\n'.join(r.replace(',', ';') for r in rows[1:])}
    (tmp_path/'trailing.csv').write_text(rows[0]+'\n'+variants['trailing.csv']+'\n')
    (tmp_path/'excel.csv').write_bytes(('\ufeff'+rows[0].replace(',', ';')+'\r\n'+variants['excel.csv']+'\r\n').encode('utf-8'))
    for v in variants: assert ok(main('hpa-evaluate', '--labels', tmp_path/v, '--submission', data/'train.csv')).stdout==clean
    (tmp_path/'extra.csv').write_text('\n'.join(rows[:2]+[rows[2]+',7']+rows[3:])+'\n')
    fails(main('hpa-evaluate', '--labels', tmp_path/'extra.csv', '--submission', data/'train.csv'), 'line 3 has 3 cells but the header has 2 columns')
    p = tmp_path/'p.csv'; p.write_text('id,Nucleoplasm,Nucleoplasm\nx,0.1,0.9\n')
    fails(main('hpa-evaluate', '--labels', data/'train.csv', '--probs', p), "has the column 'Nucleoplasm' twice")
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

def test_labels_in_a_submission_layout(tmp_path):
    "HPA 2021's image labels (ID,Label) look exactly like its image-level submission: the data set's table is still never replaced, a submission is"
    from hpa_fastai.all import make_synth, train
    s = tmp_path/'s21'; make_synth(s, n=24, fmt='hpa2021', size=32, seed=1, min_per_class=0, progress=False)
    train(s/'train.csv', out=tmp_path/'m21', schedule='full:1:1e-2', size=32, bs=8, arch='resnet10t', workers=0, progress=False)
    before = _md5s(s)
    fails(main('hpa-predict', tmp_path/'m21', '--images', s/'train', '--out', s/'train.csv', '--quiet'), 'a label table that hpa_fastai wrote for a data set')
    assert _md5s(s)==before
    mine = tmp_path/'mine.csv'; shutil.copyfile(s/'train.csv', mine)   # a copy carries no mark: a user's own table
    fails(main('hpa-predict', tmp_path/'m21', '--images', s/'train', '--out', mine, '--quiet'), 'a label table that hpa_fastai did not write')
    for _ in range(2): ok(main('hpa-predict', tmp_path/'m21', '--images', s/'train', '--out', tmp_path/'sub.csv', '--quiet'))

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

def test_masks_of_another_tool_are_kept(data, tmp_path):
    out = tmp_path/'masks'; out.mkdir()
    i = sorted(data.glob('train/*_blue.png'))[0].name[:-len('_blue.png')]
    shutil.copyfile(data/'train'/f'{i}_blue.png', out/f'{i}_cells.png')   # e.g. cellpose's, under the same name
    before = _md5s(out)
    fails(main('hpa-segment', data/'train', '--out', out, '--quiet'), 'hpa_fastai did not write it: hpa-segment never replaces')
    assert _md5s(out)==before
    for _ in range(2): ok(main('hpa-segment', data/'train', '--out', tmp_path/'m2', '--quiet'))
