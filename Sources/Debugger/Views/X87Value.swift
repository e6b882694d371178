import X86Core

/// What an 80-bit x87 register holds, read from its bits alone (SDM Vol. 1 §8.2.2 Table 8-3 and
/// §8.2.3 "Unsupported Double Extended-Precision Floating-Point Encodings"; §4.8.3 for NaNs):
///
///     sign | exponent (15) | J | fraction (63)
///     -----+---------------+---+--------------------------------------------------
///      ±   |   0           | 0 | 0         zero
///      ±   |   0           | 0 | ≠ 0       denormal
///      ±   |   0           | 1 | any       pseudo-denormal (read as the exponent-1 value)
///      ±   |   1…7FFE      | 1 | any       normal
///      ±   |   1…7FFE      | 0 | any       unnormal (unsupported: #IA as an operand)
///      ±   |   7FFF        | 1 | 0         infinity
///      ±   |   7FFF        | 1 | 1x…       QNaN (− with 1000… is the real indefinite)
///      ±   |   7FFF        | 1 | 0x… ≠ 0   SNaN
///      ±   |   7FFF        | 0 | any       pseudo-infinity / pseudo-NaN (unsupported)
enum X87Value {
    enum Kind: Equatable {
        case zero, denormal, pseudoDenormal, normal, unnormal, infinity, quietNaN, signalingNaN, indefinite
        case pseudoInfinity, pseudoNaN

        /// The tag FLDENV/FXRSTOR would compute for a non-empty register holding it (SDM Vol. 1
        /// §8.1.7): 00 valid, 01 zero, 10 special (NaN, infinity, denormal, unsupported).
        var tag: UInt16 {
            switch self {
            case .normal: 0
            case .zero: 1
            default: 2
            }
        }
    }

    static func kind(_ r: X87Register) -> Kind {
        let exponent = r.signExponent & 0x7FFF
        let integer = r.significand >> 63 != 0
        let fraction = r.significand & ~(1 << 63)
        switch exponent {
        case 0:
            if integer { return .pseudoDenormal }
            return fraction == 0 ? .zero : .denormal
        case 0x7FFF:
            guard integer else { return fraction == 0 ? .pseudoInfinity : .pseudoNaN }
            if fraction == 0 { return .infinity }
            if fraction >> 62 != 0 {
                return r.signExponent & 0x8000 != 0 && fraction == 1 << 62 ? .indefinite : .quietNaN
            }
            return .signalingNaN
        default:
            return integer ? .normal : .unnormal
        }
    }

    /// The register's 80 bits as `SEEE SSSSSSSSSSSSSSSS` (sign/exponent word, significand).
    static func pattern(_ r: X87Register) -> String {
        hexDigits(UInt64(r.signExponent), 4) + " " + hexDigits(r.significand, 16)
    }

    /// The value in words and decimal: `+1.5`, `-0`, `+inf`, `QNaN payload 0x1`, `denormal
    /// 3.6e-4951`… Deterministic (Swift's shortest round-trip printing of `Float80`).
    static func text(_ r: X87Register) -> String {
        let sign = r.signExponent & 0x8000 != 0 ? "-" : "+"
        let payload = r.significand & ((1 << 62) - 1)
        switch kind(r) {
        case .zero: return sign + "0"
        case .normal: return decimal(r)
        case .denormal: return "denormal " + decimal(r)
        case .pseudoDenormal:
            // Same value as the encoding with exponent 1 (SDM Vol. 1 §8.2.3.2).
            return "pseudo-denormal " + decimal(X87Register(significand: r.significand, signExponent: r.signExponent | 1))
        case .unnormal: return "unnormal (unsupported)"
        case .infinity: return sign + "inf"
        case .indefinite: return "QNaN indefinite"
        case .quietNaN: return sign + "QNaN payload 0x" + String(payload, radix: 16)
        case .signalingNaN: return sign + "SNaN payload 0x" + String(payload, radix: 16)
        case .pseudoInfinity: return "pseudo-infinity (unsupported)"
        case .pseudoNaN: return "pseudo-NaN (unsupported)"
        }
    }

    /// A finite normal or denormal value in decimal.
    static func decimal(_ r: X87Register) -> String {
        #if arch(x86_64) || arch(i386)
        var f: Float80 = 0
        withUnsafeMutableBytes(of: &f) { raw in
            raw.storeBytes(of: r.significand.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: r.signExponent.littleEndian, toByteOffset: 8, as: UInt16.self)
        }
        let text = f.description
        return (f.sign == .plus ? "+" : "") + (text.hasSuffix(".0") ? String(text.dropLast(2)) : text)
        #else
        return "(no Float80 on this host)"
        #endif
    }

    /// A 32-bit IEEE single in decimal, as the SSE view shows a lane.
    static func single(_ bits: UInt32) -> String {
        let f = Float(bitPattern: bits)
        if f.isNaN { return (f.sign == .minus ? "-" : "") + (f.isSignalingNaN ? "snan(0x" : "nan(0x") + String(bits & 0x3F_FFFF, radix: 16) + ")" }
        if f.isInfinite { return f.sign == .minus ? "-inf" : "inf" }
        let t = f.description
        return t.hasSuffix(".0") ? String(t.dropLast(2)) : t
    }

    /// A 64-bit IEEE double in decimal.
    static func double(_ bits: UInt64) -> String {
        let f = Double(bitPattern: bits)
        if f.isNaN { return (f.sign == .minus ? "-" : "") + (f.isSignalingNaN ? "snan(0x" : "nan(0x") + String(bits & 0x7_FFFF_FFFF_FFFF, radix: 16) + ")" }
        if f.isInfinite { return f.sign == .minus ? "-inf" : "inf" }
        let t = f.description
        return t.hasSuffix(".0") ? String(t.dropLast(2)) : t
    }
}

/// `v` as exactly `digits` lowercase hex digits (the low ones).
func hexDigits(_ v: UInt64, _ digits: Int) -> String {
    let s = String(v, radix: 16)
    if s.count >= digits { return String(s.suffix(digits)) }
    return String(repeating: "0", count: digits - s.count) + s
}
