#!/usr/bin/env bash
# The GDB stub against Debian's real gdb:
#  1. `x86v run GUEST --gdb PORT` in the background; `gdb -batch -nx` connects over TCP, breaks on
#     guest_main, continues, shows the registers and x/4i $pc, steps, sets a watchpoint on
#     tap_count, continues to it, reverse-steps, reads the x87/SSE registers (`info float`,
#     $st0, $xmm0, writes a lane of $xmm1 and reads it back, mxcsr), kills. The transcript, with the unstable lines
#     (port, paths, gdb's banner warnings) normalised or removed, must equal
#     Tests/cli/expected/gdb-NAME.txt (UPDATE=1 rewrites it; a missing one is created).
#  2. The same over `--gdb unix:PATH`: connect, break on tap_ok, continue, detach; x86v then
#     runs the guest to its end, as a plain run does (same serial output and exit status).
#  3. x86v must exit after each session (no hang), and print nothing on stdout but the guest's.
# Usage: Tests/cli/check-gdb.sh [path/to/x86v] [guest.elf]   (run from the repository root)
set -uo pipefail
x86v=${1:-.build/release/x86v}
guest=${2:-testguests/build/hello.elf}
name=$(basename "$guest" .elf)
expected=Tests/cli/expected/gdb-$name.txt
failures=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
tmp=$(mktemp -d)
x86v_pid=""
cleanup() {
    if [ -n "$x86v_pid" ] && kill -0 "$x86v_pid" 2>/dev/null; then kill "$x86v_pid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

command -v gdb >/dev/null || { echo "check-gdb: gdb is not installed (apt-get install gdb)"; exit 2; }
[ -f "$guest" ] || { echo "check-gdb: no guest $guest (make guests)"; exit 2; }

# Starts `x86v run GUEST --gdb ADDRESS` and waits for its "waiting for GDB" line. 0 if it listens.
start_x86v() {
    local address=$1
    : > "$tmp/x86v.err"
    "$x86v" run "$guest" --gdb "$address" > "$tmp/x86v.out" 2> "$tmp/x86v.err" &
    x86v_pid=$!
    for _ in $(seq 100); do
        grep -q "waiting for GDB" "$tmp/x86v.err" && return 0
        kill -0 "$x86v_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Waits up to 20 s for x86v to exit; sets `status` to its exit status, or to "hung" (after
# killing it). Not in a $(...) subshell: only this shell can wait for its child.
wait_x86v() {
    for _ in $(seq 200); do
        if ! kill -0 "$x86v_pid" 2>/dev/null; then
            wait "$x86v_pid"
            status=$?
            x86v_pid=""
            return
        fi
        sleep 0.1
    done
    kill "$x86v_pid" 2>/dev/null
    wait "$x86v_pid" 2>/dev/null
    x86v_pid=""
    status=hung
}

# 1. TCP: port 0 lets the kernel choose (the "waiting for GDB on 127.0.0.1:PORT" line says
#    which); if x86v refuses 0, a port derived from the PID, retried if taken.
port=""
if start_x86v 0; then
    port=$(sed -n 's/.*waiting for GDB on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$tmp/x86v.err" | head -n 1)
    [ -n "$port" ] && [ "$port" != 0 ] || { kill "$x86v_pid" 2>/dev/null; wait "$x86v_pid" 2>/dev/null; x86v_pid=""; port=""; }
else
    wait "$x86v_pid" 2>/dev/null
    x86v_pid=""
fi
for attempt in 0 1 2 3 4; do
    [ -n "$port" ] && break
    candidate=$((20000 + ($$ * 7 + attempt * 1009) % 40000))
    if start_x86v "$candidate"; then port=$candidate; break; fi
    wait "$x86v_pid" 2>/dev/null
    x86v_pid=""
done
if [ -z "$port" ]; then
    fail "x86v run $guest --gdb PORT did not start listening: $(head -c 300 "$tmp/x86v.err")"
    exit 1
fi
pass "x86v listens: $(grep "waiting for GDB" "$tmp/x86v.err")"

cat > "$tmp/session.gdb" <<EOF
set pagination off
set confirm off
set width 0
set architecture i386
target remote :$port
break guest_main
continue
info registers
x/4i \$pc
stepi
info registers eip
watch *(int *)&tap_count
continue
info registers eip
reverse-stepi
info registers eip
info float
p \$st0
p \$xmm0
set var \$xmm1.v4_int32[2] = 7
p \$xmm1.v4_int32
info registers mxcsr
kill
EOF
timeout 60 gdb -batch -nx "$guest" -x "$tmp/session.gdb" > "$tmp/gdb.raw" 2>&1
gdb_status=$?
wait_x86v
if [ "$gdb_status" -eq 0 ]; then pass "gdb session over TCP (gdb status 0)"
else fail "gdb session over TCP: gdb status $gdb_status"; fi
if [ "$status" = hung ]; then fail "x86v still running 20 s after kill"
elif [ "$status" -ge 128 ]; then fail "x86v crashed after kill (status $status): $(grep -m1 -i "error\|fatal" "$tmp/x86v.err")"
else pass "x86v exited after kill (status $status)"; fi

# Unstable: the port, the guest's path, gdb's warnings about the missing executable/OS ABI and
# thread-debugging lines; everything else (addresses, registers, disassembly) is deterministic.
sed -e "s#:$port\\b#:PORT#g" -e "s#$guest#GUEST#g" "$tmp/gdb.raw" \
    | grep -v -e '^warning: ' -e '^determining executable automatically' -e 'Try using the "file" command' \
              -e '^Reading symbols from' -e '^\[Thread debugging' -e '^Using host libthread_db' \
    > "$tmp/gdb.txt"
if [ "$gdb_status" -ne 0 ]; then
    fail "no transcript comparison (gdb failed):"
    head -40 "$tmp/gdb.txt"
elif [ "${UPDATE:-0}" = 1 ] || [ ! -f "$expected" ]; then
    mkdir -p "$(dirname "$expected")"
    cp "$tmp/gdb.txt" "$expected"
    pass "wrote $expected ($(wc -l < "$expected") lines): review it"
elif diff -u "$expected" "$tmp/gdb.txt" > "$tmp/diff"; then
    pass "transcript matches $expected"
else
    fail "transcript differs from $expected (UPDATE=1 to accept):"
    head -40 "$tmp/diff"
fi
for want in "Breakpoint 1, " "=> 0x" "Hardware watchpoint 2: " "[Inferior 1 (Remote target) killed]" \
            "Control Word:        0x" "v4_float = {" "= {0, 0, 7, 0}" "mxcsr          0x1f80"; do
    if grep -qF "$want" "$tmp/gdb.txt"; then pass "gdb printed \"$want\""
    else fail "gdb did not print \"$want\""; fi
done
if grep -q "Architecture rejected\|Remote 'g' packet reply is too long\|Truncated register" "$tmp/gdb.raw"; then
    fail "gdb rejected the target description: $(grep -m1 "rejected\|Remote 'g'\|Truncated" "$tmp/gdb.raw")"
else
    pass "gdb accepted the target description"
fi

# 2. Unix socket, then detach: the guest runs to its end without the debugger, with the same
#    output and exit status as a plain run.
"$x86v" run "$guest" > "$tmp/plain.out" 2> /dev/null
plain_status=$?
sock="$tmp/gdb.sock"
if start_x86v "unix:$sock"; then
    cat > "$tmp/unix.gdb" <<EOF
set pagination off
set confirm off
set architecture i386
target remote $sock
break tap_ok
continue
info registers eip
detach
EOF
    timeout 60 gdb -batch -nx "$guest" -x "$tmp/unix.gdb" > "$tmp/unix.raw" 2>&1
    wait_x86v
    if grep -q "^eip " "$tmp/unix.raw" && grep -qF "[Inferior 1 (Remote target) detached]" "$tmp/unix.raw"; then
        pass "gdb over unix:$sock, detached"
    else
        fail "gdb over unix socket: $(head -c 400 "$tmp/unix.raw")"
    fi
    if [ "$status" = "$plain_status" ] && cmp -s "$tmp/plain.out" "$tmp/x86v.out"; then
        pass "after detach the guest ran to its end as in a plain run (status $status, same output)"
    else
        fail "after detach: status $status (plain run: $plain_status), output $(cmp -s "$tmp/plain.out" "$tmp/x86v.out" && echo same || echo differs): $(grep -v "waiting for GDB" "$tmp/x86v.err" | head -c 300)"
    fi
    if grep -q "waiting for GDB" "$tmp/x86v.out"; then fail "x86v wrote the stub's message on stdout"
    else pass "nothing from the stub on stdout"; fi
else
    fail "x86v run --gdb unix:$sock did not start: $(head -c 300 "$tmp/x86v.err")"
fi

echo "check-gdb: $failures failure(s)"
[ "$failures" -eq 0 ]
