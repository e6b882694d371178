/* vga: the VGA in text mode 3 as SeaBIOS leaves it. The miscellaneous
 * output register (0x3CC read, 0x3C2 write), the CRT controller through
 * 0x3D4/0x3D5 (all 25 registers with their mode-3 values, index read-back,
 * cursor shape with the disable bit, start address, cursor location, CR11
 * bit 7 write-protecting CR0-CR7 except CR7 bit 4, an index past 0x18
 * reading 0 as QEMU's),
 * a 16-bit OUT setting index and data at once, input status #1 (0x3DA)
 * toggling so that a wait-for-retrace loop ends, the mono ports 0x3B4/0x3B5
 * absent while colour is selected and taking over when the misc register
 * selects mono, and the screen at 0xB8000: written, read back, scrolled
 * one line with memmove.
 *
 * It ends with a known screen (a title, a colour row, rows scrolled, the
 * cursor on the last line) that `x86v run --screen-dump` must give as
 * testguests/expected/vga.screen. That file was recorded from QEMU 7.2 with
 * testguests/screen-qemu.sh: the guest prints "# screen ready" and then
 * waits three seconds of PIT ticks in hlt (no time at all under x86v, whose
 * virtual clock skips idle time) so the script can take the 4000 bytes at
 * 0xB8000 with the monitor's pmemsave before the guest exits.
 *
 * Left out: the cursor location at boot, which follows what the BIOS printed
 * (SeaBIOS's banner leaves it on row 8; x86v prints nothing and leaves it
 * home), and SeaBIOS's banner itself: the guest clears the screen first. */
#include "irq.h"

#define CRTC_INDEX 0x3D4
#define CRTC_DATA  0x3D5
#define MISC_READ  0x3CC
#define MISC_WRITE 0x3C2
#define STATUS1    0x3DA

static volatile uint16_t *const screen = (volatile uint16_t *)0xB8000;

static uint8_t crtc_read(uint8_t index)
{
    outb(CRTC_INDEX, index);
    return inb(CRTC_DATA);
}

static void crtc_write(uint8_t index, uint8_t v)
{
    outb(CRTC_INDEX, index);
    outb(CRTC_DATA, v);
}

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }

/* Mode 3's CRTC values; 0x0E/0x0F (cursor location) are not compared. */
static const uint8_t mode3[25] = {
    0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00,
    0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF,
};

static void put_text(int row, int col, const char *s, uint8_t attr)
{
    for (; *s; s++, col++)
        screen[row * 80 + col] = (uint16_t)((uint8_t)*s | attr << 8);
}

static void set_cursor(int row, int col)
{
    uint16_t pos = (uint16_t)(row * 80 + col);
    crtc_write(0x0E, (uint8_t)(pos >> 8));
    crtc_write(0x0F, (uint8_t)pos);
}

static volatile uint32_t ticks;
static void on_tick(struct rt_frame *f) { (void)f; ticks++; pic_eoi(0); }

int guest_main(void)
{
    puts("x86v-guest: vga\n");
    tap_plan(16);

    /* ---- registers as mode 3 leaves them ---- */
    uint8_t misc = inb(MISC_READ);
    tap_ok(misc == 0x67, "misc output reads 0x67: colour I/O at 0x3Dx, RAM on, 28 MHz clock");
    int same = 1;
    for (int i = 0; i < 25; i++) {
        uint8_t v = crtc_read((uint8_t)i);
        if (v != mode3[i] && i != 0x0E && i != 0x0F) {
            same = 0;
            puts("# CR"); putHex32((uint32_t)i); puts(" = "); putHex32(v); puts("\n");
        }
    }
    tap_ok(same, "CRTC registers 0x00-0x18 hold the mode-3 values (the cursor location aside)");
    outb(CRTC_INDEX, 0x0B);
    uint8_t index = inb(CRTC_INDEX);
    outb(CRTC_INDEX, 0x19);
    uint8_t past = inb(CRTC_DATA);
    tap_ok(index == 0x0B && past == 0x00, "the index register reads back; index 0x19 (no register) reads 0");

    /* ---- cursor, start address ---- */
    set_cursor(12, 34);
    uint16_t loc = (uint16_t)(crtc_read(0x0E) << 8 | crtc_read(0x0F));
    crtc_write(0x0A, 0x20 | 0x06);        /* cursor off, start line 6 */
    crtc_write(0x0B, 0x07);
    uint8_t cs_off = crtc_read(0x0A), ce = crtc_read(0x0B);
    crtc_write(0x0A, 0x0D);
    crtc_write(0x0B, 0x0E);
    crtc_write(0x0C, 0x01);
    crtc_write(0x0D, 0x40);
    uint16_t start = (uint16_t)(crtc_read(0x0C) << 8 | crtc_read(0x0D));
    crtc_write(0x0C, 0);
    crtc_write(0x0D, 0);
    tap_ok(loc == 12 * 80 + 34, "cursor location (0x0E/0x0F) reads back");
    tap_ok(cs_off == 0x26 && ce == 0x07, "cursor start with the disable bit (0x0A bit 5) and cursor end read back");
    tap_ok(start == 0x0140, "start address (0x0C/0x0D) reads back");

    /* ---- write protection ---- */
    crtc_write(0x01, 0x33);
    crtc_write(0x07, 0x00);               /* only bit 4 may change: 0x1F -> 0x0F */
    uint8_t cr1 = crtc_read(0x01), cr7 = crtc_read(0x07);
    crtc_write(0x11, 0x0E);               /* protection off */
    crtc_write(0x01, 0x33);
    uint8_t cr1_open = crtc_read(0x01);
    crtc_write(0x01, 0x4F);
    crtc_write(0x07, 0x1F);
    crtc_write(0x11, 0x8E);
    tap_ok(cr1 == 0x4F && cr7 == 0x0F, "CR11 bit 7 protects CR0-CR7, all but CR7 bit 4");
    tap_ok(cr1_open == 0x33 && crtc_read(0x01) == 0x4F && crtc_read(0x07) == 0x1F,
           "with CR11 bit 7 clear CR1 is writable");

    /* ---- 16-bit OUT: index in the low byte, data in the high byte ---- */
    outw(CRTC_INDEX, 0x050E);
    uint8_t hi = crtc_read(0x0E);
    crtc_write(0x0E, 0x02);
    tap_ok(hi == 0x05, "outw 0x3D4 writes the index and the data register");

    /* ---- input status #1 ---- */
    uint8_t s1 = inb(STATUS1), s2 = inb(STATUS1);
    int n = 0;
    while ((inb(STATUS1) & 0x08) && n < 100) n++;     /* wait for the end of retrace */
    while (!(inb(STATUS1) & 0x08) && n < 100) n++;    /* then for the next retrace */
    tap_ok(((s1 ^ s2) & 0x09) == 0x09, "input status #1: retrace and display-enable bits change between reads");
    tap_ok(n < 100, "a wait-for-vertical-retrace loop ends");

    /* ---- mono and colour port sets ---- */
    uint8_t b4 = inb(0x3B4), b5 = inb(0x3B5);
    outb(0x3B4, 0x0A);                   /* ignored: the colour CRTC keeps its index */
    outb(CRTC_INDEX, 0x0C);
    outb(0x3B4, 0x0F);
    uint8_t kept = inb(CRTC_INDEX);
    tap_ok(b4 == 0xFF && b5 == 0xFF && kept == 0x0C, "with colour selected 0x3B4/0x3B5 are absent (0xFF, writes ignored)");
    outb(MISC_WRITE, 0x66);              /* mono I/O addresses */
    outb(0x3B4, 0x0B);
    uint8_t mono_index = inb(0x3B4), mono_data = inb(0x3B5), d4 = inb(CRTC_INDEX), da = inb(STATUS1);
    uint8_t mono_misc = inb(MISC_READ);
    outb(MISC_WRITE, 0x67);
    tap_ok(mono_index == 0x0B && mono_data == 0x0E && d4 == 0xFF && da == 0xFF && mono_misc == 0x66,
           "misc bit 0 = 0 moves the CRTC to 0x3B4/0x3B5 and 0x3Dx reads 0xFF");

    /* ---- the screen ---- */
    for (int i = 0; i < 80 * 25; i++)
        screen[i] = 0x0720;
    for (int r = 0; r < 25; r++) {
        char line[32] = "row ";
        line[4] = (char)('0' + r / 10);
        line[5] = (char)('0' + r % 10);
        line[6] = 0;
        put_text(r, 0, line, 0x07);
    }
    int readback = screen[3 * 80 + 5] == (0x0700 | '3') && screen[24 * 80 + 4] == (0x0700 | '2');
    tap_ok(readback, "text written at 0xB8000 reads back (character | attribute << 8)");
    /* Scroll up one line as kernels do: move rows 1-24 up, blank the last. */
    memmove((void *)screen, (const void *)(screen + 80), 24 * 80 * 2);
    for (int c = 0; c < 80; c++)
        screen[24 * 80 + c] = 0x0720;
    tap_ok(screen[0] == (0x0700 | 'r') && screen[5] == (0x0700 | '1') && screen[23 * 80 + 5] == (0x0700 | '4')
           && screen[24 * 80] == 0x0720, "scrolling by memmove moves row 1 to row 0");

    /* The screen --screen-dump must show. */
    put_text(0, 0, "x86v vga test: text mode 3, 80x25", 0x1F);
    put_text(1, 0, "colours:", 0x07);
    for (int a = 0; a < 16; a++)
        screen[1 * 80 + 10 + a] = (uint16_t)(('A' + a) | (a << 8) | 0x7000);
    put_text(2, 0, "cp437: ", 0x07);
    screen[2 * 80 + 7] = 0x0701;          /* smiley */
    screen[2 * 80 + 8] = 0x07B1;          /* medium shade */
    screen[2 * 80 + 9] = 0x07C9;          /* double top-left corner */
    screen[2 * 80 + 10] = 0x0700;         /* NUL: blank */
    screen[2 * 80 + 11] = 0x07E1;         /* beta */
    put_text(24, 0, "$ ", 0x07);
    set_cursor(24, 2);
    tap_ok(crtc_read(0x0E) == 0x07 && crtc_read(0x0F) == 0x82, "cursor at row 24, column 2");

    /* Give a QEMU monitor three seconds to take the screen (nothing under x86v). */
    puts("# screen ready\n");
    irq_init();
    irq_set_handler(IRQ_VECTOR(0), on_tick);
    pit_set_hz(100);
    pic_unmask(0);
    irq_wait(&ticks, 300);
    pic_mask(0);
    return tap_exit_code();
}
