/* pf-live: editing live page tables (SDM Vol. 3A 4.3 32-bit paging, 4.10.4
 * invalidation). Every edit of a translation that may be cached is followed
 * by INVLPG or a CR3 reload before the edited address is used, so nothing
 * here depends on stale TLB contents:
 *   - remap a PTE to another frame, unmap it, make it read-only (+ INVLPG);
 *   - a recursive page directory (PDE 1023 -> the PD itself): PTEs and PDEs
 *     read and written through the 0xFFC00000 window, a new page table
 *     installed and filled through it, CPL3 kept out of it (supervisor PDE);
 *   - a page table that maps itself: PTEs written through that mapping, and a
 *     PTE read through the translation it defines shows its own A bit;
 *   - two page directories sharing one page table (an edit made in one is
 *     seen in the other after MOV CR3);
 *   - a live page table overwritten wholesale with REP STOSL and with loops
 *     of ordinary stores, then read through (after a CR3 reload);
 *   - a page table taken out of use and then written 32,768 times as data
 *     ("write flooding"), then put back into use as a page table;
 *   - a PDE switched from a page table to a 4 MiB page and back (CR3 reload:
 *     a change of page size may leave both sizes cached, SDM 4.10.2.3).
 * Not checked: any access between an edit and its invalidation. */
#include "pf.h"

#define VA(n) (PF_REGION + (uint32_t)(n) * 0x1000u)   /* PDE 256: pt_a */
#define FR(n) PF_FRAME(n)
#define WIN_PTE(va) (0xFFC00000u + ((va) >> 12) * 4u)
#define WIN_PDE(va) (0xFFFFF000u + ((va) >> 22) * 4u)
#define SHARED_PDE 300u
#define FLOOD_PDE  301u
#define SIZE_PDE   302u
#define NEW_PDE    303u
#define AT(pde, n) (((uint32_t)(pde) << 22) + (uint32_t)(n) * 0x1000u)

static uint32_t pt_a[1024] __attribute__((aligned(4096)));
static uint32_t pt_shared[1024] __attribute__((aligned(4096)));
static uint32_t pt_flood[1024] __attribute__((aligned(4096)));
static uint32_t pt_size[1024] __attribute__((aligned(4096)));
static uint32_t pd2[1024] __attribute__((aligned(4096)));

/* Frame n holds tag(n, w) in word w. */
static uint32_t tag(uint32_t n, uint32_t w) { return 0xF0000000u | n << 12 | w; }
static int frame_at(uint32_t va, uint32_t n)
{
    uint32_t w = (va & 0xFFFu) >> 2;
    return pf_peek(va) == tag(n, w);
}
static void set_a(uint32_t n, uint32_t pte)
{
    pt_a[n] = pte;
    invlpg(VA(n));
}

int guest_main(void)
{
    puts("x86v-guest: pf-live\n");
    pf_init();
    for (uint32_t n = 0; n < 64; n++)
        for (uint32_t w = 0; w < 1024; w++)
            pf_poke(FR(n) + w * 4, tag(n, w));
    for (uint32_t n = 0; n < 16; n++)
        pt_a[n] = FR(n) | PG_P | PG_W | PG_U;
    pf_kpd[256] = (uint32_t)pt_a | PG_P | PG_W | PG_U;
    pf_kpd[1023] = (uint32_t)pf_kpd | PG_P | PG_W;          /* recursive, supervisor */
    pf_kernel_pdes(pd2);
    pd2[SHARED_PDE] = pf_kpd[SHARED_PDE] = (uint32_t)pt_shared | PG_P | PG_W | PG_U;
    write_cr3((uint32_t)pf_kpd);
    tap_plan(15);
    uint32_t r;
    int good;

    /* 1-3: remap, unmap, read-only */
    good = frame_at(VA(2) + 0x10, 2);
    set_a(2, FR(40) | PG_P | PG_W | PG_U);
    tap_ok(good && frame_at(VA(2) + 0x10, 40), "PTE remapped to another frame + INVLPG: the new frame is read");
    set_a(2, 0);
    r = st_try(pf_rd32, VA(2) + 0x14);
    tap_ok(pf_is(r, 0, VA(2) + 0x14), "PTE cleared + INVLPG: #PF err 0");
    set_a(3, FR(3) | PG_P | PG_U);
    r = st_try(pf_wr32, VA(3) + 0x18);
    tap_ok(pf_is(r, 3, VA(3) + 0x18) && frame_at(VA(3) + 0x18, 3), "PTE made read-only + INVLPG: write faults err 3, memory unchanged");

    /* 4-7: recursive page directory */
    good = 1;
    for (uint32_t n = 0; n < 16; n++)
        good &= pf_peek(WIN_PTE(VA(n))) == pt_a[n];
    good &= pf_peek(WIN_PDE(VA(0))) == pf_kpd[256] && pf_peek(WIN_PDE(0xFFC00000u)) == pf_kpd[1023];
    tap_ok(good, "recursive PD: PTEs at 0xFFC00000 + (va >> 12) * 4, PDEs at 0xFFFFF000 + (va >> 22) * 4");
    pf_poke(WIN_PTE(VA(4)), FR(44) | PG_P | PG_W | PG_U);
    invlpg(VA(4));
    tap_ok((pt_a[4] & ~(PG_A | PG_D)) == (FR(44) | PG_P | PG_W | PG_U) && frame_at(VA(4) + 0x20, 44),
           "PTE written through the recursive window + INVLPG: the new frame is read");
    uint32_t newpt = FR(64);
    pf_poke(WIN_PDE(AT(NEW_PDE, 0)), newpt | PG_P | PG_W | PG_U);
    invlpg(WIN_PTE(AT(NEW_PDE, 0)));
    pf_fill32(WIN_PTE(AT(NEW_PDE, 0)), 0, 1024);               /* zero the new PT through the window */
    pf_poke(WIN_PTE(AT(NEW_PDE, 5)), FR(45) | PG_P | PG_W | PG_U);
    invlpg(AT(NEW_PDE, 5));
    r = st_try(pf_rd32, AT(NEW_PDE, 6));
    tap_ok(pf_is(r, 0, AT(NEW_PDE, 6)) && frame_at(AT(NEW_PDE, 5) + 0x24, 45) && pf_peek(newpt + 5 * 4) == (FR(45) | PG_P | PG_W | PG_U | PG_A),
           "new page table installed, zeroed and filled through the window: mapped page reads, others fault");
    r = st_try_user(pf_rd32, WIN_PTE(VA(0)));
    tap_ok(pf_is(r, 5, WIN_PTE(VA(0))), "CPL3 read of the window (supervisor PDE 1023): err 5");

    /* 8: a page table that maps itself */
    set_a(7, (uint32_t)pt_a | PG_P | PG_W);                    /* VA(7) = pt_a */
    pf_poke(VA(7) + 9 * 4, FR(49) | PG_P | PG_W | PG_U);
    invlpg(VA(9));
    uint32_t self = pf_peek(VA(7) + 7 * 4);
    tap_ok(frame_at(VA(9) + 0x28, 49) && pt_a[9] == (FR(49) | PG_P | PG_W | PG_U | PG_A) &&
           self == ((uint32_t)pt_a | PG_P | PG_W | PG_A | PG_D),
           "PT mapped by its own entry: a PTE written through it works; that entry reads back with A and D set");

    /* 9: two page directories sharing one page table */
    pt_shared[4] = FR(20) | PG_P | PG_W | PG_U;
    invlpg(AT(SHARED_PDE, 4));
    good = frame_at(AT(SHARED_PDE, 4), 20);
    write_cr3((uint32_t)pd2);
    good &= frame_at(AT(SHARED_PDE, 4) + 4, 20);
    pt_shared[4] = FR(21) | PG_P | PG_W | PG_U;
    invlpg(AT(SHARED_PDE, 4));
    good &= frame_at(AT(SHARED_PDE, 4) + 8, 21);
    write_cr3((uint32_t)pf_kpd);
    good &= frame_at(AT(SHARED_PDE, 4) + 12, 21);
    pt_shared[4] = FR(22) | PG_P | PG_W | PG_U;                 /* edited, then a CR3 switch */
    write_cr3((uint32_t)pd2);
    good &= frame_at(AT(SHARED_PDE, 4) + 16, 22);
    write_cr3((uint32_t)pf_kpd);
    tap_ok(good, "page table shared by two PDs: an edit in either is seen in the other after MOV CR3");

    /* 10-11: a live page table overwritten with ordinary stores */
    for (uint32_t n = 0; n < 16; n++)
        if (n != 2)
            pf_peek(VA(n));                                    /* cache what is mapped */
    pf_fill32((uint32_t)pt_a, FR(33) | PG_P | PG_W | PG_U, 1024);
    write_cr3((uint32_t)pf_kpd);
    good = 1;
    for (uint32_t n = 0; n < 1024; n += 73)
        good &= frame_at(VA(n) + n * 4, 33);
    tap_ok(good, "REP STOSL over a live PT (all 1024 PTEs -> one frame) + CR3 reload: every page reads that frame");
    for (uint32_t n = 0; n < 1024; n++)
        pt_a[n] = FR(n & 63) | PG_P | PG_W | PG_U;
    write_cr3((uint32_t)pf_kpd);
    good = 1;
    for (uint32_t n = 0; n < 1024; n += 7)
        good &= frame_at(VA(n) + (n & 0x3FF) * 4, n & 63);
    tap_ok(good, "loop of stores rewriting all 1024 PTEs + CR3 reload: each page reads its new frame");

    /* 12-13: write flooding */
    for (uint32_t n = 0; n < 32; n++)
        pt_flood[n] = FR(n) | PG_P | PG_W;
    pf_kpd[FLOOD_PDE] = (uint32_t)pt_flood | PG_P | PG_W;
    write_cr3((uint32_t)pf_kpd);
    good = 1;
    for (uint32_t n = 0; n < 32; n++)
        good &= frame_at(AT(FLOOD_PDE, n) + 0x40, n);
    pf_kpd[FLOOD_PDE] = 0;
    write_cr3((uint32_t)pf_kpd);
    volatile uint32_t *fl = pt_flood;
    uint32_t x = 1;
    for (uint32_t i = 0; i < 32768; i++) {
        x = x * 1664525u + 1013904223u;
        fl[i & 1023] = x | PG_P;                               /* looks like a PTE, is data */
    }
    uint32_t sum = 0;
    for (uint32_t i = 0; i < 1024; i++)
        sum = (sum << 5 | sum >> 27) ^ fl[i];
    x = 1;
    uint32_t want = 0;
    static uint32_t shadow[1024];
    for (uint32_t i = 0; i < 32768; i++) {
        x = x * 1664525u + 1013904223u;
        shadow[i & 1023] = x | PG_P;
    }
    for (uint32_t i = 0; i < 1024; i++)
        want = (want << 5 | want >> 27) ^ shadow[i];
    r = st_try(pf_rd32, AT(FLOOD_PDE, 1));
    pf_put_kv("# flood checksum ", sum);
    putc('\n');
    tap_ok(good && sum == want && pf_is(r, 0, AT(FLOOD_PDE, 1)),
           "PT taken out of use, then 32768 data stores into it: data intact, its old range faults");
    for (uint32_t n = 0; n < 1024; n++)
        pt_flood[n] = FR((n * 5) & 63) | PG_P | PG_W;
    pf_kpd[FLOOD_PDE] = (uint32_t)pt_flood | PG_P | PG_W;
    write_cr3((uint32_t)pf_kpd);
    good = 1;
    for (uint32_t n = 0; n < 1024; n += 31)
        good &= frame_at(AT(FLOOD_PDE, n) + 0x80, (n * 5) & 63);
    tap_ok(good, "the flooded page becomes a page table again (CR3 reload): new mappings used");

    /* 14-15: page size changes */
    for (uint32_t n = 0; n < 1024; n++)
        pt_size[n] = FR(n & 63) | PG_P | PG_W;
    pf_kpd[SIZE_PDE] = (uint32_t)pt_size | PG_P | PG_W;
    write_cr3((uint32_t)pf_kpd);
    good = frame_at(AT(SIZE_PDE, 3) + 0x44, 3) && frame_at(AT(SIZE_PDE, 70) + 0x48, 70 & 63);
    pf_kpd[SIZE_PDE] = FR(0) | PG_PS | PG_P | PG_W;                /* FR(0) = 16 MiB: 4 MiB aligned */
    write_cr3((uint32_t)pf_kpd);
    good &= frame_at(AT(SIZE_PDE, 3) + 0x44, 3) && frame_at(AT(SIZE_PDE, 40) + 0x48, 40) &&
            pf_peek(AT(SIZE_PDE, 1000)) == pf_peek(FR(1000));
    tap_ok(good, "PDE switched from a page table to a 4 MiB page (CR3 reload): linear = 4 MiB base + offset");
    pf_kpd[SIZE_PDE] = (uint32_t)pt_size | PG_P | PG_W;
    write_cr3((uint32_t)pf_kpd);
    tap_ok(frame_at(AT(SIZE_PDE, 70) + 0x4C, 70 & 63) && frame_at(AT(SIZE_PDE, 1000), 1000 & 63),
           "and back to the page table: 4 KiB mappings again");

    puts("# pf-live done\n");
    return tap_exit_code();
}
