/* hole-rdtsc: RDTSC as a clock.
 *
 * RDTSC is not privileged unless CR4.TSD is set, and then only outside ring
 * 0, so under classic virtualization (kernel at ring 1) the guest reads the
 * real time-stamp counter: real time, including the time the VMM spends
 * emulating, not the guest's. In x86v the counter is the virtual
 * instruction clock in every mode (retired instructions plus an offset), so
 * this guest is expected to pass under --virt=classic too; it is a control.
 *
 * Nothing timing-dependent is printed. Checks: 1000 consecutive reads never
 * go back; a loop of 1,000,000 iterations (7 instructions each) takes at
 * least 1,000,000 ticks, and more than the fastest of 8 runs of 1,000
 * iterations; with CR4.TSD clear
 * RDTSC runs at CPL 3, with CR4.TSD set it faults there (#GP(0)) and still
 * runs at CPL 0. Left out: RDMSR/WRMSR of IA32_TIME_STAMP_COUNTER (0x10),
 * which QEMU 7.2's TCG does not tie to RDTSC (x86v does). */
#include "hole.h"

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
    return (uint64_t)hi << 32 | lo;
}

/* n iterations of 7 instructions; returns the ticks they took. */
static uint64_t loop_ticks(uint32_t n)
{
    uint64_t t0 = rdtsc();
    uint32_t a = 1, b = 2, c = n;
    __asm__ volatile("1:\n\taddl %1, %0\n\txorl %0, %1\n\tleal 3(%0,%1), %0\n\trorl $3, %1\n\tnop\n\tdecl %2\n\tjnz 1b"
                     : "+r"(a), "+r"(b), "+r"(c) :: "cc");
    uint64_t t1 = rdtsc();
    return t1 - t0;
}

static uint32_t user_rdtsc(uint32_t arg)
{
    (void)arg;
    return (uint32_t)rdtsc() | 1;
}

static const char *outcome(uint32_t r)
{
    return r == ST_NOFAULT ? "runs" : st_faulted(r, 13, 0) ? "#GP(0)" : "another fault";
}

int guest_main(void)
{
    puts("x86v-guest: hole-rdtsc\n");
    hole_init();
    tap_plan(6);

    int mono = 1;
    uint64_t prev = rdtsc();
    for (int i = 0; i < 1000; i++) {
        uint64_t t = rdtsc();
        mono &= t >= prev;
        prev = t;
    }
    hole_check(mono, "1000 rdtsc reads: %s|never go back", mono ? "never go back" : "go back");

    /* The short loop's best of 8 runs: a host that preempts QEMU only ever adds ticks. */
    uint64_t big = loop_ticks(1000000), small = ~0ull;
    for (int i = 0; i < 8; i++) {
        uint64_t t = loop_ticks(1000);
        if (t < small)
            small = t;
    }
    hole_check(big >= 1000000, "1,000,000-iteration loop: %s|at least one tick per iteration",
               big >= 1000000 ? "at least one tick per iteration" : "fewer ticks than iterations");
    hole_check(big > small, "1,000,000 vs 1,000 iterations (best of 8): %s|more ticks for more work",
               big > small ? "more ticks for more work" : "not more ticks");

    uint32_t r = st_try_user(user_rdtsc, 0);
    hole_check(r == ST_NOFAULT, "cr4.TSD clear, rdtsc at CPL 3: %s|runs", outcome(r));
    write_cr4(read_cr4() | (1u << 2));
    r = st_try_user(user_rdtsc, 0);
    uint32_t r0 = st_try(user_rdtsc, 0);
    write_cr4(read_cr4() & ~(1u << 2));
    hole_check(st_faulted(r, 13, 0), "cr4.TSD set, rdtsc at CPL 3: %s|#GP(0)", outcome(r));
    hole_check(r0 == ST_NOFAULT, "cr4.TSD set, rdtsc at CPL 0: %s|runs", outcome(r0));

    puts("# RDTSC is not privileged (CR4.TSD clear): under classic virtualization it reads the host's\n"
         "# counter, which in x86v is the same instruction clock, so nothing here should differ\n"
         "# under --virt=classic either\n");
    return hole_done("hole-rdtsc");
}
