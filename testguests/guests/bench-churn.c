/* bench-churn: page-table churn for `make bench` (SDM Vol. 3A 4.10.4):
 * ITER (200,000) iterations of rewriting one PTE to alternate between two
 * frames, INVLPG, and a read through it; every 64th iteration also reloads
 * CR3 (the page directory then has to be walked again). A second PTE in the
 * same table is read every iteration and never changes. Each read is
 * checked, so a stale translation is a failure, not just a wrong number.
 * `make bench` runs builds with other -DITER=N (even): testguests/Makefile,
 * build/bench/. */
#include "pf.h"

#ifndef ITER
#define ITER 200000u
#endif
#define VA0 0x40000000u
#define VA1 0x40001000u

static uint32_t pt[1024] __attribute__((aligned(4096)));

int guest_main(void)
{
    puts("x86v-guest: bench-churn\n");
    pf_init();
    for (uint32_t n = 0; n < 3; n++)
        pf_fill32(PF_FRAME(n), 0xC0DE0000u + n, 1024);
    pt[0] = PF_FRAME(0) | PG_P | PG_W;
    pt[1] = PF_FRAME(2) | PG_P | PG_W;
    pf_kpd[256] = (uint32_t)pt | PG_P | PG_W;
    write_cr3((uint32_t)pf_kpd);
    pf_put_iterations(ITER);
    tap_plan(2);

    uint32_t bad = 0, sum = 0;
    for (uint32_t i = 0; i < ITER; i++) {
        pt[0] = PF_FRAME(i & 1) | PG_P | PG_W;
        invlpg(VA0);
        uint32_t v = pf_peek(VA0 + ((i * 4) & 0xFFCu));
        bad += v != 0xC0DE0000u + (i & 1);
        sum += v + pf_peek(VA1 + 0x40);
        if ((i & 63) == 63)
            write_cr3((uint32_t)pf_kpd);
    }
    tap_ok(bad == 0, "rewrite PTE, INVLPG, read: every read saw the frame just mapped");
    pf_put_kv("# sum ", sum);
    putc('\n');
    tap_ok(sum == ITER / 2 * (0xC0DE0000u + 0xC0DE0001u) + ITER * 0xC0DE0002u, "checksum over all reads");
    puts("# bench-churn done\n");
    return tap_exit_code();
}
