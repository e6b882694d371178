/* Shared declarations for the compiled C corpus.
 *
 * Every module is plain freestanding C compiled five times (see Makefile:
 * -O0/-O2/-Os -march=i686, -O2 -march=pentium3, -O3 -march=pentium4 with
 * SSE2 math). Each module exports NAME_selftest() returning a checksum that
 * must be identical in every variant and equal to a native host build.
 * Rules that keep it linkable without libgcc and deterministic:
 *  - no 64-bit / or %: use udiv64() below (inline divl)
 *  - no __builtin_popcount, no float<->64-bit integer conversions
 *  - floating point only as double (x87 runs with 53-bit precision control,
 *    so x87 and SSE2 builds round identically), no libm calls. */
#ifndef CORPUS_H
#define CORPUS_H

#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>

/* -ffreestanding implies -fno-builtin; ask for the builtins explicitly so
 * gcc can inline small copies (or call the runtime's memcpy/memset). */
#define cmemcpy  __builtin_memcpy
#define cmemset  __builtin_memset
#define cmemmove __builtin_memmove
#define cmemcmp  __builtin_memcmp

/* 64-by-32 division whose quotient fits in 32 bits (hi(n) < d). */
static inline uint32_t udiv64_32(uint64_t n, uint32_t d, uint32_t *rem)
{
    uint32_t q, r;
    __asm__("divl %4" : "=a"(q), "=d"(r)
            : "a"((uint32_t)n), "d"((uint32_t)(n >> 32)), "rm"(d));
    if (rem)
        *rem = r;
    return q;
}

/* Full 64-by-32 division in two divl steps. */
static inline uint64_t udiv64(uint64_t n, uint32_t d, uint32_t *rem)
{
    uint32_t hi = (uint32_t)(n >> 32), r;
    uint32_t qhi = hi / d;
    uint32_t qlo = udiv64_32(((uint64_t)(hi % d) << 32) | (uint32_t)n, d, &r);
    if (rem)
        *rem = r;
    return ((uint64_t)qhi << 32) | qlo;
}

/* Small deterministic PRNG shared by the self tests. */
static inline uint32_t xs32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static inline uint32_t mix32(uint32_t h, uint32_t v)
{
    h ^= v + 0x9E3779B9u + (h << 6) + (h >> 2);
    return h;
}

/* Self-test assertion: counts into a local `bad`. A native host build
 * with -DCORPUS_HOST_DEBUG also reports where it failed. */
#ifdef CORPUS_HOST_DEBUG
int printf(const char *, ...);
#define CHECK(c) do { if (!(c)) { bad++; printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)
#else
#define CHECK(c) do { if (!(c)) bad++; } while (0)
#endif

/* X-macro list of modules: order = order of results. */
#define CORPUS_MODULES(X) \
    X(fmt) X(sort) X(hash) X(bignum) X(regex) X(crypto) \
    X(matrix) X(strings) X(lz) X(vm) X(bits) X(tree)

#define DECLARE_SELFTEST(m) uint32_t m##_selftest(void);
CORPUS_MODULES(DECLARE_SELFTEST)
#undef DECLARE_SELFTEST

#define COUNT_ONE(m) +1
enum { CORPUS_NMODULES = 0 CORPUS_MODULES(COUNT_ONE) };
#undef COUNT_ONE

/* fmt.c's formatter, also used by other modules. */
int cfmt(char *buf, size_t cap, const char *fmt, ...);
int cvfmt(char *buf, size_t cap, const char *fmt, va_list ap);

#endif
