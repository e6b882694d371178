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

/// The state one guest x87 instruction runs on (cx87_exec).
typedef struct {
    /// The FPU state as FNSAVE/FRSTOR lay it out in 32-bit protected mode (SDM Vol. 1 §8.1.10,
    /// Figure 8-9): FCW, FSW, full tag word, FIP, FCS, FOP, FDP, FDS, then ST(0)-ST(7), 10 bytes each.
    /// In: the guest's state with FSW's exception flags, ES and B clear. Out: the state after.
    unsigned char image[108];
    /// The memory operand: read by loads and arithmetic, written by stores (up to 10 bytes).
    unsigned char memory[16];
    /// EFLAGS bits 7:0 (SF ZF AF PF CF): in for FCMOVcc, out from FCOMI/FUCOMI.
    uint8_t flags;
} cx87_frame;

/// Runs one x87 instruction on the host FPU over `f`. `instruction` is the escape byte (D8-DF)
/// << 8 | the ModRM byte for register forms (C0-FF), or | reg << 3 for memory forms (the operand
/// is `f->memory`). Only instructions the caller has validated may be passed: the host executes
/// them as they are. Environment and control instructions (FLDENV, FSTENV, FSAVE, FRSTOR,
/// FLDCW, FSTCW, FSTSW, FCLEX, FINIT) are the caller's. The host's x87 state is left
/// initialized with its control word restored. 1 if run, 0 if this host cannot (not x86-64).
int cx87_exec(uint16_t instruction, cx87_frame *f);

/// The guest's x87 registers as X86Core's FPUState keeps them (R0-R7 in 16-byte slots, each an
/// 80-bit real in its first 10 bytes) followed by nothing the C side needs; the control word,
/// status word and tag word are passed beside it.
typedef struct {
    unsigned char *registers;
    uint16_t control;
    uint16_t status;
    uint16_t tags;  // right after status: cx87_fast_state writes both with one store
} cx87_state;

/// The fast form of cx87_exec, for a guest whose control word masks every exception (so nothing
/// can become pending on the host and no FNCLEX is needed), working on the guest's register
/// file in place: ST(0)…ST(depth − 1) are loaded from it, the values left on the host stack
/// are stored back into their new physical registers, tags (popped: empty; written: from contents) and FSW (TOP, C1, C0/C2/C3 when `compare`,
/// sticky flags) are updated. `memory` is the operand buffer (16 bytes), `flags` EFLAGS 7:0 in
/// and out as for cx87_exec. Every exception in `control` must be masked. The host's exception
/// flags are kept a subset of the guest's (FNCLEX only when they are not), so the guest's flags
/// OR the host's afterwards are the guest's OR what the instruction raised.
int cx87_fast_state(uint16_t instruction, cx87_state *g, int depth, int compare, unsigned char *memory, uint8_t *flags);

/// The host's current x87 control word (tests check that operations leave it alone).
uint16_t cx87_host_control(void);

/// The host's x87 control and status words and MXCSR (cpu-fuzz checks that no guest changes
/// them: the host's own floating point depends on them, and a set ES would trap it).
void cx87_host_environment(uint16_t *control, uint16_t *status, uint32_t *mxcsr);

#endif
