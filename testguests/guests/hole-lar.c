/* hole-lar: LAR, LSL, VERR and VERW on the kernel's own selectors.
 *
 * These read descriptors through the current privilege rules and are not
 * privileged. Under classic virtualization the real GDT is the VMM's shadow
 * copy, whose kernel descriptors have DPL 1 (and may have a smaller limit to
 * keep the guest out of the VMM's memory), and the checks run at CPL 1: LAR
 * shows DPL 1 access rights, LSL the shadow limit, and selectors the guest
 * never loaded may be missing from the shadow GDT altogether (ZF 0).
 *
 * Checks: LAR (access rights, bits 19:16 masked as the SDM leaves them
 * undefined) and LSL of the kernel code 0x0008 and data 0x0010 segments, the
 * busy TSS 0x0028 and a byte-granular DPL 0 data segment 0x0030 that nothing
 * loads; VERR/VERW of 0x0008 and 0x0010; LAR of 0x0013 (RPL 3 > DPL 0: ZF 0);
 * at CPL 3 LAR of 0x0013 (ZF 0) and of the user code 0x001b (DPL 3). */
#include "hole.h"

#define S_DATA0 0x30

static uint32_t do_lar(uint32_t sel, uint32_t *ar)
{
    uint32_t v = 0xDEADBEEFu;
    uint8_t z;
    __asm__ volatile("lar %2, %0\n\tsetz %1" : "+r"(v), "=q"(z) : "r"(sel) : "cc");
    *ar = v;
    return z;
}

static uint32_t do_lsl(uint32_t sel, uint32_t *limit)
{
    uint32_t v = 0xDEADBEEFu;
    uint8_t z;
    __asm__ volatile("lsl %2, %0\n\tsetz %1" : "+r"(v), "=q"(z) : "r"(sel) : "cc");
    *limit = v;
    return z;
}

static uint32_t do_verr(uint32_t sel)
{
    uint8_t z;
    __asm__ volatile("verr %w1\n\tsetz %0" : "=q"(z) : "r"(sel) : "cc");
    return z;
}

static uint32_t do_verw(uint32_t sel)
{
    uint8_t z;
    __asm__ volatile("verw %w1\n\tsetz %0" : "=q"(z) : "r"(sel) : "cc");
    return z;
}

static uint32_t user_lar(uint32_t sel)
{
    uint32_t ar;
    uint32_t z = do_lar(sel, &ar);
    return z ? ar & 0x00F0FF00u : 0xFFFFFFFFu;   /* ZF 0: no access rights */
}

static void check_lar(uint32_t sel, uint32_t want)
{
    uint32_t ar, z = do_lar(sel, &ar);
    ar &= 0x00F0FF00u;
    if (z)
        hole_check(ar == want, "lar %w: ZF 1, access rights %x, DPL %u|ZF 1, access rights %x, DPL %u",
                   sel, ar, (ar >> 13) & 3, want, (want >> 13) & 3);
    else
        hole_check(0, "lar %w: ZF 0|ZF 1, access rights %x, DPL %u", sel, want, (want >> 13) & 3);
}

static void check_lsl(uint32_t sel, uint32_t want)
{
    uint32_t limit, z = do_lsl(sel, &limit);
    if (z)
        hole_check(limit == want, "lsl %w: ZF 1, limit %x|ZF 1, limit %x", sel, limit, want);
    else
        hole_check(0, "lsl %w: ZF 0|ZF 1, limit %x", sel, want);
}

static void check_zf(const char *what, uint32_t sel, const char *note, uint32_t z, uint32_t want)
{
    hole_check(z == want, "%s %w%s: ZF %u|ZF %u", what, sel, note, z, want);
}

static void check_user(uint32_t sel, uint32_t want)
{
    uint32_t r = st_try_user(user_lar, sel);
    uint32_t ar = r == ST_NOFAULT ? st_result : 0xEEEEEEEEu;
    if (want == 0xFFFFFFFFu)
        hole_check(ar == want, "lar %w at CPL 3: %s|ZF 0", sel,
                   ar == 0xFFFFFFFFu ? "ZF 0" : r != ST_NOFAULT ? "faulted" : "ZF 1");
    else
        hole_check(ar == want, "lar %w at CPL 3: access rights %x|access rights %x", sel, ar, want);
}

int guest_main(void)
{
    puts("x86v-guest: hole-lar\n");
    hole_init();
    hole_gdt[S_DATA0 / 8] = st_seg(0x00200000, 0xFFF, ACC_P | ACC_S | ACC_WRITE, FL_DB);
    tap_plan(15);

    check_lar(SEL_KCODE, 0x00C09B00u);   /* P DPL0 code, read, accessed; G D */
    check_lsl(SEL_KCODE, 0xFFFFFFFFu);
    check_lar(SEL_KDATA, 0x00C09300u);   /* P DPL0 data, write, accessed; G B */
    check_lsl(SEL_KDATA, 0xFFFFFFFFu);
    check_lar(SEL_TSS, 0x00008B00u);     /* P DPL0 busy 32-bit TSS */
    check_lsl(SEL_TSS, sizeof(struct st_tss) - 1);
    check_lar(S_DATA0, 0x00409200u);     /* P DPL0 data, write, not accessed; B */
    check_lsl(S_DATA0, 0xFFFu);

    check_zf("verr", SEL_KCODE, "", do_verr(SEL_KCODE), 1);
    check_zf("verw", SEL_KCODE, "", do_verw(SEL_KCODE), 0);
    check_zf("verr", SEL_KDATA, "", do_verr(SEL_KDATA), 1);
    check_zf("verw", SEL_KDATA, "", do_verw(SEL_KDATA), 1);
    uint32_t ar;
    check_zf("lar", SEL_KDATA | 3, " (RPL 3 > DPL 0)", do_lar(SEL_KDATA | 3, &ar), 0);

    check_user(SEL_KDATA | 3, 0xFFFFFFFFu);
    check_user(SEL_UCODE, 0x00C0FB00u);
    return hole_done("hole-lar");
}
