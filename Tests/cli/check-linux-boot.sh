#!/usr/bin/env bash
# `x86v run --kernel` with a Linux bzImage (the 32-bit boot protocol), run by `make test`. CI has
# no real kernel: the guest is testguests/build/linuxboot/bzImage (testguests/guests/linuxboot/, a
# tiny kernel that checks what the protocol promises and prints TAP on COM1):
#  1. with a generated initrd (100,000 bytes, not a whole number of pages) and an --append naming
#     its size and CRC-32, under --virt=none, --virt=hw --mmu=direct and --virt=hw --mmu=shadow:
#     status 22 (ACPI S5), COM1 output identical to expected/linuxboot/boot.out in all three, and the
#     CRC-32 the guest computed over the initrd in guest memory equal to the file's;
#  2. the same with linuxboot.panic=1: the Linux panic banner, status 26, expected/
#     linuxboot/panic.out, and the stderr line naming the panic;
#  3. no --initrd (ramdisk fields 0); a copy whose initrd_addr_max is lowered below the RAM (the
#     initrd at the highest page that ends at or below it); a 2047-byte command line (cmdline_size);
#     the bzImage given as GUEST instead of --kernel;
#  4. bad input (random bytes, protocol 2.02, a zImage, no protected-mode kernel, a command line
#     longer than cmdline_size, an initrd larger than memory, too little --memory, --initrd or
#     --module with the wrong kind of kernel, --kernel with GUEST): one stderr line, status 2;
#  5. --kernel given a multiboot ELF still runs it.
# The expected files are not recorded from QEMU (it would run the real-mode setup code, which
# this kernel does not have): they follow from the boot protocol and x86v's firmware layout
# (E820 map equal to QEMU's; the initrd where QEMU 7.2 puts it for this header), as their first
# lines say.
# Usage: Tests/cli/check-linux-boot.sh [path/to/x86v] [GUESTDIR]   (from the repository root)
set -uo pipefail
x86v=${1:-.build/release/x86v}
guestdir=${2:-testguests}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; failures=$((failures + 1)); }
. "$(dirname "$0")/check-bad.sh"

kernel="$guestdir/build/linuxboot/bzImage"
expected="$guestdir/expected/linuxboot/boot.out"
expected_panic="$guestdir/expected/linuxboot/panic.out"
for f in "$kernel" "$expected" "$expected_panic" "$guestdir/build/hello.elf"; do
    [ -e "$f" ] || { echo "not ok - $f missing (make -C $guestdir)"; exit 1; }
done

# The initrd: fixed bytes (no /dev/urandom, no awk rand(): they differ between machines), and
# its CRC-32 as zlib computes it, which the guest computes again over the copy in guest memory.
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 2654435761 >> 13) & 0xFF for i in range(100000)))' > "$tmp/initrd"
size=$(wc -c < "$tmp/initrd")
crc=$(python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(open(sys.argv[1], "rb").read()))' "$tmp/initrd")
append="console=ttyS0 root=/dev/ram0 rdinit=/init linuxboot.initrd_size=$size linuxboot.initrd_crc32=$crc"

# run NAME ARGS…: `x86v run ARGS` with COM1 in $tmp/NAME.out and stderr in $tmp/NAME.err; the
# status. The instruction limit ends a guest that spins (a panic the watch missed) with status 4.
run() {
    local name=$1; shift
    "$x86v" run "$@" --max-instructions 50000000 --serial "$tmp/$name.out" < /dev/null 2> "$tmp/$name.err"
}
same_as() {  # EXPECTED-FILE NAME: the output equals the expected file after its first line
    tail -n +2 "$1" | cmp -s - "$tmp/$2.out"
}

# 1 and 2. Every configuration, powering off and panicking.
configs=("none:--virt=none" "hw-direct:--virt=hw --mmu=direct" "hw-shadow:--virt=hw --mmu=shadow")
for config in "${configs[@]}"; do
    name=${config%%:*}
    read -r -a flags <<< "${config#*:}"
    run "$name" --kernel "$kernel" --memory 64M --initrd "$tmp/initrd" --append "$append" "${flags[@]}"
    status=$?
    if [ $status -eq 22 ]; then pass "$name: status 22 (ACPI S5)"
    else fail "$name: status $status, want 22: $(grep -m 3 'not ok\|Bail' "$tmp/$name.out") $(tail -n 1 "$tmp/$name.err")"; fi
    if same_as "$expected" "$name"; then pass "$name: COM1 output equals $expected"
    else fail "$name: COM1 output differs from $expected:"; tail -n +2 "$expected" | diff - "$tmp/$name.out" | head -10; fi
    if grep -qx "# initrd: at 0x[0-9a-f]*, $size bytes, crc32 $crc" "$tmp/$name.out"; then pass "$name: the initrd in guest memory has the file's size and CRC-32 ($crc)"
    else fail "$name: the guest's initrd line: $(grep -m 1 '^# initrd' "$tmp/$name.out")"; fi
    if grep -q "^x86v: $kernel: Linux bzImage, boot protocol 2.15, 0.0.0-linuxboot (x86v test guest)$" "$tmp/$name.err"; then pass "$name: stderr names the bzImage, its protocol and kernel_version"
    else fail "$name: stderr: $(head -n 2 "$tmp/$name.err" | tr '\n' ' ')"; fi

    run "$name-panic" --kernel "$kernel" --memory 64M --initrd "$tmp/initrd" --append "$append linuxboot.panic=1" "${flags[@]}"
    status=$?
    if [ $status -eq 26 ]; then pass "$name, linuxboot.panic=1: status 26 (guest panic)"
    else fail "$name, linuxboot.panic=1: status $status, want 26: $(tail -n 1 "$tmp/$name-panic.err")"; fi
    if same_as "$expected_panic" "$name-panic"; then pass "$name, linuxboot.panic=1: COM1 output equals $expected_panic"
    else fail "$name, linuxboot.panic=1: COM1 output differs from $expected_panic:"; tail -n +2 "$expected_panic" | diff - "$tmp/$name-panic.out" | head -10; fi
    if grep -q "the guest kernel panicked (Kernel panic - not syncing: test)" "$tmp/$name-panic.err"; then pass "$name, linuxboot.panic=1: stderr names the panic: $(tail -n 1 "$tmp/$name-panic.err")"
    else fail "$name, linuxboot.panic=1: stderr: $(tail -n 1 "$tmp/$name-panic.err")"; fi
done
for name in hw-direct hw-shadow; do
    for variant in "" -panic; do
        if cmp -s "$tmp/none$variant.out" "$tmp/$name$variant.out"; then pass "$name$variant: output identical to none's"
        else fail "$name$variant: output differs from none's"; fi
    done
done

# 3. Variants of the good case.
run noinitrd --kernel "$kernel" --memory 64M --append console=ttyS0
status=$?
if [ $status -eq 22 ] && grep -q '^ok 13 - no initrd on the command line: ramdisk_image and ramdisk_size are 0' "$tmp/noinitrd.out" \
    && ! grep -q '^not ok' "$tmp/noinitrd.out"; then pass "no --initrd: ramdisk_image and ramdisk_size are 0, status 22"
else fail "no --initrd: status $status: $(grep -m 2 'not ok\|initrd' "$tmp/noinitrd.out" | tr '\n' ' ')"; fi

# initrd_addr_max (0x22C) = 32 MiB - 1 in a copy, 64 MiB of RAM: the initrd ends at or below it,
# at the highest page that does (the guest is told the patched value so its header check holds).
cp "$kernel" "$tmp/max.bzImage"
printf '\377\377\377\001' | dd of="$tmp/max.bzImage" bs=1 seek=$((0x22C)) conv=notrunc 2> /dev/null
run max --kernel "$tmp/max.bzImage" --memory 64M --initrd "$tmp/initrd" --append "$append linuxboot.initrd_addr_max=01ffffff"
status=$?
want=$(printf '%08x' $(( (0x2000000 - size) & ~0xFFF )))
if [ $status -eq 22 ] && ! grep -q '^not ok' "$tmp/max.out" && grep -q "^# initrd: at 0x$want, $size bytes, crc32 $crc$" "$tmp/max.out"; then
    pass "initrd_addr_max 0x01ffffff with 64 MiB of RAM: the initrd at 0x$want, status 22"
else fail "initrd_addr_max 0x01ffffff: status $status, want the initrd at 0x$want: $(grep -m 2 'not ok\|# initrd' "$tmp/max.out" | tr '\n' ' ')"; fi

long2047=$(printf 'x%.0s' $(seq 2047))
run cmdline2047 --kernel "$kernel" --memory 64M --append "$long2047"
status=$?
if [ $status -eq 22 ] && grep -q "^# command line: \"$long2047\"$" "$tmp/cmdline2047.out" && ! grep -q '^not ok' "$tmp/cmdline2047.out"; then
    pass "a 2047-byte command line (cmdline_size) reaches the guest whole, status 22"
else fail "a 2047-byte command line: status $status: $(grep -m 2 'not ok' "$tmp/cmdline2047.out" | tr '\n' ' ')"; fi

run positional "$kernel" --memory 64M --initrd "$tmp/initrd" --append "$append"
status=$?
if [ $status -eq 22 ] && same_as "$expected" positional; then pass "the bzImage as GUEST (no --kernel): status 22, the same output"
else fail "the bzImage as GUEST: status $status: $(tail -n 1 "$tmp/positional.err")"; fi

# 4. Bad input: one line on stderr, status 2.
python3 -c 'import random, sys; r = random.Random(1128); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(8192)))' > "$tmp/random"
check_bad "random bytes as --kernel" "neither a Linux bzImage" run --kernel "$tmp/random"
cp "$kernel" "$tmp/p202.bzImage"
printf '\002\002' | dd of="$tmp/p202.bzImage" bs=1 seek=$((0x206)) conv=notrunc 2> /dev/null
check_bad "boot protocol 2.02" "boot protocol 2.02 is too old" run --kernel "$tmp/p202.bzImage"
cp "$kernel" "$tmp/zimage.bzImage"
printf '\000' | dd of="$tmp/zimage.bzImage" bs=1 seek=$((0x211)) conv=notrunc 2> /dev/null
check_bad "loadflags bit 0 clear (a zImage)" "a zImage" run --kernel "$tmp/zimage.bzImage"
head -c 1024 "$kernel" > "$tmp/setup-only.bzImage"
check_bad "the setup sectors alone" "no protected-mode kernel" run --kernel "$tmp/setup-only.bzImage"
check_bad "an --append of 2048 bytes (cmdline_size 2047)" "cmdline_size" run --kernel "$kernel" --append "${long2047}x"
head -c $((17 << 20)) /dev/zero > "$tmp/big-initrd"
check_bad "a 17 MiB --initrd with 16 MiB of memory" "does not fit" run --kernel "$kernel" --memory 16M --initrd "$tmp/big-initrd"
check_bad "--memory 1M (the kernel needs init_size above 1 MiB)" "give more --memory" run --kernel "$kernel" --memory 1M
check_bad "--initrd with a multiboot ELF" "--initrd goes with a Linux bzImage" run --kernel "$guestdir/build/hello.elf" --initrd "$tmp/initrd"
check_bad "--module with a bzImage" "--module is multiboot" run --kernel "$kernel" --module "$tmp/initrd"
check_bad "--kernel and GUEST together" "--kernel is the guest" run "$guestdir/build/hello.elf" --kernel "$kernel"
check_bad "a missing --initrd" "$tmp/nope" run --kernel "$kernel" --initrd "$tmp/nope"
check_bad "--initrd with --flat" "--initrd goes with a Linux bzImage" run --flat "$kernel" --load 0x100000 --entry 0x100000 --initrd "$tmp/initrd"

# 5. --kernel takes a multiboot ELF too.
run hello --kernel "$guestdir/build/hello.elf"
status=$?
if [ $status -eq 1 ] && same_as "$guestdir/expected/hello.out" hello && grep -q "^x86v: $guestdir/build/hello.elf: multiboot ELF$" "$tmp/hello.err"; then
    pass "--kernel hello.elf: a multiboot ELF, run as GUEST would be (status 1, QEMU's output)"
else fail "--kernel hello.elf: status $status: $(head -n 2 "$tmp/hello.err" | tr '\n' ' ')"; fi

# 6. lockstep with a bzImage: two x86v configurations instruction by instruction (QEMU would
#    run the real-mode setup x86v skips, so that comparison is refused), and the two engines.
#    (--against splits its flags at spaces: a one-word command line, no initrd.)
common=(--append console=ttyS0 --memory 64M)
if out=$("$x86v" lockstep --kernel "$kernel" "${common[@]}" --virt=hw --mmu=shadow --against "--append console=ttyS0 --memory 64M --virt=none" 2>&1 < /dev/null) \
    && [[ "$out" == identical:* ]]; then pass "lockstep --kernel: hw-shadow and none identical ($(head -n 1 <<< "$out" | cut -c1-60)…)"
else fail "lockstep --kernel --against: $(head -n 3 <<< "$out" | tr '\n' ' ')"; fi
if out=$("$x86v" lockstep --engines --kernel "$kernel" "${common[@]}" 2>&1 < /dev/null); then pass "lockstep --engines --kernel: the engines agree"
else fail "lockstep --engines --kernel: $(head -n 3 <<< "$out" | tr '\n' ' ')"; fi
check_bad "lockstep --kernel against QEMU" "real-mode setup" lockstep --kernel "$kernel"

# 7. Fuzzed headers: 150 copies of the bzImage with 1–8 random bytes of the setup header (0x1F1–
#    0x26B) changed (a fixed seed), each run briefly: the loader refuses or the guest runs, and
#    x86v always exits with a status of its own (no signal, no crash).
python3 - "$kernel" "$tmp/fuzz" <<'PY'
import random, sys
src, out = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
r = random.Random(1919)
for i in range(150):
    b = bytearray(data)
    for _ in range(r.randint(1, 8)):
        b[r.randrange(0x1F1, 0x26C)] = r.randrange(256)
    open("%s.%03d" % (out, i), "wb").write(b)
PY
crashes=0
refused=0
for f in "$tmp"/fuzz.*; do
    "$x86v" run --kernel "$f" --memory 64M --initrd "$tmp/initrd" --max-instructions 200000 --serial /dev/null < /dev/null > /dev/null 2> "$tmp/fuzz.err"
    status=$?
    if [ $status -ge 128 ]; then crashes=$((crashes + 1)); echo "# $f: status $status"; fi
    [ $status -eq 2 ] && refused=$((refused + 1))
    rm -f "$f"
done
if [ $crashes -eq 0 ]; then pass "150 fuzzed setup headers: no crash ($refused refused with status 2, the rest ran)"
else fail "fuzzed setup headers: $crashes runs died on a signal"; fi

echo "# check-linux-boot: $failures failed"
[ $failures -eq 0 ]
