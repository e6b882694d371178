/* pf.h: shared setup for the page-fault guests (pf-*, bench-churn,
 * bench-demand, bench-spaces). Each guest is one translation unit that
 * includes this header once.
 *
 * Address-space layout every guest starts from (32-bit paging, CR4.PSE=1):
 *   PDE 0      0-4 MiB identity through pf_lowpt (4 KiB pages, P|W|U): the
 *              image (loaded at 1 MiB), its stacks and page tables; U so the
 *              runtime's ring-3 helpers (st_try_user) can run there
 *   PDE 1-15   4-64 MiB identity, 4 MiB PSE pages, supervisor (P|W)
 *   PDE 256+   (0x40000000 up) test regions, set up by each guest
 * Physical frames handed to test mappings come from 16 MiB up (PF_FRAME(n)),
 * reached by the kernel through the identity map. */
#ifndef X86V_PF_H
#define X86V_PF_H

#include "systest.h"

#define PG_P   0x001u
#define PG_W   0x002u
#define PG_U   0x004u
#define PG_A   0x020u
#define PG_D   0x040u
#define PG_PS  0x080u
#define PG_G   0x100u
#define PG_AVL 0xE00u

#define CR0_WP  (1u << 16)
#define CR0_PG  0x80000000u
#define CR4_PSE (1u << 4)
#define CR4_PGE (1u << 7)

#define PF_IDENT_PDES 16u                                   /* 64 MiB */
#define PF_FRAME(n) (0x01000000u + (uint32_t)(n) * 0x1000u) /* 16 MiB up */
#define PF_REGION   0x40000000u                             /* PDE 256 */

static uint32_t pf_kpd[1024] __attribute__((aligned(4096)));
static uint32_t pf_lowpt[1024] __attribute__((aligned(4096)));

/* The kernel part of a page directory: PDEs 0-15 as described above. */
static void pf_kernel_pdes(uint32_t *pd)
{
    pd[0] = (uint32_t)pf_lowpt | PG_P | PG_W | PG_U;
    for (uint32_t i = 1; i < PF_IDENT_PDES; i++)
        pd[i] = (i << 22) | PG_PS | PG_P | PG_W;
}

/* st_init(), the kernel page directory pf_kpd (nothing else mapped), then
 * CR4.PSE, CR3, CR0.PG and CR0.WP. */
static void pf_init(void)
{
    st_init();
    for (uint32_t i = 0; i < 1024; i++)
        pf_lowpt[i] = (i << 12) | PG_P | PG_W | PG_U;
    pf_kernel_pdes(pf_kpd);
    write_cr4(read_cr4() | CR4_PSE);
    write_cr3((uint32_t)pf_kpd);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
}

/* Word-at-a-time fill and copy (the runtime's memset/memcpy go byte by byte). */
static inline void pf_fill32(uint32_t addr, uint32_t v, uint32_t words)
{
    __asm__ volatile("cld; rep stosl" : "+D"(addr), "+c"(words) : "a"(v) : "memory");
}
static inline void pf_copy32(uint32_t dst, uint32_t src, uint32_t words)
{
    __asm__ volatile("cld; rep movsl" : "+D"(dst), "+S"(src), "+c"(words) :: "memory");
}
/* One 32-bit load/store that may fault: a compiler barrier too, since the
 * #PF handler it may run edits page tables and counters behind C's back. */
static inline uint32_t pf_peek(uint32_t a)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(a) : "memory");
    return v;
}
static inline void pf_poke(uint32_t a, uint32_t v)
{
    __asm__ volatile("movl %1, (%0)" :: "r"(a), "r"(v) : "memory");
}

/* Accessors run through st_try / st_try_user: one access each, so a fault's
 * EIP, CR2 and error code belong to exactly that access. */
uint32_t pf_wr_value = 0xA1B2C3D4u;
uint32_t pf_rd32(uint32_t), pf_wr32(uint32_t), pf_call(uint32_t);
__asm__(
    ".text\n.globl pf_rd32, pf_wr32, pf_call\n"
    "pf_rd32:\n  movl 4(%esp), %ecx\n  movl (%ecx), %eax\n  ret\n"
    "pf_wr32:\n  movl 4(%esp), %ecx\n  movl pf_wr_value, %eax\n  movl %eax, (%ecx)\n  xorl %eax, %eax\n  ret\n"
    "pf_call:\n  call *4(%esp)\n  ret\n"
);

/* r is a #PF with error code err and CR2 = cr2. */
static __attribute__((unused)) int pf_is(uint32_t r, uint32_t err, uint32_t cr2)
{
    return st_faulted(r, 14, err) && rt_last_trap.cr2 == cr2;
}
/* r is a clean return with value v. */
static __attribute__((unused)) int pf_val(uint32_t r, uint32_t v) { return r == ST_NOFAULT && st_result == v; }

static __attribute__((unused)) void pf_put_kv(const char *k, uint32_t v)
{
    puts(k);
    putHex32(v);
}

/* "# iterations: N" in decimal: make bench reads N from it (Benchmarks/peers/run-peers.sh). */
static __attribute__((unused)) void pf_put_iterations(uint32_t n)
{
    puts("# iterations: ");
    putDec(n);
    putc('\n');
}

#endif
