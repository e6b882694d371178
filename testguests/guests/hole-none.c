/* hole-none: a kernel that uses no hole at all.
 *
 * Everything here is either innocuous (ordinary computation, memory accesses,
 * jumps within the kernel) or privileged (LGDT, LIDT, LTR, MOV to segment
 * registers, MOV to/from CR0/CR2/CR3, INVLPG, IN/OUT at IOPL 0, CLI, STI,
 * HLT), so a trap-and-emulate VMM sees every instruction that matters and the
 * guest cannot tell it is deprivileged: it must pass under classic
 * virtualization (ring compression) as well as natively. No SGDT/SIDT/SLDT/
 * STR/SMSW, no PUSHF/POPF, no LAR/LSL/VERR/VERW, no CPUID/RDTSC, no reads of
 * CS/SS, no far CALL/RET to 0x0008 frames, no ring 3 (st_try_user builds its
 * IRET frame with PUSHF). hole_init() is built with HOLE_NO_TRY (its one MOV
 * from CS is left out).
 *
 * Instructions of the audited kinds that remain are harmless under ring
 * compression: hole_init's LJMP 0x0008 (a far JMP to a non-conforming
 * segment needs only RPL <= CPL, and CS then shows the CPL as its RPL, which
 * nothing here reads), data segment loads (0x0010 loads at ring 1 as at ring
 * 0), and the IRET that ends every handler, which is never asked to change
 * IF: the #PF handler returns to code running with IF 0, and the timer's own
 * stub (hn_irq0, not the runtime's) ends with STI; IRET, so IF is 1 before
 * the IRET pops IF 1 (STI's one-instruction shadow keeps the next interrupt
 * out until the IRET is done, exactly as a plain IRET would). The timer loop
 * is CLI; STI; HLT; CLI, as in irq_wait(). `x86v audit` of this guest
 * should report no site where the guest saw the virtualization.
 *
 * Checks: paging on (4 KiB identity map of 0-4 MiB, CR0.PG and CR3 read
 * back), a page aliased at 0x00400000 seen through both addresses, a #PF on
 * a not-present page (error code, CR2) that the handler fixes by mapping it,
 * INVLPG after an unmap (the next access faults again), and 10 PIT ticks
 * (~1 kHz on IRQ0) each waited for with STI; HLT. */
#define HOLE_NO_TRY
#include "hole.h"

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt0[1024] __attribute__((aligned(4096)));   /* 0x00000000-0x003fffff identity */
static uint32_t pt1[1024] __attribute__((aligned(4096)));   /* 0x00400000-0x007fffff */
static uint32_t page_a[1024] __attribute__((aligned(4096)));
static uint32_t page_b[1024] __attribute__((aligned(4096)));

#define ALIAS  0x00400000u
#define DEMAND 0x00401000u

static volatile uint32_t pf_count, pf_err, pf_cr2;
volatile uint32_t hn_ticks;
void hn_irq0(void);

/* IRQ0: count, EOI, then STI; IRET (see above). */
__asm__(
    ".text\n"
    ".globl hn_irq0\n"
    "hn_irq0:\n"
    "  pushl %eax\n"
    "  incl hn_ticks\n"
    "  movb $0x20, %al\n"
    "  outb %al, $0x20\n"
    "  popl %eax\n"
    "  sti\n"
    "  iret\n"
);

static void on_pf(struct rt_frame *f)
{
    pf_count++;
    pf_err = f->error;
    pf_cr2 = read_cr2();
    if (pf_cr2 >> 12 == DEMAND >> 12) {
        pt1[1] = (uint32_t)page_b | 3;       /* map it and retry */
        invlpg(DEMAND);
        return;
    }
    puts("# unexpected page fault\nBail out! unexpected page fault\n");
    exit(2);
}

int guest_main(void)
{
    puts("x86v-guest: hole-none\n");
    hole_init();
    hole_handlers[14] = on_pf;
    tap_plan(6);

    for (uint32_t i = 0; i < 1024; i++)
        pt0[i] = i << 12 | 3;                 /* P RW, supervisor */
    pt0[0] = 0;                               /* null page not mapped */
    pt1[0] = (uint32_t)page_a | 3;
    pd[0] = (uint32_t)pt0 | 3;
    pd[1] = (uint32_t)pt1 | 3;
    write_cr3((uint32_t)pd);
    write_cr0(read_cr0() | 0x80000000u);
    uint32_t cr0 = read_cr0(), cr3 = read_cr3();
    hole_check((cr0 & 0x80000001u) == 0x80000001u && cr3 == (uint32_t)pd,
               "paging: cr0.PG %u cr0.PE %u, cr3 %x|cr0.PG 1 cr0.PE 1, cr3 %x", cr0 >> 31, cr0 & 1, cr3, (uint32_t)pd);

    *(volatile uint32_t *)ALIAS = 0xa11a5ed0;
    hole_check(page_a[0] == 0xa11a5ed0, "write through 0x00400000, read through the identity map: %x|%x",
               page_a[0], 0xa11a5ed0u);

    page_b[0] = 0xdeadf00d;
    uint32_t v = *(volatile uint32_t *)DEMAND;
    hole_check(pf_count == 1 && v == 0xdeadf00d, "read of not-present 0x00401000: %u #PF, then %x|1 #PF, then %x",
               pf_count, v, 0xdeadf00du);
    hole_check(pf_err == 0 && pf_cr2 == DEMAND, "that #PF: error %x cr2 %x|error %x cr2 %x",
               pf_err, pf_cr2, 0u, DEMAND);

    pt1[1] = 0;
    invlpg(DEMAND);
    *(volatile uint32_t *)DEMAND = 0x5eed;    /* faults again (error 2: write), mapped again */
    hole_check(pf_count == 2 && pf_err == 2 && page_b[0] == 0x5eed,
               "unmap + invlpg, then a write: %u #PF in all, error %x|2 #PF in all, error %x", pf_count, pf_err, 2u);

    hole_idt[IRQ_VECTOR(0)] = st_gate(SEL_KCODE, (uint32_t)hn_irq0, SYS_INTGATE, 0, 1, 0);
    pit_program(0, 2, 1193);                  /* ~1 kHz */
    pic_unmask(0);
    irq_wait(&hn_ticks, 10);                  /* cli; (sti; hlt; cli) until 10 */
    pic_mask(0);
    uint32_t ticks = hn_ticks;                /* 10, or more if the host stalled QEMU */
    hole_check(ticks >= 10, "timer: %s, each waited for with sti; hlt|10 ticks, each waited for with sti; hlt",
               ticks >= 10 ? "10 ticks" : "fewer than 10 ticks");

    write_cr0(read_cr0() & ~0x80000000u);
    return hole_done("hole-none");
}
