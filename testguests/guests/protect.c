/* protect: segment-register loads and protection checks that QEMU TCG
 * implements like the SDM (Vol. 3A ch. 3 and 5; instruction pages in Vol. 2):
 * MOV/POP/LxS to DS/ES/FS/GS/SS with null, out-of-range, wrong-type,
 * not-present and privilege-violating selectors (#GP/#NP/#SS with the
 * selector as error code), LDTs (LLDT/SLDT, TI bit), ARPL, LAR/LSL/VERR/VERW
 * on good and bad selectors, segment bases and the accessed bit.
 * Segment limit/type checks on data accesses are in seglimit (QEMU skips them). */
#include "systest.h"

/* GDT slots used here (selector = slot * 8). */
#define S_XONLY   0x30   /* code, execute-only, DPL0 */
#define S_RCODE   0x38   /* code, readable, DPL0 */
#define S_RODATA  0x40   /* data, read-only, DPL0 */
#define S_NPDATA  0x48   /* data, writable, not present */
#define S_DATA3   0x50   /* data, writable, DPL3 */
#define S_CONF    0x58   /* code, conforming readable, DPL0 */
#define S_LDT     0x60   /* LDT descriptor */
#define S_BASED   0x68   /* data, base = based_buf, limit 0xFFF */
#define S_CGATE   0x70   /* call gate, DPL3 */
#define S_IGATE   0x78   /* interrupt gate in the GDT (invalid for LAR) */
#define S_DATA1   0x80   /* data, writable, DPL1 */
#define S_PAGEG   0x88   /* data, limit 0x12, G=1 */
#define S_4G      0x90   /* data, limit 0xFFFFF, G=1 */
#define S_LARCODE 0x98   /* readable code, never loaded: LAR sees A=0 */
#define S_LARDATA 0xA0   /* data DPL0 byte-granular, never loaded */
#define S_ACCTEST 0xA8   /* read-only data used for the accessed-bit test */
#define S_RCODE3  0xB0   /* non-conforming readable code DPL0 (ring-3 tests) */

static uint64_t ldt[4] __attribute__((aligned(8)));
static uint32_t based_buf[1024] __attribute__((aligned(16)));
static uint32_t ldt_buf[16] __attribute__((aligned(16)));

uint32_t out_val, pre_esp;
struct __attribute__((packed)) farptr { uint32_t off; uint16_t sel; };
struct farptr fp_in;

uint32_t ld_ds(uint32_t), ld_es(uint32_t), ld_fs(uint32_t), ld_gs(uint32_t), ld_ss(uint32_t);
uint32_t fs_read4(uint32_t), ds_read0(uint32_t);
uint32_t do_lldt(uint32_t), do_sldt(uint32_t);
uint32_t do_arpl(uint32_t), do_lar(uint32_t), do_lsl(uint32_t), do_verr(uint32_t), do_verw(uint32_t);
uint32_t do_lds(uint32_t), do_les(uint32_t), do_lfs(uint32_t), do_lgs(uint32_t), do_lss(uint32_t);
uint32_t do_movcs(uint32_t), do_popds(uint32_t);
extern char lds_at[], lss_at[], popds_at[], movcs_at[];

__asm__(
    ".text\n"
    /* Load the selector in the argument, return the register's new value. */
    ".irp r, ds, es, fs, gs, ss\n"
    ".globl ld_\\r\n"
    "ld_\\r:\n"
    "  movl 4(%esp), %eax\n"
    "  movw %ax, %\\r\n"
    "  movw %\\r, %ax\n"
    "  movzwl %ax, %eax\n"
    "  ret\n"
    ".endr\n"
    ".globl fs_read4\n"
    "fs_read4:\n"
    "  movl 4(%esp), %eax\n"
    "  movw %ax, %fs\n"
    "  movl %fs:4, %eax\n"
    "  ret\n"
    ".globl ds_read0\n"
    "ds_read0:\n"
    "  movl 4(%esp), %eax\n"
    "  movw %ax, %ds\n"
    "  movl (0), %eax\n"
    "  ret\n"
    ".globl do_lldt\n"
    "do_lldt:\n"
    "  lldt 4(%esp)\n"
    "  xorl %eax, %eax\n"
    "  ret\n"
    ".globl do_sldt\n"
    "do_sldt:\n"
    "  movl $0xFFFFFFFF, %eax\n"
    "  sldt %ax\n"
    "  ret\n"
    /* arg = dest | src << 16; returns new dest | ZF << 16 */
    ".globl do_arpl\n"
    "do_arpl:\n"
    "  movl 4(%esp), %eax\n"
    "  movl %eax, %ecx\n"
    "  shrl $16, %ecx\n"
    "  arpl %cx, %ax\n"
    "  setz %cl\n"
    "  movzwl %ax, %eax\n"
    "  movzbl %cl, %ecx\n"
    "  shll $16, %ecx\n"
    "  orl %ecx, %eax\n"
    "  ret\n"
    /* LAR/LSL: result register preloaded with 0xDEADBEEF -> out_val; return ZF. */
    ".irp i, lar, lsl\n"
    ".globl do_\\i\n"
    "do_\\i:\n"
    "  movl 4(%esp), %ecx\n"
    "  movl $0xDEADBEEF, %eax\n"
    "  \\i %ecx, %eax\n"
    "  setz %cl\n"
    "  movl %eax, out_val\n"
    "  movzbl %cl, %eax\n"
    "  ret\n"
    ".endr\n"
    ".irp i, verr, verw\n"
    ".globl do_\\i\n"
    "do_\\i:\n"
    "  \\i 4(%esp)\n"
    "  setz %al\n"
    "  movzbl %al, %eax\n"
    "  ret\n"
    ".endr\n"
    /* LxS: far pointer in fp_in; offset register preloaded with 0x55555555;
     * returns the selector loaded, offset -> out_val. */
    ".irp r, ds, es, fs, gs\n"
    ".globl do_l\\r\n"
    "do_l\\r:\n"
    "  movl $0x55555555, %esi\n"
    "  .ifc \\r, ds\n"
    "  .globl lds_at\n"
    "lds_at:\n"
    "  .endif\n"
    "  l\\r fp_in, %esi\n"
    "  movw %\\r, %cx\n"
    "  movl $0x10, %eax\n"
    "  movw %ax, %ds\n"
    "  movl %esi, out_val\n"
    "  movzwl %cx, %eax\n"
    "  ret\n"
    ".endr\n"
    ".globl do_lss\n"
    "do_lss:\n"
    "  movl %esp, %edx\n"
    "  movl %esp, pre_esp\n"
    ".globl lss_at\n"
    "lss_at:\n"
    "  lss fp_in, %esp\n"
    "  movw %ss, %cx\n"
    "  movl %esp, %ebx\n"
    "  movl $0x10, %eax\n"
    "  movw %ax, %ss\n"
    "  movl %edx, %esp\n"
    "  movl %ebx, out_val\n"
    "  movzwl %cx, %eax\n"
    "  ret\n"
    ".globl do_movcs\n"
    "do_movcs:\n"
    "  movl $0x08, %eax\n"
    ".globl movcs_at\n"
    "movcs_at:\n"
    "  .byte 0x8e, 0xc8\n"          /* mov %ax, %cs */
    "  ret\n"
    ".globl do_popds\n"
    "do_popds:\n"
    "  pushl 4(%esp)\n"
    "  movl %esp, pre_esp\n"
    ".globl popds_at\n"
    "popds_at:\n"
    "  popl %ds\n"
    "  movw %ds, %ax\n"
    "  movzwl %ax, %eax\n"
    "  ret\n"
);

static int gp(uint32_t r, uint32_t err) { return st_faulted(r, 13, err); }
static int ok_val(uint32_t r, uint32_t v) { return r == ST_NOFAULT && st_result == v; }

static void setup(void)
{
    st_gdt[S_XONLY / 8]  = st_seg(0, 0xFFFFF, ACC_P | ACC_S | ACC_CODE, FL_G | FL_DB);
    st_gdt[S_RCODE / 8]  = st_seg(0, 0xFFFFF, ACC_P | ACC_S | ACC_CODE | ACC_READ, FL_G | FL_DB);
    st_gdt[S_RODATA / 8] = st_seg(0, 0xFFFFF, ACC_P | ACC_S, FL_G | FL_DB);
    st_gdt[S_NPDATA / 8] = st_seg(0, 0xFFFFF, ACC_S | ACC_WRITE, FL_G | FL_DB);
    st_gdt[S_DATA3 / 8]  = st_seg(0, 0xFFFFF, ACC_P | ACC_DPL(3) | ACC_S | ACC_WRITE, FL_G | FL_DB);
    st_gdt[S_CONF / 8]   = st_seg(0, 0xFFFFF, ACC_P | ACC_S | ACC_CODE | ACC_CONF | ACC_READ, FL_G | FL_DB);
    st_gdt[S_LDT / 8]    = st_seg((uint32_t)ldt, sizeof ldt - 1, ACC_P | SYS_LDT, 0);
    st_gdt[S_BASED / 8]  = st_seg((uint32_t)based_buf, 0xFFF, ACC_P | ACC_S | ACC_WRITE, FL_DB);
    st_gdt[S_CGATE / 8]  = st_gate(SEL_KCODE, 0x00005678, SYS_CALLGATE, 3, 1, 0);
    st_gdt[S_IGATE / 8]  = st_gate(SEL_KCODE, 0x12345678, SYS_INTGATE, 0, 1, 0);
    st_gdt[S_DATA1 / 8]  = st_seg(0, 0xFFFFF, ACC_P | ACC_DPL(1) | ACC_S | ACC_WRITE, FL_G | FL_DB);
    st_gdt[S_PAGEG / 8]  = st_seg(0, 0x12, ACC_P | ACC_S | ACC_WRITE, FL_G | FL_DB);
    st_gdt[S_4G / 8]     = st_seg(0x1000, 0xFFFFF, ACC_P | ACC_S | ACC_WRITE, FL_G | FL_DB);
    st_gdt[S_LARCODE / 8] = st_seg(0, 0xFFFFF, ACC_P | ACC_S | ACC_CODE | ACC_READ, FL_G | FL_DB);
    st_gdt[S_LARDATA / 8] = st_seg(0x2000, 0x1234, ACC_P | ACC_S | ACC_WRITE, 0);
    st_gdt[S_ACCTEST / 8] = st_seg(0, 0xFFFFF, ACC_P | ACC_S, FL_G | FL_DB);
    st_gdt[S_RCODE3 / 8] = st_seg(0, 0xFFFFF, ACC_P | ACC_S | ACC_CODE | ACC_READ, FL_G | FL_DB);

    ldt[0] = 0;
    ldt[1] = st_seg((uint32_t)ldt_buf, 0x3F, ACC_P | ACC_S | ACC_WRITE, FL_DB);              /* 0x0C */
    ldt[2] = st_seg(0, 0xFFFFF, ACC_S | ACC_WRITE, FL_G | FL_DB);                             /* 0x14, not present */
    ldt[3] = st_seg(0, 0xFFFFF, ACC_P | ACC_DPL(3) | ACC_S | ACC_WRITE, FL_G | FL_DB);         /* 0x1C */
    for (int i = 0; i < 1024; i++)
        based_buf[i] = 0xB0000000u + (uint32_t)i;
    for (int i = 0; i < 16; i++)
        ldt_buf[i] = 0x1D700000u + (uint32_t)i;
}

int guest_main(void)
{
    puts("x86v-guest: protect\n");
    st_init();
    setup();
    tap_plan(68);
    uint32_t r;

    /* --- MOV Sreg at CPL0 --- */
    tap_ok(ok_val(st_try(ld_ds, 0), 0), "mov ds, null selector 0: no fault");
    tap_ok(ok_val(st_try(ld_es, 3), 3), "mov es, null selector with RPL 3: no fault");
    tap_ok(gp(st_try(ld_ss, 0), 0), "mov ss, null: #GP(0)");
    tap_ok(gp(st_try(ld_ds, 0x1000), 0x1000), "mov ds, index past GDT limit: #GP(sel)");
    tap_ok(gp(st_try(ld_fs, 0x0183), 0x0180), "mov fs, index = limit+1 with RPL 3: #GP(sel & ~3)");
    tap_ok(gp(st_try(ld_ds, S_XONLY), S_XONLY), "mov ds, execute-only code: #GP(sel)");
    tap_ok(ok_val(st_try(ld_ds, S_RCODE), S_RCODE), "mov ds, readable code: no fault");
    tap_ok(gp(st_try(ld_es, SEL_TSS), SEL_TSS), "mov es, TSS descriptor: #GP(sel)");
    tap_ok(gp(st_try(ld_gs, S_LDT), S_LDT), "mov gs, LDT descriptor: #GP(sel)");
    tap_ok(gp(st_try(ld_ds, S_CGATE), S_CGATE), "mov ds, call gate: #GP(sel)");
    tap_ok(st_faulted(st_try(ld_fs, S_NPDATA), 11, S_NPDATA), "mov fs, not-present data: #NP(sel)");
    tap_ok(ok_val(st_try(ld_gs, S_RODATA), S_RODATA), "mov gs, read-only data: no fault");
    tap_ok(gp(st_try(ld_ss, S_RODATA), S_RODATA), "mov ss, read-only data: #GP(sel)");
    tap_ok(gp(st_try(ld_ss, S_RCODE), S_RCODE), "mov ss, readable code: #GP(sel)");
    tap_ok(st_faulted(st_try(ld_ss, S_NPDATA), 12, S_NPDATA), "mov ss, not-present data: #SS(sel)");
    tap_ok(gp(st_try(ld_ss, SEL_KDATA | 1), SEL_KDATA), "mov ss, RPL 1 != CPL 0: #GP(sel)");
    tap_ok(gp(st_try(ld_ss, S_DATA3), S_DATA3), "mov ss, DPL 3 != CPL 0: #GP(sel)");
    tap_ok(ok_val(st_try(ld_ss, SEL_KDATA), SEL_KDATA), "mov ss, flat ring-0 data: no fault");
    tap_ok(gp(st_try(ld_ds, SEL_KDATA | 3), SEL_KDATA), "mov ds, DPL 0 data with RPL 3: #GP(sel)");
    tap_ok(ok_val(st_try(ld_ds, S_DATA1 | 1), S_DATA1 | 1), "mov ds, DPL 1 data with RPL 1 at CPL 0: no fault");
    tap_ok(gp(st_try(ld_es, S_DATA1 | 2), S_DATA1), "mov es, DPL 1 data with RPL 2: #GP(sel)");
    tap_ok(ok_val(st_try(ld_ds, S_CONF | 3), S_CONF | 3), "mov ds, conforming code with RPL 3 at CPL 0: no fault");

    /* accessed bit */
    int a_before = (int)((st_gdt[S_ACCTEST / 8] >> 40) & 1);
    r = st_try(ld_gs, S_ACCTEST);
    int a_after = (int)((st_gdt[S_ACCTEST / 8] >> 40) & 1);
    tap_ok(r == ST_NOFAULT && a_before == 0 && a_after == 1, "loading a segment sets its descriptor's accessed bit");

    /* --- at CPL3 --- */
    tap_ok(gp(st_try_user(ld_ds, SEL_KDATA), SEL_KDATA), "CPL3: mov ds, DPL 0 data: #GP(sel)");
    tap_ok(ok_val(st_try_user(ld_ds, S_DATA3 | 3), S_DATA3 | 3), "CPL3: mov ds, DPL 3 data: no fault");
    tap_ok(ok_val(st_try_user(ld_es, S_CONF | 3), S_CONF | 3), "CPL3: mov es, conforming readable code DPL 0: no fault");
    tap_ok(gp(st_try_user(ld_es, S_RCODE3 | 3), S_RCODE3), "CPL3: mov es, non-conforming readable code DPL 0: #GP(sel)");
    tap_ok(gp(st_try_user(ld_ss, SEL_KDATA | 3), SEL_KDATA), "CPL3: mov ss, DPL 0 data RPL 3: #GP(sel)");
    tap_ok(ok_val(st_try_user(ld_ss, S_DATA3 | 3), S_DATA3 | 3), "CPL3: mov ss, DPL 3 data: no fault");

    /* --- bases and the LDT --- */
    tap_ok(ok_val(st_try(fs_read4, S_BASED), 0xB0000001u), "fs:4 reads base+4 of a based segment");
    tap_ok(ok_val(st_try(do_lldt, S_LDT), 0) && ok_val(st_try(do_sldt, 0), 0xFFFF0000u | S_LDT),
           "lldt loads the LDT; sldt ax returns its selector");
    tap_ok(ok_val(st_try(ds_read0, 0x0C), 0x1D700000u), "mov ds, LDT selector (TI=1): uses the LDT descriptor's base");
    tap_ok(st_faulted(st_try(ld_fs, 0x14), 11, 0x14), "mov fs, not-present LDT entry: #NP(sel) with TI set");
    tap_ok(gp(st_try(ld_fs, 0x24), 0x24), "mov fs, LDT index past the LDT limit: #GP(sel)");
    tap_ok(ok_val(st_try_user(ld_gs, 0x1F), 0x1F), "CPL3: mov gs, DPL 3 LDT data: no fault");
    tap_ok(gp(st_try(do_lldt, SEL_TSS), SEL_TSS), "lldt with a TSS selector: #GP(sel)");
    tap_ok(gp(st_try(do_lldt, 0x0C), 0x0C), "lldt with a TI=1 selector: #GP(sel)");
    tap_ok(gp(st_try_user(do_lldt, S_LDT), 0), "CPL3: lldt: #GP(0)");
    r = st_try(do_lldt, 0);
    tap_ok(r == ST_NOFAULT && gp(st_try(ld_ds, 0x0C), 0x0C), "lldt null, then an LDT selector: #GP(sel)");

    /* --- ARPL --- */
    r = st_try(do_arpl, 0x10 | (0x13u << 16));
    tap_ok(ok_val(r, 0x10013), "arpl raises dest RPL 0 to src RPL 3, ZF=1");
    r = st_try(do_arpl, 0x1B | (0x10u << 16));
    tap_ok(ok_val(r, 0x1B), "arpl leaves dest RPL 3 >= src RPL 0 alone, ZF=0");

    /* --- LAR --- */
    tap_ok(ok_val(st_try(do_lar, S_LARCODE), 1) && (out_val & 0x00F0FF00u) == 0x00C09A00u,
           "lar readable code: ZF=1, access rights 0x00c09a00");
    tap_ok(ok_val(st_try(do_lar, S_LARDATA), 1) && (out_val & 0x00F0FF00u) == 0x00009200u,
           "lar byte-granular data: ZF=1, 0x00009200");
    tap_ok(ok_val(st_try(do_lar, SEL_TSS), 1) && (out_val & 0x00F0FF00u) == 0x00008B00u, "lar busy TSS: ZF=1, 0x00008b00");
    tap_ok(ok_val(st_try(do_lar, S_LDT), 1) && (out_val & 0x00F0FF00u) == 0x00008200u, "lar LDT: ZF=1, 0x00008200");
    tap_ok(ok_val(st_try(do_lar, S_CGATE), 1) && (out_val & 0x00F0FF00u) == 0x0000EC00u, "lar call gate: ZF=1, 0x0000ec00");
    tap_ok(ok_val(st_try(do_lar, S_IGATE), 0) && out_val == 0xDEADBEEFu, "lar interrupt gate: ZF=0, dest unchanged");
    tap_ok(ok_val(st_try(do_lar, 0), 0) && out_val == 0xDEADBEEFu, "lar null: ZF=0, dest unchanged");
    tap_ok(ok_val(st_try(do_lar, 0x1000), 0) && out_val == 0xDEADBEEFu, "lar past GDT limit: ZF=0");
    tap_ok(ok_val(st_try_user(do_lar, SEL_KDATA | 3), 0), "CPL3: lar DPL 0 data: ZF=0");
    tap_ok(ok_val(st_try_user(do_lar, S_CONF | 3), 1), "CPL3: lar DPL 0 conforming code: ZF=1");

    /* --- LSL --- */
    tap_ok(ok_val(st_try(do_lsl, S_BASED), 1) && out_val == 0xFFF, "lsl byte-granular: 0xfff");
    tap_ok(ok_val(st_try(do_lsl, S_PAGEG), 1) && out_val == 0x12FFF, "lsl page-granular limit 0x12: 0x12fff");
    tap_ok(ok_val(st_try(do_lsl, S_4G), 1) && out_val == 0xFFFFFFFFu, "lsl limit 0xfffff G=1: 0xffffffff");
    tap_ok(ok_val(st_try(do_lsl, SEL_TSS), 1) && out_val == sizeof(struct st_tss) - 1, "lsl TSS: its byte limit");
    tap_ok(ok_val(st_try(do_lsl, S_CGATE), 0) && out_val == 0xDEADBEEFu, "lsl call gate: ZF=0, dest unchanged");

    /* --- VERR / VERW --- */
    tap_ok(ok_val(st_try(do_verr, S_XONLY), 0) && ok_val(st_try(do_verr, S_RCODE), 1) &&
           ok_val(st_try(do_verr, S_RODATA), 1), "verr: execute-only 0, readable code 1, data 1");
    tap_ok(ok_val(st_try(do_verr, SEL_TSS), 0) && ok_val(st_try(do_verr, 0), 0) &&
           ok_val(st_try(do_verr, 0x1000), 0), "verr: TSS 0, null 0, past limit 0");
    tap_ok(ok_val(st_try(do_verw, SEL_KDATA), 1) && ok_val(st_try(do_verw, S_RODATA), 0) &&
           ok_val(st_try(do_verw, S_RCODE), 0), "verw: writable 1, read-only 0, code 0");
    tap_ok(ok_val(st_try_user(do_verw, SEL_KDATA | 3), 0) && ok_val(st_try_user(do_verw, SEL_UDATA), 1),
           "CPL3 verw: DPL 0 data 0, DPL 3 data 1");

    /* --- LDS/LES/LFS/LGS/LSS --- */
    fp_in.off = 0x12345678u; fp_in.sel = SEL_KDATA;
    tap_ok(ok_val(st_try(do_lds, 0), SEL_KDATA) && out_val == 0x12345678u, "lds loads ds and the offset");
    fp_in.off = 0x9ABCDEF0u; fp_in.sel = S_DATA1 | 1;
    tap_ok(ok_val(st_try(do_les, 0), S_DATA1 | 1) && out_val == 0x9ABCDEF0u &&
           ok_val(st_try(do_lfs, 0), S_DATA1 | 1) && ok_val(st_try(do_lgs, 0), S_DATA1 | 1),
           "les/lfs/lgs load the segment and the offset");
    fp_in.off = 0x00010000u; fp_in.sel = SEL_KDATA;
    tap_ok(ok_val(st_try(do_lss, 0), SEL_KDATA) && out_val == 0x00010000u, "lss loads ss and esp");
    fp_in.off = 0x00010000u; fp_in.sel = S_RODATA;
    r = st_try(do_lss, 0);
    tap_ok(gp(r, S_RODATA) && st_fault.eip == (uint32_t)lss_at && st_fault_esp == pre_esp,
           "lss read-only data: #GP(sel) at lss, esp unchanged");
    fp_in.off = 0x11111111u; fp_in.sel = S_NPDATA;
    r = st_try(do_lds, 0);
    tap_ok(st_faulted(r, 11, S_NPDATA) && st_fault.eip == (uint32_t)lds_at && st_fault.esi == 0x55555555u,
           "lds not-present: #NP(sel) at lds, offset register unchanged");

    /* --- MOV CS, POP DS --- */
    r = st_try(do_movcs, 0);
    tap_ok(r == 6 && st_fault.eip == (uint32_t)movcs_at, "mov cs, ax (8e c8): #UD");
    r = st_try(do_popds, S_NPDATA);
    tap_ok(st_faulted(r, 11, S_NPDATA) && st_fault.eip == (uint32_t)popds_at && st_fault_esp == pre_esp,
           "pop ds, not-present: #NP(sel), esp not incremented");
    r = st_try(do_popds, SEL_UDATA);
    tap_ok(ok_val(r, SEL_UDATA), "pop ds, DPL 3 data at CPL 0: no fault");

    puts("# protect done\n");
    return tap_exit_code();
}
