/* alu: CPU-bound integer benchmark. The timed work is alu_loop() in
 * alu_loop.S (see there for the exact dynamic instruction count). Uses only
 * serial output and the isa-debug-exit port: no GDT/IDT/paging setup, so it
 * runs on a virtualizer before descriptor tables work.
 *
 * Built with -DALU_PAGING it becomes alu-paging: the same loop (same checksum,
 * same instruction count) run with identity-mapped 4 KiB paging on, so the
 * cost of translating every fetch and data access shows. Benchmark variants
 * with a small -DALU_ITERATIONS=N measure a peer's boot/teardown time. */
#include "runtime.h"

#ifndef ALU_ITERATIONS
#define ALU_ITERATIONS 10000000u
#endif
/* From host/alu_model.c (make host-check) for 10,000,000 iterations. */
#define ALU_EXPECTED 0x70129768u

uint32_t alu_loop(uint32_t n);

#ifdef ALU_PAGING
#define ALU_NAME "alu-paging"
/* One page table identity-maps 0-4 MiB (the guest is loaded at 1 MiB; its
 * image, .bss and boot stack end well below 4 MiB), present + writable,
 * supervisor only. No IDT: a stray #PF would triple-fault. */
static uint32_t alu_pd[1024] __attribute__((aligned(4096)));
static uint32_t alu_pt[1024] __attribute__((aligned(4096)));
extern char __image_end[];

static int alu_paging_on(void)
{
    if ((uint32_t)__image_end > 0x400000u)
        return 0;
    for (uint32_t i = 0; i < 1024; i++)
        alu_pt[i] = (i << 12) | 3u;
    alu_pd[0] = (uint32_t)alu_pt | 3u;
    write_cr3((uint32_t)alu_pd);
    write_cr0(read_cr0() | 0x80000000u);
    return (read_cr0() & 0x80000000u) != 0;
}
#else
#define ALU_NAME "alu"
#endif

int guest_main(void)
{
    puts("x86v-guest: " ALU_NAME "\n");
#ifdef ALU_PAGING
    if (!alu_paging_on()) {
        puts("Bail out! could not enable paging\n");
        return 2;
    }
    puts("# paging: on, 4 KiB pages identity-mapping 0-4 MiB\n");
#endif
    puts("# iterations: ");
    putDec(ALU_ITERATIONS);
    puts("\n1..1\n");
    uint32_t sum = alu_loop(ALU_ITERATIONS);
    puts("# checksum: 0x");
    putHex32(sum);
    putc('\n');
    tap_ok(ALU_ITERATIONS != 10000000u || sum == ALU_EXPECTED, "alu checksum matches");
    return tap_exit_code();
}
