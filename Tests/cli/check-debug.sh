#!/usr/bin/env bash
# Scripted debugger transcripts: every Tests/debugger/NAME.script runs under `x86v debug` (the
# guest and flags are on its first line, `# x86v debug GUEST FLAGS…`) and its whole stdout must
# equal Tests/debugger/NAME.expected. `--update` rewrites the expected files (review the diff).
set -uo pipefail
X86V=${1:?usage: check-debug.sh X86V [--update]}
UPDATE=${2:-}
cd "$(dirname "$0")/../.."
fail=0
for script in Tests/debugger/*.script; do
    name=$(basename "$script" .script)
    read -r -a args < <(head -n 1 "$script" | sed 's/^# x86v debug //')
    out=$(mktemp)
    "$X86V" debug "${args[@]}" --script "$script" >"$out" 2>/dev/null
    status=$?
    echo "exit status $status" >>"$out"
    expected=Tests/debugger/$name.expected
    if [ "$UPDATE" = "--update" ]; then
        cp "$out" "$expected"
        echo "updated $expected"
    elif ! diff -u "$expected" "$out" >"$out.diff"; then
        echo "FAIL debugger transcript $name:"
        head -n 60 "$out.diff"
        fail=1
    else
        echo "ok   debugger transcript $name"
    fi
    rm -f "$out" "$out.diff"
done
exit $fail
