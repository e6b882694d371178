#!/usr/bin/env bash
# `x86v run --save-at N --save FILE` + `x86v run --resume FILE` against uninterrupted runs:
#  1. every guest in GUESTDIR/build/*.elf (those `x86v test` skips by their spec are skipped; a
#     spec's flags are used, else --memory 64M) under --virt=hw --mmu=shadow, and a few under
#     --virt=none and --mmu=direct, is saved at several instruction counts and resumed; the
#     serial output before the save plus after the resume, the exit status, stderr, --stats-json
#     and the fault (and exit) trace must equal the uninterrupted run's, byte for byte;
#  2. the counts come from the uninterrupted run's own traces, so they follow the guests: 1,
#     1000, the middle, just after a #PF taken inside a REP string instruction (REP found with
#     `x86v disasm`), just before an INTERRUPT_WINDOW exit (an interrupt pending that IF = 0 or
#     an STI shadow holds back),
#     just before and after a guest write to one of its page tables (a write-protect fault),
#     at a timer tick; one resumed run is itself saved and resumed again;
#  3. a truncated, corrupted, other-version or other-build file, and bad flag combinations, get
#     one line on stderr and exit status 2.
# Usage: Tests/cli/check-save-resume.sh [path/to/x86v] [GUESTDIR]   (from the repository root)
set -uo pipefail
x86v=${1:-.build/release/x86v}
guestdir=${2:-testguests}
case "$x86v" in /*) ;; *) x86v="$PWD/$x86v" ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export x86v tmp
began=$(date +%s)

# shellcheck source=guest-spec.sh
. "$(dirname "$0")/guest-spec.sh"

# Guests whose exit traces run to hundreds of megabytes: only their fault traces are compared.
heavy_exit_trace="bench-churn bench-demand bench-spaces"
# Extra configurations for a few guests (faults, REP strings, timers, the LAPIC).
also_none_direct="pf-demand pf-cow strings pic apic demo"
also_classic="demo hole-iret pf-demand hole-sldt-str"

units="$tmp/units"
: > "$units"
skipped=0
for elf in "$guestdir"/build/*.elf; do
    name=$(basename "$elf" .elf)
    spec="$guestdir/expected/$name.spec"
    if [ -n "$(spec_value "$spec" skip)" ]; then skipped=$((skipped + 1)); continue; fi
    flags=$(spec_value "$spec" flags)
    [[ " $flags " == *" --memory"* ]] || flags="--memory 64M $flags"
    configs=$(spec_value "$spec" configs)
    [ -n "$configs" ] || configs="none hw-direct hw-shadow"
    for config in hw-shadow none hw-direct; do
        [[ " $configs " == *" $config "* ]] || continue
        if [ "$config" != hw-shadow ] && [[ " $also_none_direct " != *" $name "* ]]; then continue; fi
        echo "$elf|$config|$flags" >> "$units"
    done
    # The pre-VT VMMs (their own state: virtual descriptor tables, translation marks) on a few.
    if [[ " $also_classic " == *" $name "* ]]; then
        echo "$elf|classic|$flags" >> "$units"
        echo "$elf|bt|$flags" >> "$units"
    fi
done

# Instruction counts worth saving at, from the reference run's traces (one per line: N LABEL).
pick_points() {  # DIS FAULTS EXITS TOTAL
    python3 - "$@" <<'PY'
import json, re, sys
dis_path, faults_path, exits_path, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rep = set()
for line in open(dis_path):
    m = re.match(r'0x([0-9a-f]+)\s+(?:[0-9a-f]{2} )+\s*(rep|repe|repne) ', line)
    if m: rep.add(int(m.group(1), 16))
points = {1: "start", 1000: "early", total // 2: "middle"}
def add(n, label):
    if 0 < n < total and n not in points: points[n] = label
faults = [json.loads(l) for l in open(faults_path)] if faults_path != "-" else []
kinds = set()
for f in faults:
    if int(f["eip"], 16) in rep and f["kind"] not in kinds:
        kinds.add(f["kind"])
        add(f["icount"] + 1, "in a REP string after a %s #PF" % f["kind"])
protects = [f for f in faults if f["action"] == "write-protect"]
for f in protects[:1] + protects[len(protects) // 2:len(protects) // 2 + 1]:
    add(f["icount"], "before a page-table write")
    add(f["icount"] + 1, "after a page-table write")
# A leaf table going out of sync, and a while later: the guest then writes it directly and the
# shadow catches up at INVLPG/CR3 writes, so a snapshot holds a table out of step with its shadow.
unsync = [f for f in faults if f["action"] == "unsync"]
for f in unsync[:1]:
    add(f["icount"], "before a table goes out of sync")
    add(f["icount"] + 1, "after a table went out of sync")
    add(f["icount"] + 200, "while a table is out of sync")
exits = [json.loads(l) for l in open(exits_path)] if exits_path != "-" else []
previous = None
for e in exits:
    if e["reason"] == "INTERRUPT_WINDOW" and previous is not None and e["icount"] - previous > 1:
        add(e["icount"] - 1, "an interrupt pending, not yet taken")
        break
    previous = e["icount"]
ticks = [e for e in exits if e["reason"] == "EXTERNAL_INTERRUPT"]
if ticks: add(ticks[len(ticks) // 2]["icount"], "at a timer tick")
for n in sorted(points): print(n, points[n])
PY
}
export -f pick_points

check_unit() {  # ELF|CONFIG|FLAGS
    local elf config flags
    IFS='|' read -r elf config flags <<< "$1"
    local name
    name=$(basename "$elf" .elf)
    local d="$tmp/$name-$config"
    mkdir -p "$d"
    local out="$d/result"
    : > "$out"
    local cfg=()
    case $config in
        none) cfg=(--virt=none) ;;
        hw-direct) cfg=(--virt=hw --mmu=direct) ;;
        hw-shadow) cfg=(--virt=hw --mmu=shadow) ;;
        classic) cfg=(--virt=classic) ;;
        bt) cfg=(--virt=bt) ;;
    esac
    local withexits=1
    [ "$config" = none ] && withexits=0
    [[ " $heavy_exit_trace " == *" $name "* ]] && withexits=0
    # shellcheck disable=SC2206
    local base=("$elf" ${flags} "${cfg[@]}" --max-instructions 2000000000 --timeout 120)
    local ex_ref=() ex_a=() ex_b=() ex_c=()
    if [ $withexits -eq 1 ]; then
        ex_ref=(--trace-exits "$d/ref.e"); ex_a=(--trace-exits "$d/a.e")
        ex_b=(--trace-exits "$d/b.e"); ex_c=(--trace-exits "$d/c.e")
    fi
    "$x86v" run "${base[@]}" --serial "$d/ref.out" --stats-json "$d/ref.json" --trace-faults "$d/ref.f" \
        "${ex_ref[@]}" < /dev/null 2> "$d/ref.err"
    local status=$?
    if [ ! -s "$d/ref.json" ]; then echo "not ok - $name [$config]: the reference run failed (status $status)" >> "$out"; return; fi
    local total
    total=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["instructions"])' "$d/ref.json")
    "$x86v" disasm "$elf" > "$d/dis" 2> /dev/null
    local exits_file=-
    [ $withexits -eq 1 ] && exits_file="$d/ref.e"
    pick_points "$d/dis" "$d/ref.f" "$exits_file" "$total" > "$d/points"
    local chained=0
    while read -r n label; do
        rm -f "$d"/a.* "$d"/b.* "$d"/c.* "$d/snap" "$d/snap2"
        "$x86v" run "${base[@]}" --save-at "$n" --save "$d/snap" --serial "$d/a.out" --trace-faults "$d/a.f" \
            "${ex_a[@]}" < /dev/null 2> "$d/a.err"
        local saved=$?
        if [ $saved -ne 18 ] || [ ! -s "$d/snap" ]; then
            echo "not ok - $name [$config] @$n ($label): the save run exited $saved$(head -c 200 "$d/a.err")" >> "$out"
            continue
        fi
        local parts=(a b) resume_from="$d/snap"
        if [ $chained -eq 0 ] && [ "$label" = middle ] && [ "$n" -lt $((total - 10)) ]; then
            # Resume, run a little further, save again, resume that.
            chained=1
            parts=(a c b)
            "$x86v" run --resume "$d/snap" --save-at $((n + (total - n) / 2)) --save "$d/snap2" \
                --serial "$d/c.out" --trace-faults "$d/c.f" "${ex_c[@]}" < /dev/null 2> "$d/c.err"
            local again=$?
            if [ $again -ne 18 ]; then echo "not ok - $name [$config] @$n: the chained save exited $again" >> "$out"; continue; fi
            resume_from="$d/snap2"
            label="$label, saved again at $((n + (total - n) / 2))"
        fi
        "$x86v" run --resume "$resume_from" --serial "$d/b.out" --stats-json "$d/b.json" --trace-faults "$d/b.f" \
            "${ex_b[@]}" < /dev/null 2> "$d/b.err"
        local resumed=$?
        local problems=()
        [ $resumed -eq $status ] || problems+=("exit status $resumed, uninterrupted $status")
        cmp -s <(for p in "${parts[@]}"; do cat "$d/$p.out"; done) "$d/ref.out" || problems+=("serial output")
        cmp -s <(for p in "${parts[@]}"; do cat "$d/$p.err"; done) "$d/ref.err" || problems+=("stderr")
        cmp -s "$d/b.json" "$d/ref.json" || problems+=("--stats-json")
        local k
        k=$(cat "$d/a.f" "$d"/c.f 2>/dev/null | wc -l)
        cmp -s "$d/b.f" <(tail -n +$((k + 1)) "$d/ref.f") || problems+=("fault trace after the save")
        cmp -s <(for p in "${parts[@]}"; do cat "$d/$p.f"; done) "$d/ref.f" || problems+=("fault trace")
        if [ $withexits -eq 1 ]; then
            cmp -s <(for p in "${parts[@]}"; do cat "$d/$p.e"; done) "$d/ref.e" || problems+=("exit trace")
        fi
        if [ ${#problems[@]} -eq 0 ]; then
            echo "ok - $name [$config] @$n ($label): status $status, $(wc -l < "$d/b.f") of $(wc -l < "$d/ref.f") faults after the resume" >> "$out"
        else
            local joined
            joined=$(printf '%s, ' "${problems[@]}")
            echo "not ok - $name [$config] @$n ($label): ${joined%, } differ" >> "$out"
        fi
    done < "$d/points"
    rm -f "$d"/*.e "$d"/*.f "$d"/snap*
}
export -f check_unit
export heavy_exit_trace

# 1 and 2. All units, as many at once as there are cores.
xargs -a "$units" -d '\n' -P "$(nproc)" -I{} bash -c 'check_unit "$1"' _ {}
results=$(cat "$tmp"/*/result 2>/dev/null)
echo "$results"
passed=$(grep -c '^ok' <<< "$results")
failed=$(grep -c '^not ok' <<< "$results")
echo "# $(wc -l < "$units") guest configurations, $passed save points ok, $failed not ok, $skipped guests skipped by their spec"

# 3. Bad files and flags: one line on stderr, status 2.
failures=$failed
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
. "$(dirname "$0")/check-bad.sh"  # check_bad DESCRIPTION EXPECTED-TEXT ARGS…
hello="$guestdir/build/hello.elf"
"$x86v" run "$hello" --memory 64M --save-at 5000 --save "$tmp/good" --serial /dev/null 2> /dev/null
if [ $? -eq 18 ]; then pass "--save-at 5000: status 18, nothing on stderr"; else fail "--save-at 5000 did not exit 18"; fi
size=$(stat -c %s "$tmp/good")
head -c $((size / 2)) "$tmp/good" > "$tmp/half"
head -c 30 "$tmp/good" > "$tmp/header"
python3 - "$tmp/good" "$tmp" <<'PY'
import struct, sys
good, tmp = open(sys.argv[1], "rb").read(), sys.argv[2]
def reseal(b):  # FNV-1a 64 over little-endian 64-bit words, a partial last word bytewise
    h, body = 0xCBF29CE484222325, b[:-8]
    n = len(body) // 8 * 8
    for (w,) in struct.iter_unpack("<Q", body[:n]): h = ((h ^ w) * 0x100000001B3) & (2**64 - 1)
    for c in body[n:]: h = ((h ^ c) * 0x100000001B3) & (2**64 - 1)
    return body + struct.pack("<Q", h)
flipped = bytearray(good); flipped[len(good) // 3] ^= 0x40
open(tmp + "/flipped", "wb").write(flipped)
version = bytearray(good); version[8:12] = struct.pack("<I", 999)
open(tmp + "/version", "wb").write(version)
build = bytearray(good); at = good.index(b"build ") + 6; build[at] = ord("0") if build[at] != ord("0") else ord("1")
open(tmp + "/build", "wb").write(reseal(bytes(build)))
PY
check_bad "truncated to half" "truncated" run --resume "$tmp/half"
check_bad "truncated in the header" "truncated" run --resume "$tmp/header"
check_bad "one bit flipped" "corrupt: checksum" run --resume "$tmp/flipped"
check_bad "another format version" "format version 999" run --resume "$tmp/version"
check_bad "another x86v build" "another x86v build" run --resume "$tmp/build"
check_bad "not a snapshot" "not an x86v snapshot" run --resume "$hello"
check_bad "missing file" "" run --resume "$tmp/does-not-exist"
check_bad "--resume with a guest" "drop GUEST" run --resume "$tmp/good" "$hello"
check_bad "--resume with --memory" "drop --memory" run --resume "$tmp/good" --memory 32M
check_bad "--resume with --serial-in" "drop --serial-in" run --resume "$tmp/good" --serial-in "$hello"
check_bad "--save-at without --save" "go together" run "$hello" --save-at 10
check_bad "--save without --save-at" "go together" run "$hello" --save "$tmp/x"
check_bad "no guest and no --resume" "missing GUEST" run
"$x86v" run --resume "$tmp/good" --serial /dev/null > /dev/null 2>&1
if [ $? -eq 1 ]; then pass "the good file still resumes (status 1)"; else fail "the good file does not resume"; fi

echo "# $(($(date +%s) - began)) s"
if [ $failures -eq 0 ]; then echo "check-save-resume: all passed"; else echo "check-save-resume: $failures failed"; fi
[ $failures -eq 0 ]
