/* hole-sgdt: SGDT and SIDT against what LGDT and LIDT loaded.
 *
 * SGDT/SIDT store GDTR/IDTR and are not privileged (they work at CPL 3
 * without UMIP). Under classic virtualization the real GDTR/IDTR hold the
 * VMM's shadow tables, and the guest's LGDT/LIDT (privileged: they trap and
 * are emulated) only change what the VMM remembers, so SGDT/SIDT show the
 * shadow tables' bases and limits (VMM addresses) instead of the guest's.
 *
 * Checks: SGDT/SIDT right after hole_init's LGDT/LIDT, after loading a second
 * GDT and IDT with other bases and limits, after going back, and at CPL 3
 * (no fault, same values). The tables are the guest's own arrays, so the
 * addresses printed are link-time constants of this ELF. */
#include "hole.h"

static uint64_t alt_gdt[8] __attribute__((aligned(8)));
static uint64_t alt_idt[48] __attribute__((aligned(8)));
static struct hole_dtr user_g, user_i;

static struct hole_dtr do_sgdt(void)
{
    struct hole_dtr d = { 0xAAAA, 0xAAAAAAAA };
    __asm__ volatile("sgdt %0" : "=m"(d));
    return d;
}

static struct hole_dtr do_sidt(void)
{
    struct hole_dtr d = { 0xAAAA, 0xAAAAAAAA };
    __asm__ volatile("sidt %0" : "=m"(d));
    return d;
}

static uint32_t user_sgdt_sidt(uint32_t arg)
{
    (void)arg;
    user_g = do_sgdt();
    user_i = do_sidt();
    return 1;
}

static int same(struct hole_dtr d, const void *base, uint32_t limit)
{
    return d.base == (uint32_t)base && d.limit == limit;
}

static void check_gdt(const char *when, const void *base, uint32_t limit)
{
    struct hole_dtr d = do_sgdt();
    hole_check(same(d, base, limit), "sgdt %s: base %x limit %w|the guest's lgdt: base %x limit %w",
               when, d.base, (uint32_t)d.limit, (uint32_t)base, limit);
}

static void check_idt(const char *when, const void *base, uint32_t limit)
{
    struct hole_dtr d = do_sidt();
    hole_check(same(d, base, limit), "sidt %s: base %x limit %w|the guest's lidt: base %x limit %w",
               when, d.base, (uint32_t)d.limit, (uint32_t)base, limit);
}

int guest_main(void)
{
    puts("x86v-guest: hole-sgdt\n");
    hole_init();
    tap_plan(8);

    check_gdt("after boot", hole_gdt, sizeof hole_gdt - 1);
    check_idt("after boot", hole_idt, sizeof hole_idt - 1);

    /* A second GDT (same descriptors, shorter) and a second IDT (48 vectors):
     * nothing uses them while they are loaded (the PICs are masked). */
    for (int i = 0; i < 8; i++)
        alt_gdt[i] = hole_gdt[i];
    for (int i = 0; i < 48; i++)
        alt_idt[i] = hole_idt[i];
    hole_lgdt(alt_gdt, sizeof alt_gdt - 1);
    hole_lidt(alt_idt, sizeof alt_idt - 1);
    check_gdt("after a second lgdt", alt_gdt, sizeof alt_gdt - 1);
    check_idt("after a second lidt", alt_idt, sizeof alt_idt - 1);
    hole_lgdt(hole_gdt, sizeof hole_gdt - 1);
    hole_lidt(hole_idt, sizeof hole_idt - 1);
    check_gdt("after going back", hole_gdt, sizeof hole_gdt - 1);
    check_idt("after going back", hole_idt, sizeof hole_idt - 1);

    uint32_t r = st_try_user(user_sgdt_sidt, 0);
    hole_check(r == ST_NOFAULT && same(user_g, hole_gdt, sizeof hole_gdt - 1),
               "sgdt at CPL 3: %s, base %x limit %w|no fault, the guest's lgdt: base %x limit %w",
               r == ST_NOFAULT ? "no fault" : "faulted", user_g.base, (uint32_t)user_g.limit,
               (uint32_t)hole_gdt, (uint32_t)sizeof hole_gdt - 1);
    hole_check(r == ST_NOFAULT && same(user_i, hole_idt, sizeof hole_idt - 1),
               "sidt at CPL 3: %s, base %x limit %w|no fault, the guest's lidt: base %x limit %w",
               r == ST_NOFAULT ? "no fault" : "faulted", user_i.base, (uint32_t)user_i.limit,
               (uint32_t)hole_idt, (uint32_t)sizeof hole_idt - 1);

    return hole_done("hole-sgdt");
}
