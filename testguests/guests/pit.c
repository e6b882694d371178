/* pit: the 8254 programmable interval timer (Intel 8254 datasheet; PC wiring:
 * channel 0 -> IRQ0, channel 2 gated by port 0x61 bit 0 with its OUT on port
 * 0x61 bit 5, refresh-clock toggle on port 0x61 bit 4).
 *
 * Tests: mode 2 rate generator (exactly N interrupts, each waited for in
 * hlt), mode 0 one-shot (one interrupt, OUT low before and high after the
 * terminal count as seen by read-back status, no second interrupt while
 * channel 2 times a further ~10 ms), the counter-latch command (latched
 * reads decrease), the read-back command (status byte, then the latched
 * count), the port 0x61 refresh bit toggling, and the calibration loop shape
 * (channel 2 in mode 0 with the gate on: OUT on 0x61 bit 5 goes high).
 *
 * Nothing here measures time: every check holds on any correct PC whatever
 * the speed of the CPU. Left out:
 *  - the null-count bit (status bit 6): QEMU always reports 0 (it loads the
 *    count into the counting element at once);
 *  - gate low stopping channel 2 in mode 0: QEMU ignores the gate in modes
 *    0 and 4 ("XXX: just disable/enable counting" in hw/timer/i8254.c), so
 *    the count keeps falling there. */
#include "irq.h"

static volatile uint32_t ticks;

static void on_irq0(struct rt_frame *f)
{
    (void)f;
    ticks++;
    pic_eoi(0);
}

/* Channel 2 in mode 0 with the gate on and the speaker off; returns how many
 * polls of port 0x61 it took for OUT (bit 5) to go high, or 0 if it never did
 * within `limit` polls. Polling with IF=1 lets IRQ0 in meanwhile. */
static uint32_t ch2_oneshot(uint16_t count, uint32_t limit, int *low_at_start)
{
    outb(0x61, (uint8_t)((inb(0x61) & ~0x02u) | 0x01u));
    pit_program(2, 0, count);
    *low_at_start = !(inb(0x61) & 0x20);
    for (uint32_t i = 1; i <= limit; i++)
        if (inb(0x61) & 0x20)
            return i;
    return 0;
}

int guest_main(void)
{
    puts("x86v-guest: pit\n");
    tap_plan(12);
    irq_init();
    irq_set_handler(IRQ_VECTOR(0), on_irq0);

    /* ---- mode 2: rate generator ---- */
    pit_program(0, 2, 1193);                  /* ~1 kHz */
    uint8_t st = pit_read_status(0);
    tap_ok((st & 0x3F) == 0x34, "read-back status: lobyte/hibyte, mode 2, binary");
    uint16_t c = pit_latch_count(0);
    tap_ok(c >= 1 && c <= 1193, "mode 2: latched count lies in [1, reload]");

    pic_unmask(0);
    irq_wait(&ticks, 10);                    /* returns with IF=0 */
    uint32_t got = ticks;
    pic_mask(0);
    tap_ok(got == 10, "mode 2: 10 periodic interrupts, one per sti; hlt");

    /* ---- counter latch: two latched reads decrease ---- */
    int decreasing = 0;
    for (int attempt = 0; attempt < 3 && !decreasing; attempt++) {
        pit_program(0, 0, 0xFFFF);           /* mode 0: no reload to confuse us */
        uint16_t a = pit_latch_count(0);
        for (volatile int i = 0; i < 2000; i++)
            ;
        uint16_t b = pit_latch_count(0);
        /* OUT still low: the count did not wrap between the reads. */
        decreasing = b < a && !(pit_read_status(0) & 0x80);
    }
    tap_ok(decreasing, "counter latch: a later latched count is smaller");

    /* ---- read-back: status then count, both latched by one command ---- */
    pit_program(0, 2, 0x8000);
    outb(PIT_CMD, 0xC2);                      /* read-back: count + status, ch0 */
    uint8_t rb_status = inb(PIT_CH0);
    uint8_t lo = inb(PIT_CH0), hi = inb(PIT_CH0);
    uint16_t rb_count = (uint16_t)(hi << 8 | lo);
    tap_ok((rb_status & 0x3F) == 0x34 && rb_count >= 1 && rb_count <= 0x8000,
           "read-back of count and status: status byte first, then the count");

    /* ---- mode 0: interrupt on terminal count ---- */
    /* A rate-generator edge may have reached IRR after IRQ0 was masked: with
     * the counter quiet (mode 0, long count), let it through first. */
    pit_program(0, 0, 0xFFFF);
    if (pic_read_irr() & 1) {
        uint32_t t = ticks;
        pic_unmask(0);
        irq_enable();
        for (uint32_t i = 0; i < 100000u && ticks == t; i++)
            __asm__ volatile("pause" ::: "memory");
        irq_disable();
        pic_mask(0);
    }
    ticks = 0;
    pit_program(0, 0, 11932);                 /* ~10 ms */
    st = pit_read_status(0);
    tap_ok((st & 0xBF) == 0x30, "mode 0: status says mode 0 and OUT low after the count is written");
    pic_unmask(0);
    irq_wait(&ticks, 1);
    st = pit_read_status(0);
    tap_ok(ticks == 1 && (st & 0x80), "mode 0: one interrupt, then OUT high");

    /* Wait about 10 ms more on channel 2, with IRQ0 still unmasked. */
    int low;
    irq_enable();
    uint32_t polls = ch2_oneshot(11932, 5000000u, &low);
    irq_disable();
    pic_mask(0);
    tap_ok(polls != 0 && ticks == 1 && (pit_read_status(0) & 0x80),
           "mode 0: no second interrupt; OUT stays high after the terminal count");

    /* ---- port 0x61 ---- */
    uint8_t r0 = inb(0x61) & 0x10;
    uint32_t toggles = 0, prev = r0;
    for (uint32_t i = 0; i < 1000000u && toggles < 2; i++) {
        uint32_t r = inb(0x61) & 0x10u;
        toggles += r != prev;
        prev = r;
    }
    tap_ok(toggles == 2, "port 0x61 bit 4 (refresh clock) toggles");

    polls = ch2_oneshot(1193, 5000000u, &low);
    tap_ok(low, "channel 2, mode 0, gate on: OUT (0x61 bit 5) low after the count is written");
    tap_ok(polls != 0, "channel 2 OUT goes high at the terminal count (calibration loop)");
    st = pit_read_status(2);
    tap_ok((st & 0xBF) == 0xB0, "read-back status of channel 2: OUT high, mode 0");

    outb(0x61, inb(0x61) & ~0x03u);           /* gate off again */
    puts("# pit done\n");
    return tap_exit_code();
}
