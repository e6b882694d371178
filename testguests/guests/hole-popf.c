/* hole-popf: POPF changing IF and IOPL, seen through what they control.
 *
 * POPF is not privileged: at CPL > IOPL it silently leaves IF alone, and at
 * CPL > 0 it silently leaves IOPL alone. Under classic virtualization the
 * guest kernel runs at ring 1 with the real IOPL 0, so its POPF neither
 * enables nor disables interrupts (the VMM never sees it: its virtual IF is
 * what the last trapped CLI/STI made it) and cannot raise IOPL.
 *
 * Checks, none of them with PUSHF (its own hole): with the PIT at ~1 kHz on
 * IRQ0, CLI then a POPF of EFLAGS 0x00000202 must let timer interrupts in (3
 * ticks, no STI), and STI then a POPF of 0x00000002 must keep them out (IRQ0
 * stays requested in the 8259's IRR, no tick); a POPF of IOPL 3 must let CPL 3
 * use IN/OUT (COM1's scratch register) and CLI/STI, and a POPF of IOPL 0 must
 * make IN at CPL 3 fault again (#GP(0)). Nothing measures time: an interrupt
 * is either taken or left pending. */
#include "hole.h"

#define COM1_SCR 0x3FF

static uint32_t user_io(uint32_t v)
{
    uint8_t got;
    __asm__ volatile("outb %b1, %w2\n\tinb %w2, %b0\n\tcli\n\tsti\n\tcli"
                     : "=a"(got) : "a"(v), "Nd"(COM1_SCR) : "memory");
    return got;
}

static void popf_const(uint32_t fl)
{
    __asm__ volatile("pushl %0\n\tpopfl" :: "r"(fl) : "memory", "cc");
}

int guest_main(void)
{
    puts("x86v-guest: hole-popf\n");
    hole_init();
    tap_plan(4);

    __asm__ volatile("cli" ::: "memory");
    hole_timer_start();
    uint32_t start = hole_ticks;
    popf_const(0x202);                          /* IF 1, IOPL 0 */
    int arrived = hole_poll_ticks(start + 3);
    __asm__ volatile("cli" ::: "memory");
    hole_check(arrived, "cli, then popf of IF 1: %s|timer ticks arrive without sti",
               arrived ? "timer ticks arrive without sti" : "no tick, IRQ0 left pending: IF still 0");

    pic_mask(0);                                /* nothing may come in between sti and the popf */
    __asm__ volatile("sti" ::: "memory");
    popf_const(0x002);                          /* IF 0, IOPL 0 */
    start = hole_ticks;                         /* before the unmask: what it lets in counts */
    pic_unmask(0);
    arrived = hole_poll_ticks(start + 1);
    __asm__ volatile("cli" ::: "memory");
    hole_check(!arrived, "sti, then popf of IF 0: %s|no tick, IRQ0 left pending in the 8259",
               arrived ? "timer ticks still arrive: IF still 1" : "no tick, IRQ0 left pending in the 8259");
    irq_wait(&hole_ticks, hole_ticks + 1);      /* take the pending one with sti; hlt */
    hole_timer_stop();

    popf_const(0x002 | 3u << EFL_IOPL_SHIFT);
    uint32_t r = st_try_user(user_io, 0x5A);
    popf_const(0x002);
    hole_check(r == ST_NOFAULT && st_result == 0x5A,
               "popf of IOPL 3, then CPL 3 out/in/cli/sti: %s|no fault, reads back 0x5a",
               r == ST_NOFAULT ? (st_result == 0x5A ? "no fault, reads back 0x5a" : "no fault, wrong value")
                               : r == 13 ? "#GP" : "another fault");
    r = st_try_user(user_io, 0xA5);
    hole_check(st_faulted(r, 13, 0), "popf of IOPL 0, then CPL 3 out: %s|#GP(0)",
               st_faulted(r, 13, 0) ? "#GP(0)" : r == ST_NOFAULT ? "no fault" : "another fault");

    return hole_done("hole-popf");
}
