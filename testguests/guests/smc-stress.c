/* smc-stress: self-modifying code under load, for an engine that caches
 * predecoded blocks (up to 32 instructions, keyed by physical address,
 * dropped when their page is written). Each case patches code thousands of
 * times with values from a PRNG and checks every result against a plain C
 * model of the same computation; a case prints one TAP line (and, only on a
 * failure, "# case N iteration I: got X want Y" comments, at most 3 a case).
 *
 *   1  a store into the very next instruction (the imm32 of mov/add, the
 *      opcode byte of an ALU op incl. adc/sbb) in a 27-instruction
 *      straight-line function, four times, every call with new values;
 *   2  a loop whose body patches an instruction five instructions ahead
 *      (after ALU ops) and the add at the top of its own body, which the
 *      next iteration runs;
 *   3  a function that patches two other functions on its own 4 KiB page
 *      (one before it, one 2 KiB after it: imm32, opcode, shift count), then
 *      calls them; C calls them before and after too;
 *   4  paging on, the code page mapped at its own address and at two more
 *      linear addresses; position-independent code run at one alias writes
 *      through another: into the next instruction of the running block,
 *      into the first instruction of a loop body it is executing, and into
 *      another function it then calls (four exec/write alias pairs in turn);
 *   5  code generated fresh every iteration at the same address, with
 *      different instruction lengths (runs of 1-byte inc, of 5-byte add
 *      imm32, random mixes of 1/2/3/5/6-byte instructions), 1 to 40 long;
 *   6  a variable on the same page as (and between) hot code, read and
 *      written by that code's loop and by C between calls;
 *   7  REP MOVSB (forwards and, with DF=1, backwards) copying templates of
 *      different lengths over a function on the page being executed, then
 *      calling it; two REP STOSBs rewriting the 48 bytes straight after
 *      the second one (nops, then k x inc %edx), which then run;
 *   8  a loop whose jz is turned into jnz (opcode 0x74 -> 0x75) at one
 *      iteration and whose second jz gets a new rel8 displacement at
 *      another; the store sits a few instructions before the branch in the
 *      same straight line (its address chosen by cmove, so only the one
 *      store hits the code).
 *
 * Architecturally defined on P6 and later (SDM Vol. 3A 8.1.3, 11.6): P6+
 * detects stores to already-fetched instructions when they use the
 * instruction's linear address, so cases 1-3 and 5-8 need nothing more
 * (QEMU TCG and Bochs 2.7 agree). Writes through another linear
 * address (case 4) are only guaranteed after a serializing instruction, so
 * every alias store there is followed by CPUID before the patched
 * instruction runs. About 8.2 M instructions (x86v --stats). */
#include "systest.h"

/* ---- the code pages (in .data so they can be written) ---- */

/* Case 1 and 2. */
uint32_t next_fn(uint32_t a, uint32_t b, uint32_t op);
uint32_t later_fn(uint32_t s, uint32_t n);
/* Case 3. */
uint32_t p3_tgt_a(uint32_t x), p3_tgt_b(uint32_t x);
uint32_t p3_patch(uint32_t imm_a, uint32_t op_a, uint32_t imm_b, uint32_t cnt_b, uint32_t x);
extern uint8_t p3_page[], p3_a_op[], p3_b_cnt[];
/* Case 4 (position independent). */
extern uint8_t al_page[], al_self[], al_self_imm[], al_loop[], al_loop_imm[], al_call[], al_other[], al_other_imm[];
/* Case 6. */
uint32_t mix_fn(uint32_t x, uint32_t n), mix_get(void);
extern uint8_t mix_page[], mix_end[];
extern volatile uint32_t mix_var, mix_count;
/* Case 7. */
uint32_t rep_copy_fn(const void *src, uint32_t len, uint32_t backwards, uint32_t x);
uint32_t rep_fill_fn(uint32_t k);
extern uint8_t rep_page[], rep_tgt[], rep_region[];
extern const uint8_t tmpl0[], tmpl1[], tmpl2[], tmpl3[], tmpl4[], tmpl_end[];
/* Case 8. */
uint32_t jcc_fn(uint32_t n, uint32_t k1, uint32_t k2);
extern uint8_t jcc_page[], jop[], jdisp[];

volatile uint32_t p3_res_b, jcc_res, jcc_dummy;

__asm__(
    ".data\n"
    /* ================= page A: cases 1 and 2 ================= */
    ".balign 4096\n"
    /* next_fn(a, b, op): 27 instructions, no branch; four stores, each into
     * the instruction right after it. */
    ".globl next_fn\n"
    "next_fn:\n"
    "  pushl %ebx\n"
    "  pushl %esi\n"
    "  movl 12(%esp), %ecx\n"
    "  movl 16(%esp), %ebx\n"
    "  movl 20(%esp), %esi\n"
    "  movl %ecx, %edx\n"
    "  xorl $0x5A5A5A5A, %edx\n"
    "  roll $7, %edx\n"
    "  movl %ecx, nx1+1\n"
    "nx1: .byte 0xB8\n  .long 0\n"                  /* movl $a, %eax */
    "  addl %edx, %eax\n"
    "  movl %ebx, nx2+2\n"
    "nx2: .byte 0x81, 0xC2\n  .long 0\n"            /* addl $b, %edx */
    "  leal (%edx,%eax,2), %edx\n"
    "  subl $0x1234, %edx\n"                        /* CF for adc/sbb below */
    "  movl %esi, %ecx\n"
    "  movb %cl, nx3\n"
    "nx3: .byte 0x01, 0xD8\n"                       /* <op> %ebx, %eax */
    "  imull $0x9E3779B1, %eax, %eax\n"
    "  movl %edx, nx4+1\n"
    "nx4: .byte 0xB9\n  .long 0\n"                  /* movl $edx, %ecx */
    "  xorl %ecx, %eax\n"
    "  roll $13, %eax\n"
    "  addl %edx, %eax\n"
    "  popl %esi\n"
    "  popl %ebx\n"
    "  ret\n"
    /* later_fn(s, n): n iterations; each patches lt_late (five instructions
     * ahead) and lt_early (the first instruction of the body it is running). */
    ".globl later_fn\n"
    "later_fn:\n"
    "  pushl %ebx\n"
    "  pushl %esi\n"
    "  pushl %edi\n"
    "  movl 16(%esp), %eax\n"
    "  movl 20(%esp), %ecx\n"
    "  movl %eax, lt_early+2\n"
    "  xorl %edx, %edx\n"
    "  movl $0x13579BDF, %esi\n"
    "lt_early: .byte 0x81, 0xC2\n  .long 0\n"       /* addl $imm, %edx */
    "  movl %edx, %edi\n"
    "  roll $9, %edi\n"
    "  xorl %esi, %edi\n"
    "  movl %edi, lt_late+1\n"
    "  addl $0x3141, %esi\n"
    "  leal (%esi,%edx), %ebx\n"
    "  xorl %edx, %ebx\n"
    "  subl %ecx, %esi\n"
    "lt_late: .byte 0xBB\n  .long 0\n"              /* movl $imm, %ebx */
    "  addl %ebx, %edx\n"
    "  leal 0x77(%edx,%ecx,4), %edi\n"
    "  movl %edi, lt_early+2\n"
    "  decl %ecx\n"
    "  jnz lt_early\n"
    "  movl %edx, %eax\n"
    "  xorl %esi, %eax\n"
    "  popl %edi\n"
    "  popl %esi\n"
    "  popl %ebx\n"
    "  ret\n"

    /* ================= page B: case 3 ================= */
    ".balign 4096\n"
    ".globl p3_page, p3_tgt_a, p3_a_op, p3_patch, p3_tgt_b, p3_b_cnt\n"
    "p3_page:\n"
    "p3_tgt_a:\n"                                   /* imm <op> x */
    "  movl 4(%esp), %ecx\n"
    "  .byte 0xB8\n"
    "p3_a_imm: .long 0\n"
    "p3_a_op: .byte 0x01, 0xC8\n"                   /* <op> %ecx, %eax */
    "  ret\n"
    /* p3_patch(imm_a, op_a, imm_b, cnt_b, x): patch both, return A(x), B(x) -> p3_res_b */
    "p3_patch:\n"
    "  movl 4(%esp), %eax\n"
    "  movl %eax, p3_a_imm\n"
    "  movl 8(%esp), %eax\n"
    "  movb %al, p3_a_op\n"
    "  movl 12(%esp), %eax\n"
    "  movl %eax, p3_b_imm\n"
    "  movl 16(%esp), %eax\n"
    "  movb %al, p3_b_cnt\n"
    "  pushl 20(%esp)\n"
    "  call p3_tgt_b\n"
    "  movl %eax, p3_res_b\n"
    "  call p3_tgt_a\n"
    "  addl $4, %esp\n"
    "  ret\n"
    ".balign 2048\n"
    "p3_tgt_b:\n"                                   /* rol(x, cnt) + imm */
    "  movl 4(%esp), %eax\n"
    "  .byte 0xC1, 0xC0\n"
    "p3_b_cnt: .byte 0\n"
    "  .byte 0x05\n"
    "p3_b_imm: .long 0\n"
    "  ret\n"

    /* ================= page C: case 4 (position independent) ================= */
    ".balign 4096\n"
    ".globl al_page, al_self, al_self_imm, al_loop, al_loop_imm, al_call, al_other, al_other_imm\n"
    "al_page:\n"
    /* al_self(w, v, x): w = another alias of al_self_imm */
    "al_self:\n"
    "  pushl %ebp\n"
    "  pushl %esi\n"
    "  pushl %edi\n"
    "  pushl %ebx\n"
    "  movl 20(%esp), %edi\n"
    "  movl 24(%esp), %esi\n"
    "  movl 28(%esp), %ebp\n"
    "  movl %ebp, %eax\n"
    "  roll $11, %eax\n"
    "  xorl %esi, %eax\n"
    "  leal 5(%eax,%ebp,2), %eax\n"
    "  movl %esi, (%edi)\n"
    "  pushl %eax\n"
    "  xorl %eax, %eax\n"
    "  cpuid\n"
    "  popl %eax\n"
    "  .byte 0x05\n"                                /* addl $v, %eax */
    "al_self_imm: .long 0\n"
    "  xorl %ebp, %eax\n"
    "  subl $0x55AA, %eax\n"
    "  popl %ebx\n"
    "  popl %edi\n"
    "  popl %esi\n"
    "  popl %ebp\n"
    "  ret\n"
    /* al_loop(w, v, n): w = another alias of al_loop_imm */
    "al_loop:\n"
    "  pushl %ebp\n"
    "  pushl %esi\n"
    "  pushl %edi\n"
    "  pushl %ebx\n"
    "  movl 20(%esp), %edi\n"
    "  movl 24(%esp), %esi\n"
    "  movl 28(%esp), %ebp\n"
    "  movl %esi, (%edi)\n"
    "  xorl %eax, %eax\n"
    "  cpuid\n"
    "  xorl %eax, %eax\n"
    "al_loop_top:\n"
    "  .byte 0x05\n"                                /* addl $imm, %eax */
    "al_loop_imm: .long 0\n"
    "  roll $3, %eax\n"
    "  leal 0x9E37(%esi,%eax), %esi\n"
    "  movl %esi, (%edi)\n"
    "  pushl %eax\n"
    "  xorl %eax, %eax\n"
    "  cpuid\n"
    "  popl %eax\n"
    "  decl %ebp\n"
    "  jnz al_loop_top\n"
    "  xorl %esi, %eax\n"
    "  popl %ebx\n"
    "  popl %edi\n"
    "  popl %esi\n"
    "  popl %ebp\n"
    "  ret\n"
    /* al_call(w, v, fn, x): *w = v (w another alias of al_other_imm), fn(x) */
    "al_call:\n"
    "  pushl %ebx\n"
    "  pushl %esi\n"
    "  movl 12(%esp), %esi\n"
    "  movl 16(%esp), %eax\n"
    "  movl %eax, (%esi)\n"
    "  xorl %eax, %eax\n"
    "  cpuid\n"
    "  movl 20(%esp), %esi\n"
    "  pushl 24(%esp)\n"
    "  call *%esi\n"
    "  addl $4, %esp\n"
    "  popl %esi\n"
    "  popl %ebx\n"
    "  ret\n"
    ".balign 64\n"
    "al_other:\n"                                   /* rol(x + imm, 7) */
    "  movl 4(%esp), %eax\n"
    "  .byte 0x05\n"
    "al_other_imm: .long 0\n"
    "  roll $7, %eax\n"
    "  ret\n"

    /* ================= page D: case 6 ================= */
    ".balign 4096\n"
    ".globl mix_page, mix_fn, mix_var, mix_count, mix_get, mix_end\n"
    "mix_page:\n"
    "mix_fn:\n"                                     /* (x, n) */
    "  movl 4(%esp), %eax\n"
    "  movl 8(%esp), %ecx\n"
    "1:\n"
    "  addl mix_var, %eax\n"
    "  roll $5, %eax\n"
    "  movl %eax, mix_var\n"
    "  xorl $0x9E3779B9, %eax\n"
    "  incl mix_count\n"
    "  decl %ecx\n"
    "  jnz 1b\n"
    "  ret\n"
    "mix_var: .long 0\n"
    "mix_count: .long 0\n"
    "mix_get:\n"
    "  movl mix_var, %eax\n"
    "  xorl mix_count, %eax\n"
    "  ret\n"
    "mix_end:\n"

    /* ================= page E: case 7 ================= */
    ".balign 4096\n"
    ".globl rep_page, rep_copy_fn, rep_fill_fn, rep_region, rep_tgt\n"
    "rep_page:\n"
    /* rep_copy_fn(src, len, backwards, x): copy len bytes to rep_tgt, call rep_tgt(x) */
    "rep_copy_fn:\n"
    "  pushl %esi\n"
    "  pushl %edi\n"
    "  movl 12(%esp), %esi\n"
    "  movl 16(%esp), %ecx\n"
    "  movl $rep_tgt, %edi\n"
    "  cmpl $0, 20(%esp)\n"
    "  je 1f\n"
    "  leal -1(%esi,%ecx), %esi\n"
    "  leal -1(%edi,%ecx), %edi\n"
    "  std\n"
    "1:\n"
    "  rep movsb\n"
    "  cld\n"
    "  pushl 24(%esp)\n"
    "  call rep_tgt\n"
    "  addl $4, %esp\n"
    "  popl %edi\n"
    "  popl %esi\n"
    "  ret\n"
    /* rep_fill_fn(k): nops, then k x inc %edx over the 48 bytes that follow
     * the second rep stosb; returns k */
    "rep_fill_fn:\n"
    "  pushl %edi\n"
    "  movl $rep_region, %edi\n"
    "  movl $48, %ecx\n"
    "  movb $0x90, %al\n"
    "  cld\n"
    "  rep stosb\n"
    "  movl $rep_region, %edi\n"
    "  movl 8(%esp), %ecx\n"
    "  movb $0x42, %al\n"
    "  xorl %edx, %edx\n"
    "  rep stosb\n"
    "rep_region:\n"
    "  .fill 48, 1, 0xCC\n"
    "  movl %edx, %eax\n"
    "  popl %edi\n"
    "  ret\n"
    ".balign 256\n"
    "rep_tgt:\n"
    "  .fill 64, 1, 0xCC\n"

    /* ================= page F: case 8 ================= */
    ".balign 4096\n"
    ".globl jcc_page, jcc_fn, jop, jdisp\n"
    "jcc_page:\n"
    /* jcc_fn(n, k1, k2): returns eax, edx -> jcc_res */
    "jcc_fn:\n"
    "  pushl %ebx\n"
    "  pushl %esi\n"
    "  pushl %edi\n"
    "  pushl %ebp\n"
    "  movl 20(%esp), %ecx\n"
    "  movl 24(%esp), %esi\n"
    "  movl 28(%esp), %edi\n"
    "  movb $0x74, jop\n"
    "  movb $0, jdisp\n"
    "  xorl %eax, %eax\n"
    "  xorl %edx, %edx\n"
    "jcc_top:\n"
    "  movl $jcc_dummy, %ebx\n"
    "  movl $jop, %ebp\n"
    "  cmpl %esi, %ecx\n"
    "  cmove %ebp, %ebx\n"
    "  movb $0x75, (%ebx)\n"                        /* ecx == k1: jz -> jnz */
    "  movl $jcc_dummy, %ebx\n"
    "  movl $jdisp, %ebp\n"
    "  cmpl %edi, %ecx\n"
    "  cmove %ebp, %ebx\n"
    "  movb $(jB - jd_end), (%ebx)\n"               /* ecx == k2: retarget to jB */
    "  xorl %ebx, %ebx\n"                           /* ZF = 1 */
    "jop: .byte 0x74, jt1 - jop_end\n"
    "jop_end:\n"
    "  addl $0x10000, %eax\n"
    "  .byte 0xEB, jt2 - jt1\n"
    "jt1:\n"
    "  incl %eax\n"
    "jt2:\n"
    "  xorl %ebx, %ebx\n"
    "  .byte 0x74\n"
    "jdisp: .byte 0\n"
    "jd_end:\n"
    "  addl $1, %edx\n"
    "  .byte 0xEB, jB_end - jB\n"
    "jB:\n"
    "  addl $0x100, %edx\n"
    "jB_end:\n"
    "  decl %ecx\n"
    "  jnz jcc_top\n"
    "  movl %edx, jcc_res\n"
    "  popl %ebp\n"
    "  popl %edi\n"
    "  popl %esi\n"
    "  popl %ebx\n"
    "  ret\n"
    ".balign 4096\n"

    /* templates copied by case 7 (cdecl, x at 4(%esp)) */
    ".section .rodata\n"
    ".globl tmpl0, tmpl1, tmpl2, tmpl3, tmpl4, tmpl_end\n"
    "tmpl0:\n  movl 4(%esp), %eax\n  leal 7(%eax), %eax\n  ret\n"                   /* x + 7 */
    "tmpl1:\n  movl 4(%esp), %eax\n  shll $3, %eax\n  ret\n"                        /* x << 3 */
    "tmpl2:\n  xorl %eax, %eax\n  subl 4(%esp), %eax\n  ret\n"                      /* -x */
    "tmpl3:\n  movl 4(%esp), %ecx\n  imull $13, %ecx, %eax\n  addl $0x1234567, %eax\n  ret\n" /* 13x + 0x1234567 */
    "tmpl4:\n  movl 4(%esp), %eax\n  notl %eax\n  rorl $4, %eax\n  incl %eax\n  incl %eax\n  incl %eax\n  ret\n" /* ror(~x, 4) + 3 */
    "tmpl_end:\n"
    ".text\n"
);

/* ---- helpers ---- */

static uint32_t rng = 0x2545F491u;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static uint32_t rol32(uint32_t x, uint32_t n)
{
    n &= 31;
    return n ? (x << n) | (x >> (32 - n)) : x;
}
static int same_page(const void *a, const void *b)
{
    return ((uint32_t)a >> 12) == ((uint32_t)b >> 12);
}

/* Counts a mismatch; prints the first three of a case as TAP comments. */
static uint32_t bad;
static void check(int cs, uint32_t iter, uint32_t got, uint32_t want)
{
    if (got == want)
        return;
    if (bad++ < 3) {
        puts("# case "); putDec((uint32_t)cs);
        puts(" iteration "); putDec(iter);
        puts(": got 0x"); putHex32(got);
        puts(" want 0x"); putHex32(want);
        puts("\n");
    }
}

/* ---- case models ---- */

static const uint8_t alu_ops[8] = { 0x01, 0x29, 0x31, 0x09, 0x21, 0x89, 0x11, 0x19 };

/* op %src, %dst for the opcodes above; cf = carry going in (adc/sbb). */
static uint32_t alu(uint8_t op, uint32_t dst, uint32_t src, uint32_t cf)
{
    switch (op) {
    case 0x01: return dst + src;
    case 0x29: return dst - src;
    case 0x31: return dst ^ src;
    case 0x09: return dst | src;
    case 0x21: return dst & src;
    case 0x89: return src;
    case 0x11: return dst + src + cf;
    default:   return dst - src - cf;
    }
}

static uint32_t model_next(uint32_t a, uint32_t b, uint8_t op)
{
    uint32_t edx = rol32(a ^ 0x5A5A5A5Au, 7);
    uint32_t eax = a + edx;
    edx += b;
    edx = edx + eax * 2;
    uint32_t cf = edx < 0x1234u;
    edx -= 0x1234u;
    eax = alu(op, eax, b, cf);
    eax *= 0x9E3779B1u;
    eax ^= edx;
    eax = rol32(eax, 13);
    return eax + edx;
}

static uint32_t model_later(uint32_t s, uint32_t n)
{
    uint32_t imm = s, edx = 0, esi = 0x13579BDFu;
    for (uint32_t c = n; c != 0; c--) {
        edx += imm;
        uint32_t edi = rol32(edx, 9) ^ esi;
        esi += 0x3141u;
        esi -= c;
        edx += edi;
        imm = edx + c * 4 + 0x77;
    }
    return edx ^ esi;
}

static uint32_t model_mix(uint32_t *var, uint32_t x, uint32_t n)
{
    uint32_t eax = x;
    while (n--) {
        eax += *var;
        eax = rol32(eax, 5);
        *var = eax;
        eax ^= 0x9E3779B9u;
    }
    return eax;
}

/* ---- paging for case 4 ---- */

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt0[1024] __attribute__((aligned(4096)));
static uint32_t pt1[1024] __attribute__((aligned(4096)));
#define VA_X 0x00400000u
#define VA_W 0x00401000u

/* ---- case 5: generated code ---- */

static uint8_t genbuf[4096] __attribute__((aligned(4096)));

static void put32(volatile uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* Emits one instruction at p (operating on %eax only), applies it to *m;
 * returns its length. kind 0..7. */
static uint32_t emit(volatile uint8_t *p, uint32_t kind, uint32_t r, uint32_t *m)
{
    switch (kind) {
    case 0: p[0] = 0x40; *m += 1; return 1;                                  /* inc %eax */
    case 1: p[0] = 0x05; put32(p + 1, r); *m += r; return 5;                 /* add $imm32, %eax */
    case 2: p[0] = 0x83; p[1] = 0xC0; p[2] = (uint8_t)r;                     /* add $imm8, %eax */
            *m += (uint32_t)(int32_t)(int8_t)(uint8_t)r; return 3;
    case 3: p[0] = 0x35; put32(p + 1, r); *m ^= r; return 5;                 /* xor $imm32, %eax */
    case 4: p[0] = 0xD1; p[1] = 0xC0; *m = rol32(*m, 1); return 2;           /* rol $1, %eax */
    case 5: p[0] = 0x8D; p[1] = 0x80; put32(p + 2, r); *m += r; return 6;    /* lea disp32(%eax), %eax */
    case 6: p[0] = 0xF7; p[1] = 0xD0; *m = ~*m; return 2;                    /* not %eax */
    default: p[0] = 0x90; return 1;                                          /* nop */
    }
}

static uint32_t run_gen(uint32_t eax)
{
    __asm__ volatile("call *%1" : "+a"(eax) : "r"(genbuf) : "memory", "cc");
    return eax;
}

/* ---- the cases ---- */

static int case1(void)
{
    bad = 0;
    for (uint32_t i = 0; i < 4000; i++) {
        uint32_t a = rnd(), b = rnd();
        uint8_t op = alu_ops[rnd() & 7];
        check(1, i, next_fn(a, b, op), model_next(a, b, op));
    }
    return bad == 0;
}

static int case2(void)
{
    bad = 0;
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t s = rnd(), n = 1 + rnd() % 24;
        check(2, i, later_fn(s, n), model_later(s, n));
    }
    return bad == 0;
}

static int case3(void)
{
    bad = 0;
    uint32_t imm_a = 0, imm_b = 0, cnt = 0;
    uint8_t op_a = 0x01;
    for (uint32_t i = 0; i < 3000; i++) {
        uint32_t x = rnd();
        /* the current versions, called from another page */
        check(3, i, p3_tgt_a(x), alu(op_a, imm_a, x, 0));
        check(3, i, p3_tgt_b(x), rol32(x, cnt) + imm_b);
        imm_a = rnd(); imm_b = rnd(); cnt = rnd() & 31;
        op_a = alu_ops[rnd() % 6];                 /* no adc/sbb: CF is not set up here */
        x = rnd();
        check(3, i, p3_patch(imm_a, op_a, imm_b, cnt, x), alu(op_a, imm_a, x, 0));
        check(3, i, p3_res_b, rol32(x, cnt) + imm_b);
    }
    return bad == 0 && same_page(p3_page, p3_tgt_b) && same_page(p3_page, p3_b_cnt);
}

static int case4(void)
{
    bad = 0;
    uint32_t phys = (uint32_t)al_page;
    for (uint32_t i = 0; i < 1024; i++)
        pt0[i] = (i << 12) | 3;
    pd[0] = (uint32_t)pt0 | 3;
    pd[1] = (uint32_t)pt1 | 3;
    pt1[0] = phys | 3;                             /* VA_X */
    pt1[1] = phys | 3;                             /* VA_W */
    write_cr3((uint32_t)pd);
    write_cr0(read_cr0() | 0x80000000u);

    /* exec/write alias pairs */
    const uint32_t exec_base[4] = { phys, VA_X, VA_X, VA_W };
    const uint32_t write_base[4] = { VA_W, phys, VA_W, VA_X };
#define AT(base, sym) ((base) + ((uint32_t)(sym) - phys))
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t e = exec_base[i & 3], w = write_base[i & 3];
        uint32_t v = rnd(), x = rnd();
        /* the next instruction of the running block */
        uint32_t (*self)(uint32_t, uint32_t, uint32_t) = (uint32_t (*)(uint32_t, uint32_t, uint32_t))AT(e, al_self);
        uint32_t want = (uint32_t)(rol32(x, 11) ^ v) + x * 2 + 5 + v;
        check(4, i, self(AT(w, al_self_imm), v, x), (want ^ x) - 0x55AAu);
        /* the top of the loop body it is running */
        uint32_t n = 1 + rnd() % 12;
        uint32_t (*loop)(uint32_t, uint32_t, uint32_t) = (uint32_t (*)(uint32_t, uint32_t, uint32_t))AT(e, al_loop);
        uint32_t eax = 0, esi = v;
        for (uint32_t c = n; c != 0; c--) {
            eax += esi;
            eax = rol32(eax, 3);
            esi += eax + 0x9E37u;
        }
        check(4, i, loop(AT(w, al_loop_imm), v, n), eax ^ esi);
        /* another function, called through the executing alias */
        v = rnd(); x = rnd();
        uint32_t (*callf)(uint32_t, uint32_t, uint32_t, uint32_t) =
            (uint32_t (*)(uint32_t, uint32_t, uint32_t, uint32_t))AT(e, al_call);
        check(4, i, callf(AT(w, al_other_imm), v, AT(e, al_other), x), rol32(x + v, 7));
        /* and through the other two addresses */
        uint32_t (*o1)(uint32_t) = (uint32_t (*)(uint32_t))AT(w, al_other);
        uint32_t (*o2)(uint32_t) = (uint32_t (*)(uint32_t))AT(VA_X ^ VA_W ^ phys ^ e ^ w, al_other);
        check(4, i, o1(x + 1), rol32(x + 1 + v, 7));
        check(4, i, o2(x + 2), rol32(x + 2 + v, 7));
    }
#undef AT
    write_cr0(read_cr0() & ~0x80000000u);
    return bad == 0 && same_page(al_page, al_other_imm);
}

static int case5(void)
{
    bad = 0;
    volatile uint8_t *g = genbuf;
    for (uint32_t i = 0; i < 3000; i++) {
        uint32_t k = 1 + rnd() % 40, mode = i % 4, m = rnd(), start = m, off = 0;
        for (uint32_t j = 0; j < k; j++) {
            uint32_t kind = mode == 0 ? 0 : mode == 1 ? 1 : mode == 2 ? rnd() & 7 : (j & 1) ? 0 : 1;
            off += emit(g + off, kind, rnd(), &m);
        }
        g[off] = 0xC3;
        check(5, i, run_gen(start), m);
    }
    return bad == 0;
}

static int case6(void)
{
    bad = 0;
    for (uint32_t i = 0; i < 3000; i++) {
        uint32_t var = rnd(), x = rnd(), n = 1 + rnd() % 16;
        mix_var = var;
        mix_count = 0;
        uint32_t want = model_mix(&var, x, n);
        check(6, i, mix_fn(x, n), want);
        check(6, i, mix_var, var);
        check(6, i, mix_count, n);
        mix_var = var = rnd();
        mix_count = n = rnd();
        check(6, i, mix_get(), var ^ n);
    }
    return bad == 0 && same_page(mix_page, mix_end);
}

static int case7(void)
{
    bad = 0;
    const uint8_t *t[6] = { tmpl0, tmpl1, tmpl2, tmpl3, tmpl4, tmpl_end };
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t which = rnd() % 5, x = rnd(), want;
        switch (which) {
        case 0: want = x + 7; break;
        case 1: want = x << 3; break;
        case 2: want = -x; break;
        case 3: want = x * 13 + 0x1234567u; break;
        default: want = rol32(~x, 28) + 3; break;
        }
        check(7, i, rep_copy_fn(t[which], (uint32_t)(t[which + 1] - t[which]), i & 1, x), want);
        uint32_t k = rnd() % 49;
        check(7, i, rep_fill_fn(k), k);
    }
    return bad == 0 && same_page(rep_page, rep_tgt + 63) && same_page(rep_page, rep_region + 47);
}

static int case8(void)
{
    bad = 0;
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t n = 1 + rnd() % 32, k1 = rnd() % (n + 1), k2 = rnd() % (n + 1);
        uint32_t eax = 0, edx = 0, jnz = 0, retarget = 0;
        for (uint32_t c = n; c != 0; c--) {
            if (c == k1) jnz = 1;
            if (c == k2) retarget = 1;
            eax += jnz ? 0x10000u : 1;
            edx += retarget ? 0x100u : 1;
        }
        check(8, i, jcc_fn(n, k1, k2), eax);
        check(8, i, jcc_res, edx);
    }
    return bad == 0 && same_page(jcc_page, jdisp);
}

int guest_main(void)
{
    puts("x86v-guest: smc-stress\n");
    st_init();
    tap_plan(8);
    tap_ok(case1(), "store into the next instruction (imm32, opcode) inside a 27-instruction straight line, 4000 calls");
    tap_ok(case2(), "loop body patching an instruction 5 ahead and its own first instruction, 2000 loops");
    tap_ok(case3(), "function patching two others on its own page (imm32, opcode, count), then calling them, 3000 times");
    tap_ok(case4(), "paging: code run at one alias writes through another (next instruction, loop top, other function), 2000 rounds");
    tap_ok(case5(), "code regenerated at one address with other instruction lengths (inc/add imm32/mixed), 3000 times");
    tap_ok(case6(), "variable between hot code on the same page, written by that code and by C, 3000 calls");
    tap_ok(case7(), "rep movsb (both directions) over a function on the executing page, rep stosb over the code after it, 2000 times");
    tap_ok(case8(), "loop turning its jz into jnz and retargeting another jz part-way through, 2000 loops");
    puts("# smc-stress done\n");
    return tap_exit_code();
}
