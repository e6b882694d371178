/* hole-segments: the selectors the kernel reads back from CS, SS and the data
 * segment registers.
 *
 * MOV r/m16, Sreg and PUSH Sreg are not privileged. The RPL of CS and SS is
 * the CPL, so under classic virtualization (kernel at ring 1) MOV from CS/SS
 * and PUSH CS/SS show RPL 1 where the kernel expects 0 (0x0009/0x0011 for
 * 0x0008/0x0010); so does the CS that an interrupt pushes if the hardware
 * delivers it at ring 1. DS/ES/FS/GS keep the RPL the guest loaded (0). Ring
 * 3 is not compressed: CS/SS there read 0x001b/0x0023 either way.
 *
 * Checks: MOV from CS, SS, DS, ES, FS, GS; PUSH CS and PUSH SS; the CS in an
 * INT 0x40 frame and MOV from CS in its handler; MOV from CS and SS at CPL 3. */
#include "hole.h"

static volatile uint32_t h_cs, h_frame_cs;
static uint32_t user_ss;

#define READ_SREG(r) ({ uint32_t v_ = 0xAAAAAAAAu; __asm__ volatile("movw %%" #r ", %w0" : "+r"(v_)); v_ & 0xFFFF; })

static void on_int(struct rt_frame *f)
{
    h_cs = READ_SREG(cs);
    h_frame_cs = f->cs & 0xFFFF;
}

static uint32_t user_read(uint32_t arg)
{
    (void)arg;
    user_ss = READ_SREG(ss);
    return READ_SREG(cs);
}

static uint32_t push_sreg_cs(void)
{
    uint32_t v;
    __asm__ volatile("pushl %%cs\n\tpopl %0" : "=r"(v) :: "memory");
    return v & 0xFFFF;   /* bits 31:16 of the slot may be left as they were */
}

static uint32_t push_sreg_ss(void)
{
    uint32_t v;
    __asm__ volatile("pushl %%ss\n\tpopl %0" : "=r"(v) :: "memory");
    return v & 0xFFFF;
}

static void check(const char *what, uint32_t got, uint32_t want)
{
    hole_check(got == want, "%s: %w, RPL %u|%w, RPL %u", what, got, got & 3, want, want & 3);
}

int guest_main(void)
{
    puts("x86v-guest: hole-segments\n");
    hole_init();
    hole_handlers[0x40] = on_int;
    tap_plan(12);

    check("mov from cs", READ_SREG(cs), SEL_KCODE);
    check("mov from ss", READ_SREG(ss), SEL_KDATA);
    check("mov from ds", READ_SREG(ds), SEL_KDATA);
    check("mov from es", READ_SREG(es), SEL_KDATA);
    check("mov from fs", READ_SREG(fs), SEL_KDATA);
    check("mov from gs", READ_SREG(gs), SEL_KDATA);
    check("push cs", push_sreg_cs(), SEL_KCODE);
    check("push ss", push_sreg_ss(), SEL_KDATA);

    __asm__ volatile("int $0x40" ::: "memory");
    check("cs pushed by int 0x40", h_frame_cs, SEL_KCODE);
    check("mov from cs in the int 0x40 handler", h_cs, SEL_KCODE);

    uint32_t r = st_try_user(user_read, 0);
    check(r == ST_NOFAULT ? "mov from cs at CPL 3" : "mov from cs at CPL 3 faulted",
          r == ST_NOFAULT ? st_result : 0xFFFF, SEL_UCODE);
    check(r == ST_NOFAULT ? "mov from ss at CPL 3" : "mov from ss at CPL 3 faulted",
          r == ST_NOFAULT ? user_ss : 0xFFFF, SEL_UDATA);

    return hole_done("hole-segments");
}
