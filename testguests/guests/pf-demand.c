/* pf-demand: demand paging (SDM Vol. 3A 4.7 page-fault exceptions, 4.10.4
 * TLB invalidation). A #PF handler maps a fresh frame for every not-present
 * fault in an 8 MiB region: the first 4 MiB have a page table from the start
 * (PDE present, every PTE 0), the second 4 MiB start with a not-present PDE,
 * so the handler also allocates the page table. A fresh page holds a pattern
 * derived from its linear address, or code copied from a "backing" image.
 * The handler never executes INVLPG: a not-present translation is not cached
 * and a #PF invalidates the faulting page's TLB entries (SDM 4.10.4.1), so the
 * retried access must see the new PTE.
 *
 * Checked: error codes (P=0, W/R, U/S) and exact CR2 for every fault, one
 * fault per page and none on re-touch, reads, writes, CPL3 reads/writes/stack
 * pushes, instruction fetch from a freshly mapped page (and an instruction
 * straddling into a not-present page: CR2 = second page, EIP = instruction
 * start), REP STOS/MOVS through not-present pages, unmap + INVLPG (faults
 * again, old data gone), unmapping everything with one CR3 reload.
 * Not checked: touching an unmapped page without INVLPG (a stale TLB entry
 * may or may not be used: not deterministic); whether a PTE-level fault sets
 * the PDE's A bit (implementation-specific). */
#include "pf.h"

#define REGION_PAGES 2048u                      /* 8 MiB: PDEs 256 and 257 */
#define RVA(i) (PF_REGION + (uint32_t)(i) * 0x1000u)

static uint32_t dem_pt[1024] __attribute__((aligned(4096)));   /* PDE 256 */
static uint8_t code_a[4096] __attribute__((aligned(4096)));    /* backing images */
static uint8_t code_b[4096] __attribute__((aligned(4096)));
static uint8_t code_c[4096] __attribute__((aligned(4096)));
static const uint8_t *backing[REGION_PAGES];

static volatile uint32_t nfaults, next_frame, npt_allocs;
#define LOG_N 16
static volatile uint32_t log_cr2[LOG_N], log_err[LOG_N], log_eip[LOG_N];

static uint32_t pat(uint32_t va) { return (va * 2654435761u) ^ 0x5A5A0F0Fu; }

static uint32_t *pte_of(uint32_t va)
{
    return (uint32_t *)(pf_kpd[va >> 22] & ~0xFFFu) + ((va >> 12) & 1023);
}

static int hook(struct rt_frame *f)
{
    uint32_t cr2 = read_cr2();
    if (f->vector != 14 || (f->error & PG_P) || cr2 - PF_REGION >= REGION_PAGES * 0x1000u)
        return 0;
    uint32_t pde = cr2 >> 22;
    if (!(pf_kpd[pde] & PG_P)) {            /* page table on demand too */
        uint32_t t = PF_FRAME(next_frame++);
        pf_fill32(t, 0, 1024);
        pf_kpd[pde] = t | PG_P | PG_W | PG_U;
        npt_allocs++;
    }
    uint32_t va = cr2 & ~0xFFFu, idx = (va - PF_REGION) >> 12;
    uint32_t fr = PF_FRAME(next_frame++);
    if (backing[idx]) {
        pf_copy32(fr, (uint32_t)backing[idx], 1024);
    } else {
        volatile uint32_t *p = (volatile uint32_t *)fr;
        for (uint32_t j = 0; j < 1024; j++)
            p[j] = pat(va + j * 4);
    }
    *pte_of(va) = fr | PG_P | PG_W | PG_U;
    uint32_t n = nfaults++ % LOG_N;
    log_cr2[n] = cr2;
    log_err[n] = f->error;
    log_eip[n] = f->eip;
    return 1;
}

/* The last k faults (oldest first) had these CR2s and error code err. */
static int last_faults(uint32_t k, const uint32_t *cr2, uint32_t err)
{
    for (uint32_t i = 0; i < k; i++) {
        uint32_t n = (nfaults - k + i) % LOG_N;
        if (log_cr2[n] != cr2[i] || log_err[n] != err)
            return 0;
    }
    return 1;
}

static void show_fault(const char *what)
{
    uint32_t n = (nfaults - 1) % LOG_N;
    puts("# ");
    puts(what);
    pf_put_kv(": err ", log_err[n]);
    pf_put_kv(" cr2 ", log_cr2[n]);
    pf_put_kv(" eip ", log_eip[n]);
    putc('\n');
}

/* CPL3: move ESP to the top of the page at arg, push two words, pop them
 * back (sum returned), restore ESP. */
uint32_t user_push(uint32_t);
__asm__(
    ".text\n.globl user_push\n"
    "user_push:\n"
    "  movl 4(%esp), %eax\n  movl %esp, %edx\n  movl %eax, %esp\n"
    "  pushl $0x1234\n  pushl $0x4321\n  popl %eax\n  popl %ecx\n  addl %ecx, %eax\n"
    "  movl %edx, %esp\n  ret\n"
);

static uint32_t sparse(uint32_t i) { return (i * 37u) % 1024u; }   /* distinct for i < 1024 */

int guest_main(void)
{
    puts("x86v-guest: pf-demand\n");
    pf_init();
    pf_kpd[256] = (uint32_t)dem_pt | PG_P | PG_W | PG_U;
    pf_kpd[257] = 0;
    write_cr3((uint32_t)pf_kpd);
    st_guest_hook = hook;
    tap_plan(16);
    int good;
    uint32_t f0, r;

    /* 1-2: sparse reads, then re-reads */
    good = 1;
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t va = RVA(sparse(i)) + ((i * 52u) & 0xFFCu);
        f0 = nfaults;
        uint32_t v = pf_peek(va);
        good &= v == pat(va) && nfaults == f0 + 1 && last_faults(1, &va, 0);
    }
    tap_ok(good && nfaults == 64, "64 sparse reads: one #PF each, err 0, CR2 exact, pattern read");
    good = 1;
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t va = RVA(sparse(i)) + 0xFFCu - ((i * 52u) & 0xFFCu);
        good &= pf_peek(va) == pat(va);
    }
    tap_ok(good && nfaults == 64, "re-reading the 64 pages: no faults");

    /* 3-4: sparse writes, then writes to pages mapped by reads */
    good = 1;
    for (uint32_t i = 64; i < 128; i++) {
        uint32_t va = RVA(sparse(i)) + ((i * 20u) & 0xFFCu);
        f0 = nfaults;
        pf_poke(va, ~i);
        good &= nfaults == f0 + 1 && last_faults(1, &va, 2) && pf_peek(va) == ~i &&
                pf_peek(va ^ 0x800u) == pat(va ^ 0x800u);
    }
    tap_ok(good && nfaults == 128, "64 sparse writes: one #PF each, err 2, the write lands, rest of page is fresh");
    for (uint32_t i = 0; i < 64; i++)
        pf_poke(RVA(sparse(i)) + 8, i);
    good = 1;
    for (uint32_t i = 0; i < 64; i++)
        good &= pf_peek(RVA(sparse(i)) + 8) == i;
    tap_ok(good && nfaults == 128, "writes to pages mapped by a read fault: no faults");

    /* 5-7: CPL3 */
    uint32_t va = RVA(1000) + 0x44;
    r = st_try_user(pf_rd32, va);
    tap_ok(pf_val(r, pat(va)) && last_faults(1, &va, 4), "CPL3 read of a not-present page: err 4, mapped, read completes");
    va = RVA(1001) + 0x48;
    pf_wr_value = 0xCAFEF00Du;
    r = st_try_user(pf_wr32, va);
    tap_ok(r == ST_NOFAULT && last_faults(1, &va, 6) && pf_peek(va) == 0xCAFEF00Du,
           "CPL3 write to a not-present page: err 6, mapped, write completes");
    va = RVA(1002) + 0x1000u;
    r = st_try_user(user_push, va);
    uint32_t want = va - 4;
    tap_ok(pf_val(r, 0x5555u) && last_faults(1, &want, 6) && pf_peek(va - 4) == 0x1234u,
           "CPL3 push onto a not-present stack page: err 6, CR2 = ESP - 4");

    /* 8-9: instruction fetch */
    code_a[0x100] = 0xB8;                               /* mov $0x600DC0DE, %eax; ret */
    *(uint32_t *)&code_a[0x101] = 0x600DC0DEu;
    code_a[0x105] = 0xC3;
    backing[1004] = code_a;
    f0 = nfaults;
    va = RVA(1004) + 0x100;
    r = st_try(pf_call, va);
    show_fault("fetch");
    tap_ok(pf_val(r, 0x600DC0DEu) && nfaults == f0 + 1 && last_faults(1, &va, 0) &&
           log_eip[(nfaults - 1) % LOG_N] == va,
           "call into a not-present page: err 0, CR2 = EIP = target, copied code runs");
    code_b[0xFFE] = 0xB8;                               /* mov $0x11223344, %eax straddling */
    code_b[0xFFF] = 0x44;
    code_c[0] = 0x33;
    code_c[1] = 0x22;
    code_c[2] = 0x11;
    code_c[3] = 0xC3;
    backing[1005] = code_b;
    backing[1006] = code_c;
    f0 = nfaults;
    va = RVA(1005) + 0xFFE;
    r = st_try(pf_call, va);
    uint32_t crs[2] = { va, RVA(1006) };
    show_fault("straddle");
    tap_ok(pf_val(r, 0x11223344u) && nfaults == f0 + 2 && last_faults(2, crs, 0) &&
           log_eip[(nfaults - 1) % LOG_N] == va,
           "instruction straddling into a not-present page: 2nd fault CR2 = next page, EIP = instruction start");

    /* 10: unmap + INVLPG */
    va = RVA(sparse(64)) + ((64 * 20u) & 0xFFCu);
    uint32_t old = *pte_of(va);
    uint32_t before = pf_peek(va);
    *pte_of(va) = 0;
    invlpg(va);
    f0 = nfaults;
    uint32_t after = pf_peek(va);
    tap_ok(before == ~64u && after == pat(va) && nfaults == f0 + 1 && last_faults(1, &va, 0) &&
           (*pte_of(va) & ~0xFFFu) != (old & ~0xFFFu),
           "unmap + INVLPG: the next read faults again and sees a fresh frame");

    /* 11: unmap everything with one CR3 reload */
    for (uint32_t i = 0; i < 1024; i++)
        dem_pt[i] = 0;
    write_cr3((uint32_t)pf_kpd);
    f0 = nfaults;
    good = 1;
    for (uint32_t i = 0; i < 16; i++) {
        va = RVA(sparse(i * 4)) + 0x10;
        good &= pf_peek(va) == pat(va) && last_faults(1, &va, 0);
    }
    tap_ok(good && nfaults == f0 + 16, "all PTEs cleared + one CR3 reload: 16 previously mapped pages fault again");

    /* 12: REP STOSL through 6 not-present pages */
    uint32_t base = RVA(960) + 0x800;
    f0 = nfaults;
    pf_fill32(base, 0x77777777u, 5 * 1024);
    uint32_t stos_cr2[6] = { base, RVA(961), RVA(962), RVA(963), RVA(964), RVA(965) };
    good = 1;
    for (uint32_t j = 0; j < 5 * 1024; j++)
        good &= pf_peek(base + j * 4) == 0x77777777u;
    good &= pf_peek(base - 4) == pat(base - 4) && pf_peek(base + 0x5000) == pat(base + 0x5000);
    tap_ok(good && nfaults == f0 + 6 && last_faults(6, stos_cr2, 2),
           "REP STOSL over 6 not-present pages: 6 faults, err 2, CR2 = start then each page base, all stored");

    /* 13: REP MOVSL from not-present pages to not-present pages */
    f0 = nfaults;
    pf_copy32(RVA(980), RVA(970), 3 * 1024);
    good = 1;
    for (uint32_t j = 0; j < 3 * 1024; j++)
        good &= pf_peek(RVA(980) + j * 4) == pat(RVA(970) + j * 4);
    tap_ok(good && nfaults == f0 + 6, "REP MOVSL, 3 pages to 3 pages, all not present: 6 faults, data copied");

    /* 14-15: the second 4 MiB: no page table until the first fault */
    f0 = nfaults;
    uint32_t n0 = next_frame;
    va = RVA(1024 + 77) + 0x123 * 4;
    uint32_t v = pf_peek(va);
    tap_ok(v == pat(va) && nfaults == f0 + 1 && last_faults(1, &va, 0) && npt_allocs == 1 && next_frame == n0 + 2,
           "read under a not-present PDE: one fault, err 0, handler builds PT + page");
    good = 1;
    f0 = nfaults;
    for (uint32_t i = 0; i < 32; i++) {
        va = RVA(1024 + sparse(i)) + 0x20;   /* sparse(0) == 0 .. */
        if (sparse(i) == 77)
            continue;
        pf_poke(va, i);
    }
    for (uint32_t i = 0; i < 32; i++)
        good &= sparse(i) == 77 || pf_peek(RVA(1024 + sparse(i)) + 0x20) == i;
    tap_ok(good && nfaults == f0 + 32 && npt_allocs == 1, "32 more pages under the new PDE: one fault each, no new PT");

    /* 16: totals */
    puts("# faults ");
    putDec(nfaults);
    puts(", frames ");
    putDec(next_frame);
    puts(", page tables ");
    putDec(npt_allocs);
    putc('\n');
    tap_ok(nfaults + npt_allocs == next_frame && nfaults == 196, "fault count: 196 faults, one frame each plus the PT");

    puts("# pf-demand done\n");
    return tap_exit_code();
}
