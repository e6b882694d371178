/// The packed-integer arithmetic of MMX and SSE2 (SDM Vol. 1 §9.4, §11.4.3), on 64-bit halves:
/// an MMX instruction is one half, its SSE2 form (66 prefix) two. Lane-local operations take
/// the two halves one at a time; the ones that move data between halves (pack, unpack, byte
/// shifts, shuffles) are in the callers. Opcodes are the 0F map's second byte.
enum PackedInteger {
    // MARK: Lanes

    @inline(__always)
    static func bytes(_ a: UInt64, _ b: UInt64, _ f: (UInt8, UInt8) -> UInt8) -> UInt64 {
        var r: UInt64 = 0
        for i in 0..<8 {
            let shift = UInt64(i * 8)
            r |= UInt64(f(UInt8(truncatingIfNeeded: a >> shift), UInt8(truncatingIfNeeded: b >> shift))) << shift
        }
        return r
    }

    @inline(__always)
    static func words(_ a: UInt64, _ b: UInt64, _ f: (UInt16, UInt16) -> UInt16) -> UInt64 {
        var r: UInt64 = 0
        for i in 0..<4 {
            let shift = UInt64(i * 16)
            r |= UInt64(f(UInt16(truncatingIfNeeded: a >> shift), UInt16(truncatingIfNeeded: b >> shift))) << shift
        }
        return r
    }

    @inline(__always)
    static func dwords(_ a: UInt64, _ b: UInt64, _ f: (UInt32, UInt32) -> UInt32) -> UInt64 {
        UInt64(f(UInt32(truncatingIfNeeded: a), UInt32(truncatingIfNeeded: b)))
            | UInt64(f(UInt32(truncatingIfNeeded: a >> 32), UInt32(truncatingIfNeeded: b >> 32))) << 32
    }

    @inline(__always) static func mask<T: FixedWidthInteger>(_ c: Bool) -> T { c ? ~0 : 0 }

    @inline(__always)
    static func saturate<T: FixedWidthInteger>(_ v: Int32, as: T.Type) -> T {
        v < Int32(T.min) ? T.min : v > Int32(T.max) ? T.max : T(v)
    }

    // MARK: Lane-local operations

    /// The operations that stay within a 64-bit half: `a` is the destination's half, `b` the
    /// source's. Returns nil for an opcode that is not one of them.
    static func laneLocal(_ opcode: UInt8, _ a: UInt64, _ b: UInt64) -> UInt64? {
        switch opcode {
        case 0x64: return bytes(a, b) { mask(Int8(bitPattern: $0) > Int8(bitPattern: $1)) }
        case 0x65: return words(a, b) { mask(Int16(bitPattern: $0) > Int16(bitPattern: $1)) }
        case 0x66: return dwords(a, b) { mask(Int32(bitPattern: $0) > Int32(bitPattern: $1)) }
        case 0x74: return bytes(a, b) { mask($0 == $1) }
        case 0x75: return words(a, b) { mask($0 == $1) }
        case 0x76: return dwords(a, b) { mask($0 == $1) }
        case 0xD4: return a &+ b                                           // PADDQ
        case 0xD5: return words(a, b) { $0 &* $1 }                          // PMULLW
        case 0xD8: return bytes(a, b) { $0 > $1 ? $0 - $1 : 0 }             // PSUBUSB
        case 0xD9: return words(a, b) { $0 > $1 ? $0 - $1 : 0 }             // PSUBUSW
        case 0xDA: return bytes(a, b) { min($0, $1) }                       // PMINUB
        case 0xDB: return a & b                                             // PAND
        case 0xDC: return bytes(a, b) { $0.addingReportingOverflow($1).overflow ? 0xFF : $0 &+ $1 }  // PADDUSB
        case 0xDD: return words(a, b) { $0.addingReportingOverflow($1).overflow ? 0xFFFF : $0 &+ $1 }  // PADDUSW
        case 0xDE: return bytes(a, b) { max($0, $1) }                       // PMAXUB
        case 0xDF: return ~a & b                                            // PANDN
        case 0xE0: return bytes(a, b) { UInt8((UInt16($0) + UInt16($1) + 1) >> 1) }   // PAVGB
        case 0xE3: return words(a, b) { UInt16((UInt32($0) + UInt32($1) + 1) >> 1) }  // PAVGW
        case 0xE4: return words(a, b) { UInt16((UInt32($0) * UInt32($1)) >> 16) }     // PMULHUW
        case 0xE5:                                                                     // PMULHW
            return words(a, b) { UInt16(truncatingIfNeeded: (Int32(Int16(bitPattern: $0)) * Int32(Int16(bitPattern: $1))) >> 16) }
        case 0xE8: return bytes(a, b) { UInt8(bitPattern: saturate(Int32(Int8(bitPattern: $0)) - Int32(Int8(bitPattern: $1)), as: Int8.self)) }
        case 0xE9: return words(a, b) { UInt16(bitPattern: saturate(Int32(Int16(bitPattern: $0)) - Int32(Int16(bitPattern: $1)), as: Int16.self)) }
        case 0xEA: return words(a, b) { Int16(bitPattern: $0) < Int16(bitPattern: $1) ? $0 : $1 }   // PMINSW
        case 0xEB: return a | b                                             // POR
        case 0xEC: return bytes(a, b) { UInt8(bitPattern: saturate(Int32(Int8(bitPattern: $0)) + Int32(Int8(bitPattern: $1)), as: Int8.self)) }
        case 0xED: return words(a, b) { UInt16(bitPattern: saturate(Int32(Int16(bitPattern: $0)) + Int32(Int16(bitPattern: $1)), as: Int16.self)) }
        case 0xEE: return words(a, b) { Int16(bitPattern: $0) > Int16(bitPattern: $1) ? $0 : $1 }   // PMAXSW
        case 0xEF: return a ^ b                                             // PXOR
        case 0xF4: return (a & 0xFFFF_FFFF) &* (b & 0xFFFF_FFFF)            // PMULUDQ
        case 0xF5:                                                          // PMADDWD
            // 0x8000 × 0x8000 twice is 0x8000_0000: the sum wraps (the SDM's one overflow case).
            return dwords(a, b) { x, y in
                let p0 = Int32(Int16(truncatingIfNeeded: x)) * Int32(Int16(truncatingIfNeeded: y))
                let p1 = Int32(Int16(truncatingIfNeeded: x >> 16)) * Int32(Int16(truncatingIfNeeded: y >> 16))
                return UInt32(bitPattern: p0 &+ p1)
            }
        case 0xF6:                                                          // PSADBW
            var sum: UInt64 = 0
            for i in 0..<8 {
                let x = UInt8(truncatingIfNeeded: a >> UInt64(i * 8)), y = UInt8(truncatingIfNeeded: b >> UInt64(i * 8))
                sum += UInt64(x > y ? x - y : y - x)
            }
            return sum
        case 0xF8: return bytes(a, b) { $0 &- $1 }
        case 0xF9: return words(a, b) { $0 &- $1 }
        case 0xFA: return dwords(a, b) { $0 &- $1 }
        case 0xFB: return a &- b                                            // PSUBQ
        case 0xFC: return bytes(a, b) { $0 &+ $1 }
        case 0xFD: return words(a, b) { $0 &+ $1 }
        case 0xFE: return dwords(a, b) { $0 &+ $1 }
        default: return nil
        }
    }

    // MARK: Shifts

    /// PSRLx/PSRAx/PSLLx by `count` (the whole 64-bit count operand, or the immediate): each
    /// element of `width` bits; a count of `width` or more clears it (arithmetic: fills it with
    /// its sign).
    static func shift(_ a: UInt64, width: Int, count: UInt64, right: Bool, arithmetic: Bool) -> UInt64 {
        if width == 64 {
            if count > 63 { return 0 }
            return right ? a >> count : a << count
        }
        let n = count > UInt64(width - 1) ? (arithmetic ? UInt64(width - 1) : UInt64(width)) : count
        if width == 16 {
            return words(a, 0) { x, _ in
                if n >= 16 { return 0 }
                if arithmetic { return UInt16(bitPattern: Int16(bitPattern: x) >> Int16(n)) }
                return right ? x >> UInt16(n) : x << UInt16(n)
            }
        }
        return dwords(a, 0) { x, _ in
            if n >= 32 { return 0 }
            if arithmetic { return UInt32(bitPattern: Int32(bitPattern: x) >> Int32(n)) }
            return right ? x >> UInt32(n) : x << UInt32(n)
        }
    }

    /// The register-count shifts: opcode → (element width, right, arithmetic).
    static func shiftKind(_ opcode: UInt8) -> (width: Int, right: Bool, arithmetic: Bool)? {
        switch opcode {
        case 0xD1: return (16, true, false)
        case 0xD2: return (32, true, false)
        case 0xD3: return (64, true, false)
        case 0xE1: return (16, true, true)
        case 0xE2: return (32, true, true)
        case 0xF1: return (16, false, false)
        case 0xF2: return (32, false, false)
        case 0xF3: return (64, false, false)
        default: return nil
        }
    }

    /// Groups 12–14 (0F 71/72/73 with ModRM.reg 2, 4, 6): the shift by an immediate.
    static func immediateShiftKind(_ opcode: UInt8, reg: UInt8) -> (width: Int, right: Bool, arithmetic: Bool)? {
        let width = opcode == 0x71 ? 16 : opcode == 0x72 ? 32 : 64
        switch reg {
        case 2: return (width, true, false)
        case 4: return width == 64 ? nil : (width, true, true)
        case 6: return (width, false, false)
        default: return nil
        }
    }

    // MARK: Pack, unpack, shuffle

    /// PACKSSWB/PACKUSWB (4 words → 4 bytes) and PACKSSDW (2 doublewords → 2 words) of one half.
    static func pack(_ opcode: UInt8, _ x: UInt64) -> UInt32 {
        var r: UInt32 = 0
        if opcode == 0x6B {
            for i in 0..<2 {
                let v = Int32(bitPattern: UInt32(truncatingIfNeeded: x >> UInt64(32 * i)))
                let w = v < Int32(Int16.min) ? Int16.min : v > Int32(Int16.max) ? Int16.max : Int16(v)
                r |= UInt32(UInt16(bitPattern: w)) << UInt32(16 * i)
            }
            return r
        }
        for i in 0..<4 {
            let v = Int32(Int16(bitPattern: UInt16(truncatingIfNeeded: x >> UInt64(16 * i))))
            let b: UInt8 = opcode == 0x63 ? UInt8(bitPattern: saturate(v, as: Int8.self)) : saturate(v, as: UInt8.self)
            r |= UInt32(b) << UInt32(8 * i)
        }
        return r
    }

    /// The interleave of PUNPCKLxx/PUNPCKHxx: the elements of `a` (destination) at the even
    /// positions, those of `b` (source) at the odd ones; `width` 8, 16 or 32 bits.
    static func interleave(_ a: UInt32, _ b: UInt32, width: Int) -> UInt64 {
        var r: UInt64 = 0
        let count = 32 / width
        let elementMask: UInt64 = (1 << UInt64(width)) - 1
        for i in 0..<count {
            let shift = UInt64(i * width)
            r |= ((UInt64(a) >> shift) & elementMask) << (2 * shift)
            r |= ((UInt64(b) >> shift) & elementMask) << (2 * shift + UInt64(width))
        }
        return r
    }

    /// Element width of PUNPCKL/H (0F 60–62, 68–6A).
    static func unpackWidth(_ opcode: UInt8) -> Int { 8 << Int(opcode & 3) }

    /// PSHUFW/PSHUFLW/PSHUFHW: the four words of `x` picked by the 2-bit fields of `order`.
    static func shuffleWords(_ x: UInt64, _ order: UInt32) -> UInt64 {
        var r: UInt64 = 0
        for i in 0..<4 {
            let pick = UInt64((order >> UInt32(2 * i)) & 3)
            r |= ((x >> (16 * pick)) & 0xFFFF) << UInt64(16 * i)
        }
        return r
    }

    /// PMOVMSKB of one half: the top bit of each byte.
    static func byteSigns(_ x: UInt64) -> UInt32 {
        var r: UInt32 = 0
        for i in 0..<8 where x >> UInt64(8 * i + 7) & 1 != 0 { r |= 1 << UInt32(i) }
        return r
    }
}
