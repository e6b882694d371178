/* bench-fault: one demand fault per iteration for `make bench` (SDM Vol. 3A
 * 4.7 page-fault exceptions, 4.10.4 invalidation): ITER iterations of a
 * store to a page whose PTE is 0 (#PF, error code 2), a #PF handler that
 * maps the page to a frame, the store restarted, a read back through the new
 * mapping, the PTE cleared and INVLPG. The pages cycle through the 1,024 of
 * one page table (0x40000000 up); the k-th fault maps to frame
 * (k + k / 1024) mod 1024 (4 MiB of frames from 16 MiB up), so a page gets a
 * different frame each time round. A stale translation (a missed INVLPG, a
 * cached not-present entry) therefore fails: the store would not fault and
 * the fault count drifts, or it lands in another frame, which the check of
 * the frame through the identity map sees. ITER is 25,000 here (about 5.4 M
 * instructions, like the other bench-* guests the tests run); `make bench`
 * runs builds with other -DITER=N: testguests/Makefile, build/bench/. */
#include "pf.h"

#ifndef ITER
#define ITER 25000u
#endif
#define PAGES 1024u
#define FRAMES 1024u
#define VBASE 0x5A5A0000u

static uint32_t pt[PAGES] __attribute__((aligned(4096)));
static volatile uint32_t nfaults, bad_faults;

static uint32_t frame_of(uint32_t k) { return PF_FRAME((k + (k >> 10)) & (FRAMES - 1)); }

static int hook(struct rt_frame *f)
{
    uint32_t idx = (read_cr2() - PF_REGION) >> 12;
    if (f->vector != 14 || idx >= PAGES)
        return 0;
    if (f->error != 2 || pt[idx] != 0)
        bad_faults++;
    pt[idx] = frame_of(nfaults) | PG_P | PG_W;
    nfaults++;
    return 1;
}

int guest_main(void)
{
    puts("x86v-guest: bench-fault\n");
    pf_init();
    pf_kpd[PF_REGION >> 22] = (uint32_t)pt | PG_P | PG_W;
    write_cr3((uint32_t)pf_kpd);
    st_guest_hook = hook;
    pf_put_iterations(ITER);
    tap_plan(4);

    uint32_t bad = 0, sum = 0;
    for (uint32_t i = 0; i < ITER; i++) {
        uint32_t page = i & (PAGES - 1);
        uint32_t va = PF_REGION + page * 0x1000u + ((i >> 10) & 1023u) * 4;
        uint32_t v = VBASE + i;
        pf_poke(va, v);                    /* #PF: the handler maps the page */
        uint32_t r = pf_peek(va);
        bad += r != v;
        bad += pf_peek(frame_of(i) + (va & 0xFFFu)) != v;   /* it landed in the frame just mapped */
        sum += r;
        pt[page] = 0;
        invlpg(va);
    }
    st_guest_hook = 0;
    puts("# faults ");
    putDec(nfaults);
    putc('\n');
    tap_ok(nfaults == ITER, "exactly one fault per iteration (none hidden by a stale translation)");
    tap_ok(bad_faults == 0, "every fault had error code 2 (CPL0 write, not present) on a cleared PTE");
    tap_ok(bad == 0, "every store read back, and was in the frame the handler mapped");
    tap_ok(sum == (uint32_t)((uint64_t)ITER * (ITER - 1) / 2 + (uint64_t)ITER * VBASE), "checksum over all reads");
    puts("# bench-fault done\n");
    return tap_exit_code();
}
