#include "cx87host.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)

static inline void to_bytes(cx87_real r, unsigned char out[10]) {
    memcpy(out, &r.significand, 8);
    memcpy(out + 8, &r.sign_exponent, 2);
}

static inline cx87_real from_bytes(const unsigned char in[10]) {
    cx87_real r;
    memcpy(&r.significand, in, 8);
    memcpy(&r.sign_exponent, in + 8, 2);
    return r;
}

int cx87_arith(int op, cx87_real a, cx87_real b, uint16_t control, cx87_real *result, uint16_t *status) {
    unsigned char x[10], y[10], out[10];
    to_bytes(a, x);
    to_bytes(b, y);
    uint16_t saved, sw;
    // Every exception masked on the host: a pending unmasked one would trap (SIGFPE) at the
    // next waiting instruction, here or in the host's own code.
    uint16_t masked = (uint16_t)(control | 0x3F);
    __asm__ volatile("fnstcw %0" : "=m"(saved));
    __asm__ volatile("fnclex\n\tfldcw %0" : : "m"(masked));
    // ST(0) = a, ST(1) = b; the operation writes ST(0) (the AT&T forms with ST(0) as the
    // destination are not the ones GNU as reverses).
    switch (op) {
    case CX87_ADD:
        __asm__ volatile("fldt %2\n\tfldt %3\n\tfadd %%st(1), %%st\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)"
                         : "=m"(out), "=m"(sw) : "m"(y), "m"(x));
        break;
    case CX87_SUB:
        __asm__ volatile("fldt %2\n\tfldt %3\n\tfsub %%st(1), %%st\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)"
                         : "=m"(out), "=m"(sw) : "m"(y), "m"(x));
        break;
    case CX87_MUL:
        __asm__ volatile("fldt %2\n\tfldt %3\n\tfmul %%st(1), %%st\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)"
                         : "=m"(out), "=m"(sw) : "m"(y), "m"(x));
        break;
    default:
        __asm__ volatile("fldt %2\n\tfldt %3\n\tfdiv %%st(1), %%st\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)"
                         : "=m"(out), "=m"(sw) : "m"(y), "m"(x));
        break;
    }
    // The status word was read right after the operation: the stores after it rewrite C1.
    __asm__ volatile("fnclex\n\tfldcw %0" : : "m"(saved));
    *result = from_bytes(out);
    *status = (uint16_t)(sw & 0x023F);
    return 1;
}

uint16_t cx87_host_control(void) {
    uint16_t cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}

void cx87_host_environment(uint16_t *control, uint16_t *status, uint32_t *mxcsr) {
    __asm__ volatile("fnstcw %0\n\tfnstsw %1\n\tstmxcsr %2" : "=m"(*control), "=m"(*status), "=m"(*mxcsr));
}

#else

int cx87_arith(int op, cx87_real a, cx87_real b, uint16_t control, cx87_real *result, uint16_t *status) {
    (void)op; (void)a; (void)b; (void)control; (void)result; (void)status;
    return 0;
}

uint16_t cx87_host_control(void) { return 0; }

void cx87_host_environment(uint16_t *control, uint16_t *status, uint32_t *mxcsr) {
    *control = 0; *status = 0; *mxcsr = 0;
}

#endif
