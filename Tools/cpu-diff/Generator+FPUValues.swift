import X86Core

/// Operands for the FPU families, drawn from edge classes (issue 16): ±0, denormals (and the
/// 80-bit pseudo-denormals), smallest and largest normals, ±∞, QNaN and SNaN with payloads, the
/// x87 indefinite and unsupported encodings (pseudo-NaN, pseudo-∞, unnormals), integers at the
/// conversion limits, values one ulp around rounding ties for each precision, and ordinary
/// numbers with exponents close together (so sums and differences round).
extension Generator {
    mutating func sign() -> Bool { rng.chance(50) }

    /// A significand with only a few bits set around `boundary` (the position of the last kept
    /// bit at some precision): exact ties, one ulp below and above them.
    mutating func tieBits(boundary: Int) -> UInt64 {
        // Bits below `boundary` are the part rounded away.
        let patterns: [UInt64] = [0, 1, 2, 3]
        var low: UInt64
        switch rng.below(6) {
        case 0: low = boundary > 0 ? 1 << UInt64(boundary - 1) : 0              // exactly half
        case 1: low = boundary > 0 ? (1 << UInt64(boundary - 1)) - 1 : 0        // just below half
        case 2: low = boundary > 0 ? (1 << UInt64(boundary - 1)) + 1 : 0        // just above half
        case 3: low = boundary > 0 ? (1 << UInt64(boundary)) - 1 : 0            // all ones
        case 4: low = rng.pick(patterns)
        default: low = boundary > 1 ? rng.next() & ((1 << UInt64(boundary)) - 1) : 0
        }
        let high = rng.chance(50) ? 0 : rng.next() << UInt64(min(boundary + 1, 63))
        return high | low
    }

    /// An 80-bit extended value.
    mutating func extended() -> X87Register {
        let s: UInt16 = sign() ? 0x8000 : 0
        let top: UInt64 = 1 << 63
        switch rng.below(32) {
        case 0, 1: return X87Register(significand: 0, signExponent: s)
        case 2:  // denormal
            return X87Register(significand: (rng.next() >> UInt64(1 + rng.below(63))) | 1, signExponent: s)
        case 3:  // pseudo-denormal
            return X87Register(significand: top | rng.next() >> UInt64(rng.below(64)), signExponent: s)
        case 4: return X87Register(significand: top | (rng.chance(50) ? 0 : UInt64(rng.below(4))), signExponent: s | 1)
        case 5: return X87Register(significand: ~0 &- UInt64(rng.below(3)), signExponent: s | 0x7FFE)
        case 6, 7: return X87Register(significand: top, signExponent: s | 0x7FFF)
        case 8:  // QNaN with a payload
            return X87Register(significand: top | 1 << 62 | rng.next() >> UInt64(2 + rng.below(62)), signExponent: s | 0x7FFF)
        case 9:  // SNaN with a payload (never zero)
            return X87Register(significand: top | max(1, rng.next() >> UInt64(2 + rng.below(62))), signExponent: s | 0x7FFF)
        case 10: return X87Register(significand: top | 1 << 62, signExponent: 0xFFFF)  // indefinite
        case 11:  // unsupported: pseudo-NaN, pseudo-∞, unnormal
            switch rng.below(3) {
            case 0: return X87Register(significand: rng.next() >> 1 | 1, signExponent: s | 0x7FFF)
            case 1: return X87Register(significand: 0, signExponent: s | 0x7FFF)
            default: return X87Register(significand: rng.next() >> 1, signExponent: s | UInt16(1 + rng.below(0x7FFE)))
            }
        case 12, 13, 14:  // integers, conversion limits, halves
            return extended(fromInteger: integerEdge(), halves: rng.chance(30))
        case 15, 16, 17:  // ties at 24, 53 or 64 bits
            let boundary = rng.pick([40, 11, 0, 1, 39, 12])
            return X87Register(significand: top | tieBits(boundary: boundary), signExponent: s | UInt16(0x3FFF + rng.below(64) - 32))
        case 18:  // near the trigonometric range limit 2^63 and around π multiples
            let exponents: [UInt16] = [0x403D, 0x403E, 0x403C, 0x4000, 0x3FFF, 0x3FFE]
            let significands: [UInt64] = [0xC90F_DAA2_2168_C234, 0xC90F_DAA2_2168_C235, ~0, top, top | 1]
            let exponent = rng.pick(exponents)
            let significand = rng.pick(significands)
            return X87Register(significand: significand, signExponent: s | exponent)
        case 19:  // tiny and huge (underflow and overflow at every precision)
            let exponents: [UInt16] = [1, 2, 0x3F81, 0x3F80, 0x3C01, 0x3C00, 0x407E, 0x407F, 0x43FE, 0x43FF, 0x7FFD, 0x7FFE, 40, 0x3FBF]
            let exponent = rng.pick(exponents)
            return X87Register(significand: top | rng.next() >> UInt64(rng.below(64)), signExponent: s | exponent)
        case 20, 21:  // small magnitudes for F2XM1 / FYL2XP1 and friends
            return X87Register(significand: top | rng.next(), signExponent: s | UInt16(0x3FFE - rng.below(70)))
        case 22: return constant(s)
        default:  // ordinary numbers with nearby exponents
            return X87Register(significand: top | rng.next() >> UInt64(rng.chance(50) ? 1 : rng.below(60)),
                               signExponent: s | UInt16(0x3FFF + rng.below(40) - 20))
        }
    }

    /// 1, 2, 0.5, 10, π, ln 2, log2 e … (exact x87 constants and simple values).
    mutating func constant(_ s: UInt16) -> X87Register {
        let values: [(UInt64, UInt16)] = [(1 << 63, 0x3FFF), (1 << 63, 0x4000), (1 << 63, 0x3FFE), (0xA000_0000_0000_0000, 0x4002),
                                          (0xC90F_DAA2_2168_C235, 0x4000), (0xB172_17F7_D1CF_79AC, 0x3FFE),
                                          (0xB8AA_3B29_5C17_F0BC, 0x3FFF), (0xD49A_784B_CD1B_8AFE, 0x4000),
                                          (0xC000_0000_0000_0000, 0x3FFF), (0xB504_F333_F9DE_6484, 0x3FFF)]
        let v = rng.pick(values)
        return X87Register(significand: v.0, signExponent: s | v.1)
    }

    /// Integers at the 16-, 32- and 64-bit conversion limits and the float precision limits.
    mutating func integerEdge() -> Int64 {
        let edges: [Int64] = [0, 1, -1, 2, 3, 7, 10, 100, 0x7FFF, 0x8000, -0x8000, -0x8001, 0xFFFF, 0x7FFF_FFFF, -0x8000_0000,
                              0x8000_0000, -0x8000_0001, 0xFFFF_FFFF, 0x100_0000, 0x100_0001, 0x20_0000_0000_0000,
                              0x20_0000_0000_0001, Int64.max, Int64.min, Int64.min + 1, Int64.max - 1, 999_999_999_999_999_999,
                              -999_999_999_999_999_999, 1_000_000_000_000_000_000]
        switch rng.below(4) {
        case 0, 1: return rng.pick(edges)
        case 2: return Int64(rng.below(2001)) - 1000
        default: return Int64(bitPattern: rng.next()) >> Int64(rng.below(64))
        }
    }

    /// An 80-bit value equal to `n` (or n ± 0.5 with `halves`): exact, no rounding.
    func extended(fromInteger n: Int64, halves: Bool) -> X87Register {
        let negative = n < 0
        let magnitude = n.magnitude
        if magnitude == 0 { return X87Register(significand: halves ? 1 << 63 : 0, signExponent: (negative ? 0x8000 : 0) | (halves ? 0x3FFE : 0)) }
        let shift = magnitude.leadingZeroBitCount
        var significand = magnitude << UInt64(shift)
        let exponent = UInt16(0x3FFF + 63 - shift)
        if halves && shift > 0 { significand |= 1 << UInt64(shift - 1) }  // n + 0.5 (toward larger magnitude)
        return X87Register(significand: significand, signExponent: (negative ? 0x8000 : 0) | exponent)
    }

    /// A double (binary64) bit pattern.
    mutating func double() -> UInt64 {
        let s: UInt64 = sign() ? 1 << 63 : 0
        switch rng.below(24) {
        case 0, 1: return s
        case 2: return s | (rng.next() >> UInt64(12 + rng.below(52))) | 1  // denormal
        case 3: return s | 1 << 52 | UInt64(rng.below(3))  // smallest normals
        case 4: return s | 0x7FEF_FFFF_FFFF_FFFF &- UInt64(rng.below(3))  // largest
        case 5, 6: return s | 0x7FF0_0000_0000_0000  // ∞
        case 7: return s | 0x7FF8_0000_0000_0000 | rng.next() >> UInt64(13 + rng.below(51))  // QNaN
        case 8: return s | 0x7FF0_0000_0000_0000 | max(1, rng.next() >> UInt64(13 + rng.below(51)))  // SNaN
        case 9: return 0xFFF8_0000_0000_0000  // default NaN
        case 10, 11, 12:  // integers and halves at the conversion limits
            return doubleBits(of: extended(fromInteger: integerEdge(), halves: rng.chance(30)))
        case 13, 14:  // ties at 24 bits (for CVTSD2SS) and at 53 bits via small exponents
            let e = UInt64(1023 + rng.below(64) - 32)
            return s | e << 52 | tieBits(boundary: 29) & 0xF_FFFF_FFFF_FFFF
        case 15:  // tiny and huge
            let exponents: [UInt64] = [1, 2, 0x380, 0x381, 0x36A, 0x47E, 0x47F, 0x7FE, 0x3FF - 149]
            let e = rng.pick(exponents)
            return s | e << 52 | rng.next() >> 12
        case 16:  // small
            let e = UInt64(0x3FF - rng.below(60))
            return s | e << 52 | rng.next() >> 12
        default:
            let e = UInt64(1023 + rng.below(40) - 20)
            let shift = UInt64(12 + (rng.chance(50) ? 0 : rng.below(50)))
            return s | e << 52 | rng.next() >> shift
        }
    }

    /// A single (binary32) bit pattern.
    mutating func single() -> UInt32 {
        let s: UInt32 = sign() ? 1 << 31 : 0
        switch rng.below(24) {
        case 0, 1: return s
        case 2: return s | (rng.u32() >> UInt32(9 + rng.below(23))) | 1
        case 3: return s | 1 << 23 | UInt32(rng.below(3))
        case 4: return s | 0x7F7F_FFFF &- UInt32(rng.below(3))
        case 5, 6: return s | 0x7F80_0000
        case 7: return s | 0x7FC0_0000 | rng.u32() >> UInt32(10 + rng.below(22))
        case 8: return s | 0x7F80_0000 | max(1, rng.u32() >> UInt32(10 + rng.below(22)))
        case 9: return 0xFFC0_0000
        case 10, 11, 12: return singleBits(of: extended(fromInteger: integerEdge() >> Int64(rng.below(40)), halves: rng.chance(30)))
        case 13, 14:
            let e = UInt32(127 + rng.below(48) - 24)
            let m = UInt32(truncatingIfNeeded: tieBits(boundary: 1)) & 0x7F_FFFF
            return s | e << 23 | m
        case 15:
            let exponents: [UInt32] = [1, 2, 0xFE, 0xFD, 0x7F - 23, 0x7F + 31, 0x7F + 32, 0x7F + 63]
            let e = rng.pick(exponents)
            return s | e << 23 | rng.u32() >> 9
        default:
            let e = UInt32(127 + rng.below(40) - 20)
            let shift = UInt32(9 + (rng.chance(50) ? 0 : rng.below(20)))
            return s | e << 23 | rng.u32() >> shift
        }
    }

    /// The binary64 pattern of an exactly representable extended value (integers above 2^53
    /// are truncated, which is still an integer edge).
    func doubleBits(of r: X87Register) -> UInt64 {
        let sign = UInt64(r.signExponent >> 15) << 63
        let exponent = Int(r.signExponent & 0x7FFF)
        if r.significand == 0 { return sign }
        return sign | UInt64(exponent - 0x3FFF + 1023) << 52 | (r.significand << 1) >> 12
    }

    func singleBits(of r: X87Register) -> UInt32 {
        let sign = UInt32(r.signExponent >> 15) << 31
        let exponent = Int(r.signExponent & 0x7FFF)
        if r.significand == 0 { return sign }
        let e = exponent - 0x3FFF + 127
        if e >= 255 { return sign | 0x7F7F_FFFF }
        if e <= 0 { return sign | 1 }
        return sign | UInt32(e) << 23 | UInt32(truncatingIfNeeded: (r.significand << 1) >> 41)
    }

    /// Ten bytes of packed BCD: 18 valid digits (invalid digits give an undefined FBLD result,
    /// so they are not generated), the sign in bit 79; bits 72–78 are ignored by FBLD and random.
    mutating func packedBCD() -> [UInt8] {
        var digits = [Int](repeating: 0, count: 18)
        switch rng.below(4) {
        case 0: digits = [Int](repeating: 9, count: 18)
        case 1: for i in 0..<rng.below(19) { digits[i] = rng.below(10) }
        default: for i in 0..<18 { digits[i] = rng.chance(30) ? 0 : rng.below(10) }
        }
        var bytes = [UInt8](repeating: 0, count: 10)
        for i in 0..<9 { bytes[i] = UInt8(digits[2 * i] | digits[2 * i + 1] << 4) }
        bytes[9] = (sign() ? 0x80 : 0) | (rng.chance(80) ? 0 : UInt8(rng.below(128)))
        return bytes
    }

    /// Bytes of an integer for FILD / the integer arithmetic (2, 4 or 8 bytes).
    mutating func integerBytes(_ width: Int) -> [UInt8] {
        var v = integerEdge()
        if width < 8 && rng.chance(70) { v = Int64(truncatingIfNeeded: Int32(truncatingIfNeeded: v)) }
        if width == 2 && rng.chance(70) { v = Int64(Int16(truncatingIfNeeded: v)) }
        return (0..<width).map { UInt8(truncatingIfNeeded: v >> Int64(8 * $0)) }
    }

    /// Bytes of a floating-point memory operand of `width` (4, 8 or 10).
    mutating func floatBytes(_ width: Int) -> [UInt8] {
        switch width {
        case 4: return le32(single())
        case 8: let v = double(); return le32(UInt32(truncatingIfNeeded: v)) + le32(UInt32(v >> 32))
        default:
            let r = extended()
            return le32(UInt32(truncatingIfNeeded: r.significand)) + le32(UInt32(r.significand >> 32)) + le16(r.signExponent)
        }
    }

    /// A 128-bit XMM value: four singles, two doubles or integers.
    mutating func xmmValue() -> XMMRegister {
        switch rng.below(4) {
        case 0:
            let a = UInt64(single()) | UInt64(single()) << 32, b = UInt64(single()) | UInt64(single()) << 32
            return XMMRegister(low: a, high: b)
        case 1: return XMMRegister(low: double(), high: double())
        case 2: return XMMRegister(low: mmxValue(), high: mmxValue())
        default: return XMMRegister(low: rng.next(), high: rng.next())
        }
    }

    /// A 64-bit MMX value: lanes at the saturation limits, small numbers, random.
    mutating func mmxValue() -> UInt64 {
        switch rng.below(4) {
        case 0:
            let words: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7F7F, 0x8080, 0x00FF, 0xFF00]
            return (0..<4).reduce(0) { $0 | rng.pick(words) << UInt64(16 * $1) }
        case 1: return UInt64(bitPattern: Int64(rng.below(512)) - 256)
        default: return rng.next()
        }
    }
}
