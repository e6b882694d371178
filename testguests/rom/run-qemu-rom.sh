#!/bin/sh
# Run one ROM test guest (issue 17) under QEMU 7.2 TCG as the system ROM
# (-bios: no SeaBIOS, the CPU starts at the guest's reset vector) and print
# its port 0xE9 output (-debugcon) from the "x86v-guest: " marker on.
#
#   rom/run-qemu-rom.sh [--header] build/rom-NAME.bin
#
# QEMU's ROM size rules (hw/i386/x86.c x86_bios_rom_init): the -bios file must
# be a multiple of 64 KiB (at most 16 MiB); it is mapped so that it ends at
# 4 GiB, and its last 128 KiB (all of it when smaller) are aliased just below
# 1 MiB (a 64 KiB ROM at 0xF0000-0xFFFFF). The guests' exit code goes to
# isa-debug-exit on port 0xF4 (QEMU exit status (code << 1) | 1).
# Exit status: 0 if the guest exited with code 0, else 1. The expected files
# come from Bochs (bochs/run-bochs-rom.sh): diff this output against
# `tail -n +2 expected/rom-NAME.out` to see where QEMU differs.
set -u
header=0
if [ "${1:-}" = "--header" ]; then header=1; shift; fi
rom=$1
cmd="qemu-system-i386 -accel tcg -m 64 -bios $rom -debugcon file:OUT -nographic -monitor none -serial none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4"
out=$(mktemp)
timeout 20 qemu-system-i386 -accel tcg -m 64 -bios "$rom" -debugcon "file:$out" -nographic -monitor none \
    -serial none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 < /dev/null > /dev/null 2>&1
status=$?
if [ $header = 1 ]; then
    ver=$(qemu-system-i386 --version | head -n 1 | sed 's/^QEMU emulator version //')
    echo "# qemu-system-i386 $ver: $cmd (exit status $status = guest exit code $(( status >> 1 )))"
fi
awk 'found { print; next } { i = index($0, "x86v-guest: "); if (i) { found = 1; print substr($0, i) } }' "$out"
rm -f "$out"
[ $status = 1 ]
