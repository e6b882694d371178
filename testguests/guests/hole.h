/* hole.h: shared by the hole-* guests (issue 12, the Popek–Goldberg audit).
 *
 * Each hole-* guest is a small kernel that uses one kind of "hole": an
 * instruction that is sensitive (it reads or changes state that reveals the
 * privilege level or the machine's real configuration) but not privileged (it
 * does not trap at CPL > 0). Natively, and under a VMM with hardware support
 * (--virt=hw) or none (--virt=none), every check holds. Under classic
 * trap-and-emulate virtualization with ring compression (the guest kernel at
 * ring 1, shadow GDT/IDT/TSS with DPL 1 kernel descriptors, CLI/STI emulated),
 * the same instructions silently show the VMM's state instead, and the
 * guest's "differs" lines say what it saw.
 *
 * Output: "x86v-guest: NAME", TAP ("1..N", then one line per check:
 *     ok 3 - sgdt: base 0x0010a000 limit 0x007f (the guest's lgdt: base 0x0010a000 limit 0x007f)
 *     not ok 3 - sgdt: base 0xffc01000 limit 0x00ff differs (the guest's lgdt: ...)
 * i.e. what the guest saw, "differs" if it is not what bare hardware gives,
 * and in parentheses what bare hardware gives, left out on an ok line that
 * would only repeat itself), a "# NAME: ..." summary, "# NAME done", and
 * debug-exit 0 if every check matched bare hardware, 1 otherwise (2 after an
 * unexpected exception).
 *
 * hole_init() sets the machine up without using any of the holes itself (no
 * SGDT/SIDT/PUSHF, unlike st_init()), so the guests run to their summary line
 * under classic virtualization as well: its own GDT (the runtime's selectors:
 * 0x08/0x10 flat ring 0, 0x1B/0x23 flat ring 3, 0x28 TSS; slots 6-15 free for
 * the guest; accessed bits preset), a TSS, a 256-vector IDT (0-31 the
 * runtime's stubs, 32-255 systest's, 0x4F st_try_user's return), both 8259s
 * at 0x20/0x28 with every line masked, and a trap hook with a per-vector
 * handler table (hole_handlers, like irq_set_handler) that keeps st_try() and
 * st_try_user() working; its recovery path returns to the kernel with the CS
 * the kernel actually runs with, so a guest whose CS shows RPL 1 still gets
 * back. With HOLE_NO_TRY defined that path (and its MOV from CS) is left out
 * (hole-none). */
#ifndef X86V_HOLE_H
#define X86V_HOLE_H

#include <stdarg.h>
#include "irq.h"

#define HOLE_FN static __attribute__((unused))

#define HOLE_GDT_N 16
#define EFL_IOPL_SHIFT 12
#define EFL_IOPL (3u << EFL_IOPL_SHIFT)

extern volatile uint32_t st_trying, st_fault_vector;   /* systest.c, shared with systest_stubs.S */
extern char st_recover[], st_user_exit_isr[];
extern const uint32_t rt_isr_table[32];

struct __attribute__((packed)) hole_dtr {
    uint16_t limit;
    uint32_t base;
};

static uint64_t hole_gdt[HOLE_GDT_N] __attribute__((aligned(8), unused));
static uint64_t hole_idt[256] __attribute__((aligned(8), unused));
static struct st_tss hole_tss __attribute__((aligned(16), unused));
static uint8_t hole_kstack[8192] __attribute__((aligned(16), unused));
static irq_handler_fn hole_handlers[256] __attribute__((unused));
static volatile uint32_t hole_count[256] __attribute__((unused));

/* ---------------- output ---------------- */

static int hole_checks, hole_differ;

static void hole_hex(char **p, char *end, uint32_t v, int digits)
{
    if (*p < end) *(*p)++ = '0';
    if (*p < end) *(*p)++ = 'x';
    for (int s = (digits - 1) * 4; s >= 0; s -= 4)
        if (*p < end) *(*p)++ = "0123456789abcdef"[(v >> s) & 15];
}

/* %x 0x + 8 hex digits, %w 0x + 4, %b 0x + 2, %u decimal, %s string, %c char. */
static void hole_vfmt(char *out, size_t n, const char *fmt, va_list ap)
{
    char *p = out, *end = out + n - 1;
    for (; *fmt && p < end; fmt++) {
        if (*fmt != '%') { *p++ = *fmt; continue; }
        switch (*++fmt) {
        case 'x': hole_hex(&p, end, va_arg(ap, uint32_t), 8); break;
        case 'w': hole_hex(&p, end, va_arg(ap, uint32_t), 4); break;
        case 'b': hole_hex(&p, end, va_arg(ap, uint32_t), 2); break;
        case 'u': {
            char d[11];
            int i = 0;
            uint32_t v = va_arg(ap, uint32_t);
            do { d[i++] = (char)('0' + v % 10); v /= 10; } while (v);
            while (i && p < end) *p++ = d[--i];
            break;
        }
        case 's': for (const char *s = va_arg(ap, const char *); *s && p < end; s++) *p++ = *s; break;
        case 'c': *p++ = (char)va_arg(ap, int); break;
        case '%': *p++ = '%'; break;
        default: if (!*fmt) fmt--; break;
        }
    }
    *p = 0;
}

HOLE_FN void hole_printf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    hole_vfmt(buf, sizeof buf, fmt, ap);
    va_end(ap);
    puts(buf);
}

/* One check. fmt is "what the guest saw|what bare hardware gives", one
 * format for both halves (arguments in order). Prints
 *   ok N - SAW (NATIVE)            or
 *   not ok N - SAW differs (NATIVE)
 * and returns cond. */
HOLE_FN int hole_check(int cond, const char *fmt, ...)
{
    char raw[256], line[300];
    va_list ap;
    va_start(ap, fmt);
    hole_vfmt(raw, sizeof raw, fmt, ap);
    va_end(ap);
    char *bar = raw;
    while (*bar && *bar != '|') bar++;
    char *p = line, *end = line + sizeof line - 1;
    for (const char *s = raw; s < bar && p < end; s++) *p++ = *s;
    if (!cond)
        for (const char *s = " differs"; *s && p < end; s++) *p++ = *s;
    /* "SAW (NATIVE)" says the same thing twice when SAW's text after its
     * first ": " is NATIVE: then the parenthesis is left out. */
    const char *tail = raw;
    while (tail + 1 < bar && !(tail[0] == ':' && tail[1] == ' ')) tail++;
    tail = tail + 1 < bar ? tail + 2 : bar;
    int same = *bar && cond;
    for (const char *a = tail, *b = bar + 1; same && (a < bar || *b); a++, b++)
        same = a < bar && *a == *b;
    if (*bar && !same) {
        for (const char *s = " ("; *s && p < end; s++) *p++ = *s;
        for (const char *s = bar + 1; *s && p < end; s++) *p++ = *s;
        if (p < end) *p++ = ')';
    }
    *p = 0;
    hole_checks++;
    if (!cond) hole_differ++;
    return tap_ok(cond, line);
}

/* The summary line; returns the exit code (0: everything as on bare hardware). */
HOLE_FN int hole_done(const char *name)
{
    if (hole_differ == 0)
        hole_printf("# %s: all %u checks as on bare hardware\n", name, (uint32_t)hole_checks);
    else
        hole_printf("# %s: %u of %u checks differ from bare hardware\n", name,
                    (uint32_t)hole_differ, (uint32_t)hole_checks);
    hole_printf("# %s done\n", name);      /* the end marker bochs/run-bochs.sh waits for */
    return tap_exit_code();
}

/* ---------------- machine setup ---------------- */

#ifndef HOLE_NO_TRY
/* This code's own CS, whatever RPL it shows: a frame edited to return here
 * must not ask for a more privileged CS than the one we run with. */
static uint32_t hole_kernel_cs(void)
{
    uint32_t cs;
    __asm__ volatile("movl %%cs, %0" : "=r"(cs));
    return cs & 0xFFFF;
}
#endif

/* The trap hook: systest's st_hook (copy of the frame, st_try recovery) with
 * irq's dispatcher in front (a handler per vector, hole_count[] for >= 32). */
static int hole_hook(struct rt_frame *f)
{
    uint32_t v = f->vector & 0xFF;
    st_fault = *f;
    st_fault_esp = (f->cs & 3) ? f->user_esp : (uint32_t)&f->user_esp;
    if (v >= 32)
        hole_count[v]++;
    if (hole_handlers[v]) {
        hole_handlers[v](f);
        return 1;
    }
#ifndef HOLE_NO_TRY
    if (st_trying) {
        st_trying = 0;
        st_fault_vector = v;
        f->eip = (uint32_t)st_recover;
        f->cs = hole_kernel_cs();
        f->eflags &= ~(EFL_TF | EFL_NT | EFL_RF | EFL_DF | EFL_AC);
        return 1;
    }
#endif
    return v >= 32;   /* stray interrupts are only counted */
}

HOLE_FN void hole_lgdt(uint64_t *table, uint32_t limit)
{
    struct hole_dtr d = { (uint16_t)limit, (uint32_t)table };
    __asm__ volatile("lgdt %0" :: "m"(d) : "memory");
}

HOLE_FN void hole_lidt(uint64_t *table, uint32_t limit)
{
    struct hole_dtr d = { (uint16_t)limit, (uint32_t)table };
    __asm__ volatile("lidt %0" :: "m"(d) : "memory");
}

HOLE_FN void hole_init(void)
{
    hole_gdt[0] = 0;
    /* Accessed bits preset: QEMU does not set A when it loads CS. */
    hole_gdt[1] = st_seg(0, 0xFFFFF, 0x9B, FL_G | FL_DB);   /* ring 0 code */
    hole_gdt[2] = st_seg(0, 0xFFFFF, 0x93, FL_G | FL_DB);   /* ring 0 data */
    hole_gdt[3] = st_seg(0, 0xFFFFF, 0xFB, FL_G | FL_DB);   /* ring 3 code */
    hole_gdt[4] = st_seg(0, 0xFFFFF, 0xF3, FL_G | FL_DB);   /* ring 3 data */
    hole_tss.ss0 = SEL_KDATA;
    hole_tss.esp0 = (uint32_t)(hole_kstack + sizeof hole_kstack);
    hole_tss.iomap_base = sizeof hole_tss;                   /* no I/O bitmap */
    hole_gdt[5] = st_seg((uint32_t)&hole_tss, sizeof hole_tss - 1, ACC_P | SYS_TSS32, 0);
    st_tss = &hole_tss;
    hole_lgdt(hole_gdt, sizeof hole_gdt - 1);
    __asm__ volatile(
        "ljmp %0, $1f\n"
        "1:\n\t"
        "movw %w1, %%ds\n\t"
        "movw %w1, %%es\n\t"
        "movw %w1, %%fs\n\t"
        "movw %w1, %%gs\n\t"
        "movw %w1, %%ss\n\t"
        "ltr %w2"
        :: "i"(SEL_KCODE), "r"(SEL_KDATA), "r"(SEL_TSS) : "memory");

    for (int v = 0; v < 32; v++)
        hole_idt[v] = st_gate(SEL_KCODE, rt_isr_table[v], SYS_INTGATE, 0, 1, 0);
    for (int v = 32; v < 256; v++)
        hole_idt[v] = st_gate(SEL_KCODE, st_stub(v), SYS_INTGATE, 0, 1, 0);
    hole_idt[ST_USER_EXIT_VECTOR] = st_gate(SEL_KCODE, (uint32_t)st_user_exit_isr, SYS_INTGATE, 3, 1, 0);
    hole_lidt(hole_idt, sizeof hole_idt - 1);

    pic_remap(PIC1_BASE, PIC2_BASE);   /* every line masked */
    rt_trap_hook = hole_hook;
}

/* ---------------- timer (IRQ0) ---------------- */

static volatile uint32_t hole_ticks __attribute__((unused));

static void hole_on_irq0(struct rt_frame *f)
{
    (void)f;
    hole_ticks++;
    pic_eoi(0);
}

/* PIT channel 0, mode 2, ~1 kHz, IRQ0 unmasked (IF is the caller's business). */
HOLE_FN void hole_timer_start(void)
{
    hole_handlers[IRQ_VECTOR(0)] = hole_on_irq0;
    pit_program(0, 2, 1193);
    pic_unmask(0);
}

HOLE_FN void hole_timer_stop(void)
{
    pic_mask(0);
}

/* Waits without touching IF for hole_ticks to reach target: returns 1 when it
 * does, 0 when IRQ0 sits requested in the 8259's IRR (and not in service)
 * poll after poll while no tick arrives -- the CPU is not accepting
 * interrupts -- or after a very long time. Nothing here depends on speed:
 * either the interrupt is taken or it stays pending. */
HOLE_FN int hole_poll_ticks(uint32_t target)
{
    uint32_t seen = 0, last = hole_ticks;
    for (uint32_t i = 0; i < 20000000u; i++) {
        uint32_t t = hole_ticks;
        if (t >= target)
            return 1;
        if (t != last) {
            last = t;
            seen = 0;
        }
        if ((i & 63) == 63) {
            if ((pic_read_irr() & 1) && !(pic_read_isr() & 1)) {
                if (++seen >= 16)
                    return 0;
            } else {
                seen = 0;
            }
        }
    }
    return 0;
}

#endif
