; rom-vme - virtual-8086 mode extensions (CR4.VME), from the reset vector.
; Issue 17: a separate group, since x86v supports VME only later.
;
; A 64 KiB system ROM (see rom.inc for the layout and output conventions),
; built like rom-v86 (same monitor entry, v86.inc), with CR4.VME=1 and a
; TSS that has an interrupt redirection bitmap (the 32 bytes below the I/O
; bitmap). Covered (SDM Vol. 3A 20.4 and 20.3.3, Table 20-2): CLI/STI/POPF/
; PUSHF with IOPL<3 working on VIF instead of faulting, PUSHF showing IF=VIF
; and IOPL=3, STI with VIP=1, POPF with TF=1 and POPFD raising #GP(0), and
; INT n by the four VME methods: bit clear -> the V86 IVT (IOPL<3: FLAGS image
; with IF=VIF and IOPL=3, VIF cleared; IOPL=3), bit set -> #GP(0) (IOPL<3) or
; the IDT (IOPL=3).
;
; Expected output (expected/rom-vme.out) recorded from Bochs 2.7 with
; bochs/run-bochs-rom.sh (Bochs's CPUID.01H:EDX.VME is 1). Not run under QEMU:
; QEMU 7.2 TCG has no VME ("TCG doesn't support requested feature:
; CPUID.01H:EDX.vme"), its CPUID.01H:EDX.VME is 0, and this guest then fails
; test 1 and stops there (exit code 1).
;
; Build (in testguests/, or `make -C testguests`): nasm -f bin -I rom/ -o build/rom-vme.bin rom/rom-vme.asm

%define ROM_NAME "rom-vme"
%define NTESTS 15
%include "rom.inc"

TSS             equ 0x2000      ; +0x68: redirection bitmap (vectors 0..255)
TSS_REDIR       equ TSS + 0x68
TSS_IOMAP       equ 0x88        ; I/O bitmap for ports 0..0x3FF, all allowed
TSS_LIMIT       equ TSS_IOMAP + 0x80
SEL_TSS         equ 0x28
RING0_STACK     equ 0x8000
MON_STACK       equ 0x9000
V86_SS          equ 0x0500
V86_SP          equ 0x1000
V86_DS          equ 0x0300
V86_ES          equ 0x1234
V86_FS          equ 0x0400
V86_GS          equ 0x0480
V86_DATA        equ V86_DS * 16
VEC_REDIR       equ 0x41        ; redirection bit clear: the V86 IVT
VEC_NOREDIR     equ 0x42        ; bit set: #GP (IOPL<3) or the IDT (IOPL=3)

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
        DESC    TSS, TSS_LIMIT, 0x89, 0x0       ; 0x28
gdt_template_end:
gdt_ptr:
        dw      gdt_template_end - gdt_template - 1
        dd      GDT_BASE

; ---- V86 snippets (CS=F000), each ending in HLT -> #GP(0) ----
v86_cli:
        cli
        pushf
        pop     ax
        mov     [0], ax
        hlt
v86_sti:
.insn:  sti
        pushf
        pop     ax
        mov     [0], ax
        hlt
v86_popf:
        push    word 0x0002             ; IF=0
        popf
        hlt
v86_popf_tf:
        push    word FL_TF | 2
.insn:  popf
        hlt
v86_popfd:
        push    dword 0x0002
.insn:  popfd
        hlt
v86_int_redir:
        mov     ax, 0x1111
        int     VEC_REDIR
        mov     [6], ax
.hlt:   hlt
v86_int_noredir:
.insn:  int     VEC_NOREDIR
.next:  hlt
v86_handler:                            ; V86 IVT entry 0x41
        pushf                           ; FLAGS as the handler sees them
        pop     cx
        mov     [12], cx
        mov     bp, sp
        mov     bx, [bp + 4]            ; the FLAGS image the INT pushed
        mov     [14], bx
        mov     ax, 0xBEEF
        iret

        section .text32
        bits    32
pm_entry:
        FLAT_SEGMENTS_32 MON_STACK
        mov     eax, VEC_NOREDIR        ; reachable from V86 with IOPL=3
        mov     ebx, [pm_stub_table + VEC_NOREDIR * 4]
        mov     cl, 0xEE
        call    set_gate32
        mov     edi, TSS
        xor     eax, eax
        mov     ecx, 0x110 / 4
        rep     stosd
        mov     dword [TSS + 4], RING0_STACK
        mov     dword [TSS + 8], SEL_DATA32
        mov     word [TSS + 0x66], TSS_IOMAP
        mov     edi, TSS_REDIR          ; redirection bitmap: all set but 0x41
        mov     al, 0xFF
        mov     ecx, 32
        rep     stosb
        and     byte [TSS_REDIR + VEC_REDIR / 8], ~(1 << (VEC_REDIR % 8)) & 0xFF
        mov     byte [TSS + TSS_LIMIT], 0xFF
        mov     ax, SEL_TSS
        ltr     ax
        mov     word [VEC_REDIR * 4], v86_handler
        mov     word [VEC_REDIR * 4 + 2], 0xF000

; ---- VME is there (SDM Vol. 3A 2.5 CR4.VME; CPUID.01H:EDX bit 1) ----
        mov     eax, 1
        cpuid
        and     edx, 2
        CHECK32 edx, 2, "CPUID.01H:EDX.VME (bit 1) = 1; CR4.VME set"
        test    edx, edx
        jnz     .have_vme
        NOTE32  "no VME: stopping"
        jmp     finish32
.have_vme:
        mov     eax, cr4
        or      eax, 1
        mov     cr4, eax

; ---- CLI/STI/PUSHF/POPF with IOPL<3 and VME work on VIF (SDM Vol. 3A 20.4.1, Table 20-2 note; Vol. 2 CLI, STI, PUSHF, POPF) ----
        mov     ebx, v86_cli
        mov     ecx, 0xF000
        mov     edx, FL_IF | FL_VIF
        call    v86_enter
        mov     eax, [TRAP_EFL]
        and     eax, FL_IF | FL_VIF
        CHECK32 eax, FL_IF, "VME, IOPL=0: CLI does not fault; it clears VIF and leaves IF=1 (SDM Vol. 2 CLI)"
        movzx   eax, word [V86_DATA]
        and     eax, FL_IF | FL_IOPL
        CHECK32 eax, FL_IOPL, "VME: PUSHF pushes IF=VIF (0) and IOPL=3 (SDM Vol. 2 PUSHF)"
        mov     ebx, v86_sti
        mov     ecx, 0xF000
        mov     edx, FL_IF
        call    v86_enter
        mov     eax, [TRAP_EFL]
        and     eax, FL_VIF
        movzx   ebx, word [V86_DATA]
        and     ebx, FL_IF | FL_IOPL
        or      eax, ebx
        CHECK32 eax, FL_VIF | FL_IF | FL_IOPL, "VME, IOPL=0: STI sets VIF; PUSHF then shows IF=1, IOPL=3 (SDM Vol. 2 STI)"
        mov     ebx, v86_sti
        mov     ecx, 0xF000
        mov     edx, FL_IF | FL_VIP
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_sti.insn, "VME: STI with VIP=1 raises #GP(0) at the STI (SDM Vol. 2 STI)"
        mov     ebx, v86_popf
        mov     ecx, 0xF000
        mov     edx, FL_IF | FL_VIF
        call    v86_enter
        mov     eax, [TRAP_EFL]
        and     eax, FL_IF | FL_VIF
        CHECK32 eax, FL_IF, "VME, IOPL=0: POPF with IF=0 in the image clears VIF, not IF (SDM Vol. 2 POPF)"
        mov     ebx, v86_popf_tf
        mov     ecx, 0xF000
        mov     edx, FL_IF | FL_VIF
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_popf_tf.insn, "VME: POPF with TF=1 in the image raises #GP(0)"
        mov     ebx, v86_popfd
        mov     ecx, 0xF000
        mov     edx, FL_IF | FL_VIF
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_popfd.insn, "VME: POPFD (32-bit operand) still raises #GP(0) with IOPL<3"

; ---- INT n with VME: the redirection bitmap (SDM Vol. 3A 20.3.3, Table 20-2) ----
        mov     dword [V86_DATA + 6], 0
        mov     dword [V86_DATA + 12], 0
        mov     ebx, v86_int_redir
        mov     ecx, 0xF000
        mov     edx, FL_IF | FL_VIF
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_int_redir.hlt, "method 6 (VME, IOPL=0, bit clear): INT 0x41 went to the V86 IVT without a fault; next trap is the HLT"
        movzx   eax, word [V86_DATA + 6]
        CHECK32 eax, 0xBEEF, "... the V86 handler ran and its IRET came back (AX=0xBEEF)"
        movzx   eax, word [V86_DATA + 14]
        and     eax, FL_IF | FL_IOPL
        shl     eax, 16
        mov     ax, [V86_DATA + 12]
        and     eax, 0xFFFF0000 | FL_IF
        CHECK32 eax, (FL_IF | FL_IOPL) << 16, "... the FLAGS image it pushed has IF=VIF (1) and IOPL=3; VIF clear in the handler (SDM Vol. 3A 20.3.3, Table 20-2)"
        mov     ebx, v86_int_noredir
        mov     ecx, 0xF000
        mov     edx, FL_IF | FL_VIF
        call    v86_enter
        call    vei
        CHECK32 eax, (13 << 24) + v86_int_noredir.insn, "method 3 (VME, IOPL=0, bit set): INT 0x42 raises #GP(0) at the INT"
        mov     dword [V86_DATA + 6], 0
        mov     ebx, v86_int_redir
        mov     ecx, 0xF000
        mov     edx, FL_IF | FL_IOPL
        call    v86_enter
        movzx   eax, word [V86_DATA + 6]
        shl     eax, 16
        mov     ax, [TRAP_EIP]
        CHECK32 eax, (0xBEEF << 16) + v86_int_redir.hlt, "method 5 (VME, IOPL=3, bit clear): INT 0x41 through the V86 IVT (AX=0xBEEF), next trap at the HLT"
        mov     ebx, v86_int_noredir
        mov     ecx, 0xF000
        mov     edx, FL_IF | FL_IOPL
        call    v86_enter
        call    vei
        CHECK32 eax, (VEC_NOREDIR << 24) + v86_int_noredir.next, "method 4 (VME, IOPL=3, bit set): INT 0x42 through the IDT (DPL 3 gate), EIP after the INT"
        mov     eax, [TRAP_EFL]
        and     eax, FL_VM
        CHECK32 eax, FL_VM, "... with EFLAGS.VM=1 pushed"

        jmp     finish32

%include "v86.inc"
