/* rtc: the MC146818-style real-time clock and CMOS RAM behind ports
 * 0x70/0x71, with its interrupt on IRQ8 (slave 8259, IR0).
 *
 * Tests: register A/B/D values as the BIOS leaves them, the boot date (the
 * machine is started at 2000-01-01 00:00:00: QEMU with -rtc base=2000-01-01,
 * x86v by default), the clock reprogrammed in binary mode and back in BCD
 * (register B bit 2), register C cleared by reading it, the periodic
 * interrupt (PIE) counted in hlt, reads with the NMI-disable bit (port 0x70
 * bit 7) set, and the BIOS memory-size bytes 0x15-0x18, 0x30-0x31, 0x34-0x35
 * against the multiboot mem_lower/mem_upper. Those come from the E820 map,
 * which leaves out what the BIOS keeps (QEMU: the 1 KiB EBDA below 640 KiB,
 * 128 KiB of ACPI tables at the top of RAM), so CMOS may say a little more:
 * 640 KiB base, and with -m 64 mem_upper 64384 against 64512 in CMOS.
 *
 * Binary/BCD: the datasheet does not convert the stored time when DM
 * changes (QEMU does, at once), so the test sets SET (B bit 7), changes DM
 * and writes every time/date field in the new format, which is right on
 * both. The day of week (register 6) is not kept by the chip, only
 * incremented; QEMU derives it from the base date (Saturday = 7) and x86v is
 * expected to do the same. Seconds are only required to be below 10. */
#include "irq.h"

static volatile uint32_t n8;
static volatile uint8_t c_first, c_second;

static void on_irq8(struct rt_frame *f)
{
    (void)f;
    uint8_t c = cmos_read(0x0C);
    if (n8 == 0) {
        c_first = c;
        c_second = cmos_read(0x0C);
    }
    n8++;
    pic_eoi(8);
}

struct rtc_time { uint8_t sec, min, hour, wday, day, month, year, century; };

static void read_raw(struct rtc_time *t)
{
    t->sec = cmos_read(0x00);
    t->min = cmos_read(0x02);
    t->hour = cmos_read(0x04);
    t->wday = cmos_read(0x06);
    t->day = cmos_read(0x07);
    t->month = cmos_read(0x08);
    t->year = cmos_read(0x09);
    t->century = cmos_read(0x32);
}

/* The usual OS routine: wait for no update in progress, read until two
 * consecutive reads agree. */
static void read_time(struct rtc_time *t)
{
    struct rtc_time u;
    for (int tries = 0; tries < 10; tries++) {
        for (uint32_t i = 0; i < 1000000u && (cmos_read(0x0A) & 0x80); i++)
            ;
        read_raw(t);
        read_raw(&u);
        if (memcmp(t, &u, sizeof u) == 0)
            return;
    }
}

static void write_time(const struct rtc_time *t)
{
    cmos_write(0x00, t->sec);
    cmos_write(0x02, t->min);
    cmos_write(0x04, t->hour);
    cmos_write(0x06, t->wday);
    cmos_write(0x07, t->day);
    cmos_write(0x08, t->month);
    cmos_write(0x09, t->year);
    cmos_write(0x32, t->century);
}

static uint16_t cmos16(uint8_t lo)
{
    return (uint16_t)(cmos_read((uint8_t)(lo + 1)) << 8 | cmos_read(lo));
}

int guest_main(void)
{
    puts("x86v-guest: rtc\n");
    tap_plan(13);
    irq_init();
    irq_set_handler(IRQ_VECTOR(8), on_irq8);

    uint8_t a = cmos_read(0x0A), b = cmos_read(0x0B), d = cmos_read(0x0D);
    tap_ok((a & 0x7F) == 0x26, "register A: 32.768 kHz divider, 1024 Hz rate (0x26)");
    tap_ok(b == 0x02, "register B: 24-hour, BCD, no interrupts enabled (0x02)");
    tap_ok(d == 0x80, "register D: valid RAM and time (0x80)");

    struct rtc_time t;
    read_time(&t);
    tap_ok(t.century == 0x20 && t.year == 0x00 && t.month == 0x01 && t.day == 0x01,
           "date reads 2000-01-01 in BCD");
    tap_ok(t.hour == 0 && t.min == 0 && t.sec < 0x10 && (t.sec & 0x0F) <= 9,
           "time reads 00:00:0x (valid BCD seconds below 10)");
    tap_ok(t.wday == 7, "day of week 7 (Saturday)");

    /* ---- binary mode ---- */
    cmos_write(0x0B, 0x86);                       /* SET, binary, 24 h */
    struct rtc_time bin = { 0, 45, 13, 7, 1, 1, 0, 20 };
    write_time(&bin);
    cmos_write(0x0B, 0x06);                       /* run */
    struct rtc_time tb;
    read_time(&tb);
    tap_ok(tb.hour == 13 && tb.min == 45 && tb.sec < 10 && tb.day == 1 && tb.month == 1 &&
           tb.year == 0 && tb.century == 20,
           "binary mode (B bit 2): 13:45 and the date read back as binary numbers");

    cmos_write(0x0B, 0x82);                       /* SET, BCD */
    struct rtc_time bcd = { 0x00, 0x45, 0x13, 0x07, 0x01, 0x01, 0x00, 0x20 };
    write_time(&bcd);
    cmos_write(0x0B, 0x02);
    read_time(&tb);
    tap_ok(tb.hour == 0x13 && tb.min == 0x45 && tb.sec < 0x10 && tb.day == 1 && tb.month == 1 &&
           tb.year == 0 && tb.century == 0x20 && cmos_read(0x0B) == 0x02,
           "back in BCD mode: 13:45 reads as 0x13:0x45");

    /* ---- NMI-disable bit in port 0x70 ---- */
    outb(0x70, 0x80 | 0x0D);
    uint8_t dn = inb(0x71);
    outb(0x70, 0x80 | 0x0A);
    uint8_t an = inb(0x71);
    outb(0x70, 0x80 | 0x08);
    uint8_t mn = inb(0x71);
    outb(0x70, 0x0D);                             /* NMI enabled again */
    inb(0x71);
    tap_ok(dn == 0x80 && (an & 0x7F) == 0x26 && mn == 0x01,
           "port 0x70 bit 7 (NMI disable) does not change which register is read");

    /* ---- periodic interrupt, register C ---- */
    cmos_write(0x0A, 0x29);                       /* 128 Hz */
    cmos_read(0x0C);
    cmos_write(0x0B, 0x42);                       /* PIE */
    pic_unmask(8);
    irq_wait(&n8, 4);
    pic_mask(8);
    cmos_write(0x0B, 0x02);
    cmos_write(0x0A, 0x26);
    cmos_read(0x0C);
    tap_ok(n8 == 4, "PIE: 4 periodic interrupts on IRQ8, one per sti; hlt");
    tap_ok((c_first & 0xC0) == 0xC0 && (c_second & 0xC0) == 0,
           "register C: IRQF|PF set in the handler, clear on the next read");

    /* ---- memory size bytes ---- */
    const uint32_t *mbi = (const uint32_t *)rt_multiboot_info;
    uint32_t lower = mbi && (mbi[0] & 1) ? mbi[1] : 0;
    uint32_t upper = mbi && (mbi[0] & 1) ? mbi[2] : 0;
    uint16_t base = cmos16(0x15), ext = cmos16(0x17);
    tap_ok(base == 640 && lower != 0 && lower <= base && lower + 64 > base,
           "CMOS 0x15-0x16: 640 KiB base memory; multiboot mem_lower at most that (EBDA)");
    uint32_t above16 = ext + 1024u > 16384u ? (ext + 1024u - 16384u) / 64u : 0;
    tap_ok(upper != 0 && ext >= upper && ext - upper < 1024 && cmos16(0x30) == ext &&
           cmos16(0x34) == above16,
           "CMOS 0x17-0x18 = 0x30-0x31 (KiB above 1 MiB) >= mem_upper, within 1 MiB; 0x34-0x35 agrees");

    puts("# rtc done\n");
    return tap_exit_code();
}
