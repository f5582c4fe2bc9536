#!/usr/bin/env bash
# layering.sh -- the source tree keeps its shape (TAP): no call cycle between
# the object files, no model kind chosen by name outside the serving core's
# registry, and every relative link of README.md and docs/ resolves.  Needs
# the objects of a build (make test builds them first).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
echo "1..3"

cycles=$(cd "$root" && python3 - <<'PY'
import collections, glob, subprocess, sys
defs, undefs = {}, {}
for o in sorted(glob.glob('src/*/*.o')):
    d, u = set(), set()
    for line in subprocess.run(['nm', o], capture_output=True, text=True, check=True).stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'TDRB':
            d.add(p[2])
        elif len(p) == 2 and p[0] == 'U':
            u.add(p[1])
    defs[o], undefs[o] = d, u
if not defs:
    print('no objects built'); sys.exit(0)
owner = {s: o for o, ds in defs.items() for s in ds}
g = {o: {owner[s] for s in us if s in owner and owner[s] != o} for o, us in undefs.items()}
index, low, stack, on, found, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in g[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            found.append(' <-> '.join(sorted(comp)))
for v in defs:
    if v not in index:
        visit(v)
print('\n'.join(found))
PY
)
if [ -z "$cycles" ]; then echo "ok 1 - no call cycle between the object files ($(ls "$root"/src/*/*.o | wc -l) objects)"
else echo "not ok 1 - no call cycle between the object files"; echo "$cycles" | sed 's/^/# /'; fi

by_name=$(grep -nE 'strcmp\([^,]*kind[^,]*, *"(popularity|ncf|glmix|blend)"\)' "$root"/src/*/*.c \
	| grep -v '/serving_kinds\.c:' || true)
if [ -z "$by_name" ]; then echo "ok 2 - no model kind is chosen by name outside serving_kinds.c"
else echo "not ok 2 - no model kind is chosen by name outside serving_kinds.c"; echo "$by_name" | sed 's/^/# /'; fi

if out=$(bash "$root/scripts/check_links.sh" 2>&1); then echo "ok 3 - every relative link of README.md and docs/ resolves # $out"
else echo "not ok 3 - every relative link of README.md and docs/ resolves"; echo "$out" | sed 's/^/# /'; fi
