/* firmware: what SeaBIOS leaves in memory for a multiboot kernel under
 * `qemu-system-i386 -kernel` (QEMU 7.2, pc machine), and what x86v's firmware
 * image reproduces (docs/devices.md, "Firmware tables"):
 *
 *  - the multiboot information: flags, boot device, mem_lower/mem_upper and the
 *    memory map (mem_upper = the RAM entry from 1 MiB, the top 128 KiB reserved);
 *  - the BIOS data area: COM ports, EBDA segment, base memory, equipment bits,
 *    keyboard buffer and flags, video mode fields; the EBDA's size byte; the
 *    BIOS date and model byte at F000:FFF5;
 *  - the real-mode IVT: the user vectors 0x60-0x66 and 0x79 are 0, all others
 *    point into the BIOS area, and those the BIOS does not service point at
 *    the dummy IRET at F000:FF53;
 *  - the MP floating pointer, found as xv6's mpsearch does (EBDA, the last KiB
 *    of base memory, 0xF0000-0xFFFFF), and the configuration table: checksums,
 *    the processor entry against CPUID and the local APIC, the ISA bus, the I/O
 *    APIC against its ID register, the ISA interrupt assignments, the local
 *    interrupt assignments;
 *  - ACPI: the RSDP (EBDA, then 0xE0000-0xFFFFF), RSDT, FADT, FACS, DSDT (its
 *    _S5 package), MADT, with signatures, revisions and checksums, and the
 *    FADT's power-management fields.
 *
 * Left out because x86v does not have the device, or because it depends on
 * where SeaBIOS happens to put things: table addresses; LPT1 (QEMU lists its
 * parallel port 0x378), the equipment word's floppy/mouse/LPT bits; the PCI
 * bus and PCI interrupt entries of the MP table; HPET and WAET in the RSDT;
 * the FADT's revision (QEMU's pc FADT is revision 1, x86v's revision 3 with
 * the reset register) and the RESET_REG_SUP flag; the lengths of
 * the RSDT and the DSDT (QEMU's describes its PCI bus and devices); the BIOS
 * tick count; the cursor position (SeaBIOS printed its banner). */
#include "irq.h"

/* Physical memory at a fixed address; the empty asm hides the constant from
 * gcc, whose -Warray-bounds takes low addresses for null-pointer offsets. */
static uint32_t at(uint32_t a) { __asm__("" : "+r"(a)); return a; }
static const uint8_t *p8(uint32_t a) { return (const uint8_t *)at(a); }
static uint16_t r16(uint32_t a) { return *(const volatile uint16_t *)at(a); }
static uint32_t r32(uint32_t a) { return *(const volatile uint32_t *)at(a); }

static void hex(uint32_t v, int digits)
{
    static const char h[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--)
        putc(h[(v >> (4 * i)) & 15]);
}

static void text(uint32_t a, int n)
{
    putc('\'');
    for (int i = 0; i < n; i++)
        putc((char)p8(a)[i]);
    putc('\'');
}

static uint8_t sum(uint32_t a, uint32_t n)
{
    uint8_t s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += p8(a)[i];
    return s;
}

/* ---- multiboot ---- */
struct mmap_entry { uint32_t size, base_lo, base_hi, len_lo, len_hi, type; };
static uint32_t ram_from_1m;        /* the RAM entry starting at 1 MiB, bytes */
static struct { uint32_t base, len, type; } map[32];
static int nmap;

static void check_multiboot(void)
{
    const uint32_t *mbi = (const uint32_t *)rt_multiboot_info;
    if (!mbi) {
        tap_ok(0, "multiboot information present");
        return;
    }
    puts("# multiboot flags 0x"); hex(mbi[0], 8);
    puts(" boot_device 0x"); hex(mbi[3], 8);
    puts(" mods_count "); putDec(mbi[5]);
    puts(" mem_lower "); putDec(mbi[1]);
    puts(" mem_upper "); putDec(mbi[2]); puts("\n");
    tap_ok((mbi[0] & 0x41) == 0x41 && mbi[1] == 639,
           "multiboot: memory fields and map present, mem_lower 639 KiB");
    int sorted = 1, lengths = 1;
    uint32_t end = 0;
    for (uint32_t p = mbi[12]; p < mbi[12] + mbi[11] && nmap < 32; nmap++) {
        const struct mmap_entry *e = (const struct mmap_entry *)p;
        puts("# mmap base 0x"); hex(e->base_hi, 8); hex(e->base_lo, 8);
        puts(" length 0x"); hex(e->len_hi, 8); hex(e->len_lo, 8);
        puts(" type "); putDec(e->type); puts("\n");
        if (e->size != 20) lengths = 0;
        if (e->base_hi || e->base_lo < end) sorted = 0;
        end = e->base_lo + e->len_lo;
        map[nmap].base = e->base_lo; map[nmap].len = e->len_lo; map[nmap].type = e->type;
        if (e->base_lo == 0x100000 && e->type == 1)
            ram_from_1m = e->len_lo;
        p += e->size + 4;
    }
    tap_ok(lengths && sorted && nmap >= 4, "memory map: 20-byte entries, sorted, not overlapping");
    tap_ok(nmap > 0 && map[0].base == 0 && map[0].type == 1 && map[0].len == 639 * 1024,
           "memory map: RAM from 0 to the EBDA (639 KiB)");
    tap_ok(ram_from_1m && mbi[2] == ram_from_1m / 1024,
           "memory map: mem_upper = the RAM entry from 1 MiB, in KiB");
}

/* Is [a, a+n) inside a non-RAM entry of the memory map? */
static int reserved(uint32_t a, uint32_t n)
{
    for (int i = 0; i < nmap; i++)
        if (map[i].type != 1 && a >= map[i].base && a + n <= map[i].base + map[i].len)
            return 1;
    return 0;
}

/* ---- BDA, EBDA, IVT ---- */
static uint32_t ebda;

static void check_bda(void)
{
    puts("# BDA COM1-4 "); hex(r16(0x400), 4); putc(' '); hex(r16(0x402), 4); putc(' ');
    hex(r16(0x404), 4); putc(' '); hex(r16(0x406), 4); puts("\n");
    puts("# BDA EBDA segment "); hex(r16(0x40E), 4);
    puts(" base memory "); putDec(r16(0x413));
    puts(" KiB, equipment & 0x0e32 = 0x"); hex(r16(0x410) & 0x0E32, 4);
    puts(" (x87, video mode, serial count)\n");
    puts("# BDA keyboard flags "); hex(p8(0x417)[0], 2); putc(' '); hex(p8(0x418)[0], 2);
    puts(" buffer head "); hex(r16(0x41A), 4); puts(" tail "); hex(r16(0x41C), 4);
    puts(" start "); hex(r16(0x480), 4); puts(" end "); hex(r16(0x482), 4);
    puts(" status "); hex(p8(0x496)[0], 2); puts(" LEDs "); hex(p8(0x497)[0], 2); puts("\n");
    puts("# BDA video mode "); hex(p8(0x449)[0], 2); puts(" columns "); putDec(r16(0x44A));
    puts(" page size "); hex(r16(0x44C), 4); puts(" cursor shape "); hex(r16(0x460), 4);
    puts(" page "); putDec(p8(0x462)[0]); puts(" CRTC "); hex(r16(0x463), 4);
    puts(" rows-1 "); putDec(p8(0x484)[0]); puts(" char height "); putDec(r16(0x485)); puts("\n");
    puts("# BDA hard disks "); putDec(p8(0x475)[0]); puts(" COM1 timeout "); putDec(p8(0x47C)[0]); puts("\n");
    ebda = (uint32_t)r16(0x40E) << 4;
    puts("# EBDA size "); putDec(p8(ebda)[0]); puts(" KiB\n");
    tap_ok(ebda && r16(0x413) * 1024u + p8(ebda)[0] * 1024u == 640 * 1024u && ebda == r16(0x413) * 1024u,
           "BDA: the EBDA starts where base memory ends, and ends at 640 KiB");
    tap_ok(reserved(ebda, p8(ebda)[0] * 1024u), "memory map: the EBDA is reserved");
    puts("# BIOS date "); text(0xFFFF5, 8); puts(" model "); hex(p8(0xFFFFE)[0], 2); puts("\n");
}

static int bios_vector(int v)
{
    return v == 0x02 || v == 0x05 || (v >= 0x08 && v <= 0x1A) || v == 0x1E || v == 0x1F ||
           v == 0x40 || v == 0x43 || (v >= 0x70 && v <= 0x77);
}

static void check_ivt(void)
{
    int zero_ok = 1, rom_ok = 1, iret_ok = 1;
    for (int v = 0; v < 256; v++) {
        uint32_t f = r32(v * 4u);
        uint32_t target = (f >> 16) * 16u + (f & 0xFFFF);
        int zero = (v >= 0x60 && v <= 0x66) || v == 0x79;
        if (zero) {
            if (f) zero_ok = 0;
        } else if (target < 0xC0000 || target > 0xFFFFF) {
            rom_ok = 0;
        } else if (!bios_vector(v) && (f != 0xF000FF53 || p8(target)[0] != 0xCF)) {
            iret_ok = 0;
        }
    }
    tap_ok(zero_ok, "IVT: vectors 0x60-0x66 and 0x79 are 0");
    tap_ok(rom_ok, "IVT: every other vector points into 0xC0000-0xFFFFF");
    tap_ok(iret_ok, "IVT: vectors the BIOS does not service point at F000:FF53, an IRET");
}

/* ---- MP ---- */
static uint32_t mp_scan(uint32_t a, uint32_t len)
{
    for (uint32_t p = a; p + 16 <= a + len; p += 16)
        if (!memcmp(p8(p), "_MP_", 4) && sum(p, 16) == 0)
            return p;
    return 0;
}

static void check_mp(void)
{
    uint32_t mp = 0;
    if (ebda)
        mp = mp_scan(ebda, 1024);
    if (!mp)
        mp = mp_scan(r16(0x413) * 1024u - 1024, 1024);
    if (!mp)
        mp = mp_scan(0xF0000, 0x10000);
    if (!tap_ok(mp != 0, "MP floating pointer found, 16-byte aligned, checksum 0")) return;
    puts("# MP floating length "); putDec(p8(mp)[8]); puts(" revision "); putDec(p8(mp)[9]);
    puts(" features "); for (int i = 11; i < 16; i++) hex(p8(mp)[i], 2); puts("\n");
    uint32_t c = r32(mp + 4);
    uint16_t len = r16(c + 4);
    tap_ok(c && !memcmp(p8(c), "PCMP", 4) && p8(c)[6] == 4 && sum(c, len) == 0,
           "MP configuration table: PCMP, revision 4, checksum 0");
    tap_ok(reserved(mp, 16) && reserved(c, len), "memory map: the MP structures are in reserved memory");
    puts("# MP OEM "); text(c + 8, 8); puts(" product "); text(c + 16, 12);
    puts(" local APIC 0x"); hex(r32(c + 36), 8); puts(" extended length "); putDec(r16(c + 40)); puts("\n");

    uint32_t cpuid_a, cpuid_b, cpuid_c, cpuid_d;
    __asm__ volatile("cpuid" : "=a"(cpuid_a), "=b"(cpuid_b), "=c"(cpuid_c), "=d"(cpuid_d) : "a"(1), "c"(0));
    int isa = -1, procs = 0, proc_ok = 0, ioapics = 0, ioapic_ok = 0;
    uint32_t p = c + 44;
    for (int i = 0; i < r16(c + 34) && p < c + len; i++) {
        const uint8_t *e = p8(p);
        if (e[0] == 0) {
            puts("# MP processor APIC id "); putDec(e[1]); puts(" version 0x"); hex(e[2], 2);
            puts(" flags 0x"); hex(e[3], 2); puts("\n");
            procs++;
            proc_ok = e[1] == lapic_read(LAPIC_ID) >> 24 && e[2] == (lapic_read(LAPIC_VERSION) & 0xFF) &&
                      r32(p + 4) == cpuid_a && r32(p + 8) == cpuid_d;
            p += 20;
            continue;
        }
        if (e[0] == 1) {
            if (!memcmp(e + 2, "ISA   ", 6)) {
                isa = e[1];
                puts("# MP bus ISA\n");
            }
        } else if (e[0] == 2) {
            puts("# MP I/O APIC id "); putDec(e[1]); puts(" version 0x"); hex(e[2], 2);
            puts(" flags 0x"); hex(e[3], 2); puts(" address 0x"); hex(r32(p + 4), 8); puts("\n");
            ioapics++;
            ioapic_ok = e[1] == ioapic_read(0) >> 24;
        } else if ((e[0] == 3 || e[0] == 4) && e[4] == isa) {
            puts(e[0] == 3 ? "# MP I/O interrupt" : "# MP local interrupt");
            puts(" type "); putDec(e[1]); puts(" flags 0x"); hex(r16(p + 2), 4);
            puts(" ISA IRQ "); putDec(e[5]);
            puts(e[0] == 3 ? " -> I/O APIC " : " -> local APIC 0x"); hex(e[6], 2);
            puts(e[0] == 3 ? " INTIN " : " LINTIN "); putDec(e[7]); puts("\n");
        }
        p += 8;
    }
    tap_ok(procs == 1 && proc_ok,
           "MP processor: one, its APIC id and version the local APIC's, signature and features CPUID.1's");
    tap_ok(isa >= 0, "MP: an ISA bus");
    tap_ok(ioapics == 1 && ioapic_ok, "MP I/O APIC: one, its id the I/O APIC's ID register");
}

/* ---- ACPI ---- */
static int table_ok(uint32_t t, const char *sig)
{
    return t && !memcmp(p8(t), sig, 4) && sum(t, r32(t + 4)) == 0;
}

static void header(const char *name, uint32_t t)
{
    puts("# "); puts(name); puts(" revision "); putDec(p8(t)[8]);
    puts(" OEM "); text(t + 10, 6); puts(" table "); text(t + 16, 8);
    puts(" OEM revision "); putDec(r32(t + 24)); puts(" creator "); text(t + 28, 4);
    puts(" revision "); putDec(r32(t + 32)); puts("\n");
}

static uint32_t rsdp_scan(uint32_t a, uint32_t len)
{
    for (uint32_t p = a; p + 20 <= a + len; p += 16)
        if (!memcmp(p8(p), "RSD PTR ", 8) && sum(p, 20) == 0)
            return p;
    return 0;
}

static void check_madt(uint32_t m)
{
    puts("# MADT local APIC 0x"); hex(r32(m + 36), 8); puts(" flags 0x"); hex(r32(m + 40), 8); puts("\n");
    for (uint32_t p = m + 44; p < m + r32(m + 4); p += p8(p)[1]) {
        const uint8_t *e = p8(p);
        if (e[1] == 0) break;
        if (e[0] == 0) {
            puts("# MADT processor "); putDec(e[2]); puts(" APIC id "); putDec(e[3]);
            puts(" flags 0x"); hex(r32(p + 4), 8);
        } else if (e[0] == 1) {
            puts("# MADT I/O APIC id "); putDec(e[2]); puts(" address 0x"); hex(r32(p + 4), 8);
            puts(" GSI base "); putDec(r32(p + 8));
        } else if (e[0] == 2) {
            puts("# MADT override bus "); putDec(e[2]); puts(" IRQ "); putDec(e[3]);
            puts(" GSI "); putDec(r32(p + 4)); puts(" flags 0x"); hex(r16(p + 8), 4);
        } else if (e[0] == 4) {
            puts("# MADT local APIC NMI processor 0x"); hex(e[2], 2); puts(" flags 0x"); hex(r16(p + 3), 4);
            puts(" LINT "); putDec(e[5]);
        } else {
            puts("# MADT entry type "); putDec(e[0]);
        }
        puts("\n");
    }
}

static void check_dsdt(uint32_t d)
{
    uint32_t len = r32(d + 4);
    for (uint32_t p = d + 36; p + 9 < d + len; p++) {
        if (memcmp(p8(p), "_S5_", 4) || p8(p - 1)[0] != 0x08 || p8(p + 4)[0] != 0x12)
            continue;
        const uint8_t *k = p8(p + 5);      /* PkgLength (one byte here), NumElements, elements */
        uint32_t v[2];
        const uint8_t *q = k + 2;
        for (int i = 0; i < 2; i++) {
            if (q[0] == 0x0A) { v[i] = q[1]; q += 2; }         /* BytePrefix */
            else { v[i] = q[0] == 0x01 ? 1 : q[0] == 0xFF ? 0xFF : 0; q += 1; }  /* One, Ones, Zero */
        }
        puts("# DSDT _S5 elements "); putDec(k[1]); puts(" SLP_TYPa "); putDec(v[0]);
        puts(" SLP_TYPb "); putDec(v[1]); puts("\n");
        tap_ok(1, "DSDT: a _S5 package");
        return;
    }
    tap_ok(0, "DSDT: a _S5 package");
}

static void check_acpi(void)
{
    uint32_t r = ebda ? rsdp_scan(ebda, 1024) : 0;
    if (!r)
        r = rsdp_scan(0xE0000, 0x20000);
    if (!tap_ok(r != 0, "RSDP found, 16-byte aligned, checksum 0")) return;
    puts("# RSDP revision "); putDec(p8(r)[15]); puts(" OEM "); text(r + 9, 6); puts("\n");
    uint32_t rsdt = r32(r + 16);
    if (!tap_ok(table_ok(rsdt, "RSDT"), "RSDT: signature, checksum")) return;
    header("RSDT", rsdt);
    uint32_t facp = 0, apic = 0, n = (r32(rsdt + 4) - 36) / 4;
    int all_reserved = reserved(rsdt, r32(rsdt + 4));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = r32(rsdt + 36 + 4 * i);
        if (!memcmp(p8(t), "FACP", 4)) facp = t;
        if (!memcmp(p8(t), "APIC", 4)) apic = t;
    }
    tap_ok(facp && apic, "RSDT lists FACP and APIC");

    if (tap_ok(table_ok(facp, "FACP") && p8(facp)[8] >= 1 && r32(facp + 4) >= 116,
               "FACP: signature, checksum, revision >= 1, at least the ACPI 1.0 fields")) {
        all_reserved &= reserved(facp, r32(facp + 4));
        puts("# FACP SCI IRQ "); putDec(r16(facp + 46)); puts(" SMI_CMD 0x"); hex(r32(facp + 48), 2);
        puts(" ACPI enable 0x"); hex(p8(facp)[52], 2); puts(" disable 0x"); hex(p8(facp)[53], 2); puts("\n");
        puts("# FACP PM1a_EVT 0x"); hex(r32(facp + 56), 4); puts("/"); putDec(p8(facp)[88]);
        puts(" PM1a_CNT 0x"); hex(r32(facp + 64), 4); puts("/"); putDec(p8(facp)[89]);
        puts(" PM_TMR 0x"); hex(r32(facp + 76), 4); puts("/"); putDec(p8(facp)[91]);
        puts(" GPE0 0x"); hex(r32(facp + 80), 4); puts("/"); putDec(p8(facp)[92]);
        puts(" PM1b "); putDec(r32(facp + 60) | r32(facp + 68)); puts(" PM2 "); putDec(r32(facp + 72));
        puts(" century 0x"); hex(p8(facp)[108], 2); puts("\n");
        uint32_t flags = r32(facp + 112) & ~(1u << 10);
        puts("# FACP flags but RESET_REG_SUP 0x"); hex(flags, 8);
        puts(flags & (1u << 8) ? " (32-bit PM timer)\n" : " (24-bit PM timer)\n");
        uint32_t facs = r32(facp + 36), dsdt = r32(facp + 40);
        tap_ok(facs && !memcmp(p8(facs), "FACS", 4) && r32(facs + 4) >= 64 && (facs & 63) == 0,
               "FACS: signature, length, 64-byte aligned");
        all_reserved &= reserved(facs, 64);
        if (tap_ok(table_ok(dsdt, "DSDT"), "DSDT: signature, checksum")) {
            header("DSDT", dsdt);
            all_reserved &= reserved(dsdt, r32(dsdt + 4));
            check_dsdt(dsdt);
        }
    }
    if (tap_ok(table_ok(apic, "APIC"), "MADT: signature, checksum")) {
        header("MADT", apic);
        all_reserved &= reserved(apic, r32(apic + 4));
        check_madt(apic);
    }
    tap_ok(all_reserved, "memory map: the ACPI tables are in reserved memory");
}

int guest_main(void)
{
    puts("x86v-guest: firmware\n");
    tap_plan(24);
    check_multiboot();
    check_bda();
    check_ivt();
    check_mp();
    check_acpi();
    puts("# I/O APIC ID register "); putDec(ioapic_read(0) >> 24);
    puts(", local APIC ID register "); putDec(lapic_read(LAPIC_ID) >> 24); puts("\n");
    puts("# firmware done\n");
    return tap_exit_code();
}
