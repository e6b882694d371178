/* hole-farcall: far CALL, RET, JMP and IRET through the kernel's own code
 * selector 0x0008 (RPL 0).
 *
 * Far transfers check the selector's RPL and the descriptor's DPL against the
 * CPL and are not privileged. Under classic virtualization (kernel at ring 1,
 * shadow kernel descriptors with DPL 1) CALL/JMP to 0x0008 still work but
 * load CS with RPL 1 (so the CS pushed by a far CALL reads 0x0009), while a
 * far RET or IRET to a frame the kernel built with CS 0x0008 means "return to
 * a more privileged ring" and faults (#GP(0x0008)); and a far CALL to 0x0009,
 * which faults natively (RPL 1 > CPL 0), succeeds.
 *
 * Checks: LCALL 0x0008 (the pushed CS, the callee's CS), LJMP 0x0008, LRET
 * and IRET to a pushed 0x0008 frame, LCALL through a DPL 0 call gate to 0x0008
 * (the pushed CS), LCALL 0x0009 (#GP(0x0008)). */
#include "hole.h"

#define G_CALL 0x30   /* call gate DPL 0 -> 0x0008:far_target */

uint32_t hf_pushed_cs;
uint32_t hf_lcall(uint32_t), hf_ljmp(uint32_t), hf_lret(uint32_t), hf_iret(uint32_t);
uint32_t hf_gate(uint32_t), hf_rpl1(uint32_t);
void hf_target(void);

__asm__(
    ".text\n"
    /* The callee: records the CS slot the far call pushed, returns its own CS. */
    "hf_target:\n"
    "  movl 4(%esp), %eax\n  andl $0xffff, %eax\n  movl %eax, hf_pushed_cs\n"
    "  movw %cs, %ax\n  movzwl %ax, %eax\n  lret\n"
    "hf_lcall:\n  lcall $0x08, $hf_target\n  ret\n"
    "hf_gate:\n  lcall $0x30, $0\n  ret\n"
    "hf_rpl1:\n  lcall $0x09, $hf_target\n  ret\n"
    "hf_ljmp:\n  ljmp $0x08, $1f\n1:\n  movw %cs, %ax\n  movzwl %ax, %eax\n  ret\n"
    "hf_lret:\n  pushl $0x08\n  pushl $1f\n  lret\n1:\n  movw %cs, %ax\n  movzwl %ax, %eax\n  ret\n"
    "hf_iret:\n  pushl $0x2\n  pushl $0x08\n  pushl $1f\n  iret\n1:\n  movw %cs, %ax\n  movzwl %ax, %eax\n  ret\n"
);

static const char *outcome(uint32_t r)
{
    static char buf[40];
    if (r == ST_NOFAULT)
        return "no fault";
    char *p = buf;
    const char *s = r == 13 ? "#GP(0x" : r == 11 ? "#NP(0x" : "fault(0x";
    while (*s) *p++ = *s++;
    for (int sh = 12; sh >= 0; sh -= 4) *p++ = "0123456789abcdef"[(rt_last_trap.error >> sh) & 15];
    *p++ = ')';
    *p = 0;
    return buf;
}

static void check_cs(const char *what, uint32_t (*fn)(uint32_t))
{
    uint32_t r = st_try(fn, 0);
    uint32_t cs = r == ST_NOFAULT ? st_result & 0xFFFF : 0xFFFF;
    hole_check(r == ST_NOFAULT && cs == SEL_KCODE, "%s: %s, CS %w|no fault, CS %w", what, outcome(r), cs, SEL_KCODE);
}

static void check_pushed(const char *what, uint32_t (*fn)(uint32_t))
{
    hf_pushed_cs = 0xFFFF;
    uint32_t r = st_try(fn, 0);
    hole_check(r == ST_NOFAULT && hf_pushed_cs == SEL_KCODE && (st_result & 0xFFFF) == SEL_KCODE,
               "%s: %s, pushed CS %w, callee's CS %w|no fault, pushed CS %w, callee's CS %w", what, outcome(r),
               hf_pushed_cs, r == ST_NOFAULT ? st_result & 0xFFFF : 0xFFFF, SEL_KCODE, SEL_KCODE);
}

int guest_main(void)
{
    puts("x86v-guest: hole-farcall\n");
    hole_init();
    hole_gdt[G_CALL / 8] = st_gate(SEL_KCODE, (uint32_t)hf_target, SYS_CALLGATE, 0, 1, 0);
    tap_plan(6);

    check_pushed("lcall 0x0008", hf_lcall);
    check_cs("ljmp 0x0008", hf_ljmp);
    check_cs("lret to a pushed 0x0008 frame", hf_lret);
    check_cs("iret to a pushed 0x0008 frame", hf_iret);
    check_pushed("lcall through a DPL 0 call gate to 0x0008", hf_gate);
    uint32_t r = st_try(hf_rpl1, 0);
    hole_check(st_faulted(r, 13, SEL_KCODE), "lcall 0x0009 (RPL 1 > CPL 0): %s|#GP(0x0008)", outcome(r));

    return hole_done("hole-farcall");
}
