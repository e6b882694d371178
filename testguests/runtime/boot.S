/* Multiboot v1 entry, trap stubs and the ring-3 entry/return helpers.
 * GNU as, AT&T syntax, 32-bit protected mode. */

/* Multiboot v1 header. flags = bit0 (align modules) | bit1 (want memory info).
 * No a.out kludge (bit 16): loaders use the ELF program headers. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .align 16
boot_stack:
    .skip 32768
boot_stack_top:

    .section .text.entry, "ax"
    .globl _start
    .type _start, @function
/* Entered with EAX = 0x2BADB002, EBX = multiboot info, flat segments from
 * the loader, paging off, interrupts off (the spec allows IF either way, so
 * clear it). */
_start:
    cli
    cld
    movl $boot_stack_top, %esp
    xorl %ebp, %ebp
    /* gcc assumes a 16-byte aligned stack at every call site. */
    subl $8, %esp
    pushl %ebx
    pushl %eax
    call rt_start          /* rt_start(magic, info) never returns */
1:  cli
    hlt
    jmp 1b

    .text
/* ---- Exception stubs for vectors 0-31 ----
 * Vectors where the CPU pushes an error code just push the vector number;
 * the others push a dummy 0 first so every frame has the same layout
 * (struct rt_frame in runtime.h). */
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .align 8
isr\n:
    .if (\n == 8) || ((\n >= 10) && (\n <= 14)) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
    pushl $\n
    .else
    pushl $0
    pushl $\n
    .endif
    jmp isr_common
    .endr

isr_common:
    pushal
    pushl %ds
    pushl %es
    movl $0x10, %eax       /* kernel data selector (GDT slot 2) */
    movw %ax, %ds
    movw %ax, %es
    movl %esp, %eax        /* eax = struct rt_frame * */
    movl %esp, %ebx        /* ebx is callee-saved: remember the frame */
    andl $-16, %esp        /* re-align for C */
    subl $12, %esp
    pushl %eax
    call rt_trap
    movl %ebx, %esp
    popl %es
    popl %ds
    popal
    addl $8, %esp          /* drop vector + error code */
    iret

/* Table of stub addresses for rt_idt_init(). */
    .section .rodata
    .align 4
    .globl rt_isr_table
rt_isr_table:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .long isr\n
    .endr

/* ---- Ring 3 round trip ----
 * int rt_enter_user(void (*fn)(void), void *user_stack_top)
 * irets to fn at CPL3 (selectors 0x1B/0x23, current EFLAGS so IF stays 0).
 * Control comes back only when a trap from ring 3 is redirected to
 * rt_user_return (see rt_trap). Returns the vector that ended the trip. */
    .text
    .globl rt_enter_user
    .type rt_enter_user, @function
rt_enter_user:
    pushl %ebp
    pushl %ebx
    pushl %esi
    pushl %edi
    movl %esp, rt_saved_kernel_esp
    movl 20(%esp), %eax    /* fn */
    movl 24(%esp), %ecx    /* user stack top */
    pushl $0x23            /* SS  = user data, RPL 3 */
    pushl %ecx             /* ESP */
    pushfl                 /* EFLAGS */
    pushl $0x1B            /* CS  = user code, RPL 3 */
    pushl %eax             /* EIP */
    movl $0x23, %edx
    movw %dx, %ds
    movw %dx, %es
    movw %dx, %fs
    movw %dx, %gs
    iret

/* Reached at CPL0 by an iret from rt_trap, still on the TSS ring-0 stack. */
    .globl rt_user_return
rt_user_return:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl rt_saved_kernel_esp, %esp
    movl rt_user_vector, %eax
    popl %edi
    popl %esi
    popl %ebx
    popl %ebp
    ret

    .section .bss
    .align 4
    .globl rt_saved_kernel_esp
rt_saved_kernel_esp:
    .skip 4

    .section .note.GNU-stack, "", @progbits
