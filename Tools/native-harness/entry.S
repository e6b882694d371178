/* native-harness: process entry, the case trampoline and raw Linux i386 syscalls.
 * See harness.c for the batch format and the memory map.
 *
 * run_case enters a case with every GPR and the arithmetic flags + DF taken from in_regs /
 * in_eflags, ES from in_es, and ESP in the sandbox. The case code ends with `jmp *epilogue_ptr` (FF 25 abs32),
 * which lands in case_epilogue: GPRs are stored with absolute addressing (no stack use, no flag
 * change), then ESP goes back to the harness stack before PUSHFD reads EFLAGS. A fault inside
 * the case is caught by on_signal (harness.c), which records the faulting state and resumes the
 * harness at case_fault_resume.
 *
 * FPU: run_case starts the case with FXRSTOR fpu_in when fpu_load is set, else after FNINIT
 * and LDMXCSR 0x1F80. case_epilogue does FXSAVE into fpu_out (on_signal copies the image from
 * the signal frame instead), then both exits do FNINIT and LDMXCSR 0x1F80: FXSAVE, FNINIT and
 * LDMXCSR never wait for a pending x87 exception, so a case that leaves one unmasked and
 * pending cannot trap the harness.
 */
	.text
	.globl _start
_start:
	xor %ebp, %ebp
	mov %esp, %eax
	lea 4(%eax), %edx		/* argv */
	and $-16, %esp
	sub $8, %esp
	push %edx
	push (%eax)			/* argc */
	call harness_main
	mov %eax, %ebx
	mov $1, %eax			/* exit */
	int $0x80

/* int run_case(void): 0 when the case ran to its end, 1 when it faulted. */
	.globl run_case
run_case:
	push %ebp
	push %ebx
	push %esi
	push %edi
	mov %esp, harness_esp
	cmpl $0, fpu_load
	je 1f
	fxrstor fpu_in
	jmp 2f
1:	fninit
	ldmxcsr mxcsr_default
2:	mov in_es, %eax
	mov %eax, %es
	pushl in_eflags
	popfl
	mov in_regs+0, %eax
	mov in_regs+4, %ecx
	mov in_regs+8, %edx
	mov in_regs+12, %ebx
	mov in_regs+20, %ebp
	mov in_regs+24, %esi
	mov in_regs+28, %edi
	mov in_regs+16, %esp
	jmp *code_entry

	.globl case_epilogue
case_epilogue:
	mov %eax, out_regs+0
	mov %ecx, out_regs+4
	mov %edx, out_regs+8
	mov %ebx, out_regs+12
	mov %esp, out_regs+16
	mov %ebp, out_regs+20
	mov %esi, out_regs+24
	mov %edi, out_regs+28
	fxsave fpu_out
	fninit
	ldmxcsr mxcsr_default
	mov harness_esp, %esp
	pushfl
	popl out_eflags
	push %ds
	pop %es
	cld
	pop %edi
	pop %esi
	pop %ebx
	pop %ebp
	xor %eax, %eax
	ret

	.globl case_fault_resume
case_fault_resume:
	fninit
	ldmxcsr mxcsr_default
	mov harness_esp, %esp
	push %ds
	pop %es
	cld
	pop %edi
	pop %esi
	pop %ebx
	pop %ebp
	mov $1, %eax
	ret

/* rt_sigreturn trampoline (SA_RESTORER). */
	.globl sig_restorer
sig_restorer:
	mov $173, %eax
	int $0x80
	hlt

/* long sys6(long nr, long a, long b, long c, long d, long e, long f) */
	.globl sys6
sys6:
	push %ebp
	push %ebx
	push %esi
	push %edi
	mov 20(%esp), %eax
	mov 24(%esp), %ebx
	mov 28(%esp), %ecx
	mov 32(%esp), %edx
	mov 36(%esp), %esi
	mov 40(%esp), %edi
	mov 44(%esp), %ebp
	int $0x80
	pop %edi
	pop %esi
	pop %ebx
	pop %ebp
	ret

	.section .note.GNU-stack,"",@progbits
