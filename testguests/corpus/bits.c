/* Integer and bit tricks: SWAR popcount, parity, bit reversal, bsr/bsf via
 * __builtin_clz/ctz, bswap, rotates, binary GCD, integer sqrt, 64-bit
 * arithmetic on a 32-bit CPU (adc/sbb, shld/shrd, mul), modular
 * exponentiation with 64/32 divl, Miller-Rabin, a sieve, Collatz. */
#include "corpus.h"

static uint32_t popcount32(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

static uint32_t popcount_loop(uint32_t x)
{
    uint32_t n = 0;
    while (x) {
        x &= x - 1;     /* clear lowest set bit */
        n++;
    }
    return n;
}

static uint32_t parity32(uint32_t x)
{
    x ^= x >> 16;
    x ^= x >> 8;
    x ^= x >> 4;
    return (0x6996u >> (x & 15)) & 1;
}

static uint32_t reverse_bits(uint32_t x)
{
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
    x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
    return (x >> 16) | (x << 16);
}

static uint32_t bswap_manual(uint32_t x)
{
    return (x >> 24) | ((x >> 8) & 0xFF00u) | ((x << 8) & 0xFF0000u) | (x << 24);
}

static uint32_t rotl(uint32_t x, unsigned r) { return (x << (r & 31)) | (x >> ((32 - r) & 31)); }

static uint32_t gcd_binary(uint32_t a, uint32_t b)
{
    if (!a) return b;
    if (!b) return a;
    int shift = __builtin_ctz(a | b);
    a >>= __builtin_ctz(a);
    do {
        b >>= __builtin_ctz(b);
        if (a > b) {
            uint32_t t = a;
            a = b;
            b = t;
        }
        b -= a;
    } while (b);
    return a << shift;
}

static uint32_t gcd_euclid(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static uint32_t isqrt32(uint32_t n)
{
    uint32_t root = 0, bit = 1u << 30;
    while (bit > n)
        bit >>= 2;
    while (bit) {
        if (n >= root + bit) {
            n -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

static uint32_t ilog2(uint32_t x) { return 31u - (uint32_t)__builtin_clz(x); }

static uint32_t mulmod(uint32_t a, uint32_t b, uint32_t m)
{
    uint32_t r;
    uint64_t p = (uint64_t)a * b;
    /* reduce the high word first so the divl quotient fits */
    udiv64_32(((uint64_t)((uint32_t)(p >> 32) % m) << 32) | (uint32_t)p, m, &r);
    return r;
}

static uint32_t powmod(uint32_t b, uint32_t e, uint32_t m)
{
    uint32_t r = 1 % m;
    b %= m;
    while (e) {
        if (e & 1)
            r = mulmod(r, b, m);
        b = mulmod(b, b, m);
        e >>= 1;
    }
    return r;
}

/* Deterministic for all 32-bit n with bases 2, 7, 61. */
static int is_prime32(uint32_t n)
{
    if (n < 2) return 0;
    static const uint32_t small[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37 };
    for (unsigned i = 0; i < sizeof small / sizeof small[0]; i++) {
        if (n == small[i]) return 1;
        if (n % small[i] == 0) return 0;
    }
    uint32_t d = n - 1, s = 0;
    while (!(d & 1)) {
        d >>= 1;
        s++;
    }
    static const uint32_t bases[] = { 2, 7, 61 };
    for (int i = 0; i < 3; i++) {
        if (bases[i] % n == 0)
            continue;
        uint32_t x = powmod(bases[i], d, n);
        if (x == 1 || x == n - 1)
            continue;
        int comp = 1;
        for (uint32_t r = 1; r < s; r++) {
            x = mulmod(x, x, n);
            if (x == n - 1) {
                comp = 0;
                break;
            }
        }
        if (comp)
            return 0;
    }
    return 1;
}

static uint8_t sieve[8192];

static uint32_t count_primes(uint32_t limit)
{
    cmemset(sieve, 1, limit);
    sieve[0] = sieve[1] = 0;
    for (uint32_t i = 2; i * i < limit; i++)
        if (sieve[i])
            for (uint32_t j = i * i; j < limit; j += i)
                sieve[j] = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < limit; i++)
        n += sieve[i];
    return n;
}

static uint32_t collatz_len(uint64_t n)
{
    uint32_t steps = 0;
    while (n != 1) {
        n = (n & 1) ? 3 * n + 1 : n >> 1;
        steps++;
    }
    return steps;
}

/* 64-bit helpers that compile to add/adc, sub/sbb, shld/shrd, mul chains. */
static uint64_t mul64(uint64_t a, uint64_t b) { return a * b; }
static int64_t smix64(int64_t a, int64_t b)
{
    int64_t r = a - b;
    if (r < 0)
        r = -r;
    return (r >> 3) ^ (a << 7) ^ (b >> 61);
}
static uint64_t shift64(uint64_t x, unsigned n) { return (x << (n & 63)) | (x >> ((64 - n) & 63)); }

uint32_t bits_selftest(void)
{
    uint32_t h = 0, bad = 0, s = 0xABCDEF;
    for (int i = 0; i < 500; i++) {
        uint32_t x = xs32(&s);
        uint32_t pc = popcount32(x);
        CHECK(pc == popcount_loop(x));
        CHECK(parity32(x) == (pc & 1));
        CHECK(reverse_bits(reverse_bits(x)) == x);
        CHECK(__builtin_bswap32(x) == bswap_manual(x));
        CHECK(rotl(rotl(x, i), 32 - (i & 31)) == x);
        uint32_t y = xs32(&s) >> (i & 15);
        CHECK(gcd_binary(x, y) == gcd_euclid(x, y));
        uint32_t r = isqrt32(x);
        CHECK((uint64_t)r * r <= x && (uint64_t)(r + 1) * (r + 1) > x);
        if (x)
            CHECK(ilog2(x) == 31u - (uint32_t)__builtin_clz(x) && (x >> ilog2(x)) == 1);
        h = mix32(h, pc * 0x1000 + r + __builtin_ctz(x | 0x80000000u));
        h = mix32(h, reverse_bits(x) ^ gcd_binary(x, y));
    }
    CHECK(powmod(2, 10, 1000) == 24 && powmod(3, 200, 1000000007u) == 136318165u);
    CHECK(is_prime32(4294967291u) && !is_prime32(4294967295u) && is_prime32(2147483647u));
    CHECK(!is_prime32(3215031751u));    /* strong pseudoprime to 2, 3, 5, 7 */
    uint32_t primes = 0;
    for (uint32_t n = 0; n < 3000; n++)
        primes += (uint32_t)is_prime32(n);
    CHECK(primes == count_primes(3000) && primes == 430);
    h = mix32(h, count_primes(8192));

    CHECK(collatz_len(27) == 111);
    uint32_t best = 0, arg = 0;
    for (uint32_t n = 1; n < 3000; n++) {
        uint32_t l = collatz_len(n);
        if (l > best) {
            best = l;
            arg = n;
        }
    }
    h = mix32(h, best * 65536 + arg);

    uint64_t a = 0x0123456789ABCDEFull, b = 0xFEDCBA9876543210ull;
    for (int i = 0; i < 64; i++) {
        a = mul64(a, b) + (uint64_t)i;
        b = shift64(b, (unsigned)i) ^ a;
        int64_t m = smix64((int64_t)a, (int64_t)b);
        CHECK((a + b) - b == a);
        h = mix32(h, (uint32_t)m ^ (uint32_t)((uint64_t)m >> 32));
    }
    uint32_t rem;
    uint64_t q = udiv64(0xFFFFFFFFFFFFFFFFull, 10, &rem);
    CHECK(q == 1844674407370955161ull && rem == 5);
    return h ^ (bad << 20);
}
