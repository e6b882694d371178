/// QEMU's firmware configuration device (fw_cfg) through its traditional I/O interface: a 16-bit
/// selector at 0x510 picks an item, each byte read from 0x511 returns the next byte of it (QEMU
/// docs/specs/fw_cfg.txt, "Selector (Control) Register" and "Data Register"). This is how a
/// guest started with `qemu-system-i386 -kernel` learns the RAM size and CPU count without a
/// BIOS call; x86v offers the same items so such a guest finds what it expects.
///
/// What is modelled, as QEMU 7.2's pc machine does it (each checked against it, see the test
/// guest `fwcfg`):
/// - the selector: a 16-bit write to 0x510; bit 14 (the old write channel) is ignored, bit 15
///   selects the architecture-specific items; the read offset goes back to 0;
/// - the data port: an 8-bit read of 0x510 or 0x511 returns the next byte of the selected item
///   and advances, past the end (and for an item that does not exist) it returns 0; wider reads
///   of either port return 0 and do not advance; writes other than the 16-bit selector are
///   ignored (the data port has been read-only since QEMU 2.4);
/// - the items: signature "QEMU" (0x0000), interface ID (0x0001), UUID (0x0002, zeros), RAM size
///   (0x0003, 64-bit), one CPU (0x0005 and MAX_CPUS 0x000F, 16-bit) and the file directory
///   (0x0019, big-endian count and 64-byte entries sorted by name) with three files:
///   `etc/boot-fail-wait` (−1: never reboot after a failed boot), `etc/e820` (one entry: all RAM,
///   type 1) and `etc/system-states` (S0 and S5 enabled, S5's SLP_TYP 0, as the PM device takes it).
///
/// Left out, and why: the DMA interface (port 0x514 and ID bit 1; QEMU 7.2 sets that bit, x86v
/// reports the traditional interface only, so a guest takes the byte-at-a-time path); the
/// command-line items 0x0013–0x0015, which QEMU leaves empty for a multiboot kernel (its command
/// line is in the multiboot information only) and so does x86v; the kernel/initrd items QEMU
/// fills for its multiboot option ROM, which a kernel never reads; QEMU's other files (ACPI and
/// SMBIOS tables for SeaBIOS's loader, option ROMs, the boot order): x86v's firmware state is
/// built in place, not by a BIOS reading them.
public final class FirmwareConfig: PortDevice {
    /// The ports the device answers: selector (and data, 8-bit reads) and data.
    public static let ports: ClosedRange<UInt16> = 0x510...0x511

    /// Item keys (fw_cfg.txt, "Selector Register" and QEMU's fw_cfg_keys.h).
    public enum Key {
        public static let signature: UInt16 = 0x0000
        public static let id: UInt16 = 0x0001
        public static let uuid: UInt16 = 0x0002
        public static let ramSize: UInt16 = 0x0003
        public static let cpuCount: UInt16 = 0x0005
        public static let maxCPUs: UInt16 = 0x000F
        public static let fileDirectory: UInt16 = 0x0019
        /// The first key the directory hands out to files (FW_CFG_FILE_FIRST).
        public static let firstFile: UInt16 = 0x0020
    }

    /// ID bit 0: the traditional I/O interface (bit 1, DMA, is not offered).
    public static let traditionalInterface: UInt32 = 1

    /// The items by key (the arch bit included); fixed when the machine is built.
    let items: [UInt16: [UInt8]]
    /// The selected key, as written (kept whole for the snapshot; lookups mask it).
    var selector: UInt16 = 0
    /// The next byte of the selected item that 0x511 returns.
    var offset: UInt32 = 0

    /// The items for a machine with `ramSize` bytes of RAM and one CPU.
    public init(ramSize: UInt64) {
        var items: [UInt16: [UInt8]] = [:]
        items[Key.signature] = Array("QEMU".utf8)
        items[Key.id] = Self.littleEndian(UInt64(Self.traditionalInterface), bytes: 4)
        items[Key.uuid] = [UInt8](repeating: 0, count: 16)
        items[Key.ramSize] = Self.littleEndian(ramSize, bytes: 8)
        items[Key.cpuCount] = Self.littleEndian(1, bytes: 2)
        items[Key.maxCPUs] = Self.littleEndian(1, bytes: 2)
        let files = Self.files(ramSize: ramSize)
        items[Key.fileDirectory] = Self.directory(files)
        for (i, file) in files.enumerated() { items[Key.firstFile + UInt16(i)] = file.data }
        self.items = items
    }

    /// A named item of the file directory.
    struct File {
        var name: String
        var data: [UInt8]
    }

    /// The directory's files, sorted by name as QEMU sorts them.
    static func files(ramSize: UInt64) -> [File] {
        // etc/e820: one struct e820_entry { u64 address; u64 length; u32 type } per range, little
        // endian; x86v's RAM is one range from 0 (at most 3 GiB, all below the PCI hole).
        let e820 = littleEndian(0, bytes: 8) + littleEndian(ramSize, bytes: 8) + littleEndian(1, bytes: 4)
        // etc/system-states: a byte per S0…S5, bit 7 = supported, the low bits = the SLP_TYP
        // value the guest writes to PM1_CNT (ACPIPowerManagement.softOffType for S5).
        let states: [UInt8] = [0x80, 0, 0, 0, 0, 0x80 | UInt8(ACPIPowerManagement.softOffType)]
        return [
            File(name: "etc/boot-fail-wait", data: littleEndian(0xFFFF_FFFF, bytes: 4)),
            File(name: "etc/e820", data: e820),
            File(name: "etc/system-states", data: states),
        ].sorted { $0.name < $1.name }
    }

    /// FW_CFG_FILE_DIR: a big-endian 32-bit count, then per file a big-endian 32-bit size, a
    /// big-endian 16-bit key, 16 reserved bits and the name in 56 bytes, NUL-padded (fw_cfg.txt,
    /// "File Directory").
    static func directory(_ files: [File]) -> [UInt8] {
        var bytes = bigEndian(UInt64(files.count), bytes: 4)
        for (i, file) in files.enumerated() {
            bytes += bigEndian(UInt64(file.data.count), bytes: 4)
            bytes += bigEndian(UInt64(Key.firstFile) + UInt64(i), bytes: 2)
            bytes += [0, 0]
            var name = Array(file.name.utf8.prefix(55))
            name += [UInt8](repeating: 0, count: 56 - name.count)
            bytes += name
        }
        return bytes
    }

    static func littleEndian(_ v: UInt64, bytes n: Int) -> [UInt8] {
        (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
    }

    static func bigEndian(_ v: UInt64, bytes n: Int) -> [UInt8] { littleEndian(v, bytes: n).reversed() }

    /// The item the selector names: bit 14 (the write channel) does not take part.
    var selected: [UInt8]? { items[selector & ~0x4000] }

    public func read(port: UInt16, size: Int) -> UInt32 {
        // Only byte reads reach the data register; QEMU 7.2 returns 0 for wider ones.
        guard size == 1 else { return 0 }
        guard let item = selected, offset < UInt32(item.count) else { return 0 }
        defer { offset += 1 }
        return UInt32(item[Int(offset)])
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        guard port == 0x510 && size == 2 else { return }
        selector = UInt16(truncatingIfNeeded: value)
        offset = 0
    }
}
