#!/bin/sh
# Peer benchmarks: run benchmark guests under QEMU (TCG), Bochs and x86v and
# report each guest's loop speed, one line per peer and guest:
#
#   peer=qemu guest=alu miters=45.212 seconds=0.221 iterations=10000000 mips=994.7 instructions=220001039
#   peer=bochs guest=bench-churn miters=3.412 seconds=0.058 iterations=200000
#
# miters is million loop iterations per second; the alu guests (alu_loop.S)
# also get mips. A guest that fails prints "peer=P guest=G failed (...)"; a
# peer that is not installed prints "peer=P skipped (not installed)".
#
# usage: Benchmarks/peers/run-peers.sh GUEST.elf [GUEST2.elf ...]
#        (e.g. testguests/build/alu.elf testguests/build/bench-churn.elf)
#
# How it measures, the same way for every peer. A peer boots firmware before
# the guest and tears down after it (x86v loads the ELF and maps its memory),
# so each GUEST.elf is paired with GUEST-short.elf (same source, few
# iterations, built by `make -C testguests`) and
#   seconds = best wall time of GUEST - best wall time of GUEST-short
#   miters  = (n(GUEST) - n(GUEST-short)) / seconds / 1e6
# with n read from the guest's "# iterations: n" line; for alu_loop
# (testguests/guests/alu_loop.S) instructions = 22*n + 1039 and mips is
# computed the same way from those. Each run is repeated PEERS_REPEAT times
# (default 3), full and short runs alternating so both see the same machine
# load, and the best (shortest) wall time is kept. A run counts only if the
# guest succeeded: the exit status its runner reports for debug-exit 0 (QEMU
# and x86v: 1), its TAP plan complete with every line "ok", no "Bail out!",
# and an iterations line; otherwise it gives no number.
#
# QEMU: qemu-system-i386 -kernel (multiboot); the guest ends the run through
# isa-debug-exit. Bochs 2.7 has neither a multiboot loader nor an exit device:
# the guest boots from a floppy whose boot sector (testguests/bochs/boot.S)
# loads its flat image, zeroes its .bss, enters protected mode and jumps to
# the entry with the multiboot registers; the run ends when the serial output
# (polled every 5 ms) completes the TAP plan or bails out, and Bochs is
# killed. x86v: `x86v run GUEST` in one of three configurations, as peers
# x86v-shadow (--virt=hw --mmu=shadow), x86v-direct (--virt=hw --mmu=direct)
# and x86v-none (--virt=none), and for the execution engines x86v-blocks
# (--virt=none --engine blocks) and x86v-interp (--virt=none --engine interp).
#
# Environment: PEERS="qemu bochs" (which to run, in that order; also
# x86v-shadow, x86v-direct, x86v-none, x86v-blocks, x86v-interp), X86V=.build/release/x86v,
# PEERS_REPEAT=3, PEERS_MEMORY_MB=128 (guest memory for every peer: the
# bench-demand guest uses frames up to 48 MiB), PEERS_VERBOSE=1 (per-run
# times on stderr).
# Exit status: 0 unless a guest failed or printed the wrong output.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
peers=${PEERS:-qemu bochs}
repeat=${PEERS_REPEAT:-3}
mem=${PEERS_MEMORY_MB:-128}
verbose=${PEERS_VERBOSE:-0}
x86v=${X86V:-$root/.build/release/x86v}

if [ $# -lt 1 ]; then
    echo "usage: $0 GUEST.elf [GUEST2.elf ...]" >&2
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
    if [ -n "$bochs_pid" ]; then kill "$bochs_pid" 2>/dev/null || :; wait "$bochs_pid" 2>/dev/null || :; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
log() { if [ "$verbose" = 1 ]; then echo "  $*" >&2; fi; }

# Serial output from the "x86v-guest: " marker on (firmware banners dropped).
from_marker() {
    awk 'found { print; next } { i = index($0, "x86v-guest: "); if (i) { found = 1; print substr($0, i) } }' "$1"
}

# tap_finished FILE: the guest bailed out or printed as many result lines as
# its plan (1..N) announced. Bochs is stopped there: it has no exit device.
tap_finished() {
    awk '/^Bail out!/ { bail = 1 }
         /^1\.\.[0-9]+$/ { plan = substr($0, 4) + 0 }
         /^(not )?ok [0-9]+/ { n++ }
         END { exit !(bail || (plan > 0 && n >= plan)) }' "$1" 2>/dev/null
}

# check_output FILE: the guest reported success (a complete plan, every line
# "ok", no bail-out); prints n, its iterations.
check_output() {
    awk '/^Bail out!/ || /^not ok/ { bad = 1 }
         /^1\.\.[0-9]+$/ { plan = substr($0, 4) + 0 }
         /^ok [0-9]+/ { n++ }
         END { exit !(!bad && plan > 0 && n == plan) }' "$1" || return 1
    sed -n 's/^# iterations: \([0-9][0-9]*\)$/\1/p' "$1" | head -n 1
}

# ---- QEMU ----
# qemu_run ELF OUT: prints the wall time in ns; fails if the guest did.
qemu_run() {
    t0=$(now_ns)
    status=0
    timeout 120 qemu-system-i386 -accel tcg -nographic -monitor none -no-reboot -m "$mem" \
        -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$1" \
        < /dev/null > "$2.raw" 2>/dev/null || status=$?
    t1=$(now_ns)
    from_marker "$2.raw" > "$2"
    [ $status = 1 ] || { echo "qemu: exit status $status for $1 (1 = debug-exit 0)" >&2; return 1; }
    echo $((t1 - t0))
}

# ---- x86v ----
# x86v_run FLAGS ELF OUT: prints the wall time in ns; fails if the guest did.
x86v_run() {
    t0=$(now_ns)
    status=0
    # shellcheck disable=SC2086 # FLAGS is a list of options
    timeout 300 "$x86v" run "$2" --memory "${mem}M" $1 < /dev/null > "$3.raw" 2> "$3.err" || status=$?
    t1=$(now_ns)
    from_marker "$3.raw" > "$3"
    [ $status = 1 ] || { echo "x86v $1: exit status $status for $2 (1 = debug-exit 0): $(head -c 300 "$3.err")" >&2; return 1; }
    echo $((t1 - t0))
}

# ---- Bochs ----
# bochs_prepare ELF DIR: floppy image + bochsrc in DIR.
bochs_prepare() {
    elf=$1 dir=$2
    mkdir -p "$dir"
    gcc -m32 -c "$root/testguests/bochs/boot.S" -o "$dir/boot.o" || return 1
    ld -m elf_i386 -e start -Ttext 0x7C00 --oformat binary -o "$dir/boot.bin" "$dir/boot.o" || return 1
    # The flat image holds .text/.rodata/.data only: .bss is NOLOAD, so the
    # big page-table arrays cost no floppy space; boot.S zeroes up to __bss_end.
    objcopy -O binary "$elf" "$dir/image.bin" || return 1
    load=$(readelf -lW "$elf" | awk '$1 == "LOAD" { print $4; exit }')
    entry=$(readelf -hW "$elf" | awk '/Entry point/ { print $4 }')
    bss_end=$(nm "$elf" | awk '$3 == "__bss_end" { print "0x" $1 }')
    [ -n "$load" ] && [ -n "$entry" ] && [ -n "$bss_end" ] \
        || { echo "bochs: $elf: no load address, entry or __bss_end" >&2; return 1; }
    # Parameter block of boot.S at offset 0x1E8: sector count (u16, u16 pad),
    # load address, image size, end of .bss, entry point (u32 each).
    python3 - "$dir" "$load" "$entry" "$bss_end" <<'PY' || return 1
import struct, sys
d, load, entry, bss_end = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16), int(sys.argv[4], 16)
boot = bytearray(open(d + "/boot.bin", "rb").read())
image = open(d + "/image.bin", "rb").read()
assert len(boot) == 512 and boot[510:] == b"\x55\xaa", "boot sector"
assert len(image) < 0x70000, "image too big for the boot sector's buffer"
# boot.S copies the image to its load address (rep movsb upwards from
# 0x10000): it must not overlap the buffer, and .bss must end below the
# 16 MiB where the page-fault guests' frames start.
assert load >= 0x10000 + 0x70000 and load + len(image) <= bss_end < 0x1000000, "layout"
nsect = (len(image) + 511) // 512
boot[0x1E8:0x1FC] = struct.pack("<HHIIII", nsect, 0, load, len(image), bss_end, entry)
disk = bytes(boot) + image
disk += bytes(1474560 - len(disk))
open(d + "/floppy.img", "wb").write(disk)
PY
    cat > "$dir/bochsrc" <<RC
megs: $mem
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
# last result line; fails on a timeout or a failed guest.
bochs_run() {
    dir=$1
    : > "$dir/serial.raw"
    t0=$(now_ns)
    bochs -q -f "$dir/bochsrc" -rc "$dir/cmds" < /dev/null > "$dir/bochs.stdout" 2>&1 &
    bochs_pid=$!
    deadline=$((t0 + 300000000000))
    done=0
    while :; do
        if tap_finished "$dir/serial.raw"; then done=1; break; fi
        kill -0 "$bochs_pid" 2>/dev/null || break
        [ "$(now_ns)" -lt $deadline ] || break
        sleep 0.005
    done
    t1=$(now_ns)
    kill "$bochs_pid" 2>/dev/null || :
    wait "$bochs_pid" 2>/dev/null || :
    bochs_pid=
    from_marker "$dir/serial.raw" > "$2"
    [ $done = 1 ] || { echo "bochs: no complete TAP output (see $dir/bochs.log)" >&2; return 1; }
    echo $((t1 - t0))
}

# run PEER ELF TAG: one run; prints its wall time (ns), output in $work/TAG.out.
run() {
    case $1 in
        qemu) qemu_run "$2" "$work/$3.out" ;;
        bochs) bochs_run "$work/$3" "$work/$3.out" ;;
        x86v-shadow) x86v_run "--virt=hw --mmu=shadow" "$2" "$work/$3.out" ;;
        x86v-direct) x86v_run "--virt=hw --mmu=direct" "$2" "$work/$3.out" ;;
        x86v-none) x86v_run "--virt=none" "$2" "$work/$3.out" ;;
        x86v-blocks) x86v_run "--virt=none --engine blocks" "$2" "$work/$3.out" ;;
        x86v-interp) x86v_run "--virt=none --engine interp" "$2" "$work/$3.out" ;;
    esac
}
min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
secs() { awk -v t="$1" 'BEGIN { printf "%.3f s", t / 1e9 }'; }

fail=0
for peer in $peers; do
    case $peer in
        qemu) cmd=qemu-system-i386 ;;
        bochs) cmd=bochs ;;
        x86v-shadow | x86v-direct | x86v-none | x86v-blocks | x86v-interp) cmd=$x86v ;;
        *) echo "$0: unknown peer $peer (qemu, bochs, x86v-shadow, x86v-direct, x86v-none, x86v-blocks, x86v-interp)" >&2; exit 2 ;;
    esac
    if ! command -v "$cmd" > /dev/null; then
        echo "peer=$peer skipped (not installed)"
        continue
    fi
    for elf in "$@"; do
        short=${elf%.elf}-short.elf
        guest=$(basename "$elf" .elf)
        if [ "$peer" = bochs ]; then
            if ! { bochs_prepare "$elf" "$work/$guest" && bochs_prepare "$short" "$work/$guest-short"; }; then
                echo "peer=$peer guest=$guest failed (floppy image)"; fail=1; continue
            fi
        fi
        tfull= tshort= ok=1 i=0 n= ns=
        while [ $i -lt "$repeat" ]; do
            if ! { t=$(run "$peer" "$elf" "$guest") && n=$(check_output "$work/$guest.out") && [ -n "$n" ]; }; then
                echo "peer=$peer guest=$guest failed (its output is on stderr)"; cat "$work/$guest.out" >&2; ok=0; break
            fi
            log "$peer $guest: $(secs "$t")"
            tfull=$(min "$tfull" "$t")
            if ! { t=$(run "$peer" "$short" "$guest-short") && ns=$(check_output "$work/$guest-short.out") && [ -n "$ns" ]; }; then
                echo "peer=$peer guest=$guest failed (baseline $(basename "$short"); its output is on stderr)"; cat "$work/$guest-short.out" >&2; ok=0; break
            fi
            log "$peer $guest-short: $(secs "$t")"
            tshort=$(min "$tshort" "$t")
            i=$((i + 1))
        done
        [ $ok = 1 ] || { fail=1; continue; }
        awk -v peer="$peer" -v guest="$guest" -v tf="$tfull" -v ts="$tshort" -v n="$n" -v ns="$ns" 'BEGIN {
            s = (tf - ts) / 1e9
            if (s <= 0 || n <= ns) { printf "peer=%s guest=%s failed (loop time %.3f s for %d iterations: below the noise)\n", peer, guest, s, n - ns; exit 1 }
            line = sprintf("peer=%s guest=%s miters=%.3f seconds=%.3f iterations=%d", peer, guest, (n - ns) / s / 1e6, s, n)
            if (guest == "alu" || guest == "alu-paging") {
                ifull = 22 * n + 1039; ishort = 22 * ns + 1039
                line = line sprintf(" mips=%.1f instructions=%d", (ifull - ishort) / s / 1e6, ifull)
            }
            print line
            printf "  (%s %s: best of full run %.3f s, baseline %.3f s)\n", peer, guest, tf / 1e9, ts / 1e9 > "/dev/stderr"
        }' || fail=1
    done
done
exit $fail
