/* sse-xm: SIMD floating-point exceptions (#XM) and MXCSR behaviour.
 *
 * SDM Vol. 1 10.2.3 "MXCSR control and status register" (flags, masks, RC,
 * 10.2.3.3 FTZ: a tiny result becomes 0 and sets UE and PE, 10.2.3.4 DAZ:
 * denormal sources are zeros and DE is not set), 11.5 "SSE, SSE2 and SSE3
 * exceptions" (11.5.1: SIMD exceptions are precise: the fault is reported
 * at the instruction that caused it, before any result is written, so with
 * an unmasked exception in any element none of the destination is changed;
 * 11.5.2 the masked responses: QNaN floating-point indefinite 0xFFC00000 /
 * 0xFFF8000000000000, integer indefinite 0x80000000; 11.5.2.5: a masked
 * underflow sets UE only when the tiny result is also inexact), 4.8.3.7
 * (indefinites), Vol. 3A 6.15 "Interrupt 19 - SIMD Floating-Point
 * Exception (#XM)" (a fault, no error code) and 13.1 (CR4.OSXMMEXCPT = 0:
 * an unmasked SIMD exception raises #UD instead; Table 13-1, 12-1 in older
 * editions), Vol. 2 CVTSS2SI/CVTSD2SI (rounded
 * per MXCSR.RC) and CVTTSS2SI/CVTTSD2SI (truncated).
 *
 * Unmasked faults are caught with st_try; the #XM/#UD hook records EIP,
 * EDX (a marker set just before the faulting instruction), XMM0 and MXCSR
 * at the fault. One test has a handler that sets the mask and returns, so
 * the instruction runs again with the masked response.
 *
 * Expected output recorded from Bochs 2.7, not QEMU: QEMU 7.2 never raises
 * #XM (nor #UD with OSXMMEXCPT = 0) for an unmasked SIMD exception, it gives
 * the masked result, and it does not set MXCSR.DE for a denormal operand.
 * MXCSR_MASK is 0xFFFF on both (DAZ supported). */
#include "systest.h"

uint8_t va[16] __attribute__((aligned(16)));
uint8_t vb[16] __attribute__((aligned(16)));
uint8_t vres[16] __attribute__((aligned(16)));
uint32_t mx_in, mx_out;

static uint8_t h_xmm0[16] __attribute__((aligned(16)));
static volatile uint32_t h_count, h_eip, h_edx, h_eax, h_mxcsr, h_fix;

#define OPS(X) X(t_divss) X(t_sqrtss) X(t_divps) X(t_divsd) X(t_addss) X(t_mulss) X(t_cvtss) X(t_cvtsd) \
    X(t_cvttss) X(t_cvttsd)
#define DECL(n) uint32_t n(uint32_t); extern char n##_at[];
OPS(DECL)

__asm__(
    ".macro SSEOP name, insn\n"
    ".globl \\name, \\name\\()_at\n"
    "\\name:\n"
    "  movups va, %xmm0\n  movups vb, %xmm1\n  ldmxcsr mx_in\n  movl $0x1234, %eax\n  movl $0x55, %edx\n"
    "\\name\\()_at:\n"
    "  \\insn\n"
    "  movups %xmm0, vres\n  stmxcsr mx_out\n  ret\n"
    ".endm\n"
    ".text\n"
    "SSEOP t_divss, \"divss %xmm1, %xmm0\"\n"
    "SSEOP t_sqrtss, \"sqrtss %xmm1, %xmm0\"\n"
    "SSEOP t_divps, \"divps %xmm1, %xmm0\"\n"
    "SSEOP t_divsd, \"divsd %xmm1, %xmm0\"\n"
    "SSEOP t_addss, \"addss %xmm1, %xmm0\"\n"
    "SSEOP t_mulss, \"mulss %xmm1, %xmm0\"\n"
    "SSEOP t_cvtss, \"cvtss2si %xmm1, %eax\"\n"
    "SSEOP t_cvtsd, \"cvtsd2si %xmm1, %eax\"\n"
    "SSEOP t_cvttss, \"cvttss2si %xmm1, %eax\"\n"
    "SSEOP t_cvttsd, \"cvttsd2si %xmm1, %eax\"\n"
);

static int hook(struct rt_frame *f)
{
    if (f->vector != 19 && f->vector != 6)
        return 0;
    uint32_t mx;
    h_count++;
    h_eip = f->eip;
    h_edx = f->edx;
    h_eax = f->eax;
    __asm__ volatile("movdqu %%xmm0, %0\n\tstmxcsr %1" : "=m"(h_xmm0), "=m"(mx));
    h_mxcsr = mx;
    if (h_fix && f->vector == 19) {
        mx |= 0x1F80;                      /* mask everything, run the instruction again */
        __asm__ volatile("ldmxcsr %0" :: "m"(mx));
        return 1;
    }
    return 0;                              /* st_try recovers */
}

static void set_f32(uint8_t *v, float a, float b, float c, float d)
{
    float t[4] = { a, b, c, d };
    memcpy(v, t, 16);
}
static void set_u32(uint8_t *v, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    uint32_t t[4] = { a, b, c, d };
    memcpy(v, t, 16);
}
static void set_f64(uint8_t *v, double a, double b)
{
    double t[2] = { a, b };
    memcpy(v, t, 16);
}
static uint32_t w32(const uint8_t *v, int i) { uint32_t x; memcpy(&x, v + 4 * i, 4); return x; }

static uint32_t run(uint32_t (*fn)(uint32_t), uint32_t mxcsr)
{
    mx_in = mxcsr;
    h_count = 0;
    h_eip = h_edx = h_eax = h_mxcsr = 0;
    memset(h_xmm0, 0, 16);
    memset(vres, 0xEE, 16);
    mx_out = 0xDEAD;
    uint32_t r = st_try(fn, 0);
    uint32_t def = 0x1F80;
    __asm__ volatile("ldmxcsr %0" :: "m"(def));
    return r;
}

/* Faulted with vector vec at the instruction, after the instructions before it. */
static int fault_at(uint32_t r, uint32_t vec, const char *at)
{
    return r == vec && h_count == 1 && rt_last_trap.vector == vec && h_eip == (uint32_t)at && h_edx == 0x55;
}

static uint32_t cvt(uint32_t (*fn)(uint32_t), uint32_t rc, int dbl, double x)
{
    if (dbl)
        set_f64(vb, x, 0);
    else
        set_f32(vb, (float)x, 0, 0, 0);
    run(fn, 0x1F80 | rc << 13);
    return st_result;
}

int guest_main(void)
{
    puts("x86v-guest: sse-xm\n");
    st_init();
    rt_fpu_init();                 /* CR4.OSFXSR=1, OSXMMEXCPT=1 */
    st_guest_hook = hook;
    tap_plan(22);
    uint32_t r;

    /* 1-2: divss by zero, ZM clear */
    set_f32(va, 1.0f, 2.0f, 3.0f, 4.0f);
    set_f32(vb, 0.0f, 5.0f, 6.0f, 7.0f);
    r = run(t_divss, 0x1D80);
    tap_ok(fault_at(r, 19, t_divss_at), "divss by 0 with ZM=0: #XM (19) at the divss itself (precise fault), after the instructions before it");
    tap_ok(memcmp(h_xmm0, va, 16) == 0 && (h_mxcsr & 0xFFFF) == 0x1D84,
           "destination unchanged in the handler; MXCSR = 0x1D84 (ZE set)");

    /* 3: sqrtss(-1), IM clear */
    set_f32(vb, -1.0f, 0, 0, 0);
    r = run(t_sqrtss, 0x1F00);
    tap_ok(fault_at(r, 19, t_sqrtss_at) && memcmp(h_xmm0, va, 16) == 0 && (h_mxcsr & 0xFFFF) == 0x1F01,
           "sqrtss of -1 with IM=0: #XM at it, destination unchanged, IE set");

    /* 4: divps with one zero element */
    set_f32(vb, 2.0f, 4.0f, 0.0f, 8.0f);
    r = run(t_divps, 0x1D80);
    tap_ok(fault_at(r, 19, t_divps_at) && memcmp(h_xmm0, va, 16) == 0 && (h_mxcsr & 0x3F) == 0x04,
           "divps with element 2 zero, ZM=0: #XM, none of the four elements written");

    /* 5: divsd */
    set_f64(va, 1.5, -2.5);
    set_f64(vb, 0.0, 1.0);
    r = run(t_divsd, 0x1D80);
    tap_ok(fault_at(r, 19, t_divsd_at) && memcmp(h_xmm0, va, 16) == 0 && (h_mxcsr & 0x3F) == 0x04,
           "SSE2 divsd by 0 with ZM=0: #XM, destination unchanged");

    /* 6: PE unmasked (a post-computation exception) */
    set_f32(va, 1.0f, 2.0f, 3.0f, 4.0f);
    set_u32(vb, 0x30800000u, 0, 0, 0);                  /* 2^-30: 1 + 2^-30 is inexact in single */
    r = run(t_addss, 0x0F80);
    tap_ok(fault_at(r, 19, t_addss_at) && memcmp(h_xmm0, va, 16) == 0 && (h_mxcsr & 0x3F) == 0x20,
           "addss 1 + 2^-30 with PM=0: #XM, destination unchanged, PE set");

    /* 7-8: CR4.OSXMMEXCPT = 0 */
    write_cr4(read_cr4() & ~(1u << 10));
    set_f32(va, 1.0f, 2.0f, 3.0f, 4.0f);
    set_f32(vb, 0.0f, 5.0f, 6.0f, 7.0f);
    r = run(t_divss, 0x1D80);
    int ud_ok = fault_at(r, 6, t_divss_at) && memcmp(h_xmm0, va, 16) == 0 && (h_mxcsr & 0x3F) == 0x04;
    set_f32(vb, 0.0f, 5.0f, 6.0f, 7.0f);
    uint32_t r2 = run(t_divss, 0x1F80);
    int masked_ok = r2 == ST_NOFAULT && w32(vres, 0) == 0x7F800000u;
    write_cr4(read_cr4() | (1u << 10));
    tap_ok(ud_ok,
           "CR4.OSXMMEXCPT=0: the unmasked divss by 0 raises #UD instead, destination unchanged, ZE set");
    tap_ok(masked_ok, "CR4.OSXMMEXCPT=0: masked, the same divss gives +inf without a fault");

    /* 9-11: masked responses */
    set_f32(va, 1.0f, 2.0f, 3.0f, 4.0f);
    set_f32(vb, 0.0f, 5.0f, 6.0f, 7.0f);
    r = run(t_divss, 0x1F80);
    tap_ok(r == ST_NOFAULT && w32(vres, 0) == 0x7F800000u && w32(vres, 1) == w32(va, 1) && mx_out == 0x1F84,
           "masked: divss 1/0 = +inf (upper elements from the destination), ZE set");
    set_f32(vb, -1.0f, 0, 0, 0);
    r = run(t_sqrtss, 0x1F80);
    uint32_t s1 = w32(vres, 0), m1 = mx_out;
    set_f32(va, 0.0f, 2.0f, 3.0f, 4.0f);
    set_f32(vb, 0.0f, 0, 0, 0);
    r2 = run(t_divss, 0x1F80);
    tap_ok(r == ST_NOFAULT && r2 == ST_NOFAULT && s1 == 0xFFC00000u && m1 == 0x1F81 &&
           w32(vres, 0) == 0xFFC00000u && mx_out == 0x1F81,
           "masked: sqrtss(-1) and 0/0 give the QNaN indefinite 0xFFC00000, IE");
    set_f64(va, -1.0, 7.0);
    set_f64(vb, 0.0, 0.0);
    r = run(t_divsd, 0x1F80);
    tap_ok(r == ST_NOFAULT && w32(vres, 0) == 0 && w32(vres, 1) == 0xFFF00000u && mx_out == 0x1F84,
           "masked: divsd -1/0 = -inf (0xFFF0000000000000), ZE");

    /* 12: the handler masks ZM and returns: the instruction runs again */
    set_f32(va, 1.0f, 2.0f, 3.0f, 4.0f);
    set_f32(vb, 0.0f, 5.0f, 6.0f, 7.0f);
    h_fix = 1;
    r = run(t_divss, 0x1D80);
    h_fix = 0;
    tap_ok(r == ST_NOFAULT && h_count == 1 && w32(vres, 0) == 0x7F800000u && mx_out == 0x1F84,
           "an #XM handler that sets ZM and returns: divss runs again and gives +inf, one #XM");

    /* 13: flags are sticky */
    set_f32(va, 1.0f, 2.0f, 3.0f, 4.0f);
    set_f32(vb, 2.0f, 0, 0, 0);
    r = run(t_divss, 0x1F80 | 0x01 | 0x08);
    tap_ok(r == ST_NOFAULT && w32(vres, 0) == 0x3F000000u && mx_out == 0x1F89,
           "an exact divss leaves MXCSR flags already set (IE, OE) as they were");

    /* 14-15: FTZ */
    set_u32(va, 0x1C800000u, 0, 0, 0);                  /* 2^-70 */
    set_u32(vb, 0x1C800000u, 0, 0, 0);
    r = run(t_mulss, 0x1F80);
    tap_ok(r == ST_NOFAULT && w32(vres, 0) == 0x00000200u && mx_out == 0x1F80,
           "FTZ=0: 2^-70 * 2^-70 = the exact denormal 2^-140, no UE (exact), no PE");
    r = run(t_mulss, 0x9F80);
    tap_ok(r == ST_NOFAULT && w32(vres, 0) == 0 && mx_out == 0x9FB0,
           "FTZ=1 (UM masked): the tiny result is flushed to +0, UE and PE set");

    /* 16: DAZ (when MXCSR_MASK has bit 6) */
    static uint8_t fx[512] __attribute__((aligned(16)));
    __asm__ volatile("fxsave %0" : "=m"(fx));
    uint32_t mask;
    memcpy(&mask, fx + 28, 4);
    if (mask == 0)
        mask = 0xFFBF;
    set_u32(va, 0x00000200u, 0, 0, 0);                  /* 2^-140, denormal */
    set_u32(vb, 0, 0, 0, 0);
    r = run(t_addss, 0x1F80);
    uint32_t d0 = w32(vres, 0), dm0 = mx_out;
    int daz_ok;
    if (mask & 0x40) {
        r2 = run(t_addss, 0x1FC0);
        daz_ok = r2 == ST_NOFAULT && w32(vres, 0) == 0 && mx_out == 0x1FC0;
    } else {
        daz_ok = 1;
    }
    tap_ok(r == ST_NOFAULT && d0 == 0x200 && dm0 == 0x1F82 && daz_ok,
           "denormal + 0: DAZ=0 gives the denormal and DE; DAZ=1 (if MXCSR_MASK has it) gives +0 and no DE");

    /* 17-20: rounding control in CVTSS2SI / CVTSD2SI; CVTT* truncate */
    static const double xs[4] = { 2.5, -2.5, 1.5, -1.5 };
    static const int32_t want[4][4] = {
        { 2, -2, 2, -2 },          /* RC 0: nearest even */
        { 2, -3, 1, -2 },          /* RC 1: down */
        { 3, -2, 2, -1 },          /* RC 2: up */
        { 2, -2, 1, -1 },          /* RC 3: toward zero */
    };
    int okss = 1, oksd = 1, oktt = 1;
    for (uint32_t rc = 0; rc < 4; rc++)
        for (int i = 0; i < 4; i++) {
            okss &= (int32_t)cvt(t_cvtss, rc, 0, xs[i]) == want[rc][i] && mx_out == (0x1F80 | rc << 13 | 0x20);
            oksd &= (int32_t)cvt(t_cvtsd, rc, 1, xs[i]) == want[rc][i] && mx_out == (0x1F80 | rc << 13 | 0x20);
            oktt &= (int32_t)cvt(t_cvttss, rc, 0, xs[i]) == want[3][i] && (int32_t)cvt(t_cvttsd, rc, 1, xs[i]) == want[3][i];
        }
    tap_ok(okss, "cvtss2si of 2.5, -2.5, 1.5, -1.5 rounds per MXCSR.RC (nearest-even, down, up, toward zero), PE set");
    tap_ok(oksd, "cvtsd2si rounds the same way per MXCSR.RC, PE set");
    tap_ok(oktt, "cvttss2si and cvttsd2si truncate whatever MXCSR.RC says");
    uint32_t big = cvt(t_cvtss, 0, 0, 3.0e9), mbig = mx_out;
    uint32_t nan = cvt(t_cvtsd, 0, 1, 0.0 / 0.0), mnan = mx_out;
    tap_ok(big == 0x80000000u && mbig == 0x1F81 && nan == 0x80000000u && mnan == 0x1F81,
           "masked: cvtss2si of 3e9 and cvtsd2si of a QNaN give the integer indefinite 0x80000000, IE");

    /* 21: unmasked invalid conversion */
    set_f32(vb, 3.0e9f, 0, 0, 0);
    r = run(t_cvtss, 0x1F00);
    tap_ok(fault_at(r, 19, t_cvtss_at) && h_eax == 0x1234 && (h_mxcsr & 0x3F) == 0x01,
           "cvtss2si of 3e9 with IM=0: #XM at it, EAX unchanged, IE set");

    /* 22: #XM is not an x87 matter */
    uint16_t sw;
    __asm__ volatile("fninit");
    set_f32(vb, 0.0f, 5.0f, 6.0f, 7.0f);
    r = run(t_divss, 0x1D80);
    __asm__ volatile("fnstsw %0" : "=m"(sw));
    tap_ok(r == 19 && sw == 0, "an unmasked SIMD exception leaves the x87 FSW alone (no flags, no ES)");

    puts("# sse-xm done\n");
    return tap_exit_code();
}
