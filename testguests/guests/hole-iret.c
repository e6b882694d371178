/* hole-iret: IRET restoring IF, seen through timer interrupts.
 *
 * IRET is not privileged: at CPL > IOPL it silently leaves IF alone (and at
 * CPL > 0, IOPL). Under classic virtualization the guest kernel runs at ring
 * 1 with the real IOPL 0, so an interrupt handler's IRET does not re-enable
 * interrupts, and an IRET used to set or clear IF does nothing; the VMM
 * never sees it.
 *
 * Checks, with the PIT at ~1 kHz on IRQ0 and no PUSHF (its own hole): after a
 * single STI, 5 timer ticks must arrive (every handler returns with IRET,
 * which must restore IF 1 each time); after CLI, an IRET to the next
 * instruction with EFLAGS 0x00000202 must let ticks in; after STI, an IRET
 * with EFLAGS 0x00000002 must keep them out (IRQ0 stays requested in the
 * 8259's IRR); after STI and INT 0x40 through an interrupt gate, ticks must
 * arrive once its handler's IRET has restored IF. Nothing measures time: an
 * interrupt is either taken or left pending. */
#include "hole.h"

/* IRET to the next instruction with the given EFLAGS (same CS, same ring). */
static void iret_const(uint32_t fl)
{
    __asm__ volatile("pushl %0\n\tpushl %%cs\n\tpushl $1f\n\tiret\n1:" :: "r"(fl) : "memory", "cc");
}

static const char *plural(uint32_t n) { return n == 1 ? "" : "s"; }

int guest_main(void)
{
    puts("x86v-guest: hole-iret\n");
    hole_init();
    tap_plan(4);
    __asm__ volatile("cli" ::: "memory");
    hole_timer_start();

    uint32_t start = hole_ticks;
    __asm__ volatile("sti" ::: "memory");
    int arrived = hole_poll_ticks(start + 5);
    __asm__ volatile("cli" ::: "memory");
    uint32_t got = hole_ticks - start;
    if (arrived)
        hole_check(1, "one sti, then ticks: 5 arrive, each handler's iret re-enabled interrupts");
    else
        hole_check(0, "one sti, then ticks: %u tick%s, then IRQ0 left pending: the handler's iret left IF 0"
                   "|5 arrive, each handler's iret re-enabled interrupts", got, plural(got));

    iret_const(0x202);                          /* IF 1, IOPL 0 */
    start = hole_ticks;
    arrived = hole_poll_ticks(start + 2);
    __asm__ volatile("cli" ::: "memory");
    hole_check(arrived, "cli, then iret with IF 1: %s|timer ticks arrive without sti",
               arrived ? "timer ticks arrive without sti" : "no tick, IRQ0 left pending: IF still 0");

    pic_mask(0);                                /* nothing may come in between sti and the iret */
    __asm__ volatile("sti" ::: "memory");
    iret_const(0x002);                          /* IF 0, IOPL 0 */
    start = hole_ticks;                         /* before the unmask: what it lets in counts */
    pic_unmask(0);
    arrived = hole_poll_ticks(start + 1);
    __asm__ volatile("cli" ::: "memory");
    hole_check(!arrived, "sti, then iret with IF 0: %s|no tick, IRQ0 left pending in the 8259",
               arrived ? "timer ticks still arrive: IF still 1" : "no tick, IRQ0 left pending in the 8259");

    pic_mask(0);                                /* no timer handler's iret in between either */
    __asm__ volatile("sti\n\tint $0x40" ::: "memory");
    start = hole_ticks;
    pic_unmask(0);                              /* IF is what the int handler's iret restored */
    arrived = hole_poll_ticks(start + 2);
    __asm__ volatile("cli" ::: "memory");
    hole_check(arrived, "sti, int 0x40 (interrupt gate), then ticks: %s|they arrive after the handler's iret",
               arrived ? "they arrive after the handler's iret" : "no tick, IRQ0 left pending: the iret left IF 0");

    irq_wait(&hole_ticks, hole_ticks + 1);      /* sti; hlt: take what is pending */
    hole_timer_stop();
    return hole_done("hole-iret");
}
