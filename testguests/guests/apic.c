/* apic: the local APIC (xAPIC MMIO at 0xFEE00000, SDM Vol. 3A ch. 11) and
 * the I/O APIC (0xFEC00000, 82093AA datasheet), with both 8259s masked.
 *
 * Local APIC: ID and version, SVR software enable, self-IPIs through the ICR
 * (fixed, edge), ISR/IRR in a handler and after EOI, TPR holding back a
 * lower class until it is lowered, nesting (a higher vector interrupts a
 * handler; EOI retires the highest in-service vector first; a lower vector
 * waits for EOI), the LVT timer one-shot (one interrupt, current count 0
 * after) and periodic (N interrupts) with the divide configuration, and a
 * masked LVT timer that counts down without interrupting.
 * I/O APIC: version and 24 redirection entries, an entry read back, the PIT
 * (pin 2) routed edge-triggered, the RTC (pin 8) routed level-triggered
 * (Remote IRR and the TMR bit set in the handler, Remote IRR clear after
 * EOI), and a masked pin delivering nothing while its source keeps firing.
 *
 * Nothing measures time: timer checks count interrupts; "time has passed"
 * is established by watching the PIT counter wrap.
 *
 * Left out:
 *  - spurious-vector delivery (needs an interrupt withdrawn by a TPR raise
 *    between INTR and INTA: a race, not deterministic on any machine);
 *  - whether an edge that arrived while a pin was masked is delivered on
 *    unmasking: the 82093AA ignores it, QEMU keeps it in its IRR and
 *    delivers it. Only later edges are checked. */
#include "irq.h"

#define V_LOW    0x40
#define V_MID    0x60
#define V_HIGH   0x80
#define V_TIMER  0x50
#define V_PIT    0x61
#define V_RTC    0x62
#define V_SPUR   0xFF

static volatile uint32_t nlow, nmid, nhigh, ntimer, npit, nrtc;
static volatile int phase;
static volatile char trail[16];
static volatile uint32_t ntrail;
static volatile int rec_isr_low, rec_irr_low, rec_isr_high, rec_isr_after;
static volatile int rec_both, rec_high_gone, rec_low_waiting, rec_low_after;
static volatile uint32_t rec_redir, rec_redir2;
static volatile int rec_tmr;

static void mark(char c)
{
    if (ntrail < sizeof trail - 1)
        trail[ntrail++] = c;
}

static void on_low(struct rt_frame *f)
{
    (void)f;
    nlow++;
    mark('L');
    if (phase == 0) {
        rec_isr_low = lapic_bit(LAPIC_ISR, V_LOW);
        rec_irr_low = lapic_bit(LAPIC_IRR, V_LOW);
    } else if (phase == 2) {               /* let a higher vector in */
        irq_enable();
        lapic_self_ipi(V_HIGH);
        for (uint32_t i = 0, h = nhigh; i < 100000u && nhigh == h; i++)
            __asm__ volatile("pause" ::: "memory");
        irq_disable();
        rec_low_after = lapic_bit(LAPIC_ISR, V_LOW) && !lapic_bit(LAPIC_ISR, V_HIGH);
    }
    lapic_eoi();
    if (phase == 0)
        rec_isr_after = lapic_bit(LAPIC_ISR, V_LOW);
    mark('l');
}

static void on_mid(struct rt_frame *f)
{
    (void)f;
    nmid++;
    lapic_eoi();
}

static void on_high(struct rt_frame *f)
{
    (void)f;
    nhigh++;
    mark('H');
    if (phase == 2) {
        rec_both = lapic_bit(LAPIC_ISR, V_LOW) && lapic_bit(LAPIC_ISR, V_HIGH);
        lapic_eoi();                       /* retires V_HIGH, the highest */
        rec_high_gone = !lapic_bit(LAPIC_ISR, V_HIGH) && lapic_bit(LAPIC_ISR, V_LOW);
    } else if (phase == 3) {               /* a lower vector must wait */
        uint32_t l = nlow;
        irq_enable();
        lapic_self_ipi(V_LOW);
        for (volatile int i = 0; i < 100; i++)
            ;
        irq_disable();
        rec_low_waiting = nlow == l && lapic_bit(LAPIC_IRR, V_LOW);
        lapic_eoi();
    } else {
        lapic_eoi();
    }
    mark('h');
}

static void on_timer(struct rt_frame *f)
{
    (void)f;
    ntimer++;
    lapic_eoi();
}

static void on_pit(struct rt_frame *f)
{
    (void)f;
    npit++;
    lapic_eoi();
}

static void on_rtc(struct rt_frame *f)
{
    (void)f;
    nrtc++;
    rec_redir = ioapic_read(IOAPIC_REDIR(8));
    rec_tmr = lapic_bit(LAPIC_TMR, V_RTC);
    cmos_write(0x0B, 0x02);                /* PIE off: this is the only one */
    cmos_read(0x0C);                       /* the RTC drops its line */
    rec_redir2 = ioapic_read(IOAPIC_REDIR(8));
    lapic_eoi();                           /* EOI broadcast clears Remote IRR */
}

/* With IF=1, gives a pending interrupt a chance to arrive (bounded): a
 * write to the APIC need not be acted on by the very next instruction. */
static void settle(volatile uint32_t *counter, uint32_t target)
{
    irq_enable();
    for (uint32_t i = 0; i < 100000u && *counter < target; i++)
        __asm__ volatile("pause" ::: "memory");
    irq_disable();
}

/* Returns after the PIT channel 0 counter (mode 2) has wrapped `n` times. */
static int pit_wraps(int n)
{
    uint16_t prev = pit_latch_count(0);
    for (uint32_t i = 0; i < 2000000u && n > 0; i++) {
        uint16_t c = pit_latch_count(0);
        if (c > prev)
            n--;
        prev = c;
    }
    return n == 0;
}

int guest_main(void)
{
    puts("x86v-guest: apic\n");
    tap_plan(21);
    irq_init();                            /* both 8259s masked */
    irq_set_handler(V_LOW, on_low);
    irq_set_handler(V_MID, on_mid);
    irq_set_handler(V_HIGH, on_high);
    irq_set_handler(V_TIMER, on_timer);
    irq_set_handler(V_PIT, on_pit);
    irq_set_handler(V_RTC, on_rtc);

    for (int pin = 0; pin < 24; pin++)
        ioapic_route(pin, IOREDIR_MASKED);

    /* ---- identity ---- */
    uint32_t id = lapic_read(LAPIC_ID), ver = lapic_read(LAPIC_VERSION);
    tap_ok((id >> 24) == 0, "local APIC ID 0 (the boot processor)");
    tap_ok((ver & 0xFF) >= 0x10 && (ver & 0xFF) <= 0x15 && ((ver >> 16) & 0xFF) >= 3,
           "version 0x10-0x15 (integrated APIC), at least 4 LVT entries");
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_SVR, 0x100 | V_SPUR);
    tap_ok((lapic_read(LAPIC_SVR) & 0x1FF) == 0x1FF, "SVR: software enable + spurious vector 0xff read back");

    /* ---- self-IPI, ISR/IRR ---- */
    lapic_self_ipi(V_LOW);
    settle(&nlow, 1);
    tap_ok(nlow == 1 && (lapic_read(LAPIC_ICR_LO) & ICR_PENDING) == 0,
           "self-IPI through the ICR delivered once; delivery status idle");
    tap_ok(rec_isr_low && !rec_irr_low && !rec_isr_after,
           "in the handler ISR bit set and IRR bit clear; ISR clear after EOI");

    /* ---- TPR ---- */
    phase = 1;
    lapic_write(LAPIC_TPR, 0x50);
    irq_enable();
    lapic_self_ipi(V_LOW);                 /* class 4 <= 5: held */
    for (volatile int i = 0; i < 1000; i++)
        ;
    int held = nlow == 1 && lapic_bit(LAPIC_IRR, V_LOW);
    lapic_self_ipi(V_MID);                 /* class 6 > 5: taken */
    settle(&nmid, 1);
    irq_enable();
    int mid_in = nmid == 1 && nlow == 1;
    irq_disable();
    lapic_write(LAPIC_TPR, 0);
    settle(&nlow, 2);
    tap_ok(held, "TPR 0x50 holds vector 0x40 in IRR, IF=1");
    tap_ok(mid_in, "vector 0x60 (above the TPR class) is taken meanwhile");
    tap_ok(nlow == 2 && !lapic_bit(LAPIC_IRR, V_LOW), "lowering TPR to 0 delivers the held vector");

    /* ---- nesting and EOI order ---- */
    phase = 2;
    ntrail = 0;
    lapic_self_ipi(V_LOW);
    settle(&nlow, 3);
    trail[ntrail] = 0;
    tap_ok(memcmp((const char *)trail, "LHhl", 5) == 0 && rec_both,
           "vector 0x80 nests inside the 0x40 handler; both in ISR there");
    tap_ok(rec_high_gone && rec_low_after, "EOI retires the highest in-service vector (0x80) first");

    phase = 3;
    ntrail = 0;
    lapic_self_ipi(V_HIGH);
    settle(&nlow, 4);
    trail[ntrail] = 0;
    tap_ok(rec_low_waiting && memcmp((const char *)trail, "HhLl", 5) == 0,
           "vector 0x40 raised in the 0x80 handler waits in IRR until after that EOI");
    phase = 4;

    /* ---- LVT timer ---- */
    lapic_write(LAPIC_TIMER_DIV, 0x0B);    /* divide by 1 */
    uint32_t div = lapic_read(LAPIC_TIMER_DIV) & 0x0B;
    lapic_write(LAPIC_LVT_TIMER, V_TIMER); /* one-shot */
    lapic_write(LAPIC_TIMER_INIT, 200000);
    irq_wait(&ntimer, 1);
    uint32_t cur = lapic_read(LAPIC_TIMER_CUR);
    tap_ok(div == 0x0B && ntimer == 1 && cur == 0, "one-shot timer (divide by 1): one interrupt, current count 0 after");

    pit_program(0, 2, 1193);               /* reference clock for "time passed" */
    irq_enable();
    int passed = pit_wraps(3);
    irq_disable();
    tap_ok(passed && ntimer == 1 && lapic_read(LAPIC_TIMER_CUR) == 0, "one-shot: no second interrupt");

    lapic_write(LAPIC_TIMER_DIV, 0x00);    /* divide by 2 */
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | V_TIMER);
    lapic_write(LAPIC_TIMER_INIT, 100000);
    irq_wait(&ntimer, 6);
    uint32_t periodic = ntimer;
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | V_TIMER);
    lapic_write(LAPIC_TIMER_INIT, 0);
    settle(&ntimer, ntimer + 1);           /* one may have been pending already */
    tap_ok(periodic == 6 && (lapic_read(LAPIC_TIMER_DIV) & 0x0B) == 0,
           "periodic timer (divide by 2): 5 more interrupts, one per sti; hlt");

    lapic_write(LAPIC_TIMER_DIV, 0x0B);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | V_TIMER);
    lapic_write(LAPIC_TIMER_INIT, 0x7FFFFFFF);
    uint32_t base = ntimer;
    uint32_t c1 = lapic_read(LAPIC_TIMER_CUR);
    irq_enable();
    pit_wraps(1);
    irq_disable();
    uint32_t c2 = lapic_read(LAPIC_TIMER_CUR);
    lapic_write(LAPIC_TIMER_INIT, 0);
    tap_ok(c1 <= 0x7FFFFFFF && c2 < c1 && ntimer == base, "masked LVT timer: count decreases, no interrupt");

    /* ---- I/O APIC ---- */
    uint32_t iover = ioapic_read(IOAPIC_VER);
    tap_ok((iover & 0xFF) >= 0x11 && (iover & 0xFF) <= 0x20 && ((iover >> 16) & 0xFF) == 23,
           "I/O APIC version 0x11-0x20 with 24 redirection entries");
    ioapic_write(IOAPIC_REDIR(10), IOREDIR_MASKED | IOREDIR_LEVEL | IOREDIR_LOW_ACTIVE | 0x99);
    ioapic_write(IOAPIC_REDIR(10) + 1, 0x01000000u);
    uint32_t e_lo = ioapic_read(IOAPIC_REDIR(10)), e_hi = ioapic_read(IOAPIC_REDIR(10) + 1);
    ioapic_write(IOAPIC_REDIR(10), IOREDIR_MASKED);
    ioapic_write(IOAPIC_REDIR(10) + 1, 0);
    tap_ok(e_lo == (IOREDIR_MASKED | IOREDIR_LEVEL | IOREDIR_LOW_ACTIVE | 0x99) && e_hi == 0x01000000u,
           "a redirection entry reads back (vector, polarity, trigger, mask, destination)");

    ioapic_route(2, V_PIT);                /* PIT: edge, active high, fixed, APIC 0 */
    irq_wait(&npit, 5);
    tap_ok(npit == 5 && pic_get_imr() == 0xFFFF, "PIT through I/O APIC pin 2 (8259s masked): 5 interrupts");

    ioapic_route(2, IOREDIR_MASKED | V_PIT);
    uint32_t before = npit;
    irq_enable();
    passed = pit_wraps(3);
    irq_disable();
    uint32_t while_masked = npit - before;
    ioapic_route(2, V_PIT);
    irq_wait(&npit, npit + 2);
    ioapic_route(2, IOREDIR_MASKED | V_PIT);
    tap_ok(passed && while_masked == 0, "masked pin 2: no interrupts while the PIT keeps counting; unmasked, they resume");

    /* ---- level-triggered: RTC periodic on pin 8 ---- */
    cmos_write(0x0A, 0x26);
    cmos_read(0x0C);
    ioapic_route(8, IOREDIR_LEVEL | V_RTC);
    cmos_write(0x0B, 0x42);                /* PIE */
    irq_wait(&nrtc, 1);
    cmos_write(0x0B, 0x02);
    cmos_read(0x0C);
    ioapic_route(8, IOREDIR_MASKED | V_RTC);
    tap_ok(nrtc == 1 && (rec_redir & IOREDIR_REMOTE_IRR) && (rec_redir2 & IOREDIR_REMOTE_IRR) && rec_tmr,
           "level-triggered pin 8: Remote IRR and TMR set in the handler, until EOI");
    tap_ok((ioapic_read(IOAPIC_REDIR(8)) & IOREDIR_REMOTE_IRR) == 0 && !lapic_bit(LAPIC_ISR, V_RTC),
           "after EOI Remote IRR and ISR are clear");

    puts("# apic done\n");
    return tap_exit_code();
}
