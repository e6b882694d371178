/* fpu-mf: x87 floating-point exceptions in native mode (CR0.NE = 1), #MF.
 *
 * SDM Vol. 1 8.4 (x87 exception flags, ES/B), 8.5 (the exception conditions
 * and their masked and unmasked responses: 8.5.1.1 stack overflow/underflow
 * with SF and C1, 8.5.2 #D, 8.5.3 #Z "operands remain unaltered", 8.5.4 #O
 * "destination in memory: TOP and source unchanged", 8.5.6 #P "result
 * stored, C1 = rounded up"), 8.6 "x87 FPU exception synchronization" (an
 * unmasked exception is not signalled by the instruction that raises it
 * but at the next waiting x87 instruction or WAIT/FWAIT), 8.7 (native
 * mode), 8.1.8/8.1.9 (FIP/FCS, FDP/FDS, FOP), 8.3.11 and the FSTSW/FSTCW/
 * FCLEX/FINIT/FSTENV/FSAVE pages of Vol. 2 (the no-wait forms never check
 * for a pending exception), FLDCW in Vol. 2 (unmasking a flag that is
 * already set makes the next waiting instruction fault), Vol. 3A 6.15
 * "Interrupt 16 - x87 FPU Floating-Point Error (#MF)" (fault, no error
 * code, saved EIP = the waiting instruction, FIP = the one that raised
 * it), 6.9 "Priority among simultaneous exceptions" (#NM, class 9, before
 * #MF, class 10), the Vol. 2 pages of the MMX instructions ("#MF if there
 * is a pending x87 FPU exception") and Vol. 1 11.5 (SSE/SSE2 instructions
 * do not check for pending x87 exceptions).
 *
 * The #MF handler records EIP, EAX, FNSTSW and FNSTENV, then FNCLEX and
 * reloads the control word (FNSTENV masked every exception) and returns to
 * the waiting instruction, which then runs. Every other x87 detail is from
 * Intel's definition: FOP/FIP/FDP are read only in handlers, where an
 * unmasked exception is pending (AMD stores them only then too).
 *
 * Expected output recorded from Bochs 2.7, not QEMU: QEMU 7.2's x87 checks
 * for a pending exception only at FWAIT (not at the other waiting x87
 * instructions, nor MMX), stores the result of an unmasked pre-computation
 * exception (#Z, stack fault) and of an unmasked overflow to memory, never
 * detects stack overflow/underflow (no SF), does not set C1 on a rounded-up
 * result, and FLDCW does not recompute ES; the header line of
 * expected/fpu-mf.out lists the tests QEMU fails. */
#include "systest.h"

#define CW_ALL  0x037F    /* FNINIT: every exception masked, PC 64, RN */
#define CW_ZM   0x037B    /* #Z unmasked */
#define CW_IM   0x037E    /* #I unmasked */
#define CW_OM   0x0377    /* #O unmasked */
#define CW_PM   0x035F    /* #P unmasked */

static volatile uint32_t mf_count, mf_eip, mf_eax, mf_fsw;
static uint32_t mf_env[7];
static volatile uint32_t nm_count, nm_eip;

uint8_t out[80] __attribute__((aligned(16)));
uint32_t aux[8];

/* One asm function per scenario. Each starts with fninit and its own
 * control word, so a failed earlier test cannot leak into it. */
uint32_t t_zd(uint32_t), t_zd_mem(uint32_t), t_fstsw(uint32_t), t_nowait(uint32_t), t_clexinit(uint32_t);
uint32_t t_under(uint32_t), t_over(uint32_t), t_pe(uint32_t), t_masked(uint32_t), t_masked2(uint32_t);
uint32_t t_fldcw(uint32_t), t_ovst(uint32_t), t_mmx(uint32_t), t_sse(uint32_t), t_nm_first(uint32_t);
extern char zd_fault[], zd_wait[], zdm_fault[], zdm_wait[], fstsw_at[], under_wait[], over_wait[];
extern char pe_wait[], fldcw_at[], fldcw_wait[], ovst_wait[], mmx_at[], sse_wait[], nmf_at[];
extern uint8_t zero64[];

__asm__(
    ".macro FDIVP_ST1\n  .byte 0xDE, 0xF9\n.endm\n"     /* Intel FDIVP ST(1),ST(0): st1 = st1/st0, pop */
    ".data\n.align 8\n"
    "cw_all: .word 0x037F\ncw_zm: .word 0x037B\ncw_im: .word 0x037E\ncw_om: .word 0x0377\ncw_pm: .word 0x035F\n"
    ".align 8\n.globl zero64\nzero64: .quad 0\n"
    "three64: .double 3.0\nbig64: .double 1.0e300\nminus1_64: .double -1.0\nbig_int: .double 1.0e10\n"
    ".text\n"
    ".globl t_zd, zd_fault, zd_wait\n"
    /* 1/0 with #Z unmasked: nothing at the fdiv, #MF at the fld1. */
    "t_zd:\n"
    "  fninit\n  fldcw cw_zm\n  fldz\n  fld1\n"
    "zd_fault:\n  fdiv %st(1), %st\n"                   /* st0 = st0 / st1 = 1/0: D8 F1 */
    "  movl $0x1234, %eax\n  nop\n"
    "zd_wait:\n  fld1\n"
    "  fstpt out\n  fstpt out+10\n  fstpt out+20\n  fninit\n  ret\n"
    /* Memory operand: FDP/FDS in the handler. */
    ".globl t_zd_mem, zdm_fault, zdm_wait\n"
    "t_zd_mem:\n"
    "  fninit\n  fldcw cw_zm\n  fld1\n"
    "zdm_fault:\n  fdivl zero64\n"                       /* DC 35 disp32: FOP 0x435 */
    "  movl $0x5678, %eax\n"
    "zdm_wait:\n  fwait\n"
    "  fstpt out\n  fninit\n  ret\n"
    /* FSTSW AX = FWAIT + FNSTSW AX: the fault is at the FWAIT byte. */
    ".globl t_fstsw, fstsw_at\n"
    "t_fstsw:\n"
    "  fninit\n  fldcw cw_zm\n  fld1\n  fldz\n  FDIVP_ST1\n"
    "fstsw_at:\n  fstsw %ax\n"
    "  movzwl %ax, %eax\n  fninit\n  ret\n"
    /* The no-wait forms with #Z pending: none faults. FNSAVE reinitializes.
     * (What FNSTENV leaves in ES after masking everything is not looked at.) */
    ".globl t_nowait\n"
    "t_nowait:\n"
    "  fninit\n  fldcw cw_zm\n  fld1\n  fldz\n  FDIVP_ST1\n"
    "  fnstsw %ax\n  movw %ax, aux\n"
    "  fnstcw aux+4\n"
    "  fnsave out+28\n"
    "  fwait\n"
    "  fnstsw %ax\n  movw %ax, aux+8\n  fnstcw aux+12\n"
    "  fldcw cw_zm\n  fld1\n  fldz\n  FDIVP_ST1\n"
    "  fnstenv out\n"                                   /* it masks every exception afterwards */
    "  fninit\n  fwait\n  ret\n"
    /* FNCLEX and FNINIT with #Z pending: no fault, the fwait after runs. */
    ".globl t_clexinit\n"
    "t_clexinit:\n"
    "  fninit\n  fldcw cw_zm\n  fld1\n  fldz\n  FDIVP_ST1\n"
    "  fnclex\n  fwait\n  fnstsw %ax\n  movw %ax, aux\n"
    "  fld1\n  fldz\n  FDIVP_ST1\n"
    "  fninit\n  fwait\n  fnstsw %ax\n  movw %ax, aux+4\n  fnstcw aux+8\n"
    "  ret\n"
    /* Stack underflow with #I unmasked: IE+SF, C1=0, ST0 unaltered. */
    ".globl t_under, under_wait\n"
    "t_under:\n"
    "  fninit\n  fldcw cw_im\n  fld1\n  fadd %st(1), %st\n"
    "under_wait:\n  fwait\n"
    "  fstpt out\n  fninit\n  ret\n"
    /* Stack overflow (9th push) with #I unmasked: IE+SF, C1=1, no push. */
    ".globl t_over, over_wait\n"
    "t_over:\n"
    "  fninit\n  fldcw cw_im\n  fld1\n  fld1\n  fld1\n  fld1\n  fld1\n  fld1\n  fld1\n  fld1\n  fldz\n"
    "over_wait:\n  fwait\n"
    "  fstpt out\n  fninit\n  ret\n"
    /* #P unmasked: a post-computation exception, the rounded result is stored. */
    ".globl t_pe, pe_wait\n"
    "t_pe:\n"
    "  fninit\n  fldcw cw_pm\n  fld1\n  fdivl three64\n"
    "pe_wait:\n  fstpt out\n"
    "  fninit\n  ret\n"
    /* Masked responses: each result stored, FSW after each. */
    ".globl t_masked\n"
    "t_masked:\n"
    "  fninit\n  fld1\n  fldz\n  FDIVP_ST1\n  fstpt out\n  fnstsw %ax\n  movw %ax, aux\n"          /* +inf, ZE */
    "  fninit\n  fld1\n  fchs\n  fldz\n  FDIVP_ST1\n  fstpt out+10\n"                          /* -inf */
    "  fninit\n  fldz\n  fldz\n  FDIVP_ST1\n  fstpt out+20\n  fnstsw %ax\n  movw %ax, aux+4\n"    /* 0/0: indefinite, IE */
    "  fninit\n  fld1\n  fadd %st(1), %st\n  fnstsw %ax\n  movw %ax, aux+8\n  fstpt out+30\n" /* underflow: indefinite, IE|SF */
    "  fninit\n  fldl minus1_64\n  fsqrt\n  fstpt out+40\n  fnstsw %ax\n  movw %ax, aux+12\n" /* sqrt(-1): indefinite, IE */
    "  fwait\n  ret\n"
    ".globl t_masked2\n"
    "t_masked2:\n"
    "  fninit\n  fldl big64\n  fstps out\n  fnstsw %ax\n  movw %ax, aux\n"                  /* 1e300 -> m32: +inf, OE|PE */
    "  fninit\n  fldl big_int\n  fists out+4\n  fnstsw %ax\n  movw %ax, aux+4\n"            /* 1e10 -> m16: 0x8000, IE */
    "  fninit\n  fld1\n  fld1\n  fld1\n  fld1\n  fld1\n  fld1\n  fld1\n  fld1\n  fldz\n"     /* overflow: indefinite in ST0, IE|SF|C1 */
    "  fnstsw %ax\n  movw %ax, aux+8\n  fstpt out+10\n"
    "  fwait\n  fninit\n  ret\n"
    /* FLDCW unmasking a flag that is already set. */
    ".globl t_fldcw, fldcw_at, fldcw_wait\n"
    "t_fldcw:\n"
    "  fninit\n  fld1\n  fldz\n  FDIVP_ST1\n"                 /* masked: ZE set, ES clear */
    "  fwait\n"
    "fldcw_at:\n  fldcw cw_zm\n"
    "  movl $0x9abc, %eax\n"
    "fldcw_wait:\n  fld1\n"
    "  fninit\n  ret\n"
    /* Unmasked overflow storing to m32: memory and the stack unchanged. */
    ".globl t_ovst, ovst_wait\n"
    "t_ovst:\n"
    "  fninit\n  fldcw cw_om\n  fldl big64\n  fstps out\n"
    "ovst_wait:\n  fwait\n"
    "  fnstsw %ax\n  movw %ax, aux\n  fstpl out+8\n  fninit\n  ret\n"
    /* An MMX instruction with an x87 exception pending: #MF at it. */
    ".globl t_mmx, mmx_at\n"
    "t_mmx:\n"
    "  fninit\n  fldcw cw_zm\n  fld1\n  fldz\n  FDIVP_ST1\n"
    "mmx_at:\n  movq %mm0, %mm1\n"
    "  emms\n  fninit\n  ret\n"
    /* SSE instructions do not look at x87 exceptions: the fwait after does. */
    ".globl t_sse, sse_wait\n"
    "t_sse:\n"
    "  fninit\n  fldcw cw_zm\n  fld1\n  fldz\n  FDIVP_ST1\n"
    "  movaps %xmm0, %xmm1\n  addps %xmm1, %xmm1\n  cvtsi2sd %eax, %xmm2\n"
    "sse_wait:\n  fwait\n"
    "  fninit\n  ret\n"
    /* #Z pending and CR0.TS=1 (MP=1): fwait raises #NM, not #MF. */
    ".globl t_nm_first, nmf_at\n"
    "t_nm_first:\n"
    "  fninit\n  fldcw cw_zm\n  fld1\n  fldz\n  FDIVP_ST1\n"
    "  movl %cr0, %eax\n  orl $8, %eax\n  movl %eax, %cr0\n"
    "nmf_at:\n  fwait\n"
    "  fninit\n  ret\n"
);

static int hook(struct rt_frame *f)
{
    if (f->vector == 16) {
        uint16_t sw;
        mf_count++;
        mf_eip = f->eip;
        mf_eax = f->eax;
        __asm__ volatile("fnstsw %0" : "=m"(sw));
        mf_fsw = sw;
        __asm__ volatile("fnstenv %0" : "=m"(mf_env));
        __asm__ volatile("fnclex\n\tfldcw %0" :: "m"(mf_env[0]));
        return mf_count < 100;       /* a #MF that will not go away: st_try recovers */
    }
    if (f->vector == 7) {
        nm_count++;
        nm_eip = f->eip;
        __asm__ volatile("clts");
        return 1;
    }
    return 0;
}

static void reset(void)
{
    mf_count = 0;
    mf_eip = 0;
    mf_eax = 0;
    mf_fsw = 0;
    for (int i = 0; i < 7; i++)
        mf_env[i] = 0;
    for (int i = 0; i < 80; i++)
        out[i] = 0;
    for (int i = 0; i < 8; i++)
        aux[i] = 0;
}

/* 80-bit value at p is sign/exponent se with significand m. */
static int is80(const uint8_t *p, uint16_t se, uint32_t mhi, uint32_t mlo)
{
    const uint32_t *w = (const uint32_t *)p;
    return w[0] == mlo && w[1] == mhi && *(const uint16_t *)(p + 8) == se;
}


int guest_main(void)
{
    puts("x86v-guest: fpu-mf\n");
    st_init();
    rt_fpu_init();               /* NE=1 MP=1 EM=0 TS=0, OSFXSR, OSXMMEXCPT */
    st_guest_hook = hook;
    tap_plan(22);
    uint32_t r;

    /* 1-4: #Z from a register divide */
    reset();
    r = st_try(t_zd, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)zd_wait && mf_eax == 0x1234,
           "1/0 with ZM=0: no fault at the fdiv; #MF at the next waiting x87 instruction (fld1), the integer instructions between ran");
    tap_ok((mf_fsw & 0xB8FF) == 0xB084,
           "FSW in the #MF handler: ZE, ES and B set, no other flag, SF=0, TOP=6");
    tap_ok(is80(out + 10, 0x3FFF, 0x80000000u, 0) && is80(out + 20, 0, 0, 0) && is80(out, 0x3FFF, 0x80000000u, 0),
           "unmasked #Z: the operands remain unaltered (ST0 still 1.0, no result written), the waiting fld1 ran after the handler");
    tap_ok(mf_env[3] == (uint32_t)zd_fault && (mf_env[4] & 0xFFFF) == SEL_KCODE && (mf_env[4] >> 16) == 0x0F1 &&
           (mf_env[2] & 0xFFFF) == 0x4FFF && (mf_env[1] & 0xFFFF) == (mf_fsw & 0xFFFF),
           "FNSTENV in the handler: FIP = the fdiv (not the fld1), FCS = 0x08, FOP = 0x0F1, tag word 0x4FFF, FSW as FNSTSW");

    /* 5-6: #Z from a memory operand, pending until FWAIT */
    reset();
    r = st_try(t_zd_mem, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)zdm_wait && mf_eax == 0x5678 &&
           is80(out, 0x3FFF, 0x80000000u, 0),
           "fdivl m64 by zero with ZM=0: #MF at the following fwait; ST0 unaltered");
    tap_ok(mf_env[3] == (uint32_t)zdm_fault && (mf_env[4] & 0xFFFF) == SEL_KCODE && (mf_env[4] >> 16) == 0x435 &&
           mf_env[5] == (uint32_t)zero64 && (mf_env[6] & 0xFFFF) == SEL_KDATA,
           "FNSTENV in the handler: FIP/FCS, FOP = 0x435 (DC /6), FDP/FDS = the m64 operand of the fdivl");

    /* 7: FSTSW = FWAIT + FNSTSW */
    reset();
    r = st_try(t_fstsw, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)fstsw_at && (st_result & 0x80A4) == 0,
           "fstsw ax with #Z pending: #MF at its FWAIT byte; after FNCLEX it stores an FSW without ES/ZE");

    /* 8-9: no-wait forms */
    reset();
    r = st_try(t_nowait, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 0 && (aux[0] & 0x8084) == 0x8084 && (aux[1] & 0xFFFF) == CW_ZM &&
           (*(uint16_t *)(out + 4) & 0x80) && (*(uint16_t *)(out + 28 + 4) & 0x80),
           "with #Z pending, FNSTSW, FNSTCW, FNSTENV, FNSAVE do not fault, and FNSTSW, FNSTENV, FNSAVE store ES set");
    tap_ok((aux[2] & 0xFFFF) == 0 && (aux[3] & 0xFFFF) == CW_ALL,
           "FNSAVE reinitializes: FSW = 0 and FCW = 0x037F after it, the fwait after it runs");
    reset();
    r = st_try(t_clexinit, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 0 && (aux[0] & 0xB8FF) == 0x3000 && (aux[1] & 0xFFFF) == 0 &&
           (aux[2] & 0xFFFF) == CW_ALL,
           "FNCLEX and FNINIT with #Z pending: no #MF, the fwait after each runs (FNCLEX clears flags, ES, B; the unmasked fdivp did not pop)");

    /* 11-12: stack faults */
    reset();
    r = st_try(t_under, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)under_wait && (mf_fsw & 0xBAFF) == 0xB8C1 &&
           is80(out, 0x3FFF, 0x80000000u, 0),
           "stack underflow with IM=0: #MF at the fwait, FSW IE+SF, C1=0, ES, B, TOP=7; ST0 unaltered");
    reset();
    r = st_try(t_over, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)over_wait && (mf_fsw & 0xBAFF) == 0x82C1 &&
           is80(out, 0x3FFF, 0x80000000u, 0),
           "stack overflow (9th push) with IM=0: #MF at the fwait, FSW IE+SF, C1=1, TOP=0 (no push); ST0 still 1.0");

    /* 13: #P */
    reset();
    r = st_try(t_pe, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)pe_wait && (mf_fsw & 0xBAFF) == 0xBAA0 &&
           is80(out, 0x3FFD, 0xAAAAAAAAu, 0xAAAAAAABu),
           "1/3 with PM=0: #MF at the next fstp, FSW PE+C1 (rounded up), ES, B; the rounded result was stored");

    /* 14-15: masked responses */
    reset();
    r = st_try(t_masked, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 0 && is80(out, 0x7FFF, 0x80000000u, 0) && is80(out + 10, 0xFFFF, 0x80000000u, 0) &&
           (aux[0] & 0x80FF) == 0x0004,
           "masked #Z: 1/0 = +inf, -1/0 = -inf, ZE set, ES clear, no #MF");
    tap_ok(is80(out + 20, 0xFFFF, 0xC0000000u, 0) && (aux[1] & 0x80FF) == 0x0001 &&
           is80(out + 30, 0xFFFF, 0xC0000000u, 0) && (aux[2] & 0x82FF) == 0x0041 &&
           is80(out + 40, 0xFFFF, 0xC0000000u, 0) && (aux[3] & 0x80FF) == 0x0001,
           "masked #I: 0/0, stack underflow (SF, C1=0) and sqrt(-1) give the real indefinite");
    reset();
    r = st_try(t_masked2, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 0 && *(uint32_t *)out == 0x7F800000u && (aux[0] & 0x80FF) == 0x0028 &&
           *(uint16_t *)(out + 4) == 0x8000 && (aux[1] & 0x80FF) == 0x0001 &&
           is80(out + 10, 0xFFFF, 0xC0000000u, 0) && (aux[2] & 0x82FF) == 0x0241,
           "masked: 1e300 to m32 = +inf (OE, PE); 1e10 to m16 = 0x8000 (IE); stack overflow = indefinite (IE, SF, C1=1)");

    /* 17: FLDCW */
    reset();
    r = st_try(t_fldcw, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)fldcw_wait && mf_eax == 0x9abc && (mf_fsw & 0x80FF) == 0x8084,
           "fldcw unmasking an already-set ZE: no fault at the fldcw, #MF at the next waiting instruction (ES, B now set)");

    /* 18: unmasked overflow to memory */
    reset();
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(0x78 - 0x22 * i);          /* 0x12345678 */
    r = st_try(t_ovst, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)ovst_wait && *(uint32_t *)out == 0x12345678u &&
           (mf_fsw & 0xB8DD) == 0xB888 && *(uint32_t *)(out + 8) == 0x8800759Cu && *(uint32_t *)(out + 12) == 0x7E37E43Cu,
           "fstps of 1e300 with OM=0: OE, memory unchanged, not popped (TOP=7, ST0 still 1e300), #MF at the fwait");

    /* 19-20: MMX and SSE with an x87 exception pending */
    reset();
    r = st_try(t_mmx, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)mmx_at,
           "an MMX instruction (movq mm, mm) with #Z pending: #MF at it");
    reset();
    r = st_try(t_sse, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)sse_wait,
           "SSE/SSE2 instructions (movaps, addps, cvtsi2sd) with #Z pending run; the fwait after them raises #MF");

    /* 21: #NM before #MF */
    reset();
    nm_count = 0;
    r = st_try(t_nm_first, 0);
    tap_ok(r == ST_NOFAULT && nm_count == 1 && nm_eip == (uint32_t)nmf_at && mf_count == 1 && mf_eip == (uint32_t)nmf_at,
           "#Z pending and CR0.TS=1 MP=1: the fwait raises #NM first (class 9), then #MF after CLTS (class 10)");

    /* 22: nothing pending at the end */
    uint16_t sw;
    __asm__ volatile("fninit\n\tfwait\n\tfnstsw %0" : "=m"(sw));
    tap_ok(sw == 0 && !(read_cr0() & 8), "FNINIT leaves FSW = 0; CR0.TS clear");

    puts("# fpu-mf done\n");
    return tap_exit_code();
}
