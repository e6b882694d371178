#!/bin/sh
# Run one test guest under Bochs 2.7 (apt-get install -y bochs bochsbios vgabios)
# and print its serial output from the "x86v-guest: " marker on, like
# run-qemu.sh. Bochs has no multiboot loader and no isa-debug-exit device:
# the guest is booted from a floppy whose boot sector (bochs/boot.S) loads it,
# and the run is stopped when the guest prints "# NAME done" or "Bail out!"
# (or after a timeout). Exit status 0 if every TAP line is "ok".
# Used to cross-check expectations QEMU cannot confirm (seglimit).
set -u
here=$(cd "$(dirname "$0")" && pwd)
elf=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
name=$(basename "$elf" .elf)
tmo=${BOCHS_TIMEOUT:-120}
work=$(mktemp -d)
[ -n "${BOCHS_KEEP:-}" ] && echo "work dir: $work" >&2 || trap 'rm -rf "$work"' EXIT

gcc -m32 -c "$here/boot.S" -o "$work/boot.o" || exit 1
ld -m elf_i386 -e start -Ttext 0x7C00 --oformat binary -o "$work/boot.bin" "$work/boot.o" || exit 1
objcopy -O binary "$elf" "$work/image.bin" || exit 1
load=$(readelf -lW "$elf" | awk '$1 == "LOAD" { print $4; exit }')
entry=$(readelf -hW "$elf" | awk '/Entry point/ { print $4 }')
bss_end=$(nm "$elf" | awk '$3 == "__bss_end" { print "0x" $1 }')
python3 - "$work" "$load" "$entry" "$bss_end" <<'PY'
import struct, sys
work, load, entry, bss_end = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16), int(sys.argv[4], 16)
boot = bytearray(open(work + "/boot.bin", "rb").read())
image = open(work + "/image.bin", "rb").read()
assert len(boot) == 512 and len(image) < 0x70000
nsect = (len(image) + 511) // 512
boot[0x1E8:0x1FC] = struct.pack("<HHIIII", nsect, 0, load, len(image), bss_end, entry)
disk = bytes(boot) + image + bytes(nsect * 512 - len(image))
disk += bytes(1474560 - len(disk))
open(work + "/floppy.img", "wb").write(disk)
PY
cat > "$work/bochsrc" <<RC
megs: 64
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
floppya: 1_44=$work/floppy.img, status=inserted
boot: floppy
display_library: rfb, options="timeout=0"
com1: enabled=1, mode=file, dev=$work/serial.out
log: $work/bochs.log
clock: sync=none
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
RC
echo c > "$work/cmds"
: > "$work/serial.out"
bochs -q -f "$work/bochsrc" -rc "$work/cmds" < /dev/null > "$work/bochs.stdout" 2>&1 &
pid=$!
i=0
while [ $i -lt $((tmo * 5)) ]; do
    if grep -q -e "^# $name done" -e "^Bail out!" "$work/serial.out" 2>/dev/null; then break; fi
    if ! kill -0 $pid 2>/dev/null; then break; fi
    sleep 0.2
    i=$((i + 1))
done
kill $pid 2>/dev/null
wait $pid 2>/dev/null
awk 'found { print; next } { i = index($0, "x86v-guest: "); if (i) { found = 1; print substr($0, i) } }' "$work/serial.out"
grep -q "^# $name done" "$work/serial.out" && ! grep -q -e "^not ok" -e "^Bail out!" "$work/serial.out"
