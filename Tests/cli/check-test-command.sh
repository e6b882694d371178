#!/usr/bin/env bash
# CLI contract checks for `x86v test` (the guest regression runner):
#  1. a few fast guests pass in --config none, with the summary line and a well-formed JUnit file;
#  2. a deliberately wrong golden (in a temporary copy) is a FAIL with exit status 1, and
#     --update rewrites it (diff shown) so that the next run passes; same for a fault golden;
#  3. spec files restrict configurations; --shard splits the pairs without losing any;
#  4. bad input gets exactly one line on stderr and exit status 2.
# Usage: Tests/cli/check-test-command.sh [path/to/x86v]   (run from the repository root)
set -uo pipefail
x86v=${1:-.build/release/x86v}
failures=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

valid_junit() {  # FILE TESTS FAILURES: parses, and the counts are as expected
    python3 - "$@" <<'PY'
import sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
suite = doc.getElementsByTagName("testsuite")[0]
cases = doc.getElementsByTagName("testcase")
assert suite.getAttribute("tests") == sys.argv[2] == str(len(cases)), "tests count"
assert suite.getAttribute("failures") == sys.argv[3] == str(len(doc.getElementsByTagName("failure"))), "failures count"
assert all(c.getAttribute("classname").startswith("x86v.") and c.getAttribute("name") for c in cases)
float(suite.getAttribute("time"))
PY
}

# 1. Fast guests from testguests/, bare interpreter.
fast=()
for name in hello paging pf-demand pf-perm pf-ad smc except strings; do
    [ -f "testguests/build/$name.elf" ] && [ -f "testguests/expected/$name.out" ] && fast+=("testguests/build/$name.elf")
done
n=${#fast[@]}
out=$("$x86v" test "${fast[@]}" --config none --junit "$tmp/junit.xml")
status=$?
summary=$(tail -n 1 <<< "$out")
if [ $status -eq 0 ] && [ "$summary" = "$n passed, 0 failed, 0 skipped" ]; then pass "test $n guests --config none: $summary"
else fail "test $n guests --config none (status $status): $summary"; echo "$out" | grep -v '^ok' | head -5; fi
if [ "$(grep -c '^ok    .* \[none\] [0-9]*\.[0-9][0-9] s$' <<< "$out")" -eq "$n" ]; then pass "one 'ok    NAME [none] T s' line per guest"
else fail "result lines: $(head -3 <<< "$out")"; fi
if valid_junit "$tmp/junit.xml" "$n" 0 2> "$tmp/err"; then pass "JUnit report well-formed ($n testcases, 0 failures)"
else fail "JUnit report: $(tail -1 "$tmp/err")"; fi

# 2. A wrong golden in a temporary copy: FAIL, exit 1; --update repairs it.
mkdir -p "$tmp/g/build" "$tmp/g/expected"
cp testguests/build/hello.elf "$tmp/g/build/"
cp testguests/expected/hello.out "$tmp/g/expected/"
sed -i '5s/.*/a "wrong" <line> \& more/' "$tmp/g/expected/hello.out"
out=$("$x86v" test "$tmp/g" --config none --junit "$tmp/junit-fail.xml")
status=$?
if [ $status -eq 1 ] && grep -q '^FAIL  hello \[none\]: output differs at line 5: got "ok 1 ' <<< "$out" \
    && [ "$(tail -n 1 <<< "$out")" = "0 passed, 1 failed, 0 skipped" ]; then pass "wrong golden: $(grep FAIL <<< "$out")"
else fail "wrong golden (status $status): $out"; fi
if valid_junit "$tmp/junit-fail.xml" 1 1 2> "$tmp/err"; then pass "JUnit report with an escaped failure message is well-formed"
else fail "JUnit report with a failure: $(tail -1 "$tmp/err")"; fi
out=$("$x86v" test "$tmp/g" --config none --update)
status=$?
if [ $status -eq 0 ] && grep -q '^-a "wrong" <line> & more$' <<< "$out" && grep -q '^+ok 1 ' <<< "$out" \
    && cmp -s "$tmp/g/expected/hello.out" testguests/expected/hello.out; then pass "--update rewrote the golden (header kept) and showed the diff"
else fail "--update (status $status): $out"; fi
out=$("$x86v" test "$tmp/g" --config none)
if [ $? -eq 0 ] && [ "$(tail -n 1 <<< "$out")" = "1 passed, 0 failed, 0 skipped" ]; then pass "after --update: $(tail -n 1 <<< "$out")"
else fail "after --update: $out"; fi

if "$x86v" run --help | grep -q -- '--trace-faults'; then
    if [ -s "$tmp/g/expected/hello.faults.jsonl" ] && ! grep -q '"kind"' "$tmp/g/expected/hello.faults.jsonl"; then
        pass "--update wrote a fault golden ($(wc -l < "$tmp/g/expected/hello.faults.jsonl") delivered faults, compared keys only)"
    else fail "no fault golden after --update"; fi
    sed -i '1s/"error_code":"0x[0-9a-f]*"/"error_code":"0xff"/' "$tmp/g/expected/hello.faults.jsonl"
    out=$("$x86v" test "$tmp/g")
    status=$?
    if [ $status -eq 1 ] && [ "$(grep -c '^FAIL  hello \[.*\]: page faults differ: delivered page fault 1 differs' <<< "$out")" -ge 2 ]; then
        pass "wrong fault golden: $(grep -m1 FAIL <<< "$out" | cut -c1-90)…"
    else fail "wrong fault golden (status $status): $out"; fi
    "$x86v" test "$tmp/g" --update > /dev/null
    out=$("$x86v" test "$tmp/g")
    if [ $? -eq 0 ]; then pass "fault golden repaired by --update: $(tail -n 1 <<< "$out")"
    else fail "after fault --update: $out"; fi
else
    pass "# skip fault-golden checks: this x86v has no --trace-faults"
fi

# 3. Spec files and shards.
printf '# comment\nconfigs: none hw-direct\nflags: --memory 32M\n' > "$tmp/g/expected/hello.spec"
out=$("$x86v" test "$tmp/g")
if [ $? -eq 0 ] && [ "$(grep -c '^ok' <<< "$out")" -eq 2 ] && ! grep -q 'hw-shadow' <<< "$out"; then pass "spec configs: none hw-direct"
else fail "spec configs: $out"; fi
printf 'skip: needs something\n' > "$tmp/g/expected/hello.spec"
out=$("$x86v" test "$tmp/g")
if [ $? -eq 0 ] && [ "$(tail -n 1 <<< "$out")" = "0 passed, 0 failed, 3 skipped" ]; then pass "spec skip: $(tail -n 1 <<< "$out")"
else fail "spec skip: $out"; fi
rm "$tmp/g/expected/hello.spec"
full=$("$x86v" test "${fast[@]}" --jobs 1 | grep -v '^note' | sed '$d' | cut -d' ' -f1-6 | sed 's/ [0-9.]*$//')
shards=$(for i in 1 2 3; do "$x86v" test "${fast[@]}" --shard $i/3 | grep -v '^note' | sed '$d'; done | cut -d' ' -f1-6 | sed 's/ [0-9.]*$//' | sort)
if [ -n "$full" ] && [ "$(sort <<< "$full")" = "$shards" ]; then pass "--shard 1/3, 2/3, 3/3 together run every pair once ($(wc -l <<< "$full") pairs)"
else fail "--shard: full run and shards differ"; fi

# 4. Bad input: one line on stderr, status 2.
check_bad() {
    local description=$1; shift
    "$x86v" "$@" > /dev/null 2> "$tmp/err"
    local status=$?
    local lines
    lines=$(wc -l < "$tmp/err")
    if [ $status -eq 2 ] && [ "$lines" -eq 1 ]; then pass "$description: $(cat "$tmp/err")"
    else fail "$description: status $status, $lines stderr lines: $(head -c 300 "$tmp/err")"; fi
}
check_bad "bad --shard 0/2" test "$tmp/g" --shard 0/2
check_bad "bad --shard 3/2" test "$tmp/g" --shard 3/2
check_bad "bad --shard x" test "$tmp/g" --shard x
check_bad "unknown --config" test "$tmp/g" --config bogus
check_bad "bad --jobs" test "$tmp/g" --jobs 0
check_bad "missing directory" test "$tmp/does-not-exist"
check_bad "directory without guests" test "$tmp/g/expected"
check_bad "guest without a golden" test testguests/build/alu-short.elf
check_bad "no inputs" test
printf 'colour: blue\n' > "$tmp/g/expected/hello.spec"
check_bad "bad spec file" test "$tmp/g"

if [ $failures -eq 0 ]; then echo "check-test-command: all passed"; else echo "check-test-command: $failures failed"; fi
[ $failures -eq 0 ]
