/* acpipm: the ACPI power-management registers of QEMU's pc (PIIX4 PM at
 * 0x600 as SeaBIOS places it; ACPI 6.4 §4.8), the APM ports 0xB2/0xB3 and
 * the PIIX3 reset control register 0xCF9.
 *
 * Tests: PM1_CNT as the firmware leaves it (SCI_EN clear) and SMI_CMD 0xF1 /
 * 0xF0 setting and clearing SCI_EN, PM1_CNT read-back with SLP_EN never
 * reading back (SLP_TYP 7: no sleep state), PM1_EN read-back, PM1_STS with
 * TMR_STS set at start and write-1-to-clear (a 0 clears nothing), the PM
 * timer (a 24-bit count: bits 31:24 read 0; it advances; writes are ignored;
 * its rate against the 8254: 10 ticks of a 100 Hz IRQ0 are 357,954 PM-timer
 * ticks, give or take 10%), TMR_EN raising the SCI (IRQ 9 through the 8259)
 * when bit 23 of the timer changes, TMR_STS set in the handler and cleared
 * by it, GPE0 (0xAFE0: no status, enable read/write), the APM status scratch
 * byte, 0xCF9 keeping bit 1.
 *
 * Only word accesses touch PM1 (QEMU 7.2 reads 0 for byte and dword reads
 * and takes a byte write to 0x605 as a write of the whole register, where
 * the ACPI specification allows byte access and x86v follows it), and only
 * dword reads the timer. SLP_TYP 1 and 2 are never written (QEMU suspends on
 * 1 and powers off on 2).
 *
 * With the command line "poweroff" the guest ends by entering S5 (PM1_CNT =
 * SLP_EN | SLP_TYP 0), with "reset" by writing 0x06 to 0xCF9: the CLI checks
 * (Tests/cli) want x86v's power-off and reset statuses then. */
#include "irq.h"

#define PM1_STS 0x600
#define PM1_EN  0x602
#define PM1_CNT 0x604
#define PM_TMR  0x608
#define GPE0_STS 0xAFE0
#define GPE0_EN  0xAFE2
#define SMI_CMD 0xB2
#define APM_STS 0xB3
#define RCR     0xCF9
#define TMR_STS 0x0001
#define TMR_EN  0x0001
#define SCI_EN  0x0001
#define SLP_EN  0x2000
#define PM_HZ   3579545u

static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }

static volatile uint32_t npit, pit_first, pit_last;
static volatile uint32_t nsci, sci_status, sci_timer, sci_status_after;

static void on_pit(struct rt_frame *f)
{
    (void)f;
    uint32_t t = inl(PM_TMR);
    if (npit == 0) pit_first = t;
    pit_last = t;
    npit++;
    pic_eoi(0);
}

static void on_sci(struct rt_frame *f)
{
    (void)f;
    nsci++;
    sci_status = inw(PM1_STS);
    sci_timer = inl(PM_TMR);
    outw(PM1_STS, TMR_STS);                /* the SCI drops with the status */
    sci_status_after = inw(PM1_STS);
    pic_eoi(9);
}

static int has_word(const char *cmdline, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = cmdline; *p; p++)
        if ((p == cmdline || p[-1] == ' ') && memcmp(p, word, n) == 0 && (p[n] == 0 || p[n] == ' '))
            return 1;
    return 0;
}

int guest_main(void)
{
    puts("x86v-guest: acpipm\n");
    tap_plan(17);
    irq_init();                            /* both 8259s masked */
    irq_set_handler(IRQ_VECTOR(0), on_pit);
    irq_set_handler(IRQ_VECTOR(9), on_sci);

    /* ---- PM1 control ---- */
    tap_ok(inw(PM1_CNT) == 0, "PM1_CNT as the firmware leaves it: 0 (SCI_EN clear: legacy mode)");
    outb(SMI_CMD, 0xF1);
    uint16_t on = inw(PM1_CNT);
    outb(SMI_CMD, 0xF0);
    uint16_t off = inw(PM1_CNT);
    tap_ok(on == SCI_EN && off == 0 && inb(SMI_CMD) == 0xF0,
           "SMI_CMD (0xB2): ACPI_ENABLE 0xF1 sets SCI_EN, ACPI_DISABLE 0xF0 clears it; 0xB2 reads back");
    outw(PM1_CNT, 0x1C00 | SCI_EN);
    uint16_t typ = inw(PM1_CNT);
    outw(PM1_CNT, SLP_EN | 0x1C00 | SCI_EN);
    uint16_t slp = inw(PM1_CNT);
    tap_ok(typ == (0x1C00 | SCI_EN) && slp == (0x1C00 | SCI_EN),
           "PM1_CNT: SLP_TYP and SCI_EN read back; SLP_EN (bit 13) does not; SLP_TYP 7 sleeps nowhere");
    outw(PM1_CNT, 0);

    /* ---- PM1 event block ---- */
    /* Not TMR_EN while TMR_STS is set: that would raise the SCI here. */
    outw(PM1_EN, 0x0120);
    uint16_t en = inw(PM1_EN);
    outw(PM1_EN, 0);
    tap_ok(en == 0x0120 && inw(PM1_EN) == 0, "PM1_EN reads back (0x0120, then 0)");
    uint16_t sts = inw(PM1_STS);
    tap_ok(sts == TMR_STS, "PM1_STS: TMR_STS set (timer bit 23 changed since power-on), nothing else");
    outw(PM1_STS, 0xFFFE);
    uint16_t kept = inw(PM1_STS);
    outw(PM1_STS, TMR_STS);
    uint16_t cleared = inw(PM1_STS);
    tap_ok(kept == TMR_STS && cleared == 0, "PM1_STS is write-1-to-clear: other bits leave TMR_STS, bit 0 clears it");

    /* ---- the PM timer ---- */
    uint32_t t0 = inl(PM_TMR);
    int top_zero = 1, forward = 1;
    uint32_t prev = t0;
    for (int i = 0; i < 1000; i++) {
        uint32_t t = inl(PM_TMR);
        if (t >> 24) top_zero = 0;
        if (((t - prev) & 0xFFFFFF) > 0x100000) forward = 0;
        prev = t;
    }
    tap_ok(top_zero, "PM_TMR: a 24-bit count (bits 31:24 read 0)");
    tap_ok(forward && ((prev - t0) & 0xFFFFFF) != 0, "PM_TMR counts up");
    uint32_t before = inl(PM_TMR);
    outl(PM_TMR, 0);
    uint32_t after = inl(PM_TMR);
    tap_ok(((after - before) & 0xFFFFFF) < 0x100000, "PM_TMR ignores writes");

    pit_set_hz(100);
    pic_unmask(0);
    irq_wait(&npit, 11);
    pic_mask(0);
    uint32_t ticks = (pit_last - pit_first) & 0xFFFFFF;
    tap_ok(ticks > PM_HZ / 10 * 9 / 10 && ticks < PM_HZ / 10 * 11 / 10,
           "PM_TMR runs at 3.579545 MHz: 10 IRQ0 periods at 100 Hz = 357,954 ticks (within 10%)");

    /* ---- TMR_EN: the SCI on IRQ 9 ---- */
    outw(PM1_STS, TMR_STS);
    uint32_t armed = inl(PM_TMR);
    pic_unmask(9);
    outw(PM1_EN, TMR_EN);
    irq_wait(&nsci, 1);
    outw(PM1_EN, 0);
    pic_mask(9);
    tap_ok(nsci == 1 && (sci_status & TMR_STS), "TMR_EN: the SCI (IRQ 9) comes with TMR_STS set");
    tap_ok(((sci_timer ^ armed) & 0x800000) && (sci_timer & 0x7FFFFF) < 0x100000,
           "... when bit 23 of the timer changed (just after)");
    tap_ok(sci_status_after == 0, "... and writing TMR_STS back clears it");

    /* ---- GPE0, APM status, reset control ---- */
    outw(GPE0_EN, 0x000E);
    outw(GPE0_STS, 0xFFFF);
    tap_ok(inw(GPE0_STS) == 0 && inw(GPE0_EN) == 0x000E, "GPE0 (0xAFE0): no status; GPE0_EN reads back");
    outw(GPE0_EN, 0);
    outb(APM_STS, 0x5A);
    tap_ok(inb(APM_STS) == 0x5A, "APM status (0xB3): a scratch byte");
    outb(RCR, 0x02);
    uint8_t r2 = inb(RCR);
    outb(RCR, 0x0B & ~0x04);
    uint8_t r3 = inb(RCR);
    outb(RCR, 0x00);
    tap_ok(r2 == 0x02 && r3 == 0x02, "0xCF9: bit 1 (reset type) kept, other bits read 0");
    tap_ok(inb(RCR) == 0, "0xCF9 reads 0 after 0");

    const uint8_t *mbi = (const uint8_t *)rt_multiboot_info;
    const char *cmdline = (*(const uint32_t *)mbi & 4) ? (const char *)*(const uint32_t *)(mbi + 16) : "";
    if (has_word(cmdline, "poweroff")) {
        puts("# entering S5\n");
        outw(PM1_CNT, SLP_EN | (0 << 10));
        for (;;) __asm__ volatile("hlt");
    }
    if (has_word(cmdline, "reset")) {
        puts("# resetting through 0xCF9\n");
        outb(RCR, 0x06);
        for (;;) __asm__ volatile("hlt");
    }
    return tap_exit_code();
}
