// The host's SSE/SSE2 unit as the arithmetic core of the guest's (issue 16, docs/x87.md): one
// floating-point operation runs on the host's XMM0/XMM1 under the guest's MXCSR (rounding,
// DAZ, FTZ) with every host exception masked, and reports the MXCSR flags it raised. The host's
// own MXCSR is saved before and restored after, inside the same asm statement, so no host code
// ever runs under the guest's rounding or flush modes.
//
// Bit operations (moves, shuffles, logic, integer MMX/SSE2) are the Swift side's: only what
// depends on the host's floating-point behaviour (rounding, NaN propagation, denormals, flags,
// RCP/RSQRT's approximation tables) comes here.
#ifndef CXMM_H
#define CXMM_H
#include <stdint.h>

/// One 128-bit XMM value, low quadword first (the guest's XMMRegister layout).
typedef struct {
    uint64_t lo;
    uint64_t hi;
} cxmm_reg;

/// The operations. `dst` is XMM0 (read and written), `src` XMM1 (read). Scalar forms keep the
/// upper part of `dst` as the instruction does. Results that are not XMM values land in
/// `dst->lo` bits 31:0: the integer of CVT(T)SS2SI/SD2SI, and for (U)COMIS* the flags as LAHF
/// reads them (ZF bit 6, PF bit 2, CF bit 0). CVTSI2SS/SD take the integer in `src->lo` 31:0.
///
/// The MMX-register conversions run as their SSE2 twins on XMM registers (the host's MMX
/// registers alias its x87 stack, which the host's own code owns): CVTPI2PS is CVTDQ2PS of
/// `src` (upper half zero) merged into `dst`'s low quadword, CVT(T)PS2PI is CVT(T)PS2DQ of `src`
/// (upper half zero), CVTPI2PD is CVTDQ2PD, CVT(T)PD2PI is CVT(T)PD2DQ. Zero lanes convert
/// exactly, so the flags are those of the two live lanes.
enum {
    CXMM_ADDPS, CXMM_ADDSS, CXMM_ADDPD, CXMM_ADDSD,
    CXMM_SUBPS, CXMM_SUBSS, CXMM_SUBPD, CXMM_SUBSD,
    CXMM_MULPS, CXMM_MULSS, CXMM_MULPD, CXMM_MULSD,
    CXMM_DIVPS, CXMM_DIVSS, CXMM_DIVPD, CXMM_DIVSD,
    CXMM_MINPS, CXMM_MINSS, CXMM_MINPD, CXMM_MINSD,
    CXMM_MAXPS, CXMM_MAXSS, CXMM_MAXPD, CXMM_MAXSD,
    CXMM_SQRTPS, CXMM_SQRTSS, CXMM_SQRTPD, CXMM_SQRTSD,
    CXMM_RCPPS, CXMM_RCPSS, CXMM_RSQRTPS, CXMM_RSQRTSS,
    CXMM_COMISS, CXMM_UCOMISS, CXMM_COMISD, CXMM_UCOMISD,
    CXMM_CVTPI2PS, CXMM_CVTPI2PD, CXMM_CVTSI2SS, CXMM_CVTSI2SD,
    CXMM_CVTPS2PI, CXMM_CVTTPS2PI, CXMM_CVTPD2PI, CXMM_CVTTPD2PI,
    CXMM_CVTSS2SI, CXMM_CVTTSS2SI, CXMM_CVTSD2SI, CXMM_CVTTSD2SI,
    CXMM_CVTPS2PD, CXMM_CVTPD2PS, CXMM_CVTSS2SD, CXMM_CVTSD2SS,
    CXMM_CVTDQ2PS, CXMM_CVTPS2DQ, CXMM_CVTTPS2DQ,
    CXMM_CVTDQ2PD, CXMM_CVTPD2DQ, CXMM_CVTTPD2DQ,
    /// CMPccPS/SS/PD/SD: eight consecutive operations each, predicate imm8[2:0] added.
    CXMM_CMPPS = 64, CXMM_CMPSS = 72, CXMM_CMPPD = 80, CXMM_CMPSD = 88,
    CXMM_OPERATION_COUNT = 96
};

/// Runs `op` with the host MXCSR set to `mxcsr` (the caller passes the guest's control bits with
/// every exception masked and the flags clear). Returns the MXCSR flags the operation raised
/// (bits 5:0). Returns 0xFFFFFFFF and computes nothing for an unknown `op` or on a host that is
/// not x86-64.
uint32_t cxmm_run(int op, cxmm_reg *dst, const cxmm_reg *src, uint32_t mxcsr);

/// 1 if `cxmm_run` computes on this host (x86-64).
int cxmm_host_available(void);

/// The host's current MXCSR (tests check that operations leave it alone).
uint32_t cxmm_host_mxcsr(void);

#endif
