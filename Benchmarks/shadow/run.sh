#!/bin/sh
# Shadow MMU vs direct MMU, side by side (make bench): the same guest under
# `x86v run --mmu=direct` and `--mmu=shadow`, best wall time of REPEAT runs each, and the
# shadow MMU's counters from --stats-json.
#
#   (a) alu-paging    compute loop with paging on (goal: shadow within 10% of direct)
#   (b) bench-churn   rewrite a PTE + INVLPG + access, CR3 reload every 64 iterations (goal: <= 3x)
#   (c) bench-demand  demand-paging faults (32,768 of them)
#   (d) bench-spaces  switching among 8 address spaces
#
# usage: Benchmarks/shadow/run.sh X86V GUEST_DIR   (REPEAT=3 by default)
set -eu
x86v=$1; dir=$2; repeat=${REPEAT:-3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
best() {  # best wall seconds of $repeat runs; leaves the last --stats-json in $tmp/stats.json
    b=""
    for i in $(seq "$repeat"); do
        t=$("$x86v" run "$@" --stats --stats-json "$tmp/stats.json" 2>&1 >/dev/null | sed -n 's/^x86v: [0-9]* instructions in \([0-9.]*\) s.*/\1/p')
        if [ -z "$b" ] || awk "BEGIN { exit !($t < $b) }"; then b=$t; fi
    done
    echo "$b"
}
printf '%-13s %9s %9s %7s  %s\n' guest direct/s shadow/s ratio "shadow counters"
for g in alu-paging bench-churn bench-demand bench-spaces; do
    elf=$dir/$g.elf
    [ -f "$elf" ] || { echo "$g: missing $elf"; continue; }
    d=$(best "$elf" --mmu=direct)
    s=$(best "$elf" --mmu=shadow)
    counters=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(" ".join("%s=%s" % kv for kv in j["shadow"].items() if kv[0] != "pool_pages"), "exits=%d" % j["exits"]["total"])' "$tmp/stats.json")
    printf '%-13s %9.3f %9.3f %7.2f  %s\n' "$g" "$d" "$s" "$(awk "BEGIN { print $s / $d }")" "$counters"
done
