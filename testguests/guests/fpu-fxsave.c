/* fpu-fxsave: the FXSAVE/FXRSTOR image and the MXCSR rules.
 *
 * SDM Vol. 1 10.5.1 "FXSAVE Area", Table 10-2 "Format of an FXSAVE Area"
 * (bytes 0-1 FCW, 2-3 FSW, 4 abridged FTW (one bit per physical register,
 * 1 = not empty), 6-7 FOP, 8-11 FIP, 12-13 FCS, 16-19 FDP, 20-21 FDS,
 * 24-27 MXCSR, 28-31 MXCSR_MASK, 32 + 16*i ST(i)/MMi in stack order,
 * 160 + 16*i XMMi), 10.5.1.1 "x87 state" (the abridged tag word; FXRSTOR
 * rebuilds the full tags from the register contents), 11.6.6 "Guidelines
 * for writing to the MXCSR register" (MXCSR_MASK, bit 6 = DAZ supported,
 * 0 in the image means 0xFFBF), Vol. 2 FXSAVE/FXRSTOR (#GP(0) for an
 * operand not 16-byte aligned, FXRSTOR #GP(0) for MXCSR reserved bits, no
 * check for pending x87 exceptions, a pending exception restored is
 * raised by the next waiting instruction), LDMXCSR (#GP(0) for reserved
 * bits), Vol. 3A 13.1 and its table of actions for OSFXSR/OSXMMEXCPT/EM/
 * MP/TS (Table 13-1; 12-1 in older editions: SSE instructions and LDMXCSR
 * #UD with CR4.OSFXSR = 0), Vol. 1 8.1.7 (full tag word encoding: 00 valid, 01 zero,
 * 10 special, 11 empty), 8.1.9 (FOP: low 11 bits of the first two opcode
 * bytes).
 *
 * The first image is taken with no exception pending: its FIP/FCS/FOP/FDP/
 * FDS are vendor- and model-dependent (AMD stores them only when FSW.ES = 1;
 * Pentium 4 and later Intel store FOP only for the last instruction that
 * raised an unmasked exception unless IA32_MISC_ENABLE selects FOP
 * compatibility; CPUs with CPUID.(EAX=7):EBX[13] store FCS/FDS as 0) and
 * are not looked at. The second image is taken with an unmasked #Z
 * pending, where Intel (P6/Pentium 4 class, the CPU x86v models) and AMD
 * agree, and those fields are checked there. MXCSR_MASK is 0xFFBF or
 * 0xFFFF (with or without DAZ); the guest checks LDMXCSR's handling of
 * DAZ against whichever it reports, and prints neither. The reserved bytes
 * of the image are not looked at.
 *
 * Expected output recorded from Bochs 2.7, not QEMU: QEMU 7.2's FXSAVE and
 * FNSTENV store FIP/FCS/FOP/FDP/FDS as 0, and neither its FXRSTOR nor its
 * LDMXCSR raises #GP(0) for MXCSR reserved bits. */
#include "systest.h"

static uint8_t area[2][512 + 16] __attribute__((aligned(16)));
static uint8_t img2[512] __attribute__((aligned(16)));
static uint8_t mod[512] __attribute__((aligned(16)));
static uint8_t back[512] __attribute__((aligned(16)));
uint8_t xmm_in[128] __attribute__((aligned(16)));
uint8_t xmm_out[128] __attribute__((aligned(16)));
uint8_t st_out[32];
uint32_t env_out[7];
uint32_t mx_val, mx_out;
uint8_t *fx_ptr;

static volatile uint32_t mf_count, mf_eip;
static uint32_t mf_env[7];

uint32_t build1(uint32_t), build2(uint32_t), restore_check(uint32_t), pending_again(uint32_t);
uint32_t do_fxsave(uint32_t), do_fxrstor(uint32_t), do_ldmxcsr(uint32_t), do_addps(uint32_t);
uint32_t do_fld_movq(uint32_t), do_stmxcsr(uint32_t);
extern char fdivs_at[], pend_wait[], fxsave_at[], fxrstor_at[], ldmxcsr_at[], addps_at[];
extern uint8_t zero32[];

__asm__(
    ".macro FDIVP_ST1\n  .byte 0xDE, 0xF9\n.endm\n"     /* Intel FDIVP ST(1),ST(0): st1 = st1/st0, pop */
    ".data\n.align 16\n"
    "cw1: .word 0x0A6F\n"                                /* RC up, PC 53, UM clear, others masked */
    "cw_zm: .word 0x037B\n"
    ".align 4\n.globl zero32\nzero32: .long 0\n"
    ".align 8\nthree: .double 3.0\n"
    /* 80-bit values, in push order */
    ".align 16\nvals:\n"
    "  .quad 0x8000000000000000\n  .word 0x3FFF\n"      /* +1.0 */
    "  .quad 0xA000000000000000\n  .word 0xC000\n"      /* -2.5 */
    "  .quad 0x0000000000000000\n  .word 0x0000\n"      /* +0.0 */
    "  .quad 0x8000000000000000\n  .word 0x7FFF\n"      /* +inf */
    "  .quad 0x0000000000001234\n  .word 0x0000\n"      /* denormal */
    "  .quad 0xC000000000ABCDEF\n  .word 0x7FFF\n"      /* QNaN with a payload */
    "  .quad 0xC000000000000000\n  .word 0x3FFF\n"      /* +1.5 */
    ".text\n"
    /* Image 1: flags ZE and PE set masked, 7 values (TOP=1), FXAM last. */
    ".globl build1\n"
    "build1:\n"
    "  fninit\n  fldcw cw1\n"
    "  fld1\n  fldz\n  FDIVP_ST1\n  fstp %st(0)\n"      /* masked #Z */
    "  fld1\n  fdivl three\n  fstp %st(0)\n"            /* masked #P */
    "  fldt vals\n  fldt vals+10\n  fldt vals+20\n  fldt vals+30\n  fldt vals+40\n  fldt vals+50\n  fldt vals+60\n"
    "  fxam\n"                                           /* C3 C2 C1 C0 = 0 1 0 0: positive normal */
    "  ldmxcsr mx_val\n"
    "  movdqu xmm_in, %xmm0\n  movdqu xmm_in+16, %xmm1\n  movdqu xmm_in+32, %xmm2\n  movdqu xmm_in+48, %xmm3\n"
    "  movdqu xmm_in+64, %xmm4\n  movdqu xmm_in+80, %xmm5\n  movdqu xmm_in+96, %xmm6\n  movdqu xmm_in+112, %xmm7\n"
    "  movl fx_ptr, %eax\n  fxsave (%eax)\n"
    "  fnstenv env_out\n"                               /* FXSAVE left the state alone */
    "  fninit\n  ret\n"
    /* Image 2: #Z unmasked and pending when FXSAVE runs. */
    ".globl build2, fdivs_at\n"
    "build2:\n"
    "  fninit\n  fldcw cw_zm\n  fld1\n"
    "fdivs_at:\n  fdivs zero32\n"                       /* D8 35 disp32: FOP 0x035 */
    "  movl fx_ptr, %eax\n  fxsave (%eax)\n"
    "  fnclex\n  fninit\n  ret\n"
    /* FXRSTOR of the image in fx_ptr (pending exception in it), then fwait. */
    ".globl pending_again, pend_wait\n"
    "pending_again:\n"
    "  fninit\n  movl fx_ptr, %eax\n  fxrstor (%eax)\n  movl $0x77, %eax\n"
    "pend_wait:\n  fwait\n"
    "  fninit\n  ret\n"
    /* FXRSTOR of the modified image, read back with FNSTENV/FSTP/STMXCSR/MOVDQU. */
    ".globl restore_check\n"
    "restore_check:\n"
    "  fninit\n  movl fx_ptr, %eax\n  fxrstor (%eax)\n"
    "  fnstenv env_out\n"
    "  fstpt st_out\n  fstpt st_out+10\n  fstpt st_out+20\n"
    "  stmxcsr mx_out\n"
    "  movdqu %xmm0, xmm_out\n  movdqu %xmm1, xmm_out+16\n  movdqu %xmm2, xmm_out+32\n  movdqu %xmm3, xmm_out+48\n"
    "  movdqu %xmm4, xmm_out+64\n  movdqu %xmm5, xmm_out+80\n  movdqu %xmm6, xmm_out+96\n  movdqu %xmm7, xmm_out+112\n"
    "  fninit\n  ret\n"
    ".globl do_fxsave, do_fxrstor, do_ldmxcsr, do_addps, do_fld_movq, do_stmxcsr\n"
    ".globl fxsave_at, fxrstor_at, ldmxcsr_at, addps_at\n"
    "do_fxsave:\n  movl fx_ptr, %eax\nfxsave_at:\n  fxsave (%eax)\n  movl $1, %eax\n  ret\n"
    "do_fxrstor:\n  movl fx_ptr, %eax\nfxrstor_at:\n  fxrstor (%eax)\n  movl $2, %eax\n  ret\n"
    "do_ldmxcsr:\nldmxcsr_at:\n  ldmxcsr mx_val\n  movl $3, %eax\n  ret\n"
    "do_addps:\naddps_at:\n  addps %xmm1, %xmm0\n  movl $4, %eax\n  ret\n"
    "do_fld_movq:\n  fninit\n  fld1\n  fistpl mx_out\n  movd mx_out, %mm0\n  movq %mm0, %mm1\n  movd %mm1, %eax\n  emms\n  ret\n"
    "do_stmxcsr:\n  stmxcsr mx_out\n  movl mx_out, %eax\n  ret\n"
);

static int hook(struct rt_frame *f)
{
    if (f->vector == 16) {
        mf_count++;
        mf_eip = f->eip;
        __asm__ volatile("fnstenv %0\n\tfnclex" : "=m"(mf_env));
        return mf_count < 100;
    }
    return 0;
}

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static int is80(const uint8_t *p, uint16_t se, uint32_t mhi, uint32_t mlo)
{
    return u32(p) == mlo && u32(p + 4) == mhi && u16(p + 8) == se;
}

static void set80(uint8_t *p, uint16_t se, uint32_t mhi, uint32_t mlo)
{
    put32(p, mlo);
    put32(p + 4, mhi);
    put16(p + 8, se);
}

static int faulted(uint32_t r, uint32_t vec, uint32_t err, const char *at)
{
    return r == vec && rt_last_trap.vector == vec && rt_last_trap.error == err && rt_last_trap.eip == (uint32_t)at;
}

int guest_main(void)
{
    puts("x86v-guest: fpu-fxsave\n");
    st_init();
    rt_fpu_init();
    st_guest_hook = hook;
    tap_plan(20);
    uint8_t *img = area[0];
    uint32_t r;

    for (int i = 0; i < 128; i++)
        xmm_in[i] = (uint8_t)(0x11 + 7 * i);
    mx_val = 0xBFA1;               /* FTZ, RC down, all masked, PE and IE set */
    fx_ptr = img;
    r = st_try(build1, 0);
    tap_ok(r == ST_NOFAULT && u16(img + 0) == 0x0A6F, "FCW (bytes 0-1) = 0x0A6F: RC up, PC 53, UM clear");
    tap_ok(u16(img + 2) == 0x0C24, "FSW (bytes 2-3) = 0x0C24: TOP=1, C2 (FXAM: normal), ZE and PE set masked, ES clear");
    tap_ok(img[4] == 0xFE, "abridged FTW (byte 4) = 0xFE: physical registers 1-7 in use, 0 empty");
    tap_ok(u32(img + 24) == 0xBFA1, "MXCSR (bytes 24-27) = 0xBFA1");
    uint32_t mask = u32(img + 28);
    tap_ok(mask == 0xFFBF || mask == 0xFFFF, "MXCSR_MASK (bytes 28-31) is 0xFFBF or 0xFFFF");
    tap_ok(is80(img + 32, 0x3FFF, 0xC0000000u, 0) && is80(img + 48, 0x7FFF, 0xC0000000u, 0x00ABCDEFu) &&
           is80(img + 64, 0x0000, 0, 0x1234) && is80(img + 80, 0x7FFF, 0x80000000u, 0) &&
           is80(img + 96, 0, 0, 0) && is80(img + 112, 0xC000, 0xA0000000u, 0) && is80(img + 128, 0x3FFF, 0x80000000u, 0),
           "ST0-ST6 as 80-bit values in 16-byte slots from byte 32, in stack order (1.5, QNaN, denormal, +inf, 0, -2.5, 1.0)");
    tap_ok(memcmp(img + 160, xmm_in, 128) == 0, "XMM0-XMM7 in bytes 160-287");
    tap_ok((env_out[0] & 0xFFFF) == 0x0A6F && (env_out[1] & 0xFFFF) == 0x0C24 && (env_out[2] & 0xFFFF) == 0x06A3,
           "FXSAVE leaves the x87 state alone (FNSTENV after it); full tag word 0x06A3 (valid, special x3, zero, valid x2, empty)");

    /* image 2: a pending unmasked #Z */
    fx_ptr = img2;
    mf_count = 0;
    r = st_try(build2, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 0 && (u16(img2 + 2) & 0xB8FF) == 0xB884,
           "FXSAVE with #Z unmasked and pending: no #MF; FSW in the image has ZE, ES, B, TOP=7");
    tap_ok(u16(img2 + 6) == 0x035 && u32(img2 + 8) == (uint32_t)fdivs_at && u16(img2 + 12) == SEL_KCODE &&
           u32(img2 + 16) == (uint32_t)zero32 && u16(img2 + 20) == SEL_KDATA,
           "with an exception pending: FOP = 0x035 (D8 /6), FIP:FCS = the fdivs, FDP:FDS = its m32 operand");
    r = st_try(pending_again, 0);
    tap_ok(r == ST_NOFAULT && mf_count == 1 && mf_eip == (uint32_t)pend_wait && mf_env[3] == (uint32_t)fdivs_at &&
           (mf_env[4] >> 16) == 0x035 && mf_env[5] == (uint32_t)zero32,
           "FXRSTOR of that image does not fault; the next fwait raises #MF, FNSTENV shows the restored FIP, FOP, FDP");

    /* FXRSTOR of a modified image 1 */
    memcpy(mod, img, 512);
    put16(mod + 0, 0x0F7F);                       /* RC chop, PC 64, all masked */
    put16(mod + 2, 0x5808);                       /* C3, TOP=3, OE */
    mod[4] = 0x38;                                /* physical 3, 4, 5 in use */
    set80(mod + 32, 0x4000, 0x80000000u, 0);      /* ST0 = phys 3 = +2.0 */
    set80(mod + 48, 0x8000, 0, 0);                /* ST1 = phys 4 = -0.0 */
    set80(mod + 64, 0xFFFF, 0x80000000u, 0);      /* ST2 = phys 5 = -inf */
    put32(mod + 24, 0x7F90);                      /* RC chop, masks, UE */
    for (int i = 0; i < 128; i++)
        mod[160 + i] = (uint8_t)~xmm_in[i];
    fx_ptr = mod;
    r = st_try(restore_check, 0);
    tap_ok(r == ST_NOFAULT && (env_out[0] & 0xFFFF) == 0x0F7F && (env_out[1] & 0xFFFF) == 0x5808,
           "FXRSTOR of a modified image: FCW 0x0F7F and FSW 0x5808 (FNSTENV)");
    tap_ok((env_out[2] & 0xFFFF) == 0xF93F,
           "abridged FTW 0x38 becomes the full tag word 0xF93F: tags rebuilt from the values (valid, zero, special)");
    tap_ok(is80(st_out, 0x4000, 0x80000000u, 0) && is80(st_out + 10, 0x8000, 0, 0) && is80(st_out + 20, 0xFFFF, 0x80000000u, 0) &&
           mx_out == 0x7F90 && memcmp(xmm_out, mod + 160, 128) == 0,
           "ST0-2 (+2.0, -0.0, -inf), MXCSR 0x7F90 and XMM0-7 as written in the image");
    fx_ptr = img;
    r = st_try(do_fxrstor, 0);
    fx_ptr = back;
    uint32_t r2 = st_try(do_fxsave, 0);
    int same = r == ST_NOFAULT && r2 == ST_NOFAULT && memcmp(back, img, 6) == 0 && memcmp(back + 24, img + 24, 8) == 0 &&
               memcmp(back + 160, img + 160, 128) == 0;
    for (int i = 0; i < 7; i++)
        same &= memcmp(back + 32 + 16 * i, img + 32 + 16 * i, 10) == 0;
    tap_ok(same, "FXRSTOR of image 1 then FXSAVE: FCW, FSW, FTW, MXCSR, MXCSR_MASK, ST0-6, XMM0-7 come back the same");

    /* faults */
    __asm__ volatile("fninit");
    fx_ptr = area[1] + 8;
    int f1 = faulted(st_try(do_fxsave, 0), 13, 0, fxsave_at);
    int f2 = faulted(st_try(do_fxrstor, 0), 13, 0, fxrstor_at);
    tap_ok(f1 && f2, "FXSAVE and FXRSTOR at an address = 8 mod 16: #GP(0)");
    fx_ptr = area[1];
    mx_val = 0x1F80;
    st_try(do_ldmxcsr, 0);
    st_try(do_fxsave, 0);
    put32(area[1] + 24, 0x00011F80u);             /* MXCSR bit 16: reserved */
    mx_val = 0x3F80;
    st_try(do_ldmxcsr, 0);
    f1 = faulted(st_try(do_fxrstor, 0), 13, 0, fxrstor_at);
    tap_ok(f1 && st_try(do_stmxcsr, 0) == ST_NOFAULT && st_result == 0x3F80,
           "FXRSTOR of an image with MXCSR bit 16 set: #GP(0), MXCSR unchanged");
    mx_val = 0x00011F80u;
    f1 = faulted(st_try(do_ldmxcsr, 0), 13, 0, ldmxcsr_at);
    mx_val = 0x1FC0;                              /* DAZ */
    r2 = st_try(do_ldmxcsr, 0);
    f2 = faulted(r2, 13, 0, ldmxcsr_at);
    uint32_t daz = st_try(do_stmxcsr, 0) == ST_NOFAULT ? st_result : 0;
    mx_val = 0x1F80;
    st_try(do_ldmxcsr, 0);
    tap_ok(f1 && (mask & 0x40 ? (r2 == ST_NOFAULT && daz == 0x1FC0) : (f2 && daz == 0x3F80)),
           "LDMXCSR with bit 16 set: #GP(0); with DAZ (bit 6): loaded if MXCSR_MASK has bit 6, else #GP(0)");

    /* CR4.OSFXSR = 0 */
    write_cr4(read_cr4() & ~(1u << 9));
    f1 = faulted(st_try(do_addps, 0), 6, 0, addps_at);
    f2 = faulted(st_try(do_ldmxcsr, 0), 6, 0, ldmxcsr_at);
    uint32_t r3 = st_try(do_fld_movq, 0);
    uint32_t v3 = st_result;
    fx_ptr = area[1];
    uint32_t r4 = st_try(do_fxsave, 0);
    write_cr4(read_cr4() | (1u << 9));
    tap_ok(f1 && f2, "CR4.OSFXSR=0: addps and ldmxcsr raise #UD");
    tap_ok(r3 == ST_NOFAULT && v3 == 1 && r4 == ST_NOFAULT,
           "CR4.OSFXSR=0: x87 and MMX run, FXSAVE runs (what it saves of XMM/MXCSR is implementation-specific)");

    puts("# fpu-fxsave done\n");
    return tap_exit_code();
}
