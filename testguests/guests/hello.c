/* hello: smoke test of the basic system features a virtualizer must get
 * right before anything else: serial output, GDT/TSS/IDT, exceptions,
 * paging with 4 KiB and 4 MiB (PSE) pages, #PF handling, A/D bits,
 * CR0.WP, and a ring-3 round trip through the TSS. */
#include "runtime.h"

#define PTE_P   0x001u
#define PTE_W   0x002u
#define PTE_U   0x004u
#define PTE_A   0x020u
#define PTE_D   0x040u
#define PDE_PS  0x080u

#define HOLE_VA   0x00300000u   /* 4 KiB page left unmapped: first #PF */
#define RO_VA     0x00301000u   /* 4 KiB page mapped read-only: WP #PF */
#define AD_VA     0x00302000u   /* page used to check accessed/dirty bits */
#define BIG_PA    0x00400000u   /* 4-8 MiB: one 4 MiB page, identity */
#define ALIAS_VA  0x00800000u   /* 8-12 MiB: 4 MiB page aliasing BIG_PA */

static uint32_t page_dir[1024] __attribute__((aligned(4096)));
static uint32_t page_table0[1024] __attribute__((aligned(4096)));
static uint32_t bss_probe[64];             /* the loader must zero .bss */
static uint8_t user_stack[4096] __attribute__((aligned(16)));
static volatile uint32_t user_counter;

static void enable_paging(void)
{
    /* PDE 0: 4 KiB pages for 0-4 MiB; U set so ring 3 can run our code. */
    for (uint32_t i = 0; i < 1024; i++)
        page_table0[i] = (i << 12) | PTE_P | PTE_W | PTE_U;
    page_table0[HOLE_VA >> 12] = 0;                           /* not present */
    page_table0[RO_VA >> 12] = RO_VA | PTE_P | PTE_U;         /* read-only */
    page_dir[0] = (uint32_t)page_table0 | PTE_P | PTE_W | PTE_U;
    page_dir[BIG_PA >> 22] = BIG_PA | PDE_PS | PTE_P | PTE_W;
    page_dir[ALIAS_VA >> 22] = BIG_PA | PDE_PS | PTE_P | PTE_W;

    write_cr4(read_cr4() | (1u << 4));            /* CR4.PSE */
    write_cr3((uint32_t)page_dir);
    write_cr0(read_cr0() | 0x80000000u | (1u << 16));   /* PG | WP */
}

/* The trap hook fixes up what each test provokes. */
static int hook(struct rt_frame *f)
{
    switch (f->vector) {
    case 3:     /* #BP is a trap: eip already points past int3 */
        return 1;
    case 6:     /* #UD: skip the 2-byte ud2 */
        f->eip += 2;
        return 1;
    case 14: {
        uint32_t va = read_cr2() & ~0xFFFu;
        if (va == HOLE_VA || va == RO_VA) {
            page_table0[va >> 12] = va | PTE_P | PTE_W | PTE_U;
            invlpg(va);
            return 1;   /* retry the faulting instruction */
        }
        return 0;
    }
    case 13:
        if ((f->cs & 3) == 3) {
            /* Back to ring 0 via rt_user_return (same-privilege iret). */
            rt_user_vector = f->vector;
            f->eip = (uint32_t)rt_user_return;
            f->cs = SEL_KCODE;
            return 1;
        }
        return 0;
    }
    return 0;
}

/* Runs at CPL3: touches user memory, then executes a privileged cli. */
static void user_code(void)
{
    user_counter += 0x55;
    __asm__ volatile("cli");
    for (;;)
        ;
}

int guest_main(void)
{
    puts("x86v-guest: hello\n");
    puts("Hello from an x86v test guest!\n");
    tap_plan(10);
    tap_ok(rt_multiboot_magic == 0x2BADB002, "booted by a multiboot loader");

    int zero = 1;
    for (int i = 0; i < 64; i++)
        zero &= bss_probe[i] == 0;
    tap_ok(zero, ".bss is zeroed");

    rt_cpu_init();
    rt_trap_hook = hook;
    uint16_t cs, ds, tr;
    __asm__ volatile("mov %%cs, %0; mov %%ds, %1; str %2" : "=r"(cs), "=r"(ds), "=r"(tr));
    tap_ok(cs == SEL_KCODE && ds == SEL_KDATA && tr == SEL_TSS, "GDT, segments and TSS loaded");

    uint32_t after_int3;
    __asm__ volatile("int3\n1:\n\tmovl $1b, %0" : "=r"(after_int3));
    tap_ok(rt_last_trap.count == 1 && rt_last_trap.vector == 3 &&
           rt_last_trap.eip == after_int3 && rt_last_trap.cs == SEL_KCODE,
           "int3 raises #BP with eip after the instruction");

    uint32_t ud_at;
    __asm__ volatile("movl $1f, %0\n1:\n\tud2" : "=r"(ud_at));
    tap_ok(rt_last_trap.count == 2 && rt_last_trap.vector == 6 && rt_last_trap.eip == ud_at,
           "ud2 raises #UD with eip at the instruction");

    enable_paging();
    volatile uint32_t *big = (volatile uint32_t *)(BIG_PA + 0x1234 * 4);
    volatile uint32_t *alias = (volatile uint32_t *)(ALIAS_VA + 0x1234 * 4);
    *big = 0xCAFEF00Du;
    tap_ok((read_cr0() & 0x80000000u) && *alias == 0xCAFEF00Du,
           "paging on; 4 MiB PSE page and its alias agree");

    volatile uint32_t *hole = (volatile uint32_t *)(HOLE_VA + 0x10);
    *hole = 0x12345678u;   /* #PF, hook maps the page, store retried */
    tap_ok(rt_last_trap.count == 3 && rt_last_trap.vector == 14 &&
           rt_last_trap.error == 0x2 && rt_last_trap.cr2 == HOLE_VA + 0x10 &&
           *hole == 0x12345678u,
           "#PF on not-present page: err=2, CR2 right, handler maps it");

    volatile uint32_t *ro = (volatile uint32_t *)(RO_VA + 0x20);
    *ro = 0xA5A5A5A5u;     /* CR0.WP: supervisor write to RO page faults */
    tap_ok(rt_last_trap.count == 4 && rt_last_trap.vector == 14 &&
           rt_last_trap.error == 0x3 && rt_last_trap.cr2 == RO_VA + 0x20 &&
           *ro == 0xA5A5A5A5u,
           "CR0.WP: write to read-only page faults with err=3");

    /* Volatile: the CPU, not the compiler, changes the PTE. */
    volatile uint32_t *ad_pte = &page_table0[AD_VA >> 12];
    uint32_t before = *ad_pte & (PTE_A | PTE_D);
    *(volatile uint32_t *)AD_VA = 1;
    uint32_t after = *ad_pte & (PTE_A | PTE_D);
    tap_ok(before == 0 && after == (PTE_A | PTE_D), "CPU sets accessed and dirty bits");

    int vec = rt_enter_user(user_code, user_stack + sizeof user_stack);
    uint32_t fa = rt_last_trap.frame_addr;
    tap_ok(vec == 13 && rt_last_trap.count == 5 && rt_last_trap.error == 0 &&
           rt_last_trap.cs == SEL_UCODE && user_counter == 0x55 &&
           fa >= (uint32_t)rt_tss_stack && fa < (uint32_t)rt_tss_stack + rt_tss_stack_size,
           "ring 3 cli raises #GP(0) on the TSS ring-0 stack");

    puts("# hello done\n");
    return tap_exit_code();
}
