/// Hex as the Remote Serial Protocol writes it: numbers big-endian without a prefix (addresses,
/// lengths, register numbers), byte strings as two lowercase digits per byte (memory, register
/// values in target order, i.e. little-endian for i386, hex-encoded text).
public enum GDBHex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one ASCII hex digit, either case.
    @inline(__always)
    public static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c &- 0x30
        case 0x61...0x66: return c &- 0x61 &+ 10
        case 0x41...0x46: return c &- 0x41 &+ 10
        default: return nil
        }
    }

    /// A big-endian hex number of 1–16 digits; nil if empty, too long or not hex.
    public static func number<C: Collection>(_ text: C) -> UInt64? where C.Element == UInt8 {
        if text.isEmpty || text.count > 16 { return nil }
        var result: UInt64 = 0
        for c in text {
            guard let v = value(c) else { return nil }
            result = result << 4 | UInt64(v)
        }
        return result
    }

    /// Two digits per byte.
    public static func encode<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return out
    }

    public static func encode(_ text: String) -> [UInt8] { encode(Array(text.utf8)) }

    /// Pairs of digits → bytes; nil on an odd count or a non-hex digit.
    public static func decode<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        if text.count % 2 != 0 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var high: UInt8? = nil
        for c in text {
            guard let v = value(c) else { return nil }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }

    /// A number as minimal lowercase hex ("0", "1f").
    public static func number(_ value: UInt64) -> [UInt8] { Array(String(value, radix: 16).utf8) }

    /// A 32-bit value in target (little-endian) byte order: 8 digits.
    public static func littleEndian(_ value: UInt32) -> [UInt8] {
        encode([UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8),
                UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 24)])
    }
}
