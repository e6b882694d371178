#include "cxmm.h"

#if defined(__x86_64__)

// Each operation is one asm statement from the host MXCSR's save to its restore: the compiler
// cannot schedule any of its own floating-point code in between (it would run under the guest's
// rounding and flush modes, and its flags would leak into the guest's). XMM0 = dst, XMM1 = src,
// XMM2 and EAX are scratch; all four are declared clobbered.
#define CXMM_ASM(insn)                                                                    \
    __asm__ volatile("stmxcsr %[saved]\n\t"                                               \
                     "ldmxcsr %[guest]\n\t"                                               \
                     "movdqu %[d], %%xmm0\n\t"                                            \
                     "movdqu %[s], %%xmm1\n\t"                                            \
                     insn "\n\t"                                                          \
                     "movdqu %%xmm0, %[d]\n\t"                                            \
                     "stmxcsr %[after]\n\t"                                               \
                     "ldmxcsr %[saved]"                                                   \
                     : [d] "+m"(*dst), [saved] "=m"(saved), [after] "=m"(after)           \
                     : [s] "m"(*src), [guest] "m"(mxcsr)                                  \
                     : "xmm0", "xmm1", "xmm2", "rax", "cc", "memory")

#define OP(name, insn) \
    case name: CXMM_ASM(insn); break;

// CMPccPS/SS/PD/SD with the predicate in the instruction's immediate.
#define CMP(base, mnemonic, p) \
    case base + p: CXMM_ASM(mnemonic " $" #p ", %%xmm1, %%xmm0"); break;
#define CMP8(base, mnemonic) \
    CMP(base, mnemonic, 0) CMP(base, mnemonic, 1) CMP(base, mnemonic, 2) CMP(base, mnemonic, 3) \
    CMP(base, mnemonic, 4) CMP(base, mnemonic, 5) CMP(base, mnemonic, 6) CMP(base, mnemonic, 7)

uint32_t cxmm_run(int op, cxmm_reg *dst, const cxmm_reg *src, uint32_t mxcsr) {
    uint32_t saved = 0, after = 0;
    switch (op) {
    OP(CXMM_ADDPS, "addps %%xmm1, %%xmm0") OP(CXMM_ADDSS, "addss %%xmm1, %%xmm0")
    OP(CXMM_ADDPD, "addpd %%xmm1, %%xmm0") OP(CXMM_ADDSD, "addsd %%xmm1, %%xmm0")
    OP(CXMM_SUBPS, "subps %%xmm1, %%xmm0") OP(CXMM_SUBSS, "subss %%xmm1, %%xmm0")
    OP(CXMM_SUBPD, "subpd %%xmm1, %%xmm0") OP(CXMM_SUBSD, "subsd %%xmm1, %%xmm0")
    OP(CXMM_MULPS, "mulps %%xmm1, %%xmm0") OP(CXMM_MULSS, "mulss %%xmm1, %%xmm0")
    OP(CXMM_MULPD, "mulpd %%xmm1, %%xmm0") OP(CXMM_MULSD, "mulsd %%xmm1, %%xmm0")
    OP(CXMM_DIVPS, "divps %%xmm1, %%xmm0") OP(CXMM_DIVSS, "divss %%xmm1, %%xmm0")
    OP(CXMM_DIVPD, "divpd %%xmm1, %%xmm0") OP(CXMM_DIVSD, "divsd %%xmm1, %%xmm0")
    OP(CXMM_MINPS, "minps %%xmm1, %%xmm0") OP(CXMM_MINSS, "minss %%xmm1, %%xmm0")
    OP(CXMM_MINPD, "minpd %%xmm1, %%xmm0") OP(CXMM_MINSD, "minsd %%xmm1, %%xmm0")
    OP(CXMM_MAXPS, "maxps %%xmm1, %%xmm0") OP(CXMM_MAXSS, "maxss %%xmm1, %%xmm0")
    OP(CXMM_MAXPD, "maxpd %%xmm1, %%xmm0") OP(CXMM_MAXSD, "maxsd %%xmm1, %%xmm0")
    OP(CXMM_SQRTPS, "sqrtps %%xmm1, %%xmm0") OP(CXMM_SQRTSS, "sqrtss %%xmm1, %%xmm0")
    OP(CXMM_SQRTPD, "sqrtpd %%xmm1, %%xmm0") OP(CXMM_SQRTSD, "sqrtsd %%xmm1, %%xmm0")
    OP(CXMM_RCPPS, "rcpps %%xmm1, %%xmm0") OP(CXMM_RCPSS, "rcpss %%xmm1, %%xmm0")
    OP(CXMM_RSQRTPS, "rsqrtps %%xmm1, %%xmm0") OP(CXMM_RSQRTSS, "rsqrtss %%xmm1, %%xmm0")
    // LAHF: AH = SF ZF 0 AF 0 PF 1 CF, moved to dst bits 7:0.
    OP(CXMM_COMISS, "comiss %%xmm1, %%xmm0\n\tlahf\n\tmovzbl %%ah, %%eax\n\tmovd %%eax, %%xmm0")
    OP(CXMM_UCOMISS, "ucomiss %%xmm1, %%xmm0\n\tlahf\n\tmovzbl %%ah, %%eax\n\tmovd %%eax, %%xmm0")
    OP(CXMM_COMISD, "comisd %%xmm1, %%xmm0\n\tlahf\n\tmovzbl %%ah, %%eax\n\tmovd %%eax, %%xmm0")
    OP(CXMM_UCOMISD, "ucomisd %%xmm1, %%xmm0\n\tlahf\n\tmovzbl %%ah, %%eax\n\tmovd %%eax, %%xmm0")
    OP(CXMM_CVTPI2PS, "cvtdq2ps %%xmm1, %%xmm2\n\tmovsd %%xmm2, %%xmm0")
    OP(CXMM_CVTPI2PD, "cvtdq2pd %%xmm1, %%xmm0")
    OP(CXMM_CVTSI2SS, "movd %%xmm1, %%eax\n\tcvtsi2ssl %%eax, %%xmm0")
    OP(CXMM_CVTSI2SD, "movd %%xmm1, %%eax\n\tcvtsi2sdl %%eax, %%xmm0")
    OP(CXMM_CVTPS2PI, "cvtps2dq %%xmm1, %%xmm0")
    OP(CXMM_CVTTPS2PI, "cvttps2dq %%xmm1, %%xmm0")
    OP(CXMM_CVTPD2PI, "cvtpd2dq %%xmm1, %%xmm0")
    OP(CXMM_CVTTPD2PI, "cvttpd2dq %%xmm1, %%xmm0")
    OP(CXMM_CVTSS2SI, "cvtss2si %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
    OP(CXMM_CVTTSS2SI, "cvttss2si %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
    OP(CXMM_CVTSD2SI, "cvtsd2si %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
    OP(CXMM_CVTTSD2SI, "cvttsd2si %%xmm1, %%eax\n\tmovd %%eax, %%xmm0")
    OP(CXMM_CVTPS2PD, "cvtps2pd %%xmm1, %%xmm0") OP(CXMM_CVTPD2PS, "cvtpd2ps %%xmm1, %%xmm0")
    OP(CXMM_CVTSS2SD, "cvtss2sd %%xmm1, %%xmm0") OP(CXMM_CVTSD2SS, "cvtsd2ss %%xmm1, %%xmm0")
    OP(CXMM_CVTDQ2PS, "cvtdq2ps %%xmm1, %%xmm0") OP(CXMM_CVTPS2DQ, "cvtps2dq %%xmm1, %%xmm0")
    OP(CXMM_CVTTPS2DQ, "cvttps2dq %%xmm1, %%xmm0")
    OP(CXMM_CVTDQ2PD, "cvtdq2pd %%xmm1, %%xmm0") OP(CXMM_CVTPD2DQ, "cvtpd2dq %%xmm1, %%xmm0")
    OP(CXMM_CVTTPD2DQ, "cvttpd2dq %%xmm1, %%xmm0")
    CMP8(CXMM_CMPPS, "cmpps") CMP8(CXMM_CMPSS, "cmpss") CMP8(CXMM_CMPPD, "cmppd") CMP8(CXMM_CMPSD, "cmpsd")
    default: return 0xFFFFFFFFu;
    }
    (void)saved;
    return after & 0x3F;
}

int cxmm_host_available(void) { return 1; }

uint32_t cxmm_host_mxcsr(void) {
    uint32_t m;
    __asm__ volatile("stmxcsr %0" : "=m"(m));
    return m;
}

#else

uint32_t cxmm_run(int op, cxmm_reg *dst, const cxmm_reg *src, uint32_t mxcsr) {
    (void)op; (void)dst; (void)src; (void)mxcsr;
    return 0xFFFFFFFFu;
}

int cxmm_host_available(void) { return 0; }

uint32_t cxmm_host_mxcsr(void) { return 0; }

#endif
