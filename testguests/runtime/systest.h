/* systest: helpers shared by the system-level guests (protect, seglimit,
 * gates, except, paging, strings, smc). Linked only into those guests; the
 * original runtime (and hello/alu/cwork/corpus) is unchanged.
 *
 * st_init() replaces the runtime's 6-entry GDT and 32-entry IDT with bigger
 * copies (ST_GDT_N descriptors, 256 vectors: 32-255 go to generic stubs that
 * record the trap like the runtime's own), masks the 8259 PICs and installs a
 * trap hook that makes st_try()/st_try_user() work:
 *
 *   st_try(fn, arg)       calls fn(arg) at CPL0;
 *   st_try_user(fn, arg)  runs fn(arg) at CPL3 (selectors 0x1B/0x23, stack
 *                         st_user_stack) and comes back when fn returns;
 *
 * both return ST_NOFAULT (fn's return value in st_result) or, if an exception
 * was not handled by the guest's own hook (st_guest_hook), its vector; the
 * exception's details are in rt_last_trap and st_fault (a copy of the frame)
 * and st_fault_esp (ESP at the time of the exception, before the CPU pushed
 * anything). Segment registers are reset to the flat ring-0 ones afterwards. */
#ifndef X86V_SYSTEST_H
#define X86V_SYSTEST_H

#include "runtime.h"

#define ST_GDT_N 48
#define ST_NOFAULT 0x100u
#define ST_USER_EXIT_VECTOR 0x4F

/* Descriptor access bytes. */
#define ACC_P      0x80u
#define ACC_DPL(n) ((uint32_t)(n) << 5)
#define ACC_S      0x10u             /* code/data (not system) */
#define ACC_CODE   0x08u
#define ACC_CONF   0x04u             /* code: conforming */
#define ACC_READ   0x02u             /* code: readable */
#define ACC_EXPDN  0x04u             /* data: expand-down */
#define ACC_WRITE  0x02u             /* data: writable */
#define ACC_A      0x01u
/* Flags nibble. */
#define FL_G   0x8u
#define FL_DB  0x4u
/* System descriptor types. */
#define SYS_LDT       0x2u
#define SYS_TSS32     0x9u
#define SYS_TSS32B    0xBu
#define SYS_CALLGATE  0xCu
#define SYS_INTGATE   0xEu
#define SYS_TRAPGATE  0xFu

#define EFL_CF 0x0001u
#define EFL_ZF 0x0040u
#define EFL_TF 0x0100u
#define EFL_IF 0x0200u
#define EFL_DF 0x0400u
#define EFL_OF 0x0800u
#define EFL_NT 0x4000u
#define EFL_RF 0x10000u
#define EFL_AC 0x40000u

struct st_tss {
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2;
    uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomap_base;
} __attribute__((packed));

extern uint64_t st_gdt[ST_GDT_N];
extern uint64_t st_idt[256];
extern struct st_tss *st_tss;          /* the runtime's TSS (GDT slot 5) */
extern uint8_t st_user_stack[16384];

extern volatile uint32_t st_result;    /* fn's return value */
extern struct rt_frame st_fault;       /* copy of the last exception frame */
extern volatile uint32_t st_fault_esp; /* ESP when the exception happened */
extern rt_trap_hook_fn st_guest_hook;  /* consulted first by the st hook */

void st_init(void);
uint64_t st_seg(uint32_t base, uint32_t limit, uint32_t access, uint32_t flags);
/* Gate descriptor: type = SYS_*GATE, dpl, present, params = call gate count. */
uint64_t st_gate(uint32_t sel, uint32_t offset, uint32_t type, uint32_t dpl, int present, uint32_t params);
uint32_t st_try(uint32_t (*fn)(uint32_t), uint32_t arg);
uint32_t st_try_user(uint32_t (*fn)(uint32_t), uint32_t arg);
/* Address of the generic stub for vector v (32..255): records like rt_trap. */
uint32_t st_stub(int v);

static inline uint32_t read_eflags(void)
{
    uint32_t f;
    __asm__ volatile("pushfl; popl %0" : "=r"(f));
    return f;
}

#define DEF_DR(n) \
    static inline uint32_t read_dr##n(void) { uint32_t v; __asm__ volatile("mov %%db" #n ", %0" : "=r"(v)); return v; } \
    static inline void write_dr##n(uint32_t v) { __asm__ volatile("mov %0, %%db" #n :: "r"(v) : "memory"); }
DEF_DR(0)
DEF_DR(1)
DEF_DR(2)
DEF_DR(3)
DEF_DR(6)
DEF_DR(7)
#undef DEF_DR

/* Tests in these guests are mostly "this faulted with vector V, error E". */
static inline int st_faulted(uint32_t r, uint32_t vector, uint32_t error)
{
    return r == vector && rt_last_trap.vector == vector && rt_last_trap.error == error;
}

#endif
