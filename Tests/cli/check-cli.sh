#!/usr/bin/env bash
# CLI contract checks for `x86v disasm`, run by `make test`:
#  1. every test guest and the compiled C corpus disassemble with 0 unexplained Capstone mismatches;
#  2. freshly compiled gcc output (gcc -m32 -O2 -c, several -march) also does;
#  3. bad input gets exactly one line on stderr and exit status 2, never a crash.
set -uo pipefail
x86v=${1:-.build/release/x86v}
failures=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }

# 1. Test guests.
for elf in testguests/build/*.elf; do
    summary=$("$x86v" disasm "$elf" --check | tail -n 1)
    status=$?
    if [ $status -eq 0 ] && [[ "$summary" == *", 0 unexplained" ]]; then pass "disasm --check $elf: $summary"
    else fail "disasm --check $elf (status $status): $summary"; fi
done

# 2. gcc output compiled here, as objects (linked with ld -m elf_i386 into an executable).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for flags in "-O2 -march=i686" "-O0 -march=i686" "-Os -march=pentium3" "-O3 -march=pentium4 -msse2 -mfpmath=sse"; do
    name=$(echo "$flags" | tr -c 'a-zA-Z0-9' '_')
    objects=()
    for src in testguests/corpus/*.c; do
        obj="$tmp/$(basename "$src" .c)_$name.o"
        gcc -m32 -ffreestanding -fno-pie -fno-stack-protector -fcf-protection=none -Itestguests/runtime $flags -c "$src" -o "$obj" 2>/dev/null && objects+=("$obj")
    done
    ld -m elf_i386 -e 0 --unresolved-symbols=ignore-all -o "$tmp/prog_$name.elf" "${objects[@]}" 2>/dev/null
    summary=$("$x86v" disasm "$tmp/prog_$name.elf" --check | tail -n 1)
    status=$?
    if [ $status -eq 0 ] && [[ "$summary" == *", 0 unexplained" ]]; then pass "gcc $flags (${#objects[@]} objects): $summary"
    else fail "gcc $flags: status $status: $summary"; fi
done

# 3. Bad input: one line on stderr, status 2.
head -c 40 testguests/build/hello.elf > "$tmp/truncated.elf"
head -c 200 /bin/true > "$tmp/elf64"
# Deterministic junk (CI must not depend on /dev/urandom): awk's seeded generator.
awk 'BEGIN { srand(1128); for (i = 0; i < 8192; i++) printf "%c", int(rand() * 256) }' > "$tmp/garbage"
printf '\177ELF\001\001\001' > "$tmp/tiny.elf"
check_bad() {
    local description=$1; shift
    "$x86v" "$@" > /dev/null 2> "$tmp/err"
    local status=$?
    local lines
    lines=$(wc -l < "$tmp/err")
    if [ $status -eq 2 ] && [ "$lines" -eq 1 ]; then pass "$description: $(cat "$tmp/err")"
    else fail "$description: status $status, $lines stderr lines: $(head -c 300 "$tmp/err")"; fi
}
check_bad "missing file" disasm "$tmp/does-not-exist.elf"
check_bad "truncated ELF" disasm "$tmp/truncated.elf"
check_bad "tiny ELF" disasm "$tmp/tiny.elf"
check_bad "64-bit ELF" disasm "$tmp/elf64"
check_bad "garbage file" disasm "$tmp/garbage"
check_bad "directory" disasm /
check_bad "start past the end" disasm testguests/build/hello.elf --start 0xfffffff0
check_bad "bad start address" disasm testguests/build/hello.elf --start zz
check_bad "bad mode" disasm testguests/build/hello.elf --mode 64
check_bad "unknown flag" disasm testguests/build/hello.elf --frobnicate
check_bad "unknown subcommand" frobnicate
check_bad "missing argument" disasm
check_bad "run: missing guest" run "$tmp/does-not-exist.elf"
check_bad "run: garbage guest" run "$tmp/garbage"
check_bad "run: 64-bit guest" run "$tmp/elf64"
check_bad "run: --memory 0" run testguests/build/hello.elf --memory 0
check_bad "run: --memory too large" run testguests/build/hello.elf --memory 4G
check_bad "run: guest does not fit" run testguests/build/hello.elf --memory 1M

# 4. x86v run: exit statuses (docs/formats.md).
check_status() {
    local description=$1 want=$2; shift 2
    "$x86v" "$@" > "$tmp/out" 2> "$tmp/err"
    local status=$?
    if [ $status -eq "$want" ]; then pass "$description: status $status $(head -c 200 "$tmp/err")"
    else fail "$description: status $status, want $want: $(head -c 300 "$tmp/err")"; fi
}
check_status "run hello: debug exit 0 → status 1" 1 run testguests/build/hello.elf
if diff <(tail -n +2 testguests/expected/hello.out) "$tmp/out" > /dev/null; then pass "run hello: serial output equals QEMU's"
else fail "run hello: serial output differs from testguests/expected/hello.out"; fi
check_status "run alu: instruction limit → status 4" 4 run testguests/build/alu.elf --max-instructions 100000
check_status "run corpus: x87 not implemented → status 5" 5 run testguests/build/corpus.elf
"$x86v" run testguests/build/cwork.elf > "$tmp/run1"; "$x86v" run testguests/build/cwork.elf > "$tmp/run2"
if cmp -s "$tmp/run1" "$tmp/run2"; then pass "run cwork twice: identical output"; else fail "run cwork twice: outputs differ"; fi

# A raw binary of seeded random bytes, and a whole ELF file read as raw bytes (headers and
# data included), disassemble with --check without crashing or unexplained differences.
"$x86v" disasm --raw --base 0x1000 "$tmp/garbage" --check > "$tmp/raw.out"
status=$?
if [ $status -eq 0 ] && tail -n 1 "$tmp/raw.out" | grep -q ", 0 unexplained"; then pass "raw random bytes: $(tail -n 1 "$tmp/raw.out")"
else fail "raw random bytes: status $status: $(tail -n 1 "$tmp/raw.out")"; fi
"$x86v" disasm --raw --base 0 testguests/build/corpus.elf --check > "$tmp/raw2.out"
status=$?
if [ $status -eq 0 ] && tail -n 1 "$tmp/raw2.out" | grep -q ", 0 unexplained"; then pass "corpus.elf as raw bytes: $(tail -n 1 "$tmp/raw2.out")"
else fail "corpus.elf as raw bytes: status $status: $(tail -n 1 "$tmp/raw2.out")"; fi

echo "CLI checks: $failures failed"
[ $failures -eq 0 ]
