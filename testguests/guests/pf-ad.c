/* pf-ad: accessed and dirty flags (SDM Vol. 3A 4.8) in 32-bit paging, for
 * 4 KiB pages (PDE + PTE) and 4 MiB pages (PSE: the PDE is the leaf).
 *   - a read or fetch sets A in every entry used (PDE.A, PTE.A), never D;
 *   - a write sets D in the leaf only (PTE.D; for 4 MiB pages PDE.D; bit 6 of
 *     a PDE that references a page table is ignored and stays 0);
 *   - the flags are set by locked read-modify-writes of the entry: other bits
 *     (AVL 9-11, frame, an already-set D) are left alone;
 *   - an access that faults sets neither A nor D in the leaf;
 *   - after A/D are cleared in memory and INVLPG is run, the next access sets
 *     them again (every test clears + INVLPGs first; nothing here depends on
 *     a stale TLB entry, which is undefined);
 *   - read-modify-write instructions (INC, XCHG, LOCK ADD, BTS, NEG, XADD,
 *     CMPXCHG) set D, also a CMPXCHG whose compare fails ("the destination
 *     operand receives a write cycle without regard to the result of the
 *     comparison", SDM Vol. 2A CMPXCHG); CMP/TEST/BT read only;
 *   - a CPL0 write to a read-only page with CR0.WP=0 succeeds and sets D;
 *   - string stores and page-crossing accesses set the flags on every page.
 * Not checked: PDE.A after a fault at the PTE level, and A on a page whose
 * read-modify-write faulted on the write (both implementation-specific);
 * D on the first page of a page-crossing write that faults on the second. */
#include "pf.h"

#define VA(n) (PF_REGION + (uint32_t)(n) * 0x1000u)     /* PDE 256: 4 KiB pages */
#define FR(n) PF_FRAME(n)
#define BIG_RW  257u                                      /* PDE 257: 4 MiB, U|W */
#define BIG_RO  258u                                      /* PDE 258: 4 MiB, U, read-only */
#define BIG_SUP 259u                                      /* PDE 259: 4 MiB, supervisor */
#define BIG_PA(i) (0x02000000u + ((i) - 257u) * 0x400000u)
#define BIG_VA(i) ((i) << 22)

static uint32_t pt[1024] __attribute__((aligned(4096)));
#define PDE4K pf_kpd[256]

/* Fresh 4 KiB mapping for page n: PTE = frame | flags, PTE/PDE A and D
 * clear, INVLPG. */
static void fresh(uint32_t n, uint32_t flags)
{
    pt[n] = FR(n) | flags;
    PDE4K &= ~(PG_A | PG_D);
    invlpg(VA(n));
}
static void fresh_big(uint32_t i)
{
    pf_kpd[i] &= ~(PG_A | PG_D);
    invlpg(BIG_VA(i));
}
static uint32_t ad(uint32_t e) { return e & (PG_A | PG_D); }

uint32_t rmw_inc(uint32_t), rmw_xchg(uint32_t), rmw_lock_add(uint32_t), rmw_bts(uint32_t),
    rmw_neg(uint32_t), rmw_xadd(uint32_t), rmw_add_reg(uint32_t), rmw_cx_ok(uint32_t),
    rmw_cx_fail(uint32_t), rmw_lock_cx_fail(uint32_t), ro_cmp(uint32_t), ro_test(uint32_t),
    ro_bt(uint32_t), lock_inc(uint32_t);
__asm__(
    ".text\n"
    ".globl rmw_inc, rmw_xchg, rmw_lock_add, rmw_bts, rmw_neg, rmw_xadd, rmw_add_reg, rmw_cx_ok\n"
    ".globl rmw_cx_fail, rmw_lock_cx_fail, ro_cmp, ro_test, ro_bt, lock_inc\n"
    "rmw_inc:      movl 4(%esp), %ecx\n  incl (%ecx)\n  ret\n"
    "rmw_xchg:     movl 4(%esp), %ecx\n  movl $5, %eax\n  xchgl %eax, (%ecx)\n  ret\n"
    "rmw_lock_add: movl 4(%esp), %ecx\n  lock addl $3, (%ecx)\n  ret\n"
    "rmw_bts:      movl 4(%esp), %ecx\n  btsl $7, (%ecx)\n  ret\n"
    "rmw_neg:      movl 4(%esp), %ecx\n  negl (%ecx)\n  ret\n"
    "rmw_xadd:     movl 4(%esp), %ecx\n  movl $2, %eax\n  xaddl %eax, (%ecx)\n  ret\n"
    "rmw_add_reg:  movl 4(%esp), %ecx\n  movl $4, %eax\n  addl %eax, (%ecx)\n  ret\n"
    "rmw_cx_ok:    movl 4(%esp), %ecx\n  movl $0, %eax\n  movl $9, %edx\n  cmpxchgl %edx, (%ecx)\n  ret\n"
    "rmw_cx_fail:  movl 4(%esp), %ecx\n  movl $1, %eax\n  movl $9, %edx\n  cmpxchgl %edx, (%ecx)\n  ret\n"
    "rmw_lock_cx_fail: movl 4(%esp), %ecx\n  movl $1, %eax\n  movl $9, %edx\n  lock cmpxchgl %edx, (%ecx)\n  ret\n"
    "ro_cmp:       movl 4(%esp), %ecx\n  xorl %eax, %eax\n  cmpl $0, (%ecx)\n  sete %al\n  ret\n"
    "ro_test:      movl 4(%esp), %ecx\n  xorl %eax, %eax\n  testl $1, (%ecx)\n  sete %al\n  ret\n"
    "ro_bt:        movl 4(%esp), %ecx\n  xorl %eax, %eax\n  btl $3, (%ecx)\n  setnc %al\n  ret\n"
    "lock_inc:     movl 4(%esp), %ecx\n  lock incl (%ecx)\n  ret\n"
);

struct rmw_case {
    const char *name;
    uint32_t (*fn)(uint32_t);
    uint32_t after;        /* memory after, from 0 */
    uint32_t want;         /* PTE A|D */
};

int guest_main(void)
{
    puts("x86v-guest: pf-ad\n");
    pf_init();
    PDE4K = (uint32_t)pt | PG_P | PG_W | PG_U;
    pf_kpd[BIG_RW] = BIG_PA(BIG_RW) | PG_PS | PG_P | PG_W | PG_U;
    pf_kpd[BIG_RO] = BIG_PA(BIG_RO) | PG_PS | PG_P | PG_U;
    pf_kpd[BIG_SUP] = BIG_PA(BIG_SUP) | PG_PS | PG_P | PG_W;
    for (uint32_t n = 0; n < 64; n++)
        pf_fill32(FR(n), 0, 1024);
    write_cr3((uint32_t)pf_kpd);
    tap_plan(24);
    uint32_t r;

    /* 4 KiB pages */
    fresh(0, PG_P | PG_W | PG_U);
    pf_poke(FR(0) + 8, 0x1234u);
    r = st_try(pf_rd32, VA(0) + 8);
    tap_ok(pf_val(r, 0x1234u) && ad(pt[0]) == PG_A && ad(PDE4K) == PG_A,
           "4K read: PTE.A and PDE.A set, PTE.D and PDE bit 6 clear");
    r = st_try(pf_wr32, VA(0) + 12);
    tap_ok(r == ST_NOFAULT && ad(pt[0]) == (PG_A | PG_D) && ad(PDE4K) == PG_A,
           "4K write after a read (translation cached): PTE.D set, PDE bit 6 still clear");
    fresh(1, PG_P | PG_W | PG_U);
    r = st_try(pf_wr32, VA(1));
    tap_ok(r == ST_NOFAULT && ad(pt[1]) == (PG_A | PG_D) && ad(PDE4K) == PG_A, "4K first access a write: PTE.A and PTE.D set");
    fresh(2, PG_P | PG_W | PG_U);
    *(volatile uint8_t *)(FR(2) + 0x30) = 0xC3;
    r = st_try(pf_call, VA(2) + 0x30);
    tap_ok(r == ST_NOFAULT && ad(pt[2]) == PG_A && ad(PDE4K) == PG_A, "4K instruction fetch: A set, D clear");
    fresh(3, PG_P | PG_W | PG_AVL | PG_D);
    r = st_try(pf_rd32, VA(3));
    tap_ok(r == ST_NOFAULT && pt[3] == (FR(3) | PG_P | PG_W | PG_AVL | PG_D | PG_A),
           "read of a PTE with D=1 A=0 and AVL=7: only A changes");
    fresh(4, PG_P | PG_W | PG_AVL);
    r = st_try(pf_wr32, VA(4));
    tap_ok(r == ST_NOFAULT && pt[4] == (FR(4) | PG_P | PG_W | PG_AVL | PG_D | PG_A),
           "write to a PTE with AVL=7: only A and D change");

    /* faulting accesses */
    fresh(5, PG_P | PG_U);
    r = st_try(pf_wr32, VA(5) + 4);
    tap_ok(pf_is(r, 3, VA(5) + 4) && ad(pt[5]) == 0, "CPL0 write to read-only (WP=1): err 3, PTE A/D stay clear");
    fresh(6, PG_P | PG_W);
    r = st_try_user(pf_rd32, VA(6) + 4);
    tap_ok(pf_is(r, 5, VA(6) + 4) && ad(pt[6]) == 0, "CPL3 read of a supervisor page: err 5, PTE A/D stay clear");
    r = st_try_user(pf_wr32, VA(5) + 8);
    tap_ok(pf_is(r, 7, VA(5) + 8) && ad(pt[5]) == 0, "CPL3 write to a user read-only page: err 7, PTE A/D stay clear");
    r = st_try(lock_inc, VA(5) + 12);
    tap_ok(pf_is(r, 3, VA(5) + 12) && !(pt[5] & PG_D) && pf_peek(FR(5) + 12) == 0,
           "LOCK INC on a read-only page: err 3, memory unchanged, D clear");

    /* clear in memory + INVLPG: set again */
    pt[0] &= ~(PG_A | PG_D);
    PDE4K &= ~PG_A;
    invlpg(VA(0));
    r = st_try(pf_rd32, VA(0) + 8);
    int again = pf_val(r, 0x1234u) && ad(pt[0]) == PG_A && ad(PDE4K) == PG_A;
    r = st_try(pf_wr32, VA(0) + 16);
    tap_ok(again && r == ST_NOFAULT && ad(pt[0]) == (PG_A | PG_D), "A/D cleared + INVLPG: a read sets A again, a write D");
    PDE4K &= ~PG_A;
    invlpg(VA(0));
    r = st_try(pf_rd32, VA(0) + 8);
    tap_ok(r == ST_NOFAULT && ad(PDE4K) == PG_A && ad(pt[0]) == (PG_A | PG_D),
           "PDE.A cleared + INVLPG (PTE.A already set): a read sets PDE.A again");

    /* read-modify-write instructions */
    static const struct rmw_case rmw[] = {
        { "inc", rmw_inc, 1, PG_A | PG_D },          { "xchg", rmw_xchg, 5, PG_A | PG_D },
        { "lock-add", rmw_lock_add, 3, PG_A | PG_D }, { "bts", rmw_bts, 0x80, PG_A | PG_D },
        { "neg", rmw_neg, 0, PG_A | PG_D },          { "xadd", rmw_xadd, 2, PG_A | PG_D },
        { "add", rmw_add_reg, 4, PG_A | PG_D },      { "cmpxchg-ok", rmw_cx_ok, 9, PG_A | PG_D },
        { "cmpxchg-fail", rmw_cx_fail, 0, PG_A | PG_D },
        { "lock-cmpxchg-fail", rmw_lock_cx_fail, 0, PG_A | PG_D },
        { "cmp", ro_cmp, 0, PG_A },                  { "test", ro_test, 0, PG_A },
        { "bt", ro_bt, 0, PG_A },
    };
    int good_rmw = 1, good_ro = 1;
    puts("# rmw:");
    for (uint32_t i = 0; i < sizeof rmw / sizeof rmw[0]; i++) {
        uint32_t n = 10 + i;
        fresh(n, PG_P | PG_W | PG_U);
        r = st_try(rmw[i].fn, VA(n) + 0x40);
        int ok = r == ST_NOFAULT && ad(pt[n]) == rmw[i].want && pf_peek(FR(n) + 0x40) == rmw[i].after;
        if (rmw[i].want == PG_A)
            good_ro &= ok && st_result == 1;
        else
            good_rmw &= ok;
        putc(' ');
        puts(rmw[i].name);
        putc('=');
        puts(pt[n] & PG_A ? "A" : "-");
        puts(pt[n] & PG_D ? "D" : "-");
    }
    putc('\n');
    tap_ok(good_rmw, "RMW (INC XCHG LOCK-ADD BTS NEG XADD ADD CMPXCHG, also failing CMPXCHG): A and D set");
    tap_ok(good_ro, "CMP/TEST/BT with a memory operand: A set, D clear");

    /* WP=0 */
    fresh(30, PG_P | PG_U);
    write_cr0(read_cr0() & ~CR0_WP);
    r = st_try(pf_wr32, VA(30) + 4);
    write_cr0(read_cr0() | CR0_WP);
    tap_ok(r == ST_NOFAULT && ad(pt[30]) == (PG_A | PG_D) && pf_peek(FR(30) + 4) == pf_wr_value,
           "CPL0 write to a read-only page with WP=0: succeeds, A and D set");

    /* strings and page crossings */
    fresh(31, PG_P | PG_W | PG_U);
    fresh(32, PG_P | PG_W | PG_U);
    fresh(33, PG_P | PG_W | PG_U);
    pf_fill32(VA(31) + 0x800, 0x5A5A5A5Au, 2048);
    tap_ok(ad(pt[31]) == (PG_A | PG_D) && ad(pt[32]) == (PG_A | PG_D) && ad(pt[33]) == (PG_A | PG_D),
           "REP STOSL over 3 pages: A and D on each");
    fresh(34, PG_P | PG_W | PG_U);
    fresh(35, PG_P | PG_W | PG_U);
    fresh(36, PG_P | PG_W | PG_U);
    fresh(37, PG_P | PG_W | PG_U);
    pf_copy32(VA(36) + 0x400, VA(34) + 0x400, 1024);
    tap_ok(ad(pt[34]) == PG_A && ad(pt[35]) == PG_A && ad(pt[36]) == (PG_A | PG_D) && ad(pt[37]) == (PG_A | PG_D),
           "REP MOVSL across pages: source pages A only, destination pages A and D");
    fresh(38, PG_P | PG_W | PG_U);
    fresh(39, PG_P | PG_W | PG_U);
    r = st_try(pf_wr32, VA(39) - 2);
    int cross_w = r == ST_NOFAULT && ad(pt[38]) == (PG_A | PG_D) && ad(pt[39]) == (PG_A | PG_D);
    fresh(40, PG_P | PG_W | PG_U);
    fresh(41, PG_P | PG_W | PG_U);
    r = st_try(pf_rd32, VA(41) - 1);
    tap_ok(cross_w && r == ST_NOFAULT && ad(pt[40]) == PG_A && ad(pt[41]) == PG_A,
           "page-crossing dword write: both pages A and D; crossing read: both A only");

    /* 4 MiB pages */
    volatile uint32_t *big = &pf_kpd[BIG_RW];
    fresh_big(BIG_RW);
    pf_poke(BIG_PA(BIG_RW) + 0x2345 * 4, 0xB16u);
    r = st_try(pf_rd32, BIG_VA(BIG_RW) + 0x2345 * 4);
    tap_ok(pf_val(r, 0xB16u) && ad(*big) == PG_A, "4M read: PDE.A set, PDE.D clear");
    r = st_try(pf_wr32, BIG_VA(BIG_RW) + 0x3FF000u);
    tap_ok(r == ST_NOFAULT && ad(*big) == (PG_A | PG_D) && pf_peek(BIG_PA(BIG_RW) + 0x3FF000u) == pf_wr_value,
           "4M write: PDE.D set");
    fresh_big(BIG_RW);
    *(volatile uint8_t *)(BIG_PA(BIG_RW) + 0x1000) = 0xC3;
    r = st_try(pf_call, BIG_VA(BIG_RW) + 0x1000);
    int fetch_a = r == ST_NOFAULT && ad(*big) == PG_A;
    fresh_big(BIG_RW);
    r = st_try(rmw_inc, BIG_VA(BIG_RW) + 0x2000);
    tap_ok(fetch_a && r == ST_NOFAULT && ad(*big) == (PG_A | PG_D), "4M fetch sets A only; 4M INC (after clear + INVLPG) sets A and D");
    fresh_big(BIG_RO);
    fresh_big(BIG_SUP);
    r = st_try(pf_wr32, BIG_VA(BIG_RO) + 0x10);
    int f1 = pf_is(r, 3, BIG_VA(BIG_RO) + 0x10);
    uint32_t r2 = st_try_user(pf_rd32, BIG_VA(BIG_SUP) + 0x20);
    int f2 = pf_is(r2, 5, BIG_VA(BIG_SUP) + 0x20);
    tap_ok(f1 && f2 && ad(pf_kpd[BIG_RO]) == 0 && ad(pf_kpd[BIG_SUP]) == 0,
           "4M faulting write (read-only) err 3 and CPL3 read (supervisor) err 5: PDE A/D stay clear");
    write_cr0(read_cr0() & ~CR0_WP);
    r = st_try(pf_wr32, BIG_VA(BIG_RO) + 0x14);
    write_cr0(read_cr0() | CR0_WP);
    tap_ok(r == ST_NOFAULT && ad(pf_kpd[BIG_RO]) == (PG_A | PG_D), "4M read-only page, CPL0 write with WP=0: succeeds, PDE A and D set");
    pf_kpd[BIG_RW] = BIG_PA(BIG_RW) | PG_PS | PG_P | PG_W | PG_U | PG_AVL;
    fresh_big(BIG_RW);
    r = st_try(pf_wr32, BIG_VA(BIG_RW) + 0x30);
    tap_ok(r == ST_NOFAULT && pf_kpd[BIG_RW] == (BIG_PA(BIG_RW) | PG_PS | PG_P | PG_W | PG_U | PG_AVL | PG_A | PG_D),
           "4M write with AVL=7: only A and D change in the PDE");

    puts("# pf-ad done\n");
    return tap_exit_code();
}
