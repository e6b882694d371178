/* pf-perm: the 32-bit paging access-rights matrix (SDM Vol. 3A 4.6 access
 * rights, 4.7 page-fault error code): U/S and R/W in the PDE and in the PTE
 * (16 combinations) x CPL0/CPL3 x CR0.WP=0/1 x read/write/instruction fetch,
 * plus not-present PDE/PTE. Each row prints one token per combination,
 * "pde/pte:ok" or "pde/pte:eN" (N = #PF error code; u/w = U/S and R/W set,
 * '-' = clear), and checks it against the SDM rules:
 *   CPL3 needs U=1 at both levels, and for writes R/W=1 at both levels;
 *   CPL0 may read/fetch anything (no SMEP/SMAP), and write anything when
 *   WP=0, only R/W=1-at-both-levels pages when WP=1;
 *   fetches follow the read rules (no NX in 32-bit paging, and I/D stays 0);
 *   error code = P (1) | W/R (2 for writes) | U/S (4 at CPL3).
 * Each access also checks CR2 (and EIP = CR2 for fetches), that a write that
 * faulted left memory unchanged, that an allowed access set PTE.A and
 * PDE.A, PTE.D exactly for writes, and that a faulting access set neither
 * PTE.A nor PTE.D. Before every access A/D are cleared and INVLPG is run.
 * Not checked: PDE.A after a fault at the PTE level (implementation-specific). */
#include "pf.h"

#define NPDE 260u                 /* PDE 260: not present */
#define PTE_NP_PDE 261u           /* PDE 261: present (U|W), PTE 0 not present */

static uint32_t pts[4][1024] __attribute__((aligned(4096)));
static uint32_t pt_np[1024] __attribute__((aligned(4096)));

/* combination c (0-15): PDE bits from c >> 2, PTE bits from c & 3;
 * bit 0 of each pair = U/S, bit 1 = R/W. */
static uint32_t bits(uint32_t two) { return ((two & 1) ? PG_U : 0) | ((two & 2) ? PG_W : 0); }
static uint32_t va_of(uint32_t c) { return PF_REGION + (c >> 2) * 0x400000u + (c & 3) * 0x1000u; }
static uint32_t frame_of(uint32_t c) { return PF_FRAME(c); }
static uint32_t *pde_of(uint32_t c) { return &pf_kpd[256 + (c >> 2)]; }
static uint32_t *pte_of(uint32_t c) { return &pts[c >> 2][c & 3]; }

enum { RD, WR, FETCH };
static const char *const acc_name[] = { "read", "write", "fetch" };

static int expect_ok(uint32_t c, uint32_t cpl, uint32_t wp, int acc)
{
    uint32_t both = bits(c >> 2) & bits(c & 3);
    if (cpl == 3)
        return (both & PG_U) && (acc != WR || (both & PG_W));
    return acc != WR || !wp || (both & PG_W);
}

static void token(uint32_t c, int ok, uint32_t err)
{
    putc(' ');
    putc((c & 4) ? 'u' : '-');
    putc((c & 8) ? 'w' : '-');
    putc('/');
    putc((c & 1) ? 'u' : '-');
    putc((c & 2) ? 'w' : '-');
    putc(':');
    if (ok) {
        puts("ok");
    } else {
        putc('e');
        putDec(err);
    }
}

/* One access of kind acc at CPL cpl to the page of combination c (PTE flags
 * given). Returns 1 if every check held; *faulted, *err describe it. */
static int one(uint32_t va, volatile uint32_t *pde, volatile uint32_t *pte, uint32_t frame,
               uint32_t cpl, int acc, int should_ok, uint32_t want_err, int *faulted, uint32_t *err)
{
    *pde &= ~(PG_A | PG_D);
    if (pte)
        *pte &= ~(PG_A | PG_D);
    invlpg(va);
    uint32_t (*fn)(uint32_t) = acc == RD ? pf_rd32 : acc == WR ? pf_wr32 : pf_call;
    uint32_t off = acc == RD ? 0x10 : acc == WR ? 0x20 : 0x40;
    uint32_t before = frame ? pf_peek(frame + 0x20) : 0;
    pf_wr_value = pf_wr_value * 1103515245u + 12345u;
    uint32_t r = cpl == 3 ? st_try_user(fn, va + off) : st_try(fn, va + off);
    *faulted = r != ST_NOFAULT;
    *err = *faulted ? rt_last_trap.error : 0;
    if (!*faulted) {
        if (!should_ok || !frame)
            return 0;
        if (acc == RD && st_result != pf_peek(frame + 0x10))
            return 0;
        if (acc == WR && pf_peek(frame + 0x20) != pf_wr_value)
            return 0;
        if (acc == FETCH && st_result != frame)
            return 0;
        uint32_t want_ad = PG_A | (acc == WR ? PG_D : 0);
        return (*pte & (PG_A | PG_D)) == want_ad && (*pde & (PG_A | PG_D)) == PG_A;
    }
    if (should_ok || !pf_is(r, want_err, va + off))
        return 0;
    if (acc == FETCH && st_fault.eip != va + off)
        return 0;
    if (frame && pf_peek(frame + 0x20) != before)
        return 0;
    return !pte || !(*pte & (PG_A | PG_D));
}

int guest_main(void)
{
    puts("x86v-guest: pf-perm\n");
    pf_init();
    for (uint32_t c = 0; c < 16; c++) {
        uint32_t fr = frame_of(c);
        pf_fill32(fr, 0x11110000u * (c + 1), 1024);
        pf_poke(fr + 0x10, 0xDA7A0000u | c);
        *(volatile uint8_t *)(fr + 0x40) = 0xB8;      /* mov $frame, %eax; ret */
        pf_poke(fr + 0x41, fr);
        *(volatile uint8_t *)(fr + 0x45) = 0xC3;
        *pde_of(c) = (uint32_t)pts[c >> 2] | PG_P | bits(c >> 2);
        *pte_of(c) = fr | PG_P | bits(c & 3);
    }
    pf_kpd[NPDE] = 0;
    pf_kpd[PTE_NP_PDE] = (uint32_t)pt_np | PG_P | PG_W | PG_U;
    write_cr3((uint32_t)pf_kpd);
    tap_plan(13);

    static char desc[64];
    for (uint32_t cpl = 0; cpl <= 3; cpl += 3) {
        for (uint32_t wp = 0; wp < 2; wp++) {
            if (wp)
                write_cr0(read_cr0() | CR0_WP);
            else
                write_cr0(read_cr0() & ~CR0_WP);
            for (int acc = RD; acc <= FETCH; acc++) {
                int good = 1;
                puts("# cpl");
                putDec(cpl);
                puts(" wp");
                putDec(wp);
                putc(' ');
                puts(acc_name[acc]);
                putc(':');
                for (uint32_t c = 0; c < 16; c++) {
                    int want = expect_ok(c, cpl, wp, acc);
                    uint32_t want_err = PG_P | (acc == WR ? PG_W : 0) | (cpl == 3 ? PG_U : 0);
                    int faulted;
                    uint32_t err;
                    good &= one(va_of(c), pde_of(c), pte_of(c), frame_of(c), cpl, acc, want, want_err, &faulted, &err);
                    token(c, !faulted, err);
                }
                putc('\n');
                char *d = desc;
                const char *parts[] = { "CPL", cpl ? "3" : "0", " WP=", wp ? "1" : "0", " ", acc_name[acc],
                                        ": 16 U/S x R/W combinations as the SDM says" };
                for (unsigned i = 0; i < sizeof parts / sizeof parts[0]; i++)
                    for (const char *s = parts[i]; *s; s++)
                        *d++ = *s;
                *d = 0;
                tap_ok(good, desc);
            }
        }
    }
    write_cr0(read_cr0() | CR0_WP);

    /* not present: PDE (P=0) and PTE (P=0) */
    int good = 1;
    puts("# not present (pde, pte) x (cpl0, cpl3) x (read, write, fetch):");
    for (uint32_t lvl = 0; lvl < 2; lvl++) {
        uint32_t va = lvl ? PTE_NP_PDE << 22 : NPDE << 22;
        volatile uint32_t *pde = &pf_kpd[lvl ? PTE_NP_PDE : NPDE];
        for (uint32_t cpl = 0; cpl <= 3; cpl += 3) {
            for (int acc = RD; acc <= FETCH; acc++) {
                uint32_t want_err = (acc == WR ? PG_W : 0) | (cpl == 3 ? PG_U : 0);
                int faulted;
                uint32_t err;
                good &= one(va + 0x5000, pde, lvl ? &pt_np[5] : 0, 0, cpl, acc, 0, want_err, &faulted, &err);
                puts(faulted ? " e" : " ok");
                if (faulted)
                    putDec(err);
            }
        }
    }
    putc('\n');
    tap_ok(good, "not-present PDE and PTE: err 0/2 at CPL0, 4/6 at CPL3, fetch as read, CR2 exact");

    puts("# pf-perm done\n");
    return tap_exit_code();
}
