/* pf-cr3: many address spaces and global pages (SDM Vol. 3A 4.10.2 TLBs,
 * 4.10.4.1 MOV to CR3 / CR4 and INVLPG, 4.10.2.4 global pages). Sixteen page
 * directories map the same linear page to sixteen different frames; 1,024
 * CR3 switches in a scrambled order check that every read and write uses the
 * loaded directory. Also: a shared frame written from every space, a page
 * present only in even spaces (#PF err 0/4 in the others), CR3 keeping its
 * PWT/PCD bits, MOV CR3 with the same value flushing a non-global entry, and
 * CR4.PGE: a global 4 KiB page (shared page table) and a global 4 MiB page
 * readable in every space, INVLPG invalidating a global entry, and any write
 * of CR4.PGE (1 -> 0 and 0 -> 1) flushing the TLB, global entries included;
 * INVLPG of any address in a 4 MiB page invalidating every translation for
 * that page (SDM 4.10.2.3: "an execution of INVLPG for a linear address on a
 * 4-MByte page will invalidate any and all smaller-page TLB entries").
 * Not checked (not deterministic: a global entry may or may not still be
 * cached): whether a global translation survives MOV CR3 after its PTE was
 * edited, and what a space that maps a global address differently sees. */
#include "pf.h"

#define NS 16u
#define VA0 0x40000000u                      /* PDE 256: private page per space */
#define VA1 0x40001000u                      /*          shared frame */
#define VA2 0x40002000u                      /*          present in even spaces only */
#define VA_G 0x40800000u                     /* PDE 258: shared page table, global PTEs */
#define VA_G4M 0x40C00000u                   /* PDE 259: global 4 MiB page */
#define VA_BIG 0x41000000u                   /* PDE 260: non-global 4 MiB page */
#define FR(n) PF_FRAME(n)
#define SHARED_FR FR(100)
#define G4M_PA(n) (0x02000000u + (uint32_t)(n) * 0x400000u)

static uint32_t pds[NS][1024] __attribute__((aligned(4096)));
static uint32_t pts[NS][1024] __attribute__((aligned(4096)));
static uint32_t pt_glob[1024] __attribute__((aligned(4096)));

static uint32_t tag(uint32_t n, uint32_t w) { return 0xE0000000u | n << 12 | w; }
static void use(uint32_t s) { write_cr3((uint32_t)pds[s]); }
static void set_g4m(uint32_t n)
{
    for (uint32_t s = 0; s < NS; s++)
        pds[s][259] = G4M_PA(n) | PG_PS | PG_P | PG_W | PG_G;
}

int guest_main(void)
{
    puts("x86v-guest: pf-cr3\n");
    pf_init();
    for (uint32_t n = 0; n < 210; n++)
        for (uint32_t w = 0; w < 1024; w++)
            pf_poke(FR(n) + w * 4, tag(n, w));
    for (uint32_t k = 0; k < 2; k++)
        pf_poke(G4M_PA(k) + 0x1230, 0x4444u + k);
    pt_glob[0] = FR(200) | PG_P | PG_W | PG_G;
    for (uint32_t s = 0; s < NS; s++) {
        pf_kernel_pdes(pds[s]);
        pds[s][256] = (uint32_t)pts[s] | PG_P | PG_W | PG_U;
        pds[s][258] = (uint32_t)pt_glob | PG_P | PG_W;
        pts[s][0] = FR(s) | PG_P | PG_W | PG_U;
        pts[s][1] = SHARED_FR | PG_P | PG_W | PG_U;
        pts[s][2] = (s & 1) ? 0 : FR(50 + s) | PG_P | PG_W | PG_U;
    }
    set_g4m(0);
    use(0);
    tap_plan(12);
    int good;
    uint32_t r;

    /* 1-2: 1,024 switches */
    good = 1;
    for (uint32_t round = 0; round < 64; round++)
        for (uint32_t k = 0; k < NS; k++) {
            uint32_t s = (round * 5u + k * 7u) & (NS - 1);
            use(s);
            good &= pf_peek(VA0) == tag(s, 0) && pf_peek(VA0 + 0xFFC) == tag(s, 1023);
            pf_poke(VA0 + 4 + round * 4, s * 1000u + round);
        }
    tap_ok(good, "1024 CR3 switches among 16 spaces: VA 0x40000000 reads each space's own frame");
    good = 1;
    for (uint32_t s = 0; s < NS; s++)
        for (uint32_t round = 0; round < 64; round++)
            good &= pf_peek(FR(s) + 4 + round * 4) == s * 1000u + round;
    tap_ok(good, "writes made through the same VA landed in each space's frame only");

    /* 3: shared frame */
    for (uint32_t s = 0; s < NS; s++) {
        use(s);
        pf_poke(VA1 + s * 4, 0x5000u + s);
    }
    good = 1;
    for (uint32_t s = 0; s < NS; s++) {
        use(NS - 1 - s);
        for (uint32_t t = 0; t < NS; t++)
            good &= pf_peek(VA1 + t * 4) == 0x5000u + t;
    }
    tap_ok(good, "a frame mapped in all 16 spaces: each space's write is seen from every space");

    /* 4: present in even spaces only */
    good = 1;
    puts("# VA2 by space:");
    for (uint32_t s = 0; s < NS; s++) {
        use(s);
        r = (s & 2) ? st_try_user(pf_rd32, VA2 + 0x40) : st_try(pf_rd32, VA2 + 0x40);
        if (s & 1) {
            good &= pf_is(r, (s & 2) ? 4 : 0, VA2 + 0x40);
            putc(' ');
            putc('e');
            putDec(rt_last_trap.error);
        } else {
            good &= pf_val(r, tag(50 + s, 0x10));
            puts(" ok");
        }
    }
    putc('\n');
    tap_ok(good, "page present only in even spaces: odd spaces fault (err 0 at CPL0, 4 at CPL3), CR2 exact");

    /* 5: CR3 PWT/PCD */
    write_cr3((uint32_t)pds[3] | 0x18);
    uint32_t cr3 = read_cr3();
    tap_ok(cr3 == ((uint32_t)pds[3] | 0x18) && pf_peek(VA0) == tag(3, 0), "CR3 keeps PWT/PCD (bits 3-4); translation uses bits 31:12");

    /* 6: MOV CR3 with the same value flushes non-global entries */
    use(4);
    good = pf_peek(VA0 + 0x808) == tag(4, 0x202);
    pts[4][0] = FR(150) | PG_P | PG_W | PG_U;
    use(4);
    tap_ok(good && pf_peek(VA0 + 0x808) == tag(150, 0x202), "non-global PTE edited, CR3 reloaded with the same value: new frame used");
    pts[4][0] = FR(4) | PG_P | PG_W | PG_U;
    use(4);

    /* 7: global pages visible everywhere */
    write_cr4(read_cr4() | CR4_PGE);
    good = 1;
    for (uint32_t round = 0; round < 4; round++)
        for (uint32_t s = 0; s < NS; s++) {
            use((s * 3u + round) & (NS - 1));
            good &= pf_peek(VA_G + 0x20) == tag(200, 8) && pf_peek(VA_G4M + 0x1230) == 0x4444u &&
                    pf_peek(VA0) == tag((s * 3u + round) & (NS - 1), 0);
        }
    tap_ok(good, "CR4.PGE: a global 4 KiB page and a global 4 MiB page read the same in every space");

    /* 8: INVLPG invalidates global entries */
    pt_glob[0] = FR(201) | PG_P | PG_W | PG_G;
    invlpg(VA_G);
    good = pf_peek(VA_G + 0x24) == tag(201, 9);
    pds[7][259] = G4M_PA(1) | PG_PS | PG_P | PG_W | PG_G;
    use(7);
    invlpg(VA_G4M);
    good &= pf_peek(VA_G4M + 0x1230) == 0x4445u;
    for (uint32_t s = 0; s < NS; s++) {
        use(s);
        good &= pf_peek(VA_G + 0x28) == tag(201, 10);
    }
    set_g4m(0);
    invlpg(VA_G4M);
    tap_ok(good, "INVLPG invalidates a global 4 KiB and a global 4 MiB entry");

    /* 9: clearing CR4.PGE flushes global entries */
    use(9);
    good = pf_peek(VA_G) == tag(201, 0) && pf_peek(VA_G4M + 0x1230) == 0x4444u;
    pt_glob[0] = FR(202) | PG_P | PG_W | PG_G;
    set_g4m(1);
    write_cr4(read_cr4() & ~CR4_PGE);
    good &= pf_peek(VA_G + 0x2C) == tag(202, 11) && pf_peek(VA_G4M + 0x1230) == 0x4445u;
    tap_ok(good, "clearing CR4.PGE flushes global entries (4 KiB and 4 MiB)");

    /* 10: setting CR4.PGE flushes everything too */
    good = pf_peek(VA0 + 0x830) == tag(9, 0x20C);
    pts[9][0] = FR(160) | PG_P | PG_W | PG_U;
    pt_glob[0] = FR(203) | PG_P | PG_W | PG_G;
    write_cr4(read_cr4() | CR4_PGE);
    good &= pf_peek(VA0 + 0x830) == tag(160, 0x20C) && pf_peek(VA_G + 0x34) == tag(203, 13);
    tap_ok(good, "setting CR4.PGE flushes the TLB (non-global and global entries)");

    /* 11: with PGE on, MOV CR3 still flushes non-global entries */
    good = 1;
    for (uint32_t s = 0; s < NS; s++) {
        use(s);
        good &= pf_peek(VA0 + 0x838) == tag(s == 9 ? 160 : s, 0x20E);
        pts[s][0] = FR(s + 170) | PG_P | PG_W | PG_U;
        use(s);
        good &= pf_peek(VA0 + 0x838) == tag(s + 170, 0x20E) && pf_peek(VA_G + 0x3C) == tag(203, 15);
    }
    tap_ok(good, "with CR4.PGE=1, MOV CR3 still flushes non-global entries in each of the 16 spaces");
    write_cr4(read_cr4() & ~CR4_PGE);

    /* 12: INVLPG anywhere in a 4 MiB page drops all of its translations */
    use(0);
    pds[0][260] = G4M_PA(0) | PG_PS | PG_P | PG_W;
    invlpg(VA_BIG);
    good = pf_peek(VA_BIG + 0x1230) == 0x4444u && pf_peek(VA_BIG + 0x3FF000u) == pf_peek(G4M_PA(0) + 0x3FF000u);
    pds[0][260] = G4M_PA(1) | PG_PS | PG_P | PG_W;
    invlpg(VA_BIG + 0x3FF000u);
    tap_ok(good && pf_peek(VA_BIG + 0x1230) == 0x4445u,
           "non-global 4 MiB page: INVLPG of its last 4 KiB invalidates the translation used at offset 0x1230 too");

    puts("# pf-cr3 done\n");
    return tap_exit_code();
}
