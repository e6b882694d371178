/* native-harness — runs x86v cpu-diff test cases natively on the host CPU (32-bit user mode).
 *
 *     native-harness [IN [OUT]]      (default: stdin, stdout)
 *
 * Built freestanding (no libc, raw int $0x80 syscalls) so it needs only gcc and binutils.
 *
 * Memory map (fixed; cpu-diff places the same bytes at the same linear addresses in x86v):
 *
 *     0x00400000  code page, RWX, 4 KiB: the case's code, then `jmp *epilogue_ptr` (FF 25 abs32)
 *     0x00500000  sandbox, RW, 8 KiB: the only memory a case touches (its stack included)
 *     FS = 0x0007 LDT data segment, base 0x00500000, limit 0x1FFF (byte granular, DPL 3),
 *                 so 16-bit addressing (67 prefix + FS override) reaches the sandbox;
 *                 ES too when the case asks for it (see eflags bit 31)
 *
 * Input batch (little-endian):
 *
 *     header  u32 magic 0x44363858 ("X86D"), u32 version (1 or 2), u32 case count
 *     case    u32 regs[8]     EAX ECX EDX EBX ESP EBP ESI EDI
 *             u32 eflags      only CF PF AF ZF SF DF OF are taken; IF = 1, the rest 0.
 *                             Bit 31 set: ES is loaded with the sandbox segment (0x0007) too,
 *                             so ES:[E]DI string destinations are sandbox offsets
 *             u32 fill seed   sandbox fill: x = seed (0 → 1); per 32-bit word, in address order,
 *                             x ^= x << 13; x ^= x >> 17; x ^= x << 5; word = x
 *             u16 code length (≤ 4000), u16 patch count
 *             u8  code[length], zero-padded to a multiple of 4
 *             patch[count]    u16 sandbox offset, u8 value, u8 0 (applied after the fill)
 *     version 2 only:
 *             u32 fpu         bit 0: a 512-byte FXSAVE image (32-bit format, SDM Vol. 1
 *                             §10.5.1) follows and is loaded with FXRSTOR just before the case;
 *                             its MXCSR must be valid for this CPU (else exit 2). Bit 0 clear:
 *                             the case starts after FNINIT with MXCSR 0x1F80. Other bits 0.
 *             u8  image[512]  when bit 0 is set
 *
 * Output batch:
 *
 *     header  u32 magic 0x52363858 ("X86R"), u32 version (the input's), u32 case count
 *     case    u32 vector      0xFFFFFFFF: ran to its end; else the exception vector (trapno)
 *             u32 error code  0 unless the exception pushes one
 *             u32 eip         offset from 0x00400000: the code length at the end, else the
 *                             faulting instruction
 *             u32 regs[8], u32 eflags (RF cleared)   at the end, or as the fault left them
 *             u32 diff count
 *             diff[count]     u16 offset, u8 value, u8 0: sandbox bytes that differ from the
 *                             initial image (fill + patches), in offset order
 *     version 2 only:
 *             u32 fpu         bit 0: an FXSAVE image follows (when the case had one);
 *                             bit 1: FCS and FDS are unknown (fault path, see on_signal)
 *             u8  image[512]  FXSAVE right after the case's last instruction, or in the fault
 *                             path the FPU state at the fault as the kernel saved it in the
 *                             signal frame (#MF and #XM included); bytes 288-511 mean nothing
 *
 * FPU safety: the case's end does FXSAVE (which never waits, so a pending unmasked x87
 * exception does not trap); then, there and in the fault path, FNINIT and LDMXCSR 0x1F80, so
 * nothing pending or unmasked ever reaches the harness's own code. #MF (vector 16) and #XM (19)
 * arrive as SIGFPE and are reported like any other fault. An alarm (60 s per batch) ends the
 * process should a case ever loop in the kernel.
 *
 * Exit status: 0 on success, 2 on bad input, 3 on an internal fault.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

#define CODE_BASE 0x00400000u
#define CODE_SIZE 0x1000u
#define CODE_MAX 4000u
#define SANDBOX_BASE 0x00500000u
#define SANDBOX_SIZE 0x2000u
#define FS_SELECTOR 0x0007u
#define ARITH_FLAGS 0x0CD5u /* CF PF AF ZF SF DF OF */

enum {
    SYS_exit = 1, SYS_read = 3, SYS_write = 4, SYS_open = 5, SYS_close = 6,
    SYS_alarm = 27, SYS_modify_ldt = 123, SYS_rt_sigaction = 174, SYS_sigaltstack = 186, SYS_mmap2 = 192,
};

long sys6(long nr, long a, long b, long c, long d, long e, long f);
int run_case(void);
void case_epilogue(void);
void case_fault_resume(void);
void sig_restorer(void);

/* Shared with entry.S. */
u32 in_regs[8], in_eflags, in_es, out_regs[8], out_eflags, harness_esp;
u32 code_entry = CODE_BASE;
u32 epilogue_ptr = (u32)case_epilogue;
/* The case's FXSAVE images (entry.S: FXRSTOR fpu_in when fpu_load, FXSAVE fpu_out after). */
u8 fpu_in[512] __attribute__((aligned(16))), fpu_out[512] __attribute__((aligned(16)));
u32 fpu_load;
u32 mxcsr_default = 0x1F80;

/* Filled by on_signal. */
static volatile u32 fault_vector, fault_error, fault_eip, fault_regs[8], fault_eflags;

static u8 initial[SANDBOX_SIZE];
static u8 altstack[65536] __attribute__((aligned(16)));

/* ---- tiny runtime ---- */

void *memcpy(void *d, const void *s, unsigned n) {
    u8 *dp = d;
    const u8 *sp = s;
    while (n--) *dp++ = *sp++;
    return d;
}

void *memset(void *d, int c, unsigned n) {
    u8 *dp = d;
    while (n--) *dp++ = (u8)c;
    return d;
}

static void die(const char *message, int status) {
    unsigned n = 0;
    while (message[n]) n++;
    sys6(SYS_write, 2, (long)message, n, 0, 0, 0);
    sys6(SYS_exit, status, 0, 0, 0, 0, 0);
}

static int in_fd = 0, out_fd = 1;
static u8 in_buf[1 << 16], out_buf[1 << 16];
static unsigned in_pos, in_len, out_len;

static void read_exact(void *dest, unsigned n) {
    u8 *d = dest;
    while (n) {
        if (in_pos == in_len) {
            long got = sys6(SYS_read, in_fd, (long)in_buf, sizeof in_buf, 0, 0, 0);
            if (got <= 0) die("native-harness: truncated input\n", 2);
            in_pos = 0;
            in_len = (unsigned)got;
        }
        unsigned chunk = in_len - in_pos;
        if (chunk > n) chunk = n;
        memcpy(d, in_buf + in_pos, chunk);
        in_pos += chunk;
        d += chunk;
        n -= chunk;
    }
}

static void flush_out(void) {
    unsigned done = 0;
    while (done < out_len) {
        long put = sys6(SYS_write, out_fd, (long)(out_buf + done), out_len - done, 0, 0, 0);
        if (put <= 0) die("native-harness: write failed\n", 2);
        done += (unsigned)put;
    }
    out_len = 0;
}

static void write_bytes(const void *src, unsigned n) {
    const u8 *s = src;
    while (n) {
        if (out_len == sizeof out_buf) flush_out();
        unsigned chunk = sizeof out_buf - out_len;
        if (chunk > n) chunk = n;
        memcpy(out_buf + out_len, s, chunk);
        out_len += chunk;
        s += chunk;
        n -= chunk;
    }
}

static void write_u32(u32 v) { write_bytes(&v, 4); }

static u32 read_u32(void) {
    u32 v;
    read_exact(&v, 4);
    return v;
}

/* ---- faults ---- */

/* i386 ucontext: uc_flags, uc_link, uc_stack (12 bytes), then sigcontext as u32 words:
 * gs fs es ds edi esi ebp esp ebx edx ecx eax trapno err eip cs eflags esp_at_signal ss … */
enum { GS = 0, EDI = 4, ESI, EBP, ESP, EBX, EDX, ECX, EAX, TRAPNO, ERR, EIP, CS, EFL, ESP_AT_SIGNAL, SS, FPSTATE };

/* In the fault path the FPU state comes from the signal frame: struct _fpstate_32 is the
 * FNSAVE-style header (112 bytes, `magic` at 110: 0 when the FXSAVE area follows), then the
 * area the kernel saved at the fault. A 64-bit kernel saves it with XSAVE64, so FIP and FDP are
 * 64-bit fields there and FCS/FDS are not saved (bytes 12-13 and 20-21 are the zero high bits
 * of FIP/FDP): the outcome says so (fpu bit 1). After sigreturn the kernel would rebuild
 * FOP/FCS/FDS from that header (FOP lost), so FXSAVE after the fact is no use. */
#define FPSTATE_MAGIC 110
#define FPSTATE_FXSAVE 112

static void on_signal(int sig, void *info, void *context) {
    (void)sig;
    (void)info;
    u32 *g = (u32 *)((u8 *)context + 20);
    if (g[EIP] - CODE_BASE >= CODE_SIZE) die("native-harness: fault outside the case code\n", 3);
    fault_vector = g[TRAPNO];
    fault_error = g[ERR];
    fault_eip = g[EIP] - CODE_BASE;
    static const int order[8] = {EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI};
    for (int i = 0; i < 8; i++) fault_regs[i] = g[order[i]];
    fault_eflags = g[EFL];
    if (fpu_load) {
        const u8 *fp = (const u8 *)g[FPSTATE];
        if (!fp || *(const u16 *)(fp + FPSTATE_MAGIC) != 0) die("native-harness: no FXSAVE area in the signal frame\n", 3);
        memcpy(fpu_out, fp + FPSTATE_FXSAVE, 512);
    }
    g[EIP] = (u32)case_fault_resume;
    g[ESP] = harness_esp;
    g[EFL] = 0x202;
}

struct kernel_sigaction {
    void (*handler)(int, void *, void *);
    u32 flags;
    void (*restorer)(void);
    u32 mask[2];
};

#define SA_SIGINFO 0x4u
#define SA_ONSTACK 0x08000000u
#define SA_RESTORER 0x04000000u

static void install_handlers(void) {
    struct { u32 sp; int flags; u32 size; } stack = {(u32)altstack, 0, sizeof altstack};
    if (sys6(SYS_sigaltstack, (long)&stack, 0, 0, 0, 0, 0) != 0) die("native-harness: sigaltstack failed\n", 3);
    static const int signals[] = {4 /* SIGILL */, 5 /* SIGTRAP */, 7 /* SIGBUS */, 8 /* SIGFPE */, 11 /* SIGSEGV */};
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct kernel_sigaction action = {on_signal, SA_SIGINFO | SA_ONSTACK | SA_RESTORER, sig_restorer, {0, 0}};
        if (sys6(SYS_rt_sigaction, signals[i], (long)&action, 0, 8, 0, 0) != 0)
            die("native-harness: rt_sigaction failed\n", 3);
    }
}

/* ---- setup ---- */

static void map_fixed(u32 address, u32 size, int prot) {
    long r = sys6(SYS_mmap2, address, size, prot, 0x32 /* MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED */, -1, 0);
    if ((u32)r != address) die("native-harness: mmap failed\n", 3);
}

static void setup_fs(void) {
    struct { u32 entry, base, limit, flags; } desc = {0, SANDBOX_BASE, SANDBOX_SIZE - 1, 0x41 /* 32-bit, usable */};
    if (sys6(SYS_modify_ldt, 1, (long)&desc, sizeof desc, 0, 0, 0) != 0) die("native-harness: modify_ldt failed\n", 3);
    __asm__ volatile("movw %w0, %%fs" ::"r"(FS_SELECTOR));
}

static void fill_sandbox(u32 seed) {
    u32 x = seed ? seed : 1;
    u32 *w = (u32 *)SANDBOX_BASE;
    for (unsigned i = 0; i < SANDBOX_SIZE / 4; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        w[i] = x;
    }
}

int harness_main(int argc, char **argv) {
    if (argc > 1) {
        in_fd = (int)sys6(SYS_open, (long)argv[1], 0 /* O_RDONLY */, 0, 0, 0, 0);
        if (in_fd < 0) die("native-harness: cannot open input\n", 2);
    }
    if (argc > 2) {
        out_fd = (int)sys6(SYS_open, (long)argv[2], 01 | 0100 | 01000 /* O_WRONLY|O_CREAT|O_TRUNC */, 0644, 0, 0, 0);
        if (out_fd < 0) die("native-harness: cannot open output\n", 2);
    }
    map_fixed(CODE_BASE, CODE_SIZE, 7);
    map_fixed(SANDBOX_BASE, SANDBOX_SIZE, 3);
    setup_fs();
    install_handlers();

    if (read_u32() != 0x44363858u) die("native-harness: bad input header\n", 2);
    u32 version = read_u32();
    if (version != 1 && version != 2) die("native-harness: unknown batch version\n", 2);
    u32 count = read_u32();
    write_u32(0x52363858u);
    write_u32(version);
    write_u32(count);
    sys6(SYS_alarm, 60, 0, 0, 0, 0, 0);

    /* The MXCSR bits this CPU accepts (FXSAVE's MXCSR_MASK; 0 means 0xFFBF). */
    __asm__ volatile("fninit; fxsave %0" : "=m"(fpu_out));
    u32 mxcsr_mask;
    memcpy(&mxcsr_mask, fpu_out + 28, 4);
    if (mxcsr_mask == 0) mxcsr_mask = 0xFFBF;

    u8 *code = (u8 *)CODE_BASE;
    u8 *sandbox = (u8 *)SANDBOX_BASE;
    for (u32 n = 0; n < count; n++) {
        for (int i = 0; i < 8; i++) in_regs[i] = read_u32();
        u32 flags = read_u32();
        in_eflags = (flags & ARITH_FLAGS) | 0x202;
        u32 ds;
        __asm__ volatile("movl %%ds, %0" : "=r"(ds));
        in_es = flags >> 31 ? FS_SELECTOR : ds;
        u32 seed = read_u32();
        u32 lengths = read_u32();
        u32 length = lengths & 0xFFFF, patches = lengths >> 16;
        if (length > CODE_MAX) die("native-harness: code too long\n", 2);
        read_exact(code, (length + 3) & ~3u);
        code[length] = 0xFF;
        code[length + 1] = 0x25;
        u32 target = (u32)&epilogue_ptr;
        memcpy(code + length + 2, &target, 4);
        fill_sandbox(seed);
        for (u32 p = 0; p < patches; p++) {
            u32 patch = read_u32();
            if ((patch & 0xFFFF) >= SANDBOX_SIZE) die("native-harness: patch outside the sandbox\n", 2);
            sandbox[patch & 0xFFFF] = (u8)(patch >> 16);
        }
        memcpy(initial, sandbox, SANDBOX_SIZE);
        fpu_load = 0;
        if (version == 2) {
            u32 fpu = read_u32();
            if (fpu & ~1u) die("native-harness: bad fpu field\n", 2);
            if (fpu & 1) {
                read_exact(fpu_in, 512);
                u32 mxcsr;
                memcpy(&mxcsr, fpu_in + 24, 4);
                if (mxcsr & ~mxcsr_mask) die("native-harness: MXCSR not valid on this CPU\n", 2);
                fpu_load = 1;
            }
        }
        memset(fpu_out, 0, 512);

        int faulted = run_case();
        if (!faulted) {
            write_u32(0xFFFFFFFFu);
            write_u32(0);
            write_u32(length);
            write_bytes(out_regs, 32);
            write_u32(out_eflags & ~0x10000u);
        } else {
            write_u32(fault_vector);
            write_u32(fault_error);
            write_u32(fault_eip);
            for (int i = 0; i < 8; i++) write_u32(fault_regs[i]);
            write_u32(fault_eflags & ~0x10000u);
        }
        u32 diffs = 0;
        for (u32 i = 0; i < SANDBOX_SIZE; i++) diffs += sandbox[i] != initial[i];
        write_u32(diffs);
        for (u32 i = 0; i < SANDBOX_SIZE; i++)
            if (sandbox[i] != initial[i]) write_u32(i | (u32)sandbox[i] << 16);
        if (version == 2) {
            write_u32(fpu_load ? (faulted ? 3 : 1) : 0);
            if (fpu_load) write_bytes(fpu_out, 512);
        }
    }
    flush_out();
    return 0;
}
