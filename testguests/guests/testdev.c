/* testdev: QEMU's pc-testdev (hw/misc/pc-testdev.c), the device kernel
 * test suites (kvm-unit-tests' emulator, ioapic and other x86 tests) poke
 * the emulator with. Needs `-device pc-testdev` (QEMU, expected/testdev.qemu)
 * and `--device pc-testdev` (x86v, expected/testdev.spec).
 *
 * Tests: the 32-bit register at 0xE0-0xE3 at byte, word and dword width
 * (aligned accesses; an unaligned word at 0xE1 reads 0 and writes nothing on
 * QEMU 7.2 and x86v alike), its byte view at 0xE8, kvm-unit-tests'
 * test_stringio (REP OUTSB into 0xE0 leaves the last byte), the flush-page
 * port 0xE4 leaving the page's contents alone; the 64 KiB window at
 * 0xFF000000 as RAM: dwords, bytes and words of it, unaligned accesses, an
 * access straddling its two first pages, REP STOS/MOVS into it and out of it,
 * and a dword crossing two linear pages that both map its first frame (as
 * kvm-unit-tests' emulator test maps it); the IRQ ports 0x2000 + n raising
 * and lowering ISA lines, delivered through the 8259 (IRQ 5 on the master,
 * IRQ 10 on the slave) and through the I/O APIC (pin 11 edge and level, with
 * Remote IRR), counted. Each handler lowers its line before the EOI, so the
 * count is the same whether the firmware left the 8259 input edge- or
 * level-triggered (ELCR).
 *
 * Left out: lines 16-23 (QEMU 7.2 aborts on an assertion: its ISA bus has
 * 16 IRQs) and accesses past the end of the window (QEMU reads 0 there,
 * x86v all ones: nothing decodes them). */
#include "irq.h"

#define TD_PORT   0xE0
#define TD_BYTES  0xE8
#define TD_FLUSH  0xE4
#define TD_IRQ(n) (0x2000 + (n))
#define IORAM     0xFF000000u

#define V_PIC5   IRQ_VECTOR(5)
#define V_PIC10  IRQ_VECTOR(10)
#define V_EDGE   0x60
#define V_LEVEL  0x61
#define V_SPUR   0xFF

static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }

static volatile uint8_t *const io8 = (volatile uint8_t *)IORAM;
static inline uint32_t io32(uint32_t off) { return *(volatile uint32_t *)(IORAM + off); }
static inline void set32(uint32_t off, uint32_t v) { *(volatile uint32_t *)(IORAM + off) = v; }
static inline uint16_t io16(uint32_t off) { return *(volatile uint16_t *)(IORAM + off); }
static inline void set16(uint32_t off, uint16_t v) { *(volatile uint16_t *)(IORAM + off) = v; }

static volatile uint32_t n5, n10, nedge, nlevel;
static volatile uint32_t level_redir_in_handler;

static void on_pic5(struct rt_frame *f) { (void)f; n5++; outb(TD_IRQ(5), 0); pic_eoi(5); }
static void on_pic10(struct rt_frame *f) { (void)f; n10++; outb(TD_IRQ(10), 0); pic_eoi(10); }
static void on_edge(struct rt_frame *f) { (void)f; nedge++; outb(TD_IRQ(11), 0); lapic_eoi(); }
static void on_level(struct rt_frame *f)
{
    (void)f;
    nlevel++;
    level_redir_in_handler = ioapic_read(IOAPIC_REDIR(11));
    outb(TD_IRQ(11), 0);                   /* drop the level, then EOI: one interrupt */
    lapic_eoi();
}

/* Lets a pending interrupt arrive (bounded; IF=1 for a few instructions). */
static void settle(void)
{
    for (int i = 0; i < 64; i++) {
        irq_enable();
        __asm__ volatile("nop; nop; nop; nop");
        irq_disable();
    }
}

/* Paging for the cross-page test: 4 MiB pages identity-mapping the first 4
 * MiB and the APIC/testdev area, a page table at 0x800000 whose two first
 * entries both map the window's first frame. */
static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[1024] __attribute__((aligned(4096)));

static void test_cross_page_alias(void)
{
    memset(pd, 0, sizeof pd);
    memset(pt, 0, sizeof pt);
    pd[0] = 0x00000083u;                   /* 4 MiB, present, writable */
    pd[IORAM >> 22] = IORAM | 0x83u;
    pd[0xFEC00000u >> 22] = 0xFEC00000u | 0x83u;
    pd[2] = (uint32_t)pt | 3u;
    pt[0] = IORAM | 3u;
    pt[1] = IORAM | 3u;
    uint32_t cr4, cr0;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("mov %0, %%cr4" :: "r"(cr4 | 0x10u));          /* PSE */
    __asm__ volatile("mov %0, %%cr3" :: "r"((uint32_t)pd));
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr0 | 0x80000000u) : "memory");

    volatile uint32_t *cross = (volatile uint32_t *)0x800FFEu;
    set32(0, 0);
    set32(0xFFC, 0);
    *cross = 0xA1B2C3D4u;                  /* 0xFFE,0xFFF then 0x000,0x001 of one frame */
    uint32_t back = *cross;
    uint32_t lo = io32(0), hi = io32(0xFFC);
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr0) : "memory");
    __asm__ volatile("mov %0, %%cr4" :: "r"(cr4));
    tap_ok(back == 0xA1B2C3D4u && lo == 0x0000A1B2u && hi == 0xC3D40000u,
           "a dword across two linear pages mapping the window's first frame wraps within it");
}

int guest_main(void)
{
    puts("x86v-guest: testdev\n");
    tap_plan(23);
    irq_init();                            /* both 8259s masked */
    irq_set_handler(V_PIC5, on_pic5);
    irq_set_handler(V_PIC10, on_pic10);
    irq_set_handler(V_EDGE, on_edge);
    irq_set_handler(V_LEVEL, on_level);
    for (int pin = 0; pin < 24; pin++)
        ioapic_route(pin, IOREDIR_MASKED);

    /* ---- the I/O register ---- */
    outl(TD_PORT, 0x12345678u);
    tap_ok(inl(TD_PORT) == 0x12345678u, "0xE0: a dword written reads back");
    tap_ok(inb(0xE0) == 0x78 && inb(0xE1) == 0x56 && inb(0xE2) == 0x34 && inb(0xE3) == 0x12,
           "0xE0-0xE3: byte n of the register at 0xE0 + n");
    tap_ok(inw(0xE0) == 0x5678 && inw(0xE2) == 0x1234, "0xE0 and 0xE2: its two words");
    outb(0xE2, 0xAB);
    tap_ok(inl(TD_PORT) == 0x12AB5678u, "a byte written to 0xE2 changes that byte only");
    outw(0xE2, 0xCDEF);
    outw(0xE0, 0x0102);
    tap_ok(inl(TD_PORT) == 0xCDEF0102u, "words written to 0xE2 and 0xE0");
    outw(0xE1, 0x9999);
    tap_ok(inw(0xE1) == 0 && inl(TD_PORT) == 0xCDEF0102u, "an unaligned word at 0xE1 reads 0 and writes nothing");
    tap_ok(inl(TD_BYTES) == 0xCDEF0102u && inb(TD_BYTES) == 0x02, "0xE8: the same register");

    static const char st1[] = "abcdefghijklmnop";
    __asm__ volatile("cld; rep outsb" : : "d"((uint16_t)TD_PORT), "S"(st1), "c"(sizeof st1 - 1) : "memory");
    tap_ok(inb(TD_PORT) == 'p', "REP OUTSB of 16 bytes to 0xE0 leaves the last one (kvm-unit-tests test_stringio)");

    static volatile uint32_t page[1024] __attribute__((aligned(4096)));
    page[5] = 0x5A5A1234u;
    outl(TD_FLUSH, (uint32_t)page);
    tap_ok(page[5] == 0x5A5A1234u && inl(TD_FLUSH) == 0, "0xE4 (flush page) keeps the page's contents; it reads 0");

    /* ---- the MMIO window as RAM ---- */
    set32(0x10, 0x11223344u);
    tap_ok(io32(0x10) == 0x11223344u && io8[0x10] == 0x44 && io8[0x13] == 0x11 && io16(0x12) == 0x1122,
           "window: a dword reads back, and as bytes and words");
    set32(0x21, 0xAABBCCDDu);
    tap_ok(io32(0x21) == 0xAABBCCDDu && io32(0x20) == (0xBBCCDD00u | io8[0x20]) && io8[0x24] == 0xAA,
           "window: an unaligned dword at +0x21");
    set16(0x31, 0xBEEF);
    tap_ok(io8[0x31] == 0xEF && io8[0x32] == 0xBE && io16(0x31) == 0xBEEF, "window: an unaligned word at +0x31");
    set32(0xFFE, 0x55667788u);
    tap_ok(io32(0xFFE) == 0x55667788u && io16(0xFFE) == 0x7788 && io16(0x1000) == 0x5566,
           "window: a dword across its first page boundary (0xFF000FFE)");
    set32(0xFFFC, 0xCAFEF00Du);
    tap_ok(io32(0xFFFC) == 0xCAFEF00Du && io8[0xFFFF] == 0xCA, "window: its last dword (0xFF00FFFC)");

    uint32_t dst = IORAM + 0x2000;
    __asm__ volatile("cld; rep stosl" : "+D"(dst) : "a"(0xDEADBEEFu), "c"(64u) : "memory");
    int stos_ok = 1;
    for (uint32_t i = 0; i < 64; i++) stos_ok &= io32(0x2000 + 4 * i) == 0xDEADBEEFu;
    tap_ok(stos_ok && io32(0x2100) == 0, "window: REP STOSD of 64 dwords, nothing past them");

    static uint8_t src[300], back[300];
    for (int i = 0; i < 300; i++) src[i] = (uint8_t)(i * 7 + 3);
    uint32_t s = (uint32_t)src, d = IORAM + 0x2FF0;  /* crosses 0xFF003000 */
    uint32_t c = sizeof src;
    __asm__ volatile("cld; rep movsb" : "+S"(s), "+D"(d), "+c"(c) : : "memory");
    s = IORAM + 0x2FF0; d = (uint32_t)back; c = sizeof back;
    __asm__ volatile("cld; rep movsb" : "+S"(s), "+D"(d), "+c"(c) : : "memory");
    tap_ok(memcmp(src, back, sizeof src) == 0, "window: 300 bytes in and out by REP MOVSB across a page boundary");

    test_cross_page_alias();

    /* ---- IRQ lines through the 8259 pair ---- */
    pic_unmask(5);
    outb(TD_IRQ(5), 1);
    settle();
    outb(TD_IRQ(5), 1);
    settle();
    tap_ok(n5 == 2, "0x2005 = 1: IRQ5 through the master 8259, twice (the handler lowers it)");
    outb(TD_IRQ(5), 1);
    pic_mask(5);
    outb(TD_IRQ(5), 0);
    settle();
    tap_ok(n5 == 2 && pic_read_isr() == 0, "IRQ5 raised and lowered while masked: not delivered");
    pic_unmask(10);
    outb(TD_IRQ(10), 1);
    settle();
    tap_ok(n10 == 1 && pic_read_isr() == 0, "0x200A = 1: IRQ10 through the slave 8259");
    pic_mask(10);

    /* ---- IRQ lines through the I/O APIC ---- */
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_SVR, 0x100 | V_SPUR);
    ioapic_route(11, V_EDGE);
    outb(TD_IRQ(11), 1);
    settle();
    outb(TD_IRQ(11), 1);
    settle();
    tap_ok(nedge == 2, "0x200B = 1: I/O APIC pin 11, edge, twice");
    ioapic_route(11, IOREDIR_LEVEL | V_LEVEL);
    outb(TD_IRQ(11), 1);
    settle();
    tap_ok(nlevel == 1 && (level_redir_in_handler & IOREDIR_REMOTE_IRR) != 0,
           "pin 11 level-triggered: one interrupt, Remote IRR set in the handler");
    tap_ok((ioapic_read(IOAPIC_REDIR(11)) & IOREDIR_REMOTE_IRR) == 0 && !lapic_bit(LAPIC_ISR, V_LEVEL),
           "after the line dropped and the EOI: Remote IRR and ISR clear");
    ioapic_route(11, IOREDIR_MASKED);

    return tap_exit_code();
}
