#!/usr/bin/env python3
"""Boot xv6 (mit-pdos/xv6-public, x86) under x86v and QEMU and run its usertests.

    xv6-check.py --x86v .build/release/x86v --xv6 DIR [--configs none,hw-direct,hw-shadow]
                 [--no-qemu] [--no-display] [--timeout SECONDS]

DIR is a built xv6-public tree (`kernel` and `fs.img`). For each configuration x86v runs
`kernel --memory 512M --drive COPY-OF-fs.img,index=1` on a pseudo-terminal, as a user at a
terminal would: the console is the serial line (x86v puts the terminal in raw mode and feeds
COM1). The script waits for the shell's `$ `, types `usertests`, waits for `ALL TESTS PASSED`,
then quits with Ctrl-A x and checks the `--screen-dump` (xv6 writes its console to the CGA
screen too) and the disk image. QEMU 7.2 (`-kernel`, TCG) runs the same in the same run, its
serial line on a pipe, for the times. A last run under `--display text` types a command on
the 8042 keyboard and reads the answer off the screen dump.

Times are wall-clock seconds from the start of the process: to the prompt, and for usertests
(from typing it to `ALL TESTS PASSED`). Exit status 0 when every x86v run passed.
"""
import argparse
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def read_until(fd, buf, needles, deadline, since=0):
    """Reads from fd into buf (bytearray) until one of needles appears at or after offset
    `since`; returns (needle, time) or (None, time) at EOF or the deadline."""
    while True:
        for n in needles:
            if buf.find(n, since) >= 0:
                return n, time.monotonic()
        left = deadline - time.monotonic()
        if left <= 0:
            return None, time.monotonic()
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            return None, time.monotonic()
        if not data:
            return None, time.monotonic()
        buf += data


def drain(fd, buf, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            buf += data


class Result:
    def __init__(self, name):
        self.name = name
        self.prompt = None
        self.usertests = None
        self.passed = False
        self.notes = []
        self.status = None


def run_x86v(args, config, workdir):
    res = Result(f"x86v {config}")
    disk = os.path.join(workdir, f"fs-{config}.img")
    shutil.copyfile(os.path.join(args.xv6, "fs.img"), disk)
    screen = os.path.join(workdir, f"screen-{config}.txt")
    stats = os.path.join(workdir, f"stats-{config}.json")
    virt, _, mmu = config.partition("-")
    cmd = [args.x86v, "run", os.path.join(args.xv6, "kernel"), "--memory", "512M",
           "--drive", f"{disk},index=1", "--virt", virt, "--screen-dump", screen, "--stats-json", stats]
    if mmu:
        cmd += ["--mmu", mmu]
    master, slave = pty.openpty()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE, close_fds=True)
    os.close(slave)
    buf = bytearray()
    hit, t = read_until(master, buf, [b"$ "], start + 300)
    if hit is None:
        res.notes.append("no shell prompt")
        os.write(master, b"\x01x")
        return finish(proc, master, res, buf)
    res.prompt = t - start
    os.write(master, b"usertests\r")
    typed = time.monotonic()
    hit, t = read_until(master, buf, [b"ALL TESTS PASSED", b"FAILED", b"panic"], typed + args.timeout)
    if hit != b"ALL TESTS PASSED":
        res.notes.append("usertests: " + (hit.decode() if hit else "timed out"))
        os.write(master, b"\x01x")
        return finish(proc, master, res, buf)
    res.usertests = t - typed
    res.passed = True
    read_until(master, buf, [b"$ "], time.monotonic() + 60, since=buf.find(b"ALL TESTS PASSED"))
    os.write(master, b"\x01x")
    return finish(proc, master, res, buf, screen=screen)


def finish(proc, master, res, buf, screen=None):
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        res.notes.append("had to be killed")
        res.passed = False
    drain(master, buf, 0.2)
    os.close(master)
    res.status = proc.returncode
    err = proc.stderr.read().decode(errors="replace").strip()
    if res.passed and screen:
        text = open(screen, encoding="utf-8", errors="replace").read() if os.path.exists(screen) else ""
        if "ALL TESTS PASSED" not in text:
            res.passed = False
            res.notes.append("the screen dump does not show ALL TESTS PASSED")
    if not res.passed:
        sys.stderr.write(f"--- {res.name}: last output ---\n{buf[-1500:].decode(errors='replace')}\n{err[-800:]}\n")
    return res


def run_qemu(args, workdir):
    res = Result("QEMU TCG")
    disk = os.path.join(workdir, "fs-qemu.img")
    shutil.copyfile(os.path.join(args.xv6, "fs.img"), disk)
    cmd = ["qemu-system-i386", "-accel", "tcg", "-nographic", "-monitor", "none", "-no-reboot",
           "-m", "512", "-smp", "1", "-kernel", os.path.join(args.xv6, "kernel"),
           "-drive", f"file={disk},index=1,media=disk,format=raw", "-serial", "stdio"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    buf = bytearray()
    fd = proc.stdout.fileno()
    hit, t = read_until(fd, buf, [b"$ "], start + 300)
    if hit:
        res.prompt = t - start
        proc.stdin.write(b"usertests\n")
        proc.stdin.flush()
        typed = time.monotonic()
        hit, t = read_until(fd, buf, [b"ALL TESTS PASSED", b"FAILED", b"panic"], typed + args.timeout)
        if hit == b"ALL TESTS PASSED":
            res.usertests = t - typed
            res.passed = True
        else:
            res.notes.append("usertests: " + (hit.decode() if hit else "timed out"))
    else:
        res.notes.append("no shell prompt")
    proc.kill()
    proc.wait()
    return res


def run_display(args, workdir):
    """--display text: the keyboard types, the screen answers (read off --screen-dump)."""
    res = Result("x86v hw-shadow --display text")
    disk = os.path.join(workdir, "fs-display.img")
    shutil.copyfile(os.path.join(args.xv6, "fs.img"), disk)
    screen = os.path.join(workdir, "screen-display.txt")
    serial = os.path.join(workdir, "serial-display.txt")
    cmd = [args.x86v, "run", os.path.join(args.xv6, "kernel"), "--memory", "512M",
           "--drive", f"{disk},index=1", "--display", "text", "--serial", serial, "--screen-dump", screen]
    master, slave = pty.openpty()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE, close_fds=True)
    os.close(slave)
    buf = bytearray()

    def serial_has(text, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            drain(master, buf, 0.2)
            if os.path.exists(serial) and text in open(serial, "rb").read():
                return True
        return False

    if not serial_has(b"$ ", 300):
        res.notes.append("no shell prompt on the serial copy")
        os.write(master, b"\x01x")
        return finish(proc, master, res, buf)
    res.prompt = time.monotonic() - start
    os.write(master, b"echo typed on the keyboard\r")
    if not serial_has(b"\ntyped on the keyboard", 120):
        res.notes.append("the keyboard's line did not reach the shell")
    else:
        res.passed = True
    serial_has(b"$ ", 5)
    drain(master, buf, 0.5)
    os.write(master, b"\x01x")
    res = finish(proc, master, res, buf)
    text = open(screen, encoding="utf-8", errors="replace").read() if os.path.exists(screen) else ""
    if res.passed and "typed on the keyboard" not in text:
        res.passed = False
        res.notes.append("the screen dump lacks the echoed line")
    if b"\x1b[" not in buf:
        res.passed = False
        res.notes.append("nothing was drawn on the terminal")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--x86v", required=True)
    ap.add_argument("--xv6", required=True)
    ap.add_argument("--configs", default="none,hw-direct,hw-shadow")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--no-display", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    for f in ("kernel", "fs.img"):
        if not os.path.exists(os.path.join(args.xv6, f)):
            sys.exit(f"xv6-check: {args.xv6}/{f} is missing (build xv6 first)")
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    results = []
    with tempfile.TemporaryDirectory(prefix="xv6-check-") as work:
        for config in args.configs.split(","):
            r = run_x86v(args, config, work)
            results.append(r)
            print(line(r), flush=True)
        if not args.no_display:
            r = run_display(args, work)
            results.append(r)
            print(line(r), flush=True)
        if not args.no_qemu and shutil.which("qemu-system-i386"):
            q = run_qemu(args, work)
            print(line(q), flush=True)
            for r in results:
                if r.usertests and q.usertests:
                    print(f"  {r.name}: usertests {r.usertests / q.usertests:.2f}x QEMU's time")
    failed = [r for r in results if not r.passed]
    print("xv6-check: " + ("all passed" if not failed else "FAILED: " + ", ".join(r.name for r in failed)))
    sys.exit(1 if failed else 0)


def line(r):
    p = f"{r.prompt:.1f} s" if r.prompt is not None else "-"
    u = f"{r.usertests:.1f} s" if r.usertests is not None else "-"
    verdict = "ok  " if r.passed else "FAIL"
    notes = ("; " + "; ".join(r.notes)) if r.notes else ""
    status = f", status {r.status}" if r.status is not None else ""
    return f"{verdict} {r.name:32} prompt {p:>8}  usertests {u:>8}{status}{notes}"


if __name__ == "__main__":
    main()
