/// Where the firmware state goes in guest-physical memory: one place for every address, as
/// SeaBIOS 1.16 leaves it under `qemu-system-i386 -kernel` (QEMU 7.2, pc machine), measured
/// with `testguests/guests/firmware.c` (docs/devices.md, "Firmware tables").
///
///     0x00000 – 0x003FF   real-mode IVT (every vector at a stub in the F segment)
///     0x00400 – 0x004FF   BIOS data area
///     0x09000 – 0x0955F   multiboot memory map and information (QEMU's addresses; the loader
///                         moves them when a kernel segment is there)
///     0x9FC00 – 0x9FFFF   EBDA (1 KiB; base memory is 639 KiB)         e820: reserved
///     0xF0000 – 0xFFFFF   F segment: RSDP, MP floating pointer and      e820: reserved
///                         configuration table, the IVT's stubs, the reset vector, BIOS date
///     top − 128 KiB – top ACPI tables (FACS, DSDT, FADT, MADT, RSDT)   e820: reserved
///     0xFFFC0000 – 4 GiB  the BIOS ROM's window (nothing mapped)        e820: reserved
///
/// Below 2 MiB of RAM there is no room for the top region: the ACPI tables go into the F
/// segment instead (SeaBIOS would refuse to run; x86v keeps tiny test machines working).
public struct FirmwareLayout: Sendable, Equatable {
    /// Guest RAM in bytes.
    public let memorySize: UInt32

    public static let ivt: UInt32 = 0x0
    public static let bda: UInt32 = 0x400
    public static let bdaSize = 0x100
    /// EBDA at 639 KiB, 1 KiB long (SeaBIOS's size under QEMU): segment 0x9FC0 at BDA 0x40E.
    public static let ebda: UInt32 = 0x9_FC00
    public static let ebdaSize = 0x400
    /// Base memory in KiB (BDA 0x413, INT 12h, multiboot mem_lower): up to the EBDA.
    public static let baseMemoryKiB: UInt16 = 639
    /// The legacy hole: VGA memory and option ROMs, never RAM to a kernel.
    public static let holeStart: UInt32 = 0xA_0000
    public static let holeEnd: UInt32 = 0x10_0000
    /// The F segment (BIOS code and the tables SeaBIOS keeps there).
    public static let fSegment: UInt32 = 0xF_0000
    public static let fSegmentSize = 0x1_0000
    /// Inside the F segment, at the addresses SeaBIOS uses under QEMU 7.2 (`-m 64` to `-m 3000`),
    /// 16-byte aligned as the MP spec (§4) and ACPI (§5.2.5.1) require.
    public static let rsdp: UInt32 = 0xF_59D0
    public static let mpFloating: UInt32 = 0xF_5BA0
    public static let mpConfig: UInt32 = 0xF_5BB0
    /// Where the ACPI tables go when RAM is too small for the top region.
    public static let lowACPI: UInt32 = 0xF_6000
    /// The IBM PC/AT's fixed BIOS entry points (kept by every BIOS since): the dummy IRET at
    /// F000:FF53, the timer interrupt at F000:FEA5, the POST entry at F000:E05B, the reset
    /// vector at F000:FFF0, the BIOS date at F000:FFF5 and the model byte at F000:FFFE.
    public static let iretStub: UInt32 = 0xF_FF53
    public static let masterIRQStub: UInt32 = 0xF_FEA5
    public static let slaveIRQStub: UInt32 = 0xF_FEB0
    public static let postEntry: UInt32 = 0xF_E05B
    public static let resetVector: UInt32 = 0xF_FFF0
    /// SeaBIOS's reserved block at the top of RAM below 4 GiB under QEMU (e820 type 2):
    /// what is left of its 256 KiB "high" zone once it gives the unused part back.
    public static let topReservedSize: UInt32 = 0x2_0000
    /// The BIOS ROM's window at the top of 4 GiB, reserved in QEMU's e820 map (256 KiB).
    public static let biosWindow: UInt32 = 0xFFFC_0000
    public static let biosWindowSize: UInt32 = 0x4_0000
    /// I/O APIC and local APIC addresses (the MP and ACPI tables name them).
    public static let ioapicAddress: UInt32 = 0xFEC0_0000
    public static let lapicAddress: UInt32 = 0xFEE0_0000
    /// Multiboot: QEMU's option ROM writes the e820 map at 0x9000 and the information
    /// structure at 0x9500 (hw/i386/multiboot.c, `ADDR_E820_MAP`, `ADDR_MBI`).
    public static let multibootMap: UInt32 = 0x9000
    public static let multibootInfo: UInt32 = 0x9500
    public static let multibootInfoSize: UInt32 = 88

    public init(memorySize: UInt32) {
        self.memorySize = memorySize & ~0xFFF
    }

    /// True when the ACPI tables live in the reserved block at the top of RAM.
    public var hasTopRegion: Bool { memorySize >= 2 << 20 }

    /// The reserved block at the top of RAM (empty below 2 MiB of RAM).
    public var topRegion: Range<UInt32> {
        hasTopRegion ? memorySize - Self.topReservedSize ..< memorySize : memorySize ..< memorySize
    }

    /// Where the ACPI tables (all but the RSDP) start.
    public var acpiBase: UInt32 { hasTopRegion ? topRegion.lowerBound : Self.lowACPI }

    /// The end of the RAM a kernel may use above 1 MiB (the top region's start).
    public var highRAMEnd: UInt32 { hasTopRegion ? topRegion.lowerBound : memorySize }
}
