/* systest: see systest.h. */
#include "systest.h"

uint64_t st_gdt[ST_GDT_N] __attribute__((aligned(8)));
uint64_t st_idt[256] __attribute__((aligned(8)));
struct st_tss *st_tss;
uint8_t st_user_stack[16384] __attribute__((aligned(16)));

volatile uint32_t st_result;
struct rt_frame st_fault;
volatile uint32_t st_fault_esp;
rt_trap_hook_fn st_guest_hook;

/* Shared with systest_stubs.S. */
volatile uint32_t st_trying;
volatile uint32_t st_fault_vector;
extern char st_stubs[], st_recover[], st_user_exit_isr[];

struct __attribute__((packed)) st_dtr {
    uint16_t limit;
    uint32_t base;
};

uint64_t st_seg(uint32_t base, uint32_t limit, uint32_t access, uint32_t flags)
{
    uint64_t d = limit & 0xFFFF;
    d |= (uint64_t)(base & 0xFFFFFF) << 16;
    d |= (uint64_t)(access & 0xFF) << 40;
    d |= (uint64_t)((limit >> 16) & 0xF) << 48;
    d |= (uint64_t)(flags & 0xF) << 52;
    d |= (uint64_t)(base >> 24) << 56;
    return d;
}

uint64_t st_gate(uint32_t sel, uint32_t offset, uint32_t type, uint32_t dpl, int present, uint32_t params)
{
    uint64_t d = offset & 0xFFFF;
    d |= (uint64_t)(sel & 0xFFFF) << 16;
    d |= (uint64_t)(params & 0x1F) << 32;
    d |= (uint64_t)((present ? 0x80 : 0) | ((dpl & 3) << 5) | (type & 0xF)) << 40;
    d |= (uint64_t)(offset >> 16) << 48;
    return d;
}

uint32_t st_stub(int v)
{
    return (uint32_t)st_stubs + (uint32_t)(v - 32) * 16;
}

static int st_hook(struct rt_frame *f)
{
    st_fault = *f;
    st_fault_esp = (f->cs & 3) ? f->user_esp : (uint32_t)&f->user_esp;
    if (st_guest_hook && st_guest_hook(f))
        return 1;
    if (st_trying) {
        st_trying = 0;
        st_fault_vector = f->vector;
        f->eip = (uint32_t)st_recover;
        f->cs = SEL_KCODE;
        f->eflags &= ~(EFL_TF | EFL_NT | EFL_RF | EFL_DF | EFL_AC);
        return 1;
    }
    return 0;
}

void st_init(void)
{
    rt_cpu_init();

    struct st_dtr d;
    __asm__ volatile("sgdt %0" : "=m"(d));
    const uint64_t *old = (const uint64_t *)d.base;
    for (int i = 0; i < 6; i++)
        st_gdt[i] = old[i];
    uint64_t t = st_gdt[5];
    st_tss = (struct st_tss *)(uint32_t)(((t >> 16) & 0xFFFFFF) | ((t >> 56) << 24));
    d.limit = sizeof st_gdt - 1;
    d.base = (uint32_t)st_gdt;
    __asm__ volatile("lgdt %0" :: "m"(d) : "memory");

    __asm__ volatile("sidt %0" : "=m"(d));
    const uint64_t *oldi = (const uint64_t *)d.base;
    for (int i = 0; i < 32; i++)
        st_idt[i] = oldi[i];
    for (int v = 32; v < 256; v++)
        st_idt[v] = st_gate(SEL_KCODE, st_stub(v), SYS_INTGATE, 0, 1, 0);
    st_idt[ST_USER_EXIT_VECTOR] = st_gate(SEL_KCODE, (uint32_t)st_user_exit_isr, SYS_INTGATE, 3, 1, 0);
    d.limit = sizeof st_idt - 1;
    d.base = (uint32_t)st_idt;
    __asm__ volatile("lidt %0" :: "m"(d) : "memory");

    /* Mask both 8259s: nothing external may interrupt a test that sets IF. */
    outb(0x21, 0xFF);
    outb(0xA1, 0xFF);

    rt_trap_hook = st_hook;
}
