/* kbd: the 8042 keyboard controller and its PS/2 keyboard as SeaBIOS leaves
 * them. Controller: status at rest, command byte read/write (0x20/0x60) and
 * its disable bits (0xAD/0xAE, 0xA7/0xA8), self-test 0xAA, keyboard and aux
 * interface tests 0xAB/0xA9, input and output ports (0xC0, 0xD0/0xD1),
 * 0xD2 (a byte as if from the keyboard: with IRQ1, without it when the
 * command byte's interrupt bit is clear, never translated) and 0xD3 (as if
 * from the aux port: status bit 5). Keyboard: echo, identify (its ID byte
 * translated to 0x41 or raw 0x83 with translation off), scan-code set
 * get/set, LEDs, typematic rate, disable/enable, reset (FA AA), an unknown
 * command (FE), a new command discarding an unread reply, and one IRQ1 per
 * byte of a reply.
 *
 * Then keys typed from outside: x86v's `--keys-in build/kbd.keys`
 * (expected/kbd.spec), and for QEMU the monitor's sendkey with the same
 * keys (testguests/kbd-qemu.sh, which waits for "# ready for keys"): a A 1
 * ! Enter Backspace Tab Ctrl-C Up Delete F1 F12, 34 bytes in scan code set 1
 * (set 2 through the controller's translation), read on IRQ1 and printed.
 *
 * Status bit 3 (A2: the last write went to 0x64) is masked: the datasheet
 * and x86v update it on every write, QEMU leaves it set. */
#include "irq.h"

#define DATA 0x60
#define CMD  0x64

static uint8_t status(void) { return (uint8_t)(inb(CMD) & ~0x08); }

/* Waits (bounded) for the output buffer and reads it; 0xEE00 | status if nothing came. */
static uint32_t read_byte(void)
{
    for (uint32_t i = 0; i < 100000u; i++)
        if (inb(CMD) & 0x01)
            return inb(DATA);
    return 0xEE00u | status();
}

static uint32_t controller(uint8_t cmd)
{
    outb(CMD, cmd);
    return read_byte();
}

static void write_command_byte(uint8_t v)
{
    outb(CMD, 0x60);
    outb(DATA, v);
}

static volatile uint32_t n1, n12;
static volatile uint8_t got[64];

static void on_irq1(struct rt_frame *f)
{
    (void)f;
    uint8_t b = inb(DATA);
    if (n1 < sizeof got)
        got[n1] = b;
    n1++;
    pic_eoi(1);
}

static void on_irq12(struct rt_frame *f) { (void)f; n12++; pic_eoi(12); }

static void print_bytes(const char *what, volatile uint8_t *b, uint32_t n)
{
    puts("# ");
    puts(what);
    puts(":");
    for (uint32_t i = 0; i < n; i++) {
        static const char hex[] = "0123456789abcdef";
        putc(' ');
        putc(hex[b[i] >> 4]);
        putc(hex[b[i] & 15]);
    }
    puts("\n");
}

static const uint8_t typed[34] = {
    0x1e, 0x9e,                          /* a */
    0x2a, 0x1e, 0x9e, 0xaa,              /* Shift-a */
    0x02, 0x82,                          /* 1 */
    0x2a, 0x02, 0x82, 0xaa,              /* Shift-1 */
    0x1c, 0x9c,                          /* Enter */
    0x0e, 0x8e,                          /* Backspace */
    0x0f, 0x8f,                          /* Tab */
    0x1d, 0x2e, 0xae, 0x9d,              /* Ctrl-c */
    0xe0, 0x48, 0xe0, 0xc8,              /* Up */
    0xe0, 0x53, 0xe0, 0xd3,              /* Delete */
    0x3b, 0xbb,                          /* F1 */
    0x58, 0xd8,                          /* F12 */
};

int guest_main(void)
{
    puts("x86v-guest: kbd\n");
    tap_plan(21);
    irq_init();
    irq_set_handler(IRQ_VECTOR(1), on_irq1);
    irq_set_handler(IRQ_VECTOR(12), on_irq12);

    /* ---- controller at rest, command byte ---- */
    uint8_t st0 = status();
    uint32_t cb0 = controller(0x20);
    tap_ok(st0 == 0x14, "status at rest: system flag, not inhibited, buffers empty");
    tap_ok(cb0 == 0x61, "command byte 0x61: IRQ1 on, aux disabled, translation on");
    outb(CMD, 0x20);
    uint8_t st_full = status();
    uint32_t again = read_byte();
    uint8_t st_empty = status();
    tap_ok(st_full == 0x15 && again == 0x61 && st_empty == 0x14, "a reply sets OBF until 0x60 is read");
    uint8_t stale = inb(DATA);
    tap_ok(stale == 0x61, "reading 0x60 with the buffer empty returns the last byte again");

    write_command_byte(0x20);            /* everything off */
    uint32_t cb1 = controller(0x20);
    outb(CMD, 0xAD);
    uint32_t cb2 = controller(0x20);
    outb(CMD, 0xAE);
    outb(CMD, 0xA8);
    uint32_t cb3 = controller(0x20);
    outb(CMD, 0xA7);
    uint32_t cb4 = controller(0x20);
    tap_ok(cb1 == 0x20 && cb2 == 0x30 && cb3 == 0x00 && cb4 == 0x20,
           "command byte: write/read back, 0xAD/0xAE bit 4, 0xA8/0xA7 bit 5");

    uint32_t self = controller(0xAA), kbd_test = controller(0xAB), aux_test = controller(0xA9);
    tap_ok(self == 0x55 && (status() & 0x04), "self-test 0xAA answers 0x55 and sets the system flag");
    tap_ok(kbd_test == 0x00 && aux_test == 0x00, "keyboard and aux interface tests answer 0x00");
    uint32_t in = controller(0xC0), out = controller(0xD0);
    outb(CMD, 0xD1);
    outb(DATA, 0xCF);                    /* bit 0 set: no reset */
    uint32_t out2 = controller(0xD0);
    tap_ok(in == 0x80 && out == 0xCF && out2 == 0xCF, "input port 0x80, output port 0xCF (A20, not reset), 0xD1 keeps it");

    /* ---- 0xD2 / 0xD3: bytes as if from the devices ---- */
    write_command_byte(0x41);            /* translation on, IRQ1 off */
    outb(CMD, 0xD2);
    outb(DATA, 0x1C);
    uint8_t st_d2 = status();
    uint32_t d2 = read_byte();
    tap_ok(st_d2 == 0x15 && d2 == 0x1C && n1 == 0, "0xD2 without IRQ1: OBF set, byte untranslated, no interrupt");
    outb(CMD, 0xD3);
    outb(DATA, 0x5A);
    uint8_t st_d3 = status();
    uint32_t d3 = read_byte();
    tap_ok(st_d3 == 0x35 && d3 == 0x5A && n12 == 0, "0xD3: aux OBF (bit 5) set, no IRQ12 with its enable bit clear");

    write_command_byte(0x61);            /* IRQ1 on, translation on */
    pic_unmask(1);
    outb(CMD, 0xD2);
    outb(DATA, 0xAB);
    irq_wait(&n1, 1);
    tap_ok(n1 == 1 && got[0] == 0xAB, "0xD2 with IRQ1 enabled: one interrupt, the handler reads the byte");
    pic_mask(1);
    n1 = 0;

    /* ---- keyboard commands ---- */
    outb(DATA, 0xF5);                    /* disable scanning while we talk */
    uint32_t f5 = read_byte();
    outb(DATA, 0xEE);
    uint32_t echo = read_byte();
    tap_ok(f5 == 0xFA && echo == 0xEE, "0xF5 is acknowledged (FA), echo 0xEE answers 0xEE");
    outb(DATA, 0xF2);
    uint32_t id0 = read_byte(), id1 = read_byte(), id2 = read_byte();
    write_command_byte(0x21);            /* translation off */
    outb(DATA, 0xF2);
    uint32_t raw0 = read_byte(), raw1 = read_byte(), raw2 = read_byte();
    tap_ok(id0 == 0xFA && id1 == 0xAB && id2 == 0x41 && raw0 == 0xFA && raw1 == 0xAB && raw2 == 0x83,
           "identify: FA AB 41 translated, FA AB 83 raw");
    outb(DATA, 0xF0);
    uint32_t s0 = read_byte();
    outb(DATA, 0x00);
    uint32_t s1 = read_byte(), s2 = read_byte();
    outb(DATA, 0xF0);
    read_byte();
    outb(DATA, 0x01);
    uint32_t s3 = read_byte();
    outb(DATA, 0xF0);
    read_byte();
    outb(DATA, 0x00);
    read_byte();
    uint32_t s4 = read_byte();
    outb(DATA, 0xF0);
    read_byte();
    outb(DATA, 0x02);
    read_byte();
    write_command_byte(0x61);
    outb(DATA, 0xF0);
    read_byte();
    outb(DATA, 0x00);
    read_byte();
    uint32_t s5 = read_byte();
    tap_ok(s0 == 0xFA && s1 == 0xFA && s2 == 0x02 && s3 == 0xFA && s4 == 0x01 && s5 == 0x41,
           "scan code set: get 2, set 1, get 1, back to 2 (0x41 translated)");
    outb(DATA, 0xED);
    uint32_t l0 = read_byte();
    outb(DATA, 0x07);
    uint32_t l1 = read_byte();
    outb(DATA, 0xF3);
    uint32_t t0 = read_byte();
    outb(DATA, 0x20);
    uint32_t t1 = read_byte();
    tap_ok(l0 == 0xFA && l1 == 0xFA && t0 == 0xFA && t1 == 0xFA, "LEDs (0xED) and typematic rate (0xF3) take a byte, FA each");
    outb(DATA, 0xD0);
    uint32_t bad = read_byte();
    outb(DATA, 0xFF);
    uint32_t r0 = read_byte(), r1 = read_byte();
    tap_ok(bad == 0xFE && r0 == 0xFA && r1 == 0xAA, "an unknown command answers FE; reset answers FA AA");
    outb(DATA, 0xF5);
    read_byte();
    outb(DATA, 0xEE);                    /* not read: the next command drops it */
    outb(DATA, 0xF4);
    uint32_t after = read_byte();
    uint8_t st_after = status();
    tap_ok(after == 0xFA && st_after == 0x14, "a new command discards an unread reply");

    /* ---- replies on IRQ1 ---- */
    pic_unmask(1);
    outb(DATA, 0xF2);
    irq_wait(&n1, 3);
    tap_ok(n1 == 3 && got[0] == 0xFA && got[1] == 0xAB && got[2] == 0x41, "identify with IRQ1: one interrupt per byte");
    outb(CMD, 0xAD);                     /* interface disabled: a reply waits */
    __asm__ volatile("cli" ::: "memory");
    outb(CMD, 0x20);                     /* a controller reply still comes */
    uint32_t cbd = read_byte();
    uint8_t st_dis = status();
    outb(CMD, 0xAE);
    tap_ok(cbd == 0x71 && st_dis == 0x14, "0xAD: the command byte shows it, nothing from the keyboard");
    tap_ok(n1 == 3, "no IRQ1 while nothing is sent");

    /* ---- typed keys ---- */
    n1 = 0;
    puts("# ready for keys\n");
    irq_wait(&n1, 34);
    pic_mask(1);
    print_bytes("typed", got, n1 < 64 ? n1 : 64);
    int ok = n1 == 34;
    for (int i = 0; i < 34 && ok; i++)
        ok = got[i] == typed[i];
    tap_ok(ok, "typed a A 1 ! Enter Backspace Tab Ctrl-C Up Delete F1 F12: 34 set-1 bytes, make and break");
    return tap_exit_code();
}
