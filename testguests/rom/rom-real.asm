; rom-real - real mode from the reset vector, protected mode and back,
; paging on and off, big real ("unreal") mode. Issue 17.
;
; A 64 KiB system ROM (see rom.inc for the layout and output conventions):
; starts at the reset vector, checks the reset state, then real-mode operand
; and address sizes, segment arithmetic, 64 KiB offset wrap-around and limit
; faults, INT n / IRET and exceptions through its own IVT, the 1 MiB boundary
; with A20 on, PUSHF/POPF, far CALL/RET; switches to protected mode (LGDT,
; CR0.PE, far JMP to a 32-bit segment), turns paging on and off, returns to
; real mode keeping a 4 GiB FS limit (unreal mode) and reads above 1 MiB and
; the ROM at the top of 4 GiB through it.
;
; Expected output (expected/rom-real.out) recorded from Bochs 2.7 with
; bochs/run-bochs-rom.sh, all ok there.
; QEMU 7.2 TCG (rom/run-qemu-rom.sh) agrees on 34 of the 38 tests; it
; differs on 9, 10, 11 and 38, the real-mode segment limit checks: TCG does no
; limit checks on data accesses, so a word at DS:FFFF, DS:0x10000 and
; SS:0x10000 through 32-bit addresses read memory instead of raising #GP/#SS
; (vectors 13/12). Bochs and the SDM agree on those. Left out: EDX after
; reset (SDM Table 9-1: the processor signature) - Bochs 2.7 leaves EDX=0.
;
; Build (in testguests/, or `make -C testguests`): nasm -f bin -I rom/ -o build/rom-real.bin rom/rom-real.asm

%define ROM_NAME "rom-real"
%define NTESTS 38
%include "rom.inc"

; ---- this guest's RAM ----
I40_IP          equ 0x600       ; INT 0x40 handler: the IP, CS, FLAGS it was given
I40_CS          equ 0x602
I40_FL          equ 0x604
I40_INFL        equ 0x606       ; FLAGS inside the handler
I40_COUNT       equ 0x608
FAR_RET         equ 0x610       ; far procedures: what they found on the stack
FAR_PARAMS      equ 0x614
FAR_DELTA       equ 0x618
FAR_PTR         equ 0x620       ; m16:16 for CALL FAR [mem]
BOUNDS          equ 0x630       ; BOUND's two words
PM_STACK        equ 0x9000
PAGE_DIR        equ 0x60000
PAGE_TAB0       equ 0x61000
PAGE_TAB1       equ 0x62000

        section .text16
        bits    16

; TRYR / ENDTRYR around a faulting instruction: TRAP_VEC/TRAP_EIP are set to
; -1 first, so "no exception" shows as 0xffff.... in the check.
%macro TRYR 1
        mov     dword [ss:TRAP_VEC], -1
        mov     dword [ss:TRAP_EIP], -1
        TRY16   %1
%endmacro
%macro ENDTRYR 0
        mov     word [ss:CATCH16], 0
%endmacro
; vecip16: EAX = TRAP_VEC << 16 | TRAP_EIP (low 16 bits)
vecip16:
        mov     eax, [ss:TRAP_VEC]
        shl     eax, 16
        mov     ax, [ss:TRAP_EIP]
        ret

rom_start:
        ; The reset state, before anything changes it (MOV does not touch flags).
        mov     esi, cr0
        mov     ax, 0
        mov     ss, ax
        mov     sp, RM_STACK
        pushfd
        pop     ebp
        cli
        cld
        mov     ds, ax
        mov     es, ax
        mov     al, 0xFF                ; mask both 8259s: nothing interrupts STI
        out     0x21, al
        out     0xA1, al
        call    install_ivt16
        mov     word [0x40 * 4], int40_handler
        mov     word [0x40 * 4 + 2], 0xF000
        call    tap_begin16

; ---- reset state: SDM Vol. 3A 9.1.1, Table 9-1 ----
        CHECK16 ebp, 0x00000002, "EFLAGS after reset is 0x00000002 (SDM Vol. 3A 9.1.1 Table 9-1)"
        CHECK16 esi, 0x60000010, "CR0 after reset is 0x60000010: CD, NW, ET (SDM Vol. 3A 9.1.1 Table 9-1)"
        mov     eax, cs
        movzx   eax, ax
        CHECK16 eax, 0xF000, "the reset vector's far JMP loaded CS=F000 (SDM Vol. 3A 9.1.4)"

; ---- operand and address sizes: SDM Vol. 3A 20.1, Vol. 1 3.6 ----
        ; 0x66 selects 32-bit operands in a 16-bit segment.
        mov     eax, 0x12345678
        add     eax, 0x11111111
        CHECK16 eax, 0x23456789, "real mode: 32-bit ADD with an operand-size prefix (SDM Vol. 1 3.6)"
        ; A 16-bit operation leaves bits 31:16 of the register alone.
        mov     ax, 0xAAAA
        inc     ax
        CHECK16 eax, 0x2345AAAB, "real mode: 16-bit MOV/INC keep EAX bits 31:16 (SDM Vol. 1 3.4.1.1)"
        ; 0x67 selects 32-bit addressing (SIB, scaled index) in real mode.
        mov     esi, 0x40
        mov     dword [esi * 4 + 0x700], 0xCAFEBABE
        mov     eax, [0x800]
        CHECK16 eax, 0xCAFEBABE, "real mode: 32-bit addressing [esi*4+0x700] reaches DS:0x800 (SDM Vol. 3A 20.1.1)"

; ---- segment arithmetic: linear = selector * 16 + offset (SDM Vol. 3A 20.1.1) ----
        mov     ax, 0x1234
        mov     es, ax
        mov     word [es:0x0010], 0x7E57        ; linear 0x12350
        mov     ax, 0x1235
        mov     es, ax
        movzx   ebx, word [es:0x0000]
        mov     ax, 0x1000
        mov     fs, ax
        movzx   eax, word [fs:0x2350]
        shl     eax, 16
        or      eax, ebx
        CHECK16 eax, 0x7E577E57, "1234:0010, 1235:0000 and 1000:2350 are one linear address, 0x12350 (SDM Vol. 3A 20.1.1)"

; ---- 16-bit effective addresses wrap at 64 KiB (SDM Vol. 1 3.7.5, Vol. 3A 20.1.1) ----
        mov     ax, 0x4000
        mov     es, ax
        mov     word [es:0x0010], 0
        mov     ax, 0x5000
        mov     fs, ax
        mov     word [fs:0x0010], 0
        mov     bx, 0xFFF0
        mov     si, 0x0020
        mov     word [es:bx + si], 0x5A5A       ; offset (0xFFF0 + 0x20) mod 64 KiB = 0x0010
        movzx   eax, word [es:0x0010]
        shl     eax, 16
        mov     ax, [fs:0x0010]
        CHECK16 eax, 0x5A5A0000, "[bx+si] = 0xFFF0 + 0x20 wraps to offset 0x0010 in 16-bit addressing (SDM Vol. 1 3.7.5)"

; ---- limit checks in real mode: the limit is 0xFFFF (SDM Vol. 3A 20.1.4; Vol. 2 MOV
;      "Real-Address Mode Exceptions"; Vol. 3A ch. 22 "Segment Wraparound": since the
;      286 a word at offset 0xFFFF raises interrupt 13 instead of wrapping) ----
        mov     ax, 0x4000
        mov     ds, ax
        TRYR    .wrap_done
.wrap_fault:
        mov     ax, [0xFFFF]
.wrap_done:
        ENDTRYR
        xor     ax, ax
        mov     ds, ax
        call    vecip16
        CHECK16 eax, (13 << 16) + .wrap_fault, "a word at DS:FFFF (16-bit addressing) raises #GP, vector 13, IP of the MOV (SDM Vol. 3A ch. 22 Segment Wraparound)"

        mov     ebx, 0x10000
        TRYR    .gp_done
.gp_fault:
        mov     eax, [ebx]
.gp_done:
        ENDTRYR
        call    vecip16
        CHECK16 eax, (13 << 16) + .gp_fault, "32-bit address DS:0x10000 is past the 0xFFFF limit: #GP through IVT vector 13, IP of the MOV (SDM Vol. 3A 20.1.4)"

        mov     ebp, 0x10000
        TRYR    .ss_done
.ss_fault:
        mov     ax, [ebp]                       ; SS-relative
.ss_done:
        ENDTRYR
        call    vecip16
        CHECK16 eax, (12 << 16) + .ss_fault, "32-bit address SS:0x10000: #SS through IVT vector 12, IP of the MOV (SDM Vol. 3A 20.1.4)"

        mov     ebx, 0xFFFF
        TRYR    .lim_done
        mov     al, [ebx]                       ; the last byte inside the limit
.lim_done:
        ENDTRYR
        CHECK16 dword [TRAP_VEC], -1, "a byte at DS:0xFFFF through a 32-bit address is inside the limit: no exception"

; ---- INT n and IRET through the IVT (SDM Vol. 3A 20.1.4; Vol. 2 INT n, IRET) ----
        mov     word [I40_COUNT], 0
        sti
        stc
        int     0x40                    ; pushes FLAGS, CS, IP; clears IF, TF
.int_ret:
        pushf
        pop     dx
        cli
        cld
        movzx   eax, word [I40_CS]
        shl     eax, 16
        mov     ax, [I40_IP]
        CHECK16 eax, 0xF0000000 + .int_ret, "INT 0x40 through the IVT pushed CS=F000 and the IP of the next instruction (SDM Vol. 3A 20.1.4)"
        movzx   eax, word [I40_FL]
        and     ax, FL_IF | FL_CF
        shl     eax, 16
        mov     ax, [I40_INFL]
        and     ax, FL_IF | FL_TF
        CHECK16 eax, (FL_IF | FL_CF) << 16, "INT pushed FLAGS with IF and CF set; IF and TF are clear in the handler (SDM Vol. 2 INT n)"
        movzx   eax, dx
        and     ax, FL_IF | FL_CF | FL_DF
        CHECK16 eax, FL_IF | FL_CF | FL_DF, "IRET loads FLAGS from the stack (the handler set DF in the image): IF, CF, DF (SDM Vol. 2 IRET)"

; ---- exceptions through the IVT; faults push the IP of the instruction, traps the
;      IP of the next one (SDM Vol. 3A 6.5, 6.15, 20.1.4) ----
        mov     bl, 0
        TRYR    .de_done
.de_fault:
        div     bl
.de_done:
        ENDTRYR
        call    vecip16
        CHECK16 eax, (0 << 16) + .de_fault, "DIV by 0: #DE, IVT vector 0, pushed IP = the DIV (fault)"
        TRYR    .ud_done
.ud_fault:
        ud2
.ud_done:
        ENDTRYR
        call    vecip16
        CHECK16 eax, (6 << 16) + .ud_fault, "UD2: #UD, IVT vector 6, pushed IP = the UD2 (fault)"
        mov     word [BOUNDS], 0x10
        mov     word [BOUNDS + 2], 0x20
        mov     ax, 0x30
        TRYR    .br_done
.br_fault:
        bound   ax, [BOUNDS]
.br_done:
        ENDTRYR
        call    vecip16
        CHECK16 eax, (5 << 16) + .br_fault, "BOUND 0x30 outside [0x10, 0x20]: #BR, IVT vector 5, pushed IP = the BOUND (fault)"
        TRYR    .bp_done
        int3
.bp_next:
        nop
.bp_done:
        ENDTRYR
        call    vecip16
        CHECK16 eax, (3 << 16) + .bp_next, "INT3: #BP, IVT vector 3, pushed IP = the next instruction (trap)"
        mov     al, 0x7F
        add     al, 1                   ; OF=1
        TRYR    .of_done
        into
.of_next:
        nop
.of_done:
        ENDTRYR
        call    vecip16
        CHECK16 eax, (4 << 16) + .of_next, "INTO with OF=1: #OF, IVT vector 4, pushed IP = the next instruction (trap)"

; ---- the 1 MiB boundary with A20 on: FFFF:0010 is linear 0x100000 (SDM Vol. 3A 20.1.1) ----
        mov     word [0x8000], 0x1234
        mov     ax, 0xFFFF
        mov     es, ax
        mov     word [es:0x8010], 0xBEEF        ; linear 0x108000 (0x8000 if A20 were off)
        movzx   eax, word [0x8000]
        shl     eax, 16
        mov     ax, [es:0x8010]
        CHECK16 eax, 0x1234BEEF, "FFFF:8010 is linear 0x108000, not 0x8000: A20 is on (SDM Vol. 3A 20.1.1)"

; ---- PUSHF/POPF (SDM Vol. 2 POPF: real mode is CPL 0; Vol. 1 3.4.3) ----
        push    word 0xFEFF             ; every bit but TF
        popf
        pushf
        pop     ax
        push    word 0x0002
        popf
        movzx   eax, ax
        CHECK16 eax, 0x7ED7, "POPF 0xFEFF, PUSHF: 0x7ED7 (bits 1, 3, 5, 15 fixed; IOPL and NT writable in real mode)"
        push    dword FL_AC | FL_ID | FL_VM | FL_RF | FL_VIF | FL_VIP | 2
        popfd
        pushfd
        pop     eax
        push    dword 2
        popfd
        CHECK16 eax, FL_AC | FL_ID | 2, "POPFD sets AC and ID; VM, VIF, VIP unaffected and RF cleared (SDM Vol. 2 POPF)"

; ---- far CALL / RET (SDM Vol. 2 CALL, RET: real-address mode far calls) ----
        call    0xF000:far_fn
.far_ret:
        CHECK16 dword [FAR_RET], 0xF0000000 + .far_ret, "direct far CALL F000:far_fn pushed CS=F000 and the return IP; RETF returned"
        mov     word [FAR_PTR], far_fn2
        mov     word [FAR_PTR + 2], 0xF000
        mov     bx, sp
        push    word 0x1111
        push    word 0x2222
        call    far [FAR_PTR]
        CHECK16 dword [FAR_PARAMS], 0x11112222, "CALL FAR [m16:16]: the callee finds its two word parameters above CS:IP"
        sub     bx, sp
        movzx   eax, bx
        CHECK16 eax, 0, "RETF 4 released the parameters: SP as before the pushes"
        mov     bx, sp
        call    dword 0xF000:far_fn32   ; operand-size prefix: 32-bit EIP and CS slots
.far32_ret:
        CHECK16 dword [FAR_RET], .far32_ret, "far CALL with a 32-bit operand size pushed the 32-bit EIP of the next instruction"
        movzx   eax, word [FAR_DELTA]
        CHECK16 eax, 8, "... and took 8 bytes of stack (CS in a dword slot); O32 RETF returned"

; ---- to protected mode (SDM Vol. 3A 9.9.1) ----
        push    ds
        xor     ax, ax
        mov     es, ax
        mov     ax, cs
        mov     ds, ax
        mov     si, gdt_template
        mov     di, GDT_BASE
        mov     cx, gdt_template_end - gdt_template
        rep     movsb
        pop     ds
        lgdt    [cs:gdt_ptr]
        mov     eax, cr0
        or      eax, 1
        mov     cr0, eax
        jmp     dword SEL_CODE32:pm_entry   ; right after MOV CR0 (SDM 9.9.1 step 4)

; ---- back in real mode (SDM Vol. 3A 9.9.2): this runs in the 16-bit code segment
;      with base 0xF0000 and limit 0xFFFF, PE still 1 ----
rm_back:
        mov     eax, cr0
        and     eax, 0x7FFFFFFE
        mov     cr0, eax
        jmp     0xF000:rm_real          ; real-mode CS
rm_real:
        xor     ax, ax                  ; loads only the bases: limits stay
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     fs, ax                  ; FS keeps its 4 GiB limit
        mov     esp, RM_STACK
        lidt    [cs:ivt_ptr]
        mov     eax, cr0
        and     eax, 0x80000001
        xor     ebx, ebx
        mov     bx, cs
        shl     ebx, 16
        or      eax, ebx
        CHECK16 eax, 0xF0000000, "back to real mode: CR0.PE=0, PG=0, CS=F000 after the far JMP (SDM Vol. 3A 9.9.2)"
        mov     cx, [I40_COUNT]
        int     0x40
        cld
        movzx   eax, word [I40_COUNT]
        sub     ax, cx
        CHECK16 eax, 1, "INT 0x40 goes through the IVT at 0 again (LIDT base 0, limit 0x3FF)"

; ---- big real mode: a limit loaded in protected mode stays in real mode, where a
;      segment register load changes only the base (SDM Vol. 3A 9.9.2, 20.1.1) ----
        mov     eax, 0xDEAD
        mov     ebx, 0x108000
        TRYR    .unreal_done
        movzx   eax, word [fs:ebx]
.unreal_done:
        ENDTRYR
        CHECK16 eax, 0xBEEF, "unreal mode: FS (4 GiB limit from protected mode, reloaded with 0) reads 0x108000 above 1 MiB"
        mov     ebx, 0xFFFFFFF0
        mov     eax, [fs:ebx]
        mov     ebx, [cs:reset_vector]
        CHECK16 eax, ebx, "unreal mode: FS:0xFFFFFFF0 is the reset vector of the ROM at the top of 4 GiB, same bytes as F000:FFF0"
        mov     ebx, 0x10000
        TRYR    .ds_done
.ds_fault:
        mov     al, [ebx]
.ds_done:
        ENDTRYR
        call    vecip16
        CHECK16 eax, (13 << 16) + .ds_fault, "DS got the 64 KiB limit back from the 16-bit data segment: DS:0x10000 raises #GP (SDM Vol. 3A 9.9.2)"

        jmp     finish16

; ---- handlers and procedures ----
; INT 0x40: record the frame and the FLAGS inside, set DF in the pushed image.
int40_handler:
        push    bp
        mov     bp, sp
        push    ax
        pushf
        pop     ax
        mov     [ss:I40_INFL], ax
        mov     ax, [bp + 2]
        mov     [ss:I40_IP], ax
        mov     ax, [bp + 4]
        mov     [ss:I40_CS], ax
        mov     ax, [bp + 6]
        mov     [ss:I40_FL], ax
        or      word [bp + 6], FL_DF
        inc     word [ss:I40_COUNT]
        pop     ax
        pop     bp
        iret
far_fn:                                 ; CS:IP return address as a dword
        push    bp
        mov     bp, sp
        push    eax
        mov     eax, [bp + 2]
        mov     [ss:FAR_RET], eax
        pop     eax
        pop     bp
        retf
far_fn2:                                ; two word parameters, RETF 4
        push    bp
        mov     bp, sp
        push    eax
        mov     eax, [bp + 6]
        mov     [ss:FAR_PARAMS], eax
        pop     eax
        pop     bp
        retf    4
far_fn32:                               ; called with a 32-bit operand size
        push    eax
        mov     eax, [esp + 4]          ; the pushed EIP (SS:ESP, 32-bit addressing)
        mov     [ss:FAR_RET], eax
        mov     ax, bx
        sub     ax, sp
        sub     ax, 4                   ; our PUSH EAX
        mov     [ss:FAR_DELTA], ax
        pop     eax
        o32 retf

gdt_template:
        GDT_COMMON
        DESC    0x12340, 0xFFFF, 0x92, 0x0      ; 0x28: data, base 0x12340
gdt_template_end:
gdt_ptr:
        dw      gdt_template_end - gdt_template - 1
        dd      GDT_BASE
ivt_ptr:
        dw      0x3FF
        dd      0

; =====================================================================
; protected mode
; =====================================================================
        section .text32
        bits    32
pm_entry:
        FLAT_SEGMENTS_32 PM_STACK
        mov     eax, cs
        movzx   eax, ax
        mov     ebx, cr0
        and     ebx, 1
        shl     ebx, 16
        or      eax, ebx
        CHECK32 eax, 0x10000 | SEL_CODE32, "protected mode: CR0.PE=1, far JMP loaded the 32-bit CS 0x08 (SDM Vol. 3A 9.9.1)"
        movzx   eax, word [0x108000]
        CHECK32 eax, 0xBEEF, "protected mode, flat DS: linear 0x108000 holds what real mode wrote at FFFF:8010"
        mov     ax, 0x28
        mov     fs, ax
        movzx   eax, word [fs:0x10]
        CHECK32 eax, 0x7E57, "protected mode: a data segment with base 0x12340 reads at 0x12350 what 1234:0010 wrote (SDM Vol. 3A 3.4.5)"

; ---- paging on and off (SDM Vol. 3A 4.1, 4.3, 9.9.1) ----
        mov     edi, PAGE_DIR
        xor     eax, eax
        mov     ecx, 3 * 1024
        rep     stosd
        mov     dword [PAGE_DIR], PAGE_TAB0 | 3
        mov     dword [PAGE_DIR + 4], PAGE_TAB1 | 3
        mov     edi, PAGE_TAB0          ; 0-4 MiB identity
        mov     eax, 3
        mov     ecx, 1024
.fill:  stosd
        add     eax, 0x1000
        loop    .fill
        mov     dword [PAGE_TAB1], 0x200000 | 3 ; linear 0x400000 -> physical 0x200000
        mov     dword [0x400000], 0x0FF0FF0F
        mov     dword [0x200000], 0
        mov     eax, PAGE_DIR
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax
        mov     dword [0x400000], 0x600DF00D
        mov     eax, [0x200000]
        CHECK32 eax, 0x600DF00D, "paging on: a write to linear 0x400000 lands in physical 0x200000 (PDE 1 -> PTE 0) (SDM Vol. 3A 4.3)"
        mov     eax, cr0
        and     eax, 0x7FFFFFFF
        mov     cr0, eax
        mov     eax, [0x400000]
        CHECK32 eax, 0x0FF0FF0F, "paging off again: linear 0x400000 is physical 0x400000 (SDM Vol. 3A 9.9.2)"

; ---- back to real mode (SDM Vol. 3A 9.9.2) ----
        mov     ax, SEL_DATA32
        mov     fs, ax                  ; 4 GiB limit: kept in real mode
        mov     ax, SEL_DATA16          ; 64 KiB, byte granular, writable, expand-up
        mov     ds, ax
        mov     es, ax
        mov     gs, ax
        mov     ss, ax
        jmp     SEL_CODE16:rm_back
