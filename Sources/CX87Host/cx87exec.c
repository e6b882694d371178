#include "cx87host.h"

#if defined(__x86_64__)

// One guest x87 instruction executed by the host FPU on the guest's state (docs/x87.md).
// FRSTOR loads the guest's state (the caller has cleared its exception flags, so nothing is
// pending and no waiting instruction here can trap), the instruction runs, FNSAVE stores the
// state and reinitializes the host FPU (empty stack, flags clear), then the host control word
// comes back. FNSAVE is a no-wait instruction: an unmasked exception the instruction raised is
// recorded in the image, never delivered to the host.
//
// Register forms run as their own two bytes. AH carries SF ZF AF PF CF in (SAHF: FCMOVcc reads
// them) and out (LAHF: FCOMI/FUCOMI write them). Memory forms run with [RAX] pointing at the
// frame's operand buffer (ModRM mod=00, rm=000).

#define REG(b0, b1) \
    case ((b0) << 8 | (b1)): \
        __asm__ volatile("sahf\n\t.byte " #b0 ", " #b1 "\n\tlahf" : "+a"(ax) : : "cc", "memory"); \
        break;
#define REG8(b0, b1) REG(b0, b1 + 0) REG(b0, b1 + 1) REG(b0, b1 + 2) REG(b0, b1 + 3) \
    REG(b0, b1 + 4) REG(b0, b1 + 5) REG(b0, b1 + 6) REG(b0, b1 + 7)
#define REG64(b0) REG8(b0, 0xC0) REG8(b0, 0xC8) REG8(b0, 0xD0) REG8(b0, 0xD8) \
    REG8(b0, 0xE0) REG8(b0, 0xE8) REG8(b0, 0xF0) REG8(b0, 0xF8)

#define MEM(b0, r) \
    case ((b0) << 8 | ((r) << 3)): \
        __asm__ volatile(".byte " #b0 ", " #r " << 3" : : "a"(f->memory) : "cc", "memory"); \
        break;
#define MEM8(b0) MEM(b0, 0) MEM(b0, 1) MEM(b0, 2) MEM(b0, 3) MEM(b0, 4) MEM(b0, 5) MEM(b0, 6) MEM(b0, 7)

int cx87_exec(uint16_t instruction, cx87_frame *f) {
    uint16_t saved;
    uint64_t ax = (uint64_t)f->flags << 8;
    __asm__ volatile("fnstcw %0" : "=m"(saved));
    __asm__ volatile("frstor %0" : : "m"(*(const unsigned char (*)[108])f->image) : "memory");
    switch (instruction) {
    REG64(0xD8) REG64(0xD9) REG64(0xDA) REG64(0xDB) REG64(0xDC) REG64(0xDD) REG64(0xDE) REG64(0xDF)
    MEM8(0xD8) MEM8(0xD9) MEM8(0xDA) MEM8(0xDB) MEM8(0xDC) MEM8(0xDD) MEM8(0xDE) MEM8(0xDF)
    default:
        __asm__ volatile("fnsave %0\n\tfldcw %1" : "=m"(*(unsigned char (*)[108])f->image) : "m"(saved) : "memory");
        return 0;
    }
    __asm__ volatile("fnsave %0\n\tfldcw %1" : "=m"(*(unsigned char (*)[108])f->image) : "m"(saved) : "memory");
    f->flags = (uint8_t)(ax >> 8);
    return 1;
}

#else

int cx87_exec(uint16_t instruction, cx87_frame *f) {
    (void)instruction; (void)f;
    return 0;
}

#endif
