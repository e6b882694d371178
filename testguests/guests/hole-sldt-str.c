/* hole-sldt-str: SLDT and STR against what LLDT and LTR loaded.
 *
 * SLDT/STR store the LDTR and TR selectors and are not privileged. Under
 * classic virtualization the real LDTR and TR hold the VMM's shadow LDT and
 * TSS selectors (LLDT/LTR trap and are emulated into the shadow tables), so
 * SLDT/STR can show the VMM's selectors instead of the guest's.
 *
 * Checks: STR after boot's LTR and after LTR of a second TSS (whose GDT
 * descriptor LTR marks busy), STR at CPL 3 (no fault, same selector); SLDT
 * after LLDT 0 and after LLDT of two guest LDT descriptors, an LDT data
 * segment (TI=1) reaching the guest's own LDT entry, SLDT at CPL 3. The TR
 * checks come first: a VMM without shadow LDTs may stop at the first LLDT of
 * a real LDT. */
#include "hole.h"

#define S_LDT1 0x30
#define S_LDT2 0x38
#define S_TSS2 0x40

static uint64_t ldt1[4] __attribute__((aligned(8)));
static uint64_t ldt2[2] __attribute__((aligned(8)));
static struct st_tss tss2;
static volatile uint32_t marker = 0x5ca1ab1e;
static uint16_t user_ldtr = 0xAAAA, user_tr = 0xAAAA;

static uint16_t do_sldt(void)
{
    uint16_t s = 0xAAAA;
    __asm__ volatile("sldt %0" : "=m"(s));
    return s;
}

static uint16_t do_str(void)
{
    uint16_t s = 0xAAAA;
    __asm__ volatile("str %0" : "=m"(s));
    return s;
}

static void lldt(uint32_t sel) { __asm__ volatile("lldt %w0" :: "r"(sel) : "memory"); }
static void ltr(uint32_t sel) { __asm__ volatile("ltr %w0" :: "r"(sel) : "memory"); }

static uint32_t user_sldt_str(uint32_t arg)
{
    (void)arg;
    user_ldtr = do_sldt();
    user_tr = do_str();
    return 1;
}

/* Reads marker through FS = LDT selector 0x000C (index 1, TI=1, RPL 0), a
 * data segment whose base is &marker. */
static uint32_t read_through_ldt(void)
{
    uint32_t v;
    __asm__ volatile("movw %w1, %%fs\n\tmovl %%fs:0, %0\n\tmovw %w2, %%fs"
                     : "=r"(v) : "r"(0x0C), "r"(SEL_KDATA) : "memory");
    return v;
}

static void check_ldtr(const char *when, uint32_t want)
{
    uint32_t got = do_sldt();
    hole_check(got == want, "sldt %s: %w|the guest's lldt: %w", when, got, want);
}

static void check_tr(const char *when, uint32_t want)
{
    uint32_t got = do_str();
    hole_check(got == want, "str %s: %w|the guest's ltr: %w", when, got, want);
}

int guest_main(void)
{
    puts("x86v-guest: hole-sldt-str\n");
    hole_init();
    tap_plan(9);

    ldt1[1] = st_seg((uint32_t)&marker, 3, ACC_P | ACC_S | ACC_WRITE, FL_DB);
    ldt2[1] = st_seg(0, 0xFFFFF, ACC_P | ACC_S | ACC_WRITE, FL_G | FL_DB);
    hole_gdt[S_LDT1 / 8] = st_seg((uint32_t)ldt1, sizeof ldt1 - 1, ACC_P | SYS_LDT, 0);
    hole_gdt[S_LDT2 / 8] = st_seg((uint32_t)ldt2, sizeof ldt2 - 1, ACC_P | SYS_LDT, 0);
    tss2.ss0 = SEL_KDATA;
    tss2.esp0 = hole_tss.esp0;
    tss2.iomap_base = sizeof tss2;
    hole_gdt[S_TSS2 / 8] = st_seg((uint32_t)&tss2, sizeof tss2 - 1, ACC_P | SYS_TSS32, 0);

    /* TR first, then LDTR: a VMM without shadow LDTs may stop at the first LLDT of a real LDT. */
    check_tr("after boot", SEL_TSS);
    ltr(S_TSS2);
    check_tr("after ltr 0x0040", S_TSS2);
    uint32_t type = (uint32_t)(hole_gdt[S_TSS2 / 8] >> 40) & 0xF;
    hole_check(type == SYS_TSS32B, "ltr 0x0040: the guest's descriptor has type %b|busy TSS %b", type, SYS_TSS32B);
    uint32_t r = st_try_user(user_sldt_str, 0);
    hole_check(r == ST_NOFAULT && user_tr == S_TSS2, "str at CPL 3: %s, %w|no fault, the guest's ltr: %w",
               r == ST_NOFAULT ? "no fault" : "faulted", (uint32_t)user_tr, S_TSS2);

    lldt(0);
    check_ldtr("after lldt 0", 0);
    lldt(S_LDT1);
    check_ldtr("after lldt 0x0030", S_LDT1);
    uint32_t v = read_through_ldt();
    hole_check(v == marker,
               "fs = 0x000c (LDT 0x0030, entry 1): fs:0 reads %x|the word at that guest LDT entry's base: %x",
               v, marker);
    lldt(S_LDT2);
    check_ldtr("after lldt 0x0038", S_LDT2);
    r = st_try_user(user_sldt_str, 0);
    hole_check(r == ST_NOFAULT && user_ldtr == S_LDT2, "sldt at CPL 3: %s, %w|no fault, the guest's lldt: %w",
               r == ST_NOFAULT ? "no fault" : "faulted", (uint32_t)user_ldtr, S_LDT2);

    /* Back to boot's TSS (clear its busy bit first) and no LDT. */
    hole_gdt[SEL_TSS / 8] &= ~(2ull << 40);
    ltr(SEL_TSS);
    lldt(0);
    return hole_done("hole-sldt-str");
}
