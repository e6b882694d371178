#!/bin/sh
# Page-table-heavy loops under x86v's three MMU configurations and its two
# reference machines, side by side (make bench), in million loop iterations
# per second, then the goal lines computed from those numbers:
#
#   (a) PTE churn      bench-churn   rewrite one PTE, INVLPG, read through it;
#                                    mov cr3,cr3 every 64 iterations
#   (b) demand faults  bench-fault   store to an unmapped page, the #PF handler
#                                    maps it, read back, clear the PTE, INVLPG
#   (c) demand sweep   bench-demand  fault in all 8,192 pages of 32 MiB, read
#                                    them back, unmap them all, one CR3 reload
#   (d) CR3 switches   bench-spaces  switch among 8 address spaces, 3 accesses
#
# Every cell is measured the same way, by Benchmarks/peers/run-peers.sh: the
# guest built with many iterations (testguests/build/bench/NAME.elf) and
# with few (NAME-short.elf), best wall time of REPEAT runs each, and
#   iterations/s = (N_full - N_short) / (best t_full - best t_short)
# so firmware boot (QEMU, Bochs), ELF loading and teardown cancel out. A run
# counts only if the guest passed its own checks (every access is verified,
# so a wrong translation fails instead of giving a number). A peer that is
# not installed shows "skipped (not installed)" and fails nothing; a run that
# fails shows FAILED, its output follows the table, and the exit status is 1.
#
# usage: Benchmarks/shadow/run.sh X86V GUEST_DIR   (GUEST_DIR = testguests/build)
# Environment: REPEAT=3, VERBOSE=1 (every run's time on stderr).
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 X86V GUEST_DIR   (e.g. .build/release/x86v testguests/build)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
x86v=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

guests="bench-churn bench-fault bench-demand bench-spaces"
elfs=
for g in $guests; do
    for f in "$dir/bench/$g.elf" "$dir/bench/$g-short.elf"; do
        [ -f "$f" ] || { echo "$0: $f missing (make -C testguests)" >&2; exit 2; }
    done
    elfs="$elfs $dir/bench/$g.elf"
done
[ -x "$x86v" ] || { echo "$0: $x86v is not an executable (swift build -c release)" >&2; exit 2; }

# Column headers name the versions installed, so the table never claims
# another one.
qemu_ver=$(qemu-system-i386 --version 2>/dev/null | sed -n '1s/^QEMU emulator version \([0-9]*\.[0-9]*\).*/ \1/p') || :
bochs_ver=$(dpkg-query -W -f '${Version}' bochs 2>/dev/null | sed 's/[+~-].*//; s/^[0-9]*://; s/^/ /') || :

status=0
# shellcheck disable=SC2086 # $elfs is a list of paths without spaces
PEERS="x86v-shadow x86v-direct x86v-none bochs qemu" X86V=$x86v PEERS_REPEAT=${REPEAT:-3} \
    PEERS_VERBOSE=${VERBOSE:-0} "$here/../peers/run-peers.sh" $elfs > "$tmp/results" 2> "$tmp/log" || status=$?
if [ $status -ge 2 ]; then
    cat "$tmp/results" "$tmp/log" >&2
    exit $status
fi
[ "${VERBOSE:-0}" = 1 ] && cat "$tmp/log" >&2

awk -v qemu_ver="$qemu_ver" -v bochs_ver="$bochs_ver" '
    # "peer=P guest=G miters=X ..." -> r[P, G] = X; failures and skipped peers too.
    {
        delete v
        for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2) v[kv[1]] = kv[2]
        if ($2 == "skipped") { skipped[v["peer"]] = 1; next }
        if ($3 ~ /^failed/) { r[v["peer"], v["guest"]] = "FAILED"; next }
        if (v["miters"] != "") r[v["peer"], v["guest"]] = v["miters"]
    }
    function num(p, g) { return ((p, g) in r) && r[p, g] != "FAILED" ? r[p, g] + 0 : -1 }
    function cell(p, g,    x) {
        if (p in skipped) return "skipped (not installed)"
        if (!((p, g) in r)) return "-"
        if (r[p, g] == "FAILED") return "FAILED"
        x = r[p, g] + 0
        return sprintf(x >= 10 ? "%.1f" : x >= 1 ? "%.2f" : "%.3f", x)
    }
    function goal(text, value, ok) { printf "  %s: %.2f (%s)\n", text, value, ok }
    END {
        np = split("x86v-shadow x86v-direct x86v-none bochs qemu", peers, " ")
        head[1] = "x86v shadow"; head[2] = "x86v --mmu=direct"; head[3] = "x86v --virt=none"
        head[4] = "Bochs" bochs_ver; head[5] = "QEMU" qemu_ver " TCG"
        ng = split("bench-churn bench-fault bench-demand bench-spaces", guests, " ")
        label[1] = "(a) PTE churn (bench-churn)"; label[2] = "(b) demand faults (bench-fault)"
        label[3] = "(c) demand sweep (bench-demand)"; label[4] = "(d) CR3 switches (bench-spaces)"
        short["bench-churn"] = "churn"; short["bench-fault"] = "faults"
        short["bench-demand"] = "demand sweep"; short["bench-spaces"] = "bench-spaces"
        # A Markdown table, its columns padded so it reads in a terminal too.
        t[0, 0] = "loop (M iterations/s)"
        for (j = 1; j <= np; j++) t[0, j] = head[j]
        for (k = 1; k <= ng; k++) {
            t[k, 0] = label[k]
            for (j = 1; j <= np; j++) t[k, j] = cell(peers[j], guests[k])
        }
        for (j = 0; j <= np; j++) {
            w[j] = 3
            for (k = 0; k <= ng; k++) if (length(t[k, j]) > w[j]) w[j] = length(t[k, j])
        }
        for (k = 0; k <= ng; k++) {
            line = "|"
            for (j = 0; j <= np; j++) line = line sprintf(j ? " %" w[j] "s |" : " %-" w[j] "s |", t[k, j])
            print line
            if (k == 0) {
                line = "|"
                for (j = 0; j <= np; j++) { dash = sprintf("%" (w[j] + 2) "s", ""); gsub(/ /, "-", dash); line = line dash "|" }
                print line
            }
        }
        print ""
        print "goals (from the table above):"
        # The shadow MMU against the faster of the two reference machines.
        for (k = 1; k <= 2; k++) {
            g = guests[k]; s = num("x86v-shadow", g)
            b = num("bochs", g); q = num("qemu", g); best = b > q ? b : q
            if (s < 0 || best <= 0) { printf "  shadow / max(bochs,qemu) on %s: skipped (no number)\n", short[g]; continue }
            # Both loops of issue 14 (PTE churn and demand faults) carry the same goal.
            goal("shadow / max(bochs,qemu) on " short[g], s / best, s / best >= 1.2 ? "goal >= 1.2: met" : "goal >= 1.2: NOT met")
        }
        # The direct MMU (the nested-paging reference) costs at most 1.3x the bare interpreter.
        for (k = 1; k <= ng; k++) {
            g = guests[k]; d = num("x86v-direct", g); n = num("x86v-none", g)
            if (d <= 0 || n < 0) { printf "  none / direct on %s: skipped (no number)\n", short[g]; continue }
            goal("none / direct on " short[g], n / d, n / d <= 1.3 ? "goal <= 1.3: met" : "goal <= 1.3: NOT met")
        }
        # The shadow MMU within 1.5x of direct; on bench-spaces (its CR3 cache) at least as fast.
        for (k = 1; k <= ng; k++) {
            g = guests[k]; d = num("x86v-direct", g); s = num("x86v-shadow", g)
            limit = g == "bench-spaces" ? 1.0 : 1.5
            if (s <= 0 || d < 0) { printf "  direct / shadow on %s: skipped (no number)\n", short[g]; continue }
            goal("direct / shadow on " short[g], d / s, sprintf("goal <= %.1f: %s", limit, d / s <= limit ? "met" : "NOT met"))
        }
    }' "$tmp/results"

if [ $status -ne 0 ]; then
    echo "$0: a run failed (FAILED above); the runner said:" >&2
    cat "$tmp/log" >&2
fi
exit $status
