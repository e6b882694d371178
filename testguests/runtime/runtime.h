/* Tiny shared runtime for x86v test guests (32-bit, ring 0, freestanding). */
#ifndef X86V_RUNTIME_H
#define X86V_RUNTIME_H

#include <stdint.h>
#include <stddef.h>

/* GDT selectors set up by rt_gdt_init(). */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE 0x1B   /* slot 3, RPL 3 */
#define SEL_UDATA 0x23   /* slot 4, RPL 3 */
#define SEL_TSS   0x28

/* Stack layout built by isr_common in boot.S (lowest address first). */
struct rt_frame {
    uint32_t es, ds;
    uint32_t edi, esi, ebp, esp_unused, ebx, edx, ecx, eax;   /* pushal */
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
    uint32_t user_esp, user_ss;     /* only present for traps from ring 3 */
};

/* What the last exception looked like; count says how many were taken. */
struct rt_trap_record {
    uint32_t count;
    uint32_t vector;
    uint32_t error;
    uint32_t cr2;
    uint32_t eip;
    uint32_t cs;
    uint32_t frame_addr;   /* where the frame was: tells which stack was used */
};
extern volatile struct rt_trap_record rt_last_trap;

/* Optional per-guest hook: return nonzero if the trap was handled (the frame
 * may be edited, e.g. eip advanced), zero to fall through to "unhandled",
 * which prints a diagnostic and exits with code 2. */
typedef int (*rt_trap_hook_fn)(struct rt_frame *f);
extern rt_trap_hook_fn rt_trap_hook;

/* Serial console (COM1 16550). puts does NOT append a newline. */
void putc(char c);
void puts(const char *s);
void putHex32(uint32_t v);     /* exactly 8 lowercase hex digits, no prefix */
void putDec(uint32_t v);
void putSDec(int32_t v);

/* TAP helpers: tap_plan(n) prints "1..n"; tap_ok prints "ok N - desc" or
 * "not ok N - desc" and counts failures; tap_exit_code() is 0 if none failed. */
void tap_plan(int n);
int tap_ok(int cond, const char *desc);
int tap_exit_code(void);

/* CPU setup. rt_cpu_init() = rt_gdt_init() + rt_idt_init(). */
void rt_gdt_init(void);
void rt_idt_init(void);
void rt_cpu_init(void);
void rt_fpu_init(void);        /* x87 + SSE enabled, x87 rounds to double */

/* Ring 3 round trip (boot.S). Returns the vector that brought us back. */
int rt_enter_user(void (*fn)(void), void *user_stack_top);
extern void rt_user_return(void);
extern volatile uint32_t rt_user_vector;
extern uint8_t rt_tss_stack[];        /* ring-0 stack used for ring-3 traps */
extern const uint32_t rt_tss_stack_size;

/* Writes code to isa-debug-exit (port 0xF4), then halts forever. */
__attribute__((noreturn)) void exit(int code);

/* Each guest provides this; its return value is passed to exit(). */
int guest_main(void);

/* Multiboot info pointer handed over by the loader (0 if magic was wrong). */
extern uint32_t rt_multiboot_magic;
extern uint32_t rt_multiboot_info;

/* gcc may emit calls to these even with -ffreestanding. */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* Port I/O and control registers. */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

#define DEF_CR(n) \
    static inline uint32_t read_cr##n(void) { uint32_t v; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
    static inline void write_cr##n(uint32_t v) { __asm__ volatile("mov %0, %%cr" #n :: "r"(v) : "memory"); }
DEF_CR(0)
DEF_CR(2)
DEF_CR(3)
DEF_CR(4)
#undef DEF_CR

static inline void invlpg(uint32_t va) { __asm__ volatile("invlpg (%0)" :: "r"(va) : "memory"); }

#endif
