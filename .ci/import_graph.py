#!/usr/bin/env python3
"""Print the library's import graph (module -> the modules it imports, in notebook order) and fail on an edge that
points up the stack or a cycle. A module's place is the number of the notebook it is exported from."""
import re, sys
from pathlib import Path
pkg = Path(__file__).resolve().parents[1]/'hpa_fastai'
order,edges = {},{}
for f in sorted(pkg.glob('*.py')):
    if f.name.startswith('_'): continue
    src = f.read_text()
    m = re.search(r'File to edit: \.\./nbs/(\d+)_\w+\.ipynb', src)
    if not m: sys.exit(f"{f.name}: not exported from a numbered notebook")
    order[f.stem] = int(m[1])
    edges[f.stem] = sorted(set(re.findall(r'^\s*from \.(\w+) import', src, re.M)) | set(re.findall(r'^\s*from hpa_fastai\.(\w+) import', src, re.M)) - {f.stem})
bad = []
for m in sorted(order, key=order.get):
    print(f"{order[m]:02d} {m:<10} -> {', '.join(edges[m]) or '(nothing of ours)'}")
    bad += [f"{m} ({order[m]:02d}) imports {o} ({order.get(o, '?')})" for o in edges[m] if order.get(o, 99)>=order[m]]
if bad: sys.exit("Imports pointing up the stack (or a cycle):\n  " + '\n  '.join(bad))
print(f"{len(order)} modules, {sum(map(len, edges.values()))} imports, none pointing up: no cycle is possible.")
