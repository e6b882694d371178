/* irq: interrupt and device helpers for the device guests (demo, pic, pit,
 * rtc, apic, serial). Built on systest (256-vector IDT, generic stubs):
 *
 *   irq_init()               st_init() + both 8259s remapped to vectors
 *                            0x20-0x2F, every line masked; installs a
 *                            dispatcher that counts every vector >= 32 in
 *                            irq_count[] and calls the handler registered for
 *                            it (any vector 0-255, exceptions included);
 *   irq_set_handler(v, fn)   fn(frame) runs with IF=0 (interrupt gates); it
 *                            sends its own EOI. A vector >= 32 with no handler
 *                            is only counted;
 *   irq_wait(&n, target)     cli; while n < target: sti; hlt (STI's one-
 *                            instruction shadow makes the pair race-free).
 *
 * The 8259, 8254, CMOS/RTC, local APIC and I/O APIC helpers below are thin:
 * each is the port or MMIO sequence its datasheet gives. Nothing here reads
 * a clock, so nothing depends on the host's speed. */
#ifndef X86V_IRQ_H
#define X86V_IRQ_H

#include "systest.h"

/* ---- dispatcher ---- */
typedef void (*irq_handler_fn)(struct rt_frame *f);
extern volatile uint32_t irq_count[256];

void irq_init(void);
void irq_set_handler(int vector, irq_handler_fn fn);
void irq_set_user_gate(int vector);     /* DPL 3: INT n allowed from ring 3 */
void irq_wait(volatile uint32_t *counter, uint32_t target);

static inline void irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
/* One hlt with interrupts on; returns with IF=0 after the handler ran. */
static inline void irq_sti_hlt_cli(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }

/* ---- 8259 PIC pair ---- */
#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xA0
#define PIC2_DATA 0xA1
#define PIC1_BASE 0x20                   /* IRQ0-7  -> vectors 0x20-0x27 */
#define PIC2_BASE 0x28                   /* IRQ8-15 -> vectors 0x28-0x2F */
#define IRQ_VECTOR(n) ((n) < 8 ? PIC1_BASE + (n) : PIC2_BASE + (n) - 8)

void pic_remap(uint8_t master_base, uint8_t slave_base);   /* ICW1-4, all masked */
uint16_t pic_get_imr(void);             /* slave << 8 | master, read back */
void pic_set_imr(uint16_t mask);
void pic_mask(int irq);
void pic_unmask(int irq);               /* IRQ 8-15 also unmask the cascade (2) */
uint16_t pic_read_irr(void);            /* OCW3 0x0A, both chips */
uint16_t pic_read_isr(void);            /* OCW3 0x0B, both chips */
void pic_eoi(int irq);                  /* non-specific EOI (slave first if >= 8) */
void pic_specific_eoi(int irq);         /* OCW2 0x60 | level */

/* ---- 8254 PIT ---- */
#define PIT_HZ 1193182u
#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
/* Mode/command byte for lobyte/hibyte access, binary counting. */
void pit_program(int ch, int mode, uint16_t count);
void pit_set_hz(uint32_t hz);           /* channel 0, mode 2 (rate generator) */
uint16_t pit_latch_count(int ch);       /* counter-latch command, then lo/hi */
uint8_t pit_read_status(int ch);        /* read-back: status only, latched */

/* ---- CMOS / RTC ---- */
uint8_t cmos_read(uint8_t reg);         /* NMI stays enabled (bit 7 clear) */
void cmos_write(uint8_t reg, uint8_t v);
static inline uint8_t bcd_to_bin(uint8_t v) { return (uint8_t)((v >> 4) * 10 + (v & 15)); }

/* ---- local APIC (xAPIC MMIO; paging off or identity-mapped) ---- */
#define LAPIC_BASE      0xFEE00000u
#define LAPIC_ID        0x020
#define LAPIC_VERSION   0x030
#define LAPIC_TPR       0x080
#define LAPIC_PPR       0x0A0
#define LAPIC_EOI       0x0B0
#define LAPIC_SVR       0x0F0
#define LAPIC_ISR       0x100            /* 8 registers, 0x10 apart */
#define LAPIC_TMR       0x180
#define LAPIC_IRR       0x200
#define LAPIC_ESR       0x280
#define LAPIC_ICR_LO    0x300
#define LAPIC_ICR_HI    0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3E0
#define LVT_MASKED      0x10000u
#define LVT_PERIODIC    0x20000u
#define ICR_SELF        0x40000u         /* destination shorthand 01 = self */
#define ICR_PENDING     0x01000u

static inline uint32_t lapic_read(uint32_t off) { return *(volatile uint32_t *)(LAPIC_BASE + off); }
static inline void lapic_write(uint32_t off, uint32_t v) { *(volatile uint32_t *)(LAPIC_BASE + off) = v; }
static inline void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }
/* Bit for vector v in the ISR/TMR/IRR register bank starting at bank. */
static inline int lapic_bit(uint32_t bank, int v)
{
    return (int)((lapic_read(bank + (uint32_t)(v >> 5) * 0x10) >> (v & 31)) & 1);
}
void lapic_self_ipi(uint8_t vector);    /* fixed, edge, shorthand self */

/* ---- I/O APIC ---- */
#define IOAPIC_BASE 0xFEC00000u
#define IOAPIC_ID   0x00
#define IOAPIC_VER  0x01
#define IOAPIC_REDIR(pin) (0x10 + 2 * (pin))
#define IOREDIR_MASKED   0x10000u
#define IOREDIR_LEVEL    0x08000u
#define IOREDIR_REMOTE_IRR 0x04000u
#define IOREDIR_LOW_ACTIVE 0x02000u

uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t v);
/* Low dword of pin's entry (vector, flags); destination = APIC ID 0. */
void ioapic_route(int pin, uint32_t low);

#endif
