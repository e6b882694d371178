#!/usr/bin/env bash
# The block engine against the interpreter (issue 15), on every guest in GUESTDIR/build/*.elf
# (and the ROM guests build/rom-*.bin, in the configurations of their spec) and in each of --virt=none, --virt=hw --mmu=direct and --virt=hw --mmu=shadow (and
# --virt=classic for the hole-* guests, demo and pf-demand):
#  1. `x86v lockstep GUEST --engines`: CPU state compared at every block boundary of the block
#     engine, whole machines (CPU, devices, VMM, shadow MMU, RAM) every 1 Mi instructions and at
#     the end; it must say "identical";
#  2. `x86v run --engine blocks` and `--engine interp`: serial output, exit status, the exit
#     trace (hw), the fault trace and --stats-json must be equal byte for byte;
#  3. the comparison can fail: a flipped flag on the block side is reported at its instruction.
# Long guests (alu, bench-*) stop at 3,000,000 instructions. Guests with a spec use its flags.
# Usage: Tests/cli/check-engines.sh [path/to/x86v] [GUESTDIR]   (from the repository root)
set -uo pipefail
x86v=${1:-.build/release/x86v}
guestdir=${2:-testguests}
case "$x86v" in /*) ;; *) x86v="$PWD/$x86v" ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export x86v tmp
began=$(date +%s)

# shellcheck source=guest-spec.sh
. "$(dirname "$0")/guest-spec.sh"

# A configuration's name (as `x86v test` and the spec files spell it) as run flags.
config_flags() {
    case $1 in
        none) echo "--virt=none" ;;
        hw-direct) echo "--virt=hw --mmu=direct" ;;
        hw-shadow) echo "--virt=hw --mmu=shadow" ;;
        classic) echo "--virt=classic" ;;
        bt) echo "--virt=bt" ;;
    esac
}

units="$tmp/units"
: > "$units"
for elf in "$guestdir"/build/*.elf; do
    name=$(basename "$elf" .elf)
    case "$name" in *-short) continue ;; esac
    spec="$guestdir/expected/$name.spec"
    flags=$(spec_value "$spec" flags)
    [ -n "$flags" ] || flags="--memory 64M"
    case "$name" in alu|alu-paging|bench-*) flags="$flags --max-instructions 3000000" ;; corpus) flags="$flags --max-instructions 30000000" ;; esac
    configs="none hw-direct hw-shadow"
    # The pre-VT VMM too, on the guests that exercise it (ring compression, shadow tables).
    case "$name" in hole-*|demo|pf-demand) configs="$configs classic" ;; esac
    for config in $configs; do
        printf '%s\t%s\t%s\n' "$name" "$config" "$elf $(config_flags "$config") $flags" >> "$units"
    done
done

# The ROM guests (--bios: real mode, V86, task switches) in the configurations their spec lists;
# their port-0xE9 output goes to stderr, which is compared too.
for rom in "$guestdir"/build/rom-*.bin; do
    [ -f "$rom" ] || continue
    name=$(basename "$rom" .bin)
    configs=$(spec_value "$guestdir/expected/$name.spec" configs)
    [ -n "$configs" ] || configs="none hw-direct hw-shadow classic bt"
    for config in $configs; do
        printf '%s\t%s\t%s\n' "$name" "$config" "--bios $rom $(config_flags "$config") --memory 64M" >> "$units"
    done
done

check_unit() {  # NAME CONFIG ARGS
    local name=$1 config=$2 args=$3
    local d="$tmp/$name-$config"
    mkdir -p "$d"
    # shellcheck disable=SC2086
    # (stderr apart: a ROM guest's port-0xE9 output goes there, twice.)
    "$x86v" lockstep $args --engines --serial /dev/null > "$d/lockstep" 2> "$d/lockstep.err"
    local ls=$?
    if [ $ls -ne 0 ] || ! grep -q '^identical' "$d/lockstep"; then
        echo "not ok - $name [$config]: lockstep --engines (status $ls): $(head -c 300 "$d/lockstep") $(tail -c 300 "$d/lockstep.err")"
        return
    fi
    local traces=""
    case $config in none) ;; *) traces="--trace-exits" ;; esac
    for e in blocks interp; do
        # shellcheck disable=SC2086
        "$x86v" run $args --engine $e --serial "$d/$e.serial" --trace-faults "$d/$e.faults" \
            ${traces:+$traces "$d/$e.exits"} --stats-json "$d/$e.json" > /dev/null 2> "$d/$e.err" < /dev/null
        echo $? > "$d/$e.status"
    done
    for f in serial faults json status err ${traces:+exits}; do
        if ! cmp -s "$d/blocks.$f" "$d/interp.$f"; then
            echo "not ok - $name [$config]: the engines' $f differ: $(diff "$d/blocks.$f" "$d/interp.$f" | head -4 | tr '\n' ' ' | head -c 300)"
            return
        fi
    done
    echo "ok - $name [$config]: $(sed 's/ (stop.*//' "$d/lockstep"); serial, status, traces and --stats-json equal"
}
export -f check_unit

jobs=$(nproc 2>/dev/null || echo 2)
tr '\t' '\036' < "$units" | xargs -d '\n' -P "$jobs" -I{} bash -c 'IFS=$'"'"'\036'"'"' read -r n c a <<< "$1"; check_unit "$n" "$c" "$a"' _ {} > "$tmp/results"
sort "$tmp/results"
failed=$(grep -c '^not ok' "$tmp/results")

# The comparison must be able to fail: a flag flipped on the block side at instruction 5000.
out=$("$x86v" lockstep "$guestdir/build/hello.elf" --engines --serial /dev/null --test-flip-flag 5000:0 2>&1)
if [ $? -eq 1 ] && grep -q "at instruction 5000 .*eflags" <<< "$out"; then
    echo "ok - a flipped CF at instruction 5000 is reported there: $out"
else
    echo "not ok - the flipped flag was not reported at instruction 5000: $out"
    failed=$((failed + 1))
fi

echo "# $(wc -l < "$units") guest configurations, $(( $(date +%s) - began )) s"
if [ "$failed" -ne 0 ]; then echo "check-engines: $failed failed"; exit 1; fi
echo "check-engines: all passed"
