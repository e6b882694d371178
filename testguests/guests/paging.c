/* paging: 2-level 32-bit paging (SDM Vol. 3A 4.3 "32-bit paging", 4.6
 * access rights, 4.7 page-fault exceptions, 4.8 accessed and dirty flags,
 * 4.10 TLBs: INVLPG, MOV CR3, global pages, CR4.PGE): A/D bits in PTEs and
 * PDEs (4 KiB and 4 MiB pages), #PF error codes for P, W/R, U/S at CPL0 and
 * CPL3 and at both levels, CR0.WP, CR2, instruction-fetch faults, TLB
 * invalidation, page-crossing accesses that fault on the second page.
 * Stale TLB contents are never asserted (caching is allowed, not required). */
#include "systest.h"

#define P  0x001u
#define W  0x002u
#define U  0x004u
#define A  0x020u
#define D  0x040u
#define PS 0x080u
#define G  0x100u

#define FRAMES 0x00280000u               /* physical frames for test pages */
#define FRAME(n) (FRAMES + (uint32_t)(n) * 0x1000u)
#define VA(n) (0x00400000u + (uint32_t)(n) * 0x1000u)     /* PDE 1 */
#define VA_UPDE(n) (0x00C00000u + (uint32_t)(n) * 0x1000u) /* PDE 3: PDE U=0 */
#define VA_RPDE(n) (0x01000000u + (uint32_t)(n) * 0x1000u) /* PDE 4: PDE W=0 */
#define VA_NPDE    0x01400000u                             /* PDE 5: not present */
#define VA_GLOB(n) (0x01800000u + (uint32_t)(n) * 0x1000u) /* PDE 6: global PTEs */
#define VA_BIG     0x00800000u                             /* PDE 2: 4 MiB page */
#define PA_BIG     0x00C00000u
#define VA_BIGS    0x01C00000u                             /* PDE 7: 4 MiB supervisor page */

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt0[1024] __attribute__((aligned(4096)));
static uint32_t pt1[1024] __attribute__((aligned(4096)));
static uint32_t pt3[1024] __attribute__((aligned(4096)));
static uint32_t pt4[1024] __attribute__((aligned(4096)));
static uint32_t pt6[1024] __attribute__((aligned(4096)));

uint32_t wr_value = 0xA1B2C3D4u;
static volatile uint32_t map_on_fault;   /* VA to map (PT1) when it faults */

uint32_t rd32(uint32_t), wr32(uint32_t), call_at(uint32_t);
__asm__(
    ".text\n.globl rd32, wr32, call_at\n"
    "rd32:\n  movl 4(%esp), %ecx\n  movl (%ecx), %eax\n  ret\n"
    "wr32:\n  movl 4(%esp), %ecx\n  movl wr_value, %eax\n  movl %eax, (%ecx)\n  xorl %eax, %eax\n  ret\n"
    "call_at:\n  call *4(%esp)\n  ret\n"
);

static int hook(struct rt_frame *f)
{
    if (f->vector == 14 && map_on_fault && (read_cr2() & ~0xFFFu) == map_on_fault) {
        pt1[(map_on_fault >> 12) & 1023] = FRAME((map_on_fault >> 12) & 1023) | P | W | U;
        invlpg(map_on_fault);
        map_on_fault = 0;
        return 1;
    }
    return 0;
}

static volatile uint32_t *pte1(uint32_t va) { return &pt1[(va >> 12) & 1023]; }
static void set1(uint32_t va, uint32_t v) { *pte1(va) = v; invlpg(va); }
static uint32_t phys_rd(uint32_t pa) { return *(volatile uint32_t *)pa; }   /* 0-4 MiB identity */

static int pf(uint32_t r, uint32_t err, uint32_t cr2)
{
    return st_faulted(r, 14, err) && rt_last_trap.cr2 == cr2;
}
static int ok_val(uint32_t r, uint32_t v) { return r == ST_NOFAULT && st_result == v; }

static void setup(void)
{
    for (uint32_t i = 0; i < 1024; i++)
        pt0[i] = (i << 12) | P | W | U;
    pd[0] = (uint32_t)pt0 | P | W | U;
    pd[1] = (uint32_t)pt1 | P | W | U;
    pd[2] = PA_BIG | PS | P | W | U;
    pd[3] = (uint32_t)pt3 | P | W;          /* supervisor PDE */
    pd[4] = (uint32_t)pt4 | P | U;          /* read-only PDE */
    pd[5] = 0;
    pd[6] = (uint32_t)pt6 | P | W | U;
    pd[7] = (PA_BIG + 0x400000u) | PS | P | W;
    for (uint32_t i = 0; i < 16; i++) {
        pt3[i] = FRAME(i) | P | W | U;
        pt4[i] = FRAME(i) | P | W | U;
        pt6[i] = FRAME(i) | P | W | U | G;
        for (uint32_t j = 0; j < 1024; j++)
            ((uint32_t *)FRAME(i))[j] = 0x10000000u * (i & 15) + j;
    }
    ((uint32_t *)PA_BIG)[0x123] = 0xB16B16u;
    write_cr4(read_cr4() | (1u << 4));   /* PSE */
    write_cr3((uint32_t)pd);
    write_cr0(read_cr0() | 0x80000000u | (1u << 16));
}

#define WP_OFF() write_cr0(read_cr0() & ~(1u << 16))
#define WP_ON()  write_cr0(read_cr0() | (1u << 16))

int guest_main(void)
{
    puts("x86v-guest: paging\n");
    st_init();
    st_guest_hook = hook;
    setup();
    tap_plan(35);
    uint32_t r;

    /* accessed / dirty */
    set1(VA(0), FRAME(0) | P | W | U);
    pd[1] &= ~A;
    write_cr3((uint32_t)pd);
    r = st_try(rd32, VA(0) + 8);
    tap_ok(ok_val(r, 2) && (*pte1(VA(0)) & (A | D)) == A && (pd[1] & A),
           "read: PTE.A set, PTE.D clear, PDE.A set");
    r = st_try(wr32, VA(0) + 8);
    tap_ok(r == ST_NOFAULT && (*pte1(VA(0)) & (A | D)) == (A | D) && phys_rd(FRAME(0) + 8) == wr_value,
           "write: PTE.D set");
    set1(VA(1), FRAME(1) | P | W | U);
    r = st_try(wr32, VA(1));
    tap_ok(r == ST_NOFAULT && (*pte1(VA(1)) & (A | D)) == (A | D), "first access a write: A and D set");

    /* CPL0 error codes */
    set1(VA(2), 0);
    tap_ok(pf(st_try(rd32, VA(2) + 0x10), 0, VA(2) + 0x10), "CPL0 read, not present: #PF err 0, CR2 exact");
    tap_ok(pf(st_try(wr32, VA(2) + 0x14), 2, VA(2) + 0x14), "CPL0 write, not present: err 2");
    set1(VA(3), FRAME(3) | P | U);
    r = st_try(wr32, VA(3) + 0x18);
    tap_ok(pf(r, 3, VA(3) + 0x18) && !(*pte1(VA(3)) & (A | D)) && phys_rd(FRAME(3) + 0x18) == 0x30000006u,
           "CPL0 write, read-only, WP=1: err 3, A/D not set, memory unchanged");

    /* CPL3 error codes */
    tap_ok(pf(st_try_user(rd32, VA(2) + 0x20), 4, VA(2) + 0x20), "CPL3 read, not present: err 4");
    tap_ok(pf(st_try_user(wr32, VA(2) + 0x24), 6, VA(2) + 0x24), "CPL3 write, not present: err 6");
    set1(VA(4), FRAME(4) | P | W);
    r = st_try_user(rd32, VA(4) + 0x28);
    tap_ok(pf(r, 5, VA(4) + 0x28) && !(*pte1(VA(4)) & A), "CPL3 read, supervisor page: err 5, A not set");
    tap_ok(pf(st_try_user(wr32, VA(4) + 0x2C), 7, VA(4) + 0x2C), "CPL3 write, supervisor page: err 7");
    r = st_try_user(wr32, VA(3) + 0x30);
    tap_ok(pf(r, 7, VA(3) + 0x30) && !(*pte1(VA(3)) & (A | D)), "CPL3 write, user read-only: err 7, A/D not set");
    r = st_try_user(rd32, VA(3) + 0x34);
    tap_ok(ok_val(r, 0x3000000Du) && (*pte1(VA(3)) & (A | D)) == A, "CPL3 read, user read-only: allowed, A set");
    tap_ok(pf(st_try_user(rd32, VA_UPDE(1) + 4), 5, VA_UPDE(1) + 4), "CPL3 read, PDE U=0 (PTE U=1): err 5");
    tap_ok(pf(st_try_user(wr32, VA_RPDE(1) + 8), 7, VA_RPDE(1) + 8), "CPL3 write, PDE R/W=0 (PTE R/W=1): err 7");
    r = st_try(wr32, VA_RPDE(2) + 8);
    WP_OFF();
    uint32_t r2 = st_try(wr32, VA_RPDE(2) + 12);
    WP_ON();
    tap_ok(pf(r, 3, VA_RPDE(2) + 8), "CPL0 write, PDE R/W=0, WP=1: err 3");
    tap_ok(r2 == ST_NOFAULT && phys_rd(FRAME(2) + 12) == wr_value, "CPL0 write, PDE R/W=0, WP=0: allowed");
    tap_ok(pf(st_try_user(rd32, VA_NPDE + 0x40), 4, VA_NPDE + 0x40), "CPL3 read, PDE not present: err 4");
    tap_ok(pf(st_try(wr32, VA_NPDE + 0x44), 2, VA_NPDE + 0x44), "CPL0 write, PDE not present: err 2");

    /* CR0.WP = 0 */
    set1(VA(5), FRAME(5) | P | U);
    set1(VA(6), FRAME(6) | P);
    WP_OFF();
    r = st_try(wr32, VA(5) + 0x10);
    r2 = st_try(wr32, VA(6) + 0x10);
    uint32_t r3 = st_try_user(wr32, VA(5) + 0x14);
    uint32_t e3 = rt_last_trap.error;
    WP_ON();
    tap_ok(r == ST_NOFAULT && r2 == ST_NOFAULT && phys_rd(FRAME(5) + 0x10) == wr_value &&
           phys_rd(FRAME(6) + 0x10) == wr_value && (*pte1(VA(5)) & D),
           "WP=0: CPL0 writes to read-only user and supervisor pages succeed, D set");
    tap_ok(r3 == 14 && e3 == 7, "WP=0: CPL3 write to a read-only page still faults, err 7");
    set1(VA(7), FRAME(7) | P | W | U);
    tap_ok(st_try(wr32, VA(7)) == ST_NOFAULT && ok_val(st_try(rd32, VA(7)), wr_value), "CPL0 reads and writes a user page");

    /* instruction fetch */
    set1(VA(8), 0);
    r = st_try(call_at, VA(8) + 0x10);
    tap_ok(pf(r, 0, VA(8) + 0x10) && st_fault.eip == VA(8) + 0x10, "fetch from a not-present page: err 0, EIP = CR2 = target");
    set1(VA(9), FRAME(9) | P | W);
    *(volatile uint8_t *)(FRAME(9) + 0x20) = 0xC3;    /* ret */
    r = st_try_user(call_at, VA(9) + 0x20);
    tap_ok(pf(r, 5, VA(9) + 0x20) && st_fault.eip == VA(9) + 0x20, "CPL3 fetch from a supervisor page: err 5");
    tap_ok(st_try(call_at, VA(9) + 0x20) == ST_NOFAULT, "CPL0 fetch from a supervisor page runs");

    /* TLB maintenance */
    set1(VA(10), FRAME(10) | P | W | U);
    r = st_try(rd32, VA(10) + 4);
    *pte1(VA(10)) = FRAME(11) | P | W | U;
    invlpg(VA(10));
    r2 = st_try(rd32, VA(10) + 4);
    tap_ok(ok_val(r2, 0xB0000001u) && r == ST_NOFAULT, "invlpg after editing a PTE: the new frame is used");
    *pte1(VA(10)) = FRAME(12) | P | W | U;
    write_cr3((uint32_t)pd);
    tap_ok(ok_val(st_try(rd32, VA(10) + 4), 0xC0000001u), "mov cr3 after editing a non-global PTE: the new frame is used");
    write_cr4(read_cr4() | (1u << 7));   /* PGE */
    r = st_try(rd32, VA_GLOB(1) + 8);
    write_cr3((uint32_t)pd);
    r2 = st_try(rd32, VA_GLOB(1) + 8);
    tap_ok(r == ST_NOFAULT && ok_val(r2, 0x10000002u), "CR4.PGE: a global page reads the same across a CR3 reload");
    pt6[1] = FRAME(13) | P | W | U | G;
    invlpg(VA_GLOB(1));
    tap_ok(ok_val(st_try(rd32, VA_GLOB(1) + 8), 0xD0000002u), "invlpg invalidates a global page");
    pt6[1] = FRAME(14) | P | W | U | G;
    write_cr4(read_cr4() & ~(1u << 7));
    write_cr4(read_cr4() | (1u << 7));
    tap_ok(ok_val(st_try(rd32, VA_GLOB(1) + 8), 0xE0000002u), "clearing CR4.PGE flushes global pages");
    write_cr4(read_cr4() & ~(1u << 7));

    /* page-crossing accesses */
    set1(VA(11), FRAME(11) | P | W | U);
    set1(VA(12), 0);
    wr_value = 0x55667788u;
    uint32_t before = phys_rd(FRAME(11) + 0xFFC);
    r = st_try(wr32, VA(12) - 2);
    tap_ok(st_faulted(r, 14, 2) && (rt_last_trap.cr2 & ~0xFFFu) == VA(12) && phys_rd(FRAME(11) + 0xFFC) == before,
           "write across into a not-present page: err 2, CR2 in the second page, first page untouched");
    r = st_try(rd32, VA(12) - 1);
    tap_ok(st_faulted(r, 14, 0) && (rt_last_trap.cr2 & ~0xFFFu) == VA(12), "read across into a not-present page: err 0, CR2 in the second page");
    set1(VA(12), FRAME(12) | P | U);
    r = st_try(wr32, VA(12) - 3);
    tap_ok(st_faulted(r, 14, 3) && (rt_last_trap.cr2 & ~0xFFFu) == VA(12) && phys_rd(FRAME(11) + 0xFFC) == before &&
           phys_rd(FRAME(12)) == 0xC0000000u, "write across into a read-only page: err 3, neither page written");
    set1(VA(12), 0);
    map_on_fault = VA(12);
    r = st_try(wr32, VA(12) - 2);
    tap_ok(r == ST_NOFAULT && map_on_fault == 0 && phys_rd(FRAME(11) + 0xFFC) == ((before & 0xFFFFu) | 0x77880000u) &&
           (phys_rd(FRAME(12)) & 0xFFFFu) == 0x5566u, "handler maps the second page, the retried write completes");

    /* 4 MiB pages */
    pd[2] &= ~(A | D);
    write_cr3((uint32_t)pd);
    r = st_try(rd32, VA_BIG + 0x123 * 4);
    tap_ok(ok_val(r, 0xB16B16u) && (pd[2] & (A | D)) == A, "4 MiB page: read maps PA, sets PDE.A only");
    r = st_try(wr32, VA_BIG + 0x3FF000u);
    tap_ok(r == ST_NOFAULT && (pd[2] & D) && ok_val(st_try(rd32, VA_BIG + 0x3FF000u), wr_value),
           "4 MiB page: write sets PDE.D");
    r = st_try_user(rd32, VA_BIGS + 0x10);
    tap_ok(pf(r, 5, VA_BIGS + 0x10), "CPL3 read of a supervisor 4 MiB page: err 5");

    puts("# paging done\n");
    return tap_exit_code();
}
