/* except: exception delivery (SDM Vol. 3A 6.5 "Exception classifications",
 * 6.15 "Exception and interrupt reference", 6.13 error codes, 6.15 #DF table
 * 6-5, ch. 17 "Debug, branch profile, TSC and intel RDT features" for
 * single-step and DR0-DR7): fault vs trap EIP for #DE #UD #BP #OF #BR #GP #NP
 * #SS #NM #TS, INT3 vs INT 3, #DF for a contributory exception while
 * delivering a contributory one, benign+contributory handled serially,
 * single-step (TF set by POPF/IRET, cleared by POPF, DR6.BS), instruction
 * breakpoints (fault, RF) and data breakpoints (trap, DR6.Bn). */
#include "systest.h"

uint32_t pre_esp;
volatile uint32_t bp_counter, watch_var, watch_var2;
static volatile uint32_t ss_eips[16], ss_n, ss_dr6_all, ss_dr6_or;
static volatile uint32_t db_eip, db_dr6, db_count, bp_count, of_count;

uint32_t de0(uint32_t), de_ovf(uint32_t), ud(uint32_t), bp_cc(uint32_t), bp_cd03(uint32_t);
uint32_t into_of(uint32_t), into_nof(uint32_t), bound_out(uint32_t), bound_in(uint32_t), hlt3(uint32_t);
uint32_t fnop_fn(uint32_t), fwait_fn(uint32_t), iret_nt(uint32_t), ld_ss(uint32_t), ld_ds(uint32_t);
uint32_t ss_seq(uint32_t), ss_iret(uint32_t), ss_movss(uint32_t), bp_insn_fn(uint32_t), watch_fn(uint32_t), rw_fn(uint32_t);
extern char de0_at[], de_ovf_at[], ud_at[], bp_cc_after[], bp_cd03_after[], into_after[], bound_at[], hlt3_at[];
extern char fnop_at[], fwait_at[], iret_nt_at[];
extern char ss1[], ss2[], ss3[], ss4[], ss4b[], ss5[], ss6[], si1[], si2[], si3[], si4[], si5[], sm1[], sm2[], sm3[];
extern char bp_insn[], watch_st_after[], rw_ld_after[], bp_cc_at[];

__asm__(
    ".text\n"
    ".globl de0, de0_at, de_ovf, de_ovf_at, ud, ud_at, bp_cc, bp_cc_at, bp_cc_after, bp_cd03, bp_cd03_after\n"
    "de0:\n  xorl %ecx, %ecx\n  movl $1, %eax\n  xorl %edx, %edx\nde0_at:\n  divl %ecx\n  ret\n"
    "de_ovf:\n  movl $0x80000000, %eax\n  cltd\n  movl $-1, %ecx\nde_ovf_at:\n  idivl %ecx\n  ret\n"
    "ud:\nud_at:\n  ud2\n  ret\n"
    "bp_cc:\n  movl $0x11, %eax\nbp_cc_at:\n  int3\nbp_cc_after:\n  ret\n"
    "bp_cd03:\n  movl $0x22, %eax\n  int $3\nbp_cd03_after:\n  ret\n"
    ".globl into_of, into_nof, into_after, bound_out, bound_in, bound_at, hlt3, hlt3_at\n"
    "into_of:\n  movl $0x7FFFFFFF, %eax\n  addl $1, %eax\n  into\ninto_after:\n  movl $1, %eax\n  ret\n"
    "into_nof:\n  xorl %eax, %eax\n  addl $1, %eax\n  into\n  movl $2, %eax\n  ret\n"
    "bound_out:\n  movl $11, %eax\nbound_at:\n  boundl %eax, bounds\n  ret\n"
    "bound_in:\n  movl $10, %eax\n  boundl %eax, bounds\n  movl $3, %eax\n  ret\n"
    "hlt3:\nhlt3_at:\n  hlt\n  ret\n"
    ".globl fnop_fn, fnop_at, fwait_fn, fwait_at\n"
    "fnop_fn:\nfnop_at:\n  fnop\n  movl $4, %eax\n  ret\n"
    "fwait_fn:\nfwait_at:\n  fwait\n  movl $5, %eax\n  ret\n"
    /* IRET with NT=1: task return through TSS.link. */
    ".globl iret_nt, iret_nt_at\n"
    "iret_nt:\n  pushfl\n  orl $0x4000, (%esp)\n  popfl\niret_nt_at:\n  iret\n"
    ".globl ld_ss, ld_ds\n"
    "ld_ss:\n  movl 4(%esp), %eax\n  movw %ax, %ss\n  ret\n"
    "ld_ds:\n  movl 4(%esp), %eax\n  movw %ax, %ds\n  ret\n"
    /* Single step: TF set by POPF, cleared by POPF. */
    ".globl ss_seq, ss1, ss2, ss3, ss4, ss4b, ss5, ss6\n"
    "ss_seq:\n  pushfl\n  orl $0x100, (%esp)\n  popfl\n"
    "ss1:\n  nop\nss2:\n  nop\nss3:\n  movl $5, %eax\nss4:\n  pushfl\nss4b:\n  andl $~0x100, (%esp)\nss5:\n  popfl\nss6:\n  nop\n  ret\n"
    /* TF set by IRET. */
    ".globl ss_iret, si1, si2, si3, si4, si5\n"
    "ss_iret:\n  pushfl\n  orl $0x100, (%esp)\n  pushl %cs\n  pushl $si1\n  iret\n"
    "si1:\n  nop\nsi2:\n  pushfl\nsi3:\n  andl $~0x100, (%esp)\nsi4:\n  popfl\nsi5:\n  ret\n"
    /* MOV SS holds the single-step trap until after the next instruction. */
    ".globl ss_movss, sm1, sm2, sm3\n"
    "ss_movss:\n  movw %ss, %cx\n  pushfl\n  orl $0x100, (%esp)\n  popfl\n"
    "sm1:\n  movw %cx, %ss\n  nop\nsm2:\n  pushfl\n  andl $~0x100, (%esp)\n  popfl\nsm3:\n  ret\n"
    ".globl bp_insn_fn, bp_insn\n"
    "bp_insn_fn:\n  nop\nbp_insn:\n  incl bp_counter\n  movl bp_counter, %eax\n  ret\n"
    ".globl watch_fn, watch_st_after\n"
    "watch_fn:\n  movl watch_var, %eax\n  movl $0x77, watch_var\nwatch_st_after:\n  nop\n  ret\n"
    ".globl rw_fn, rw_ld_after\n"
    "rw_fn:\n  movl watch_var2, %eax\nrw_ld_after:\n  nop\n  ret\n"
    ".data\n.align 8\nbounds:\n  .long 0, 10\n.text\n"
);

static int hook(struct rt_frame *f)
{
    switch (f->vector) {
    case 1: {
        uint32_t dr6 = read_dr6();
        write_dr6(0);
        db_count++;
        db_eip = f->eip;
        db_dr6 = dr6;
        if (dr6 & 0x4000) {           /* single step */
            if (ss_n < 16)
                ss_eips[ss_n++] = f->eip;
            ss_dr6_all &= dr6;
            ss_dr6_or |= dr6;
        }
        if (dr6 & 1)                  /* instruction breakpoint: resume with RF */
            f->eflags |= EFL_RF;
        return 1;
    }
    case 3:
        bp_count++;
        return 1;
    case 4:
        of_count++;
        return 1;
    }
    return 0;
}

static int ok_val(uint32_t r, uint32_t v) { return r == ST_NOFAULT && st_result == v; }
static int fault_at(uint32_t r, uint32_t vec, uint32_t err, const char *at)
{
    return st_faulted(r, vec, err) && st_fault.eip == (uint32_t)at;
}

int guest_main(void)
{
    puts("x86v-guest: except\n");
    st_init();
    st_guest_hook = hook;
    tap_plan(30);
    uint32_t r;

    tap_ok(fault_at(st_try(de0, 0), 0, 0, de0_at), "div by 0: #DE, fault (EIP at div)");
    tap_ok(fault_at(st_try(de_ovf, 0), 0, 0, de_ovf_at), "idiv 0x80000000/-1: #DE");
    tap_ok(fault_at(st_try(ud, 0), 6, 0, ud_at), "ud2: #UD, fault");
    r = st_try(bp_cc, 0);
    tap_ok(ok_val(r, 0x11) && bp_count == 1 && rt_last_trap.vector == 3 && rt_last_trap.eip == (uint32_t)bp_cc_after,
           "int3 (cc): #BP, trap (EIP after the 1-byte instruction)");
    r = st_try(bp_cd03, 0);
    tap_ok(ok_val(r, 0x22) && bp_count == 2 && rt_last_trap.vector == 3 && rt_last_trap.eip == (uint32_t)bp_cd03_after,
           "int 3 (cd 03): #BP, EIP after the 2-byte instruction");
    r = st_try_user(bp_cc, 0);
    uint32_t r2 = st_try_user(bp_cd03, 0);
    tap_ok(r == 13 && st_faulted(r2, 13, 3 * 8 + 2) && bp_count == 2,
           "CPL3 int3 and int 3 with a DPL0 gate: both #GP(3*8+2)");
    st_idt[3] = (st_idt[3] & ~(3ull << 45)) | (3ull << 45);
    r = st_try_user(bp_cc, 0);
    r2 = st_try_user(bp_cd03, 0);
    tap_ok(ok_val(r2, 0x22) && r == ST_NOFAULT && bp_count == 4 && rt_last_trap.cs == SEL_UCODE,
           "CPL3 int3 and int 3 with a DPL3 gate: #BP delivered");
    r = st_try(into_of, 0);
    tap_ok(ok_val(r, 1) && of_count == 1 && rt_last_trap.vector == 4 && rt_last_trap.eip == (uint32_t)into_after,
           "into with OF=1: #OF, trap");
    tap_ok(ok_val(st_try(into_nof, 0), 2) && of_count == 1, "into with OF=0: nothing");
    tap_ok(fault_at(st_try(bound_out, 0), 5, 0, bound_at), "bound out of range: #BR, fault");
    tap_ok(ok_val(st_try(bound_in, 0), 3), "bound in range: nothing");
    tap_ok(fault_at(st_try_user(hlt3, 0), 13, 0, hlt3_at), "CPL3 hlt: #GP(0), fault");
    tap_ok(st_faulted(st_try(ld_ds, 0x4B), 13, 0x48), "mov ds, selector past the GDT limit: #GP(sel)");
    st_gdt[9] = st_seg(0, 0xFFFFF, ACC_S | ACC_WRITE, FL_G | FL_DB);    /* 0x48: not present */
    tap_ok(st_faulted(st_try(ld_ds, 0x48), 11, 0x48), "mov ds, not-present segment: #NP(sel)");
    tap_ok(st_faulted(st_try(ld_ss, 0x48), 12, 0x48), "mov ss, not-present segment: #SS(sel)");

    /* #NM */
    /* No x87 instruction actually executes here: the #NM checks come first, and
     * fwait with TS=0 only checks for pending x87 exceptions (none after reset). */
    write_cr0((read_cr0() | (1u << 3) | (1u << 1)) & ~(1u << 2));    /* TS=1 MP=1 EM=0 */
    tap_ok(fault_at(st_try(fnop_fn, 0), 7, 0, fnop_at), "CR0.TS=1: fnop raises #NM, fault");
    tap_ok(fault_at(st_try(fwait_fn, 0), 7, 0, fwait_at), "CR0.TS=1 MP=1: fwait raises #NM");
    write_cr0(read_cr0() & ~(1u << 1));                                /* MP=0 */
    tap_ok(ok_val(st_try(fwait_fn, 0), 5), "CR0.TS=1 MP=0: fwait does not fault");
    write_cr0(read_cr0() | (1u << 1));                                 /* MP=1 */
    __asm__ volatile("clts");
    tap_ok(ok_val(st_try(fwait_fn, 0), 5) && !(read_cr0() & 8), "clts clears CR0.TS: fwait with MP=1 runs");
    write_cr0(read_cr0() | (1u << 2));                                 /* EM=1 */
    r = st_try(fnop_fn, 0);
    r2 = st_try(fwait_fn, 0);
    write_cr0(read_cr0() & ~(1u << 2));
    tap_ok(r == 7 && r2 == ST_NOFAULT, "CR0.EM=1: fnop raises #NM, fwait does not");

    /* #DF and serial handling */
    uint64_t saved0 = st_idt[0], saved3 = st_idt[3];
    st_idt[0] &= ~(1ull << 47);       /* #DE gate not present */
    r = st_try(de0, 0);
    st_idt[0] = saved0;
    tap_ok(st_faulted(r, 8, 0), "#DE whose gate is not present: #NP during delivery becomes #DF(0)");
    st_idt[3] &= ~(1ull << 47);
    r = st_try(bp_cc, 0);
    st_idt[3] = saved3;
    tap_ok(fault_at(r, 11, 3 * 8 + 2, bp_cc_at),
           "int3 with a not-present gate: #NP(3*8+2) at the int3, no #DF (benign then contributory)");

    /* single step */
    ss_n = 0; ss_dr6_all = 0xFFFFFFFFu; ss_dr6_or = 0;
    r = st_try(ss_seq, 0);
    tap_ok(r == ST_NOFAULT && ss_n == 6 && ss_eips[0] == (uint32_t)ss2 && ss_eips[1] == (uint32_t)ss3 &&
           ss_eips[2] == (uint32_t)ss4 && ss_eips[3] == (uint32_t)ss4b && ss_eips[4] == (uint32_t)ss5 &&
           ss_eips[5] == (uint32_t)ss6, "TF set by popf: #DB after each following instruction, incl. the popf that clears TF");
    tap_ok((ss_dr6_all & 0x4000) && !(ss_dr6_or & 0xF), "single-step #DB sets DR6.BS, not B0-B3");
    ss_n = 0;
    r = st_try(ss_iret, 0);
    tap_ok(r == ST_NOFAULT && ss_n == 4 && ss_eips[0] == (uint32_t)si2 && ss_eips[1] == (uint32_t)si3 &&
           ss_eips[2] == (uint32_t)si4 && ss_eips[3] == (uint32_t)si5, "TF set by iret: first #DB after the first instruction at the target");
    ss_n = 0;
    r = st_try(ss_movss, 0);
    if (!tap_ok(r == ST_NOFAULT && ss_n == 4 && ss_eips[0] == (uint32_t)sm2,
                "mov ss: single-step #DB held until after the next instruction")) {
        puts("#   traps: ");
        putDec(ss_n);
        puts(", first at ");
        putHex32(ss_eips[0]);
        puts(", want ");
        putHex32((uint32_t)sm2);
        putc('\n');
    }

    /* hardware breakpoints */
    db_count = 0;
    write_dr0((uint32_t)bp_insn);
    write_dr7(0x1);                   /* L0, RW0=00 (execute), LEN0=00 */
    r = st_try(bp_insn_fn, 0);
    write_dr7(0);
    tap_ok(ok_val(r, 1) && db_count == 1 && db_eip == (uint32_t)bp_insn && (db_dr6 & 0xF) == 1 && bp_counter == 1,
           "DR0 execute breakpoint: #DB fault at the instruction, DR6.B0, RF lets it run once");
    db_count = 0;
    write_dr1((uint32_t)&watch_var);
    write_dr7((1u << 2) | (1u << 20) | (3u << 22));   /* L1, RW1=01 (write), LEN1=11 (4 bytes) */
    r = st_try(watch_fn, 0);
    write_dr7(0);
    tap_ok(r == ST_NOFAULT && db_count == 1 && db_eip == (uint32_t)watch_st_after && (db_dr6 & 2) && watch_var == 0x77,
           "DR1 write breakpoint: read ignored, write traps after the store with DR6.B1");
    db_count = 0;
    write_dr2((uint32_t)&watch_var2);
    write_dr7((1u << 4) | (3u << 24) | (3u << 26));   /* L2, RW2=11 (read/write), LEN2=11 */
    r = st_try(rw_fn, 0);
    write_dr7(0);
    tap_ok(r == ST_NOFAULT && db_count == 1 && db_eip == (uint32_t)rw_ld_after && (db_dr6 & 4),
           "DR2 read/write breakpoint: a read traps after the load with DR6.B2");

    /* last, since it is the one that involves the task-switch machinery.
     * #TS: IRET with NT=1 and a back link that points into the LDT */
    st_tss->link = 0x0C;
    r = st_try(iret_nt, 0);
    st_tss->link = 0;
    tap_ok(fault_at(r, 10, 0x0C, iret_nt_at), "iret with NT=1, TSS back link in the LDT: #TS(link), fault");

    puts("# except done\n");
    return tap_exit_code();
}
