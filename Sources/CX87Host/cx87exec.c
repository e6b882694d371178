#include "cx87host.h"
#include <stddef.h>

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
        __asm__ volatile(".byte " #b0 ", " #r " << 3" : : "a"(memory) : "cc", "memory"); \
        break;
#define MEM8(b0) MEM(b0, 0) MEM(b0, 1) MEM(b0, 2) MEM(b0, 3) MEM(b0, 4) MEM(b0, 5) MEM(b0, 6) MEM(b0, 7)

/// The instruction itself (the host FPU holds the state it works on). 0 if not an x87 encoding.
__attribute__((noinline))
static int run_instruction(uint16_t instruction, uint8_t *flags, unsigned char *memory) {
    uint64_t ax = (uint64_t)*flags << 8;
    switch (instruction) {
    REG64(0xD8) REG64(0xD9) REG64(0xDA) REG64(0xDB) REG64(0xDC) REG64(0xDD) REG64(0xDE) REG64(0xDF)
    MEM8(0xD8) MEM8(0xD9) MEM8(0xDA) MEM8(0xDB) MEM8(0xDC) MEM8(0xDD) MEM8(0xDE) MEM8(0xDF)
    default:
        return 0;
    }
    *flags = (uint8_t)(ax >> 8);
    return 1;
}

int cx87_exec(uint16_t instruction, cx87_frame *f) {
    uint16_t saved;
    __asm__ volatile("fnstcw %0" : "=m"(saved));
    __asm__ volatile("frstor %0" : : "m"(*(const unsigned char (*)[108])f->image) : "memory");
    int ran = run_instruction(instruction, &f->flags, f->memory);
    __asm__ volatile("fnsave %0\n\tfldcw %1" : "=m"(*(unsigned char (*)[108])f->image) : "m"(saved) : "memory");
    return ran;
}

static inline uint16_t tag_of(const unsigned char *r) {
    uint64_t significand;
    uint16_t se;
    __builtin_memcpy(&significand, r, 8);
    __builtin_memcpy(&se, r + 8, 2);
    uint16_t exponent = se & 0x7FFF;
    if (exponent == 0x7FFF) return 2;
    if (exponent == 0) return significand == 0 ? 1 : 2;
    return (significand >> 63) ? 0 : 2;
}

int cx87_fast_state(uint16_t instruction, cx87_state *g, int depth, int compare, unsigned char *memory, uint8_t *flags) {
    uint16_t saved, before, after;
    unsigned top = (g->status >> 11) & 7;
    __asm__ volatile("fnstcw %0\n\tfnstsw %%ax" : "=m"(saved), "=a"(before));
    if (before & ~g->status & 0x3F) __asm__ volatile("fnclex");
    __asm__ volatile("fldcw %0" : : "m"(g->control));
    for (int i = depth - 1; i >= 0; i--)
        __asm__ volatile("fldt %0" : : "m"(*(const unsigned char (*)[10])(g->registers + 16 * ((top + i) & 7))));
    int ran = run_instruction(instruction, flags, memory);
    __asm__ volatile("fnstsw %%ax" : "=a"(after));
    int count = (8 - ((after >> 11) & 7)) & 7;
    unsigned new_top = (top - (unsigned)(count - depth)) & 7;
    uint16_t tags = g->tags;
    for (int i = 0; i < depth - count; i++) tags |= (uint16_t)(3u << (2 * ((top + i) & 7)));
    for (int i = 0; i < count; i++) {
        unsigned char *r = g->registers + 16 * ((new_top + i) & 7);
        __asm__ volatile("fstpt %0" : "=m"(*(unsigned char (*)[10])r) : : "memory");
        unsigned shift = 2 * ((new_top + i) & 7);
        tags = (uint16_t)((tags & ~(3u << shift)) | (tag_of(r) << shift));
    }
    __asm__ volatile("fldcw %0" : : "m"(saved));
    // C1 is the instruction's; C0, C2, C3 only for compares (elsewhere the host's are whatever
    // it last left, so the guest's stay). Every exception is masked: ES and B stay clear.
    uint16_t codes = compare ? 0x4700 : 0x0200;
    uint16_t status = (uint16_t)((g->status & ~(codes | 0x3800)) | (after & codes) | (new_top << 11) | (after & 0x3F));
    // Status and tags in one 32-bit store: the caller reads them back as one 32-bit load, which
    // two 16-bit stores could not forward to (a store-forwarding stall, 8% of an x87 loop).
    uint32_t both = (uint32_t)status | (uint32_t)tags << 16;
    __builtin_memcpy(&g->status, &both, 4);
    return ran;
}

#else

int cx87_exec(uint16_t instruction, cx87_frame *f) {
    (void)instruction; (void)f;
    return 0;
}

int cx87_fast_state(uint16_t instruction, cx87_state *g, int depth, int compare, unsigned char *memory, uint8_t *flags) {
    (void)instruction; (void)g; (void)depth; (void)compare; (void)memory; (void)flags;
    return 0;
}

#endif
