; rom-task - hardware task switching, from the reset vector. Issue 17.
;
; A 64 KiB system ROM (see rom.inc for the layout and output conventions).
; Real mode sets up a GDT and enters protected mode; the main task A (32-bit
; TSS, loaded with LTR) then switches to other tasks through every path:
; JMP and CALL to a TSS descriptor, JMP through a task gate in the GDT, CALL
; through a task gate in the LDT, INT n and exceptions (#GP with its error
; code, #DF) through task gates in the IDT, IRET with NT=1 back, a 16-bit
; (286) TSS, a task with its own LDT and one with its own page directory
; (CR3), a task with the T (debug trap) bit; it checks what each switch saved
; in the old TSS and loaded from the new one, the busy bits, NT and the back
; link, and the faults: a CALL to a busy task (#GP), a TSS limit below 0x67
; (#TS), a bad CS in the new task (#TS in the new task's context), a
; not-present TSS (#NP).
;
; Expected output (expected/rom-task.out) recorded from Bochs 2.7 with
; bochs/run-bochs-rom.sh, all ok there.
; QEMU 7.2 TCG (rom/run-qemu-rom.sh) agrees on 35 of the 40 tests; it
; differs on 9 (the EFLAGS a JMP to a TSS saves in the old TSS lack the CF
; an STC set just before: QEMU wrote 0x46 for 0x47, stale lazy flags),
; 31-33 (no #DB for the TSS T bit: QEMU ignores it) and 38 (a #TS after the
; commit point, a bad CS in the new TSS, pushes the EIP of the old task's JMP
; instead of the new task's first instruction). Bochs and the SDM agree on
; those.
;
; Build (in testguests/, or `make -C testguests`): nasm -f bin -I rom/ -o build/rom-task.bin rom/rom-task.asm

%define ROM_NAME "rom-task"
%define NTESTS 40
%include "rom.inc"

; ---- this guest's memory ----
R_SUM           equ 0x600       ; what the tasks saw
R_EFL           equ 0x604
R_SEG           equ 0x608
R_BUSY          equ 0x60C
R_TR            equ 0x610
R_LINK          equ 0x614
R_LDT           equ 0x618
R_VAL           equ 0x61C
R_CR3           equ 0x620
R_DR6           equ 0x624
R_ERR           equ 0x628
R_ESP           equ 0x62C
R_AEIP          equ 0x630
R_RESUME        equ 0x634       ; where the handler tasks resume A
R_X             equ 0x640       ; 16 bytes

TSS_A           equ 0x2000      ; 32-bit TSSs, 0x100 apart
TSS_B           equ 0x2100
TSS_C           equ 0x2200
TSS_D           equ 0x2300
TSS_E           equ 0x2400
TSS_F           equ 0x2500
TSS_G           equ 0x2600
TSS_H           equ 0x2700
TSS_DF          equ 0x2800
TSS_16          equ 0x2900      ; 16-bit (286) TSS
TSS_SHORT       equ 0x2A00
TSS_NP          equ 0x2B00
LDT1            equ 0x3000      ; A's LDT
LDT2            equ 0x3100      ; C's LDT
STK_A           equ 0x9000      ; stack tops
STK_B           equ 0x8E00
STK_C           equ 0x8C00
STK_D           equ 0x8A00
STK_E           equ 0x8800
STK_F           equ 0x8600
STK_G           equ 0x8400
STK_H           equ 0x8200
STK_DF          equ 0x8000
STK_16          equ 0x7E00
PD1             equ 0x40000     ; A: linear 0x400000 -> 0x200000
PT0             equ 0x41000     ; identity 0-4 MiB, shared
PT1             equ 0x42000
PD2             equ 0x43000     ; E: linear 0x400000 -> 0x300000
PT2             equ 0x44000

SEL_TSS_A       equ 0x28
SEL_TSS_B       equ 0x30
SEL_TSS_C       equ 0x38
SEL_TSS_D       equ 0x40
SEL_TSS_E       equ 0x48
SEL_TSS_F       equ 0x50
SEL_TSS_G       equ 0x58
SEL_TSS_H       equ 0x60
SEL_TSS_DF      equ 0x68
SEL_TSS_16      equ 0x70
SEL_TSS_SHORT   equ 0x78
SEL_TSS_NP      equ 0x80
SEL_GATE_B      equ 0x88        ; task gate in the GDT -> TSS B
SEL_LDT1        equ 0x90
SEL_LDT2        equ 0x98
SEL_BADCS       equ 0xA0        ; a data segment, used as G's CS
SEL_L_DATA      equ 0x04        ; LDT entry 0: data (0x50000 in LDT1, 0x51000 in LDT2)
SEL_L_GATE_C    equ 0x0C        ; LDT1 entry 1: task gate -> TSS C
SEL_OUTSIDE     equ 0xF8        ; past the GDT limit

; TSS field offsets (SDM Vol. 3A Figure 7-2; 16-bit: Figure 7-11)
T_LINK  equ 0x00
T_ESP0  equ 0x04
T_CR3   equ 0x1C
T_EIP   equ 0x20
T_EFL   equ 0x24
T_EAX   equ 0x28
T_ECX   equ 0x2C
T_EDX   equ 0x30
T_EBX   equ 0x34
T_ESP   equ 0x38
T_EBP   equ 0x3C
T_ESI   equ 0x40
T_EDI   equ 0x44
T_ES    equ 0x48
T_CS    equ 0x4C
T_SS    equ 0x50
T_DS    equ 0x54
T_FS    equ 0x58
T_GS    equ 0x5C
T_LDT   equ 0x60
T_TRAP  equ 0x64
T_IOMAP equ 0x66

; access byte of a GDT descriptor (type 9 available / 0xB busy 32-bit TSS)
%define ACCESS(sel) byte [GDT_BASE + (sel) + 5]

        section .text16
        bits    16
rom_start:
        POWER_ON_16
        mov     ax, cs
        mov     ds, ax
        COPY_TEMPLATE gdt_template, GDT_BASE
        COPY_TEMPLATE ldt1_template, LDT1
        COPY_TEMPLATE ldt2_template, LDT2
        ENTER_PM_32

gdt_template:
        GDT_COMMON
        DESC    TSS_A, 0x67, 0x89, 0            ; 0x28
        DESC    TSS_B, 0x67, 0x89, 0            ; 0x30
        DESC    TSS_C, 0x67, 0x89, 0            ; 0x38
        DESC    TSS_D, 0x67, 0x89, 0            ; 0x40
        DESC    TSS_E, 0x67, 0x89, 0            ; 0x48
        DESC    TSS_F, 0x67, 0x89, 0            ; 0x50
        DESC    TSS_G, 0x67, 0x89, 0            ; 0x58
        DESC    TSS_H, 0x67, 0x89, 0            ; 0x60
        DESC    TSS_DF, 0x67, 0x89, 0           ; 0x68
        DESC    TSS_16, 0x2B, 0x81, 0           ; 0x70 16-bit TSS, available
        DESC    TSS_SHORT, 0x60, 0x89, 0        ; 0x78 limit 0x60 < 0x67
        DESC    TSS_NP, 0x67, 0x09, 0           ; 0x80 not present
        TASKGATE SEL_TSS_B, 0x85                ; 0x88
        DESC    LDT1, 0x0F, 0x82, 0             ; 0x90
        DESC    LDT2, 0x07, 0x82, 0             ; 0x98
        DESC    0, 0xFFFFF, 0x92, 0xC           ; 0xA0 data, not code
gdt_template_end:
gdt_ptr:
        dw      gdt_template_end - gdt_template - 1
        dd      GDT_BASE
ldt1_template:
        DESC    0x50000, 0xFFF, 0x92, 0
        TASKGATE SEL_TSS_C, 0x85
ldt1_template_end:
ldt2_template:
        DESC    0x51000, 0xFFF, 0x92, 0
ldt2_template_end:

; The 16-bit task (TSS_16, CS = the 16-bit code segment 0x18, SS = DS = 0x20).
task16:
        mov     [ss:R_X], ax
        mov     [ss:R_X + 2], bx
        pushf
        pop     word [ss:R_X + 4]
        mov     [ss:R_X + 6], cs
        mov     ax, 0x6161
        iret                            ; NT=1: back to the caller's task
.after: jmp     task16

        section .text32
        bits    32
pm_entry:
        FLAT_SEGMENTS_32 STK_A
        mov     dword [0x50000], 0x1D71D71      ; what LDT1 and LDT2 entry 0 see
        mov     dword [0x51000], 0x2D72D72

; ---- the main task (SDM Vol. 3A 7.2.4) ----
        mov     edi, TSS_A
        xor     eax, eax
        mov     ebx, STK_A
        call    init_tss32
        mov     ax, SEL_TSS_A
        ltr     ax
        mov     ax, SEL_LDT1
        lldt    ax
        mov     word [TSS_A + T_LDT], SEL_LDT1  ; not saved by a switch: set it here
        str     ax
        movzx   eax, ax
        shl     eax, 16
        mov     al, ACCESS(SEL_TSS_A)
        CHECK32 eax, (SEL_TSS_A << 16) | 0x8B, "LTR loaded TR=0x28 and marked A's TSS descriptor busy, type 0xB (SDM Vol. 3A 7.2.4)"

; ---- JMP to a TSS descriptor (SDM Vol. 3A 7.3, Table 7-2) ----
        mov     edi, TSS_B
        mov     eax, task_b_jmp
        mov     ebx, STK_B
        call    init_tss32
        mov     dword [TSS_B + T_EAX], 0x1
        mov     dword [TSS_B + T_ECX], 0x10
        mov     dword [TSS_B + T_EDX], 0x100
        mov     dword [TSS_B + T_EBX], 0x1000
        mov     dword [TSS_B + T_EBP], 0x10000
        mov     dword [TSS_B + T_ESI], 0x100000
        mov     dword [TSS_B + T_EDI], 0x1000000
        mov     dword [TSS_B + T_EFL], FL_ZF | FL_PF | FL_CF | 2
        mov     dword [TSS_B + T_DS], SEL_DATA16
        mov     dword [TSS_B + T_GS], SEL_DATA16
        mov     ax, SEL_DATA16          ; A's state, to be saved in A's TSS
        mov     fs, ax
        mov     eax, 0xA0A0A0A0
        mov     ecx, 0xA1A1A1A1
        mov     edx, 0xA2A2A2A2
        mov     ebx, 0xA3A3A3A3
        mov     ebp, 0xA5A5A5A5
        mov     esi, 0xA6A6A6A6
        mov     edi, 0xA7A7A7A7
        stc
        jmp     SEL_TSS_B:0             ; the offset is ignored
.after_jmp_b:
        pushfd
        pop     dword [R_X]
        mov     [R_X + 4], ecx
        mov     ax, SEL_DATA32
        mov     fs, ax
        CHECK32 dword [R_SUM], 0x1111111, "JMP to TSS B: B started with EAX, ECX, EDX, EBX, EBP, ESI, EDI from its TSS (SDM Vol. 3A 7.3 step 11)"
        CHECK32 dword [R_EFL], FL_ZF | FL_PF | FL_CF | 2, "... EFLAGS 0x47 from its TSS, NT=0 after a JMP"
        CHECK32 dword [R_SEG], (SEL_DATA16 << 16) | SEL_DATA16, "... DS and GS = 0x20 from its TSS"
        CHECK32 dword [R_BUSY], 0x898B, "while B runs: A's TSS available (JMP clears the old busy bit), B's busy, B's back link untouched (SDM Vol. 3A Table 7-2)"
        CHECK32 dword [TSS_A + T_EIP], .after_jmp_b, "A's TSS got the EIP after the JMP (SDM Vol. 3A 7.3 step 7)"
        mov     eax, [TSS_A + T_CS]
        shl     eax, 16
        or      eax, [TSS_A + T_FS]
        xor     eax, [TSS_A + T_EAX]
        CHECK32 eax, ((SEL_CODE32 << 16) | SEL_DATA16) ^ 0xA0A0A0A0, "A's TSS got EAX=0xA0A0A0A0, CS=0x08, FS=0x20 (checked XORed together)"
        CHECK32 dword [R_X + 4], 0xA1A1A1A1, "B jumped back: A resumed after its JMP with ECX reloaded from A's TSS"
        str     ax
        movzx   eax, ax
        shl     eax, 16
        mov     ebx, [R_X]
        and     ebx, FL_CF
        or      eax, ebx
        CHECK32 eax, (SEL_TSS_A << 16) | FL_CF, "... TR=0x28 again and CF restored from A's saved EFLAGS"

; ---- CALL to a TSS: nesting, NT, back link, IRET (SDM Vol. 3A 7.4, Table 7-2) ----
        mov     edi, TSS_B
        mov     eax, task_b_call
        mov     ebx, STK_B
        call    init_tss32
        call    SEL_TSS_B:0
        mov     eax, [R_LINK]
        shl     eax, 16
        mov     ebx, [R_EFL]
        and     ebx, FL_NT
        or      eax, ebx
        CHECK32 eax, (SEL_TSS_A << 16) | FL_NT, "CALL to TSS B: B runs with NT=1 and back link 0x28 in its TSS (SDM Vol. 3A 7.4)"
        CHECK32 dword [R_BUSY], (SEL_TSS_A << 16) | 0x8B8B, "... both A's and B's TSS descriptors are busy during the CALL (SDM Vol. 3A 7.4.1)"
        movzx   eax, ACCESS(SEL_TSS_A)
        shl     eax, 8
        mov     al, ACCESS(SEL_TSS_B)
        CHECK32 eax, 0x8B89, "B's IRET (NT=1) returned to A: B's busy bit cleared, A's still set"
        pushfd
        pop     eax
        and     eax, FL_NT
        mov     ebx, [TSS_B + T_EFL]
        and     ebx, FL_NT
        shl     ebx, 1
        or      eax, ebx
        CHECK32 eax, 0, "NT=0 in A (from A's TSS) and in the EFLAGS the IRET saved in B's TSS (SDM Vol. 3A Table 7-2)"
        CHECK32 dword [TSS_B + T_EIP], task_b_call.resume, "the IRET saved B's state: EIP after the IRETD in B's TSS"

; ---- task gates: in the GDT (JMP), in the LDT (CALL) (SDM Vol. 3A 7.2.5, 7.3) ----
        mov     edi, TSS_B
        mov     eax, task_b_gate
        mov     ebx, STK_B
        call    init_tss32
        mov     dword [R_TR], 0
        jmp     SEL_GATE_B:0
        CHECK32 dword [R_TR], SEL_TSS_B, "JMP through the GDT task gate 0x88 switched to TSS 0x30 (TR in the task)"
        mov     edi, TSS_C
        mov     eax, task_c
        mov     ebx, STK_C
        call    init_tss32
        mov     word [TSS_C + T_LDT], SEL_LDT2
        call    SEL_L_GATE_C:0
        mov     eax, [R_LDT]
        shl     eax, 16
        or      eax, [R_LINK]
        CHECK32 eax, (SEL_LDT2 << 16) | SEL_TSS_A, "CALL through the task gate in A's LDT: C runs with LDTR=0x98 from its TSS, back link 0x28 (SDM Vol. 3A 7.5)"
        CHECK32 dword [R_VAL], 0x2D72D72, "... in C, selector 0x04 is entry 0 of C's LDT (base 0x51000)"
        mov     ax, SEL_L_DATA
        mov     es, ax
        mov     eax, [es:0]
        mov     bx, SEL_DATA32
        mov     es, bx
        sldt    bx
        cmp     bx, SEL_LDT1
        je      .ldt_ok
        xor     eax, eax
.ldt_ok:
        CHECK32 eax, 0x1D71D71, "back in A: LDTR=0x90 reloaded from A's TSS, selector 0x04 reads base 0x50000 again"

; ---- task gates in the IDT: INT n, #GP with an error code, #DF (SDM Vol. 3A 6.12.2) ----
        mov     edi, TSS_D
        mov     eax, task_d
        mov     ebx, STK_D
        call    init_tss32
        mov     eax, 0x50
        mov     bx, SEL_TSS_D
        call    set_taskgate32
        int     0x50
        mov     eax, [R_TR]
        shl     eax, 16
        or      eax, [R_LINK]
        CHECK32 eax, (SEL_TSS_D << 16) | SEL_TSS_A, "INT 0x50 through an IDT task gate ran task D (TR 0x40, back link 0x28); its IRET returned"

        mov     edi, TSS_H
        mov     eax, task_handler
        mov     ebx, STK_H
        call    init_tss32
        mov     eax, 13
        mov     bx, SEL_TSS_H
        call    set_taskgate32
        mov     dword [R_RESUME], .gp_resume
        mov     ax, SEL_OUTSIDE
.gp_fault:
        mov     ds, ax                  ; #GP(0xF8): past the GDT limit
.gp_resume:
        mov     eax, 13
        call    restore_gate32
        mov     eax, [R_TR]
        shl     eax, 24
        mov     ebx, [R_ERR]
        shl     ebx, 8
        or      eax, ebx
        mov     ebx, STK_H
        sub     ebx, [R_ESP]
        or      eax, ebx
        CHECK32 eax, (SEL_TSS_H << 24) | (SEL_OUTSIDE << 8) | 4, "#GP through an IDT task gate: task H (TR 0x60) finds the error code 0xF8 on its own stack (ESP = TSS ESP - 4) (SDM Vol. 3A 6.12.2)"
        CHECK32 dword [R_AEIP], .gp_fault, "... A's TSS holds the EIP of the faulting MOV DS (a fault: saved before it ran)"

        mov     edi, TSS_DF
        mov     eax, task_handler
        mov     ebx, STK_DF
        call    init_tss32
        mov     eax, 8
        mov     bx, SEL_TSS_DF
        call    set_taskgate32
        and     byte [IDT_BASE + 0 * 8 + 5], 0x7F       ; #DE's gate not present
        mov     dword [R_RESUME], .df_resume
        mov     dword [R_LINK], 0
        xor     ecx, ecx
        div     ecx                     ; #DE -> #NP on its gate -> #DF
.df_resume:
        or      byte [IDT_BASE + 0 * 8 + 5], 0x80
        mov     eax, 8
        call    restore_gate32
        mov     eax, [R_TR]
        shl     eax, 24
        mov     ebx, [R_ERR]
        shl     ebx, 8
        or      eax, ebx
        mov     ebx, STK_DF
        sub     ebx, [R_ESP]
        or      eax, ebx
        CHECK32 eax, (SEL_TSS_DF << 24) | (0 << 8) | 4, "#DE with a not-present IDT gate -> #NP -> #DF through a task gate: task 0x68, error code 0 on its stack (SDM Vol. 3A 6.15 Interrupt 8, Table 6-5)"
        CHECK32 dword [R_LINK], SEL_TSS_A, "... the #DF task is nested (back link 0x28); its IRET resumed A"

; ---- a 16-bit TSS (SDM Vol. 3A 7.6) ----
        mov     edi, TSS_16
        xor     eax, eax
        mov     ecx, 0x2C / 4
        rep     stosd
        mov     word [TSS_16 + 0x0E], task16    ; IP
        mov     word [TSS_16 + 0x10], 2         ; FLAGS
        mov     word [TSS_16 + 0x12], 0x1616    ; AX
        mov     word [TSS_16 + 0x18], 0x2626    ; BX
        mov     word [TSS_16 + 0x1A], STK_16    ; SP
        mov     word [TSS_16 + 0x22], SEL_DATA16 ; ES
        mov     word [TSS_16 + 0x24], SEL_CODE16 ; CS
        mov     word [TSS_16 + 0x26], SEL_DATA16 ; SS
        mov     word [TSS_16 + 0x28], SEL_DATA16 ; DS
        call    SEL_TSS_16:0
        CHECK32 dword [R_X], 0x26261616, "CALL to a 16-bit TSS: the task starts with AX=0x1616, BX=0x2626 from it (SDM Vol. 3A 7.6, Figure 7-11)"
        mov     eax, [R_X + 4]          ; CS << 16 | FLAGS
        and     eax, 0xFFFF0000 | FL_NT
        CHECK32 eax, (SEL_CODE16 << 16) | FL_NT, "... CS=0x18 (16-bit code) from the TSS, NT=1"
        movzx   eax, word [TSS_16 + 0x0E]
        CHECK32 eax, task16.after, "its 16-bit IRET (NT=1) saved IP (after the IRET) in the 16-bit TSS"
        movzx   eax, word [TSS_16 + 0x00]
        shl     eax, 16
        mov     ax, [TSS_16 + 0x12]
        CHECK32 eax, (SEL_TSS_A << 16) | 0x6161, "... and AX=0x6161; its back link is A's 0x28"

; ---- CR3 from the TSS: two page directories (SDM Vol. 3A 7.5) ----
        call    setup_paging
        mov     eax, PD1
        mov     cr3, eax
        mov     [TSS_A + T_CR3], eax    ; static field: read, never saved
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax
        mov     edi, TSS_E
        mov     eax, task_e
        mov     ebx, STK_E
        call    init_tss32
        mov     dword [TSS_E + T_CR3], PD2
        call    SEL_TSS_E:0
        mov     ebx, cr3
        mov     ecx, [0x400000]
        mov     eax, cr0
        and     eax, 0x7FFFFFFF
        mov     cr0, eax
        CHECK32 dword [R_CR3], PD2, "CALL to E loaded CR3 from E's TSS (PD2) (SDM Vol. 3A 7.3 step 11)"
        CHECK32 dword [R_VAL], 0x33333333, "... E reads linear 0x400000 through PD2: physical 0x300000"
        cmp     ebx, PD1
        je      .cr3_ok
        xor     ecx, ecx
.cr3_ok:
        CHECK32 ecx, 0x22222222, "back in A: CR3=PD1 from A's TSS, linear 0x400000 is physical 0x200000 again"

; ---- the T bit: #DB after switching to the task, in its context (SDM Vol. 3A 7.2.1, 17.3.1.5) ----
        mov     edi, TSS_F
        mov     eax, task_f
        mov     ebx, STK_F
        call    init_tss32
        mov     word [TSS_F + T_TRAP], 1
        xor     eax, eax
        mov     dr6, eax
        mov     dword [TRAP_VEC], -1
        mov     dword [TRAP_EIP], -1
        mov     dword [R_DR6], 0
        TRY32   task_f                  ; the #DB returns to F's first instruction
        call    SEL_TSS_F:0
        mov     dword [CATCH32], 0
        mov     eax, [TRAP_TR]
        shl     eax, 16
        or      eax, [TRAP_VEC]
        CHECK32 eax, (SEL_TSS_F << 16) | 1, "T=1 in F's TSS: #DB (vector 1) right after the switch, with TR=0x50 (in F's context)"
        CHECK32 dword [TRAP_EIP], task_f, "... its EIP is F's first instruction (before it ran)"
        mov     eax, [R_DR6]
        and     eax, 0x8000
        CHECK32 eax, 0x8000, "... DR6.BT (bit 15) set (SDM Vol. 3A 17.2.3)"

; ---- faults (SDM Vol. 3A 7.3, Table 7-1) ----
        TRY32   .busy_done
.busy_fault:
        call    SEL_TSS_A:0             ; A itself: busy
.busy_done:
        mov     eax, [TRAP_VEC]
        shl     eax, 16
        or      eax, [TRAP_ERR]
        CHECK32 eax, (13 << 16) | SEL_TSS_A, "CALL to a busy TSS (A's own): #GP(0x28) (SDM Vol. 3A 7.4.1, Vol. 2 CALL)"
        CHECK32 dword [TRAP_EIP], .busy_fault, "... in A's context, EIP of the CALL"

        TRY32   .short_done
.short_fault:
        jmp     SEL_TSS_SHORT:0
.short_done:
        mov     eax, [TRAP_TR]
        shl     eax, 24
        mov     ebx, [TRAP_VEC]
        shl     ebx, 16
        or      eax, ebx
        or      eax, [TRAP_ERR]
        CHECK32 eax, (SEL_TSS_A << 24) | (10 << 16) | SEL_TSS_SHORT, "JMP to a TSS with limit 0x60 < 0x67: #TS(0x78) in A's context (SDM Vol. 3A 7.2.2, Table 7-1)"

        mov     edi, TSS_G
        mov     eax, task_g
        mov     ebx, STK_G
        call    init_tss32
        mov     dword [TSS_G + T_CS], SEL_BADCS
        mov     dword [TRAP_EIP], -1
        TRY32   back_to_a, STK_G        ; the #TS handler JMPs back to A
        jmp     SEL_TSS_G:0
        mov     dword [CATCH32], 0
        mov     eax, [TRAP_TR]
        shl     eax, 24
        mov     ebx, [TRAP_VEC]
        shl     ebx, 16
        or      eax, ebx
        or      eax, [TRAP_ERR]
        CHECK32 eax, (SEL_TSS_G << 24) | (10 << 16) | SEL_BADCS, "G's TSS has a data segment as CS: #TS(0xA0) after the commit, in G's context (TR 0x58) (SDM Vol. 3A 7.3 step 11, Table 7-1)"
        CHECK32 dword [TRAP_EIP], task_g, "... the #TS frame's EIP is G's first instruction"
        movzx   eax, ACCESS(SEL_TSS_A)
        shl     eax, 8
        mov     al, ACCESS(SEL_TSS_G)
        CHECK32 eax, 0x8B89, "... the handler's JMP back to A cleared G's busy bit, set A's"

        TRY32   .np_done
.np_fault:
        jmp     SEL_TSS_NP:0
.np_done:
        mov     eax, [TRAP_VEC]
        shl     eax, 16
        or      eax, [TRAP_ERR]
        CHECK32 eax, (11 << 16) | SEL_TSS_NP, "JMP to a not-present TSS descriptor: #NP(0x80) (SDM Vol. 3A 7.2.2, Vol. 2 JMP)"

        jmp     finish32

; ---- the other tasks ----
task_b_jmp:
        pushfd
        pop     dword [ss:R_EFL]
        add     eax, ecx
        add     eax, edx
        add     eax, ebx
        add     eax, ebp
        add     eax, esi
        add     eax, edi
        mov     [ss:R_SUM], eax
        xor     eax, eax
        mov     ax, ds
        shl     eax, 16
        mov     ax, gs
        mov     [ss:R_SEG], eax
        call    busy_ab
        mov     [ss:R_BUSY], eax
        jmp     SEL_TSS_A:0
        jmp     task_b_jmp

task_b_call:
        pushfd
        pop     dword [R_EFL]
        mov     eax, [TSS_B + T_LINK]
        mov     [R_LINK], eax
        call    busy_ab
        mov     [R_BUSY], eax
        iretd
.resume:
        jmp     task_b_call

task_b_gate:
        str     ax
        movzx   eax, ax
        mov     [R_TR], eax
        jmp     SEL_TSS_A:0
        jmp     task_b_gate

task_c:
        sldt    ax
        movzx   eax, ax
        mov     [R_LDT], eax
        mov     eax, [TSS_C + T_LINK]
        mov     [R_LINK], eax
        mov     ax, SEL_L_DATA
        mov     es, ax
        mov     eax, [es:0]
        mov     [R_VAL], eax
        iretd
        jmp     task_c

task_d:
        str     ax
        movzx   eax, ax
        mov     [R_TR], eax
        mov     eax, [TSS_D + T_LINK]
        mov     [R_LINK], eax
        iretd
        jmp     task_d

; An exception handler task (#GP, #DF): records the error code it finds on its
; stack, its TR and back link, points A's saved EIP at R_RESUME, IRETs.
task_handler:
        mov     [R_ESP], esp
        pop     eax
        mov     [R_ERR], eax
        str     ax
        movzx   eax, ax
        mov     [R_TR], eax
        movzx   ebx, ax
        and     ebx, ~7
        mov     ecx, [GDT_BASE + ebx + 2]       ; this TSS's base (< 16 MiB)
        and     ecx, 0xFFFFFF
        mov     eax, [ecx + T_LINK]
        mov     [R_LINK], eax
        mov     eax, [TSS_A + T_EIP]
        mov     [R_AEIP], eax
        mov     eax, [R_RESUME]
        mov     [TSS_A + T_EIP], eax
        iretd
        jmp     task_handler

task_e:
        mov     eax, cr3
        mov     [R_CR3], eax
        mov     eax, [0x400000]
        mov     [R_VAL], eax
        iretd
        jmp     task_e

task_f:
        mov     eax, dr6
        mov     [R_DR6], eax
        iretd
        jmp     task_f

task_g:                                 ; never runs: its CS is bad
        jmp     SEL_TSS_A:0
back_to_a:                              ; the #TS handler resumes here, in G's context
        jmp     SEL_TSS_A:0
        jmp     back_to_a

; busy_ab: EAX = B's back link << 16 | A's access byte << 8 | B's access byte
busy_ab:
        mov     eax, [ss:TSS_B + T_LINK]
        shl     eax, 8
        mov     al, [ss:GDT_BASE + SEL_TSS_A + 5]
        shl     eax, 8
        mov     al, [ss:GDT_BASE + SEL_TSS_B + 5]
        ret

; init_tss32: EDI = TSS, EAX = EIP, EBX = ESP. A fresh 32-bit TSS: flat
; CS/SS/DS/ES/FS/GS, EFLAGS 2, CR3 = the current CR3, no LDT, link 0, no I/O
; bitmap (base 0x68 = the limit + 1).
init_tss32:
        pushad
        push    eax
        push    edi
        xor     eax, eax
        mov     ecx, 0x68 / 4
        rep     stosd
        pop     edi
        pop     eax
        mov     [edi + T_EIP], eax
        mov     [edi + T_ESP], ebx
        mov     dword [edi + T_EFL], 2
        mov     eax, cr3
        mov     [edi + T_CR3], eax
        mov     dword [edi + T_CS], SEL_CODE32
        mov     eax, SEL_DATA32
        mov     [edi + T_SS], eax
        mov     [edi + T_DS], eax
        mov     [edi + T_ES], eax
        mov     [edi + T_FS], eax
        mov     [edi + T_GS], eax
        mov     word [edi + T_IOMAP], 0x68
        popad
        ret

; setup_paging: PD1 and PD2 share PT0 (0-4 MiB identity); linear 0x400000 is
; physical 0x200000 through PD1 and 0x300000 through PD2.
setup_paging:
        pushad
        mov     edi, PD1
        xor     eax, eax
        mov     ecx, 5 * 1024
        rep     stosd
        mov     edi, PT0
        mov     eax, 3
        mov     ecx, 1024
.fill:  stosd
        add     eax, 0x1000
        loop    .fill
        mov     dword [PD1], PT0 | 3
        mov     dword [PD1 + 4], PT1 | 3
        mov     dword [PT1], 0x200000 | 3
        mov     dword [PD2], PT0 | 3
        mov     dword [PD2 + 4], PT2 | 3
        mov     dword [PT2], 0x300000 | 3
        mov     dword [0x200000], 0x22222222
        mov     dword [0x300000], 0x33333333
        popad
        ret
