/* fpu-irq13: x87 exceptions in MS-DOS compatibility mode (CR0.NE = 0), the
 * PC's FERR# -> IRQ13 path.
 *
 * SDM Vol. 1 8.7.1 "Native and MS-DOS compatibility modes" and Appendix D
 * "Guidelines for writing x87 FPU exception handlers" (D.1 the PC AT wiring:
 * FERR# to IRQ13 of the slave 8259, the handler's write to port 0F0H that
 * clears the latch and asserts IGNNE#; D.2.1.1/D.2.2 when FERR# is
 * asserted: deferred to the next waiting x87 instruction for the basic
 * arithmetic instructions, with the processor frozen before that
 * instruction until the interrupt comes), Vol. 3A 6.15 "Interrupt 16"
 * (#MF only when CR0.NE = 1), Vol. 3A 2.5 (CR0.NE). The 8259 side is the PC
 * AT's: IRQ13 = slave IR5, cascaded on master IR2, non-specific EOI to both.
 *
 * Each round loads an environment with one exception unmasked (FLDENV),
 * raises it (#Z, then #I from FSQRT of -1, then #P), runs a few integer
 * instructions with IF=1, records the IRQ13 count, then executes a waiting
 * instruction (FWAIT) and waits in sti/hlt until IRQ13 has come. The
 * handler writes 0 to port 0F0H, reads FNSTSW, FNCLEX, EOIs both 8259s.
 * Checked: exactly one IRQ13 per exception and none before the waiting
 * instruction, the FSW the handler saw, that no #MF (vector 16) is ever
 * raised, that the instructions after the waiting one run with the right
 * results, the 8259 ISR/IRR afterwards, and that with IRQ13 masked in the
 * IMR the no-wait instructions (FNSTSW, FNCLEX) run and leave no request.
 *
 * Not tested, because the emulators do not model the freeze and the SDM and
 * the PC AT say something else: the EIP the IRQ13 handler sees (hardware:
 * the waiting instruction, frozen before it; QEMU and Bochs: after it, or
 * later), a waiting instruction with IRQ13 masked (hardware stays frozen
 * until some interrupt comes; QEMU and Bochs run on and leave IRQ13 in the
 * IRR), and a handler that only writes port 0F0H without FNCLEX (IGNNE#:
 * QEMU keeps ignoring errors until the next FLDENV/FRSTOR/FXRSTOR, Bochs
 * does not model IGNNE# and raises IRQ13 again at the next waiting
 * instruction). Every round starts with FLDENV, which is where QEMU drops
 * the IGNNE# that the port 0F0H write latched; on hardware IGNNE# follows
 * FERR#, which the handler's FNCLEX already dropped.
 *
 * Expected output recorded from Bochs 2.7: QEMU 7.2 aborts at the first
 * FERR# (an assertion: it raises IRQ13 without holding its iothread lock). */
#include "irq.h"

#define IRQ13_VEC IRQ_VECTOR(13)

static volatile uint32_t h_fsw[8], h_count, mf_count;
uint32_t before[4];                    /* IRQ13 count just before each waiting instruction */
uint8_t out[48] __attribute__((aligned(16)));

/* 28-byte protected-mode 32-bit environments (FCW, FSW, FTW, then pointers). */
uint32_t env_zm[7] = { 0xFFFF037Bu, 0xFFFF0000u, 0xFFFFFFFFu, 0, 0, 0, 0 };
uint32_t env_im[7] = { 0xFFFF037Eu, 0xFFFF0000u, 0xFFFFFFFFu, 0, 0, 0, 0 };
uint32_t env_pm[7] = { 0xFFFF035Fu, 0xFFFF0000u, 0xFFFFFFFFu, 0, 0, 0, 0 };

uint32_t r_zd(uint32_t), r_sqrt(uint32_t), r_pe(uint32_t), r_masked(uint32_t);
extern char zd_wait[];

__asm__(
    ".macro FDIVP_ST1\n  .byte 0xDE, 0xF9\n.endm\n"     /* Intel FDIVP ST(1),ST(0): st1 = st1/st0, pop */
    ".data\n.align 8\n"
    "minus4: .double -4.0\nthree: .double 3.0\n"
    ".text\n"
    /* 1/0 with #Z unmasked; IRQ13 at the fwait. */
    ".globl r_zd, zd_wait\n"
    "r_zd:\n"
    "  fldenv env_zm\n  fld1\n  fldz\n  FDIVP_ST1\n"
    "  sti\n  movl $3, %eax\n  addl %eax, %eax\n  nop\n"
    "  movl irq_count + 4*0x2D, %ecx\n  movl %ecx, before\n"
    "zd_wait:\n  fwait\n"
    "  fld1\n  fadd %st(0), %st\n  fstpt out\n"              /* 2.0: the FPU works after the handler */
    "  cli\n  ret\n"
    /* sqrt(-4) with #I unmasked. */
    ".globl r_sqrt\n"
    "r_sqrt:\n"
    "  fldenv env_im\n  fldl minus4\n  fsqrt\n"
    "  sti\n  movl $3, %eax\n  addl %eax, %eax\n  nop\n"
    "  movl irq_count + 4*0x2D, %ecx\n  movl %ecx, before+4\n"
    "  fwait\n"
    "  fld1\n  fadd %st(0), %st\n  fadd %st(0), %st\n  fstpt out+16\n"  /* 4.0 */
    "  cli\n  ret\n"
    /* 1/3 with #P unmasked (post-computation: the result is stored). */
    ".globl r_pe\n"
    "r_pe:\n"
    "  fldenv env_pm\n  fld1\n  fdivl three\n"
    "  sti\n  movl $3, %eax\n  addl %eax, %eax\n  nop\n"
    "  movl irq_count + 4*0x2D, %ecx\n  movl %ecx, before+8\n"
    "  fwait\n"
    "  fldz\n  faddp\n  fstpt out+32\n"                    /* 1/3 + 0 */
    "  cli\n  ret\n"
    /* With IRQ13 masked: the exception pending, only no-wait instructions. */
    ".globl r_masked\n"
    "r_masked:\n"
    "  fldenv env_zm\n  fld1\n  fldz\n  FDIVP_ST1\n"
    "  fnstsw %ax\n  movw %ax, %cx\n  fnclex\n  fnstsw %ax\n  shll $16, %eax\n  movw %cx, %ax\n"
    "  fninit\n  ret\n"
);

static void irq13(struct rt_frame *f)
{
    (void)f;
    uint16_t sw;
    outb(0xF0, 0);                              /* clear the FERR# latch (IGNNE#) */
    __asm__ volatile("fnstsw %0\n\tfnclex" : "=m"(sw));
    if (h_count < 8)
        h_fsw[h_count] = sw;
    h_count++;
    pic_eoi(13);                                /* slave, then master */
}

static void mf(struct rt_frame *f)
{
    (void)f;
    mf_count++;
    __asm__ volatile("fnclex");
}

static int is80(const uint8_t *p, uint16_t se, uint32_t mhi, uint32_t mlo)
{
    const uint32_t *w = (const uint32_t *)p;
    return w[0] == mlo && w[1] == mhi && *(const uint16_t *)(p + 8) == se;
}

int guest_main(void)
{
    puts("x86v-guest: fpu-irq13\n");
    irq_init();
    rt_fpu_init();
    write_cr0(read_cr0() & ~(1u << 5));         /* NE=0: MS-DOS compatibility mode */
    irq_set_handler(IRQ13_VEC, irq13);
    irq_set_handler(16, mf);
    pic_unmask(13);
    tap_plan(10);

    tap_ok(!(read_cr0() & 0x20) && (pic_get_imr() & 0x2004) == 0,
           "CR0.NE=0; IRQ13 (slave IR5) and the cascade (master IR2) unmasked");

    r_zd(0);
    irq_wait(&irq_count[IRQ13_VEC], 1);
    tap_ok(before[0] == 0 && h_count == 1 && mf_count == 0,
           "#Z unmasked: no IRQ13 until the waiting fwait, then exactly one IRQ13 (not #MF)");
    tap_ok((h_fsw[0] & 0x80FF) == 0x8084 && is80(out, 0x4000, 0x80000000u, 0),
           "the IRQ13 handler saw ZE, ES and B in the FSW; after FNCLEX in it the x87 instructions after the fwait ran (1+1 = 2)");

    r_sqrt(0);
    irq_wait(&irq_count[IRQ13_VEC], 2);
    tap_ok(before[1] == 1 && h_count == 2 && mf_count == 0 && (h_fsw[1] & 0x80FF) == 0x8081 &&
           is80(out + 16, 0x4001, 0x80000000u, 0),
           "fsqrt(-4) with IM=0: one more IRQ13 at the waiting instruction, the handler saw IE and ES; 4.0 computed after");

    r_pe(0);
    irq_wait(&irq_count[IRQ13_VEC], 3);
    tap_ok(before[2] == 2 && h_count == 3 && mf_count == 0 && (h_fsw[2] & 0x80FF) == 0x80A0 &&
           is80(out + 32, 0x3FFD, 0xAAAAAAAAu, 0xAAAAAAABu),
           "1/3 with PM=0: a third IRQ13, the handler saw PE and ES; the stored quotient survived (1/3 + 0 exact)");

    tap_ok(irq_count[IRQ13_VEC] == 3 && irq_count[16] == 0,
           "three IRQ13s in all (vector 0x2D), no #MF with CR0.NE=0");
    tap_ok(pic_read_isr() == 0 && (pic_read_irr() & 0x2000) == 0,
           "after the handler's port 0F0H write and EOIs: 8259 ISR empty, no IRQ13 request left in the IRR");

    pic_mask(13);
    uint32_t sws = r_masked(0);
    uint16_t irr = pic_read_irr();
    __asm__ volatile("sti\n\tnop\n\tnop\n\tnop\n\tnop\n\tcli");
    tap_ok((sws & 0x80FF) == 0x8084 && ((sws >> 16) & 0x80FF) == 0,
           "IRQ13 masked, #Z pending: FNSTSW shows ES, FNCLEX clears it, neither waits");
    tap_ok((irr & 0x2000) == 0 && irq_count[IRQ13_VEC] == 3 && h_count == 3,
           "no-wait instructions with a pending exception leave no IRQ13 request in the IRR, and none is delivered");
    pic_unmask(13);

    uint16_t sw;
    __asm__ volatile("fninit\n\tfwait\n\tfnstsw %0" : "=m"(sw));
    tap_ok(sw == 0 && irq_count[IRQ13_VEC] == 3 && irq_count[16] == 0, "FNINIT, FWAIT: nothing pending, nothing raised");

    puts("# fpu-irq13 done\n");
    return tap_exit_code();
}
