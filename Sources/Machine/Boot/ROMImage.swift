import X86Core

/// A firmware ROM image (`x86v run --bios FILE`), mapped as a PC maps its system BIOS:
///
///     4 GiB - size … 4 GiB - 1   the whole image, read-only (an `MMIORegion`: writes are dropped)
///     0xE0000 … 0xFFFFF          its last 128 KiB (a 64 KiB image: 0xF0000 … 0xFFFFF), copied
///                                into guest RAM, so the reset vector 0xFFFFFFF0 and F000:FFF0
///                                hold the same bytes
///
/// and the CPU starts in the power-on state (`CPU.powerOn`, SDM Vol. 3A §9.1.1): real mode,
/// CS base 0xFFFF0000, EIP 0xFFF0. Sizes: 64 KiB to 256 KiB in whole 64 KiB units (QEMU's rule
/// for `-bios`: a multiple of 64 KiB; 256 KiB is the window x86v gives the ROM below the local
/// APIC and I/O APIC pages).
///
/// What differs from a PC: the low copy is RAM, and guest writes to it stick, as on a PC once
/// its BIOS has set the chipset's PAM registers to shadow RAM read/write (at power-on QEMU and
/// Bochs keep 0xE0000–0xFFFFF read-only: writes there are dropped). docs/devices.md.
public struct ROMImage: Sendable, Equatable {
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    public static let minimumSize = 64 << 10
    public static let maximumSize = 256 << 10
    public static let sizeUnit = 64 << 10
    /// At most this much of the image's end is aliased below 1 MiB.
    public static let lowAliasSize = 128 << 10

    /// The image as read from the file.
    public let bytes: [UInt8]

    /// Checks the size; the bytes are otherwise anything.
    public init(bytes: [UInt8]) throws(LoadError) {
        let n = bytes.count
        guard n >= Self.minimumSize, n <= Self.maximumSize, n % Self.sizeUnit == 0 else {
            throw LoadError(Self.badSize(Self.describe(n)))
        }
        self.bytes = bytes
    }

    /// First byte of the image at the top of the 4 GiB space.
    public var base: UInt32 { UInt32(truncatingIfNeeded: 0x1_0000_0000 - UInt64(bytes.count)) }
    /// First byte of the low alias (0xE0000, or 0xF0000 for a 64 KiB image).
    public var lowAliasBase: UInt32 { 0x10_0000 - UInt32(lowAliasBytes) }
    var lowAliasBytes: Int { min(bytes.count, Self.lowAliasSize) }

    /// Maps the image into `memory` (the region at the top, the copy below 1 MiB). Throws when
    /// guest RAM does not reach 1 MiB or the window overlaps another device's MMIO.
    public func map(into memory: PhysicalMemory) throws(LoadError) {
        guard memory.guestSize >= 0x10_0000 else {
            throw LoadError("the ROM's copy at 0x\(String(lowAliasBase, radix: 16))–0xfffff needs at least 1 MiB of guest memory")
        }
        let region = ROMRegion(self)
        for r in memory.regions where UInt64(r.base) + UInt64(r.size) > UInt64(base) {
            throw LoadError("the ROM window 0x\(String(base, radix: 16))–0xffffffff overlaps device memory at 0x\(String(r.base, radix: 16))")
        }
        memory.add(region)
        let start = lowAliasBase
        memory.rangeReplaced(start, count: lowAliasBytes)
        bytes.withUnsafeBytes { raw in
            memory.ram.advanced(by: Int(start)).copyMemory(from: raw.baseAddress! + (bytes.count - lowAliasBytes),
                                                           byteCount: lowAliasBytes)
        }
    }

    /// The message for an image of the wrong size (`size`: "N bytes", or "more than 256 KiB").
    public static func badSize(_ size: String) -> String {
        "the ROM image is \(size): it must be 64, 128, 192 or 256 KiB (whole 64 KiB units, mapped below 4 GiB)"
    }

    static func describe(_ n: Int) -> String {
        n % 1024 == 0 ? "\(n) bytes (\(n >> 10) KiB)" : "\(n) bytes"
    }
}

/// The ROM at the top of the 4 GiB space: read through the MMU's MMIO slow path (code fetch
/// included, byte by byte), never entered into the soft TLB; writes are dropped, as on a ROM.
final class ROMRegion: MMIORegion {
    let bytes: [UInt8]

    init(_ image: ROMImage) {
        bytes = image.bytes
        super.init(base: image.base, size: UInt32(image.bytes.count))
    }

    override func read(offset: UInt32, size: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<size {
            let at = Int(offset) + i
            let b: UInt8 = at < bytes.count ? bytes[at] : 0xFF
            v |= UInt32(b) << (8 * UInt32(i))
        }
        return v
    }

    override func write(offset: UInt32, size: Int, value: UInt32) {}
}
