#!/usr/bin/env bash
# check_links.sh -- verify the relative links and #anchors of README.md and docs/*.md
#
# Every [text](target) outside code is checked: a relative file must exist (relative to
# the Markdown file that links to it), and a #anchor must match a heading of the target
# Markdown file under GitHub's heading-anchor rules (lower case; characters other than
# letters, digits, spaces, '-' and '_' dropped; each space becomes '-'; a repeated anchor
# gets -1, -2, ...). Absolute URLs (http:, https:, mailto:) are not fetched.
# Prints one line per broken link and exits 1 if there is any, 0 otherwise.
#
# usage: scripts/check_links.sh [file.md ...]   (default: README.md docs/*.md)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
    set -- README.md docs/*.md
fi
exec python3 - "$@" <<'PY'
import os, re, sys
from urllib.parse import unquote

FENCE = re.compile(r'^\s*(```|~~~)')

def strip_code(lines):
    """Lines with fenced blocks blanked (kept for line numbers) and inline code removed."""
    out, fence = [], False
    for line in lines:
        if FENCE.match(line):
            fence = not fence
            out.append('')
            continue
        out.append('' if fence else re.sub(r'`[^`]*`', lambda m: ' ' * len(m.group(0)), line))
    return out

def slug(text):
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', text)   # links and images: their text
    text = re.sub(r'<[^>]+>', '', text)                       # inline HTML
    text = text.strip().lower()
    text = ''.join(c for c in text if c.isalnum() or c in ' -_')
    return text.replace(' ', '-')

anchor_cache = {}
def anchors(path):
    if path not in anchor_cache:
        seen, result, fence = {}, set(), False
        with open(path, encoding='utf-8') as f:
            for line in f:
                if FENCE.match(line):
                    fence = not fence
                    continue
                m = None if fence else re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
                if m:
                    base = slug(m.group(1))
                    n = seen.get(base, 0)
                    seen[base] = n + 1
                    result.add(base if n == 0 else '%s-%d' % (base, n))
                    for a in re.findall(r'<a\s+(?:name|id)="([^"]+)"', line):
                        result.add(a)
        anchor_cache[path] = result
    return anchor_cache[path]

LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
broken = checked = 0
for md in sys.argv[1:]:
    if not os.path.isfile(md):
        print('%s: file not found' % md)
        broken += 1
        continue
    with open(md, encoding='utf-8') as f:
        lines = strip_code(f.read().split('\n'))
    for no, line in enumerate(lines, 1):
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):
                continue                                       # http:, https:, mailto:
            checked += 1
            path, _, frag = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(md), unquote(path))) if path else md
            if not os.path.exists(dest):
                print('%s:%d: %s: no such file %s' % (md, no, target, dest))
                broken += 1
            elif frag:
                if not dest.endswith('.md') or os.path.isdir(dest):
                    print('%s:%d: %s: anchor into a file that is not Markdown' % (md, no, target))
                    broken += 1
                elif unquote(frag) not in anchors(dest):
                    print('%s:%d: %s: no heading #%s in %s' % (md, no, target, frag, dest))
                    broken += 1
print('check_links: %d files, %d relative links, %d broken' % (len(sys.argv) - 1, checked, broken))
sys.exit(1 if broken else 0)
PY
