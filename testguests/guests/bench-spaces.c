/* bench-spaces: address-space switching for `make bench` (SDM Vol. 3A
 * 4.10.4.1 MOV to CR3): 8 page directories, each mapping 0x40000000 to its
 * own frame and 0x40001000 to one shared frame; SWITCHES (200,000) CR3
 * switches in a scrambled order, each followed by a read and a write of the
 * private page and a read of the shared one, all checked. `make bench` runs
 * builds with other -DSWITCHES=N: testguests/Makefile, build/bench/. */
#include "pf.h"

#define NS 8u
#ifndef SWITCHES
#define SWITCHES 200000u
#endif

static uint32_t pds[NS][1024] __attribute__((aligned(4096)));
static uint32_t pts[NS][1024] __attribute__((aligned(4096)));

int guest_main(void)
{
    puts("x86v-guest: bench-spaces\n");
    pf_init();
    pf_fill32(PF_FRAME(NS), 0x5A5E0000u, 1024);
    for (uint32_t s = 0; s < NS; s++) {
        pf_fill32(PF_FRAME(s), 0, 1024);
        pf_poke(PF_FRAME(s), 0x51000000u + s);
        pf_kernel_pdes(pds[s]);
        pds[s][256] = (uint32_t)pts[s] | PG_P | PG_W;
        pts[s][0] = PF_FRAME(s) | PG_P | PG_W;
        pts[s][1] = PF_FRAME(NS) | PG_P | PG_W;
    }
    pf_put_iterations(SWITCHES);
    tap_plan(2);

    uint32_t bad = 0;
    for (uint32_t i = 0; i < SWITCHES; i++) {
        uint32_t s = (i * 5u + (i >> 3)) & (NS - 1);
        write_cr3((uint32_t)pds[s]);
        bad += pf_peek(0x40000000u) != 0x51000000u + s;
        uint32_t w = 0x40000004u + ((i >> 3) & 511u) * 4;
        pf_poke(w, pf_peek(w) + 1);
        bad += pf_peek(0x40001000u + (i & 0xFFCu)) != 0x5A5E0000u;
    }
    write_cr3((uint32_t)pf_kpd);
    tap_ok(bad == 0, "CR3 switches among 8 spaces: every read saw the loaded space's frames");
    uint32_t total = 0;
    for (uint32_t s = 0; s < NS; s++)
        for (uint32_t w = 1; w < 1024; w++)
            total += pf_peek(PF_FRAME(s) + w * 4);
    tap_ok(total == SWITCHES, "one increment per switch, each in the space that was loaded");
    puts("# bench-spaces done\n");
    return tap_exit_code();
}
