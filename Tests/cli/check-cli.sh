#!/usr/bin/env bash
# CLI contract checks for `x86v disasm`, run by `make test`:
#  1. every test guest and the compiled C corpus disassemble with 0 unexplained Capstone mismatches;
#  2. freshly compiled gcc output (gcc -m32 -O2 -c, several -march) also does;
#  3. bad input gets exactly one line on stderr and exit status 2, never a crash;
#  4. x86v run's exit statuses and outputs (--bios ROMs among them).
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
head -c 3000000 /dev/zero > "$tmp/big.bin"
check_bad "run: module does not fit" run testguests/build/hello.elf --memory 2M --module "$tmp/big.bin"
check_bad "run: missing module" run testguests/build/hello.elf --module "$tmp/nope.bin"
check_bad "run: bad --virt" run testguests/build/hello.elf --virt=vtx
check_bad "run: bad --exits" run testguests/build/hello.elf --exits=+bogus
check_bad "run: bad --timeout" run testguests/build/hello.elf --timeout -1
check_bad "run: bad --rtc" run testguests/build/hello.elf --rtc 2000-13-01
check_bad "run: --flat without --load" run --flat "$tmp/garbage" --entry 0x100000
check_bad "run: --trace-exits with --virt=none" run testguests/build/hello.elf --virt=none --trace-exits "$tmp/t"
check_bad "run: guest and --flat" run testguests/build/hello.elf --flat "$tmp/garbage" --load 0x100000 --entry 0x100000

# 4. x86v run: exit statuses (docs/formats.md).
check_status() {
    local description=$1 want=$2; shift 2
    "$x86v" "$@" > "$tmp/out" 2> "$tmp/err"
    local status=$?
    if [ $status -eq "$want" ]; then pass "$description: status $status $(head -c 200 "$tmp/err")"
    else fail "$description: status $status, want $want: $(head -c 300 "$tmp/err")"; fi
}
for virt in hw none; do
    check_status "run hello --virt=$virt: debug exit 0 → status 1" 1 run testguests/build/hello.elf --virt=$virt
    if diff <(tail -n +2 testguests/expected/hello.out) "$tmp/out" > /dev/null; then pass "run hello --virt=$virt: serial output equals QEMU's"
    else fail "run hello --virt=$virt: serial output differs from testguests/expected/hello.out"; fi
done
check_status "run alu: instruction limit → status 4" 4 run testguests/build/alu.elf --max-instructions 100000
check_status "run corpus (x87, SSE2): every check passes → status 1 (debug exit 0)" 1 run testguests/build/corpus.elf
# Flat binaries (--flat) for the machine's own stops.
flat() { printf "$1" > "$tmp/flat.bin"; }
flat '\xfa\xf4';             check_status "cli; hlt → status 0" 0 run --flat "$tmp/flat.bin" --load 0x100000 --entry 0x100000
flat '\xcc';                  check_status "int3 without an IDT → triple fault, status 8" 8 run --flat "$tmp/flat.bin" --load 0x100000 --entry 0x100000
grep -q "triple fault at eip" "$tmp/err" && pass "triple fault message: $(cat "$tmp/err")" || fail "triple fault message: $(cat "$tmp/err")"
# mov esp, 0x200000; push gs, fs, ds, es, ss, esp = 0; push EFLAGS with VM (IOPL 0); push cs =
# 0xFFFF, eip = 0x30 (linear 0x100020: the CLI after the IRET); iret; nop; nop; cli. CLI in V86
# with IOPL 0 is #GP(0), and with no IDT that ends in a triple fault.
flat '\xbc\x00\x00\x20\x00\x6a\x00\x6a\x00\x6a\x00\x6a\x00\x6a\x00\x6a\x00\x68\x02\x00\x02\x00\x68\xff\xff\x00\x00\x6a\x30\xcf\x90\x90\xfa'
check_status "IRET to virtual-8086 mode, CLI with IOPL 0 and no IDT → triple fault, status 8" 8 run --flat "$tmp/flat.bin" --load 0x100000 --entry 0x100000
grep -q "triple fault at eip 0x30 (exceptions: #GP(0x0) at 0x30" "$tmp/err" && pass "V86 #GP(0) at IP 0x30" || fail "V86 CLI: $(cat "$tmp/err")"
flat '\xeb\xfe';             check_status "jmp \$ with --timeout → status 10" 10 run --flat "$tmp/flat.bin" --load 0x100000 --entry 0x100000 --timeout 0.3
flat '\xb0\xff\xe6\x21\xe6\xa1\xfb\xf4'; check_status "sti; hlt with the 8259s masked → status 12" 12 run --flat "$tmp/flat.bin" --load 0x100000 --entry 0x100000
flat '\xe4\x80\xf4';         check_status "in al, 0x80 under --strict-io → status 14" 14 run --flat "$tmp/flat.bin" --load 0x100000 --entry 0x100000 --strict-io
flat '\xb0\xfe\xe6\x64\xf4'; check_status "8042 reset command → status 16" 16 run --flat "$tmp/flat.bin" --load 0x100000 --entry 0x100000
# ACPI (issue 18): the acpipm guest ends by entering S5 (PM1_CNT = SLP_EN | SLP_TYP 0) with the
# command line "poweroff", by writing 0x06 to the reset register 0xCF9 with "reset".
for virt in none hw; do
    check_status "acpipm poweroff --virt=$virt: ACPI S5 → status 22" 22 run testguests/build/acpipm.elf --append poweroff --virt=$virt
    grep -q "powered the machine off (ACPI S5)" "$tmp/err" && pass "power-off message: $(cat "$tmp/err")" || fail "power-off message: $(cat "$tmp/err")"
    check_status "acpipm reset --virt=$virt: 0xCF9 ← 0x06 → status 16" 16 run testguests/build/acpipm.elf --append reset --virt=$virt
done
check_bad "run: unknown --device" run testguests/build/hello.elf --device bogus
# --bios (issue 17): ROM size and file errors are one line and status 2; a tiny ROM (nasm) powers
# on at the reset vector, prints on port 0xE9 (--debugcon) and a POST code on 0x80 (--post) and
# exits through 0xF4, in every configuration and both engines.
head -c 1000 /dev/zero > "$tmp/rom-1000.bin"
head -c 98304 /dev/zero > "$tmp/rom-96k.bin"
head -c 327680 /dev/zero > "$tmp/rom-320k.bin"
check_bad "run --bios: 1000-byte ROM" run --bios "$tmp/rom-1000.bin"
check_bad "run --bios: 96 KiB ROM (not whole 64 KiB units)" run --bios "$tmp/rom-96k.bin"
check_bad "run --bios: 320 KiB ROM (larger than its window)" run --bios "$tmp/rom-320k.bin"
check_bad "run --bios: missing file" run --bios "$tmp/nope.bin"
check_bad "run --bios: a directory" run --bios /
check_bad "run --bios with GUEST" run testguests/build/hello.elf --bios "$tmp/rom-1000.bin"
check_bad "run --bios with --flat" run --bios "$tmp/rom-1000.bin" --flat "$tmp/garbage" --load 0x100000 --entry 0x100000
check_bad "run --bios with --module" run --bios "$tmp/rom-1000.bin" --module "$tmp/garbage"
cat > "$tmp/rom-tiny.asm" <<'ASM'
        bits 16
        times 0x100 db 0
start:  mov al, 0x55
        out 0x80, al            ; POST code
        mov si, msg
.next:  mov al, [cs:si]
        inc si
        test al, al
        jz .done
        out 0xE9, al
        jmp .next
.done:  mov al, 0
        out 0xF4, al            ; debug exit 0: status 1
        hlt
msg:    db "x86v-guest: rom-tiny", 10, "1..1", 10, "ok 1 - from the reset vector", 10, 0
        times 0xFFF0 - ($ - $$) db 0
        jmp 0xF000:start        ; the reset vector (CS base 0xFFFF0000, EIP 0xFFF0)
        times 0x10000 - ($ - $$) db 0xF4
ASM
mkdir -p "$tmp/romdir/build" "$tmp/romdir/expected"
if nasm -f bin -o "$tmp/romdir/build/rom-tiny.bin" "$tmp/rom-tiny.asm"; then
    printf '# check-cli.sh\nx86v-guest: rom-tiny\n1..1\nok 1 - from the reset vector\n' > "$tmp/romdir/expected/rom-tiny.out"
    for engine in blocks interp; do
        for c in "--virt=none" "--virt=hw --mmu=shadow" "--virt=hw --mmu=direct" "--virt=classic" "--virt=bt"; do
            "$x86v" run --bios "$tmp/romdir/build/rom-tiny.bin" $c --engine $engine --debugcon "$tmp/e9" --post "$tmp/post" > "$tmp/out" 2> "$tmp/err"
            status=$?
            if [ $status -eq 1 ] && cmp -s <(tail -n +2 "$tmp/romdir/expected/rom-tiny.out") "$tmp/e9" && [ "$(od -An -tx1 "$tmp/post" | tr -d ' ')" = 55 ] \
                && [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ]; then pass "run --bios rom-tiny $c --engine $engine: 0xE9 and 0x80 output, status 1"
            else fail "run --bios rom-tiny $c --engine $engine: status $status, 0xE9 '$(head -c 100 "$tmp/e9")', err $(head -c 200 "$tmp/err")"; fi
        done
    done
    out=$("$x86v" test "$tmp/romdir" 2>&1)
    if [ $? -eq 0 ] && [ "$(tail -n 1 <<< "$out")" = "5 passed, 0 failed, 0 skipped" ]; then pass "x86v test runs a ROM guest in none, hw-direct, hw-shadow, classic, bt"
    else fail "x86v test on a ROM guest: $out"; fi
    # Save and resume in the middle of a ROM run: the two halves give the whole output.
    "$x86v" run --bios "$tmp/romdir/build/rom-tiny.bin" --debugcon "$tmp/e9a" --save-at 12 --save "$tmp/rom.snap" 2> /dev/null
    s1=$?
    "$x86v" run --resume "$tmp/rom.snap" --debugcon "$tmp/e9b" 2> /dev/null
    s2=$?
    if [ $s1 -eq 18 ] && [ $s2 -eq 1 ] && cmp -s <(cat "$tmp/e9a" "$tmp/e9b") "$tmp/e9"; then pass "run --bios --save-at / --resume: the two halves give the whole 0xE9 output"
    else fail "run --bios --save-at / --resume: statuses $s1 $s2"; fi
    "$x86v" run --bios "$tmp/romdir/build/rom-tiny.bin" --stats --debugcon /dev/null 2> "$tmp/err"
    grep -q "^  mode switches    0 real→protected" "$tmp/err" && pass "--stats has a mode switches line" || fail "--stats mode switches: $(grep mode "$tmp/err")"
    check_bad "lockstep --bios against QEMU: not supported" lockstep --bios "$tmp/romdir/build/rom-tiny.bin"
else fail "nasm could not assemble the tiny ROM"; fi
# Real mode under every VMM: MOV to CR0 setting and clearing PE and PG together (CR_ACCESS exits,
# the shadow MMU resynchronised), and an unreal-mode DS wiping the 4 MiB past 2 MiB of guest RAM,
# where the VMM keeps its shadow tables and classic descriptor tables: the guest sees nothing
# there and paging still works afterwards.
cat > "$tmp/rom-modes.asm" <<'ASM'
        bits 16
        times 0x100 db 0
fail:   mov al, 1
        out 0xF4, al            ; debug exit 1: status 3
        hlt
start:  xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7000
        mov ax, 0x1000
        mov es, ax
        xor di, di
        xor eax, eax
        mov cx, 2048
        rep stosd
        mov dword [es:0], 0x11003       ; PDE 0 -> the page table at 0x11000
        mov dword [es:4], 0x11003       ; PDE 1 -> the same: 0x400000 aliases 0
        mov di, 0x1000
        mov eax, 3
        mov cx, 1024
.pt:    mov [es:di], eax
        add eax, 0x1000
        add di, 4
        loop .pt
        mov eax, 0x10000
        mov cr3, eax
        lgdt [cs:gdtr]
        mov eax, cr0
        or eax, 0x80000001              ; PE and PG in one MOV
        mov cr0, eax
        jmp 0x08:pm1
pm1:    mov ax, 0x10                    ; 4 GiB data
        mov ds, ax
        mov es, ax
        mov dword [0x500], 0x12345678
        mov ebx, cr0
        mov eax, cr0
        and eax, 0x7FFFFFFE             ; PE and PG off in one MOV
        mov cr0, eax
        jmp 0xF000:rm1
rm1:    xor ax, ax
        mov ds, ax                      ; base 0, the 4 GiB limit stays (unreal mode)
        cmp dword [0x500], 0x12345678
        jne fail
        cmp ebx, 0xE0000011
        jne fail
        mov eax, cr0
        cmp eax, 0x60000010
        jne fail
        ; Past 2 MiB of RAM (--memory 2M): nothing, even under a VMM whose private memory is there.
        mov edi, 0x200000
        cmp dword [edi], 0xFFFFFFFF
        jne fail
.wipe:  mov dword [edi], 0
        add edi, 4
        cmp edi, 0x600000
        jb .wipe
        cmp dword [dword 0x200000], 0xFFFFFFFF
        jne fail
        mov eax, cr0
        or eax, 0x80000001              ; paging again, on the VMM's tables if it has any
        mov cr0, eax
        jmp 0x08:pm2
pm2:    mov ax, 0x10
        mov ds, ax
        mov dword [dword 0x400600], 0xCAFE ; through PDE 1: physical 0x600
        mov eax, cr0
        and eax, 0x7FFFFFFE
        mov cr0, eax
        jmp 0xF000:rm2
rm2:    xor ax, ax
        mov ds, ax
        cmp dword [0x600], 0xCAFE
        jne fail
        mov si, msg
.n:     mov al, [cs:si]
        inc si
        test al, al
        jz .d
        out 0xE9, al
        jmp .n
.d:     mov al, 0
        out 0xF4, al                    ; debug exit 0: status 1
        hlt
msg:    db "x86v-guest: rom-modes", 10, "1..1", 10, "ok 1 - real to protected with paging and back, unreal mode", 10, 0
gdt:    dq 0
        dw 0xFFFF, 0x0000
        db 0x0F, 0x9A, 0x00, 0x00       ; 0x08: 16-bit code, base 0xF0000, limit 0xFFFF
        dw 0xFFFF, 0
        db 0, 0x92, 0xCF, 0             ; 0x10: data, base 0, limit 4 GiB
gdtr:   dw 23
        dd 0xF0000 + gdt
        times 0xFFF0 - ($ - $$) db 0
        jmp 0xF000:start                ; the reset vector
        times 0x10000 - ($ - $$) db 0xF4
ASM
if nasm -f bin -o "$tmp/rom-modes.bin" "$tmp/rom-modes.asm" 2> /dev/null; then
    for engine in blocks interp; do
        for c in "--virt=none" "--virt=hw --mmu=shadow" "--virt=hw --mmu=direct" "--virt=classic" "--virt=bt"; do
            "$x86v" run --bios "$tmp/rom-modes.bin" --memory 2M $c --engine $engine --debugcon "$tmp/e9" > /dev/null 2> "$tmp/err"
            status=$?
            if [ $status -eq 1 ] && grep -q "^ok 1 - real to protected" "$tmp/e9"; then pass "run --bios rom-modes $c --engine $engine: PE/PG switches, unreal mode kept out of VMM memory"
            else fail "run --bios rom-modes $c --engine $engine: status $status: $(head -c 200 "$tmp/err")"; fi
        done
    done
else fail "nasm could not assemble rom-modes"; fi
# Determinism: a timer-driven guest twice, same output, statistics and exit trace, bit for bit.
for i in 1 2; do
    "$x86v" run testguests/build/demo.elf --stats-json "$tmp/stats$i.json" --trace-exits "$tmp/trace$i.jsonl" > "$tmp/run$i"
done
if cmp -s "$tmp/run1" "$tmp/run2" && cmp -s "$tmp/stats1.json" "$tmp/stats2.json" && cmp -s "$tmp/trace1.jsonl" "$tmp/trace2.jsonl" \
    && [ -s "$tmp/trace1.jsonl" ] && grep -q '"injected_events":[1-9]' "$tmp/stats1.json"; then
    pass "run demo twice: identical serial output, --stats-json and --trace-exits ($(wc -l < "$tmp/trace1.jsonl") exits)"
else fail "run demo twice: outputs differ"; fi
if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]; json.load(open(sys.argv[2]))' "$tmp/trace1.jsonl" "$tmp/stats1.json"; then
    pass "trace and statistics are valid JSON"
else fail "trace or statistics are not valid JSON"; fi
# Out-of-sync leaf tables (default) against --no-unsync: the same guest, the same result; the
# counters show which way each table write went.
check_bad "--no-unsync with the direct MMU" run testguests/build/bench-churn.elf --mmu=direct --no-unsync
for u in "" "--no-unsync"; do
    "$x86v" run testguests/build/bench-churn.elf $u --stats-json "$tmp/unsync$u.json" > "$tmp/unsync$u.out"
done
if cmp -s "$tmp/unsync.out" "$tmp/unsync--no-unsync.out" && python3 - "$tmp/unsync.json" "$tmp/unsync--no-unsync.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["shadow"]; b = json.load(open(sys.argv[2]))["shadow"]
# Default: the churned table goes out of sync once and its 200,000 writes exit no more.
# --no-unsync: no table goes out of sync and every write is a synced pte write.
sys.exit(0 if a["mmu_unsync"] >= 1 and a["mmu_pte_write"] < 100 and b["mmu_unsync"] == 0 and b["mmu_pte_write"] >= 200000 else 1)
PY
then pass "bench-churn: same output with and without --no-unsync; unsync / pte-write counters as expected"
else fail "bench-churn --no-unsync: outputs or counters differ from the expected"; fi
# x86v pt: the guest walk beside the shadow walk.
"$x86v" pt testguests/build/paging.elf --memory 64M --address 0x1000 > "$tmp/pt" 2>&1
if grep -q "^  guest   PDE" "$tmp/pt" && grep -q "^  shadow  PDE" "$tmp/pt"; then pass "pt: guest and shadow walks shown"
else fail "pt: $(head -c 300 "$tmp/pt")"; fi
check_bad "pt: no address" pt testguests/build/paging.elf
check_bad "pt: bad address" pt testguests/build/paging.elf --address zz
# Page-fault traces: valid JSON, the same delivered faults under every MMU.
for c in "--virt=none" "--mmu=direct" "--mmu=shadow"; do
    "$x86v" run testguests/build/pf-perm.elf --memory 64M $c --trace-faults "$tmp/f.jsonl" > /dev/null
    grep '"kind":"delivered"' "$tmp/f.jsonl" | sed 's/"seq":[0-9]*,//; s/,"pde".*//; s/,"kind".*//' > "$tmp/delivered$c"
done
if [ -s "$tmp/delivered--virt=none" ] && cmp -s "$tmp/delivered--virt=none" "$tmp/delivered--mmu=direct" \
    && cmp -s "$tmp/delivered--virt=none" "$tmp/delivered--mmu=shadow" \
    && python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/f.jsonl"; then
    pass "pf-perm: $(wc -l < "$tmp/delivered--virt=none") delivered faults, identical under none, direct and shadow"
else fail "pf-perm: delivered faults differ between MMU modes"; fi
"$x86v" run --help > "$tmp/help" 2>&1 && grep -q -- "--trace-exits" "$tmp/help" && pass "run --help" || fail "run --help"

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

# --nmi-at: the chipset NMI button. rtc clears port 0x70's NMI mask (it reads CMOS with bit 7
# clear), so a press after that reaches it: its IDT has no NMI handler, so it reports vector 2
# and bails out (status 5) in every configuration; nmi leaves the mask set as SeaBIOS did, so
# the press is lost and its output is QEMU's.
for c in "--virt=none" "--mmu=direct" "--mmu=shadow"; do
    "$x86v" run testguests/build/rtc.elf --memory 64M $c --nmi-at 15000 > "$tmp/nmi.out" 2>&1
    status=$?
    if [ $status -eq 5 ] && grep -q "unhandled exception: vector=2 " "$tmp/nmi.out"; then pass "--nmi-at reaches rtc ($c)"
    else fail "--nmi-at on rtc ($c): status $status: $(tail -n 2 "$tmp/nmi.out")"; fi
done
"$x86v" run testguests/build/nmi.elf --memory 64M --nmi-at 5000,100000 > "$tmp/nmi2.out" 2>/dev/null
if tail -n +2 testguests/expected/nmi.out | cmp -s - "$tmp/nmi2.out"; then pass "--nmi-at with port 0x70 masking NMIs: no effect"
else fail "--nmi-at with NMIs masked changed nmi's output"; fi
check_bad "--nmi-at: not a number" run testguests/build/hello.elf --nmi-at 12,x

echo "CLI checks: $failures failed"
[ $failures -eq 0 ]
