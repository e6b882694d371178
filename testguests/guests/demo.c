/* demo: the guest a newcomer sees first. A tiny kernel that says what it is
 * doing: descriptor tables, paging with an aliased page, the 8254 timer at
 * 100 Hz on IRQ0 (waiting in hlt, so an idle-skipping virtualizer is fast),
 * a demand-paged page fault, and a ring-3 program that talks to the kernel
 * through INT 0x80. Plain text, not TAP; the last line is a summary and the
 * exit code is 0 only if every check passed.
 *
 * Nothing printed depends on timing: each tick line reports the work done
 * for that tick number, not how many ticks have elapsed. */
#include "irq.h"

#define P 0x001u
#define W 0x002u
#define U 0x004u

#define ALIAS_VA  0x00400000u   /* PDE 1, PTE 0: the same frame as shared_page */
#define DEMAND_VA 0x00401000u   /* PDE 1, PTE 1: not present until touched */
#define TICKS     10u

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt0[1024] __attribute__((aligned(4096)));
static uint32_t pt1[1024] __attribute__((aligned(4096)));
static uint8_t shared_page[4096] __attribute__((aligned(4096)));
static uint8_t spare_frame[4096] __attribute__((aligned(4096)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));

static volatile uint32_t ticks;
static volatile uint32_t faults;
static volatile uint32_t user_status;
static int checks, passed;

static void say(const char *s)
{
    puts("[demo] ");
    puts(s);
}

static void check(int cond, const char *what)
{
    checks++;
    passed += cond != 0;
    say(cond ? "check ok: " : "CHECK FAILED: ");
    puts(what);
    putc('\n');
}

static void putHex(uint32_t v)
{
    puts("0x");
    putHex32(v);
}

/* ---- interrupt and exception handlers ---- */

static void on_timer(struct rt_frame *f)
{
    (void)f;
    ticks++;
    pic_eoi(0);
}

static void on_page_fault(struct rt_frame *f)
{
    uint32_t va = read_cr2();
    if ((va & ~0xFFFu) != DEMAND_VA || (f->error & P)) {
        puts("# unexpected page fault at ");
        putHex(va);
        puts("\nBail out!\n");
        exit(2);
    }
    faults++;
    say("page fault at ");
    putHex(va);
    puts(f->error & W ? " (write" : " (read");
    puts(", page not present): mapping a fresh frame and retrying\n");
    memset(spare_frame, 0, sizeof spare_frame);
    pt1[(DEMAND_VA >> 12) & 1023] = (uint32_t)spare_frame | P | W | U;
    invlpg(DEMAND_VA);
}

/* INT 0x80 from ring 3: EAX = 1 write(EBX = string), 2 exit(EBX = status). */
static void on_syscall(struct rt_frame *f)
{
    if (f->eax == 1) {
        say("  ring 3 says: ");
        puts((const char *)f->ebx);
        putc('\n');
        f->eax = 0;
    } else if (f->eax == 2) {
        user_status = f->ebx;
        rt_user_vector = 0x80;
        f->eip = (uint32_t)rt_user_return;   /* back to rt_enter_user's caller */
        f->cs = SEL_KCODE;
    } else {
        f->eax = (uint32_t)-1;
    }
}

/* ---- ring 3 ---- */

static const char user_msg[] = "hello from CPL 3 via a system call";

static inline uint32_t user_syscall(uint32_t nr, uint32_t arg)
{
    uint32_t r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(arg) : "memory");
    return r;
}

static void user_main(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    uint32_t r = user_syscall(1, (uint32_t)user_msg);
    user_syscall(2, (cs & 3) == 3 && r == 0 ? 42 : 1);
    for (;;)
        ;
}

/* ---- work done between ticks ---- */

static uint32_t primes_in(uint32_t lo, uint32_t hi)
{
    uint32_t n = 0;
    for (uint32_t x = lo < 2 ? 2 : lo; x < hi; x++) {
        int prime = 1;
        for (uint32_t d = 2; d * d <= x; d++)
            if (x % d == 0) {
                prime = 0;
                break;
            }
        n += prime;
    }
    return n;
}

static void paging_on(void)
{
    for (uint32_t i = 0; i < 1024; i++)
        pt0[i] = i << 12 | P | W | U;
    pt0[0] = 0;                          /* null page: catch stray pointers */
    pt1[(ALIAS_VA >> 12) & 1023] = (uint32_t)shared_page | P | W | U;
    pd[0] = (uint32_t)pt0 | P | W | U;
    pd[1] = (uint32_t)pt1 | P | W | U;
    write_cr3((uint32_t)pd);
    write_cr0(read_cr0() | 0x80000000u);
}

int guest_main(void)
{
    puts("x86v-guest: demo\n");
    say("hello from a tiny 32-bit kernel, booted by a multiboot loader\n");
    check(rt_multiboot_magic == 0x2BADB002, "multiboot magic in EAX");

    say("setting up GDT/IDT: flat ring 0/3 segments, a TSS, 256 vectors\n");
    irq_init();
    irq_set_handler(IRQ_VECTOR(0), on_timer);
    irq_set_handler(14, on_page_fault);
    irq_set_handler(0x80, on_syscall);
    irq_set_user_gate(0x80);
    say("8259 PICs remapped: IRQ0-15 -> vectors 0x20-0x2f\n");

    paging_on();
    say("paging on: 4 MiB identity map + a remapped page at 0x00400000\n");
    const char text[] = "written through the identity map";
    memcpy(shared_page, text, sizeof text);
    say("  read through the alias: \"");
    puts((const char *)ALIAS_VA);
    puts("\"\n");
    ((volatile char *)ALIAS_VA)[0] = 'W';
    check(shared_page[0] == 'W' && memcmp((const void *)(ALIAS_VA + 1), text + 1, sizeof text - 1) == 0,
          "both virtual addresses reach the same frame");

    say("timer: PIT at 100 Hz on IRQ0\n");
    pit_set_hz(100);
    pic_unmask(0);
    uint32_t total = 0;
    for (uint32_t t = 1; t <= TICKS; t++) {
        irq_wait(&ticks, t);             /* sti; hlt until the next tick */
        uint32_t lo = (t - 1) * 1000, hi = t * 1000;
        uint32_t n = primes_in(lo, hi);
        total += n;
        say("tick ");
        putDec(t);
        puts(": ");
        putDec(n);
        puts(" primes in [");
        putDec(lo);
        puts(", ");
        putDec(hi);
        puts("), ");
        putDec(total);
        puts(" so far\n");
    }
    pic_mask(0);
    irq_enable();
    check(ticks >= TICKS && total == 1229, "10 timer interrupts; 1229 primes below 10000");
    irq_disable();

    say("touching 0x00401000, which is not mapped yet\n");
    *(volatile uint32_t *)(DEMAND_VA + 0x10) = 0xC0FFEEu;
    check(faults == 1 && *(volatile uint32_t *)(DEMAND_VA + 0x10) == 0xC0FFEEu &&
          ((uint32_t *)spare_frame)[4] == 0xC0FFEEu,
          "one page fault, then the store landed in the new frame");

    say("entering ring 3\n");
    int vec = rt_enter_user(user_main, user_stack + sizeof user_stack);
    say("back in ring 0 after the exit system call, status ");
    putDec(user_status);
    putc('\n');
    check(vec == 0x80 && user_status == 42, "ring 3 round trip through INT 0x80");

    say("done: ");
    putDec((uint32_t)passed);
    puts(" of ");
    putDec((uint32_t)checks);
    puts(passed == checks ? " checks passed\n" : " checks passed -- FAILED\n");
    return passed == checks ? 0 : 1;
}
