; rom-v86 - a virtual-8086 monitor and its V86 task, from the reset vector.
; Issue 17.
;
; A 64 KiB system ROM (see rom.inc for the layout and output conventions).
; Real mode sets up a GDT and enters protected mode; a ring-0 32-bit monitor
; builds an IDT, a 32-bit TSS (SS0:ESP0, an I/O permission bitmap) and enters
; V86 mode with IRETD (EFLAGS.VM=1) many times, each time running a short
; 16-bit snippet (in the ROM alias at F000:xxxx, or copied to low RAM) that
; ends by trapping back to the monitor (HLT -> #GP(0), INT n, an exception).
; Covered: the V86 frame (EIP, CS, EFLAGS.VM, SS:ESP, ES/DS/FS/GS pushed and
; zeroed for the handler, the ring-0 stack from the TSS), CLI/STI/PUSHF/POPF/
; INT n/IRET raising #GP(0) with IOPL<3 and running with IOPL=3 (POPF not
; changing IOPL), INT n through a DPL 3 / DPL 0 gate, INT3, IN/OUT against
; the I/O bitmap whatever IOPL is, #DE/#UD to the ring-0 handlers, and the
; monitor reflecting an INT n to the V86 IVT and emulating the handler's IRET.
; CR4.VME stays 0 here (rom-vme tests VME separately).
;
; Expected output (expected/rom-v86.out) recorded from Bochs 2.7 with
; bochs/run-bochs-rom.sh, all ok there.
; QEMU 7.2 TCG (rom/run-qemu-rom.sh) agrees on all 34 tests.
;
; Build (in testguests/, or `make -C testguests`): nasm -f bin -I rom/ -o build/rom-v86.bin rom/rom-v86.asm

%define ROM_NAME "rom-v86"
%define NTESTS 34
%include "rom.inc"

; ---- this guest's memory ----
EMU_COUNT       equ 0x600       ; instructions the monitor emulated for the V86 task
TSS             equ 0x2000      ; 32-bit TSS, I/O bitmap at +0x68 for ports 0..0x3FF
TSS_LIMIT       equ 0x68 + 0x80 ; ... and the 0xFF byte after it
SEL_TSS         equ 0x28
RING0_STACK     equ 0x8000      ; TSS.ESP0: where V86 traps arrive
MON_STACK       equ 0x9000      ; the monitor's own stack
V86_CS_RAM      equ 0x2000      ; a V86 snippet copied to 2000:0000 (linear 0x20000)
V86_SS          equ 0x0500      ; V86 stack 0500:1000 (linear 0x6000 down)
V86_SP          equ 0x1000
V86_DS          equ 0x0300      ; V86 data at linear 0x3000
V86_ES          equ 0x1234
V86_FS          equ 0x0400
V86_GS          equ 0x0480
V86_DATA        equ V86_DS * 16
PORT_OK         equ 0x80        ; bitmap bit clear
PORT_DENIED     equ 0x84        ; bitmap bit set

        section .text16
        bits    16
rom_start:
        POWER_ON_16
        mov     ax, cs
        mov     ds, ax
        COPY_TEMPLATE gdt_template, GDT_BASE
        ENTER_PM_32

gdt_template:
        GDT_COMMON
        DESC    TSS, TSS_LIMIT, 0x89, 0x0       ; 0x28: 32-bit TSS, available
gdt_template_end:
gdt_ptr:
        dw      gdt_template_end - gdt_template - 1
        dd      GDT_BASE

; =====================================================================
; V86 snippets (16-bit code run in V86 mode, CS=F000 unless noted). Each ends
; in a HLT, which raises #GP(0) at CPL 3 and brings the monitor back.
; =====================================================================
; Copied to 2000:0000 and run from there: position-independent.
v86_basic:
        mov     ax, cs
        mov     [0], ax                 ; DS=0x0300: linear 0x3000
        mov     word [es:0], 0x4A4A     ; ES=0x1234: linear 0x12340
.hlt:   hlt
v86_basic_end:

v86_cli:
.insn:  cli
        hlt
v86_sti:
.insn:  sti
        hlt
v86_pushf:
.insn:  pushf
        hlt
v86_popf:
        push    word 0x0002
.insn:  popf
        hlt
v86_int:
.insn:  int     0x41
        hlt
v86_iret:
        push    word 0x0002             ; an IRET frame (PUSHF would fault first)
        push    cs
        push    word .insn + 1
.insn:  iret
        hlt

; With IOPL=3 these run: IF changes, POPF cannot change IOPL, IRET returns.
v86_iopl3:
        cli
        pushf
        pop     ax
        sti
        pushf
        pop     bx
        push    word FL_CF | 2          ; IOPL 0, IF 0 in the image
        popf
        pushf
        pop     cx
        pushf
        push    cs
        push    word .after
        iret
        hlt
.after: mov     [0], ax
        mov     [2], bx
        mov     [4], cx
.int:   int     0x30                    ; to the monitor through a DPL 3 gate
.back:  hlt

v86_int_dpl0:
.insn:  int     0x31                    ; gate DPL 0 < CPL 3
        hlt

v86_int3:
        int3                            ; not IOPL-sensitive: the IDT, DPL 3 gate
.next:  hlt

v86_out_ok:
        out     PORT_OK, al
.hlt:   hlt
v86_out_denied:
.insn:  out     PORT_DENIED, al
        hlt
v86_in_word:
.insn:  in      ax, PORT_DENIED - 1     ; ports 0x83 (allowed) and 0x84 (denied)
        hlt
v86_in_far:
        mov     dx, 0x1000              ; its bitmap byte is past the TSS limit
.insn:  in      al, dx
        hlt

v86_de:
        xor     bl, bl
.insn:  div     bl
        hlt
v86_ud:
.insn:  ud2
        hlt

; The monitor reflects INT 0x41 (#GP with IOPL=0) to the V86 IVT entry 0x41,
; v86_int41, and emulates that handler's IRET.
v86_reflect:
        mov     ax, 0x1111
        int     0x41
.ret:   mov     [6], ax
        mov     [8], sp
.hlt:   hlt
v86_int41:
        mov     ax, 0xBEEF
        mov     bp, sp
        mov     bx, [bp]                ; the IP and CS the monitor pushed
        mov     [10], bx
        mov     bx, [bp + 2]
        mov     [12], bx
        iret

; =====================================================================
; the monitor
; =====================================================================
        section .text32
        bits    32
pm_entry:
        FLAT_SEGMENTS_32 MON_STACK
        mov     eax, 0x30               ; INT 0x30 from V86 (IOPL=3): DPL 3
        mov     ebx, [pm_stub_table + 0x30 * 4]
        mov     cl, 0xEE
        call    set_gate32
        mov     eax, 3                  ; INT3 from V86: DPL 3
        mov     ebx, [pm_stub_table + 3 * 4]
        call    set_gate32
        ; TSS: SS0:ESP0, the I/O bitmap (ports 0..0x3FF, only 0x84 denied)
        mov     edi, TSS
        xor     eax, eax
        mov     ecx, 0x100 / 4
        rep     stosd
        mov     dword [TSS + 4], RING0_STACK
        mov     dword [TSS + 8], SEL_DATA32
        mov     word [TSS + 0x66], 0x68
        or      byte [TSS + 0x68 + PORT_DENIED / 8], 1 << (PORT_DENIED % 8)
        mov     byte [TSS + 0x68 + 0x80], 0xFF
        mov     ax, SEL_TSS
        ltr     ax
        ; V86 IVT: entry 0x41 -> F000:v86_int41
        mov     word [0x41 * 4], v86_int41
        mov     word [0x41 * 4 + 2], 0xF000
        ; a snippet in low RAM
        mov     esi, v86_basic + 0xF0000
        mov     edi, V86_CS_RAM * 16
        mov     ecx, v86_basic_end - v86_basic
        rep     movsb

; ---- entering V86 with IRETD (SDM Vol. 3A 20.2.5, Vol. 2 IRET "RETURN-TO-VIRTUAL-8086-MODE") ----
        mov     word [V86_DATA], 0
        mov     word [V86_ES * 16], 0
        mov     ebx, 0
        mov     ecx, V86_CS_RAM
        mov     edx, 0
        call    v86_enter
        movzx   eax, word [V86_DATA]
        shl     eax, 16
        mov     ax, [V86_ES * 16]
        CHECK32 eax, (V86_CS_RAM << 16) | 0x4A4A, "IRETD with VM=1 entered V86 at 2000:0000 in low RAM: CS reads 0x2000, ES=0x1234 wrote linear 0x12340 (SDM Vol. 3A 20.1.1, 20.2.5)"

; ---- the frame of an exception from V86 (SDM Vol. 3A 20.3.1.1) ----
        mov     eax, [TRAP_VEC]
        shl     eax, 16
        or      eax, [TRAP_ERR]
        CHECK32 eax, 13 << 16, "HLT in V86 (CPL 3): #GP with error code 0 to the ring-0 handler (SDM Vol. 3A 20.2.7)"
        mov     eax, [TRAP_CS]
        shl     eax, 16
        or      eax, [TRAP_EIP]
        CHECK32 eax, (V86_CS_RAM << 16) | (v86_basic.hlt - v86_basic), "pushed CS:EIP = the V86 CS and the IP of the HLT (a fault) (SDM Vol. 3A 20.3.1.1)"
        mov     eax, [TRAP_EFL]
        and     eax, FL_VM | FL_IOPL | 2
        CHECK32 eax, FL_VM | 2, "pushed EFLAGS has VM=1, IOPL=0 (SDM Vol. 3A 20.3.1.1)"
        mov     eax, [TRAP_SS]
        shl     eax, 16
        or      eax, [TRAP_ESP]
        CHECK32 eax, (V86_SS << 16) | V86_SP, "pushed SS:ESP = the V86 stack 0500:1000 (SDM Vol. 3A 20.3.1.1, Figure 20-5)"
        mov     eax, [TRAP_ES]
        shl     eax, 16
        or      eax, [TRAP_DS]
        CHECK32 eax, (V86_ES << 16) | V86_DS, "pushed ES, DS = the V86 values 0x1234, 0x0300 (SDM Vol. 3A 20.3.1.1)"
        mov     eax, [TRAP_FS]
        shl     eax, 16
        or      eax, [TRAP_GS]
        CHECK32 eax, (V86_FS << 16) | V86_GS, "pushed FS, GS = the V86 values 0x0400, 0x0480 (SDM Vol. 3A 20.3.1.1)"
        mov     eax, [TRAP_HDS]
        or      eax, [TRAP_HES]
        or      eax, [TRAP_HFS]
        or      eax, [TRAP_HGS]
        CHECK32 eax, 0, "DS, ES, FS, GS hold null selectors in the ring-0 handler (SDM Vol. 3A 20.3.1.1)"
        mov     eax, [TRAP_HESP]
        CHECK32 eax, RING0_STACK - 36, "the handler runs on TSS.SS0:ESP0: the EIP slot is 36 bytes below ESP0 (SDM Vol. 3A 6.12.1)"

; ---- IOPL-sensitive instructions with IOPL=0 raise #GP(0) (SDM Vol. 3A 20.2.7) ----
%macro IOPL0_GP 2                       ; snippet, what
        mov     ebx, %1
        mov     ecx, 0xF000
        mov     edx, 0
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + %1.insn, %2
%endmacro
        IOPL0_GP v86_cli, "V86, IOPL=0: CLI raises #GP(0) at the CLI (SDM Vol. 3A 20.2.7)"
        IOPL0_GP v86_sti, "V86, IOPL=0: STI raises #GP(0) at the STI"
        IOPL0_GP v86_pushf, "V86, IOPL=0: PUSHF raises #GP(0) at the PUSHF"
        IOPL0_GP v86_popf, "V86, IOPL=0: POPF raises #GP(0) at the POPF"
        IOPL0_GP v86_int, "V86, IOPL=0: INT 0x41 raises #GP(0) at the INT (not through the IDT)"
        IOPL0_GP v86_iret, "V86, IOPL=0: IRET raises #GP(0) at the IRET"
        mov     eax, [TRAP_ESP]
        CHECK32 eax, V86_SP - 6, "... the faulting IRET popped nothing: pushed ESP still has its 3 words"

; ---- with IOPL=3 they run in V86 (SDM Vol. 3A 20.2.7; Vol. 2 POPF) ----
        mov     ebx, v86_iopl3
        mov     ecx, 0xF000
        mov     edx, FL_IOPL
        call    v86_enter
        movzx   eax, word [V86_DATA]
        and     eax, FL_IF
        shl     eax, 16
        mov     ax, [V86_DATA + 2]
        and     eax, 0xFFFF0000 | FL_IF
        CHECK32 eax, FL_IF, "V86, IOPL=3: CLI cleared IF, STI set it (seen by PUSHF)"
        movzx   eax, word [V86_DATA + 4]
        and     eax, FL_CF | FL_IOPL | FL_IF
        CHECK32 eax, FL_CF | FL_IOPL, "V86, IOPL=3: POPF loaded CF and IF=0 but left IOPL=3 (SDM Vol. 2 POPF)"
        call    vei
        CHECK32 eax, (0x30 << 24) + v86_iopl3.back, "V86, IOPL=3: IRET returned in V86; INT 0x30 went through the DPL 3 IDT gate, EIP after the INT (SDM Vol. 3A 20.3.1.1)"
        mov     eax, [TRAP_EFL]
        and     eax, FL_VM | FL_IOPL
        mov     ebx, [TRAP_HDS]
        or      ebx, [TRAP_HGS]
        or      eax, ebx
        CHECK32 eax, FL_VM | FL_IOPL, "INT 0x30 left V86 for the monitor: pushed EFLAGS.VM=1, IOPL=3; DS and GS null in the handler"

        mov     ebx, v86_int_dpl0
        mov     ecx, 0xF000
        mov     edx, FL_IOPL
        call    v86_enter
        mov     eax, [TRAP_VEC]
        shl     eax, 16
        or      eax, [TRAP_ERR]
        CHECK32 eax, (13 << 16) | (0x31 * 8 + 2), "V86, IOPL=3: INT 0x31 through a DPL 0 gate: #GP(0x31*8+2), IDT bit set (SDM Vol. 3A 6.12.1.1)"
        mov     eax, [TRAP_EIP]
        CHECK32 eax, v86_int_dpl0.insn, "... the #GP points at the INT"

        mov     ebx, v86_int3
        mov     ecx, 0xF000
        mov     edx, 0
        call    v86_enter
        call    vei
        CHECK32 eax, (3 << 24) + v86_int3.next, "V86, IOPL=0: INT3 is not IOPL-sensitive: #BP through the DPL 3 gate, EIP after it (SDM Vol. 3A 20.2.7, Vol. 2 INT n)"

; ---- I/O in V86: the TSS I/O permission bitmap decides, IOPL is not looked at
;      (SDM Vol. 3A 20.2.8.1; Vol. 1 19.5.2) ----
        mov     ebx, v86_out_ok
        mov     ecx, 0xF000
        mov     edx, 0
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_out_ok.hlt, "V86, IOPL=0: OUT to port 0x80 (bitmap bit clear) runs: next trap is the HLT"
        mov     ebx, v86_out_denied
        mov     ecx, 0xF000
        mov     edx, 0
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_out_denied.insn, "V86, IOPL=0: OUT to port 0x84 (bitmap bit set) raises #GP(0)"
        mov     ebx, v86_out_denied
        mov     ecx, 0xF000
        mov     edx, FL_IOPL
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_out_denied.insn, "V86, IOPL=3: OUT to port 0x84 still raises #GP(0): IOPL does not matter in V86"
        mov     ebx, v86_in_word
        mov     ecx, 0xF000
        mov     edx, FL_IOPL
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_in_word.insn, "V86: IN AX from port 0x83 needs the bits of 0x83 and 0x84: #GP(0)"
        mov     ebx, v86_in_far
        mov     ecx, 0xF000
        mov     edx, FL_IOPL
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_in_far.insn, "V86: IN from port 0x1000, whose bitmap byte is past the TSS limit: #GP(0)"

; ---- exceptions in V86 go to the ring-0 handlers (SDM Vol. 3A 20.3.1) ----
        mov     ebx, v86_de
        mov     ecx, 0xF000
        mov     edx, 0
        call    v86_enter
        call    vei
        CHECK32 eax, (0 << 24) + v86_de.insn, "V86: DIV by 0 raises #DE to the ring-0 IDT handler, EIP of the DIV"
        mov     eax, [TRAP_EFL]
        and     eax, FL_VM
        mov     ebx, [TRAP_CS]
        shl     ebx, 16
        or      eax, ebx
        CHECK32 eax, 0xF0000000 | FL_VM, "... with CS=F000 and EFLAGS.VM=1 pushed"
        mov     ebx, v86_ud
        mov     ecx, 0xF000
        mov     edx, 0
        call    v86_enter
        call    vei
        CHECK32 eax, (6 << 24) + v86_ud.insn, "V86: UD2 raises #UD to the ring-0 handler, EIP of the UD2"

; ---- the monitor emulates INT n for the V86 task by reflecting it through the
;      V86 IVT, and the handler's IRET (SDM Vol. 3A 20.3.1.2, 20.3.3) ----
        mov     dword [EMU_COUNT], 0
        mov     dword [EMU_HOOK], v86_emulate
        mov     dword [V86_DATA + 6], 0
        mov     dword [V86_DATA + 10], 0
        mov     ebx, v86_reflect
        mov     ecx, 0xF000
        mov     edx, 0
        call    v86_enter
        mov     dword [EMU_HOOK], 0
        mov     eax, [V86_DATA + 10]
        CHECK32 eax, 0xF0000000 + v86_reflect.ret, "monitor reflected INT 0x41 to F000:v86_int41 from the V86 IVT, with FLAGS, CS, IP after the INT on the V86 stack"
        mov     eax, [V86_DATA + 6]
        CHECK32 eax, (V86_SP << 16) | 0xBEEF, "the handler's IRET (emulated) came back after the INT with AX=0xBEEF and SP as before"
        call    vei
        mov     ebx, [EMU_COUNT]
        shl     ebx, 16
        add     eax, ebx
        CHECK32 eax, (13 << 24) + (2 << 16) + v86_reflect.hlt, "two instructions emulated (INT, IRET), then the V86 task stopped at its HLT"

        jmp     finish32

%include "v86.inc"

; v86_emulate (EMU_HOOK): EBP -> vector, error code, EIP, CS, EFLAGS, ESP, SS.
; Emulates INT n (reflected through the V86 IVT at linear 0) and IRET for a
; #GP(0) from V86; EAX=1 when it did (trap32 then resumes the task).
v86_emulate:
        xor     eax, eax
        cmp     dword [ebp], 13
        jne     .done
        test    dword [ebp + 16], FL_VM
        jz      .done
        movzx   esi, word [ebp + 12]    ; linear CS:IP
        shl     esi, 4
        movzx   ecx, word [ebp + 8]
        add     esi, ecx
        movzx   edi, word [ebp + 24]    ; linear SS, SP
        shl     edi, 4
        movzx   edx, word [ebp + 20]
        cmp     byte [esi], 0xCD
        je      .int
        cmp     byte [esi], 0xCF
        je      .iret
        ret
.int:   sub     dx, 6                   ; push FLAGS, CS, IP+2 (16-bit SP wraps)
        mov     [ebp + 20], edx
        mov     ax, [ebp + 16]
        mov     [edi + edx + 4], ax
        mov     ax, [ebp + 12]
        mov     [edi + edx + 2], ax
        mov     ax, [ebp + 8]
        add     ax, 2
        mov     [edi + edx], ax
        movzx   ecx, byte [esi + 1]     ; CS:IP from IVT entry n
        movzx   eax, word [ecx * 4]
        mov     [ebp + 8], eax
        movzx   eax, word [ecx * 4 + 2]
        mov     [ebp + 12], eax
        and     dword [ebp + 16], ~(FL_IF | FL_TF | FL_AC)
        jmp     .emulated
.iret:  movzx   eax, word [edi + edx]   ; pop IP, CS, FLAGS
        mov     [ebp + 8], eax
        movzx   eax, word [edi + edx + 2]
        mov     [ebp + 12], eax
        movzx   eax, word [edi + edx + 4]
        and     eax, ~FL_IOPL & 0xFFFF  ; FLAGS bits but IOPL from the image
        mov     ecx, [ebp + 16]
        and     ecx, 0xFFFF0000 | FL_IOPL
        or      eax, ecx
        or      eax, 2
        mov     [ebp + 16], eax
        add     dx, 6
        mov     [ebp + 20], edx
.emulated:
        inc     dword [EMU_COUNT]
        mov     eax, 1
.done:  ret
