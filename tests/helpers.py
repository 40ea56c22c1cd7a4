"""Helpers the CLI tests share: run a console script, in a new process (`run`) or in this one (`main`), and check how it ended.

A new process costs an interpreter start and the import of torch and fastai (several seconds on 2 cores), so tests call a
script in this process unless the process is what they test: that the installed entry point runs, a kill, a launcher."""
import contextlib, inspect, io, os, subprocess, sys, traceback
from pathlib import Path
from types import SimpleNamespace
from unittest import mock
from fastcore.script import anno_parser

BIN = Path(sys.executable).parent  # the console scripts installed beside this interpreter
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('HPA_SHARED_DATA', ROOT.parent/'shared'/'data'))  # the real HPA sample data beside the repo (fixture `shared`)

def cmd(*args)->list:
    "The command line of console script `args[0]` with arguments `args[1:]`, as strings"
    return [str(BIN/args[0]), *map(str, args[1:])]

def run(*args, timeout:int=600, **kw)->subprocess.CompletedProcess:
    "Run console script `args[0]` with `args[1:]` in a new process, capturing text output; `kw` goes to `subprocess.run`"
    return subprocess.run(cmd(*args), capture_output=True, text=True, timeout=timeout, **kw)

class Started:
    "Command `args` started in a new process now, to run beside this one (`kw` goes to `subprocess.Popen`); `result()` waits for it and returns what `run` returns"
    def __init__(self, args, timeout:int=600, **kw):
        self.p = subprocess.Popen(list(map(str, args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
        self.timeout,self.r = timeout,None
    def result(self)->subprocess.CompletedProcess:
        if self.r is None:
            out,err = self.p.communicate(timeout=self.timeout)
            self.r = subprocess.CompletedProcess(self.p.args, self.p.returncode, out, err)
        return self.r
    def close(self):
        "End the process if it still runs (a test that failed before its `result`)"
        if self.r is not None: return
        if self.p.poll() is None: self.p.kill()
        self.p.communicate()

def start(*args, **kw)->Started:
    "Console script `args[0]` with `args[1:]`, started in a new process now; `kw` goes to `Started`"
    return Started(cmd(*args), **kw)

def selected(request, *tests)->bool:
    "Whether this run runs any of the tests named `tests` of the requesting module: a process started early for a test left out is wasted"
    return any(i.module is request.module and getattr(i, 'originalname', i.name) in tests for i in request.session.items)

def script(name:str):
    "The `call_parse` function behind console script `name` (`hpa-predict` -> `hpa_predict`): from `hpa_fastai.cli`, else (`hpa_prep` and the other helpers' scripts) from `hpa_fastai.all`"
    import hpa_fastai.cli, hpa_fastai.all
    n = name.replace('-', '_')
    return getattr(hpa_fastai.cli, n, None) or getattr(hpa_fastai.all, n)

@contextlib.contextmanager
def _chdir(d):
    "`contextlib.chdir`, which Python 3.10 lacks"
    old = os.getcwd()
    os.chdir(d)
    try: yield
    finally: os.chdir(old)

def main(*args, cwd=None, env:dict=None)->SimpleNamespace:
    """Console script `args[0]` run in this process: `args[1:]` parsed by the script's own argparse parser, then its function
    called, in folder `cwd` and with `env` added to the environment. Returns what `run` returns (args, returncode, stdout,
    stderr) and `result`, what the function returned. It ends as the interpreter would: `SystemExit`'s message on stderr and
    status 1, or its number as the status; any other exception as a traceback on stderr, status 1."""
    name,argv = str(args[0]),list(map(str, args[1:]))
    f = script(name).__wrapped__
    out,err,rc,res = io.StringIO(),io.StringIO(),0,None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), mock.patch.dict(os.environ, env or {}), \
         (_chdir(cwd) if cwd else contextlib.nullcontext()):
        try:
            kw = vars(anno_parser(f, prog=name).parse_args(argv))
            kw.pop('pdb', None), kw.pop('xtra', None)
            pos = next((kw.pop(k) or [] for k,p in inspect.signature(f).parameters.items() if p.kind is p.VAR_POSITIONAL), [])
            res = f(*pos, **kw)
        except SystemExit as e:
            if isinstance(e.code, int) or e.code is None: rc = e.code or 0
            else: rc = 1; print(e.code, file=sys.stderr)
        except Exception: rc = 1; traceback.print_exc()
    return SimpleNamespace(args=[name, *argv], returncode=rc, stdout=out.getvalue(), stderr=err.getvalue(), result=res)

def ok(r)->SimpleNamespace:
    "Assert `r` (from `run` or `main`) exited 0 without a traceback; return it"
    assert r.returncode==0 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    return r

def fails(r, msg:str)->str:
    "Assert `r` (from `run` or `main`) exited 1 with one line on stderr, `<script>: ...` containing `msg`, and no traceback; return the line"
    assert r.returncode==1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    line,name = r.stderr.strip(),Path(r.args[0]).name
    assert len(line.splitlines())==1 and line.startswith(f'{name}: ') and msg in line, line
    return line
