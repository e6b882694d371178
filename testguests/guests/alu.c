/* alu: CPU-bound integer benchmark. The timed work is alu_loop() in
 * alu_loop.S (see there for the exact dynamic instruction count). Uses only
 * serial output and the isa-debug-exit port: no GDT/IDT/paging setup, so it
 * runs on a virtualizer before descriptor tables work. */
#include "runtime.h"

#ifndef ALU_ITERATIONS
#define ALU_ITERATIONS 10000000u
#endif
/* From host/alu_model.c (make host-check) for 10,000,000 iterations. */
#define ALU_EXPECTED 0x70129768u

uint32_t alu_loop(uint32_t n);

int guest_main(void)
{
    puts("x86v-guest: alu\n");
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
