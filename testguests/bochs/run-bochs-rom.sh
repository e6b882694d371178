#!/bin/sh
# Run one ROM test guest (testguests/rom/, issue 17) under Bochs 2.7
# (apt-get install -y bochs bochsbios vgabios) and print its port 0xE9 output
# from the "x86v-guest: " marker on.
#
#   bochs/run-bochs-rom.sh [--header] build/rom-NAME.bin
#
# The image is Bochs's system ROM ("romimage: file=ROM, address=A", A = 4 GiB
# minus its size: 0xffff0000 for 64 KiB, 0xfffe0000 for 128 KiB), so the CPU
# starts in it at the reset vector (CS=F000 base FFFF0000, EIP=FFF0); no BIOS
# runs. Output is port 0xE9 (port_e9_hack). Bochs has no isa-debug-exit device
# on port 0xF4: the run is stopped when the guest prints "# NAME done" or
# "Bail out!" (or after BOCHS_TIMEOUT seconds, default 120).
# With --header, first print the comment line used in expected/rom-*.out.
# Exit status 0 if the guest got to "# NAME done" and every TAP line is "ok".
# BOCHS_KEEP=1 keeps the work directory (bochsrc, bochs.log).
set -u
header=0
if [ "${1:-}" = "--header" ]; then header=1; shift; fi
rom=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
name=$(basename "$rom" .bin)
tmo=${BOCHS_TIMEOUT:-120}
size=$(stat -c %s "$rom") || exit 1
case $size in
    65536|131072|262144) ;;
    *) echo "run-bochs-rom.sh: $rom is $size bytes (want 64, 128 or 256 KiB)" >&2; exit 1 ;;
esac
addr=$(printf '0x%x' $((0x100000000 - size)))
work=$(mktemp -d)
[ -n "${BOCHS_KEEP:-}" ] && echo "work dir: $work" >&2 || trap 'rm -rf "$work"' EXIT

# vgaromimage and a memory size are required by this Debian build even though
# nothing runs the VGA BIOS (no BIOS at all: the guest is the ROM).
cat > "$work/bochsrc" <<RC
megs: 32
romimage: file=$rom, address=$addr
vgaromimage: file=/usr/share/vgabios/vgabios.bin
display_library: rfb, options="timeout=0"
port_e9_hack: enabled=1
log: $work/bochs.log
clock: sync=none
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
RC
echo c > "$work/cmds"
# port_e9_hack output goes to Bochs's stdout (bochs -q prints little else
# there before the guest runs: the marker line is searched for).
bochs -q -f "$work/bochsrc" -rc "$work/cmds" < /dev/null > "$work/e9.out" 2> "$work/bochs.stderr" &
pid=$!
i=0
while [ $i -lt $((tmo * 5)) ]; do
    if grep -q -a -e "^# $name done" -e "^Bail out!" "$work/e9.out" 2>/dev/null; then break; fi
    if ! kill -0 $pid 2>/dev/null; then break; fi
    sleep 0.2
    i=$((i + 1))
done
kill $pid 2>/dev/null
wait $pid 2>/dev/null
if [ $header = 1 ]; then
    ver=$(dpkg-query -W -f '${Version}' bochs 2>/dev/null || echo unknown)
    echo "# recorded from Bochs 2.7 (Debian bochs $ver), romimage: file=build/$name.bin, address=$addr (no BIOS: the guest starts at the reset vector), port 0xE9 (port_e9_hack), with testguests/bochs/run-bochs-rom.sh build/$name.bin"
fi
awk 'found { print; next } { i = index($0, "x86v-guest: "); if (i) { found = 1; print substr($0, i) } }' "$work/e9.out" | sed -n "1,/^# $name done/p"
grep -q -a "^# $name done" "$work/e9.out" && ! grep -q -a -e "^not ok" -e "^Bail out!" "$work/e9.out"
