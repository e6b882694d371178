// The host's x87 FPU as the arithmetic core of the guest's (issue 16, docs/x87.md): an
// operation runs on the host FPU under the guest's precision and rounding control, with every
// host exception masked, and reports the status-word bits it raised. The host's control word
// and its status flags are left as they were.
#ifndef CX87HOST_H
#define CX87HOST_H
#include <stdint.h>

/// An 80-bit real: 64-bit significand (explicit integer bit), sign and 15-bit biased exponent.
typedef struct {
    uint64_t significand;
    uint16_t sign_exponent;
} cx87_real;

enum { CX87_ADD = 0, CX87_SUB = 1, CX87_MUL = 2, CX87_DIV = 3 };

/// ST(0) = a OP b under control word `control` (its exception masks are ignored: the host masks
/// all of them, and the caller decides what an unmasked one does). Returns the status-word bits
/// the operation set: the six exception flags (bits 5:0) and C1 (bit 9, "rounded up").
/// 1 if this host can run it (x86-64), else 0 and nothing is computed.
int cx87_arith(int op, cx87_real a, cx87_real b, uint16_t control, cx87_real *result, uint16_t *status);

/// The host's current x87 control word (tests check that operations leave it alone).
uint16_t cx87_host_control(void);

#endif
