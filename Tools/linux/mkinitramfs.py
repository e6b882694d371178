#!/usr/bin/env python3
"""Builds the initramfs `make linux` boots: a gzip'd cpio archive ("newc" format, the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst) with busybox, our init script and
the directories it mounts on. Written here so the build needs no cpio tool.

usage: mkinitramfs.py BUSYBOX INIT OUT.cpio.gz
"""
import gzip
import os
import sys


def entry(name, mode, data=b"", ino=1, nlink=1, rdev=(0, 0)):
    """One newc record: the 110-byte ASCII header, the NUL-terminated name, the data, each
    padded to 4 bytes."""
    name_bytes = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_bytes), 0]
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = header + name_bytes
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip())
    busybox, init, out = sys.argv[1:]
    with open(busybox, "rb") as f:
        bb = f.read()
    with open(init, "rb") as f:
        script = f.read()
    records = []
    ino = 1
    for d in ["bin", "sbin", "dev", "proc", "sys", "tmp", "etc", "root"]:
        records.append(entry(d, 0o040755, ino=ino, nlink=2)); ino += 1
    # /dev/console must exist before init runs, for its stdin/stdout (the kernel opens it).
    records.append(entry("dev/console", 0o020600, ino=ino, rdev=(5, 1))); ino += 1
    records.append(entry("bin/busybox", 0o100755, bb, ino=ino)); ino += 1
    records.append(entry("bin/sh", 0o120777, b"busybox", ino=ino)); ino += 1
    records.append(entry("init", 0o100755, script, ino=ino)); ino += 1
    records.append(entry("TRAILER!!!", 0, ino=0))
    archive = b"".join(records)
    archive += b"\0" * (-len(archive) % 512)
    # mtime 0: the same inputs give the same bytes (deterministic runs).
    with open(out, "wb") as f:
        f.write(gzip.compress(archive, compresslevel=9, mtime=0))


if __name__ == "__main__":
    main()
