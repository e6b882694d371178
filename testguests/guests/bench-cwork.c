/* bench-cwork: a benchmark of ordinary compiled C integer code for `make
 * bench` (Benchmarks/peers/run-peers.sh), compiled like cwork (-O2
 * -march=i686 -minline-all-stringops, plus -mgeneral-regs-only so no x87/SSE
 * can creep in). It runs ITERATIONS rounds; each round derives its data from
 * the round number and the checksum so far (nothing can be hoisted out of
 * the loop, no two rounds are alike) and does a little of everything gcc
 * emits for plain C: an insertion sort of int16_t (movsx, setcc), an
 * open-addressing hash table (cleared with rep stos every 16 rounds),
 * decimal/hex/any-base formatting and parsing back (division by constants
 * and by a variable, movzx), a table-driven CRC-32, a switch bytecode
 * interpreter (jump table), a 16-bit-limb bignum multiplied and divided by
 * constants plus 32x32->64 multiplies, indirect calls (signed division,
 * shifts), and 64-byte struct copies (rep movs, cmov) with FNV-1a. About
 * 3,000 instructions a round (2,995 on average: 100,000 rounds run
 * 299,414,138 instructions, 1,000 rounds 2,936,787).
 *
 * Every result is folded into one checksum, compared with the value this
 * same file computes when built natively on the host for the same count:
 * `make -C testguests host-check` builds it for both counts the Makefile
 * uses and fails unless each prints "ok". Output: TAP with "# iterations: N"
 * (read by run-peers.sh); exit code 0 only if the checksum matches. Needs
 * only serial output + port 0xF4 (no descriptor tables, no paging). */
#include "runtime.h"

#ifndef ITERATIONS
#define ITERATIONS 100000u
#endif

/* Checksums of a whole run, from the native build (make host-check). */
static const struct {
    uint32_t iterations;
    uint32_t checksum;
} expected[] = {
    { 100000u, 0xb2b7569fu },
    { 1000u, 0x4ce8c303u },
};

static uint32_t rotl(uint32_t v, unsigned s)
{
    return (v << (s & 31)) | (v >> ((32 - s) & 31));
}

static uint32_t fold(uint32_t acc, uint32_t v)
{
    return rotl(acc ^ v, 7) * 0x01000193u + 0x7F4A7C15u;
}

static uint32_t xorshift(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* ---- insertion sort of signed shorts ---- */

#define SORT_N 8
static int16_t sort_buf[SORT_N];

static uint32_t sort_work(uint32_t seed)
{
    uint32_t s = seed | 1;
    for (int i = 0; i < SORT_N; i++)
        sort_buf[i] = (int16_t)xorshift(&s);
    for (int i = 1; i < SORT_N; i++) {
        int16_t key = sort_buf[i];
        int j = i - 1;
        while (j >= 0 && sort_buf[j] > key) {
            sort_buf[j + 1] = sort_buf[j];
            j--;
        }
        sort_buf[j + 1] = key;
    }
    uint32_t acc = 0, unsorted = 0;
    for (int i = 0; i < SORT_N; i++) {
        acc = acc * 31 + (uint32_t)(int32_t)sort_buf[i];
        if (i)
            unsorted += sort_buf[i - 1] > sort_buf[i];
    }
    return acc + (unsorted << 24);
}

/* ---- open-addressing hash table ---- */

struct slot {
    uint32_t key;
    uint16_t val;
    uint8_t used;
    uint8_t hits;
};

#define TABLE_N 64
static struct slot table[TABLE_N];

static uint32_t slot_of(uint32_t key)
{
    return (key ^ (key >> 16) ^ (key >> 7)) & (TABLE_N - 1);
}

static uint32_t hash_work(uint32_t seed, uint32_t round)
{
    if ((round & 15) == 0)
        __builtin_memset(table, 0, sizeof table);
    /* At most 45 distinct keys between clears: the table never fills. */
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t key = ((seed >> (i * 8)) % 45u + 1) * 2654435761u;
        uint32_t h = slot_of(key);
        while (table[h].used && table[h].key != key)
            h = (h + 1) & (TABLE_N - 1);
        if (!table[h].used) {
            table[h].used = 1;
            table[h].key = key;
            table[h].val = (uint16_t)(seed + i);
            table[h].hits = 0;
        } else {
            table[h].val = (uint16_t)(table[h].val + i * 3 + 1);
            table[h].hits++;
        }
    }
    uint32_t acc = 0, probe_seed = seed * 7u + 3u;
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t key = ((probe_seed >> (i * 8)) % 50u + 1) * 2654435761u;
        uint32_t h = slot_of(key), probes = 1;
        while (table[h].used && table[h].key != key) {
            h = (h + 1) & (TABLE_N - 1);
            probes++;
        }
        if (table[h].used)
            acc = acc * 17 + table[h].val + ((uint32_t)table[h].hits << 16);
        else
            acc = acc * 13 + probes;
    }
    return acc;
}

/* ---- formatting and parsing ---- */

static void reverse(char *s, uint32_t n)
{
    for (uint32_t i = 0, j = n ? n - 1 : 0; i < j; i++, j--) {
        char t = s[i];
        s[i] = s[j];
        s[j] = t;
    }
}

static uint32_t utoa(uint32_t v, char *out, uint32_t base)
{
    uint32_t n = 0;
    do {
        out[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % base];
        v /= base;
    } while (v);
    reverse(out, n);
    return n;
}

static uint32_t utoa10(uint32_t v, char *out)
{
    uint32_t n = 0;
    do {
        out[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    reverse(out, n);
    return n;
}

static int digit_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    return 99;
}

/* strtoul-like: digits of BASE from *p on; *p is left after them. */
static uint32_t parse_uint(const char **p, uint32_t base)
{
    const uint8_t *s = (const uint8_t *)*p;
    uint32_t v = 0;
    int d;
    while ((d = digit_value(*s)) < (int)base) {
        v = v * base + (uint32_t)d;
        s++;
    }
    *p = (const char *)s;
    return v;
}

static int32_t parse_int(const char **p)
{
    int neg = 0;
    if (**p == '-' || **p == '+')
        neg = *(*p)++ == '-';
    uint32_t v = parse_uint(p, 10);
    return (int32_t)(neg ? 0u - v : v);
}

static char text[64];

/* Formats "r<round>:<hex>,<signed dec>/<base>_<digits>" into text, parses
 * it back and returns the length; *check gets the parse results. */
static uint32_t format_work(uint32_t seed, uint32_t round, uint32_t *check)
{
    uint32_t n = 0, base = 8 + seed % 29u;
    int32_t sv = (int32_t)(seed ^ (seed >> 9)) >> (8 + (seed & 7));
    text[n++] = 'r';
    n += utoa10(round, text + n);
    text[n++] = ':';
    n += utoa(seed, text + n, 16);
    text[n++] = ',';
    if (sv < 0)
        text[n++] = '-';
    n += utoa10(sv < 0 ? 0u - (uint32_t)sv : (uint32_t)sv, text + n);
    text[n++] = '/';
    n += utoa10(base, text + n);
    text[n++] = '_';
    n += utoa(seed >> 12, text + n, base);
    text[n] = 0;

    const char *p = text + 1;
    uint32_t r = parse_uint(&p, 10);
    p++;
    uint32_t h = parse_uint(&p, 16);
    p++;
    int32_t s = parse_int(&p);
    p++;
    uint32_t b = parse_uint(&p, 10);
    p++;
    uint32_t x = parse_uint(&p, b);
    uint32_t bad = (r != round) + (h != seed) + (s != sv) + (b != base) + (x != seed >> 12) + (*p != 0);
    *check = r ^ rotl(h, 3) ^ (uint32_t)s ^ (b << 24) ^ rotl(x, 11) ^ (bad << 28);
    return n;
}

/* ---- CRC-32 (table-driven) and FNV-1a over the formatted text ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const char *s, uint32_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < n; i++)
        c = crc_table[(c ^ (uint8_t)s[i]) & 0xFF] ^ (c >> 8);
    return ~c;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

/* ---- switch bytecode interpreter ---- */

enum op { OP_PUSH, OP_ADD, OP_SUB, OP_MUL, OP_DUP, OP_SWAP, OP_SHL, OP_XOR, OP_JNZ, OP_DEC, OP_ROT, OP_HALT };

static uint32_t run_vm(const uint8_t *code, uint32_t a, uint32_t n)
{
    uint32_t st[16];
    int sp = 0;
    uint32_t pc = 0, steps = 0;
    st[sp++] = a;
    st[sp++] = n;
    for (;;) {
        steps++;
        switch ((enum op)code[pc++]) {
        case OP_PUSH: st[sp++] = code[pc++]; break;
        case OP_ADD:  sp--; st[sp - 1] += st[sp]; break;
        case OP_SUB:  sp--; st[sp - 1] -= st[sp]; break;
        case OP_MUL:  sp--; st[sp - 1] *= st[sp]; break;
        case OP_DUP:  st[sp] = st[sp - 1]; sp++; break;
        case OP_SWAP: { uint32_t t = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = t; break; }
        case OP_SHL:  sp--; st[sp - 1] <<= st[sp] & 31; break;
        case OP_XOR:  sp--; st[sp - 1] ^= st[sp]; break;
        case OP_JNZ:  { uint8_t t = code[pc++]; if (st[sp - 1]) pc = t; break; }
        case OP_DEC:  st[sp - 1]--; break;
        case OP_ROT:  st[sp - 1] = rotl(st[sp - 1], code[pc++]); break;
        case OP_HALT: return st[0] + steps;
        default:      return 0xBAD;
        }
    }
}

static uint32_t vm_work(uint32_t seed)
{
    /* [a n]: do { a = rotl(((a * 3) ^ (a << 2)) - 5, 3); } while (--n); */
    static const uint8_t prog[] = {
        OP_SWAP, OP_DUP, OP_PUSH, 3, OP_MUL,   /* 0: [n a a*3]   */
        OP_SWAP, OP_PUSH, 2, OP_SHL, OP_XOR,   /* 5: [n x]       */
        OP_PUSH, 5, OP_SUB, OP_ROT, 3,         /* 10: [n x']     */
        OP_SWAP, OP_DEC, OP_JNZ, 0,            /* 15: while --n  */
        OP_HALT,                               /* 19: a + steps  */
    };
    return run_vm(prog, seed, 1 + (seed >> 31));
}

/* ---- bignum: 16-bit limbs, multiply and divide by constants ---- */

#define LIMBS 6

static uint32_t big_work(uint32_t seed)
{
    uint32_t limb[LIMBS];
    uint32_t s = seed | 1;
    for (int i = 0; i < LIMBS; i++)
        limb[i] = xorshift(&s) & 0xFFFF;
    uint32_t m = (seed >> 16) | 1, carry = 0;
    for (int i = 0; i < LIMBS; i++) {
        uint32_t t = limb[i] * m + carry;
        limb[i] = t & 0xFFFF;
        carry = t >> 16;
    }
    uint32_t r10 = 0, r1000 = 0;
    for (int i = LIMBS - 1; i >= 0; i--) {
        uint32_t cur = (r10 << 16) | limb[i];
        limb[i] = cur / 10;
        r10 = cur % 10;
    }
    for (int i = LIMBS - 1; i >= 0; i--) {
        uint32_t cur = (r1000 << 16) | limb[i];
        limb[i] = cur / 1000;
        r1000 = cur % 1000;
    }
    uint32_t acc = carry ^ (r10 << 4) ^ (r1000 << 12);
    for (int i = 0; i < LIMBS; i++)
        acc = acc * 65599u + limb[i];
    uint32_t a = xorshift(&s), b = xorshift(&s);
    uint64_t p = (uint64_t)a * b;
    return acc ^ (uint32_t)(p >> 32) ^ rotl((uint32_t)p, 13);
}

/* ---- indirect calls ---- */

static uint32_t f_sq(uint32_t x) { return x * x + 1; }
static uint32_t f_tri(uint32_t x) { return x * (x + 1) / 2; }
static uint32_t f_mod(uint32_t x) { return x % 97 + x / 13; }
static uint32_t f_sdiv(uint32_t x) { return (uint32_t)((int32_t)x / -9 + (int32_t)x % 7); }
static uint32_t f_bits(uint32_t x) { return (x ^ (x >> 3)) & ~(x << 5); }
static uint32_t (*const funcs[])(uint32_t) = { f_sq, f_tri, f_mod, f_sdiv, f_bits };

static uint32_t call_work(uint32_t seed)
{
    uint32_t acc = seed;
    for (uint32_t i = 0; i < 3; i++) {
        acc += funcs[((seed >> (i * 3)) & 0xFF) % 5u](acc ^ (seed >> i));
        acc ^= acc >> 7;
    }
    return acc;
}

/* ---- 64-byte records: struct copies (rep movs) ---- */

struct rec {
    char name[20];
    int32_t score;
    uint16_t id;
    int16_t delta;
    uint8_t kind;
    uint8_t pad[35];
};

static struct rec recs[8];

static uint32_t rec_work(uint32_t seed, uint32_t len)
{
    struct rec r = recs[seed & 7];
    r.score = (int32_t)((uint32_t)r.score + (seed >> 20) - 2048u);
    r.delta = (int16_t)(r.score / 3);
    r.id = (uint16_t)(r.id * 5 + 1);
    r.kind = (uint8_t)(seed % 5u);
    if (len > 11)
        len = 11;
    for (uint32_t i = 0; i < len; i++)
        r.name[i] = text[i];
    r.name[len] = 0;
    recs[(seed >> 3) & 7] = r;
    return (uint32_t)r.score ^ ((uint32_t)r.id << 8) ^ (uint32_t)r.delta ^ ((uint32_t)r.kind << 24) ^
           fnv1a(r.name);
}

/* ---- main ---- */

static uint32_t bench(uint32_t rounds)
{
    uint32_t acc = 0x2545F491u;
    for (uint32_t round = 0; round < rounds; round++) {
        uint32_t seed = (round + 1) * 0x9E3779B9u ^ (acc >> 5);
        uint32_t parsed;
        acc = fold(acc, sort_work(seed));
        acc = fold(acc, hash_work(seed, round));
        uint32_t len = format_work(seed, round, &parsed);
        acc = fold(acc, parsed);
        acc = fold(acc, crc32(text, len));
        acc = fold(acc, vm_work(seed));
        acc = fold(acc, big_work(seed));
        acc = fold(acc, call_work(acc));
        acc = fold(acc, rec_work(seed, len));
    }
    return acc;
}

static void hex_into(char *out, uint32_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
}

int guest_main(void)
{
    puts("x86v-guest: bench-cwork\n");
    tap_plan(1);
    puts("# iterations: ");
    putDec(ITERATIONS);
    putc('\n');

    crc_init();
    uint32_t sum = bench(ITERATIONS);

    int known = 0;
    uint32_t want = 0;
    for (uint32_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (expected[i].iterations == ITERATIONS) {
            known = 1;
            want = expected[i].checksum;
        }
    if (!known)
        puts("# no expected checksum for this count (add it from make -C testguests host-check)\n");
    else if (sum != want) {
        puts("# expected 0x");
        putHex32(want);
        putc('\n');
    }
    static char desc[] = "checksum 0x........";
    hex_into(desc + 11, sum);
    tap_ok(known && sum == want, desc);
    puts("# bench-cwork done\n");   /* bochs/run-bochs.sh stops here */
    return tap_exit_code();
}
