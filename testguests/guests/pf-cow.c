/* pf-cow: copy-on-write "fork" across address spaces (SDM Vol. 3A 4.6
 * access rights, 4.7 #PF error code, 4.10.4 TLB invalidation). Three page
 * directories (A, B forked from A, C forked from B) share the kernel PDEs and
 * have their own page table for a 64-page region at 0x40000000. Forking
 * clears R/W in the parent's PTEs (plus an AVL "COW" mark), copies them to
 * the child, counts references per frame and reloads CR3. A write to a COW
 * page faults (err 3 at CPL0 with WP=1, 7 at CPL3); the handler, looking up
 * the space from CR3, copies the frame and maps the copy writable in the
 * faulting space only, or just sets R/W when the space holds the last
 * reference. Checked: error codes and CR2, that other spaces keep the old
 * data across CR3 switches, that the faulting instruction is restarted (an
 * INC applies once, REP MOVS completes), a shared zero page, and fault,
 * copy and reuse counts. One test runs the handler without INVLPG: the #PF
 * itself invalidates the faulting page's TLB entries (SDM 4.10.4.1), so the
 * retried write must succeed with no second fault.
 * Not checked: a write to a page whose R/W was changed 0 -> 1 without
 * invalidation outside a fault handler (a spurious #PF is allowed, SDM
 * 4.10.4.3). */
#include "pf.h"

#define NPAGES 64u
#define VA(n) (PF_REGION + (uint32_t)(n) * 0x1000u)
#define COW 0x200u                          /* AVL bit 9: copy-on-write */
#define NFRAMES 256u

enum { SA, SB, SC, NSPACES };
static uint32_t pds[NSPACES][1024] __attribute__((aligned(4096)));
static uint32_t pts[NSPACES][1024] __attribute__((aligned(4096)));
static uint8_t refs[NFRAMES];
static uint32_t next_frame;
static volatile uint32_t nfaults, ncopies, nreuses, use_invlpg = 1;
static volatile uint32_t last_err, last_cr2, last_space;
static uint32_t zero_frame;

static uint32_t frame_no(uint32_t pte) { return ((pte & ~0xFFFu) - PF_FRAME(0)) >> 12; }
static uint32_t alloc_frame(void)
{
    uint32_t n = next_frame++;
    refs[n] = 1;
    return PF_FRAME(n);
}
static int space_of_cr3(void)
{
    uint32_t cr3 = read_cr3() & ~0xFFFu;
    for (int s = 0; s < NSPACES; s++)
        if (cr3 == (uint32_t)pds[s])
            return s;
    return -1;
}
static void use(int s) { write_cr3((uint32_t)pds[s]); }

static int hook(struct rt_frame *f)
{
    uint32_t cr2 = read_cr2();
    int s = space_of_cr3();
    if (f->vector != 14 || s < 0 || (f->error & 3) != 3 || cr2 - PF_REGION >= NPAGES * 0x1000u)
        return 0;
    uint32_t idx = (cr2 - PF_REGION) >> 12;
    uint32_t pte = pts[s][idx];
    if (!(pte & COW))
        return 0;
    uint32_t fn = frame_no(pte);
    if (refs[fn] > 1) {
        uint32_t g = alloc_frame();
        pf_copy32(g, pte & ~0xFFFu, 1024);
        refs[fn]--;
        pts[s][idx] = g | PG_P | PG_W | PG_U;
        ncopies++;
    } else {
        pts[s][idx] = (pte & ~COW) | PG_W;
        nreuses++;
    }
    if (use_invlpg)
        invlpg(cr2);
    nfaults++;
    last_err = f->error;
    last_cr2 = cr2;
    last_space = (uint32_t)s;
    return 1;
}

/* Child space `to` becomes a COW copy of `from`. */
static void fork(int from, int to)
{
    for (uint32_t i = 0; i < NPAGES; i++) {
        uint32_t pte = pts[from][i];
        if (pte & PG_P) {
            if (pte & PG_W)
                pte = (pte & ~PG_W) | COW;
            pts[from][i] = pte;
            refs[frame_no(pte)]++;
        }
        pts[to][i] = pte;
    }
    write_cr3(read_cr3());               /* R/W 1 -> 0 needs invalidation */
}

/* The space's view of word w of page n (switches CR3 and back). */
static uint32_t peek_in(int s, uint32_t n, uint32_t w)
{
    uint32_t cr3 = read_cr3();
    use(s);
    uint32_t v = pf_peek(VA(n) + w * 4);
    write_cr3(cr3);
    return v;
}
static uint32_t orig(uint32_t n, uint32_t w) { return 0xC0000000u | n << 16 | w; }
static uint32_t frame_in(int s, uint32_t n) { return pts[s][n] & ~0xFFFu; }

uint32_t inc_at(uint32_t);
__asm__(".text\n.globl inc_at\ninc_at:\n  movl 4(%esp), %ecx\n  incl (%ecx)\n  ret\n");

int guest_main(void)
{
    puts("x86v-guest: pf-cow\n");
    pf_init();
    for (int s = 0; s < NSPACES; s++) {
        pf_kernel_pdes(pds[s]);
        pds[s][256] = (uint32_t)pts[s] | PG_P | PG_W | PG_U;
    }
    zero_frame = alloc_frame();
    pf_fill32(zero_frame, 0, 1024);
    for (uint32_t n = 0; n < 32; n++) {
        uint32_t fr = alloc_frame();
        for (uint32_t w = 0; w < 1024; w++)
            pf_poke(fr + w * 4, orig(n, w));
        pts[SA][n] = fr | PG_P | PG_W | PG_U;
    }
    for (uint32_t n = 32; n < 36; n++) {        /* shared zero page */
        pts[SA][n] = zero_frame | PG_P | PG_U | COW;
        refs[frame_no(zero_frame)]++;
    }
    use(SA);
    st_guest_hook = hook;
    tap_plan(14);
    uint32_t r, f0;
    int good;

    /* 1: fork A -> B */
    for (uint32_t n = 0; n < 32; n++)
        pf_peek(VA(n));                         /* A's translations cached */
    fork(SA, SB);
    good = 1;
    for (uint32_t n = 0; n < 32; n++)
        good &= pf_peek(VA(n) + n * 4) == orig(n, n) && peek_in(SB, n, 1023 - n) == orig(n, 1023 - n) &&
                frame_in(SA, n) == frame_in(SB, n);
    tap_ok(good && nfaults == 0, "after fork A and B read the same frames, no faults");

    /* 2-4: write in A, B keeps the old data, B's write reuses the frame */
    uint32_t shared = frame_in(SA, 3);
    pf_wr_value = 0xAAAA0003u;
    r = st_try(pf_wr32, VA(3) + 0x10);
    tap_ok(r == ST_NOFAULT && nfaults == 1 && last_err == 3 && last_cr2 == VA(3) + 0x10 && ncopies == 1 &&
           pf_peek(VA(3) + 0x10) == 0xAAAA0003u && frame_in(SA, 3) != shared && pf_peek(VA(3) + 0x14) == orig(3, 5),
           "CPL0 write to a COW page in A: err 3, CR2 exact, private copy with the old contents + the write");
    use(SB);
    tap_ok(pf_peek(VA(3) + 0x10) == orig(3, 4) && frame_in(SB, 3) == shared, "B still sees the old data in the shared frame");
    pf_poke(VA(3) + 0x10, 0xBBBB0003u);
    tap_ok(nfaults == 2 && last_err == 3 && nreuses == 1 && ncopies == 1 && frame_in(SB, 3) == shared &&
           pf_peek(VA(3) + 0x10) == 0xBBBB0003u && peek_in(SA, 3, 4) == 0xAAAA0003u,
           "B writes the page: last reference, R/W set in place, no copy; A keeps its copy");

    /* 5: CPL3 write in B */
    pf_wr_value = 0xBBBB0005u;
    r = st_try_user(pf_wr32, VA(5) + 0x20);
    tap_ok(r == ST_NOFAULT && last_err == 7 && last_cr2 == VA(5) + 0x20 && ncopies == 2 &&
           peek_in(SA, 5, 8) == orig(5, 8) && pf_peek(VA(5) + 0x20) == 0xBBBB0005u,
           "CPL3 write to a COW page in B: err 7, copied, A unchanged");

    /* 6: INC restarts once */
    use(SA);
    f0 = nfaults;
    r = st_try(inc_at, VA(6) + 0x30);
    tap_ok(r == ST_NOFAULT && nfaults == f0 + 1 && last_err == 3 && pf_peek(VA(6) + 0x30) == orig(6, 12) + 1 &&
           peek_in(SB, 6, 12) == orig(6, 12), "INC on a COW page: one fault, incremented exactly once, B unchanged");

    /* 7: fork B -> C, three-way sharing */
    use(SB);
    fork(SB, SC);
    use(SC);
    pf_poke(VA(7) + 0x40, 0xCCCC0007u);
    uint32_t c_copied = ncopies;
    use(SA);
    pf_poke(VA(7) + 0x40, 0xAAAA0007u);
    uint32_t a_copied = ncopies;
    use(SB);
    uint32_t before_b = pf_peek(VA(7) + 0x40);
    pf_poke(VA(7) + 0x40, 0xBBBB0007u);
    tap_ok(before_b == orig(7, 16) && c_copied == 4 && a_copied == 5 && ncopies == 5 && nreuses == 2 &&
           peek_in(SA, 7, 16) == 0xAAAA0007u && peek_in(SC, 7, 16) == 0xCCCC0007u && pf_peek(VA(7) + 0x40) == 0xBBBB0007u,
           "fork B -> C: C and A copy, B (last reference) reuses; each space sees its own word");

    /* 8: ping-pong across the three spaces */
    f0 = nfaults;
    uint32_t c0 = ncopies, u0 = nreuses;
    for (uint32_t it = 0; it < 30; it++)
        for (int s = 0; s < NSPACES; s++) {
            use(s);
            pf_poke(VA(9) + (uint32_t)s * 4, it * 16 + (uint32_t)s);
            pf_poke(VA(10 + (it & 3)) + 0x100, it);
        }
    good = 1;
    for (int s = 0; s < NSPACES; s++) {
        for (int t = 0; t < NSPACES; t++)
            good &= peek_in(s, 9, (uint32_t)t) == (t == s ? 29u * 16 + (uint32_t)s : orig(9, (uint32_t)t));
        for (uint32_t k = 0; k < 4; k++)
            good &= peek_in(s, 10 + k, 0x40) == k + 4 * ((29 - k) / 4);   /* last it with it % 4 == k */
    }
    puts("# ping-pong: faults ");
    putDec(nfaults - f0);
    puts(", copies ");
    putDec(ncopies - c0);
    puts(", reuses ");
    putDec(nreuses - u0);
    putc('\n');
    tap_ok(good && nfaults - f0 == 15 && ncopies - c0 == 10 && nreuses - u0 == 5,
           "90 CR3 switches writing pages 9-13: one fault per page and space, private data everywhere");

    /* 9: handler without INVLPG */
    use(SA);
    f0 = nfaults;
    uint32_t v = pf_peek(VA(20));               /* read-only translation cached */
    use_invlpg = 0;
    pf_wr_value = 0x5EC0DEu;
    r = st_try(pf_wr32, VA(20));
    use_invlpg = 1;
    tap_ok(v == orig(20, 0) && r == ST_NOFAULT && nfaults == f0 + 1 && pf_peek(VA(20)) == 0x5EC0DEu,
           "handler without INVLPG: the #PF invalidated the stale read-only entry, one fault only");

    /* 10: REP MOVSL into 3 COW pages */
    use(SB);
    f0 = nfaults;
    pf_copy32(VA(21) + 0x800, VA(0), 2048);
    good = 1;
    for (uint32_t w = 0; w < 2048; w++)
        good &= pf_peek(VA(21) + 0x800 + w * 4) == orig(w >> 10, w & 1023);
    good &= peek_in(SA, 22, 0) == orig(22, 0) && peek_in(SC, 23, 0x1FF) == orig(23, 0x1FF);
    tap_ok(good && nfaults == f0 + 3, "REP MOVSL over 3 COW pages in B: 3 faults, copy complete, A and C unchanged");

    /* 11: shared zero page */
    use(SC);
    f0 = nfaults;
    good = 1;
    for (uint32_t n = 32; n < 36; n++)
        good &= pf_peek(VA(n) + n) == 0;
    good &= nfaults == f0;
    for (uint32_t n = 32; n < 36; n++)
        pf_poke(VA(n) + 0x80, n);
    for (uint32_t n = 32; n < 36; n++)
        good &= pf_peek(VA(n) + 0x80) == n && pf_peek(VA(n)) == 0 && peek_in(SA, n, 0x20) == 0 &&
                frame_in(SC, n) != zero_frame;
    tap_ok(good && nfaults == f0 + 4 && pf_peek(zero_frame + 0x80) == 0,
           "zero page shared RO by 4 pages: reads fault-free, each write gets a private copy");

    /* 12: B exits; A becomes the last owner of what it shared only with B */
    for (uint32_t n = 0; n < NPAGES; n++)
        if (pts[SB][n] & PG_P)
            refs[frame_no(pts[SB][n])]--;
    use(SA);
    uint32_t c1 = ncopies;
    uint32_t frame0 = frame_in(SA, 24);
    pf_poke(VA(24), 0xAAAA0024u);               /* shared by A and C still */
    uint32_t c2 = ncopies;
    use(SC);
    pf_poke(VA(24), 0xCCCC0024u);               /* C is now the last owner */
    tap_ok(c2 == c1 + 1 && ncopies == c2 && frame_in(SC, 24) == frame0 && peek_in(SA, 24, 0) == 0xAAAA0024u,
           "after B exits: A copies (C still shares), then C reuses the frame");

    /* 13: CR3 back and forth, final contents */
    good = 1;
    for (uint32_t it = 0; it < 8; it++) {
        good &= peek_in(SA, 3, 4) == 0xAAAA0003u && peek_in(SC, 3, 4) == 0xBBBB0003u;
        good &= peek_in(SC, 7, 16) == 0xCCCC0007u && peek_in(SA, 24, 0) == 0xAAAA0024u && peek_in(SC, 24, 0) == 0xCCCC0024u;
    }
    tap_ok(good, "CR3 back and forth between A and C: each keeps its own view of pages 3, 7 and 24");

    /* 14: totals */
    puts("# faults ");
    putDec(nfaults);
    puts(", copies ");
    putDec(ncopies);
    puts(", reuses ");
    putDec(nreuses);
    putc('\n');
    tap_ok(nfaults == ncopies + nreuses && nfaults == 32, "totals: 32 faults = copies + reuses");

    puts("# pf-cow done\n");
    return tap_exit_code();
}
