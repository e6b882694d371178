#!/bin/sh
# x87 and SSE2 loop speed beside Bochs and QEMU (issue 16), in one table for `make bench`:
#
#   guest            loop instructions   x86v blocks  x86v interp   Bochs    QEMU   (MIPS)
#   bench-x87              131,xxx,xxx          ...          ...     ...     ...
#   bench-sse2             ...
#
# The guests (testguests/guests/bench-x87.c, bench-sse2.c) run the same double-precision
# loop (a 5-body gravity step plus a Horner polynomial per iteration), built for the x87
# (-O2 -march=i686) and for scalar SSE2 (-O2 -march=pentium4 -msse2 -mfpmath=sse); each
# checks its own checksum, so a wrong result gives no number.
#
# Measured like Benchmarks/engines/run.sh does for bench-cwork: the seconds come from
# Benchmarks/peers/run-peers.sh (best of PEERS_REPEAT runs, full build minus short build,
# so firmware, loading and teardown cancel out), with the peers x86v-blocks (--virt=none
# --engine blocks), x86v-interp (--virt=none --engine interp), bochs and qemu; and
#   MIPS = (instructions of the full build - instructions of the short build) / loop seconds,
# the instruction counts from `x86v run --stats` (deterministic, and the same instruction
# stream on every peer: the builds differ only in the loop count). While x86v cannot run a
# guest (its run fails or its checksum is wrong), its cells say n/a and the instruction
# counts come from Bochs 2.7 instead: the debugger's tick count (one per instruction with
# clock: sync=none) from the guest's entry point to its exit() call, which also counts the
# guest's waits for the UART (a few thousand instructions: < 0.01% of a loop). The
# "counted by" column says which.
#
# usage: Benchmarks/fpu/run.sh X86V [GUEST.elf ...]   (default: testguests/build/bench/
#        bench-x87.elf and bench-sse2.elf, each with GUEST-short.elf beside it)
# Environment: PEERS (default "qemu bochs x86v-blocks x86v-interp"), PEERS_REPEAT=3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -lt 1 ]; then
    echo "usage: $0 X86V [GUEST.elf ...]" >&2
    exit 2
fi
x86v=$1
shift
[ $# -gt 0 ] || set -- "$root/testguests/build/bench/bench-x87.elf" "$root/testguests/build/bench/bench-sse2.elf"
out=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$out" "$work"' EXIT
PEERS=${PEERS:-"qemu bochs x86v-blocks x86v-interp"} X86V=$x86v "$here/../peers/run-peers.sh" "$@" | tee "$out" >&2 || :

# x86v_count ELF: instructions of a whole x86v run, if the guest passed; else nothing.
x86v_count() {
    status=0
    timeout 600 "$x86v" run "$1" --virt=none --stats < /dev/null > "$work/x86v.out" 2> "$work/x86v.err" || status=$?
    if [ "$status" = 1 ] && grep -q '^ok 1 ' "$work/x86v.out" && ! grep -q -e '^not ok' -e '^Bail out!' "$work/x86v.out"; then
        sed -n 's/^x86v: \([0-9]*\) instructions.*/\1/p' "$work/x86v.err" | head -n 1
    fi
}

# bochs_count ELF: Bochs's instruction count from the guest's entry to its exit() call, if
# the guest passed; else nothing. Boots the guest as testguests/bochs/run-bochs.sh does.
bochs_count() {
    elf=$1 d=$work/bochs
    command -v bochs > /dev/null || return 0
    rm -rf "$d" && mkdir -p "$d"
    gcc -m32 -c "$root/testguests/bochs/boot.S" -o "$d/boot.o" || return 0
    ld -m elf_i386 -e start -Ttext 0x7C00 --oformat binary -o "$d/boot.bin" "$d/boot.o" || return 0
    objcopy -O binary "$elf" "$d/image.bin" || return 0
    load=$(readelf -lW "$elf" | awk '$1 == "LOAD" { print $4; exit }')
    entry=$(readelf -hW "$elf" | awk '/Entry point/ { print $4 }')
    bss_end=$(nm "$elf" | awk '$3 == "__bss_end" { print "0x" $1 }')
    exit_fn=$(nm "$elf" | awk '$3 == "exit" { print "0x" $1 }')
    [ -n "$load" ] && [ -n "$entry" ] && [ -n "$bss_end" ] && [ -n "$exit_fn" ] || return 0
    python3 - "$d" "$load" "$entry" "$bss_end" <<'PY' || return 0
import struct, sys
d, load, entry, bss_end = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16), int(sys.argv[4], 16)
boot = bytearray(open(d + "/boot.bin", "rb").read())
image = open(d + "/image.bin", "rb").read()
assert len(boot) == 512 and len(image) < 0x70000
nsect = (len(image) + 511) // 512
boot[0x1E8:0x1FC] = struct.pack("<HHIIII", nsect, 0, load, len(image), bss_end, entry)
disk = bytes(boot) + image + bytes(nsect * 512 - len(image))
disk += bytes(1474560 - len(disk))
open(d + "/floppy.img", "wb").write(disk)
PY
    cat > "$d/bochsrc" <<RC
megs: 64
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
floppya: 1_44=$d/floppy.img, status=inserted
boot: floppy
display_library: rfb, options="timeout=0"
com1: enabled=1, mode=file, dev=$d/serial.out
log: $d/bochs.log
clock: sync=none
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
RC
    printf 'lb %s\nc\nptime\nlb %s\nc\nptime\nquit\n' "$entry" "$exit_fn" > "$d/cmds"
    timeout 600 bochs -q -f "$d/bochsrc" -rc "$d/cmds" < /dev/null > "$d/bochs.stdout" 2>&1 || :
    grep -q '^ok 1 ' "$d/serial.out" && ! grep -q -e '^not ok' -e '^Bail out!' "$d/serial.out" || return 0
    tr -d '\r' < "$d/bochs.stdout" | sed -n 's/.*ptime: \([0-9]*\).*/\1/p' \
        | awk 'NR == 1 { a = $1 } NR == 2 { b = $1 } END { if (NR == 2 && b > a) printf "%d\n", b - a }'
}

echo "x87 and SSE2 double-precision loops beside Bochs and QEMU (issue 16), MIPS:"
printf '%-12s %18s %-7s %12s %12s %10s %10s\n' guest "loop instructions" "by" "x86v blocks" "x86v interp" Bochs QEMU
for elf in "$@"; do
    guest=$(basename "$elf" .elf)
    short=${elf%.elf}-short.elf
    by=x86v
    a=$(x86v_count "$elf")
    b=
    [ -z "$a" ] || b=$(x86v_count "$short")
    if [ -z "$a" ] || [ -z "$b" ]; then
        by=Bochs
        a=$(bochs_count "$elf")
        b=
        [ -z "$a" ] || b=$(bochs_count "$short")
    fi
    loop=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a != "" && b != "" && a + 0 > b + 0) printf "%d", a - b }')
    [ -n "$loop" ] || by=-
    awk -v guest="$guest" -v loop="$loop" -v by="$by" '
        { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
          if (v["guest"] == guest && v["seconds"] > 0) sec[v["peer"]] = v["seconds"] }
        function show(p) { return (p in sec) && loop != "" ? sprintf("%.1f", loop / sec[p] / 1e6) : "n/a" }
        function commas(n,   s) { s = ""; while (n >= 1000) { s = sprintf(",%03d", n % 1000) s; n = int(n / 1000) } return n s }
        END {
            printf "%-12s %18s %-7s %12s %12s %10s %10s\n", guest, loop != "" ? commas(loop + 0) : "n/a", by,
                show("x86v-blocks"), show("x86v-interp"), show("bochs"), show("qemu")
        }' "$out"
done
echo "(MIPS: loop instructions per second of loop time, best of ${PEERS_REPEAT:-3}; x86v under --virt=none; n/a: the run failed or the peer is missing)"
