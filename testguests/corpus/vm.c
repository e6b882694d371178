/* Interpreters: a register+stack bytecode VM dispatched by a dense switch
 * (jump table), and a recursive-descent parser that compiles arithmetic
 * expressions with variables into that bytecode. */
#include "corpus.h"

enum {
    I_HALT, I_PUSHI, I_LOAD, I_STORE, I_ADD, I_SUB, I_MUL, I_DIV, I_MOD,
    I_AND, I_OR, I_XOR, I_SHL, I_SHR, I_NEG, I_NOT, I_LT, I_EQ, I_JMP,
    I_JZ, I_DUP, I_POP, I_CALL, I_RET, I_PRINT, I_NOP,
};

struct vm {
    int32_t stack[64];
    int32_t vars[16];
    uint32_t rstack[16];
    int sp, rsp;
    uint32_t out_hash, steps, prints;
};

static int32_t vm_run(struct vm *m, const uint8_t *code, uint32_t len)
{
    uint32_t pc = 0;
    m->sp = m->rsp = 0;
    while (pc < len) {
        uint8_t op = code[pc++];
        int32_t a, b;
        m->steps++;
        switch (op) {
        case I_HALT: return m->sp ? m->stack[m->sp - 1] : 0;
        case I_PUSHI:
            m->stack[m->sp++] = (int32_t)((uint32_t)code[pc] | (uint32_t)code[pc + 1] << 8 |
                                          (uint32_t)code[pc + 2] << 16 | (uint32_t)code[pc + 3] << 24);
            pc += 4;
            break;
        case I_LOAD: m->stack[m->sp++] = m->vars[code[pc++] & 15]; break;
        case I_STORE: m->vars[code[pc++] & 15] = m->stack[--m->sp]; break;
        case I_ADD: b = m->stack[--m->sp]; m->stack[m->sp - 1] += b; break;
        case I_SUB: b = m->stack[--m->sp]; m->stack[m->sp - 1] -= b; break;
        case I_MUL: b = m->stack[--m->sp]; m->stack[m->sp - 1] *= b; break;
        case I_DIV:
            b = m->stack[--m->sp];
            a = m->stack[m->sp - 1];
            m->stack[m->sp - 1] = b ? a / b : 0;   /* idiv */
            break;
        case I_MOD:
            b = m->stack[--m->sp];
            a = m->stack[m->sp - 1];
            m->stack[m->sp - 1] = b ? a % b : 0;
            break;
        case I_AND: b = m->stack[--m->sp]; m->stack[m->sp - 1] &= b; break;
        case I_OR:  b = m->stack[--m->sp]; m->stack[m->sp - 1] |= b; break;
        case I_XOR: b = m->stack[--m->sp]; m->stack[m->sp - 1] ^= b; break;
        case I_SHL: b = m->stack[--m->sp]; m->stack[m->sp - 1] = (int32_t)((uint32_t)m->stack[m->sp - 1] << (b & 31)); break;
        case I_SHR: b = m->stack[--m->sp]; m->stack[m->sp - 1] >>= (b & 31); break;
        case I_NEG: m->stack[m->sp - 1] = (int32_t)(0u - (uint32_t)m->stack[m->sp - 1]); break;
        case I_NOT: m->stack[m->sp - 1] = !m->stack[m->sp - 1]; break;
        case I_LT: b = m->stack[--m->sp]; m->stack[m->sp - 1] = m->stack[m->sp - 1] < b; break;
        case I_EQ: b = m->stack[--m->sp]; m->stack[m->sp - 1] = m->stack[m->sp - 1] == b; break;
        case I_JMP: pc = code[pc] | (uint32_t)code[pc + 1] << 8; break;
        case I_JZ:
            if (m->stack[--m->sp] == 0)
                pc = code[pc] | (uint32_t)code[pc + 1] << 8;
            else
                pc += 2;
            break;
        case I_DUP: m->stack[m->sp] = m->stack[m->sp - 1]; m->sp++; break;
        case I_POP: m->sp--; break;
        case I_CALL:
            m->rstack[m->rsp++] = pc + 2;
            pc = code[pc] | (uint32_t)code[pc + 1] << 8;
            break;
        case I_RET: pc = m->rstack[--m->rsp]; break;
        case I_PRINT: m->out_hash = mix32(m->out_hash, (uint32_t)m->stack[--m->sp]); m->prints++; break;
        case I_NOP: break;
        default: return -1;
        }
        if (m->sp < 0 || m->sp > 60 || m->rsp < 0 || m->rsp > 15)
            return -2;
    }
    return -3;
}

/* ---- expression compiler ----
 * expr := cmp ; cmp := sum ('<' sum | '==' sum)* ; sum := term (('+'|'-'|'|'|'^') term)*
 * term := unary (('*'|'/'|'%'|'&'|'<<'|'>>') unary)* ; unary := '-' unary | '!' unary | atom
 * atom := number | var [a-p] | '(' expr ')' */

struct cc {
    const char *p;
    uint8_t *code;
    uint32_t len, cap;
    int err;
};

static void cc_emit(struct cc *c, uint8_t b)
{
    if (c->len < c->cap)
        c->code[c->len++] = b;
    else
        c->err = 1;
}

static void cc_skip(struct cc *c)
{
    while (*c->p == ' ')
        c->p++;
}

static void cc_expr(struct cc *c);

static void cc_atom(struct cc *c)
{
    cc_skip(c);
    char ch = *c->p;
    if (ch >= '0' && ch <= '9') {
        uint32_t v = 0;
        while (*c->p >= '0' && *c->p <= '9')
            v = v * 10 + (uint32_t)(*c->p++ - '0');
        cc_emit(c, I_PUSHI);
        for (int i = 0; i < 4; i++)
            cc_emit(c, (uint8_t)(v >> (8 * i)));
    } else if (ch >= 'a' && ch <= 'p') {
        c->p++;
        cc_emit(c, I_LOAD);
        cc_emit(c, (uint8_t)(ch - 'a'));
    } else if (ch == '(') {
        c->p++;
        cc_expr(c);
        cc_skip(c);
        if (*c->p == ')')
            c->p++;
        else
            c->err = 1;
    } else {
        c->err = 1;
    }
}

static void cc_unary(struct cc *c)
{
    cc_skip(c);
    if (*c->p == '-') {
        c->p++;
        cc_unary(c);
        cc_emit(c, I_NEG);
    } else if (*c->p == '!') {
        c->p++;
        cc_unary(c);
        cc_emit(c, I_NOT);
    } else {
        cc_atom(c);
    }
}

static void cc_term(struct cc *c)
{
    cc_unary(c);
    for (;;) {
        cc_skip(c);
        uint8_t op;
        if (*c->p == '*') op = I_MUL;
        else if (*c->p == '/') op = I_DIV;
        else if (*c->p == '%') op = I_MOD;
        else if (*c->p == '&') op = I_AND;
        else if (c->p[0] == '<' && c->p[1] == '<') { op = I_SHL; c->p++; }
        else if (c->p[0] == '>' && c->p[1] == '>') { op = I_SHR; c->p++; }
        else return;
        c->p++;
        cc_unary(c);
        cc_emit(c, op);
    }
}

static void cc_sum(struct cc *c)
{
    cc_term(c);
    for (;;) {
        cc_skip(c);
        uint8_t op;
        switch (*c->p) {
        case '+': op = I_ADD; break;
        case '-': op = I_SUB; break;
        case '|': op = I_OR; break;
        case '^': op = I_XOR; break;
        default: return;
        }
        c->p++;
        cc_term(c);
        cc_emit(c, op);
    }
}

static void cc_expr(struct cc *c)
{
    cc_sum(c);
    for (;;) {
        cc_skip(c);
        if (c->p[0] == '<' && c->p[1] != '<') {
            c->p++;
            cc_sum(c);
            cc_emit(c, I_LT);
        } else if (c->p[0] == '=' && c->p[1] == '=') {
            c->p += 2;
            cc_sum(c);
            cc_emit(c, I_EQ);
        } else {
            return;
        }
    }
}

static int32_t eval(const char *src, const int32_t *vars, uint32_t *steps)
{
    uint8_t code[256];
    struct cc c = { src, code, 0, sizeof code - 1, 0 };
    cc_expr(&c);
    cc_skip(&c);
    if (c.err || *c.p)
        return -999999;
    cc_emit(&c, I_HALT);
    struct vm m;
    cmemset(&m, 0, sizeof m);
    cmemcpy(m.vars, vars, sizeof m.vars);
    int32_t r = vm_run(&m, code, c.len);
    *steps += m.steps;
    return r;
}

/* Hand-assembled: print the primes below 200 (trial division), return 42.
 * vars: a = n, b = d. Byte offsets are noted on the left. */
#define IMM(v) (uint8_t)(v), 0, 0, 0
static const uint8_t primes_prog[] = {
    /*  0 */ I_PUSHI, IMM(2), I_STORE, 0,
    /*  7 loop */ I_LOAD, 0, I_PUSHI, IMM(200), I_LT, I_JZ, 79, 0,
    /* 18 */ I_PUSHI, IMM(2), I_STORE, 1,
    /* 25 inner: d*d < n+1 ? */ I_LOAD, 1, I_LOAD, 1, I_MUL, I_LOAD, 0, I_PUSHI, IMM(1), I_ADD, I_LT,
    /* 39 */ I_JZ, 63, 0,
    /* 42 n % d == 0 -> next */ I_LOAD, 0, I_LOAD, 1, I_MOD, I_JZ, 66, 0,
    /* 50 d++ */ I_LOAD, 1, I_PUSHI, IMM(1), I_ADD, I_STORE, 1, I_JMP, 25, 0,
    /* 63 prime */ I_LOAD, 0, I_PRINT,
    /* 66 next: n++ */ I_LOAD, 0, I_PUSHI, IMM(1), I_ADD, I_STORE, 0, I_JMP, 7, 0,
    /* 79 end */ I_PUSHI, IMM(42), I_HALT,
};

/* Subroutine calls: square(square(3)) = 81. */
static const uint8_t call_prog[] = {
    /*  0 */ I_PUSHI, IMM(3), I_CALL, 12, 0, I_CALL, 12, 0, I_HALT,
    /* 12 square */ I_DUP, I_MUL, I_NOP, I_RET,
};

uint32_t vm_selftest(void)
{
    uint32_t h = 0, bad = 0, steps = 0;
    int32_t vars[16];
    for (int i = 0; i < 16; i++)
        vars[i] = i * 3 - 7;       /* a=-7 b=-4 c=-1 d=2 ... */

    static const struct { const char *src; int32_t want; } cases[] = {
        { "1 + 2 * 3", 7 },
        { "(1 + 2) * 3", 9 },
        { "-a * b", -28 },
        { "100 / 7 % 4", 2 },
        { "a / d", -3 },              /* truncation toward zero */
        { "a % d", -1 },
        { "1 << 10 | 5", 1029 },
        { "a >> 1", -4 },             /* arithmetic shift */
        { "!0 + !5", 1 },
        { "3 < 4 == 1", 1 },
        { "(e ^ f) & 255", (5 ^ 8) & 255 },
        { "((((p))))", 38 },
        { "1 +", -999999 },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t r = eval(cases[i].src, vars, &steps);
        CHECK(r == cases[i].want);
        h = mix32(h, (uint32_t)r);
    }

    struct vm m;
    cmemset(&m, 0, sizeof m);
    CHECK(vm_run(&m, primes_prog, sizeof primes_prog) == 42 && m.prints == 46);
    CHECK(vm_run(&m, call_prog, sizeof call_prog) == 81);
    h = mix32(h, m.out_hash);
    h = mix32(h, m.steps);
    h = mix32(h, steps);
    return h ^ (bad << 20);
}
