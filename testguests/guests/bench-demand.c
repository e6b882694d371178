/* bench-demand: demand-fault throughput for `make bench` (SDM Vol. 3A 4.7):
 * ROUNDS (4) rounds of touching (one write each) all PAGES (8,192) pages of
 * a 32 MiB region whose PTEs are all 0, with a #PF handler that maps page n
 * to frame n (32 MiB of frames from 16 MiB up), reading every page back
 * without faults, then unmapping everything (8,192 PTE stores, one CR3
 * reload). An iteration is one page touched: PAGES * ROUNDS in all.
 * `make bench` runs builds with other -DPAGES=N (a multiple of 1,024) and
 * -DROUNDS=M: testguests/Makefile, build/bench/. */
#include "pf.h"

#ifndef PAGES
#define PAGES 8192u
#endif
#ifndef ROUNDS
#define ROUNDS 4u
#endif

static uint32_t pts[PAGES] __attribute__((aligned(4096)));   /* 8 page tables, PDEs 256-263 */
static volatile uint32_t nfaults, bad_faults;

static int hook(struct rt_frame *f)
{
    uint32_t idx = (read_cr2() - PF_REGION) >> 12;
    if (f->vector != 14 || idx >= PAGES)
        return 0;
    if (f->error != 2)
        bad_faults++;
    pts[idx] = PF_FRAME(idx) | PG_P | PG_W;
    nfaults++;
    return 1;
}

int guest_main(void)
{
    puts("x86v-guest: bench-demand\n");
    pf_init();
    for (uint32_t t = 0; t < PAGES / 1024; t++)
        pf_kpd[256 + t] = (uint32_t)&pts[t * 1024] | PG_P | PG_W;
    write_cr3((uint32_t)pf_kpd);
    st_guest_hook = hook;
    pf_put_iterations(PAGES * ROUNDS);
    tap_plan(3);

    uint32_t bad = 0;
    for (uint32_t round = 0; round < ROUNDS; round++) {
        for (uint32_t n = 0; n < PAGES; n++)
            pf_poke(PF_REGION + n * 0x1000u + ((n + round) & 1023) * 4, n ^ round << 20);
        for (uint32_t n = 0; n < PAGES; n++)
            bad += pf_peek(PF_REGION + n * 0x1000u + ((n + round) & 1023) * 4) != (n ^ round << 20);
        for (uint32_t n = 0; n < PAGES; n++)
            pts[n] = 0;
        write_cr3((uint32_t)pf_kpd);
    }
    puts("# faults ");
    putDec(nfaults);
    putc('\n');
    tap_ok(nfaults == PAGES * ROUNDS, "exactly one fault per page per round");
    tap_ok(bad_faults == 0, "every fault had error code 2 (CPL0 write, not present)");
    tap_ok(bad == 0, "every page read back its word without faulting");
    puts("# bench-demand done\n");
    return tap_exit_code();
}
