# Sourced by the CLI checks. check_bad DESCRIPTION EXPECTED-TEXT ARGS…: `x86v ARGS` must fail
# with status 2 and exactly one line on stderr containing EXPECTED-TEXT (bad input gets a clear
# message, never a crash). Uses the caller's $x86v, $tmp, pass and fail.
check_bad() {
    local description=$1 expected=$2; shift 2
    "$x86v" "$@" > /dev/null 2> "$tmp/err" < /dev/null
    local status=$?
    local lines
    lines=$(wc -l < "$tmp/err")
    if [ $status -eq 2 ] && [ "$lines" -eq 1 ] && grep -q -- "$expected" "$tmp/err"; then pass "$description: $(cat "$tmp/err")"
    else fail "$description: status $status (expected 2), $lines stderr lines: $(grep -m 2 . "$tmp/err" | tr '\n' ' ' | head -c 300)"; fi
}
