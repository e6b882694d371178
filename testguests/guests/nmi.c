/* nmi: non-maskable interrupts (SDM Vol. 3A §6.7 and §6.7.1, §11.6.1) with
 * the 8259s masked.
 *
 * Sources: a self-IPI with delivery mode NMI through the local APIC's ICR
 * (the vector field ignored), and an I/O APIC redirection entry with delivery
 * mode NMI fed by the PIT on pin 2. Checked: interrupt 2 is taken with IF = 0
 * and through an interrupt gate, at the instruction after the ICR write, with
 * no error code and no in-service bit to EOI; a second NMI raised inside the
 * handler waits (NMI blocking) and is taken right after the handler's IRET;
 * the IRET of another handler (INT3 inside the NMI handler) ends the blocking
 * too, so the waiting NMI nests there; `cli; hlt` is woken by an NMI; NMIs
 * merge while one waits (two ICR writes inside the handler give one more
 * NMI, the pin is edge-triggered and has no queue).
 *
 * Left out: the chipset NMI through LINT1 and the port-0x70 mask (a guest
 * cannot raise it; x86v's --nmi-at does, and its CLI check covers it), and
 * NMIs in the STI shadow (model-specific, SDM §6.8.3). */
#include "irq.h"

#define ICR_NMI 0x400u          /* delivery mode 100 */
#define V_PIT_SPARE 0x61

static volatile uint32_t nnmi;
static volatile uint32_t nbp;
static volatile int phase;
static volatile uint32_t rec_eip, rec_if, rec_error, rec_vector, rec_inside, rec_after_bp;
static volatile int rec_isr_clear;

static void send_self_nmi(uint8_t vector)
{
    lapic_write(LAPIC_ICR_HI, 0);
    lapic_write(LAPIC_ICR_LO, ICR_SELF | ICR_NMI | vector);
}

static void on_bp(struct rt_frame *f)
{
    (void)f;
    nbp++;
}

static void on_nmi(struct rt_frame *f)
{
    uint32_t n = ++nnmi;
    if (n == 1) {
        rec_eip = f->eip;
        rec_if = f->eflags & 0x200;
        rec_error = f->error;
        rec_vector = f->vector;
        int clear = 1;
        for (int i = 0; i < 8; i++)
            if (lapic_read(LAPIC_ISR + 0x10 * i))
                clear = 0;
        rec_isr_clear = clear;
    }
    if (phase == 1 && n == 2) {
        /* Blocked: a second NMI waits until this handler's IRET. */
        send_self_nmi(0);
        for (volatile int i = 0; i < 20000; i++)
            ;
        rec_inside = nnmi;
    }
    if (phase == 2 && n == 4) {
        /* INT3's IRET ends NMI blocking: the NMI sent here nests at once. */
        send_self_nmi(0);
        for (volatile int i = 0; i < 20000; i++)
            ;
        rec_inside = nnmi;
        __asm__ volatile("int3" ::: "memory");
        for (volatile int i = 0; i < 20000; i++)
            ;
        rec_after_bp = nnmi;
    }
    if (phase == 3 && n == 6) {
        /* Two more edges while blocked: one latch, one NMI after IRET. */
        send_self_nmi(0);
        send_self_nmi(0);
    }
}

extern char after_icr[], spin_end[];

static void settle(void)
{
    for (volatile int i = 0; i < 20000; i++)
        ;
}

int guest_main(void)
{
    puts("x86v-guest: nmi\n");
    irq_init();
    pic_set_imr(0xFFFF);
    tap_plan(10);
    irq_set_handler(2, on_nmi);
    irq_set_handler(3, on_bp);
    lapic_write(LAPIC_SVR, 0x1FF);

    /* 1: with IF = 0, at the instruction after the ICR write. */
    irq_disable();
    /* An IPI is not synchronous with the instruction that sends it (QEMU takes
     * it at its next block boundary), so the frame's EIP is checked to lie in
     * the spin loop that follows the ICR write. */
    __asm__ volatile(
        "movl $0, 0xFEE00310\n\t"
        "movl %0, 0xFEE00300\n\t"
        ".globl after_icr\n"
        "after_icr:\n\t"
        "movl $1000, %%ecx\n"
        "1:\n\t"
        "decl %%ecx\n\t"
        "jnz 1b\n\t"
        ".globl spin_end\n"
        "spin_end:"
        :: "r"(ICR_SELF | ICR_NMI | 0x22u) : "ecx", "memory");
    tap_ok(nnmi == 1, "self-IPI with delivery mode NMI is taken with IF=0");
    tap_ok(rec_eip >= (uint32_t)after_icr && rec_eip <= (uint32_t)spin_end && rec_if == 0,
           "NMI frame: EIP after the ICR write, pushed IF=0");
    tap_ok(rec_vector == 2 && rec_error == 0, "vector 2, no error code");
    tap_ok(rec_isr_clear && (lapic_read(LAPIC_ICR_LO) & ICR_PENDING) == 0,
           "no in-service bit for an NMI (nothing to EOI), ICR idle");

    /* 2: blocking until IRET. */
    phase = 1;
    send_self_nmi(0x40);
    settle();
    tap_ok(rec_inside == 2 && nnmi == 3,
           "an NMI raised in the NMI handler waits for its IRET, then is taken");

    /* 3: the IRET of a nested INT3 handler unblocks NMIs. */
    phase = 2;
    send_self_nmi(0);
    settle();
    tap_ok(rec_inside == 4 && rec_after_bp == 5 && nbp == 1,
           "IRET from INT3 inside the NMI handler unblocks: the waiting NMI nests");
    tap_ok(nnmi == 5, "no NMI left over after the nested ones");

    /* 4: edges merge while blocked. */
    phase = 3;
    send_self_nmi(0);
    settle();
    tap_ok(nnmi == 7, "two NMIs raised while blocked are taken once after IRET");

    /* 5: I/O APIC entry with delivery mode NMI: the PIT wakes cli; hlt. */
    phase = 4;
    uint32_t before = nnmi;
    ioapic_route(2, 0x400 | V_PIT_SPARE);       /* NMI, edge, high, unmasked */
    pit_program(0, 0, 1000);                    /* one-shot: OUT rises once */
    irq_disable();
    __asm__ volatile("hlt" ::: "memory");
    uint32_t woke = nnmi;
    tap_ok(woke == before + 1, "I/O APIC pin 2 in NMI mode: the PIT's edge wakes cli; hlt with an NMI");
    ioapic_route(2, IOREDIR_MASKED | V_PIT_SPARE);
    tap_ok(irq_count[V_PIT_SPARE] == 0 && !lapic_bit(LAPIC_IRR, V_PIT_SPARE),
           "the entry's vector field is not delivered");
    return tap_exit_code();
}
