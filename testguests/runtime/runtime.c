/* Shared runtime: serial console, TAP helpers, GDT/TSS/IDT, traps, exit. */
#include "runtime.h"

#define COM1 0x3F8

uint32_t rt_multiboot_magic;
uint32_t rt_multiboot_info;

/* ---------------- serial ---------------- */

static void serial_init(void)
{
    outb(COM1 + 1, 0x00);   /* IER: no interrupts, we poll */
    outb(COM1 + 3, 0x80);   /* LCR: DLAB=1 to program the divisor */
    outb(COM1 + 0, 0x01);   /* DLL: 115200 baud */
    outb(COM1 + 1, 0x00);   /* DLM */
    outb(COM1 + 3, 0x03);   /* LCR: 8 data bits, no parity, 1 stop (8N1) */
    outb(COM1 + 2, 0xC7);   /* FCR: enable + clear FIFOs */
    outb(COM1 + 4, 0x03);   /* MCR: DTR | RTS */
}

void putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20))   /* LSR bit 5: transmit holding reg empty */
        ;
    outb(COM1, (uint8_t)c);
}

void puts(const char *s)
{
    while (*s)
        putc(*s++);
}

void putHex32(uint32_t v)
{
    for (int shift = 28; shift >= 0; shift -= 4)
        putc("0123456789abcdef"[(v >> shift) & 15]);
}

void putDec(uint32_t v)
{
    char buf[11];
    int i = 0;
    do {
        buf[i++] = (char)('0' + v % 10);   /* 32-bit division only: no libgcc */
        v /= 10;
    } while (v);
    while (i)
        putc(buf[--i]);
}

void putSDec(int32_t v)
{
    if (v < 0) {
        putc('-');
        putDec(0u - (uint32_t)v);
    } else {
        putDec((uint32_t)v);
    }
}

/* ---------------- TAP ---------------- */

static int tap_count, tap_failed;

void tap_plan(int n)
{
    puts("1..");
    putDec((uint32_t)n);
    putc('\n');
}

int tap_ok(int cond, const char *desc)
{
    tap_count++;
    if (!cond) {
        tap_failed++;
        puts("not ");
    }
    puts("ok ");
    putDec((uint32_t)tap_count);
    puts(" - ");
    puts(desc);
    putc('\n');
    return cond;
}

int tap_exit_code(void)
{
    return tap_failed ? 1 : 0;
}

/* ---------------- exit ---------------- */

void exit(int code)
{
    /* QEMU's isa-debug-exit turns this into host exit status (code<<1)|1. */
    outl(0xF4, (uint32_t)code);
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* ---------------- GDT + TSS ---------------- */

struct tss {
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2;
    uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomap_base;
} __attribute__((packed));

static struct tss tss;
static uint64_t gdt[6];

uint8_t rt_tss_stack[8192] __attribute__((aligned(16)));
const uint32_t rt_tss_stack_size = sizeof rt_tss_stack;

static uint64_t seg_desc(uint32_t base, uint32_t limit, uint32_t access, uint32_t flags)
{
    uint64_t d = limit & 0xFFFF;
    d |= (uint64_t)(base & 0xFFFFFF) << 16;
    d |= (uint64_t)(access & 0xFF) << 40;
    d |= (uint64_t)((limit >> 16) & 0xF) << 48;
    d |= (uint64_t)(flags & 0xF) << 52;
    d |= (uint64_t)(base >> 24) << 56;
    return d;
}

struct __attribute__((packed)) dtr {
    uint16_t limit;
    uint32_t base;
};

void rt_gdt_init(void)
{
    gdt[0] = 0;
    gdt[1] = seg_desc(0, 0xFFFFF, 0x9A, 0xC);   /* ring 0 code, 4 GiB, 32-bit */
    gdt[2] = seg_desc(0, 0xFFFFF, 0x92, 0xC);   /* ring 0 data */
    gdt[3] = seg_desc(0, 0xFFFFF, 0xFA, 0xC);   /* ring 3 code */
    gdt[4] = seg_desc(0, 0xFFFFF, 0xF2, 0xC);   /* ring 3 data */
    /* 32-bit available TSS; byte granular. */
    gdt[5] = seg_desc((uint32_t)&tss, sizeof tss - 1, 0x89, 0x0);

    tss.ss0 = SEL_KDATA;
    tss.esp0 = (uint32_t)(rt_tss_stack + sizeof rt_tss_stack);
    tss.iomap_base = sizeof tss;   /* no I/O bitmap: ring 3 port access faults */

    struct dtr d = { sizeof gdt - 1, (uint32_t)gdt };
    __asm__ volatile(
        "lgdt %0\n\t"
        "ljmp %1, $1f\n"          /* reload CS */
        "1:\n\t"
        "movw %w2, %%ds\n\t"
        "movw %w2, %%es\n\t"
        "movw %w2, %%fs\n\t"
        "movw %w2, %%gs\n\t"
        "movw %w2, %%ss\n\t"
        "ltr %w3"
        :: "m"(d), "i"(SEL_KCODE), "r"(SEL_KDATA), "r"(SEL_TSS) : "memory");
}

/* ---------------- IDT + traps ---------------- */

extern const uint32_t rt_isr_table[32];
static uint64_t idt[32];

volatile struct rt_trap_record rt_last_trap;
rt_trap_hook_fn rt_trap_hook;
volatile uint32_t rt_user_vector;

void rt_idt_init(void)
{
    for (int i = 0; i < 32; i++) {
        uint32_t a = rt_isr_table[i];
        /* 32-bit interrupt gate, DPL 0, present: IF is cleared on entry. */
        idt[i] = (a & 0xFFFF) | ((uint64_t)SEL_KCODE << 16) |
                 ((uint64_t)0x8E << 40) | ((uint64_t)(a >> 16) << 48);
    }
    struct dtr d = { sizeof idt - 1, (uint32_t)idt };
    __asm__ volatile("lidt %0" :: "m"(d));
}

void rt_cpu_init(void)
{
    rt_gdt_init();
    rt_idt_init();
}

void rt_fpu_init(void)
{
    uint32_t cr0 = read_cr0();
    cr0 &= ~(1u << 2);             /* EM=0: x87 present */
    cr0 |= (1u << 1) | (1u << 5);  /* MP=1, NE=1: native x87 error reporting */
    cr0 &= ~(1u << 3);             /* TS=0 */
    write_cr0(cr0);
    write_cr4(read_cr4() | (1u << 9) | (1u << 10));   /* OSFXSR, OSXMMEXCPT */
    /* Precision control = 53 bits so x87 double results match SSE2 ones. */
    uint16_t cw = 0x027F;
    __asm__ volatile("fninit\n\tfldcw %0" :: "m"(cw));
}

void rt_trap(struct rt_frame *f);
void rt_trap(struct rt_frame *f)
{
    rt_last_trap.count++;
    rt_last_trap.vector = f->vector;
    rt_last_trap.error = f->error;
    rt_last_trap.cr2 = f->vector == 14 ? read_cr2() : 0;
    rt_last_trap.eip = f->eip;
    rt_last_trap.cs = f->cs;
    rt_last_trap.frame_addr = (uint32_t)f;

    if (rt_trap_hook && rt_trap_hook(f))
        return;

    puts("# unhandled exception: vector=");
    putDec(f->vector);
    puts(" error=");
    putHex32(f->error);
    puts(" eip=");
    putHex32(f->eip);
    puts(" cs=");
    putHex32(f->cs);
    puts(" cr2=");
    putHex32(rt_last_trap.cr2);
    puts("\nBail out! unexpected exception\n");
    exit(2);
}

/* ---------------- C support ---------------- */

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    if (dp < sp) {
        while (n--)
            *dp++ = *sp++;
    } else {
        while (n--)
            dp[n] = sp[n];
    }
    return d;
}

void *memset(void *d, int c, size_t n)
{
    uint8_t *dp = d;
    while (n--)
        *dp++ = (uint8_t)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* ---------------- entry ---------------- */

void rt_start(uint32_t magic, uint32_t info);
void rt_start(uint32_t magic, uint32_t info)
{
    rt_multiboot_magic = magic;
    rt_multiboot_info = magic == 0x2BADB002 ? info : 0;
    serial_init();
    exit(guest_main());
}
