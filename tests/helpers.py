"Helpers the CLI tests share: run a console script of this environment and check how it ended"
import subprocess, sys
from pathlib import Path

BIN = Path(sys.executable).parent  # the console scripts installed beside this interpreter

def cmd(*args)->list:
    "The command line of console script `args[0]` with arguments `args[1:]`, as strings"
    return [str(BIN/args[0]), *map(str, args[1:])]

def run(*args, timeout:int=600, **kw)->subprocess.CompletedProcess:
    "Run console script `args[0]` with `args[1:]`, capturing text output; `kw` goes to `subprocess.run`"
    return subprocess.run(cmd(*args), capture_output=True, text=True, timeout=timeout, **kw)

def ok(r:subprocess.CompletedProcess)->subprocess.CompletedProcess:
    "Assert `r` exited 0 without a traceback; return it"
    assert r.returncode==0 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    return r

def fails(r:subprocess.CompletedProcess, msg:str)->str:
    "Assert `r` exited 1 with one line on stderr, `<script>: ...` containing `msg`, and no traceback; return the line"
    assert r.returncode==1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    line,name = r.stderr.strip(),Path(r.args[0]).name
    assert len(line.splitlines())==1 and line.startswith(f'{name}: ') and msg in line, line
    return line
