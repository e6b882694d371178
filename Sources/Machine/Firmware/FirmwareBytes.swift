/// Little-endian byte building for the firmware tables (every BIOS, MP and ACPI structure is
/// little-endian, packed, with no padding the writer does not spell out).
struct FirmwareBytes {
    var bytes: [UInt8] = []

    var count: Int { bytes.count }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { u32(UInt32(truncatingIfNeeded: v)); u32(UInt32(truncatingIfNeeded: v >> 32)) }
    mutating func zeros(_ n: Int) { bytes += [UInt8](repeating: 0, count: n) }
    /// ASCII text in a fixed-width field, padded with `pad` (spaces for MP and ACPI ids).
    mutating func ascii(_ s: String, width: Int, pad: UInt8 = 0x20) {
        var b = Array(s.utf8.prefix(width))
        b += [UInt8](repeating: pad, count: width - b.count)
        bytes += b
    }
    mutating func append(_ b: [UInt8]) { bytes += b }

    mutating func patch16(at offset: Int, _ v: UInt16) {
        bytes[offset] = UInt8(v & 0xFF); bytes[offset + 1] = UInt8(v >> 8)
    }
    mutating func patch32(at offset: Int, _ v: UInt32) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }

    /// Sets the byte at `offset` so that `range` sums to 0 mod 256 (the MP and ACPI checksums).
    mutating func fixChecksum(at offset: Int, over range: Range<Int>) {
        bytes[offset] = 0
        bytes[offset] = 0 &- Self.sum(bytes[range])
    }

    static func sum<C: Collection>(_ c: C) -> UInt8 where C.Element == UInt8 {
        c.reduce(0, &+)
    }
}
