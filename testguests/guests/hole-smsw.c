/* hole-smsw: SMSW against the CR0 the guest wrote.
 *
 * SMSW stores CR0 and is not privileged: bits 15:0 (PE MP EM TS ET NE) to
 * memory, and to a 32-bit register the whole of CR0 on P6-family and later
 * CPUs, QEMU and x86v alike (the SDM leaves bits 31:16 undefined there).
 * Under classic virtualization MOV to CR0, CLTS and LMSW trap and the VMM
 * keeps the guest's CR0 apart from the real one (it owns TS for lazy FPU
 * switching, may force MP/EM/NE, and always runs with paging and WP on for
 * its shadow page tables), so SMSW shows the real CR0 as the VMM set it, not
 * what the guest wrote (MOV from CR0 traps, so it does show the guest's).
 *
 * Checks: SMSW to memory (16 bits) and to a 32-bit register (all 32 bits)
 * against MOV from CR0: as booted (paging off, CD/NW cleared), after setting TS, MP and EM
 * with MOV to CR0, after CLTS and after LMSW, with paging on (4 KiB identity
 * map of 0-4 MiB) and WP 0, then WP 1, and back; SMSW at CPL 3 (no fault,
 * shows TS set by the kernel). No x87 instruction runs while TS or EM is set. */
#include "hole.h"

#define CR0_PE 0x01u
#define CR0_MP 0x02u
#define CR0_EM 0x04u
#define CR0_TS 0x08u
#define CR0_WP 0x00010000u
#define CR0_PG 0x80000000u

static uint16_t user_msw = 0xAAAA;

static uint32_t smsw_mem(void)
{
    uint16_t m = 0xAAAA;
    __asm__ volatile("smsw %0" : "=m"(m));
    return m;
}

static uint32_t smsw_reg(void)
{
    uint32_t r = 0xAAAAAAAAu;
    __asm__ volatile("smsw %0" : "+r"(r));   /* 32-bit register form */
    return r;
}

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[1024] __attribute__((aligned(4096)));

static uint32_t user_smsw(uint32_t arg)
{
    (void)arg;
    user_msw = (uint16_t)smsw_mem();
    return 1;
}

static void check(const char *when, uint32_t want_bits, uint32_t want_mask)
{
    uint32_t cr0 = read_cr0();
    uint32_t m = smsw_mem(), r = smsw_reg();
    hole_check(m == (cr0 & 0xFFFF) && r == cr0 && (cr0 & want_mask) == want_bits,
               "smsw %s: m16 %w, r32 %x|mov from cr0: %x", when, m, r, cr0);
}

int guest_main(void)
{
    puts("x86v-guest: hole-smsw\n");
    hole_init();
    tap_plan(10);
    /* CD and NW clear (caches on), as multiboot loaders leave them; Bochs's
     * floppy loader (bochs/boot.S) leaves them set from reset. */
    uint32_t boot = read_cr0() & ~0x60000000u;
    write_cr0(boot);

    check("as booted", CR0_PE, CR0_PE | CR0_TS | CR0_PG);
    write_cr0(boot | CR0_TS);
    check("after mov cr0 sets TS", CR0_PE | CR0_TS, CR0_PE | CR0_TS);
    __asm__ volatile("clts" ::: "memory");
    check("after clts", CR0_PE, CR0_PE | CR0_TS);
    write_cr0(boot | CR0_MP);
    check("after mov cr0 sets MP", CR0_PE | CR0_MP, CR0_PE | CR0_MP | CR0_TS);
    write_cr0(boot | CR0_EM);
    check("after mov cr0 sets EM", CR0_PE | CR0_EM, CR0_PE | CR0_EM | CR0_TS);
    write_cr0(boot & ~(CR0_MP | CR0_EM | CR0_TS));
    uint16_t msw = (uint16_t)((boot | CR0_TS | CR0_MP) & 0xFFFF);
    __asm__ volatile("lmsw %0" :: "m"(msw) : "memory");
    check("after lmsw sets TS and MP", CR0_PE | CR0_TS | CR0_MP, CR0_PE | CR0_TS | CR0_MP);

    for (uint32_t i = 0; i < 1024; i++)
        pt[i] = i << 12 | 3;
    pd[0] = (uint32_t)pt | 3;
    write_cr3((uint32_t)pd);
    write_cr0((boot | CR0_PG) & ~CR0_WP);
    check("with paging on, WP 0", CR0_PE | CR0_PG, CR0_PE | CR0_TS | CR0_WP | CR0_PG);
    write_cr0(boot | CR0_PG | CR0_WP);
    check("with paging on, WP 1", CR0_PE | CR0_PG | CR0_WP, CR0_PE | CR0_TS | CR0_WP | CR0_PG);
    write_cr0(boot | CR0_TS | CR0_MP);        /* paging off again, TS and MP as lmsw left them */

    uint32_t r = st_try_user(user_smsw, 0);
    uint32_t cr0 = read_cr0() & 0xFFFF;
    hole_check(r == ST_NOFAULT && user_msw == cr0, "smsw at CPL 3: %s, %w|no fault, the kernel's cr0: %w",
               r == ST_NOFAULT ? "no fault" : "faulted", (uint32_t)user_msw, cr0);

    write_cr0(boot);
    check("back as booted", CR0_PE, CR0_PE | CR0_TS | CR0_WP | CR0_PG);
    return hole_done("hole-smsw");
}
