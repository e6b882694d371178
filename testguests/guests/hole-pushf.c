/* hole-pushf: what PUSHF shows of IF and IOPL.
 *
 * PUSHF is not privileged and pushes the real EFLAGS. Under classic
 * virtualization the real IF and IOPL are the VMM's: CLI/STI trap (real IOPL
 * 0 < CPL 1) and are emulated (into the real IF or only a virtual one), and
 * POPF/IRET at ring 1 change neither IF nor IOPL, so PUSHF shows the real IF
 * and IOPL, not the ones the guest set.
 *
 * Checks (every interrupt line stays masked, so IF=1 lets nothing in):
 * PUSHF after CLI and after STI; inside an INT 0x40 handler through an
 * interrupt gate (IF 0) and INT 0x41 through a trap gate (IF 1), and the
 * EFLAGS those pushed; PUSHF after CLI and a POPF of IF 1 IOPL 3, after an
 * IRET of IF 0 IOPL 1, after STI and an IRET of IF 0 IOPL 0, after a POPF of
 * IF 0 IOPL 0 (under classic virtualization these also show the POPF/IRET
 * holes: the real IF and IOPL did not change); PUSHF at CPL 3 entered with IF
 * 0 and with IF 1. */
#include "hole.h"

#define V_INTG  0x40
#define V_TRAPG 0x41

static volatile uint32_t in_handler, in_frame;

static void on_int(struct rt_frame *f)
{
    in_handler = read_eflags();
    in_frame = f->eflags;
}

static uint32_t user_pushf(uint32_t arg)
{
    (void)arg;
    return read_eflags();
}

static void check(const char *what, uint32_t fl, uint32_t want_if, uint32_t want_iopl)
{
    uint32_t i = (fl >> 9) & 1, iopl = (fl >> EFL_IOPL_SHIFT) & 3;
    hole_check(i == want_if && iopl == want_iopl, "%s: IF %u IOPL %u|IF %u IOPL %u", what, i, iopl, want_if, want_iopl);
}

int guest_main(void)
{
    puts("x86v-guest: hole-pushf\n");
    hole_init();
    hole_idt[V_INTG] = st_gate(SEL_KCODE, st_stub(V_INTG), SYS_INTGATE, 0, 1, 0);
    hole_idt[V_TRAPG] = st_gate(SEL_KCODE, st_stub(V_TRAPG), SYS_TRAPGATE, 0, 1, 0);
    hole_handlers[V_INTG] = on_int;
    hole_handlers[V_TRAPG] = on_int;
    tap_plan(11);
    uint32_t fl;

    __asm__ volatile("cli\n\tpushfl\n\tpopl %0" : "=r"(fl) :: "memory");
    check("pushf after cli", fl, 0, 0);
    __asm__ volatile("sti\n\tpushfl\n\tpopl %0\n\tcli" : "=r"(fl) :: "memory");
    check("pushf after sti", fl, 1, 0);

    __asm__ volatile("sti\n\tint $0x40\n\tcli" ::: "memory");
    check("pushf in an interrupt-gate handler (entered with IF 1)", in_handler, 0, 0);
    check("the EFLAGS that INT pushed there", in_frame, 1, 0);
    __asm__ volatile("sti\n\tint $0x41\n\tcli" ::: "memory");
    check("pushf in a trap-gate handler (entered with IF 1)", in_handler, 1, 0);

    __asm__ volatile("cli\n\tpushl %1\n\tpopfl\n\tpushfl\n\tpopl %0"
                     : "=r"(fl) : "r"(0x202u | 3u << EFL_IOPL_SHIFT) : "memory", "cc");
    check("pushf after cli, popf of IF 1 IOPL 3", fl, 1, 3);
    __asm__ volatile("pushl %1\n\tpushl %%cs\n\tpushl $1f\n\tiret\n1:\n\tpushfl\n\tpopl %0"
                     : "=r"(fl) : "r"(0x2u | 1u << EFL_IOPL_SHIFT) : "memory", "cc");
    check("pushf after iret of IF 0 IOPL 1", fl, 0, 1);
    __asm__ volatile("sti\n\tpushl %1\n\tpushl %%cs\n\tpushl $1f\n\tiret\n1:\n\tpushfl\n\tpopl %0"
                     : "=r"(fl) : "r"(0x2u) : "memory", "cc");
    check("pushf after sti, iret of IF 0 IOPL 0", fl, 0, 0);
    __asm__ volatile("pushl %1\n\tpopfl\n\tpushfl\n\tpopl %0\n\tcli" : "=r"(fl) : "r"(0x2u) : "memory", "cc");
    check("pushf after popf of IF 0 IOPL 0", fl, 0, 0);

    uint32_t r = st_try_user(user_pushf, 0);
    check(r == ST_NOFAULT ? "pushf at CPL 3 entered with IF 0" : "pushf at CPL 3 entered with IF 0 faulted",
          r == ST_NOFAULT ? st_result : ~0u, 0, 0);
    __asm__ volatile("sti" ::: "memory");
    r = st_try_user(user_pushf, 0);
    __asm__ volatile("cli" ::: "memory");
    check(r == ST_NOFAULT ? "pushf at CPL 3 entered with IF 1" : "pushf at CPL 3 entered with IF 1 faulted",
          r == ST_NOFAULT ? st_result : ~0u, 1, 0);

    return hole_done("hole-pushf");
}
