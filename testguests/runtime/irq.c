/* irq: see irq.h. */
#include "irq.h"

volatile uint32_t irq_count[256];
static irq_handler_fn handlers[256];

/* st_guest_hook: consulted for every trap before systest's own handling. */
static int irq_dispatch(struct rt_frame *f)
{
    uint32_t v = f->vector & 0xFF;
    if (v >= 32)
        irq_count[v]++;
    if (handlers[v]) {
        handlers[v](f);
        return 1;
    }
    return v >= 32;
}

void irq_init(void)
{
    st_init();
    pic_remap(PIC1_BASE, PIC2_BASE);
    st_guest_hook = irq_dispatch;
}

void irq_set_handler(int vector, irq_handler_fn fn)
{
    handlers[vector & 0xFF] = fn;
}

void irq_set_user_gate(int vector)
{
    uint64_t g = st_idt[vector & 0xFF];
    uint32_t off = (uint32_t)(g & 0xFFFF) | (uint32_t)(g >> 48) << 16;
    st_idt[vector & 0xFF] = st_gate(SEL_KCODE, off, SYS_INTGATE, 3, 1, 0);
}

void irq_wait(volatile uint32_t *counter, uint32_t target)
{
    irq_disable();
    while (*counter < target)
        irq_sti_hlt_cli();
}

/* ---------------- 8259 ---------------- */

/* A write to port 0x80 (POST codes) gives old 8259s time between ICWs. */
static inline void io_wait(void) { outb(0x80, 0); }

void pic_remap(uint8_t master_base, uint8_t slave_base)
{
    outb(PIC1_CMD, 0x11); io_wait();         /* ICW1: edge, cascade, ICW4 needed */
    outb(PIC2_CMD, 0x11); io_wait();
    outb(PIC1_DATA, master_base); io_wait(); /* ICW2: vector base */
    outb(PIC2_DATA, slave_base); io_wait();
    outb(PIC1_DATA, 0x04); io_wait();        /* ICW3: slave on IR2 */
    outb(PIC2_DATA, 0x02); io_wait();        /* ICW3: cascade identity 2 */
    outb(PIC1_DATA, 0x01); io_wait();        /* ICW4: 8086 mode, normal EOI */
    outb(PIC2_DATA, 0x01); io_wait();
    pic_set_imr(0xFFFF);
}

uint16_t pic_get_imr(void)
{
    return (uint16_t)(inb(PIC2_DATA) << 8 | inb(PIC1_DATA));
}

void pic_set_imr(uint16_t mask)
{
    outb(PIC1_DATA, (uint8_t)mask);
    outb(PIC2_DATA, (uint8_t)(mask >> 8));
}

void pic_mask(int irq)
{
    pic_set_imr((uint16_t)(pic_get_imr() | 1u << irq));
}

void pic_unmask(int irq)
{
    uint16_t m = (uint16_t)(pic_get_imr() & ~(1u << irq));
    if (irq >= 8)
        m &= (uint16_t)~(1u << 2);
    pic_set_imr(m);
}

static uint16_t pic_read_ocw3(uint8_t ocw3)
{
    outb(PIC1_CMD, ocw3);
    outb(PIC2_CMD, ocw3);
    uint16_t v = (uint16_t)(inb(PIC2_CMD) << 8 | inb(PIC1_CMD));
    outb(PIC1_CMD, 0x0A);                    /* leave both reading IRR */
    outb(PIC2_CMD, 0x0A);
    return v;
}

uint16_t pic_read_irr(void) { return pic_read_ocw3(0x0A); }
uint16_t pic_read_isr(void) { return pic_read_ocw3(0x0B); }

void pic_eoi(int irq)
{
    if (irq >= 8)
        outb(PIC2_CMD, 0x20);
    outb(PIC1_CMD, 0x20);
}

void pic_specific_eoi(int irq)
{
    if (irq >= 8) {
        outb(PIC2_CMD, (uint8_t)(0x60 | (irq - 8)));
        outb(PIC1_CMD, 0x62);                /* the cascade line */
    } else {
        outb(PIC1_CMD, (uint8_t)(0x60 | irq));
    }
}

/* ---------------- 8254 ---------------- */

void pit_program(int ch, int mode, uint16_t count)
{
    outb(PIT_CMD, (uint8_t)(ch << 6 | 0x30 | mode << 1));
    outb((uint16_t)(PIT_CH0 + ch), (uint8_t)count);
    outb((uint16_t)(PIT_CH0 + ch), (uint8_t)(count >> 8));
}

void pit_set_hz(uint32_t hz)
{
    pit_program(0, 2, (uint16_t)((PIT_HZ + hz / 2) / hz));
}

uint16_t pit_latch_count(int ch)
{
    outb(PIT_CMD, (uint8_t)(ch << 6));       /* counter latch command */
    uint8_t lo = inb((uint16_t)(PIT_CH0 + ch));
    uint8_t hi = inb((uint16_t)(PIT_CH0 + ch));
    return (uint16_t)(hi << 8 | lo);
}

uint8_t pit_read_status(int ch)
{
    /* Read-back: 11, /COUNT=1 (don't latch count), /STATUS=0, counter bit. */
    outb(PIT_CMD, (uint8_t)(0xE0 | 2u << ch));
    return inb((uint16_t)(PIT_CH0 + ch));
}

/* ---------------- CMOS ---------------- */

uint8_t cmos_read(uint8_t reg)
{
    outb(0x70, reg & 0x7F);
    return inb(0x71);
}

void cmos_write(uint8_t reg, uint8_t v)
{
    outb(0x70, reg & 0x7F);
    outb(0x71, v);
}

/* ---------------- APICs ---------------- */

void lapic_self_ipi(uint8_t vector)
{
    lapic_write(LAPIC_ICR_HI, 0);
    lapic_write(LAPIC_ICR_LO, ICR_SELF | vector);   /* fixed, edge, assert */
}

uint32_t ioapic_read(uint32_t reg)
{
    *(volatile uint32_t *)IOAPIC_BASE = reg;
    return *(volatile uint32_t *)(IOAPIC_BASE + 0x10);
}

void ioapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)IOAPIC_BASE = reg;
    *(volatile uint32_t *)(IOAPIC_BASE + 0x10) = v;
}

void ioapic_route(int pin, uint32_t low)
{
    ioapic_write((uint32_t)IOAPIC_REDIR(pin) + 1, 0);   /* destination APIC 0 */
    ioapic_write((uint32_t)IOAPIC_REDIR(pin), low);
}
