/* The 32-bit entry of the linuxboot kernel, at code32_start (0x100000, the first byte of the
 * protected-mode image). It records the state the loader handed over before anything changes it,
 * as kernel.c checks it against the 32-bit boot protocol: the general registers, the segment
 * selectors, CR0, GDTR and EFLAGS. Then it zeroes .bss (a loader copies only the file; the
 * kernel clears its own bss) and enters the shared runtime (serial, exit, traps) with no
 * multiboot information. GNU as, AT&T syntax. */

    .section .text.linux_entry, "ax"
    .globl linux_entry
linux_entry:
    /* Only DS is used until the state is saved (the protocol promises a flat __BOOT_DS). */
    movl %eax, lb_entry_regs + 0
    movl %ecx, lb_entry_regs + 4
    movl %edx, lb_entry_regs + 8
    movl %ebx, lb_entry_regs + 12
    movl %esp, lb_entry_regs + 16
    movl %ebp, lb_entry_regs + 20
    movl %esi, lb_entry_regs + 24
    movl %edi, lb_entry_regs + 28
    movw %cs, lb_entry_sregs + 0
    movw %ds, lb_entry_sregs + 2
    movw %es, lb_entry_sregs + 4
    movw %ss, lb_entry_sregs + 6
    movw %fs, lb_entry_sregs + 8
    movw %gs, lb_entry_sregs + 10
    movl %cr0, %eax
    movl %eax, lb_entry_cr0
    sgdt lb_entry_gdtr
    /* The protocol gives no stack: ours, in .bss (zeroed below; nothing lives on it yet). */
    movl $lb_stack_top, %esp
    pushfl
    popl lb_entry_eflags
    cld
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb
    xorl %ebp, %ebp
    subl $8, %esp
    pushl $0                /* no multiboot information */
    pushl $0
    call rt_start           /* serial, then exit(guest_main()); never returns */
1:  cli
    hlt
    jmp 1b

/* The protocol-2.15 kernel_info (Linux's arch/x86/boot/compressed/kernel_info.S): the header's
 * kernel_info_offset points here, relative to the start of this image. */
    .section .rodata
    .balign 4
    .globl kernel_info
kernel_info:
    .ascii "LToP"
    .long kernel_info_var_len_data - kernel_info     /* size */
    .long kernel_info_end - kernel_info              /* size_total */
    .long 0                                          /* setup_type_max */
kernel_info_var_len_data:
kernel_info_end:

/* Written before .bss is cleared, so in .data. */
    .data
    .balign 4
    .globl lb_entry_regs, lb_entry_sregs, lb_entry_cr0, lb_entry_gdtr, lb_entry_eflags
lb_entry_regs:   .skip 32    /* eax ecx edx ebx esp ebp esi edi */
lb_entry_sregs:  .skip 12    /* cs ds es ss fs gs */
lb_entry_cr0:    .long 0
lb_entry_eflags: .long 0
    .balign 4
    .skip 2
lb_entry_gdtr:   .skip 6     /* limit, base (base 4-byte aligned) */

    .section .bss
    .balign 16
lb_stack:
    .skip 16384
lb_stack_top:

    .section .note.GNU-stack, "", @progbits
