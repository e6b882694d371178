#!/usr/bin/env python3
"""Boots Debian's i386 Linux kernel with our busybox initramfs under x86v (and, for the
benchmark, under QEMU TCG), checks what the test init prints and times it (docs/linux.md).

    linux-check.py --x86v BIN --dir DIR [--configs none,hw-direct,hw-shadow] [--qemu] [--json FILE]

DIR holds what Tools/linux/fetch.sh leaves: vmlinuz, initrd.gz, kernel-version.txt. Each
run's COM1 output goes through a pseudo-terminal (so x86v writes it unbuffered) and each
"x86v-init:" line is stamped with the wall time it arrived. A run passes when it ends with
x86v's power-off status (22, ACPI S5) and the init printed every line it should, with the
kernel's version and the 1,000-process fork-and-exec loop done.

--shell boots once more to the init's shell on a pseudo-terminal (x86v's interactive console),
types a command and `poweroff -f`. --qemu also boots the kernel under qemu-system-i386 -cpu pentium3 (the issue's reference),
and --loop-counters runs hw-shadow a second time with FORKS=0 so that the shadow MMU's
counters for the loop alone are the difference of the two runs.
"""
import argparse
import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import time

APPEND = "console=ttyS0"
MEMORY = "256M"
FORKS = 1000


def timed_run(cmd, timeout, env_note=""):
    """Runs cmd with stdout on a pty; returns (status, text, stamps, wall, stderr) where stamps
    maps each marker to the wall time (s from start) of the first line containing it."""
    master, slave = pty.openpty()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, close_fds=True)
    os.close(slave)
    buf = b""
    stamps = {}
    markers = ["x86v-init: started", "fork-exec loop of", "loop of %d done" % FORKS, "x86v-init: powering off"]
    line_start = 0
    while True:
        if time.monotonic() - start > timeout:
            proc.kill()
            proc.wait()
            break
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if proc.poll() is not None:
                    break
                continue
            now = time.monotonic() - start
            buf += chunk
            while True:
                nl = buf.find(b"\n", line_start)
                if nl < 0:
                    break
                line = buf[line_start:nl].decode("utf-8", "replace")
                for m in markers:
                    if m in line and m not in stamps:
                        stamps[m] = now
                line_start = nl + 1
        elif proc.poll() is not None:
            # Drain what is left.
            try:
                while True:
                    r, _, _ = select.select([master], [], [], 0.05)
                    if not r:
                        break
                    chunk = os.read(master, 65536)
                    if not chunk:
                        break
                    buf += chunk
            except OSError:
                pass
            break
    wall = time.monotonic() - start
    status = proc.wait()
    err = proc.stderr.read().decode("utf-8", "replace")
    os.close(master)
    return status, buf.decode("utf-8", "replace").replace("\r", ""), stamps, wall, err


def check_output(text, version):
    """The init's lines, checked: returns a list of problems (empty = pass)."""
    problems = []
    want = [
        "x86v-init: started",
        "x86v-init: kernel %s i686" % version,
        "x86v-init: sum 5050",
        "x86v-init: fork-exec loop of %d done" % FORKS,
        "x86v-init: powering off",
    ]
    for w in want:
        if w not in text:
            problems.append("missing line: %r" % w)
    if "Kernel panic" in text:
        problems.append("the kernel panicked")
    return problems


def shell_session(args, timeout=300):
    """Boots hw-shadow with X86V_SHELL=1 and FORKS=0 on a pseudo-terminal as x86v's stdin and
    stdout (the interactive console), types commands at the shell's prompt and `poweroff -f`.
    Returns a list of problems (empty = pass)."""
    master, slave = pty.openpty()
    cmd = [args.x86v, "run", "--kernel", os.path.join(args.dir, "vmlinuz"),
           "--initrd", os.path.join(args.dir, "initrd.gz"),
           "--append", APPEND + " X86V_SHELL=1 FORKS=0", "--memory", MEMORY, "--max-instructions", "100000000000"]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE, close_fds=True)
    os.close(slave)
    buf = b""
    start = time.monotonic()

    def wait_for(needle):
        nonlocal buf
        while needle not in buf:
            if time.monotonic() - start > timeout or proc.poll() is not None:
                return False
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    buf += os.read(master, 65536)
                except OSError:
                    return False
        return True

    problems = []
    if not wait_for(b"x86v:/root# "):
        problems.append("no shell prompt")
    else:
        os.write(master, b"echo $((6 * 7)) $(cat /proc/sys/kernel/ostype)\r")
        if not wait_for(b"42 Linux"):
            problems.append("the shell did not run a command")
        os.write(master, b"poweroff -f\r")
    status = proc.wait(timeout=max(1, timeout - (time.monotonic() - start)))
    os.close(master)
    if status != 22:
        problems.append("exit status %d, not 22" % status)
    return problems


def config_flags(name):
    if name == "none":
        return ["--virt=none"]
    if name == "hw-direct":
        return ["--virt=hw", "--mmu=direct"]
    if name == "hw-shadow":
        return ["--virt=hw", "--mmu=shadow"]
    raise SystemExit("unknown configuration %r" % name)


def run_x86v(args, config, extra_append="", stats=True):
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = os.path.join(tmp, "stats.json")
        cmd = [args.x86v, "run", "--kernel", os.path.join(args.dir, "vmlinuz"),
               "--initrd", os.path.join(args.dir, "initrd.gz"), "--append", (APPEND + " " + extra_append).strip(),
               "--memory", MEMORY, "--max-instructions", "100000000000"] + config_flags(config)
        if stats:
            cmd += ["--stats-json", stats_path]
        status, text, stamps, wall, err = timed_run(cmd, args.timeout)
        data = None
        if stats and os.path.exists(stats_path):
            with open(stats_path) as f:
                data = json.load(f)
    return status, text, stamps, wall, err, data


def run_qemu(args):
    cmd = ["qemu-system-i386", "-cpu", "pentium3", "-m", MEMORY, "-kernel", os.path.join(args.dir, "vmlinuz"),
           "-initrd", os.path.join(args.dir, "initrd.gz"), "-append", APPEND,
           "-nographic", "-no-reboot", "-monitor", "none"]
    return timed_run(cmd, args.timeout)


def summary(stamps, wall):
    first = stamps.get("x86v-init: started")
    loop_start = stamps.get("fork-exec loop of")
    loop_end = stamps.get("loop of %d done" % FORKS)
    loop = loop_end - loop_start if loop_start is not None and loop_end is not None else None
    return {"first_line_s": first, "power_off_s": wall, "fork_loop_s": loop}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--x86v", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--configs", default="none,hw-direct,hw-shadow")
    ap.add_argument("--qemu", action="store_true", help="time QEMU TCG too")
    ap.add_argument("--loop-counters", action="store_true",
                    help="run hw-shadow again with FORKS=0: the shadow counters of the loop alone")
    ap.add_argument("--shell", action="store_true",
                    help="also boot to the init's shell (X86V_SHELL=1) on a pseudo-terminal, type a command and power off")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()

    with open(os.path.join(args.dir, "kernel-version.txt")) as f:
        version = f.read().strip()
    results = []
    failures = 0
    for config in [c for c in args.configs.split(",") if c]:
        status, text, stamps, wall, err, data = run_x86v(args, config)
        problems = check_output(text, version)
        if status != 22:
            problems.append("exit status %d, not 22 (power-off): %s" % (status, err.strip().splitlines()[-1:] or ""))
        row = {"name": "x86v " + config, "status": status, "problems": problems}
        row.update(summary(stamps, wall))
        if data:
            row["instructions"] = data.get("instructions")
            row["shadow"] = data.get("shadow")
        if problems:
            failures += 1
            print("not ok - linux %s: %s" % (config, "; ".join(problems)))
            sys.stdout.write("".join("    | " + l + "\n" for l in text.splitlines()[-15:]))
        else:
            print("ok - linux %s: init's first line after %.1f s, power-off after %.1f s, fork loop %.1f s"
                  % (config, row["first_line_s"], row["power_off_s"], row["fork_loop_s"]))
        results.append(row)
    if args.shell:
        problems = shell_session(args)
        if problems:
            failures += 1
            print("not ok - linux shell (hw-shadow, X86V_SHELL=1): %s" % "; ".join(problems))
        else:
            print("ok - linux shell (hw-shadow, X86V_SHELL=1): a prompt on the console, a command typed and run, poweroff -f")
    if args.loop_counters:
        status, text, stamps, wall, err, data = run_x86v(args, "hw-shadow", extra_append="FORKS=0")
        full = next((r for r in results if r["name"] == "x86v hw-shadow"), None)
        if status == 22 and data and full and full.get("shadow"):
            loop = {k: full["shadow"][k] - data["shadow"].get(k, 0) for k in full["shadow"]
                    if isinstance(full["shadow"][k], int) and k not in ("pool_pages", "pages_in_use", "peak_pages")}
            full["shadow_loop"] = loop
            full["instructions_loop"] = full["instructions"] - data["instructions"]
        else:
            print("not ok - linux hw-shadow FORKS=0 (status %d)" % status)
            failures += 1
    if args.qemu:
        status, text, stamps, wall, err = run_qemu(args)
        problems = check_output(text, version)
        row = {"name": "QEMU TCG -cpu pentium3", "status": status, "problems": problems}
        row.update(summary(stamps, wall))
        if problems:
            print("not ok - linux qemu: %s" % "; ".join(problems))
            failures += 1
        results.append(row)

    print()
    print("Linux %s, %s, busybox initramfs (wall seconds, this machine):" % (version, MEMORY))
    q = next((r for r in results if r["name"].startswith("QEMU")), None)

    def cell(r, key):
        # "25.80 (5.7×)": the time and, with QEMU in the run, the ratio to QEMU's.
        v = r.get(key)
        if v is None:
            return "-"
        if q and q is not r and q.get(key):
            return "%.2f (%.1f×)" % (v, v / q[key])
        return "%.2f" % v

    print("%-24s %16s %16s %16s" % ("", "first line", "power-off", "fork loop"))
    for r in results:
        print("%-24s %16s %16s %16s" % (r["name"], cell(r, "first_line_s"), cell(r, "power_off_s"),
                                        cell(r, "fork_loop_s")))
    shadow = next((r for r in results if r.get("shadow_loop")), None)
    if shadow:
        print("shadow MMU counters for the %d-process loop alone (hw-shadow minus a FORKS=0 run; %d instructions):"
              % (FORKS, shadow["instructions_loop"]))
        for k, v in shadow["shadow_loop"].items():
            print("    %-20s %12d" % (k, v))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
