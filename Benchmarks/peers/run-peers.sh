#!/bin/sh
# Peer benchmarks: run the alu guests under QEMU (TCG) and Bochs and report
# the loop's speed in MIPS, one line per peer and guest:
#
#   peer=qemu guest=alu mips=1028.4 seconds=0.214 instructions=220001039
#
# usage: Benchmarks/peers/run-peers.sh GUEST.elf [GUEST-paging.elf ...]
#        (e.g. testguests/build/alu.elf testguests/build/alu-paging.elf)
#
# How it measures. A peer boots firmware before the guest and tears down
# after it, so each GUEST.elf is paired with GUEST-short.elf (same source,
# -DALU_ITERATIONS=1000, built by `make -C testguests`) and
#   seconds = best wall time of GUEST - best wall time of GUEST-short
#   mips    = (instructions(GUEST) - instructions(GUEST-short)) / seconds / 1e6
# with instructions = 22*n + 1039 for alu_loop (testguests/guests/alu_loop.S),
# n read from the guest's "# iterations: n" line. Each run is repeated
# PEERS_REPEAT times (default 3) and the best (shortest) wall time is kept.
# The instructions printed are the whole count for GUEST.
#
# QEMU: qemu-system-i386 -kernel (multiboot); the guest ends the run through
# isa-debug-exit. Bochs 2.7 has neither a multiboot loader nor an exit device:
# the guest boots from a floppy whose boot sector (testguests/bochs/boot.S)
# loads its flat image, enters protected mode and jumps to the entry with the
# multiboot registers; the run ends when the guest prints its TAP result line
# (the serial file is polled every 5 ms) and Bochs is killed.
#
# Environment: PEERS="qemu bochs" (which to run), PEERS_REPEAT=3,
# PEERS_VERBOSE=1 (per-run times on stderr).
# A peer that is not installed prints "peer=NAME skipped (not installed)".
# Exit status: 0 unless a guest failed or printed the wrong output.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
peers=${PEERS:-qemu bochs}
repeat=${PEERS_REPEAT:-3}
verbose=${PEERS_VERBOSE:-0}

if [ $# -lt 1 ]; then
    echo "usage: $0 GUEST.elf [GUEST-paging.elf ...]" >&2
    exit 2
fi
for elf in "$@"; do
    short=${elf%.elf}-short.elf
    for f in "$elf" "$short"; do
        [ -f "$f" ] || { echo "$0: $f missing (make -C testguests)" >&2; exit 2; }
    done
done

work=$(mktemp -d)
bochs_pid=
cleanup() {
    if [ -n "$bochs_pid" ]; then kill "$bochs_pid" 2>/dev/null; wait "$bochs_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
log() { [ "$verbose" = 1 ] && echo "  $*" >&2; return 0; }

# Serial output from the "x86v-guest: " marker on.
from_marker() {
    awk 'found { print; next } { i = index($0, "x86v-guest: "); if (i) { found = 1; print substr($0, i) } }' "$1"
}

# check_output FILE: the guest reported success; prints n (its iterations).
check_output() {
    grep -q '^ok 1 - alu checksum matches' "$1" || return 1
    grep -q -e '^not ok' -e '^Bail out!' "$1" && return 1
    sed -n 's/^# iterations: \([0-9][0-9]*\)$/\1/p' "$1" | head -n 1
}

# ---- QEMU ----
# qemu_run ELF OUT: prints the wall time in ns; fails if the guest did.
qemu_run() {
    t0=$(now_ns)
    timeout 120 qemu-system-i386 -accel tcg -nographic -monitor none -no-reboot -m 64 \
        -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$1" \
        < /dev/null > "$2.raw" 2>/dev/null
    status=$?
    t1=$(now_ns)
    from_marker "$2.raw" > "$2"
    [ $status = 1 ] || { echo "qemu exit status $status for $1" >&2; return 1; }
    echo $((t1 - t0))
}

# ---- Bochs ----
# bochs_prepare ELF DIR: floppy image + bochsrc in DIR.
bochs_prepare() {
    elf=$1 dir=$2
    mkdir -p "$dir"
    gcc -m32 -c "$root/testguests/bochs/boot.S" -o "$dir/boot.o" || return 1
    ld -m elf_i386 -e start -Ttext 0x7C00 --oformat binary -o "$dir/boot.bin" "$dir/boot.o" || return 1
    objcopy -O binary "$elf" "$dir/image.bin" || return 1
    load=$(readelf -lW "$elf" | awk '$1 == "LOAD" { print $4; exit }')
    entry=$(readelf -hW "$elf" | awk '/Entry point/ { print $4 }')
    bss_end=$(nm "$elf" | awk '$3 == "__bss_end" { print "0x" $1 }')
    # Parameter block of boot.S at offset 0x1E8: sector count (u16, u16 pad),
    # load address, image size, end of .bss, entry point (u32 each).
    python3 - "$dir" "$load" "$entry" "$bss_end" <<'PY' || return 1
import struct, sys
d, load, entry, bss_end = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16), int(sys.argv[4], 16)
boot = bytearray(open(d + "/boot.bin", "rb").read())
image = open(d + "/image.bin", "rb").read()
assert len(boot) == 512 and boot[510:] == b"\x55\xaa", "boot sector"
assert len(image) < 0x70000, "image too big for the boot sector's buffer"
nsect = (len(image) + 511) // 512
boot[0x1E8:0x1FC] = struct.pack("<HHIIII", nsect, 0, load, len(image), bss_end, entry)
disk = bytes(boot) + image
disk += bytes(1474560 - len(disk))
open(d + "/floppy.img", "wb").write(disk)
PY
    cat > "$dir/bochsrc" <<RC
megs: 64
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
floppya: 1_44=$dir/floppy.img, status=inserted
boot: floppy
display_library: rfb, options="timeout=0"
com1: enabled=1, mode=file, dev=$dir/serial.raw
log: $dir/bochs.log
clock: sync=none
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
RC
    echo c > "$dir/cmds"
}

# bochs_run DIR OUT: prints the wall time in ns from start to the guest's
# result line; fails on a timeout or a failed guest.
bochs_run() {
    dir=$1
    : > "$dir/serial.raw"
    t0=$(now_ns)
    bochs -q -f "$dir/bochsrc" -rc "$dir/cmds" < /dev/null > "$dir/bochs.stdout" 2>&1 &
    bochs_pid=$!
    deadline=$((t0 + 300000000000))
    done=0
    while :; do
        if grep -q -e '^ok 1 ' -e '^not ok 1 ' -e '^Bail out!' "$dir/serial.raw" 2>/dev/null; then
            done=1; break
        fi
        kill -0 "$bochs_pid" 2>/dev/null || break
        [ "$(now_ns)" -lt $deadline ] || break
        sleep 0.005
    done
    t1=$(now_ns)
    kill "$bochs_pid" 2>/dev/null
    wait "$bochs_pid" 2>/dev/null
    bochs_pid=
    from_marker "$dir/serial.raw" > "$2"
    [ $done = 1 ] || { echo "bochs: no result line (see $dir/bochs.log)" >&2; return 1; }
    echo $((t1 - t0))
}

# run PEER ELF TAG: one run; prints its wall time (ns), output in $work/TAG.out.
run() {
    case $1 in
        qemu) qemu_run "$2" "$work/$3.out" ;;
        bochs) bochs_run "$work/$3" "$work/$3.out" ;;
    esac
}
min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
secs() { awk -v t="$1" 'BEGIN { printf "%.3f s", t / 1e9 }'; }

fail=0
for peer in $peers; do
    case $peer in
        qemu) cmd=qemu-system-i386 ;;
        bochs) cmd=bochs ;;
        *) echo "$0: unknown peer $peer" >&2; exit 2 ;;
    esac
    if ! command -v $cmd > /dev/null; then
        echo "peer=$peer skipped (not installed)"
        continue
    fi
    for elf in "$@"; do
        short=${elf%.elf}-short.elf
        guest=$(basename "$elf" .elf)
        if [ $peer = bochs ]; then
            bochs_prepare "$elf" "$work/$guest" && bochs_prepare "$short" "$work/$guest-short" \
                || { echo "peer=$peer guest=$guest failed (floppy image)"; fail=1; continue; }
        fi
        # Full and baseline runs alternate, so both see the same machine load.
        tfull= tshort= ok=1 i=0
        while [ $i -lt "$repeat" ]; do
            t=$(run $peer "$elf" "$guest") && n=$(check_output "$work/$guest.out") && [ -n "$n" ] \
                || { echo "peer=$peer guest=$guest failed (its output is on stderr)"; cat "$work/$guest.out" >&2; ok=0; break; }
            log "$peer $guest: $(secs "$t")"
            tfull=$(min "$tfull" "$t")
            t=$(run $peer "$short" "$guest-short") && ns=$(check_output "$work/$guest-short.out") && [ -n "$ns" ] \
                || { echo "peer=$peer guest=$guest failed (baseline $(basename "$short"))"; cat "$work/$guest-short.out" >&2; ok=0; break; }
            log "$peer $guest-short: $(secs "$t")"
            tshort=$(min "$tshort" "$t")
            i=$((i + 1))
        done
        [ $ok = 1 ] || { fail=1; continue; }
        awk -v peer=$peer -v guest="$guest" -v tf="$tfull" -v ts="$tshort" -v n="$n" -v ns="$ns" 'BEGIN {
            ifull = 22 * n + 1039; ishort = 22 * ns + 1039
            s = (tf - ts) / 1e9
            if (s <= 0) { printf "peer=%s guest=%s failed (loop time %.3f s: below the noise)\n", peer, guest, s; exit 1 }
            printf "peer=%s guest=%s mips=%.1f seconds=%.3f instructions=%d\n", peer, guest, (ifull - ishort) / s / 1e6, s, ifull
            printf "  (%s %s: best of full run %.3f s, baseline %.3f s)\n", peer, guest, tf / 1e9, ts / 1e9 > "/dev/stderr"
        }' || fail=1
    done
done
exit $fail
