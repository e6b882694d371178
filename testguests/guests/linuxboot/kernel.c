/* linuxboot: a tiny self-checking "Linux kernel" for x86v's bzImage loader (CI has no real
 * kernel). The Makefile wraps this protected-mode image in a bzImage (setup.S: boot sector and a
 * protocol-2.15 setup header); `x86v run --kernel build/linuxboot/bzImage --initrd FILE --append
 * CMDLINE` boots it through the 32-bit boot protocol (Documentation/x86/boot.rst), and it checks
 * what that protocol promises, as Linux's startup_32 and setup code rely on it:
 *
 *   - the entry state (entry.S records it first): CS = __BOOT_CS (0x10), DS = ES = SS =
 *     __BOOT_DS (0x18), GDT entries 2 and 3 flat 4 GiB execute/read and read/write, interrupts
 *     off, protected mode with paging off, EBX = EBP = EDI = 0, ESI = boot_params;
 *   - boot_params: this kernel's setup header copied in ("HdrS", version, code32_start,
 *     initrd_addr_max, cmdline_size, pref_address, init_size), the sentinel 0, type_of_loader
 *     set, LOADED_HIGH kept (linuxboot.initrd_addr_max=HEX on the command line: the value a
 *     patched copy of the image carries);
 *   - the command line: NUL-terminated within cmdline_size, in RAM, clear of the kernel (printed);
 *   - the initrd: page-aligned, in one RAM range of the E820 map, at or below initrd_addr_max,
 *     clear of the kernel, boot_params and the command line, and its bytes: the size and CRC-32
 *     the command line names (linuxboot.initrd_size=N linuxboot.initrd_crc32=HEX; the CLI check
 *     computes them from the file it passes) (printed); without those, no initrd (both fields 0);
 *   - the E820 map: sorted, non-overlapping, RAM at 0 and at 1 MiB, no RAM past the machine's
 *     RAM size (fw_cfg's, QEMU's interface for firmware), and every byte below it in RAM, in a
 *     reserved range or in the legacy hole 0xA0000-0xFFFFF (printed); alt_mem_k equal to the
 *     RAM contiguous from 1 MiB; screen_info an 80x25 VGA text screen; pref_address + init_size
 *     in RAM.
 *
 * Then, if every check passed: with linuxboot.panic=1 on the command line it prints a Linux
 * panic banner (with CRLF, as Linux's serial console writes it) and spins with interrupts on,
 * as panic() does (x86v's panic watch ends the run: status 26); otherwise it powers the machine
 * off through ACPI S5 (PM1a_CNT at 0x604, SLP_TYP 0 for the DSDT's _S5, as guests/acpipm.c:
 * status 22). A failed check ends through isa-debug-exit with code 1 (status 3) instead.
 * Expected output: expected/linuxboot/boot.out and panic.out, derived from the boot protocol
 * and x86v's firmware layout (QEMU runs the real-mode setup, which this kernel does not have). */
#include "runtime.h"
#include "linuxboot.h"

extern uint32_t lb_entry_regs[8];    /* eax ecx edx ebx esp ebp esi edi (entry.S) */
extern uint16_t lb_entry_sregs[6];   /* cs ds es ss fs gs */
extern uint32_t lb_entry_cr0, lb_entry_eflags;
extern uint8_t lb_entry_gdtr[6];
extern uint8_t __image_end[];

#define REG_EBX 3
#define REG_EBP 5
#define REG_ESI 6
#define REG_EDI 7

#define FW_CFG_CTL      0x510
#define FW_CFG_DATA     0x511
#define FW_CFG_RAM_SIZE 0x0003
#define PM1_CNT         0x604
#define SLP_EN          0x2000
#define E820_RAM        1
#define E820_RESERVED   2

static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }

static uint8_t rd8(uint32_t a) { return *(volatile const uint8_t *)a; }
static uint16_t rd16(uint32_t a) { return *(volatile const uint16_t *)a; }
static uint32_t rd32(uint32_t a) { return *(volatile const uint32_t *)a; }
static uint64_t rd64(uint32_t a) { return (uint64_t)rd32(a) | (uint64_t)rd32(a + 4) << 32; }

static void putHex64(uint64_t v) { putHex32((uint32_t)(v >> 32)); putHex32((uint32_t)v); }
static void putHex8(uint8_t v) { putc("0123456789abcdef"[v >> 4]); putc("0123456789abcdef"[v & 15]); }

/* ---- the command line ---- */

static const char *cmdline = "";

/* The value of "key=" in the command line (a word of its own), or 0. */
static const char *param(const char *key)
{
    size_t n = strlen(key);
    for (const char *p = cmdline; *p; p++)
        if ((p == cmdline || p[-1] == ' ') && memcmp(p, key, n) == 0 && p[n] == '=')
            return p + n + 1;
    return 0;
}

static int parse_uint(const char *s, uint32_t base, uint32_t *out)
{
    uint32_t v = 0;
    int digits = 0;
    for (; *s && *s != ' '; s++, digits++) {
        uint32_t d;
        if (*s >= '0' && *s <= '9') d = (uint32_t)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f') d = (uint32_t)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F') d = (uint32_t)(*s - 'A' + 10);
        else return 0;
        v = v * base + d;
    }
    *out = v;
    return digits > 0;
}

/* ---- CRC-32 (IEEE 802.3, as zlib's crc32 and Python's zlib.crc32) ---- */

static uint32_t crc_table[256];

static uint32_t crc32(uint32_t addr, uint32_t n)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < n; i++)
        c = crc_table[(c ^ rd8(addr + i)) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- the E820 map ---- */

struct e820 { uint64_t base, length; uint32_t type; };
static struct e820 map[BP_E820_MAX];
static uint32_t nmap;

/* True if [base, base + length) lies inside one E820 RAM range. */
static int in_ram(uint64_t base, uint64_t length)
{
    for (uint32_t i = 0; i < nmap; i++)
        if (map[i].type == E820_RAM && base >= map[i].base && base + length <= map[i].base + map[i].length)
            return 1;
    return 0;
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static uint64_t fw_cfg_ram_size(void)
{
    outw(FW_CFG_CTL, FW_CFG_RAM_SIZE);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
    return v;
}

/* A GDT descriptor: base 0, limit 0xFFFFF with G = 1 (4 GiB), present, DPL 0, code or data
 * (S = 1) of the given type bits, 32-bit (D/B = 1). */
static int flat_descriptor(uint64_t d, uint32_t type_mask, uint32_t type_want)
{
    uint32_t lo = (uint32_t)d, hi = (uint32_t)(d >> 32);
    uint32_t base = (lo >> 16) | (hi & 0xFF) << 16 | (hi & 0xFF000000);
    uint32_t limit = (lo & 0xFFFF) | (hi & 0x000F0000);
    uint32_t access = (hi >> 8) & 0xFF, flags = (hi >> 20) & 0xF;
    return base == 0 && limit == 0xFFFFF && (flags & 0xC) == 0xC && (access & 0xF0) == 0x90
        && (access & type_mask) == type_want;
}

static void print_cmdline_char(char c)
{
    if (c >= 0x20 && c < 0x7F) putc(c);
    else putc('?');
}

static void panic_banner(void)
{
    /* What Linux 6.1's panic() prints on a serial console, trimmed: the first and last lines are
     * what x86v's panic watch looks for. */
    puts("Kernel panic - not syncing: test\r\n");
    puts("CPU: 0 PID: 1 Comm: linuxboot Not tainted " LB_KERNEL_VERSION "\r\n");
    puts("Call Trace:\r\n");
    puts(" <TASK>\r\n");
    puts(" guest_main+0x0/0x0\r\n");
    puts(" </TASK>\r\n");
    puts("---[ end Kernel panic - not syncing: test ]---\r\n");
}

int guest_main(void)
{
    const uint32_t bp = lb_entry_regs[REG_ESI];
    puts("x86v-guest: linuxboot\n");
    tap_plan(22);

    /* ---- the entry state ---- */
    tap_ok(lb_entry_sregs[0] == 0x10, "CS is __BOOT_CS (0x10)");
    tap_ok(lb_entry_sregs[1] == 0x18 && lb_entry_sregs[2] == 0x18 && lb_entry_sregs[3] == 0x18,
           "DS, ES and SS are __BOOT_DS (0x18)");
    uint16_t gdt_limit = *(uint16_t *)lb_entry_gdtr;
    uint32_t gdt_base = *(uint32_t *)(lb_entry_gdtr + 2);
    int gdt_ok = gdt_limit >= 0x1F;
    tap_ok(gdt_ok && flat_descriptor(rd64(gdt_base + 0x10), 0x0E, 0x0A),
           "GDT entry 2 (0x10): flat 4 GiB 32-bit code, execute/read, non-conforming, DPL 0");
    tap_ok(gdt_ok && flat_descriptor(rd64(gdt_base + 0x18), 0x0E, 0x02),
           "GDT entry 3 (0x18): flat 4 GiB 32-bit data, read/write, expand-up, DPL 0");
    tap_ok(!(lb_entry_eflags & 0x200), "interrupts are off (EFLAGS.IF = 0)");
    tap_ok((lb_entry_cr0 & 1) && !(lb_entry_cr0 & 0x80000000u), "protected mode, paging off (CR0.PE = 1, PG = 0)");
    tap_ok(lb_entry_regs[REG_EBX] == 0 && lb_entry_regs[REG_EBP] == 0 && lb_entry_regs[REG_EDI] == 0,
           "EBX, EBP and EDI are 0");

    /* From here on exceptions are reported (the runtime's own GDT and IDT). */
    rt_cpu_init();

    /* The E820 map and the command line are read first (printed and checked below): the
     * command line may name a patched header field, and the checks place things in RAM. */
    nmap = rd8(bp + BP_E820_ENTRIES);
    if (nmap > BP_E820_MAX) nmap = 0;
    for (uint32_t i = 0; i < nmap; i++) {
        uint32_t e = bp + BP_E820_TABLE + 20 * i;
        map[i].base = rd64(e);
        map[i].length = rd64(e + 8);
        map[i].type = rd32(e + 16);
    }
    const uint64_t kernel = LB_PREF_ADDRESS, kernel_size = rd32(bp + BP_INIT_SIZE);
    uint32_t cl = rd32(bp + BP_CMD_LINE_PTR);
    uint32_t cl_len = 0;
    while (cl && cl_len <= LB_CMDLINE_SIZE && rd8(cl + cl_len)) cl_len++;
    int cl_ok = cl != 0 && cl_len <= LB_CMDLINE_SIZE && in_ram(cl, cl_len + 1)
        && !overlaps(cl, cl_len + 1, kernel, kernel_size) && !overlaps(cl, cl_len + 1, bp, 4096);
    if (cl_ok) cmdline = (const char *)cl;

    /* ---- boot_params and the setup header copied into it ---- */
    /* linuxboot.initrd_addr_max=HEX: the CLI check patched that field into a copy of the image. */
    uint32_t want_initrd_max = LB_INITRD_ADDR_MAX;
    if (param("linuxboot.initrd_addr_max")) parse_uint(param("linuxboot.initrd_addr_max"), 16, &want_initrd_max);
    tap_ok(bp != 0 && bp < 0xA0000 && !(bp & 0xFFF) && memcmp((const void *)(bp + BP_HEADER_MAGIC), "HdrS", 4) == 0,
           "ESI points at boot_params (a page below 640 KiB with \"HdrS\" at +0x202)");
    tap_ok(rd16(bp + BP_VERSION) == LB_PROTOCOL && rd32(bp + BP_CODE32_START) == LB_CODE32_START
               && rd32(bp + BP_INITRD_ADDR_MAX) == want_initrd_max && rd32(bp + BP_KERNEL_ALIGNMENT) == LB_KERNEL_ALIGNMENT
               && rd32(bp + BP_CMDLINE_SIZE) == LB_CMDLINE_SIZE && rd64(bp + BP_PREF_ADDRESS) == LB_PREF_ADDRESS
               && rd32(bp + BP_INIT_SIZE) >= (uint32_t)__image_end - LB_PREF_ADDRESS,
           "boot_params holds this kernel's setup header (version 2.15, code32_start, initrd_addr_max, cmdline_size, pref_address, init_size)");
    puts("# type_of_loader: 0x");
    putHex8(rd8(bp + BP_TYPE_OF_LOADER));
    puts(", loadflags: 0x");
    putHex8(rd8(bp + BP_LOADFLAGS));
    putc('\n');
    tap_ok(rd8(bp + BP_TYPE_OF_LOADER) != 0 && (rd8(bp + BP_LOADFLAGS) & LB_LOADED_HIGH),
           "type_of_loader is set, loadflags keeps LOADED_HIGH");
    tap_ok(rd8(bp + BP_SENTINEL) == 0, "the sentinel (0x1EF) is 0: the loader zeroed the page around the header");

    for (uint32_t i = 0; i < nmap; i++) {
        puts("# e820: 0x");
        putHex64(map[i].base);
        puts(" 0x");
        putHex64(map[i].length);
        puts(map[i].type == E820_RAM ? " ram\n" : map[i].type == E820_RESERVED ? " reserved\n" : " other\n");
    }

    /* ---- the command line ---- */
    puts("# command line: \"");
    for (uint32_t i = 0; cl_ok && i < cl_len; i++) print_cmdline_char(rd8(cl + i));
    puts("\"\n");
    tap_ok(cl_ok, "cmd_line_ptr: a NUL-terminated string of at most cmdline_size bytes, in RAM, clear of the kernel and boot_params");

    /* ---- the initrd ---- */
    uint32_t rd = rd32(bp + BP_RAMDISK_IMAGE), rd_size = rd32(bp + BP_RAMDISK_SIZE);
    uint32_t want_size = 0, want_crc = 0;
    int have_size = param("linuxboot.initrd_size") && parse_uint(param("linuxboot.initrd_size"), 10, &want_size);
    int have_crc = param("linuxboot.initrd_crc32") && parse_uint(param("linuxboot.initrd_crc32"), 16, &want_crc);
    puts("# initrd: at 0x");
    putHex32(rd);
    puts(", ");
    putDec(rd_size);
    puts(" bytes");
    uint32_t crc = 0;
    if (rd_size && in_ram(rd, rd_size)) {
        crc = crc32(rd, rd_size);
        puts(", crc32 ");
        putHex32(crc);
    }
    putc('\n');
    if (!have_size && !have_crc) {
        /* Booted without --initrd: the fields must say so, the rest has nothing to check. */
        tap_ok(rd == 0 && rd_size == 0, "no initrd on the command line: ramdisk_image and ramdisk_size are 0");
        for (int i = 0; i < 3; i++)
            tap_ok(1, "# SKIP no initrd");
    } else {
        tap_ok(have_size && have_crc, "the command line names the initrd's size and CRC-32");
        tap_ok(rd_size != 0 && !(rd & 0xFFF) && in_ram(rd, rd_size)
                   && (uint64_t)rd + rd_size - 1 <= rd32(bp + BP_INITRD_ADDR_MAX),
               "ramdisk_image: page-aligned, in one RAM range, ending at or below initrd_addr_max");
        tap_ok(!overlaps(rd, rd_size, kernel, kernel_size) && !overlaps(rd, rd_size, bp, 4096)
                   && !(cl_ok && overlaps(rd, rd_size, cl, cl_len + 1)),
               "the initrd is clear of the kernel (pref_address + init_size), boot_params and the command line");
        tap_ok(have_size && have_crc && rd_size == want_size && crc == want_crc,
               "ramdisk_size and the initrd's CRC-32 are the file's");
    }

    /* ---- the E820 map ---- */
    uint64_t ram_size = fw_cfg_ram_size();
    puts("# RAM size (fw_cfg): ");
    putDec((uint32_t)(ram_size >> 10));
    puts(" KiB\n");
    int sorted = nmap > 0;
    for (uint32_t i = 1; i < nmap; i++)
        if (map[i].base < map[i - 1].base + map[i - 1].length) sorted = 0;
    for (uint32_t i = 0; i < nmap; i++)
        if (map[i].length == 0 || map[i].base + map[i].length < map[i].base) sorted = 0;
    tap_ok(sorted, "E820: sorted by address, non-empty and non-overlapping entries");
    int low = 0, high = 0;
    uint64_t high_length = 0;
    for (uint32_t i = 0; i < nmap; i++) {
        if (map[i].type != E820_RAM) continue;
        if (map[i].base == 0 && map[i].length >= 0x80000 && map[i].length <= 0xA0000) low = 1;
        if (map[i].base == 0x100000) { high = 1; high_length = map[i].length; }
    }
    tap_ok(low && high, "E820: RAM at 0 (base memory, 512-640 KiB) and at 1 MiB");
    /* Below the RAM size every byte is RAM, reserved, or in the legacy hole; above it, nothing
     * is RAM. The map is sorted, so the gaps are between neighbours. */
    uint64_t ram = 0, covered = 0, next = 0;
    int gaps_ok = sorted, ram_above = 0;
    for (uint32_t i = 0; i < nmap && sorted; i++) {
        uint64_t b = map[i].base, e = map[i].base + map[i].length;
        uint64_t gap_end = b < ram_size ? b : ram_size;
        if (gap_end > next && (next < 0xA0000 || gap_end > 0x100000)) gaps_ok = 0;
        if (b < ram_size) covered += (e < ram_size ? e : ram_size) - b;
        if (map[i].type == E820_RAM) {
            ram += map[i].length;
            if (e > ram_size) ram_above = 1;
        }
        next = e;
    }
    if (next < ram_size) gaps_ok = 0;
    puts("# E820 RAM: ");
    putDec((uint32_t)(ram >> 10));
    puts(" KiB; reserved below the RAM size: ");
    putDec((uint32_t)((covered - ram) >> 10));
    puts(" KiB; legacy hole: ");
    putDec((uint32_t)((ram_size - covered) >> 10));
    puts(" KiB\n");
    tap_ok(ram_size != 0 && gaps_ok && !ram_above && covered + (0x100000 - 0xA0000) >= ram_size,
           "E820: RAM + reserved + the 0xA0000-0xFFFFF hole make up the RAM size, no RAM beyond it");
    tap_ok(high && (uint64_t)rd32(bp + BP_ALT_MEM_K) * 1024 == high_length
               && rd16(bp + BP_EXT_MEM_K) == (rd32(bp + BP_ALT_MEM_K) > 0xFFFF ? 0xFFFF : rd32(bp + BP_ALT_MEM_K)),
           "alt_mem_k (and ext_mem_k, capped at 0xFFFF) is the RAM contiguous from 1 MiB");
    tap_ok(rd8(bp + BP_VIDEO_COLS) == 80 && rd8(bp + BP_VIDEO_LINES) == 25 && rd8(bp + BP_VIDEO_IS_VGA) == 1,
           "screen_info: an 80x25 VGA text screen");
    tap_ok(in_ram(kernel, kernel_size), "the kernel's pref_address + init_size is RAM");

    if (tap_exit_code() != 0)
        return tap_exit_code();
    if (param("linuxboot.panic") && param("linuxboot.panic")[0] == '1') {
        panic_banner();
        /* Spin as panic() does, interrupts on (with the 8259s masked: no handler is there). */
        outb(0x21, 0xFF);
        outb(0xA1, 0xFF);
        __asm__ volatile("sti");
        for (;;)
            __asm__ volatile("pause");
    }
    puts("# powering off (ACPI S5)\n");
    outw(PM1_CNT, SLP_EN | (0 << 10));
    for (;;)
        __asm__ volatile("hlt");
}
