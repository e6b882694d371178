#!/usr/bin/python3
"""Generates Tests/X86CoreTests/Fixtures/unicorn-system.jsonl.gz (gzip, mtime 0): seeded system-level scenarios for
a 32-bit protected-mode CPU, run under Unicorn 2 (QEMU TCG), inputs and results recorded.

Usage: /usr/bin/python3 Tools/unicorn-cases/gen.py [--out FILE] [--seed N] [--only FAMILY]

Needs python3-unicorn (Debian's, under /usr/bin/python3) and nasm. See README.md beside this file.
"""
import argparse
import json
import os
import random
import sys

sys.dont_write_bytecode = True    # keep __pycache__ out of the source tree
from machine import DEFAULT_OUT, DEFAULT_PAGES, ROOT, run_unicorn, base_image, runs
from families import FAMILIES


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=DEFAULT_OUT)
    ap.add_argument('--seed', type=int, default=20240601)
    ap.add_argument('--only')
    a = ap.parse_args()
    counts = {}
    # First line: the base image every scenario's `image` is applied on top of, and the pages
    # compared when a scenario lists none.
    lines = [json.dumps({'baseImage': runs(base_image()), 'defaultPages': DEFAULT_PAGES},
                        separators=(',', ':'))]
    names = set()
    for fam, fn in FAMILIES:
        if a.only and fam != a.only:
            continue
        rng = random.Random(f"{a.seed}-{fam}")
        n = 0
        for sc in fn(rng):
            assert sc.name not in names, sc.name
            names.add(sc.name)
            rec = run_unicorn(sc)
            lines.append(json.dumps(rec, separators=(',', ':')))
            n += 1
        counts[fam] = n
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    if a.out.endswith('.gz'):
        # mtime=0 and no file name: the same scenarios give the same bytes.
        import gzip
        with open(a.out, 'wb') as raw, gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(data)
    else:
        with open(a.out, 'wb') as f:
            f.write(data)
    total = sum(counts.values())
    known = sum(1 for l in lines if '"knownDifference"' in l)
    for fam, n in counts.items():
        print(f"  {fam:14} {n}")
    print(f"unicorn-cases: {total} scenarios ({known} known differences) -> {os.path.relpath(a.out, ROOT)}")


if __name__ == '__main__':
    main()
