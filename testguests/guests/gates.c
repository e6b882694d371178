/* gates: privilege transfers (SDM Vol. 3A 5.8 "Privilege level checking when
 * transferring program control between code segments", 6.12 "Exception and
 * interrupt handling"; Vol. 2 CALL/RET/JMP/INT n/IRET):
 * INT n through interrupt and trap gates (IF), gate DPL checks, not-present
 * gates, ring 3 -> ring 0 with the TSS stack switch and the pushed SS:ESP,
 * IRET to the same and to an outer ring (data segment nulling), call gates
 * with parameter copying, far RET to an outer ring and with imm16,
 * conforming code, direct far CALL/JMP. */
#include "systest.h"

#define G_CG3     0x30   /* call gate DPL3 -> cg_target, 2 params */
#define G_CG0     0x38   /* call gate DPL0 -> cg0_target, 2 params */
#define G_CGNP    0x40   /* call gate DPL3, not present */
#define S_KCODE2  0x48   /* second ring-0 code segment, flat */
#define S_CONF0   0x50   /* conforming code, DPL0 */
#define S_CONF3   0x58   /* conforming code, DPL3 */
#define S_KSTACK  0x68   /* second ring-0 data segment, used as TSS.SS0 */

#define V_INTG  0x40   /* interrupt gate DPL3 */
#define V_TRAPG 0x41   /* trap gate DPL3 */
#define V_DPL0  0x42   /* interrupt gate DPL0 */
#define V_NP    0x43   /* not present, DPL3 */

uint32_t g_es, pre_esp, g_esp, g_ss, g_cs, g_diff, g_stack[6];
static volatile uint32_t h_if, h_count, h_eip_slot;
static struct rt_frame h_frame;

uint32_t int40(uint32_t), int41(uint32_t), sti_int40(uint32_t), sti_int41(uint32_t), int42(uint32_t), int43(uint32_t);
uint32_t iret_same(uint32_t), iret_null(uint32_t), cg_user(uint32_t), cg_call(uint32_t);
uint32_t cg0_call(uint32_t), farcall_direct(uint32_t), farjmp_direct(uint32_t), lret_imm(uint32_t);
uint32_t conf_call(uint32_t), conf_jmp(uint32_t), conf3_call(uint32_t), ncall3(uint32_t);
uint32_t popf3(uint32_t), iret3(uint32_t);
static uint8_t alt_stack[4096] __attribute__((aligned(16)));
static volatile uint32_t h_ss;
void cg_target(void), cg0_target(void), far_target(void), lret_target(void), conf_target(void);
extern char int40_after[], int40u_after[], int42_at[], cg_ret[], cg0_ret[];

__asm__(
    ".text\n"
    ".globl int40, int41, sti_int40, sti_int41, int42, int43, int40_after, int42_at\n"
    "int40:\n  movl %esp, pre_esp\n  int $0x40\nint40_after:\n  movw %cs, %ax\n  movzwl %ax, %eax\n  ret\n"
    "int41:\n  movl %esp, pre_esp\n  int $0x41\n  movw %cs, %ax\n  movzwl %ax, %eax\n  ret\n"
    "sti_int40:\n  sti\n  int $0x40\n  pushfl\n  cli\n  popl %eax\n  ret\n"
    "sti_int41:\n  sti\n  int $0x41\n  pushfl\n  cli\n  popl %eax\n  ret\n"
    "int42:\nint42_at:\n  int $0x42\n  ret\n"
    "int43:\n  int $0x43\n  ret\n"
    /* IRET to the same ring with CF set in the popped EFLAGS: no SS:ESP popped. */
    ".globl iret_same\n"
    "iret_same:\n"
    "  movl %esp, pre_esp\n"
    "  pushfl\n  orl $1, (%esp)\n  pushl %cs\n  pushl $1f\n"
    "  iret\n"
    "1:\n  setc %al\n  movzbl %al, %eax\n"
    "  movl %esp, %ecx\n  subl pre_esp, %ecx\n  movl %ecx, g_diff\n  ret\n"
    /* IRET to ring 3 with FS = DPL0 data, GS = DPL3 data: FS is nulled. */
    ".globl iret_null\n"
    "iret_null:\n"
    "  movl $0x10, %eax\n  movw %ax, %fs\n"
    "  movl $0x23, %eax\n  movw %ax, %gs\n  movw %ax, %ds\n  movw %ax, %es\n"
    "  pushl $0x23\n  pushl $st_user_stack + 8192\n  pushfl\n  pushl $0x1B\n  pushl $1f\n"
    "  iret\n"
    "1:\n  movw %fs, %ax\n  movzwl %ax, %eax\n  movw %gs, %cx\n  movzwl %cx, %ecx\n"
    "  shll $16, %ecx\n  orl %ecx, %eax\n  movw %cs, %cx\n  movw %cx, g_cs\n"
    "  int $0x4F\n"
    /* CPL3: push two parameters, call through the DPL3 call gate. */
    ".globl cg_user, cg_ret\n"
    "cg_user:\n"
    "  movl %esp, pre_esp\n"
    "  pushl $0xAAAA1111\n  pushl $0xBBBB2222\n"
    "  lcall $0x33, $0\n"
    "cg_ret:\n"
    "  movl %esp, %ecx\n  subl pre_esp, %ecx\n  movl %ecx, g_diff\n"
    "  movw %es, %cx\n  movw %cx, g_es\n"
    "  movw %cs, %cx\n  movw %cx, g_cs\n"
    "  movw %fs, %ax\n  movzwl %ax, %eax\n  movw %gs, %cx\n  movzwl %cx, %ecx\n"
    "  shll $16, %ecx\n  orl %ecx, %eax\n  ret\n"
    /* Ring 0 via the gate: snapshot the new stack, set FS (DPL0) and GS
     * (DPL3), then lret $8 to ring 3 (pops the copied parameters). */
    ".globl cg_target\n"
    "cg_target:\n"
    "  movl %esp, g_esp\n"
    "  movw %ss, %ax\n  movzwl %ax, %eax\n  movl %eax, g_ss\n"
    "  movw %cs, %ax\n  movl %eax, g_cs\n"
    "  movl 0(%esp), %eax\n  movl %eax, g_stack\n"
    "  movl 4(%esp), %eax\n  movl %eax, g_stack+4\n"
    "  movl 8(%esp), %eax\n  movl %eax, g_stack+8\n"
    "  movl 12(%esp), %eax\n  movl %eax, g_stack+12\n"
    "  movl 16(%esp), %eax\n  movl %eax, g_stack+16\n"
    "  movl 20(%esp), %eax\n  movl %eax, g_stack+20\n"
    "  movl $0x10, %eax\n  movw %ax, %fs\n  movw %ax, %es\n"
    "  movl $0x23, %eax\n  movw %ax, %gs\n"
    "  lret $8\n"
    /* CPL3: call gates that must fault. */
    ".globl cg_call\n"
    "cg_call:\n  movl 4(%esp), %eax\n  movw %ax, cg_fp+4\n  lcall *cg_fp\n  ret\n"
    ".data\ncg_fp:\n  .long 0\n  .word 0\n.text\n"
    /* CPL0: through a call gate at the same privilege (no stack switch). */
    ".globl cg0_call, cg0_ret\n"
    "cg0_call:\n  movl %esp, pre_esp\n  lcall $0x38, $0\ncg0_ret:\n  ret\n"
    ".globl cg0_target\n"
    "cg0_target:\n"
    "  movl %esp, g_esp\n  movl 0(%esp), %eax\n  movl %eax, g_stack\n  movl 4(%esp), %eax\n  movl %eax, g_stack+4\n"
    "  movw %cs, %ax\n  movzwl %ax, %eax\n  lret\n"
    /* Direct far call / jump at the same privilege. */
    ".globl farcall_direct, far_target\n"
    "farcall_direct:\n  movl %esp, pre_esp\n  lcall $0x48, $far_target\n  ret\n"
    "far_target:\n  movl %esp, g_esp\n  movl 4(%esp), %ecx\n  movl %ecx, g_stack+4\n  movw %cs, %ax\n  movzwl %ax, %eax\n  lret\n"
    ".globl farjmp_direct\n"
    "farjmp_direct:\n  ljmp $0x48, $1f\n1:\n  movw %cs, %ax\n  movzwl %ax, %eax\n  ljmp $0x08, $2f\n2:\n"
    "  movw %cs, %cx\n  movw %cx, g_cs\n  ret\n"
    /* Far RET with imm16 at the same privilege. */
    ".globl lret_imm, lret_target\n"
    "lret_imm:\n  movl %esp, pre_esp\n  pushl $1\n  pushl $2\n  pushl $3\n  lcall $0x08, $lret_target\n"
    "  movl %esp, %eax\n  subl pre_esp, %eax\n  ret\n"
    "lret_target:\n  lret $12\n"
    /* CPL3: far call / jump to DPL0 conforming code: CPL stays 3. */
    ".globl conf_call, conf_target\n"
    "conf_call:\n  lcall $0x53, $conf_target\n  movw %cs, %cx\n  movw %cx, g_cs\n  ret\n"
    "conf_target:\n  movw %cs, %ax\n  movzwl %ax, %eax\n  lret\n"
    ".globl conf_jmp\n"
    "conf_jmp:\n  ljmp $0x53, $1f\n1:\n  movw %cs, %ax\n  movzwl %ax, %eax\n  ljmp $0x1B, $2f\n2:\n"
    "  movw %cs, %cx\n  movw %cx, g_cs\n  ret\n"
    /* CPL0: far call to DPL3 conforming code (DPL > CPL): #GP. */
    ".globl conf3_call\n"
    "conf3_call:\n  lcall $0x58, $conf_target\n  ret\n"
    /* CPL3: far call straight to DPL0 non-conforming code: #GP. */
    /* CPL3 (IOPL 0): try to flip IF, IOPL and CF with popf / iret; return the
     * EFLAGS bits that actually changed. */
    ".globl popf3, iret3\n"
    "popf3:\n  pushfl\n  popl %ecx\n  movl %ecx, %eax\n  xorl $0x3201, %eax\n  pushl %eax\n  popfl\n"
    "  pushfl\n  popl %eax\n  xorl %ecx, %eax\n  ret\n"
    "iret3:\n  pushfl\n  popl %ecx\n  movl %ecx, %eax\n  xorl $0x3201, %eax\n  pushl %eax\n  pushl %cs\n  pushl $1f\n"
    "  iret\n1:\n  pushfl\n  popl %eax\n  xorl %ecx, %eax\n  ret\n"
    ".globl ncall3\n"
    "ncall3:\n  lcall $0x0B, $conf_target\n  ret\n"
);

static int hook(struct rt_frame *f)
{
    if (f->vector == V_INTG || f->vector == V_TRAPG) {
        h_if = read_eflags() & EFL_IF;
        h_frame = *f;
        h_eip_slot = (uint32_t)&f->eip;
        uint16_t ss;
        __asm__ volatile("movw %%ss, %0" : "=r"(ss));
        h_ss = ss;
        h_count++;
        return 1;
    }
    return 0;
}

static int ok_val(uint32_t r, uint32_t v) { return r == ST_NOFAULT && st_result == v; }

int guest_main(void)
{
    puts("x86v-guest: gates\n");
    st_init();
    st_guest_hook = hook;
    st_idt[V_INTG]  = st_gate(SEL_KCODE, st_stub(V_INTG), SYS_INTGATE, 3, 1, 0);
    st_idt[V_TRAPG] = st_gate(SEL_KCODE, st_stub(V_TRAPG), SYS_TRAPGATE, 3, 1, 0);
    st_idt[V_DPL0]  = st_gate(SEL_KCODE, st_stub(V_DPL0), SYS_INTGATE, 0, 1, 0);
    st_idt[V_NP]    = st_gate(SEL_KCODE, st_stub(V_NP), SYS_INTGATE, 3, 0, 0);
    st_gdt[G_CG3 / 8]  = st_gate(SEL_KCODE, (uint32_t)cg_target, SYS_CALLGATE, 3, 1, 2);
    st_gdt[G_CG0 / 8]  = st_gate(SEL_KCODE, (uint32_t)cg0_target, SYS_CALLGATE, 0, 1, 2);
    st_gdt[G_CGNP / 8] = st_gate(SEL_KCODE, (uint32_t)cg_target, SYS_CALLGATE, 3, 0, 2);
    st_gdt[S_KCODE2 / 8] = st_seg(0, 0xFFFFF, ACC_P | ACC_S | ACC_CODE | ACC_READ, FL_G | FL_DB);
    st_gdt[S_CONF0 / 8]  = st_seg(0, 0xFFFFF, ACC_P | ACC_S | ACC_CODE | ACC_CONF | ACC_READ, FL_G | FL_DB);
    st_gdt[S_CONF3 / 8]  = st_seg(0, 0xFFFFF, ACC_P | ACC_DPL(3) | ACC_S | ACC_CODE | ACC_CONF | ACC_READ, FL_G | FL_DB);
    st_gdt[S_KSTACK / 8] = st_seg(0, 0xFFFFF, ACC_P | ACC_S | ACC_WRITE, FL_G | FL_DB);
    tap_plan(25);
    uint32_t r;

    /* INT n at CPL0 */
    r = st_try(sti_int40, 0);
    tap_ok(r == ST_NOFAULT && h_count == 1 && h_if == 0 && (h_frame.eflags & EFL_IF) && (st_result & EFL_IF),
           "int through an interrupt gate clears IF (pushed EFLAGS has IF=1, IRET restores it)");
    r = st_try(sti_int41, 0);
    tap_ok(r == ST_NOFAULT && h_count == 2 && h_if != 0 && (h_frame.eflags & EFL_IF),
           "int through a trap gate leaves IF set");
    r = st_try(int40, 0);
    tap_ok(ok_val(r, SEL_KCODE) && h_frame.eip == (uint32_t)int40_after && h_frame.cs == SEL_KCODE &&
           h_eip_slot == pre_esp - 12, "int at CPL0: no stack switch, EIP after the int, frame right below ESP");
    r = st_try(int43, 0);
    tap_ok(st_faulted(r, 11, V_NP * 8 + 2), "int to a not-present gate: #NP(vector*8+2)");

    /* INT n from CPL3 */
    r = st_try_user(int40, 0);
    tap_ok(ok_val(r, SEL_UCODE) && h_count == 4 && h_frame.cs == SEL_UCODE && h_frame.eip == (uint32_t)int40_after,
           "CPL3 int through a DPL3 gate, IRET back to ring 3");
    tap_ok(h_frame.user_ss == SEL_UDATA && h_frame.user_esp == pre_esp && h_eip_slot == st_tss->esp0 - 20,
           "CPL3 int: stack switched to TSS SS0:ESP0, old SS:ESP pushed");
    uint32_t saved_ss0 = st_tss->ss0, saved_esp0 = st_tss->esp0;
    st_tss->ss0 = S_KSTACK;
    st_tss->esp0 = (uint32_t)alt_stack + sizeof alt_stack;
    r = st_try_user(int40, 0);
    st_tss->ss0 = saved_ss0;
    st_tss->esp0 = saved_esp0;
    tap_ok(ok_val(r, SEL_UCODE) && h_ss == S_KSTACK && h_eip_slot == (uint32_t)alt_stack + sizeof alt_stack - 20 &&
           h_frame.user_esp == pre_esp, "CPL3 int: the handler runs on whatever TSS.SS0:ESP0 say");
    r = st_try_user(int41, 0);
    tap_ok(ok_val(r, SEL_UCODE) && h_count == 6 && h_frame.user_esp == pre_esp, "CPL3 int through a DPL3 trap gate");
    r = st_try_user(int42, 0);
    tap_ok(st_faulted(r, 13, V_DPL0 * 8 + 2) && st_fault.eip == (uint32_t)int42_at && st_fault.cs == SEL_UCODE,
           "CPL3 int to a DPL0 gate: #GP(vector*8+2) at the int");
    r = st_try_user(int43, 0);
    tap_ok(st_faulted(r, 11, V_NP * 8 + 2), "CPL3 int to a not-present gate: #NP(vector*8+2)");

    /* IRET */
    r = st_try(iret_same, 0);
    tap_ok(ok_val(r, 1) && g_diff == 0, "iret to the same ring pops EIP/CS/EFLAGS only");
    g_cs = 0;
    r = st_try(iret_null, 0);
    tap_ok(ok_val(r, 0x00230000u) && (g_cs & 0xFFFF) == SEL_UCODE,
           "iret to ring 3: fs (DPL0 data) nulled, gs (DPL3) kept");

    /* call gates */
    g_cs = 0;
    g_es = 0xFFFF;
    r = st_try_user(cg_user, 0);
    tap_ok(r == ST_NOFAULT && g_ss == SEL_KDATA && g_esp == st_tss->esp0 - 24,
           "call gate CPL3 -> CPL0: new stack from TSS SS0:ESP0");
    tap_ok(g_stack[0] == (uint32_t)cg_ret && (g_stack[1] & 0xFFFF) == SEL_UCODE &&
           g_stack[2] == 0xBBBB2222u && g_stack[3] == 0xAAAA1111u &&
           g_stack[4] == pre_esp - 8 && (g_stack[5] & 0xFFFF) == SEL_UDATA,
           "call gate: 2 parameters copied, old SS:ESP and CS:EIP pushed");
    tap_ok(r == ST_NOFAULT && st_result == 0x00230000u && g_diff == 0 && (g_cs & 0xFFFF) == SEL_UCODE &&
           (g_es & 0xFFFF) == 0, "lret 8 to ring 3: parameters popped from both stacks, es/fs (DPL0) nulled, gs kept");
    r = st_try_user(cg_call, G_CG0 | 3);
    tap_ok(st_faulted(r, 13, G_CG0), "CPL3 call through a DPL0 call gate: #GP(gate selector)");
    r = st_try_user(cg_call, G_CGNP | 3);
    tap_ok(st_faulted(r, 11, G_CGNP), "CPL3 call through a not-present call gate: #NP(gate selector)");
    r = st_try(cg0_call, 0);
    tap_ok(ok_val(r, SEL_KCODE) && g_esp == pre_esp - 8 && g_stack[0] == (uint32_t)cg0_ret &&
           (g_stack[1] & 0xFFFF) == SEL_KCODE, "call gate at the same privilege: no stack switch, no parameters copied");

    /* direct far transfers */
    r = st_try(farcall_direct, 0);
    tap_ok(ok_val(r, S_KCODE2) && g_esp == pre_esp - 8 && (g_stack[1] & 0xFFFF) == SEL_KCODE,
           "direct far call: new CS loaded, old CS:EIP pushed; lret returns");
    g_cs = 0;
    r = st_try(farjmp_direct, 0);
    tap_ok(ok_val(r, S_KCODE2) && (g_cs & 0xFFFF) == SEL_KCODE, "direct far jmp there and back");
    r = st_try(lret_imm, 0);
    tap_ok(ok_val(r, 0), "lret 12 at the same privilege releases the 3 pushed parameters");

    /* conforming code */
    g_cs = 0;
    r = st_try_user(conf_call, 0);
    uint32_t c1 = st_result, cs1 = g_cs & 0xFFFF;
    g_cs = 0;
    uint32_t r2 = st_try_user(conf_jmp, 0);
    tap_ok(r == ST_NOFAULT && c1 == (S_CONF0 | 3) && cs1 == SEL_UCODE && ok_val(r2, S_CONF0 | 3) &&
           (g_cs & 0xFFFF) == SEL_UCODE, "CPL3 far call/jmp to DPL0 conforming code: runs at CPL3 (CS.RPL=3)");
    r = st_try(conf3_call, 0);
    uint32_t e1 = rt_last_trap.error;
    r2 = st_try_user(ncall3, 0);
    tap_ok(r == 13 && e1 == S_CONF3 && st_faulted(r2, 13, SEL_KCODE),
           "far call to DPL3 conforming code from CPL0, or to DPL0 non-conforming code from CPL3: #GP(sel)");

    /* EFLAGS privilege rules at CPL3 with IOPL 0 */
    tap_ok(ok_val(st_try_user(popf3, 0), EFL_CF), "CPL3 popf changes CF but not IF or IOPL");
    tap_ok(ok_val(st_try_user(iret3, 0), EFL_CF), "CPL3 iret to the same ring changes CF but not IF or IOPL");

    puts("# gates done\n");
    return tap_exit_code();
}
