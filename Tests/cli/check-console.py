#!/usr/bin/env python3
"""The text screen, the keyboard and the interactive console, end to end.

    check-console.py X86V TESTGUESTS_DIR

1. --screen-dump: vga.elf's final screen equals testguests/expected/vga.screen (recorded from
   QEMU 7.2's memory with testguests/qemu-monitor.py), in all three configurations; the dump is
   written whatever stops the run (here an instruction limit).
2. Through a pseudo-terminal (skipped, with a message, when none can be opened):
   - echo.elf interactive: typed bytes reach COM1, Ctrl-A h lists the escapes, Ctrl-A Ctrl-A
     types one Ctrl-A, Ctrl-A x ends the run with status 24; the terminal modes (stty -g) are
     the same after as before;
   - --display text: kbd.elf's keys typed on the terminal reach the PS/2 keyboard (its serial
     output in a file says ok 21), the screen is drawn in the alternate screen, the terminal is
     restored when the guest exits;
   - SIGTERM while the terminal is raw: x86v dies of it, the terminal is restored;
   - the terminal closing under a running guest: the run ends (status 24) with a message.
"""
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

x86v, guests = sys.argv[1], sys.argv[2]
build = os.path.join(guests, "build")
failures = 0


def check(ok, what, detail=""):
    global failures
    print(("PASS " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + detail))
    if not ok:
        failures += 1


# ---- 1. --screen-dump ----
expected = open(os.path.join(guests, "expected", "vga.screen"), encoding="utf-8").read()
tmp = tempfile.mkdtemp()
dump = os.path.join(tmp, "vga.screen")
for config in (["--virt=none"], ["--virt=hw", "--mmu=direct"], ["--virt=hw", "--mmu=shadow"]):
    r = subprocess.run([x86v, "run", os.path.join(build, "vga.elf"), "--memory", "64M", "--screen-dump", dump] + config,
                       stdin=subprocess.DEVNULL, capture_output=True)
    got = open(dump, encoding="utf-8").read() if os.path.exists(dump) else ""
    check(r.returncode == 1 and got == expected, "vga --screen-dump %s" % " ".join(config),
          "status %d, screen differs" % r.returncode)
r = subprocess.run([x86v, "run", os.path.join(build, "vga.elf"), "--memory", "64M", "--screen-dump", dump,
                    "--max-instructions", "1000"], stdin=subprocess.DEVNULL, capture_output=True)
lines = open(dump, encoding="utf-8").read().split("\n")
check(r.returncode == 4 and len(lines) == 26 and lines[25] == "", "--screen-dump at an instruction limit: 25 lines")

# ---- 2. a pseudo-terminal ----
try:
    master, slave = os.openpty()
except OSError as e:
    print("SKIP console tests through a pseudo-terminal: cannot open one (%s)" % e)
    sys.exit(1 if failures else 0)


def stty(fd):
    return subprocess.run(["stty", "-g"], stdin=fd, capture_output=True, text=True).stdout.strip()


def start(args):
    """x86v on a fresh pseudo-terminal; also the terminal's modes before x86v touched them."""
    m, s = os.openpty()
    before = stty(s)
    p = subprocess.Popen([x86v, "run"] + args, stdin=s, stdout=s, stderr=s, close_fds=True)
    return p, m, s, before


def wait_raw(s, before, timeout=20.0):
    """Waits until x86v has put the terminal in raw mode (typing earlier would meet the line
    discipline: echo, and Ctrl-C flushing the input)."""
    end = time.time() + timeout
    while time.time() < end and stty(s) == before:
        time.sleep(0.05)


def read_until(m, needle, timeout=20.0):
    out = b""
    end = time.time() + timeout
    while time.time() < end and needle not in out:
        r, _, _ = select.select([m], [], [], 0.1)
        if r:
            try:
                chunk = os.read(m, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def finish(p, m, timeout=20.0):
    out = b""
    end = time.time() + timeout
    while p.poll() is None and time.time() < end:
        r, _, _ = select.select([m], [], [], 0.1)
        if r:
            try:
                out += os.read(m, 4096)
            except OSError:
                pass
    if p.poll() is None:
        p.kill()
        p.wait()
    while True:  # what it wrote before it ended
        r, _, _ = select.select([m], [], [], 0.1)
        if not r:
            break
        try:
            chunk = os.read(m, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return p.returncode, out


# echo.elf: COM1 through the raw terminal, the escapes.
p, m, s, before = start([os.path.join(build, "interactive", "echo.elf"), "--memory", "16M"])
ok = b"x86v-guest: echo" in read_until(m, b"x86v-guest: echo")
raw = stty(s)
os.write(m, b"hi\r")
got = read_until(m, b"<0d>")
check(ok and b"<68><69><0d>" in got, "interactive: typed bytes reach COM1", repr(got[-200:]))
check(raw != before, "interactive: the terminal is in raw mode while the guest runs")
os.write(m, b"\x01h")
got = read_until(m, b"C-a x")
check(b"C-a x" in got, "interactive: Ctrl-A h lists the escapes", repr(got[-200:]))
os.write(m, b"\x01\x01")
got = read_until(m, b"<01>")
check(b"<01>" in got, "interactive: Ctrl-A Ctrl-A types one Ctrl-A", repr(got[-200:]))
os.write(m, b"\x03")  # Ctrl-C goes to the guest, as under QEMU -nographic
got = read_until(m, b"<03>")
check(b"<03>" in got and p.poll() is None, "interactive: Ctrl-C goes to the guest")
# The modes seen while raw are x86v's; after the run they must be the original ones again.
tty_before = before
os.write(m, b"\x01x")
status, out = finish(p, m)
check(status == 24, "interactive: Ctrl-A x ends the run with status 24", "status %s" % status)
check(stty(s) == tty_before, "interactive: terminal modes restored after Ctrl-A x")
os.close(m)
os.close(s)

# --display text: keys on the terminal go to the keyboard.
serial = os.path.join(tmp, "kbd.serial")
p, m, s, before_display = start([os.path.join(build, "kbd.elf"), "--memory", "64M", "--display", "text", "--serial", serial])
wait_raw(s, before_display)
keys = open(os.path.join(build, "kbd.keys"), "rb").read()
for i in range(0, len(keys), 4):  # a few bytes at a time, as a person types
    os.write(m, keys[i:i + 4])
    time.sleep(0.05)
status, out = finish(p, m, timeout=30)
text = open(serial, encoding="latin-1").read() if os.path.exists(serial) else ""
check(status == 1 and "ok 21 - typed" in text, "--display text: keys typed on the terminal reach the keyboard",
      "status %s, serial tail %r" % (status, text[-300:]))
check(b"\x1b[?1049h" in out and b"\x1b[?1049l" in out, "--display text: drawn in the alternate screen, left at the end")
check(stty(s) == before_display, "--display text: terminal modes restored at the guest's exit")
os.close(m)
os.close(s)

# SIGTERM while raw: the handler restores the terminal, then the signal ends x86v.
p, m, s, before = start([os.path.join(build, "interactive", "echo.elf"), "--memory", "16M"])
read_until(m, b"x86v-guest: echo")
p.send_signal(signal.SIGTERM)
status, _ = finish(p, m)
check(status == -signal.SIGTERM, "SIGTERM ends the run by the signal", "status %s" % status)
check(stty(s) == before, "SIGTERM: terminal modes restored")
os.close(m)
os.close(s)

# The terminal goes away under a running guest.
p, m, s, _ = start([os.path.join(build, "interactive", "echo.elf"), "--memory", "16M"])
read_until(m, b"x86v-guest: echo")
os.close(m)
try:
    p.wait(timeout=20)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
check(p.returncode == 24, "a closed terminal ends the run (status 24)", "status %s" % p.returncode)
os.close(s)

print("check-console: %s" % ("%d failures" % failures if failures else "all passed"))
sys.exit(1 if failures else 0)
