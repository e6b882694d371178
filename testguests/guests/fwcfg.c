/* fwcfg: QEMU's firmware configuration device through its traditional I/O
 * interface (QEMU docs/specs/fw_cfg.txt): a 16-bit selector written to
 * 0x510, the selected item read a byte at a time from 0x511. Run with the
 * command line "fwcfg=1" (QEMU -append, x86v --append: expected/fwcfg.qemu
 * and fwcfg.spec).
 *
 * Tests: the signature "QEMU", the ID's traditional-interface bit, reads
 * past an item's end and of an unknown item returning 0, reselecting
 * rewinding the offset, the selector's bit 14 being ignored, wider reads of
 * the data port returning 0 without advancing, writes to it ignored, the RAM
 * size (64 MiB, and consistent with the multiboot memory map), one CPU
 * (NB_CPUS, MAX_CPUS), the command-line items being empty for a multiboot
 * kernel (QEMU puts its command line in the multiboot information only:
 * checked there), the file directory (big-endian count and entries, sorted
 * by name, keys from 0x20) and three files in it: etc/boot-fail-wait (-1),
 * etc/e820 (all RAM from 0 as type 1) and etc/system-states (S5 supported
 * with SLP_TYP 0, the value the ACPI PM device powers off on).
 *
 * Left out: the ID's DMA bit and the DMA port 0x514 (QEMU 7.2 has them,
 * x86v offers the traditional interface only), the number of files (QEMU
 * lists 13, among them SeaBIOS's ACPI/SMBIOS inputs; x86v the three above)
 * and their keys. */
#include "runtime.h"

#define FW_CFG_CTL  0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_ID        0x0001
#define FW_CFG_RAM_SIZE  0x0003
#define FW_CFG_NB_CPUS   0x0005
#define FW_CFG_MAX_CPUS  0x000F
#define FW_CFG_CMDLINE_ADDR 0x0013
#define FW_CFG_CMDLINE_SIZE 0x0014
#define FW_CFG_CMDLINE_DATA 0x0015
#define FW_CFG_FILE_DIR  0x0019

static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }

static void fw_select(uint16_t key) { outw(FW_CFG_CTL, key); }
static void fw_read(void *buf, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) ((uint8_t *)buf)[i] = inb(FW_CFG_DATA);
}
static uint32_t fw_le32(void) { uint32_t v; fw_read(&v, 4); return v; }
static uint16_t fw_le16(void) { uint16_t v; fw_read(&v, 2); return v; }
static uint32_t fw_be32(void)
{
    uint8_t b[4];
    fw_read(b, 4);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static uint16_t fw_be16(void) { uint8_t b[2]; fw_read(b, 2); return (uint16_t)(b[0] << 8 | b[1]); }

struct fw_file { uint32_t size; uint16_t key; char name[57]; };
static struct fw_file files[64];
static uint32_t nfiles;

static const struct fw_file *find(const char *name)
{
    for (uint32_t i = 0; i < nfiles; i++) {
        const char *a = files[i].name, *b = name;
        while (*a && *a == *b) { a++; b++; }
        if (*a == 0 && *b == 0) return &files[i];
    }
    return 0;
}

static int name_less(const char *a, const char *b)
{
    while (*a && *a == *b) { a++; b++; }
    return (uint8_t)*a < (uint8_t)*b;
}

int guest_main(void)
{
    puts("x86v-guest: fwcfg\n");
    tap_plan(20);

    char sig[5] = { 0 };
    fw_select(FW_CFG_SIGNATURE);
    fw_read(sig, 4);
    tap_ok(memcmp(sig, "QEMU", 4) == 0, "signature (0x0000): \"QEMU\"");
    tap_ok(inb(FW_CFG_DATA) == 0 && inb(FW_CFG_DATA) == 0, "reads past the end of an item return 0");
    fw_select(FW_CFG_SIGNATURE);
    uint8_t q = inb(FW_CFG_DATA), e = inb(FW_CFG_DATA);
    fw_select(FW_CFG_SIGNATURE);
    tap_ok(q == 'Q' && e == 'E' && inb(FW_CFG_DATA) == 'Q', "selecting again rewinds to the item's first byte");
    fw_select(FW_CFG_SIGNATURE);
    tap_ok(inb(FW_CFG_CTL) == 'Q' && inb(FW_CFG_DATA) == 'E', "a byte read of 0x510 reads the data register too");
    fw_select(FW_CFG_SIGNATURE);
    uint16_t w = inw(FW_CFG_DATA);
    uint32_t l = inl(FW_CFG_DATA);
    tap_ok(w == 0 && l == 0 && inb(FW_CFG_DATA) == 'Q', "word and dword reads of 0x511 return 0 and do not advance");
    fw_select(FW_CFG_SIGNATURE);
    outb(FW_CFG_DATA, 'X');
    outb(FW_CFG_CTL, FW_CFG_ID);
    tap_ok(inb(FW_CFG_DATA) == 'Q', "byte writes to 0x511 and 0x510 are ignored (no write, no select)");

    fw_select(FW_CFG_ID);
    tap_ok(fw_le32() & 1, "ID (0x0001): bit 0, the traditional I/O interface");
    fw_select(0x1234);
    tap_ok(fw_le32() == 0, "an unknown item (0x1234) reads as zeros");

    fw_select(FW_CFG_RAM_SIZE);
    uint32_t ram_lo = fw_le32(), ram_hi = fw_le32();
    tap_ok(ram_lo == 64u << 20 && ram_hi == 0, "RAM size (0x0003, 64-bit): 64 MiB");
    /* The multiboot map's available RAM ends at or below the RAM size, the
     * last range within 1 MiB of it (the firmware keeps its tables there). */
    const uint8_t *mbi = (const uint8_t *)rt_multiboot_info;
    uint32_t mb_flags = *(const uint32_t *)mbi;
    uint32_t top = 0, bad = 0;
    if (mb_flags & (1u << 6)) {
        uint32_t len = *(const uint32_t *)(mbi + 44), addr = *(const uint32_t *)(mbi + 48);
        for (uint32_t p = addr; p < addr + len;) {
            uint32_t size = *(const uint32_t *)p;
            uint64_t base = *(const uint64_t *)(p + 4), length = *(const uint64_t *)(p + 12);
            uint32_t type = *(const uint32_t *)(p + 20);
            if (type == 1) {
                if (base + length > ram_lo) bad++;
                else if (base + length > top) top = (uint32_t)(base + length);
            }
            p += size + 4;
        }
    }
    tap_ok((mb_flags & (1u << 6)) && !bad && top <= ram_lo && ram_lo - top <= 1u << 20,
           "multiboot memory map: available RAM within the RAM size, the top within 1 MiB of it");

    fw_select(FW_CFG_NB_CPUS);
    uint16_t ncpus = fw_le16();
    fw_select(FW_CFG_MAX_CPUS);
    uint16_t maxcpus = fw_le16();
    tap_ok(ncpus == 1 && maxcpus == 1, "NB_CPUS (0x0005) and MAX_CPUS (0x000F): 1");
    fw_select(0x4000 | FW_CFG_NB_CPUS);
    tap_ok(fw_le16() == 1, "selector bit 14 (the old write channel) is ignored");

    fw_select(FW_CFG_CMDLINE_SIZE);
    uint32_t csize = fw_le32();
    fw_select(FW_CFG_CMDLINE_ADDR);
    uint32_t caddr = fw_le32();
    fw_select(FW_CFG_CMDLINE_DATA);
    uint32_t cdata = fw_le32();
    tap_ok(csize == 0 && caddr == 0 && cdata == 0,
           "CMDLINE_SIZE/ADDR/DATA (0x0014/0x0013/0x0015) empty for a multiboot kernel");
    const char *cmdline = (mb_flags & 4) ? (const char *)*(const uint32_t *)(mbi + 16) : "";
    size_t n = strlen(cmdline);
    tap_ok(n >= 7 && memcmp(cmdline + n - 7, "fwcfg=1", 7) == 0, "the command line is in the multiboot information");

    /* ---- the file directory ---- */
    fw_select(FW_CFG_FILE_DIR);
    uint32_t count = fw_be32();
    int sorted = 1, keys = 1;
    nfiles = count < 64 ? count : 64;
    for (uint32_t i = 0; i < nfiles; i++) {
        files[i].size = fw_be32();
        files[i].key = fw_be16();
        (void)fw_be16();
        fw_read(files[i].name, 56);
        files[i].name[56] = 0;
        if (i > 0 && !name_less(files[i - 1].name, files[i].name)) sorted = 0;
        if (files[i].key < 0x20) keys = 0;
    }
    tap_ok(count >= 3 && count <= 64 && sorted && keys,
           "file directory (0x0019): big-endian count and entries, sorted by name, keys from 0x20");

    const struct fw_file *f = find("etc/boot-fail-wait");
    uint32_t wait = 0;
    if (f) { fw_select(f->key); wait = fw_le32(); }
    tap_ok(f && f->size == 4 && wait == 0xFFFFFFFFu, "etc/boot-fail-wait: 4 bytes, -1 (never reboot)");

    f = find("etc/e820");
    uint32_t e820[5] = { 0 };
    if (f) { fw_select(f->key); fw_read(e820, sizeof e820); }
    tap_ok(f && f->size % 20 == 0 && f->size >= 20, "etc/e820: whole 20-byte entries");
    tap_ok(e820[0] == 0 && e820[1] == 0 && e820[2] == 64u << 20 && e820[3] == 0 && e820[4] == 1,
           "etc/e820: the first entry is all RAM from 0, type 1 (RAM)");

    f = find("etc/system-states");
    uint8_t states[6] = { 0 };
    if (f) { fw_select(f->key); fw_read(states, 6); }
    tap_ok(f && f->size == 6 && (states[0] & 0x80), "etc/system-states: 6 bytes, S0 supported");
    tap_ok(states[5] == 0x80, "etc/system-states: S5 supported, SLP_TYP 0");

    return tap_exit_code();
}
