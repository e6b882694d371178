/* cwork: ordinary compiled C (-O2 -march=i686 -minline-all-stringops) so the
 * guest executes what gcc really emits: jump tables, movzx/movsx, imul,
 * shifts, setcc, cmov, rep movs/stos, division by constants (mul magic),
 * indirect calls. Each result is checked against a value computed by the
 * same code built natively on the host (make host-check prints them).
 * Needs only serial output + port 0xF4.  */
#include "runtime.h"

/* ---- strings ---- */

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
    out[n] = 0;
    reverse(out, n);
    return n;
}

static int32_t parse_int(const char *s)
{
    int neg = 0;
    int32_t v = 0;
    while (*s == ' ')
        s++;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    return neg ? -v : v;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static uint32_t string_work(void)
{
    static const char *const words[] = {
        "alpha", "  -12345", "+987", "Hello, World", "x86v", "", "zebra", "42",
    };
    char buf[40];
    uint32_t acc = 0;
    for (uint32_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        acc = acc * 31 + fnv1a(words[i]);
        acc += (uint32_t)parse_int(words[i]);
        acc ^= (uint32_t)strlen(words[i]) << (i & 7);
    }
    for (uint32_t base = 2; base <= 36; base += 5) {
        uint32_t n = utoa(0xDEADBEEFu / base, buf, base);
        acc = acc * 33 + n + fnv1a(buf);
    }
    /* Upper-casing with a table lookup on unsigned chars (movzx). */
    static const char text[] = "The quick brown fox jumps over the lazy dog 0123456789";
    uint8_t up[sizeof text];
    for (uint32_t i = 0; i < sizeof text; i++) {
        uint8_t c = (uint8_t)text[i];
        up[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
    }
    return acc ^ fnv1a((const char *)up);
}

/* ---- arrays: movsx/movzx, setcc, cmov, shifts, imul ---- */

static int8_t sbytes[256];
static uint8_t ubytes[256];
static int16_t shorts[256];

static uint32_t array_work(void)
{
    uint32_t x = 1;
    for (int i = 0; i < 256; i++) {
        x = x * 1103515245u + 12345u;
        sbytes[i] = (int8_t)(x >> 16);
        ubytes[i] = (uint8_t)(x >> 8);
        shorts[i] = (int16_t)(x >> 13);
    }
    int32_t ssum = 0, smin = 0x7FFFFFFF, smax = -0x7FFFFFFF - 1;
    uint32_t usum = 0, less = 0, shifted = 0;
    for (int i = 0; i < 256; i++) {
        int32_t v = sbytes[i] * shorts[i];          /* movsx + imul */
        ssum += v;
        smin = v < smin ? v : smin;                  /* cmov */
        smax = v > smax ? v : smax;
        usum += ubytes[i];                           /* movzx */
        less += sbytes[i] < (int8_t)ubytes[i];       /* setcc */
        shifted ^= ((uint32_t)shorts[i] << (ubytes[i] & 31)) |
                   (uint32_t)((int32_t)shorts[i] >> (i & 15));   /* shl/sar cl */
    }
    return (uint32_t)ssum ^ ((uint32_t)smin * 3) ^ ((uint32_t)smax << 1) ^
           (usum << 8) ^ (less << 20) ^ shifted;
}

/* ---- structs: copies (rep movs), clears (rep stos), sorting ---- */

struct rec {
    char name[24];
    int32_t score;
    uint16_t id;
    int16_t delta;
    uint8_t kind;
    uint8_t pad[27];     /* 64-byte records make gcc copy them in blocks */
};

static struct rec recs[24];

static uint32_t struct_work(void)
{
    __builtin_memset(recs, 0, sizeof recs);
    for (uint32_t i = 0; i < 24; i++) {
        struct rec r;
        __builtin_memset(&r, 0, sizeof r);
        r.id = (uint16_t)(i * 7 + 1);
        r.score = (int32_t)((i * 2654435761u) >> 20) - 2048;
        r.delta = (int16_t)(r.score / 3);
        r.kind = (uint8_t)(i % 5);
        utoa(r.id * 1000u + i, r.name, 10);
        recs[i] = r;                                  /* struct copy */
    }
    /* Insertion sort by score, ties by id: whole-struct moves. */
    for (int i = 1; i < 24; i++) {
        struct rec key = recs[i];
        int j = i - 1;
        while (j >= 0 && (recs[j].score > key.score ||
                          (recs[j].score == key.score && recs[j].id > key.id))) {
            recs[j + 1] = recs[j];
            j--;
        }
        recs[j + 1] = key;
    }
    uint32_t acc = 0;
    for (int i = 0; i < 24; i++)
        acc = acc * 131 + recs[i].id + (uint32_t)recs[i].delta + fnv1a(recs[i].name) + recs[i].kind;
    return acc;
}

/* ---- switch: dense cases become a jump table ---- */

enum op { OP_PUSH, OP_ADD, OP_SUB, OP_MUL, OP_DUP, OP_SWAP, OP_SHL, OP_XOR, OP_JNZ, OP_DEC, OP_HALT };

static uint32_t run_vm(const uint8_t *code)
{
    uint32_t st[16];
    int sp = 0;
    uint32_t pc = 0, steps = 0;
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
        case OP_HALT: return st[0] + steps;
        default:      return 0xBAD;
        }
    }
}

static uint32_t vm_work(void)
{
    /* acc = 1; n = 20; do { acc = ((acc * 3) ^ (acc << 2)) - 5; } while (--n); */
    static const uint8_t prog[] = {
        OP_PUSH, 1, OP_PUSH, 20,               /* 0: [acc n]               */
        OP_SWAP, OP_DUP, OP_PUSH, 3, OP_MUL,   /* 4: [n acc acc*3]         */
        OP_SWAP, OP_PUSH, 2, OP_SHL, OP_XOR,   /* 9: [n x]                 */
        OP_PUSH, 5, OP_SUB, OP_SWAP,           /* 14: [x-5 n]              */
        OP_DEC, OP_JNZ, 4,                     /* 18: loop while --n       */
        OP_HALT,                               /* 21: st[0] + steps        */
    };
    return run_vm(prog);
}

/* ---- function pointers and a divide-heavy loop ---- */

static uint32_t f_sq(uint32_t x) { return x * x; }
static uint32_t f_tri(uint32_t x) { return x * (x + 1) / 2; }
static uint32_t f_mod(uint32_t x) { return x % 97 + x / 13; }
static uint32_t (*const funcs[])(uint32_t) = { f_sq, f_tri, f_mod };

static uint32_t call_work(void)
{
    uint32_t acc = 7;
    for (uint32_t i = 0; i < 300; i++) {
        acc += funcs[i % 3](i ^ acc);                 /* indirect call */
        acc ^= acc >> 7;
        if (i % 7 == 0)
            acc += (uint32_t)((int32_t)acc / -9);     /* signed division */
    }
    return acc;
}

/* ---- main ---- */

struct check {
    const char *name;
    uint32_t (*fn)(void);
    uint32_t expect;     /* from a native host build (make host-check) */
};

static const struct check checks[] = {
    { "strings (utoa, parse, fnv1a, toupper)", string_work, 0x4b20be0cu },
    { "arrays (movsx, movzx, setcc, cmov, shifts)", array_work, 0x1a8749acu },
    { "structs (copy, memset, insertion sort)", struct_work, 0x03da231fu },
    { "switch jump table bytecode VM", vm_work, 0x41000148u },
    { "indirect calls and division", call_work, 0x5551fb36u },
};

int guest_main(void)
{
    puts("x86v-guest: cwork\n");
    tap_plan((int)(sizeof checks / sizeof checks[0]));
    for (uint32_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        uint32_t v = checks[i].fn();
        puts("# ");
        puts(checks[i].name);
        puts(" = 0x");
        putHex32(v);
        putc('\n');
        tap_ok(v == checks[i].expect, checks[i].name);
    }
    return tap_exit_code();
}
