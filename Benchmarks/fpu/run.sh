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
# stream on every peer: the builds differ only in the loop count). If x86v cannot run a
# guest (its run fails or its checksum is wrong), the row says n/a.
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

echo "x87 and SSE2 double-precision loops beside Bochs and QEMU (issue 16), MIPS:"
printf '%-12s %18s %12s %12s %10s %10s\n' guest "loop instructions" "x86v blocks" "x86v interp" Bochs QEMU
for elf in "$@"; do
    guest=$(basename "$elf" .elf)
    short=${elf%.elf}-short.elf
    a=$(x86v_count "$elf")
    b=
    [ -z "$a" ] || b=$(x86v_count "$short")
    loop=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a != "" && b != "" && a + 0 > b + 0) printf "%d", a - b }')
    awk -v guest="$guest" -v loop="$loop" '
        { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
          if (v["guest"] == guest && v["seconds"] > 0) sec[v["peer"]] = v["seconds"] }
        function show(p) { return (p in sec) && loop != "" ? sprintf("%.1f", loop / sec[p] / 1e6) : "n/a" }
        function commas(n,   s) { s = ""; while (n >= 1000) { s = sprintf(",%03d", n % 1000) s; n = int(n / 1000) } return n s }
        END {
            printf "%-12s %18s %12s %12s %10s %10s\n", guest, loop != "" ? commas(loop + 0) : "n/a",
                show("x86v-blocks"), show("x86v-interp"), show("bochs"), show("qemu")
        }' "$out"
done
echo "(MIPS: loop instructions per second of loop time, best of ${PEERS_REPEAT:-3}; x86v under --virt=none; n/a: the run failed or the peer is missing)"
