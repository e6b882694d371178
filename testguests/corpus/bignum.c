/* Fixed-capacity unsigned big integers with 32-bit limbs (little endian):
 * add/sub with carries (adc/sbb), schoolbook multiply with 64-bit products,
 * division by a small word via divl, shifts, comparison, decimal I/O.
 * Tested with 100!, 2^1000, Fibonacci numbers and a known-answer check. */
#include "corpus.h"

#define LIMBS 48   /* 1536 bits */

typedef struct {
    uint32_t n;            /* number of used limbs; 0 means zero */
    uint32_t d[LIMBS];
} big;

static void big_trim(big *a)
{
    while (a->n && a->d[a->n - 1] == 0)
        a->n--;
}

static void big_set(big *a, uint32_t v)
{
    a->n = v ? 1 : 0;
    a->d[0] = v;
}

static int big_cmp(const big *a, const big *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (uint32_t i = a->n; i-- > 0;)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static void big_add(big *r, const big *a, const big *b)
{
    uint32_t n = a->n > b->n ? a->n : b->n;
    uint64_t carry = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t s = carry;
        if (i < a->n) s += a->d[i];
        if (i < b->n) s += b->d[i];
        r->d[i] = (uint32_t)s;
        carry = s >> 32;
    }
    if (carry && n < LIMBS)
        r->d[n++] = (uint32_t)carry;
    r->n = n;
}

/* r = a - b, requires a >= b */
static void big_sub(big *r, const big *a, const big *b)
{
    uint32_t borrow = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        uint32_t bv = i < b->n ? b->d[i] : 0;
        uint32_t t = a->d[i] - bv;
        uint32_t nb = (a->d[i] < bv) | (t < borrow);
        r->d[i] = t - borrow;
        borrow = nb;
    }
    r->n = a->n;
    big_trim(r);
}

static void big_mul_small(big *a, uint32_t m, uint32_t add)
{
    uint64_t carry = add;
    for (uint32_t i = 0; i < a->n; i++) {
        uint64_t p = (uint64_t)a->d[i] * m + carry;
        a->d[i] = (uint32_t)p;
        carry = p >> 32;
    }
    if (carry && a->n < LIMBS)
        a->d[a->n++] = (uint32_t)carry;
}

static void big_mul(big *r, const big *a, const big *b)
{
    big t;
    uint32_t n = a->n + b->n;
    if (n > LIMBS)
        n = LIMBS;
    cmemset(t.d, 0, n * sizeof t.d[0]);
    for (uint32_t i = 0; i < a->n; i++) {
        uint64_t carry = 0;
        for (uint32_t j = 0; j < b->n && i + j < LIMBS; j++) {
            uint64_t p = (uint64_t)a->d[i] * b->d[j] + t.d[i + j] + carry;
            t.d[i + j] = (uint32_t)p;
            carry = p >> 32;
        }
        if (i + b->n < LIMBS)
            t.d[i + b->n] = (uint32_t)carry;
    }
    t.n = n;
    big_trim(&t);
    *r = t;
}

/* a /= d, returns remainder. Each step is one divl (hi(n) = rem < d). */
static uint32_t big_div_small(big *a, uint32_t d)
{
    uint32_t rem = 0;
    for (uint32_t i = a->n; i-- > 0;)
        a->d[i] = udiv64_32(((uint64_t)rem << 32) | a->d[i], d, &rem);
    big_trim(a);
    return rem;
}

static void big_shl(big *a, uint32_t bits)
{
    uint32_t words = bits / 32, sh = bits % 32;
    if (!a->n)
        return;
    uint32_t n = a->n + words + 1;
    if (n > LIMBS)
        n = LIMBS;
    for (uint32_t i = n; i-- > 0;) {
        uint32_t src = i - words;
        uint32_t hi = (i >= words && src < a->n) ? a->d[src] : 0;
        uint32_t lo = (i >= words + 1 && src - 1 < a->n) ? a->d[src - 1] : 0;
        a->d[i] = sh ? (hi << sh) | (lo >> (32 - sh)) : hi;
    }
    a->n = n;
    big_trim(a);
}

static void big_shr(big *a, uint32_t bits)
{
    uint32_t words = bits / 32, sh = bits % 32;
    if (words >= a->n) {
        a->n = 0;
        return;
    }
    for (uint32_t i = 0; i + words < a->n; i++) {
        uint32_t lo = a->d[i + words];
        uint32_t hi = i + words + 1 < a->n ? a->d[i + words + 1] : 0;
        a->d[i] = sh ? (lo >> sh) | (hi << (32 - sh)) : lo;
    }
    a->n -= words;
    big_trim(a);
}

/* Decimal conversion: peel off 9 digits at a time. */
static int big_to_dec(const big *a, char *out, int cap)
{
    big t = *a;
    char tmp[LIMBS * 10 + 1];
    int n = 0;
    if (!t.n)
        tmp[n++] = '0';
    while (t.n) {
        uint32_t chunk = big_div_small(&t, 1000000000u);
        for (int k = 0; k < 9; k++) {
            tmp[n++] = (char)('0' + chunk % 10);
            chunk /= 10;
            if (!t.n && !chunk)
                break;
        }
    }
    int len = n < cap - 1 ? n : cap - 1;
    for (int i = 0; i < len; i++)
        out[i] = tmp[n - 1 - i];
    out[len] = 0;
    return len;
}

static void big_from_dec(big *a, const char *s)
{
    big_set(a, 0);
    for (; *s; s++) {
        if (!a->n) {
            big_set(a, (uint32_t)(*s - '0'));
            continue;
        }
        big_mul_small(a, 10, (uint32_t)(*s - '0'));
    }
}

static uint32_t digit_sum(const char *s)
{
    uint32_t sum = 0;
    while (*s)
        sum += (uint32_t)(*s++ - '0');
    return sum;
}

static uint32_t hash_dec(uint32_t h, const char *s)
{
    while (*s)
        h = h * 131 + (uint8_t)*s++;
    return h;
}

uint32_t bignum_selftest(void)
{
    static char buf[LIMBS * 10 + 2];
    uint32_t h = 0, bad = 0;
    big a, b, c;

    /* 100! has digit sum 648 and 158 digits. */
    big_set(&a, 1);
    for (uint32_t i = 2; i <= 100; i++)
        big_mul_small(&a, i, 0);
    int len = big_to_dec(&a, buf, sizeof buf);
    CHECK(len == 158 && digit_sum(buf) == 648);
    h = hash_dec(h, buf);

    /* 2^1000 has digit sum 1366. */
    big_set(&b, 1);
    big_shl(&b, 1000);
    big_to_dec(&b, buf, sizeof buf);
    CHECK(digit_sum(buf) == 1366);
    h = hash_dec(h, buf);
    big_shr(&b, 999);
    CHECK(b.n == 1 && b.d[0] == 2);

    /* Known answer: 2^128 */
    big_set(&c, 1);
    big_shl(&c, 128);
    big_to_dec(&c, buf, sizeof buf);
    const char *p2_128 = "340282366920938463463374607431768211456";
    int eq = 1;
    for (int i = 0; p2_128[i] || buf[i]; i++)
        eq &= p2_128[i] == buf[i];
    CHECK(eq);

    /* Fibonacci: F(300), then check F(2n) = F(n) * (2F(n+1) - F(n)). */
    big f0, f1, t;
    big_set(&f0, 0);
    big_set(&f1, 1);
    for (int i = 0; i < 150; i++) {
        big_add(&t, &f0, &f1);
        f0 = f1;
        f1 = t;
    }
    big fn = f0, fn1 = f1;    /* F(150), F(151) */
    for (int i = 150; i < 300; i++) {
        big_add(&t, &f0, &f1);
        f0 = f1;
        f1 = t;
    }
    big two_fn1 = fn1, rhs;
    big_add(&two_fn1, &fn1, &fn1);
    big_sub(&two_fn1, &two_fn1, &fn);
    big_mul(&rhs, &fn, &two_fn1);
    CHECK(big_cmp(&rhs, &f0) == 0);
    big_to_dec(&f0, buf, sizeof buf);
    h = hash_dec(h, buf);

    /* Round trip through decimal and (a*b)/b == a via small divisors. */
    big_from_dec(&t, "123456789012345678901234567890123456789");
    big_to_dec(&t, buf, sizeof buf);
    CHECK(buf[0] == '1' && buf[38] == '9' && buf[39] == 0);
    big m = t;
    big_mul_small(&m, 4294967291u, 0);
    CHECK(big_div_small(&m, 4294967291u) == 0 && big_cmp(&m, &t) == 0);
    big_mul(&m, &t, &t);
    big_sub(&m, &m, &t);
    big_to_dec(&m, buf, sizeof buf);
    h = hash_dec(h, buf);
    CHECK(big_cmp(&m, &t) > 0 && big_cmp(&t, &m) < 0);
    return h ^ (bad << 20);
}
