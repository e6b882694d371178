/* hole-cpuid: CPUID against what the CPU actually does.
 *
 * CPUID is not privileged (pre-VT hardware has no way to trap it), so under
 * classic virtualization the guest sees the host CPU's identification rather
 * than what a VMM would like to advertise. In x86v the "host" of the classic
 * VMM is the same interpreted CPU model that --virt=hw and --virt=none show,
 * so this guest is expected to pass under --virt=classic too; it is the
 * control for the other hole guests.
 *
 * Only facts that hold for x86v's model and QEMU's qemu32 alike are printed
 * (vendor, family, the feature bits below), never model, stepping, brand or
 * the maximum leaf. Checks: vendor GenuineIntel and a maximum basic leaf >= 1;
 * family 6; DE PSE TSC MSR CX8 SEP PGE CMOV advertised; the same values on a
 * second execution and at CPL 3; each advertised feature doing what it
 * promises (RDTSC, RDMSR, CMPXCHG8B, CMOVcc, the SYSENTER MSRs, CR4.DE/PSE/PGE
 * with a 4 MiB page mapped). */
#include "hole.h"

struct regs { uint32_t a, b, c, d; };

static struct regs cpuid(uint32_t leaf)
{
    struct regs r;
    __asm__ volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(0));
    return r;
}

static int same(struct regs x, struct regs y) { return x.a == y.a && x.b == y.b && x.c == y.c && x.d == y.d; }

static struct regs user0, user1;

static uint32_t user_cpuid(uint32_t arg)
{
    (void)arg;
    user0 = cpuid(0);
    user1 = cpuid(1);
    return 1;
}

static uint32_t rdmsr_lo(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return lo;
}

static void wrmsr(uint32_t msr, uint32_t lo)
{
    __asm__ volatile("wrmsr" :: "a"(lo), "d"(0), "c"(msr) : "memory");
}

static uint32_t try_rdtsc(uint32_t arg)
{
    (void)arg;
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return 1;
}

static uint32_t try_rdmsr(uint32_t arg) { return rdmsr_lo(arg), 1; }

static uint32_t try_cx8(uint32_t arg)
{
    (void)arg;
    static volatile uint64_t q = 0x1111111122222222ull;
    uint32_t a = 0x22222222, d = 0x11111111, b = 0x44444444, c = 0x33333333;
    uint8_t z;
    __asm__ volatile("lock cmpxchg8b %2\n\tsetz %1"
                     : "+a"(a), "=q"(z), "+m"(q), "+d"(d) : "b"(b), "c"(c) : "cc", "memory");
    return z && q == 0x3333333344444444ull;
}

static uint32_t try_cmov(uint32_t arg)
{
    uint32_t v = 5, w = 7;
    __asm__ volatile("cmpl $1, %2\n\tcmove %1, %0" : "+r"(v) : "r"(w), "r"(arg) : "cc");
    return v == 7;
}

static uint32_t try_sep(uint32_t arg)
{
    (void)arg;
    wrmsr(0x174, SEL_KCODE);
    wrmsr(0x175, 0x12345678);
    uint32_t ok = rdmsr_lo(0x174) == SEL_KCODE && rdmsr_lo(0x175) == 0x12345678;
    wrmsr(0x174, 0);
    wrmsr(0x175, 0);
    return ok;
}

static uint32_t pd[1024] __attribute__((aligned(4096)));
static volatile uint32_t marker = 0x600dcafe;

/* CR4.DE, CR4.PSE and CR4.PGE set; paging with 4 MiB pages: identity for
 * 0-8 MiB (global) and 0x40000000 aliasing physical 0. */
static uint32_t try_cr4(uint32_t arg)
{
    (void)arg;
    uint32_t cr4 = read_cr4();
    write_cr4(cr4 | (1u << 3) | (1u << 4) | (1u << 7));
    uint32_t back = read_cr4() & ((1u << 3) | (1u << 4) | (1u << 7));
    pd[0] = 0x00000000u | 0x183;     /* P RW PS G */
    pd[1] = 0x00400000u | 0x183;
    pd[0x100] = 0x00000000u | 0x83;  /* P RW PS */
    write_cr3((uint32_t)pd);
    write_cr0(read_cr0() | 0x80000000u);
    uint32_t alias = *(volatile uint32_t *)(0x40000000u + (uint32_t)&marker);
    write_cr0(read_cr0() & ~0x80000000u);
    write_cr4(cr4);
    return back == ((1u << 3) | (1u << 4) | (1u << 7)) && alias == marker;
}

static void vendor(struct regs r, char *out)
{
    uint32_t w[3] = { r.b, r.d, r.c };
    for (int i = 0; i < 12; i++)
        out[i] = (char)(w[i / 4] >> (8 * (i % 4)));
    out[12] = 0;
}

static void check_feature(const char *name, uint32_t edx, int bit, const char *does,
                          uint32_t (*fn)(uint32_t), uint32_t arg)
{
    int adv = (edx >> bit) & 1;
    uint32_t r = st_try(fn, arg);
    int works = r == ST_NOFAULT && st_result == 1;
    hole_check(adv && works, "%s: %s, %s|advertised, %s", name, adv ? "advertised" : "not advertised",
               works ? does : r == ST_NOFAULT ? "wrong result" : "faulted", does);
}

int guest_main(void)
{
    puts("x86v-guest: hole-cpuid\n");
    hole_init();
    tap_plan(11);

    struct regs l0 = cpuid(0), l1 = cpuid(1);
    char v[13];
    vendor(l0, v);
    int intel = l0.b == 0x756e6547 && l0.d == 0x49656e69 && l0.c == 0x6c65746e;
    hole_check(intel && l0.a >= 1, "cpuid 0: vendor %s, max leaf %s 1|vendor GenuineIntel, max leaf >= 1", v,
               l0.a >= 1 ? ">=" : "<");
    uint32_t family = (l1.a >> 8) & 0xF;
    hole_check(family == 6, "cpuid 1: family %u|family 6", family);
    static const char *names[] = { "DE", "PSE", "TSC", "MSR", "CX8", "SEP", "PGE", "CMOV" };
    static const int bits[] = { 2, 3, 4, 5, 8, 11, 13, 15 };
    char list[80], *p = list;
    int all = 1;
    for (int i = 0; i < 8; i++) {
        int on = (l1.d >> bits[i]) & 1;
        all &= on;
        if (p != list) *p++ = ' ';
        if (!on) *p++ = '-';
        for (const char *s = names[i]; *s; s++) *p++ = *s;
    }
    *p = 0;
    hole_check(all, "cpuid 1 edx: %s|DE PSE TSC MSR CX8 SEP PGE CMOV", list);
    hole_check(same(cpuid(0), l0) && same(cpuid(1), l1), "cpuid 0 and 1 again: %s|the same values",
               same(cpuid(0), l0) && same(cpuid(1), l1) ? "the same values" : "other values");
    uint32_t r = st_try_user(user_cpuid, 0);
    int u = r == ST_NOFAULT && same(user0, l0) && same(user1, l1);
    hole_check(u, "cpuid 0 and 1 at CPL 3: %s|no fault, the same values",
               r != ST_NOFAULT ? "faulted" : u ? "no fault, the same values" : "no fault, other values");

    check_feature("TSC", l1.d, 4, "rdtsc runs", try_rdtsc, 0);
    check_feature("MSR", l1.d, 5, "rdmsr 0x10 runs", try_rdmsr, 0x10);
    check_feature("CX8", l1.d, 8, "lock cmpxchg8b swaps", try_cx8, 0);
    check_feature("CMOV", l1.d, 15, "cmove moves", try_cmov, 1);
    check_feature("SEP", l1.d, 11, "the SYSENTER MSRs keep what wrmsr wrote", try_sep, 0);
    uint32_t de_pse_pge = (1u << 2) | (1u << 3) | (1u << 13);
    check_feature("DE PSE PGE", (l1.d & de_pse_pge) == de_pse_pge ? 1 : 0, 0,
                  "cr4 takes them, a 4 MiB page maps", try_cr4, 0);

    puts("# CPUID is not privileged: under classic virtualization it shows the host CPU, which in x86v\n"
         "# is this same CPU model, so nothing here should differ under --virt=classic either\n");
    return hole_done("hole-cpuid");
}
