/// The BIOS memory map (INT 15h, EAX = E820h; ACPI 6.4 §15) as SeaBIOS reports it under QEMU
/// 7.2 for a pc machine with up to 3 GiB of RAM, and as the multiboot loader passes it on
/// (Multiboot 0.6.96 §3.3, `mmap_*`). With `-m 64`:
///
///     0x00000000  0x0009FC00  RAM        base memory below the EBDA
///     0x0009FC00  0x00000400  reserved   EBDA
///     0x000F0000  0x00010000  reserved   the F segment (BIOS, MP table, RSDP)
///     0x00100000  0x03EE0000  RAM        up to the top block
///     0x03FE0000  0x00020000  reserved   ACPI tables (SeaBIOS's high zone)
///     0xFFFC0000  0x00040000  reserved   the BIOS ROM window
///
/// The 640 KiB–0xF0000 gap (VGA and option ROMs) is in no entry, as in SeaBIOS's map.
public struct E820Map: Sendable, Equatable {
    public enum Kind: UInt32, Sendable {
        case ram = 1
        case reserved = 2
        case acpi = 3
        case nvs = 4
    }

    public struct Entry: Sendable, Equatable {
        public var base: UInt64
        public var length: UInt64
        public var kind: Kind
        public var end: UInt64 { base + length }
        public init(base: UInt64, length: UInt64, kind: Kind) {
            self.base = base; self.length = length; self.kind = kind
        }
    }

    public let entries: [Entry]

    public init(layout: FirmwareLayout) {
        var e: [Entry] = []
        let m = UInt64(layout.memorySize)
        e.append(Entry(base: 0, length: min(UInt64(FirmwareLayout.ebda), m), kind: .ram))
        e.append(Entry(base: UInt64(FirmwareLayout.ebda), length: UInt64(FirmwareLayout.ebdaSize), kind: .reserved))
        e.append(Entry(base: UInt64(FirmwareLayout.fSegment), length: UInt64(FirmwareLayout.fSegmentSize), kind: .reserved))
        let high = UInt64(layout.highRAMEnd)
        if high > UInt64(FirmwareLayout.holeEnd) {
            e.append(Entry(base: UInt64(FirmwareLayout.holeEnd), length: high - UInt64(FirmwareLayout.holeEnd), kind: .ram))
        }
        if layout.hasTopRegion {
            let top = layout.topRegion
            e.append(Entry(base: UInt64(top.lowerBound), length: UInt64(top.count), kind: .reserved))
        }
        e.append(Entry(base: UInt64(FirmwareLayout.biosWindow), length: UInt64(FirmwareLayout.biosWindowSize), kind: .reserved))
        entries = e
    }

    /// The RAM entries: where a loader may put a kernel, modules and its own structures.
    public var ram: [Range<UInt64>] { entries.filter { $0.kind == .ram }.map { $0.base ..< $0.end } }

    /// Multiboot `mem_lower`: KiB of RAM from 0 (INT 12h's answer, what QEMU's option ROM
    /// stores).
    public var lowerKiB: UInt32 {
        UInt32((entries.first { $0.base == 0 && $0.kind == .ram }?.length ?? 0) / 1024)
    }

    /// Multiboot `mem_upper`: KiB of RAM contiguous from 1 MiB (QEMU: 64384 with `-m 64`, the
    /// top 128 KiB being reserved).
    public var upperKiB: UInt32 {
        UInt32((entries.first { $0.base == UInt64(FirmwareLayout.holeEnd) && $0.kind == .ram }?.length ?? 0) / 1024)
    }

    /// The multiboot `mmap` buffer: per entry `size` (20), then the entry as INT 15h E820 gives it.
    public var multibootBytes: [UInt8] {
        var w = FirmwareBytes()
        for e in entries {
            w.u32(20)
            Self.write(e, to: &w)
        }
        return w.bytes
    }

    /// The entries as INT 15h E820 returns them, 20 bytes each (Linux's `boot_params.e820_table`).
    public var biosBytes: [UInt8] {
        var w = FirmwareBytes()
        for e in entries { Self.write(e, to: &w) }
        return w.bytes
    }

    /// Base and length (64-bit each) and type: one E820 entry.
    static func write(_ e: Entry, to w: inout FirmwareBytes) {
        w.u64(e.base)
        w.u64(e.length)
        w.u32(e.kind.rawValue)
    }

    /// One line per entry, `0xBASE 0xLENGTH type` (`--dump-firmware`'s e820.txt).
    public var text: String {
        entries.map { e in
            "0x" + paddedHex(e.base, 8) + " 0x" + paddedHex(e.length, 8) + " " + (e.kind == .ram ? "ram" : e.kind == .reserved ? "reserved" : e.kind == .acpi ? "acpi" : "nvs")
        }.joined(separator: "\n") + "\n"
    }
}

func paddedHex<T: BinaryInteger>(_ v: T, _ width: Int) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}
