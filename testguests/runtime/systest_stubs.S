/* systest: generic trap stubs for vectors 32-255, st_try/st_try_user and
 * the recovery path used by the st hook (see systest.h). */

    .text
/* 16 bytes per stub: stub for vector v is at st_stubs + (v - 32) * 16. */
    .globl st_stubs
    .balign 16
st_stubs:
    .set vec, 32
    .rept 224
    .balign 16
    pushl $0
    pushl $vec
    jmp st_isr_common
    .set vec, vec + 1
    .endr

/* Same frame as the runtime's isr_common (struct rt_frame). */
st_isr_common:
    pushal
    pushl %ds
    pushl %es
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movl %esp, %eax
    movl %esp, %ebx
    andl $-16, %esp
    subl $12, %esp
    pushl %eax
    call rt_trap
    movl %ebx, %esp
    popl %es
    popl %ds
    popal
    addl $8, %esp
    iret

/* uint32_t st_try(uint32_t (*fn)(uint32_t), uint32_t arg) */
    .globl st_try
    .type st_try, @function
st_try:
    pushl %ebp
    pushl %ebx
    pushl %esi
    pushl %edi
    movl %esp, st_saved_esp
    movl $1, st_trying
    movl 24(%esp), %eax
    pushl %eax
    call *24(%esp)
    addl $4, %esp
    movl $0x10, %ecx       /* fn may have left odd segments behind */
    movw %cx, %ss
    movw %cx, %ds
    movw %cx, %es
    movw %cx, %fs
    movw %cx, %gs
    movl %eax, st_result
    movl $0, st_trying
    movl $0x100, %eax
    jmp st_done

/* Reached by an iret from the st hook at CPL0 after an exception. */
    .globl st_recover
st_recover:
    movl $0x10, %eax
    movw %ax, %ss
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movl st_saved_esp, %esp
    movl st_fault_vector, %eax
st_done:
    cld
    popl %edi
    popl %esi
    popl %ebx
    popl %ebp
    ret

/* uint32_t st_try_user(uint32_t (*fn)(uint32_t), uint32_t arg) */
    .globl st_try_user
    .type st_try_user, @function
st_try_user:
    pushl %ebp
    pushl %ebx
    pushl %esi
    pushl %edi
    movl %esp, st_saved_esp
    movl $1, st_trying
    movl $st_user_stack + 16384 - 16, %ecx
    movl 24(%esp), %eax
    movl %eax, 4(%ecx)          /* fn's argument */
    movl $st_user_exit, (%ecx)  /* fn returns here (ring 3) */
    pushl $0x23                 /* SS */
    pushl %ecx                  /* ESP */
    pushfl
    pushl $0x1B                 /* CS */
    pushl 36(%esp)              /* EIP = fn */
    movl $0x23, %edx
    movw %dx, %ds
    movw %dx, %es
    movw %dx, %fs
    movw %dx, %gs
    iret

/* Ring 3: fn returned; its result is in EAX. */
st_user_exit:
    int $0x4F

/* Vector 0x4F (DPL 3 interrupt gate): the end of an st_try_user. */
    .globl st_user_exit_isr
st_user_exit_isr:
    movl $0x10, %edx
    movw %dx, %ds
    movl %eax, st_result
    movl $0, st_trying
    movl $0x100, st_fault_vector
    jmp st_recover

    .section .bss
    .align 4
st_saved_esp:
    .skip 4

    .section .note.GNU-stack, "", @progbits
