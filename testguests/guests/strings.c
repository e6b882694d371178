/* strings: string instructions (SDM Vol. 2 MOVS/STOS/LODS/CMPS/SCAS and
 * REP/REPE/REPNE: a fault in the middle leaves the registers at the faulting
 * iteration; Vol. 1 7.3.9): byte/word/dword, DF=0/1, REPE/REPNE
 * termination, ECX=0, segment override on the source, a REP MOVS/STOS that
 * page-faults in the middle (the handler maps the page and the instruction
 * resumes with ECX/ESI/EDI as they were at the fault), 16-bit addressing
 * (0x67: SI/DI/CX, wrap-around at 64 KiB, upper halves untouched). */
#include "systest.h"

struct sregs {
    uint32_t esi, edi, ecx, eax, flags;              /* in */
    uint32_t o_esi, o_edi, o_ecx, o_eax, o_flags;    /* out */
};

#define STROPS \
    X(rep_movsb, "rep movsb") X(rep_movsw, "rep movsw") X(rep_movsd, "rep movsl") \
    X(rep_stosb, "rep stosb") X(rep_stosw, "rep stosw") X(rep_stosd, "rep stosl") \
    X(lodsb1, "lodsb") X(rep_lodsd, "rep lodsl") \
    X(repe_cmpsb, "repe cmpsb") X(repne_cmpsd, "repne cmpsl") \
    X(repne_scasb, "repne scasb") X(repe_scasw, "repe scasw") \
    X(rep_movsb_fs, "rep movsb %fs:(%esi), %es:(%edi)")

#define X(name, insn) \
    ".globl " #name ", " #name "_at\n" #name ":\n" \
    "  movl 4(%esp), %ebx\n  movl (%ebx), %esi\n  movl 4(%ebx), %edi\n  movl 8(%ebx), %ecx\n" \
    "  movl 12(%ebx), %eax\n  pushl 16(%ebx)\n  popfl\n" #name "_at:\n  " insn "\n" \
    "  pushfl\n  popl 36(%ebx)\n  movl %esi, 20(%ebx)\n  movl %edi, 24(%ebx)\n  movl %ecx, 28(%ebx)\n" \
    "  movl %eax, 32(%ebx)\n  cld\n  xorl %eax, %eax\n  ret\n"
__asm__(".text\n" STROPS);
#undef X
#define X(name, insn) uint32_t name(uint32_t); extern char name##_at[];
STROPS
#undef X

#define S_B64 0x30     /* data segment, base buf64, limit 0xffff */
#define S_FSB 0x38     /* data segment, base src + 0x100 */

uint32_t a16_out[3];
uint32_t a16_fwd(uint32_t), a16_back(uint32_t);
__asm__(
    ".text\n.globl a16_fwd, a16_back\n"
    "a16_fwd:\n  movl $0x1234FFFE, %esi\n  movl $0x56780100, %edi\n  movl $0xABCD0004, %ecx\n"
    "  movl $0x30, %eax\n  movw %ax, %ds\n  movw %ax, %es\n  cld\n  addr16 rep movsb\n"
    "  jmp 1f\n"
    "a16_back:\n  movl $0x12340001, %esi\n  movl $0x56780201, %edi\n  movl $0xABCD0003, %ecx\n"
    "  movl $0x30, %eax\n  movw %ax, %ds\n  movw %ax, %es\n  std\n  addr16 rep movsb\n  cld\n"
    "1:\n  movl $0x10, %eax\n  movw %ax, %ds\n  movw %ax, %es\n"
    "  movl %esi, a16_out\n  movl %edi, a16_out+4\n  movl %ecx, a16_out+8\n  ret\n"
);

static uint8_t src[16384] __attribute__((aligned(4096)));
static uint8_t dst[16384] __attribute__((aligned(4096)));
static uint8_t buf64[65536 + 16];
static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt0[1024] __attribute__((aligned(4096)));
static uint32_t pt1[1024] __attribute__((aligned(4096)));
#define VA(n) (0x00400000u + (uint32_t)(n) * 0x1000u)
#define FRAME(n) (0x00280000u + (uint32_t)(n) * 0x1000u)

static volatile uint32_t map_va, pf_count;
static struct rt_frame pf_frame;

static int hook(struct rt_frame *f)
{
    if (f->vector == 14 && map_va && (read_cr2() & ~0xFFFu) == map_va) {
        pf_count++;
        pf_frame = *f;
        pt1[(map_va >> 12) & 1023] = FRAME((map_va >> 12) & 1023) | 7;
        invlpg(map_va);
        map_va = 0;
        return 1;
    }
    return 0;
}

static struct sregs s;
static uint32_t run(uint32_t (*fn)(uint32_t), uint32_t esi, uint32_t edi, uint32_t ecx, uint32_t eax, uint32_t flags)
{
    s.esi = esi; s.edi = edi; s.ecx = ecx; s.eax = eax; s.flags = flags | 2;
    return st_try(fn, (uint32_t)&s);
}
static void fill(void)
{
    for (uint32_t i = 0; i < sizeof src; i++) {
        src[i] = (uint8_t)(i * 13 + 5);
        dst[i] = 0xEE;
    }
}
static int all(const uint8_t *p, uint32_t n, uint8_t v)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

int guest_main(void)
{
    puts("x86v-guest: strings\n");
    st_init();
    st_guest_hook = hook;
    tap_plan(25);
    uint32_t r, S = (uint32_t)src, Dd = (uint32_t)dst;

    fill();
    r = run(rep_movsb, S + 1, Dd + 3, 13, 0, 0);
    tap_ok(r == ST_NOFAULT && memcmp(dst + 3, src + 1, 13) == 0 && dst[2] == 0xEE && dst[16] == 0xEE &&
           s.o_esi == S + 14 && s.o_edi == Dd + 16 && s.o_ecx == 0, "rep movsb, DF=0: copies, ESI/EDI += 13, ECX=0");
    fill();
    r = run(rep_movsw, S, Dd, 7, 0, 0);
    tap_ok(r == ST_NOFAULT && memcmp(dst, src, 14) == 0 && dst[14] == 0xEE && s.o_esi == S + 14 && s.o_ecx == 0,
           "rep movsw, DF=0");
    fill();
    r = run(rep_movsd, S, Dd, 5, 0, 0);
    tap_ok(r == ST_NOFAULT && memcmp(dst, src, 20) == 0 && dst[20] == 0xEE && s.o_edi == Dd + 20, "rep movsd, DF=0");
    fill();
    r = run(rep_movsb, S + 20, Dd + 20, 10, 0, EFL_DF);
    tap_ok(r == ST_NOFAULT && memcmp(dst + 11, src + 11, 10) == 0 && dst[10] == 0xEE && dst[21] == 0xEE &&
           s.o_esi == S + 10 && s.o_edi == Dd + 10 && (s.o_flags & EFL_DF), "rep movsb, DF=1: copies downwards");
    fill();
    r = run(rep_movsd, S + 16, Dd + 16, 3, 0, EFL_DF);
    tap_ok(r == ST_NOFAULT && memcmp(dst + 8, src + 8, 12) == 0 && dst[7] == 0xEE && dst[20] == 0xEE &&
           s.o_esi == S + 4, "rep movsd, DF=1");
    fill();
    r = run(rep_stosb, 0, Dd + 1, 9, 0x12345678u, 0);
    tap_ok(r == ST_NOFAULT && all(dst + 1, 9, 0x78) && dst[0] == 0xEE && dst[10] == 0xEE && s.o_edi == Dd + 10,
           "rep stosb");
    fill();
    r = run(rep_stosw, 0, Dd + 10, 3, 0x12345678u, EFL_DF);
    tap_ok(r == ST_NOFAULT && *(uint16_t *)(dst + 6) == 0x5678 && *(uint16_t *)(dst + 10) == 0x5678 &&
           dst[5] == 0xEE && dst[12] == 0xEE && s.o_edi == Dd + 4, "rep stosw, DF=1");
    fill();
    r = run(rep_stosd, 0, Dd, 4, 0xCAFEBABEu, 0);
    tap_ok(r == ST_NOFAULT && *(uint32_t *)(dst + 12) == 0xCAFEBABEu && dst[16] == 0xEE && s.o_ecx == 0, "rep stosd");
    r = run(lodsb1, S + 7, 0, 0, 0xFFFFFF00u, EFL_DF);
    tap_ok(r == ST_NOFAULT && s.o_eax == (0xFFFFFF00u | src[7]) && s.o_esi == S + 6, "lodsb, DF=1: AL only, ESI-1");
    r = run(rep_lodsd, S, 0, 3, 0, 0);
    tap_ok(r == ST_NOFAULT && s.o_eax == *(uint32_t *)(src + 8) && s.o_esi == S + 12 && s.o_ecx == 0,
           "rep lodsd: EAX holds the last dword");

    /* compare / scan */
    fill();
    memcpy(dst, src, 10);
    dst[5] = (uint8_t)(src[5] + 1);
    r = run(repe_cmpsb, S, Dd, 10, 0, 0);
    tap_ok(r == ST_NOFAULT && s.o_ecx == 4 && s.o_esi == S + 6 && s.o_edi == Dd + 6 &&
           (s.o_flags & (EFL_ZF | EFL_CF)) == EFL_CF, "repe cmpsb stops after the first difference (ECX, ESI, EDI, ZF=0, CF)");
    dst[5] = src[5];
    r = run(repe_cmpsb, S, Dd, 10, 0, 0);
    tap_ok(r == ST_NOFAULT && s.o_ecx == 0 && s.o_esi == S + 10 && (s.o_flags & EFL_ZF), "repe cmpsb, equal: ECX=0, ZF=1");
    fill();
    *(uint32_t *)(dst + 12) = *(uint32_t *)(src + 12);
    r = run(repne_cmpsd, S + 4, Dd + 4, 6, 0, 0);
    tap_ok(r == ST_NOFAULT && s.o_ecx == 3 && s.o_esi == S + 16 && (s.o_flags & EFL_ZF), "repne cmpsd stops after the first equal dword");
    memset(dst, 'a', 20);
    dst[7] = 'x';
    r = run(repne_scasb, 0, Dd, 20, 'x', 0);
    tap_ok(r == ST_NOFAULT && s.o_ecx == 12 && s.o_edi == Dd + 8 && (s.o_flags & EFL_ZF), "repne scasb finds the byte: ECX, EDI past it, ZF=1");
    r = run(repne_scasb, 0, Dd, 7, 'x', 0);
    tap_ok(r == ST_NOFAULT && s.o_ecx == 0 && s.o_edi == Dd + 7 && !(s.o_flags & EFL_ZF), "repne scasb, not found: ECX=0, ZF=0");
    r = run(repe_scasw, 0, Dd, 10, 0x6161, 0);
    tap_ok(r == ST_NOFAULT && s.o_ecx == 6 && s.o_edi == Dd + 8 && !(s.o_flags & EFL_ZF), "repe scasw stops at the first different word");

    /* ECX = 0 */
    fill();
    r = run(rep_movsb, S, Dd, 0, 0, 0);
    uint32_t r2 = run(repe_cmpsb, S, Dd, 0, 0, EFL_ZF | EFL_CF);
    tap_ok(r == ST_NOFAULT && r2 == ST_NOFAULT && dst[0] == 0xEE && s.o_esi == S && s.o_edi == Dd &&
           (s.o_flags & (EFL_ZF | EFL_CF)) == (EFL_ZF | EFL_CF), "ECX=0: rep movsb does nothing, repe cmpsb leaves flags alone");
    r = run(repne_scasb, 0, Dd, 0, 0xEE, 0);
    tap_ok(r == ST_NOFAULT && s.o_edi == Dd && !(s.o_flags & EFL_ZF), "ECX=0: repne scasb does not compare");

    /* segment override on the source */
    st_gdt[S_FSB / 8] = st_seg(S + 0x100, 0xFFFFF, ACC_P | ACC_S | ACC_WRITE, FL_G | FL_DB);
    __asm__ volatile("movw %w0, %%fs" :: "r"(S_FSB));
    fill();
    r = run(rep_movsb_fs, 5, Dd, 8, 0, 0);
    tap_ok(r == ST_NOFAULT && memcmp(dst, src + 0x105, 8) == 0 && s.o_esi == 13, "rep movsb fs:(esi): source uses the fs base");

    /* faults in the middle of a REP string instruction */
    for (uint32_t i = 0; i < 1024; i++)
        pt0[i] = (i << 12) | 7;
    pd[0] = (uint32_t)pt0 | 7;
    pd[1] = (uint32_t)pt1 | 7;
    pt1[0] = FRAME(0) | 7;
    pt1[2] = FRAME(2) | 7;
    write_cr3((uint32_t)pd);
    write_cr0(read_cr0() | 0x80000000u | (1u << 16));
    fill();
    map_va = VA(1);
    r = run(rep_movsd, S, VA(0), 2048, 0, 0);
    int same = 1;
    for (uint32_t i = 0; i < 8192; i++)
        same &= *(volatile uint8_t *)(VA(0) + i) == src[i];
    tap_ok(r == ST_NOFAULT && pf_count == 1 && pf_frame.eip == (uint32_t)rep_movsd_at && pf_frame.ecx == 1024 &&
           pf_frame.esi == S + 4096 && pf_frame.edi == VA(1) && rt_last_trap.error == 2,
           "rep movsd faulting on the destination: #PF at the instruction with ECX/ESI/EDI of the faulting element");
    tap_ok(same && s.o_ecx == 0 && s.o_esi == S + 8192 && s.o_edi == VA(2), "rep movsd resumed after the handler mapped the page: copy complete");
    map_va = VA(3);
    r = run(rep_movsb, VA(2) + 0xF00, Dd, 0x200, 0, 0);
    tap_ok(r == ST_NOFAULT && pf_count == 2 && pf_frame.ecx == 0x100 && pf_frame.esi == VA(3) &&
           pf_frame.edi == Dd + 0x100 && rt_last_trap.error == 0 && s.o_ecx == 0 &&
           memcmp(dst, (const void *)(VA(2) + 0xF00), 0x200) == 0, "rep movsb faulting on the source: resumes at the faulting byte");
    map_va = VA(5);
    r = run(rep_stosd, 0, VA(5) + 0x10, 5, 0x0BADF00Du, EFL_DF);
    tap_ok(r == ST_NOFAULT && pf_count == 3 && pf_frame.ecx == 5 && pf_frame.edi == VA(5) + 0x10 &&
           s.o_edi == VA(5) - 4 && s.o_ecx == 0 && *(volatile uint32_t *)VA(5) == 0x0BADF00Du, "rep stosd, DF=1, faulting on the first element: ECX unchanged at the fault");

    /* 16-bit addressing */
    for (uint32_t i = 0; i < 65536; i++)
        buf64[i] = (uint8_t)(i ^ (i >> 8));
    st_gdt[S_B64 / 8] = st_seg((uint32_t)buf64, 0xFFFF, ACC_P | ACC_S | ACC_WRITE, FL_DB);
    r = st_try(a16_fwd, 0);
    tap_ok(r == ST_NOFAULT && buf64[0x100] == buf64[0xFFFE] && buf64[0x101] == buf64[0xFFFF] &&
           buf64[0x102] == 0x00 && buf64[0x103] == 0x01 && a16_out[0] == 0x12340002u && a16_out[1] == 0x56780104u &&
           a16_out[2] == 0xABCD0000u, "addr16 rep movsb: SI wraps 0xffff -> 0, only SI/DI/CX change");
    r = st_try(a16_back, 0);
    tap_ok(r == ST_NOFAULT && buf64[0x201] == 0x01 && buf64[0x200] == 0x00 && buf64[0x1FF] == buf64[0xFFFF] &&
           a16_out[0] == 0x1234FFFEu && a16_out[1] == 0x567801FEu && a16_out[2] == 0xABCD0000u,
           "addr16 rep movsb, DF=1: SI wraps 0 -> 0xffff");

    puts("# strings done\n");
    return tap_exit_code();
}
