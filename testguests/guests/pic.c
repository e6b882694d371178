/* pic: the two cascaded 8259A interrupt controllers of a PC (Intel 8259A
 * datasheet): initialisation (ICW1-4) and re-initialisation with another
 * vector base, the mask register read back, IRR and ISR read with OCW3,
 * non-specific and specific EOI, an in-service level blocking the next
 * request of the same level until EOI, the slave cascaded on master IR2 (the
 * RTC periodic interrupt on IRQ8), priority between two pending requests,
 * and IF=0 holding a request until STI.
 *
 * Requests come from one-shot sources, so the number of edges is known: the
 * 8254 channel 0 in mode 0 (one IRQ0 edge per programming) and the RTC
 * periodic flag on IRQ8 (the line stays up until register C is read).
 * Waits poll IRR or sit in hlt; nothing measures time.
 *
 * Left out: spurious IRQ7/IRQ15. On real hardware it needs a request that
 * goes away between INTR and INTA; QEMU drops INTR as soon as a request is
 * masked, so a guest cannot provoke one deterministically. */
#include "irq.h"

static volatile uint32_t n0, n8, nlog;
static volatile uint8_t order[8];
static volatile uint16_t isr_in_irq0, isr_in_irq8;
static volatile int irq0_eoi;            /* 0 = none, 1 = non-specific, 2 = specific */

static void note(uint8_t irq)
{
    if (nlog < sizeof order)
        order[nlog] = irq;
    nlog++;
}

static void on_irq0(struct rt_frame *f)
{
    (void)f;
    n0++;
    note(0);
    isr_in_irq0 = pic_read_isr();
    if (irq0_eoi == 1)
        pic_eoi(0);
    else if (irq0_eoi == 2)
        pic_specific_eoi(0);
}

static void on_irq8(struct rt_frame *f)
{
    (void)f;
    n8++;
    note(8);
    isr_in_irq8 = pic_read_isr();
    cmos_read(0x0C);                     /* acknowledge the RTC: line goes low */
    pic_eoi(8);
}

/* Polls IRR (with whatever IF is) until bit `irq` is set; 0 on timeout. */
static int wait_irr(int irq)
{
    for (uint32_t i = 0; i < 2000000u; i++)
        if (pic_read_irr() & (1u << irq))
            return 1;
    return 0;
}

/* One IRQ0 edge about 1 ms from now. */
static void pit_oneshot(void)
{
    pit_program(0, 0, 1193);
}

static void rtc_periodic(int on)
{
    cmos_write(0x0A, (uint8_t)((cmos_read(0x0A) & 0xF0) | 0x06));   /* 1024 Hz */
    uint8_t b = cmos_read(0x0B);
    cmos_write(0x0B, on ? (uint8_t)(b | 0x40) : (uint8_t)(b & ~0x40));
    cmos_read(0x0C);
}

static void spin(int n)
{
    for (volatile int i = 0; i < n; i++)
        ;
}

int guest_main(void)
{
    puts("x86v-guest: pic\n");
    tap_plan(14);
    irq_init();                           /* remapped to 0x20/0x28, all masked */
    irq_set_handler(IRQ_VECTOR(0), on_irq0);
    irq_set_handler(IRQ_VECTOR(8), on_irq8);
    irq_set_handler(0x30, on_irq0);

    uint16_t all = pic_get_imr();
    pic_set_imr(0x5AA5);
    uint16_t pattern = pic_get_imr();
    pic_set_imr(0xFFFF);
    tap_ok(all == 0xFFFF && pattern == 0x5AA5, "IMR reads back what was written (both chips)");

    /* ---- IRR while masked; IF=0 holds the request ---- */
    irq0_eoi = 1;
    irq_enable();
    pit_oneshot();
    int irr = wait_irr(0);
    tap_ok(irr && n0 == 0, "masked IRQ0: IRR bit 0 set, no interrupt even with IF=1");

    irq_disable();
    pic_unmask(0);
    spin(20000);
    uint32_t before = n0;
    __asm__ volatile("sti; nop; nop; cli" ::: "memory");
    tap_ok(before == 0 && n0 == 1, "unmasked with IF=0: held until STI, then taken once");
    tap_ok(irq_count[0x20] == 1 && irq_count[0x08] == 0, "IRQ0 arrives on the remapped vector 0x20");
    tap_ok((isr_in_irq0 & 1) && (pic_read_isr() & 1) == 0 && (pic_read_irr() & 1) == 0,
           "ISR bit 0 set in the handler, clear after EOI; IRR cleared by the acknowledge");

    /* ---- no EOI: the same level stays blocked ---- */
    irq0_eoi = 0;
    pit_oneshot();
    irq_wait(&n0, 2);                    /* handled, but no EOI */
    irq_enable();
    pit_oneshot();
    irr = wait_irr(0);
    irq_disable();
    uint16_t isr = pic_read_isr();
    tap_ok(irr && n0 == 2 && (isr & 1), "without EOI, ISR bit 0 stays set and a new IRQ0 waits in IRR");
    pic_specific_eoi(0);                 /* specific EOI for level 0 */
    isr = pic_read_isr();
    __asm__ volatile("sti; nop; nop; cli" ::: "memory");
    tap_ok((isr & 1) == 0 && n0 == 3, "specific EOI (OCW2 0x60) clears ISR bit 0; the waiting IRQ0 follows");
    pic_specific_eoi(0);                 /* the third one was not EOId either */
    tap_ok(pic_read_isr() == 0, "specific EOI clears the in-service bit taken in the handler");

    /* ---- ICW2: re-initialise with another vector base ---- */
    irq0_eoi = 1;
    pic_remap(0x30, 0x38);
    pic_unmask(0);
    pit_oneshot();
    irq_wait(&n0, 4);
    uint32_t at30 = irq_count[0x30], at20 = irq_count[0x20];
    pic_remap(PIC1_BASE, PIC2_BASE);
    tap_ok(at30 == 1 && at20 == 3 && pic_get_imr() == 0xFFFF,
           "re-initialised with ICW2 = 0x30: IRQ0 arrives on vector 0x30");

    /* ---- cascade: RTC periodic interrupt on IRQ8 ---- */
    rtc_periodic(1);
    pic_unmask(8);                       /* also unmasks IRQ2 */
    irq_wait(&n8, 3);
    tap_ok(irq_count[IRQ_VECTOR(8)] == 3, "IRQ8 (RTC) arrives through the slave on vector 0x28");
    tap_ok((isr_in_irq8 & 0x0104) == 0x0104 && pic_read_isr() == 0,
           "in the IRQ8 handler master ISR bit 2 and slave ISR bit 0 are set; EOIs clear both");

    /* ---- cascade input masked on the master ---- */
    pic_mask(2);
    irq_enable();
    irr = wait_irr(2);
    irq_disable();
    uint16_t pend = pic_read_irr();
    uint32_t n8_masked = n8;
    pic_unmask(2);
    __asm__ volatile("sti; nop; nop; cli" ::: "memory");
    tap_ok(irr && (pend & 0x0104) == 0x0104 && n8_masked == 3 && n8 == 4,
           "IR2 masked: slave request shows in both IRRs but waits until IR2 is unmasked");

    /* ---- priority: IRQ0 before IRQ8 (via IR2) ---- */
    pic_set_imr(0xFFFF);
    nlog = 0;
    pit_oneshot();
    int both = wait_irr(0) && wait_irr(8);
    pic_unmask(0);
    pic_unmask(8);
    __asm__ volatile("sti; nop; nop; nop; nop; cli" ::: "memory");
    tap_ok(both && nlog == 2 && order[0] == 0 && order[1] == 8,
           "IRQ0 and IRQ8 both pending: IRQ0 (higher priority) is taken first");

    pic_set_imr(0xFFFF);
    rtc_periodic(0);
    tap_ok(pic_read_isr() == 0 && (cmos_read(0x0B) & 0x40) == 0, "PIE off, no level left in service");

    puts("# pic done\n");
    return tap_exit_code();
}
