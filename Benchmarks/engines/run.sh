#!/bin/sh
# The execution engines beside Bochs and QEMU (issue 15), in one run, for `make bench`:
#
#   guest        x86v blocks   x86v interp   Bochs     QEMU      blocks/Bochs  blocks/QEMU
#   alu          ...  MIPS     ...           ...       ...       2.21 (goal >= 2)  0.11 (moonshot >= 0.33)
#
# Every number comes from Benchmarks/peers/run-peers.sh (best of PEERS_REPEAT runs, full
# minus short build, so firmware and loading are not counted), with the peers x86v-blocks
# (--virt=none --engine blocks), x86v-interp (--virt=none --engine interp), bochs and qemu.
# MIPS = (instructions of the full build - instructions of the short build) / loop seconds, the
# instruction counts from `x86v run --stats` (deterministic, and the same instruction stream on
# every peer: the builds differ only in the loop count), the seconds from run-peers.sh.
#
# usage: Benchmarks/engines/run.sh X86V GUEST.elf...   (each with GUEST-short.elf beside it)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
x86v=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
PEERS=${PEERS:-"qemu bochs x86v-blocks x86v-interp"} X86V=$x86v "$here/../peers/run-peers.sh" "$@" | tee "$out" >&2 || :

instructions() {  # ELF -> the instruction count of a whole x86v run
    "$x86v" run "$1" --virt=none --stats 2>&1 >/dev/null | sed -n 's/^x86v: \([0-9]*\) instructions.*/\1/p'
}

printf '%-14s %12s %12s %10s %10s  %-22s %s\n' guest "x86v blocks" "x86v interp" Bochs QEMU "blocks/Bochs (>= 2)" "blocks/QEMU (>= 0.33)"
for elf in "$@"; do
    guest=$(basename "$elf" .elf)
    short=${elf%.elf}-short.elf
    loop=$(awk -v a="$(instructions "$elf")" -v b="$(instructions "$short")" 'BEGIN { if (a > b) print a - b }')
    awk -v guest="$guest" -v loop="$loop" '
        { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
          if (v["guest"] == guest && v["seconds"] > 0) sec[v["peer"]] = v["seconds"] }
        function mips(p) { return (p in sec) && loop != "" ? loop / sec[p] / 1e6 : 0 }
        function show(x) { return x > 0 ? sprintf("%.1f", x) : "-" }
        END {
            b = mips("x86v-blocks"); i = mips("x86v-interp"); bo = mips("bochs"); q = mips("qemu")
            rb = bo > 0 && b > 0 ? sprintf("%.2f%s", b / bo, b / bo >= 2 ? " (met)" : " (not met)") : "-"
            rq = q > 0 && b > 0 ? sprintf("%.2f%s", b / q, b / q >= 1 / 3 ? " (met)" : "") : "-"
            printf "%-14s %12s %12s %10s %10s  %-22s %s\n", guest, show(b), show(i), show(bo), show(q), rb, rq
        }' "$out"
done
echo "(MIPS: guest instructions per second of loop time, best of ${PEERS_REPEAT:-3}; x86v under --virt=none)"
