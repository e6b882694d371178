#!/usr/bin/env bash
# Popek–Goldberg audits against golden reports: for every hole guest (and the demo), the audit
# under --virt=classic, with --umip, under binary translation (--bt), and the --compare table must
# equal Tests/audit/NAME.{classic,umip,bt,compare}.txt byte for byte (no wall-clock values).
# Also: the catalog (--table) is stable, --json is one object, bad input exits 2.
# `--update` rewrites the goldens (review the diff).
set -uo pipefail
X86V=${1:?usage: check-audit.sh X86V [--update]}
UPDATE=${2:-}
cd "$(dirname "$0")/../.."
fail=0
check() {  # name, golden, command...
    local golden=$1; shift
    local out
    out=$(mktemp)
    "$@" >"$out" 2>&1
    echo "exit status $?" >>"$out"
    if [ "$UPDATE" = "--update" ]; then
        cp "$out" "$golden"
    elif ! diff -u "$golden" "$out" >"$out.diff"; then
        echo "FAIL $golden:"; head -n 40 "$out.diff"; fail=1
    else
        echo "ok   $golden"
    fi
    rm -f "$out" "$out.diff"
}
for guest in testguests/build/hole-*.elf testguests/build/demo.elf; do
    name=$(basename "$guest" .elf)
    check "Tests/audit/$name.classic.txt" "$X86V" audit "$guest"
    check "Tests/audit/$name.umip.txt" "$X86V" audit "$guest" --umip
    check "Tests/audit/$name.compare.txt" "$X86V" audit "$guest" --compare
    check "Tests/audit/$name.bt.txt" "$X86V" audit "$guest" --bt
done
check Tests/audit/table.txt "$X86V" audit --table
# Binary translation closes every hole: each guest's serial output and status equal --virt=hw's.
# Skipped: the long guests (corpus, alu*, bench-*: a quarter to several minutes on the slow path),
# pf-live (it maps the VMM's reserved top 4 MiB: bt must refuse it, which is checked).
scratch=$(mktemp -d)
for guest in testguests/build/*.elf; do
    name=$(basename "$guest" .elf)
    case $name in corpus|alu*|bench-*) continue;; esac
    "$X86V" run "$guest" --memory 64M --serial "$scratch/hw.out" >/dev/null 2>&1; hw=$?
    "$X86V" run "$guest" --memory 64M --virt=bt --serial "$scratch/bt.out" >/dev/null 2>"$scratch/bt.err"; bt=$?
    if [ "$name" = pf-live ]; then
        if [ $bt -eq 6 ] && grep -q "cannot virtualize classically" "$scratch/bt.err"; then echo "ok   bt refuses $name (reserved area)"; else echo "FAIL bt on $name: status $bt"; fail=1; fi
    elif [ $hw -eq $bt ] && cmp -s "$scratch/hw.out" "$scratch/bt.out"; then
        echo "ok   bt = hw on $name"
    else
        echo "FAIL bt differs from hw on $name (status $bt vs $hw)"; fail=1
    fi
done
rm -rf "$scratch"
# JSON: one object naming each hole by its mnemonic.
if ! "$X86V" audit testguests/build/hole-sgdt.elf --json - | python3 -c 'import json,sys; d=json.load(sys.stdin); assert any(h["mnemonic"]=="sgdt" for h in d["holes"])'; then
    echo "FAIL audit --json"; fail=1
else
    echo "ok   audit --json names sgdt"
fi
jsonfile=$(mktemp)
if "$X86V" audit testguests/build/hole-sgdt.elf --json "$jsonfile" >/dev/null && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$jsonfile" \
   && "$X86V" audit --table --json | python3 -c 'import json,sys; assert len(json.load(sys.stdin)) > 50'; then
    echo "ok   audit --json FILE, --table --json"
else
    echo "FAIL audit --json FILE or --table --json"; fail=1
fi
rm -f "$jsonfile"
# Bad input: a clear line, status 2.
for args in "audit" "audit /nonexistent.elf" "audit --table testguests/build/demo.elf" "run testguests/build/demo.elf --umip" \
            "run testguests/build/demo.elf --virt=classic --mmu=direct"; do
    "$X86V" $args >/dev/null 2>&1
    s=$?
    if [ $s -ne 2 ]; then echo "FAIL x86v $args: status $s, want 2"; fail=1; else echo "ok   x86v $args: status 2"; fi
done
exit $fail
