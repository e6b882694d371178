/* ide: the IDE (ATA) disk on the primary channel, PIO, IRQ14 (8259 slave,
 * IR6), against a 1 MiB image whose every sector says where it is
 * (guests/ide-pattern.h; the Makefile builds build/ide-disk.img). Runs with
 * the image as the primary master only, opened as a snapshot (writes stay in
 * memory): x86v --drive build/ide-disk.img,index=0,snapshot; QEMU -drive
 * file=...,index=0,media=disk,format=raw,snapshot=on (expected/ide.qemu).
 *
 * Tests: device 1 selected at boot (SeaBIOS's probe ends there); the
 * positions without a disk (primary slave, secondary channel) read 0 as
 * xv6 probes them; IDENTIFY DEVICE fields; READ SECTORS one and
 * several sectors with an interrupt per sector, and polled with nIEN set (no
 * interrupt); Alternate Status leaving the interrupt line up where Status
 * takes it down (the line watched in the 8259's IRR in level mode);
 * WRITE SECTORS and reading back; SET MULTIPLE MODE and READ/WRITE MULTIPLE
 * (an interrupt per block); CHS addressing (and the registers after it);
 * LBA48 READ SECTORS EXT; out-of-range LBAs (ERR with IDNF or ABRT:
 * QEMU reports ABRT, real drives and x86v IDNF, both allowed by ATA-6);
 * unknown and NOP commands (ABRT); FLUSH CACHE; SET FEATURES; CHECK POWER
 * MODE; EXECUTE DEVICE DIAGNOSTIC; software reset (the signature after it);
 * commands to the absent slave ignored.
 *
 * Left out because x86v follows ATA-6 where QEMU does not (docs/devices.md):
 * whether SRST interrupts (QEMU does) and whether Status shows BSY while
 * SRST is held (QEMU resets at once); what clearing nIEN does with an
 * interrupt that came while it was set (QEMU forgets it; the guest reads
 * Status before clearing nIEN); IDENTIFY word 59 after SET MULTIPLE MODE
 * (QEMU keeps reporting the first IDENTIFY's data). The model and serial
 * strings differ (QEMU HARDDISK, x86v HARDDISK): only their form is checked.
 * Without the disk the guest bails out at once, the same on both.
 *
 * Built with -DIDE_PERSIST (build/drive/ide-persist.elf, for
 * Tests/cli/check-drive.sh) it does one thing, named on the multiboot
 * command line (x86v --append): "mode=write" writes sectors
 * IDE_PERSIST_LBA.. (FLUSH CACHE after), "mode=read" checks them, "mode=readonly" expects the write to abort,
 * "mode=slave" reads the disk as the primary slave with no master (xv6's
 * layout; QEMU 7.2 gives the same with -drive ...,index=1). */
#include "irq.h"
#include "ide-pattern.h"

#define PRI 0x1F0
#define PRI_CTL 0x3F6
#define SEC 0x170
#define SEC_CTL 0x376

#define ST_BSY 0x80
#define ST_DRDY 0x40
#define ST_DSC 0x10
#define ST_DRQ 0x08
#define ST_ERR 0x01
#define ER_ABRT 0x04
#define ER_IDNF 0x10

#define CTL_NIEN 0x02
#define CTL_SRST 0x04

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static volatile uint32_t n14;
static volatile uint8_t irq_status;

static void on_irq14(struct rt_frame *f)
{
    (void)f;
    irq_status = inb(PRI + 7);   /* reading Status acknowledges the device */
    n14++;
    pic_eoi(14);
}

static uint8_t sector[16 * 512];

/* Alternate Status until BSY clears (QEMU completes PIO reads asynchronously). */
static uint8_t wait_ready(void)
{
    uint8_t s = inb(PRI_CTL);
    for (uint32_t i = 0; i < 1000000u && (s & ST_BSY); i++)
        s = inb(PRI_CTL);
    return s;
}

static void set_lba28(uint32_t lba, uint8_t count, int slave)
{
    outb(PRI + 2, count);
    outb(PRI + 3, (uint8_t)lba);
    outb(PRI + 4, (uint8_t)(lba >> 8));
    outb(PRI + 5, (uint8_t)(lba >> 16));
    outb(PRI + 6, (uint8_t)(0xE0 | (slave << 4) | ((lba >> 24) & 0x0F)));
}

static void read_words(uint8_t *p, int words)
{
    for (int i = 0; i < words; i++) {
        uint16_t w = inw(PRI);
        p[2 * i] = (uint8_t)w;
        p[2 * i + 1] = (uint8_t)(w >> 8);
    }
}

static void write_words(const uint8_t *p, int words)
{
    for (int i = 0; i < words; i++)
        outw(PRI, (uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
}

static int matches(const uint8_t *p, uint32_t lba, uint32_t count, uint8_t tag)
{
    for (uint32_t n = 0; n < count; n++)
        for (uint32_t i = 0; i < 512; i++)
            if (p[n * 512 + i] != ide_pattern(lba + n, i, tag))
                return 0;
    return 1;
}

static void fill(uint8_t *p, uint32_t lba, uint32_t count, uint8_t tag)
{
    for (uint32_t n = 0; n < count; n++)
        for (uint32_t i = 0; i < 512; i++)
            p[n * 512 + i] = ide_pattern(lba + n, i, tag);
}

/* Polled PIO (nIEN set): a data-in command of `count` sectors in blocks of
 * `block`; returns the final status (0xFF if DRQ never came). */
static uint8_t pio_in(uint8_t cmd, uint8_t *p, int count, int block)
{
    outb(PRI + 7, cmd);
    for (int done = 0; done < count; done += block) {
        uint8_t s = wait_ready();
        if (!(s & ST_DRQ))
            return s;
        int n = count - done < block ? count - done : block;
        read_words(p + done * 512, n * 256);
    }
    return wait_ready();
}

/* Polled PIO data-out. */
static uint8_t pio_out(uint8_t cmd, const uint8_t *p, int count, int block)
{
    outb(PRI + 7, cmd);
    for (int done = 0; done < count; done += block) {
        uint8_t s = wait_ready();
        if (!(s & ST_DRQ))
            return s;
        int n = count - done < block ? count - done : block;
        write_words(p + done * 512, n * 256);
    }
    return wait_ready();
}

/* A non-data command, polled; returns the status. */
static uint8_t pio_none(uint8_t cmd)
{
    outb(PRI + 7, cmd);
    return wait_ready();
}

static uint16_t identify[256];

static int do_identify(void)
{
    outb(PRI_CTL, CTL_NIEN);
    outb(PRI + 6, 0xA0);
    uint8_t s = pio_in(0xEC, (uint8_t *)identify, 1, 1);
    inb(PRI + 7);
    return (s & (ST_ERR | ST_DRQ | ST_BSY)) == 0;
}

/* An ATA string (two characters a word, high byte first): printable ASCII,
 * not all spaces. */
static int ata_string_ok(int word, int words)
{
    int nonblank = 0;
    for (int i = 0; i < words; i++) {
        uint8_t c[2] = { (uint8_t)(identify[word + i] >> 8), (uint8_t)identify[word + i] };
        for (int k = 0; k < 2; k++) {
            if (c[k] < 0x20 || c[k] > 0x7E)
                return 0;
            if (c[k] != ' ')
                nonblank = 1;
        }
    }
    return nonblank;
}

static uint8_t pic_irr_line14(void) { return (uint8_t)((pic_read_irr() >> 14) & 1); }

#ifdef IDE_PERSIST
static const char *cmdline(void)
{
    const uint32_t *mbi = (const uint32_t *)rt_multiboot_info;
    if (mbi && (mbi[0] & 4) && mbi[4])
        return (const char *)mbi[4];
    return "";
}

static int has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (; *s; s++)
        if (memcmp(s, w, n) == 0)
            return 1;
    return 0;
}

/* The persistence modes (Tests/cli/check-drive.sh). ide.elf never reads the
 * command line: QEMU's holds the kernel's path, x86v's is empty, and
 * `x86v lockstep` would see them differ. */
static int persist(const char *line)
{
    tap_plan(1);
    outb(PRI_CTL, CTL_NIEN);
    uint8_t s;
    if (has_word(line, "mode=write")) {
        fill(sector, IDE_PERSIST_LBA, IDE_PERSIST_COUNT, IDE_PERSIST_TAG);
        set_lba28(IDE_PERSIST_LBA, IDE_PERSIST_COUNT, 0);
        s = pio_out(0x30, sector, IDE_PERSIST_COUNT, 1);
        uint8_t f = pio_none(0xE7);
        tap_ok((s & (ST_ERR | ST_DRQ)) == 0 && (f & ST_ERR) == 0, "wrote the persistence sectors, FLUSH CACHE");
    } else if (has_word(line, "mode=read") && !has_word(line, "mode=readonly")) {
        set_lba28(IDE_PERSIST_LBA, IDE_PERSIST_COUNT, 0);
        s = pio_in(0x20, sector, IDE_PERSIST_COUNT, 1);
        tap_ok((s & ST_ERR) == 0 && matches(sector, IDE_PERSIST_LBA, IDE_PERSIST_COUNT, IDE_PERSIST_TAG),
               "read back what the previous run wrote");
    } else if (has_word(line, "mode=slave")) {
        /* The disk as the primary slave only (xv6's fs.img): the absent master still answers
         * (DRDY, every command aborted, as SeaBIOS's probe leaves it), the slave reads. */
        outb(PRI + 6, 0xE0);
        uint8_t ms = inb(PRI + 7), me = inb(PRI + 1);
        uint8_t ids = pio_none(0xEC);
        uint8_t ide = inb(PRI + 1);
        outb(PRI + 6, 0xF0);
        uint8_t ss = inb(PRI + 7);
        set_lba28(33, 2, 1);
        s = pio_in(0x20, sector, 2, 1);
        inb(PRI + 7);
        tap_ok(ms == (ST_DRDY | ST_ERR) && me == ER_ABRT && (ids & ST_ERR) && ide == ER_ABRT && ss == (ST_DRDY | ST_DSC) &&
               (s & ST_ERR) == 0 && matches(sector, 33, 2, 0),
               "disk at index 1 only: the master answers DRDY|ERR and aborts IDENTIFY; the slave reads");
    } else {
        fill(sector, IDE_PERSIST_LBA, 1, IDE_PERSIST_TAG);
        set_lba28(IDE_PERSIST_LBA, 1, 0);
        s = pio_out(0x30, sector, 1, 1);
        uint8_t e = inb(PRI + 1);
        tap_ok((s & ST_ERR) && (e & ER_ABRT), "a write to a read-only drive aborts");
        puts("# status 0x"); putHex32(s); puts(" error 0x"); putHex32(e); puts("\n");
    }
    inb(PRI + 7);
    return tap_exit_code();
}
#endif

int guest_main(void)
{
    puts("x86v-guest: ide\n");
    irq_init();
    irq_set_handler(IRQ_VECTOR(14), on_irq14);
#ifdef IDE_PERSIST
    return persist(cmdline());
#endif

    /* Without the disk (a run without the spec's flags, `x86v lockstep`) the
     * primary master reads 0 on x86v and on QEMU alike: stop before the tests. */
    /* SeaBIOS leaves device 1 selected on the channel (its probe ends there). */
    uint8_t boot_dev = inb(PRI + 6), boot_slave = inb(PRI + 7);
    outb(PRI + 6, 0xA0);
    uint8_t st0 = inb(PRI + 7);
    if (st0 == 0) {
        puts("Bail out! no disk at the primary master (x86v: --drive build/ide-disk.img,index=0,snapshot)\n");
        return 2;
    }
    tap_plan(32);

    /* ---- 1-3: the positions without a disk, read as xv6's ideinit does ---- */
    outb(PRI + 6, 0xE0 | (1 << 4));
    uint8_t slave_status = inb(PRI + 7), slave_alt = inb(PRI_CTL), slave_err = inb(PRI + 1);
    outb(PRI + 6, 0xE0);
    tap_ok(slave_status == 0 && slave_alt == 0 && slave_err == 0,
           "absent primary slave: Status, Alternate Status and Error read 0");
    outb(SEC + 6, 0xA0);
    outb(SEC + 2, 0x55);
    outb(SEC + 3, 0xAA);
    uint8_t sec[8];
    for (int i = 1; i < 8; i++) sec[i] = inb(SEC + i);
    tap_ok(sec[1] == 0 && sec[2] == 0 && sec[3] == 0 && sec[4] == 0 && sec[5] == 0 && sec[6] == 0 && sec[7] == 0 && inb(SEC_CTL) == 0,
           "secondary channel without disks: every register reads 0");
    tap_ok(boot_dev == 0xB0 && boot_slave == 0 && (st0 & (ST_BSY | ST_DRDY | ST_DRQ | ST_ERR)) == ST_DRDY,
           "at boot: device 1 selected (as SeaBIOS leaves it); the master DRDY, not BSY/DRQ/ERR");

    /* ---- 4-9: IDENTIFY DEVICE ---- */
    tap_ok(do_identify(), "IDENTIFY DEVICE: one block of data, then no DRQ, no ERR");
    tap_ok(identify[0] == 0x0040 && identify[1] == 2 && identify[3] == 16 && identify[6] == 63,
           "IDENTIFY: fixed disk, default geometry 2/16/63 (1 MiB)");
    tap_ok(identify[60] == IDE_DISK_SECTORS && identify[61] == 0 && identify[100] == IDE_DISK_SECTORS &&
           identify[101] == 0 && identify[102] == 0 && identify[103] == 0,
           "IDENTIFY words 60-61 and 100-103: 2048 sectors");
    tap_ok((identify[49] & (1 << 9)) && identify[47] == 0x8010 && (identify[83] & 0x3400) == 0x3400 &&
           (identify[86] & (1 << 10)) && (identify[80] & 0x70) == 0x70 && identify[53] & 1,
           "IDENTIFY: LBA, 16-sector multiple, LBA48 + FLUSH CACHE (EXT), ATA-4 to ATA-6, words 54-58 valid");
    tap_ok(identify[54] == 2 && identify[55] == 16 && identify[56] == 63 &&
           identify[57] == 2 * 16 * 63 && identify[58] == 0 && identify[59] == 0x110,
           "IDENTIFY: current CHS 2/16/63 = 2016 sectors, multiple mode on at 16");
    tap_ok(ata_string_ok(27, 20) && ata_string_ok(10, 10) && ata_string_ok(23, 4),
           "IDENTIFY: model, serial and firmware are space-padded ASCII");

    /* ---- 10-12: READ SECTORS, interrupt per sector ---- */
    pic_unmask(14);
    outb(PRI_CTL, 0);          /* nIEN = 0 */
    n14 = 0;
    set_lba28(5, 1, 0);
    outb(PRI + 7, 0x20);
    irq_wait(&n14, 1);
    read_words(sector, 256);
    uint8_t s_after = wait_ready();
    tap_ok(n14 == 1 && (irq_status & (ST_DRQ | ST_ERR)) == ST_DRQ && matches(sector, 5, 1, 0) &&
           (s_after & (ST_DRQ | ST_ERR | ST_DRDY)) == ST_DRDY,
           "READ SECTORS LBA 5: one interrupt with DRQ, the sector, then DRQ clear");
    tap_ok(inb(PRI + 2) == 0 && inb(PRI + 3) == 6 && inb(PRI + 4) == 0 && inb(PRI + 5) == 0 &&
           (inb(PRI + 6) & 0x5F) == 0x40,
           "after it the task file points at the next sector (count 0, LBA 6)");
    n14 = 0;
    set_lba28(100, 4, 0);
    outb(PRI + 7, 0x20);
    int ok = 1;
    for (int k = 0; k < 4; k++) {
        irq_wait(&n14, (uint32_t)k + 1);
        ok &= (irq_status & ST_DRQ) != 0;
        read_words(sector + k * 512, 256);
    }
    wait_ready();
    tap_ok(ok && n14 == 4 && matches(sector, 100, 4, 0), "READ SECTORS 4 at LBA 100: four interrupts, four sectors");

    /* ---- 13: polled with nIEN = 1 ---- */
    outb(PRI_CTL, CTL_NIEN);
    n14 = 0;
    set_lba28(2045, 3, 0);
    uint8_t s = pio_in(0x20, sector, 3, 1);
    inb(PRI + 7);
    tap_ok(n14 == 0 && (s & (ST_ERR | ST_DRQ)) == 0 && matches(sector, 2045, 3, 0),
           "polled READ SECTORS of the last 3 sectors with nIEN set: no interrupt");

    /* ---- 14-15: the line itself (8259 level mode, IRQ14 masked) ---- */
    pic_mask(14);
    outb(0x4D1, (uint8_t)(inb(0x4D1) | 0x40));     /* ELCR: IRQ14 level-triggered */
    outb(PRI_CTL, 0);
    set_lba28(7, 1, 0);
    outb(PRI + 7, 0x40);                            /* READ VERIFY: non-data, interrupts */
    wait_ready();
    uint8_t l1 = pic_irr_line14();
    inb(PRI_CTL); inb(PRI_CTL);
    uint8_t l2 = pic_irr_line14();
    uint8_t vs = inb(PRI + 7);
    uint8_t l3 = pic_irr_line14();
    tap_ok(l1 == 1 && l2 == 1 && l3 == 0 && (vs & (ST_ERR | ST_DRQ)) == 0,
           "READ VERIFY raises IRQ14; Alternate Status leaves it up, Status takes it down");
    outb(PRI_CTL, CTL_NIEN);
    set_lba28(7, 1, 0);
    outb(PRI + 7, 0x40);
    wait_ready();
    uint8_t l4 = pic_irr_line14();
    inb(PRI + 7);
    outb(PRI_CTL, 0);
    uint8_t l5 = pic_irr_line14();
    tap_ok(l4 == 0 && l5 == 0, "with nIEN set the line stays down");
    outb(0x4D1, (uint8_t)(inb(0x4D1) & ~0x40));
    pic_unmask(14);

    /* ---- 16-17: WRITE SECTORS with interrupts, read back ---- */
    n14 = 0;
    fill(sector, 200, 3, 0x11);
    set_lba28(200, 3, 0);
    outb(PRI + 7, 0x30);
    ok = 1;
    for (int k = 0; k < 3; k++) {
        uint8_t w = wait_ready();
        ok &= (w & ST_DRQ) != 0 && n14 == (uint32_t)k;   /* no interrupt before the first block */
        write_words(sector + k * 512, 256);
        irq_wait(&n14, (uint32_t)k + 1);
    }
    tap_ok(ok && n14 == 3 && (irq_status & (ST_DRQ | ST_ERR)) == 0, "WRITE SECTORS 3: DRQ first, an interrupt after each sector");
    outb(PRI_CTL, CTL_NIEN);
    memset(sector, 0, 3 * 512);
    set_lba28(199, 5, 0);
    s = pio_in(0x20, sector, 5, 1);
    inb(PRI + 7);
    tap_ok(matches(sector, 199, 1, 0) && matches(sector + 512, 200, 3, 0x11) && matches(sector + 4 * 512, 203, 1, 0),
           "read back: the three sectors written, their neighbours unchanged");

    /* ---- 18-21: multiple mode ---- */
    outb(PRI + 2, 4);
    s = pio_none(0xC6);
    inb(PRI + 7);
    tap_ok((s & (ST_ERR | ST_DRQ)) == 0, "SET MULTIPLE MODE 4");
    outb(PRI + 2, 3);
    s = pio_none(0xC6);
    uint8_t e = inb(PRI + 1);
    inb(PRI + 7);
    tap_ok((s & ST_ERR) && (e & ER_ABRT), "SET MULTIPLE MODE 3 (not a power of two): ABRT");
    outb(PRI_CTL, 0);
    n14 = 0;
    set_lba28(300, 10, 0);
    outb(PRI + 7, 0xC4);
    ok = 1;
    for (int k = 0, done = 0; done < 10; k++) {
        irq_wait(&n14, (uint32_t)k + 1);
        ok &= (irq_status & ST_DRQ) != 0;
        int n = 10 - done < 4 ? 10 - done : 4;
        read_words(sector + done * 512, n * 256);
        done += n;
    }
    wait_ready();
    tap_ok(ok && n14 == 3 && matches(sector, 300, 10, 0), "READ MULTIPLE 10 sectors in blocks of 4: three interrupts");
    n14 = 0;
    fill(sector, 400, 6, 0x22);
    set_lba28(400, 6, 0);
    outb(PRI + 7, 0xC5);
    for (int k = 0, done = 0; done < 6; k++) {
        wait_ready();
        int n = 6 - done < 4 ? 6 - done : 4;
        write_words(sector + done * 512, n * 256);
        done += n;
        irq_wait(&n14, (uint32_t)k + 1);
    }
    outb(PRI_CTL, CTL_NIEN);
    memset(sector, 0, 6 * 512);
    set_lba28(400, 6, 0);
    s = pio_in(0xC4, sector, 6, 4);
    inb(PRI + 7);
    tap_ok(n14 == 2 && matches(sector, 400, 6, 0x22), "WRITE MULTIPLE 6 sectors: two interrupts; READ MULTIPLE reads them back");
    outb(PRI + 2, 16);
    pio_none(0xC6);
    inb(PRI + 7);

    /* ---- 22-23: CHS ---- */
    outb(PRI + 2, 2);
    outb(PRI + 3, 3);          /* sector 3 */
    outb(PRI + 4, 1);          /* cylinder 1 */
    outb(PRI + 5, 0);
    outb(PRI + 6, 0xA0 | 2);   /* CHS, head 2 */
    s = pio_in(0x20, sector, 2, 1);
    uint32_t chs_lba = (1u * 16 + 2) * 63 + 2;
    uint8_t r3 = inb(PRI + 3), r4 = inb(PRI + 4), r6 = inb(PRI + 6);
    inb(PRI + 7);
    tap_ok((s & ST_ERR) == 0 && matches(sector, chs_lba, 2, 0), "CHS 1/2/3: LBA 1136 and 1137");
    tap_ok(r3 == 5 && r4 == 1 && (r6 & 0x4F) == 2, "after it the registers hold CHS 1/2/5");

    /* ---- 24-25: LBA48 ---- */
    outb(PRI + 2, 0); outb(PRI + 2, 2);            /* count 2 (high byte first) */
    outb(PRI + 3, 0); outb(PRI + 3, 0xDC);         /* LBA 0x5DC = 1500 */
    outb(PRI + 4, 0); outb(PRI + 4, 0x05);
    outb(PRI + 5, 0); outb(PRI + 5, 0);
    outb(PRI + 6, 0x40);
    s = pio_in(0x24, sector, 2, 1);
    inb(PRI + 7);
    tap_ok((s & ST_ERR) == 0 && matches(sector, 1500, 2, 0), "READ SECTORS EXT 2 at LBA 1500");
    outb(PRI + 2, 0); outb(PRI + 2, 1);
    outb(PRI + 3, 0x01); outb(PRI + 3, 0);         /* LBA 2^24 + ... : far past the end */
    outb(PRI + 4, 0); outb(PRI + 4, 0);
    outb(PRI + 5, 0); outb(PRI + 5, 0);
    outb(PRI + 6, 0x40);
    s = pio_in(0x24, sector, 1, 1);
    e = inb(PRI + 1);
    inb(PRI + 7);
    tap_ok((s & (ST_ERR | ST_DRQ)) == ST_ERR && (e & (ER_IDNF | ER_ABRT)), "READ SECTORS EXT past the end: ERR");

    /* ---- 26-27: out of range (LBA28), with its interrupt ---- */
    outb(PRI_CTL, 0);
    n14 = 0;
    set_lba28(IDE_DISK_SECTORS, 1, 0);
    outb(PRI + 7, 0x20);
    irq_wait(&n14, 1);
    e = inb(PRI + 1);
    tap_ok((irq_status & (ST_ERR | ST_DRQ)) == ST_ERR && (e & (ER_IDNF | ER_ABRT)) && n14 == 1,
           "READ SECTORS at LBA 2048 (one past the end): an interrupt, ERR, IDNF or ABRT, no DRQ");
    outb(PRI_CTL, CTL_NIEN);
    fill(sector, 5000, 1, 0x33);
    set_lba28(5000, 1, 0);
    s = pio_out(0x30, sector, 1, 1);
    e = inb(PRI + 1);
    inb(PRI + 7);
    tap_ok((s & (ST_ERR | ST_DRQ)) == ST_ERR && (e & (ER_IDNF | ER_ABRT)), "WRITE SECTORS at LBA 5000: ERR");

    /* ---- 28: unknown command and NOP ---- */
    s = pio_none(0x01);
    e = inb(PRI + 1);
    uint8_t s2 = pio_none(0x00);
    uint8_t e2 = inb(PRI + 1);
    inb(PRI + 7);
    tap_ok((s & (ST_ERR | ST_DRDY)) == (ST_ERR | ST_DRDY) && e == ER_ABRT && (s2 & ST_ERR) && e2 == ER_ABRT,
           "unknown command 01h and NOP: DRDY + ERR, error ABRT");

    /* ---- 29: FLUSH CACHE, SET FEATURES, CHECK POWER MODE ---- */
    outb(PRI_CTL, 0);
    n14 = 0;
    outb(PRI + 7, 0xE7);
    irq_wait(&n14, 1);
    uint8_t fs = irq_status;
    outb(PRI_CTL, CTL_NIEN);
    outb(PRI + 1, 0x02);
    s = pio_none(0xEF);
    outb(PRI + 2, 0);
    s2 = pio_none(0xE5);
    uint8_t pm = inb(PRI + 2);
    inb(PRI + 7);
    tap_ok((fs & (ST_ERR | ST_DRQ | ST_DRDY)) == ST_DRDY && (s & ST_ERR) == 0 && (s2 & ST_ERR) == 0 && pm == 0xFF,
           "FLUSH CACHE interrupts without error; SET FEATURES 02h; CHECK POWER MODE: active (FFh)");

    /* ---- 30: EXECUTE DEVICE DIAGNOSTIC ---- */
    outb(PRI + 2, 0x12); outb(PRI + 3, 0x34); outb(PRI + 4, 0x56); outb(PRI + 5, 0x78);
    s = pio_none(0x90);
    e = inb(PRI + 1);
    tap_ok((s & ST_ERR) == 0 && e == 0x01 && inb(PRI + 2) == 1 && inb(PRI + 3) == 1 && inb(PRI + 4) == 0 && inb(PRI + 5) == 0,
           "EXECUTE DEVICE DIAGNOSTIC: error 01h, the ATA signature");
    inb(PRI + 7);

    /* ---- 31: software reset ---- */
    outb(PRI + 2, 0x12); outb(PRI + 3, 0x34); outb(PRI + 4, 0x56); outb(PRI + 5, 0x78);
    outb(PRI + 6, 0xE0);
    outb(PRI_CTL, CTL_NIEN | CTL_SRST);
    outb(PRI_CTL, CTL_NIEN);
    s = wait_ready();
    e = inb(PRI + 1);
    uint8_t sig[4] = { inb(PRI + 2), inb(PRI + 3), inb(PRI + 4), inb(PRI + 5) };
    uint8_t dev = inb(PRI + 6);
    inb(PRI + 7);
    tap_ok((s & (ST_BSY | ST_DRDY | ST_ERR | ST_DRQ)) == ST_DRDY && e == 0x01 &&
           sig[0] == 1 && sig[1] == 1 && sig[2] == 0 && sig[3] == 0 && (dev & 0x10) == 0,
           "SRST: then DRDY, error 01h, signature 1/1/0/0, device 0");

    /* ---- 32: the absent slave ignores commands ---- */
    outb(PRI_CTL, 0);
    n14 = 0;
    outb(PRI + 6, 0xB0);
    outb(PRI + 7, 0xEC);
    for (volatile int i = 0; i < 1000; i++)
        ;
    uint8_t ss = inb(PRI + 7), sa = inb(PRI_CTL);
    outb(PRI + 6, 0xA0);
    uint8_t ms = inb(PRI + 7);
    tap_ok(ss == 0 && sa == 0 && n14 == 0 && (ms & (ST_DRQ | ST_ERR)) == 0,
           "IDENTIFY to the absent slave: ignored (status 0, no interrupt, master untouched)");

    puts("# ide done\n");
    return tap_exit_code();
}
