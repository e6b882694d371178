/// The last flag-setting operation, kept instead of the six arithmetic flags it produced (QEMU's
/// CC_OP idea). Most results are never read: a CMP is followed by one Jcc, an ADD by nothing.
/// The getters recompute any flag exactly, so PUSHF, Jcc, SETcc, exceptions and traces see the
/// architectural value.
public struct LazyFlags: Sendable, Equatable {
    public var op: FlagOp = .none
    /// Operand size index: 0 = 8, 1 = 16, 2 = 32 bits.
    public var size: UInt8 = 2
    public var result: UInt32 = 0
    /// The destination operand before the operation.
    public var dst: UInt32 = 0
    /// The source operand (for ADC/SBB: without the carry, which is in `aux`).
    public var src: UInt32 = 0
    /// ADC/SBB carry-in; INC/DEC: the CF to keep.
    public var aux: UInt32 = 0
    public init() {}
    @inline(__always)
    public init(op: FlagOp, size: UInt8, result: UInt32, dst: UInt32, src: UInt32, aux: UInt32) {
        self.op = op; self.size = size; self.result = result; self.dst = dst; self.src = src; self.aux = aux
    }
}

/// Which operation `LazyFlags` describes.
public enum FlagOp: UInt8, Sendable {
    /// The arithmetic bits in `CPUState.flags` are current.
    case none = 0
    case add, adc, sub, sbb, logic, inc, dec
    /// SHL/SAL, SHR, SAR with a nonzero count (in `src`); `dst` is the operand before.
    case shl, shr, sar
}

@inline(__always) func maskFor(_ size: UInt8) -> UInt32 {
    size == 2 ? 0xFFFF_FFFF : (size == 1 ? 0xFFFF : 0xFF)
}
@inline(__always) func signBitFor(_ size: UInt8) -> UInt32 {
    size == 2 ? 0x8000_0000 : (size == 1 ? 0x8000 : 0x80)
}

/// Parity of the low byte: PF = 1 when the number of set bits is even.
@inline(__always) func parityFlag(_ v: UInt32) -> UInt32 {
    (UInt8(truncatingIfNeeded: v).nonzeroBitCount & 1) == 0 ? EFLAGS.pf : 0
}

extension LazyFlags {
    @inline(__always) var mask: UInt32 { maskFor(size) }
    @inline(__always) var signBit: UInt32 { signBitFor(size) }

    @inline(__always) var zf: Bool { result & mask == 0 }
    @inline(__always) var sf: Bool { result & signBit != 0 }

    var cf: Bool {
        let m = mask
        switch op {
        case .none: return false
        case .add: return (result & m) < (dst & m)
        case .adc: return aux != 0 ? (result & m) <= (dst & m) : (result & m) < (dst & m)
        case .sub: return (dst & m) < (src & m)
        case .sbb: return aux != 0 ? (dst & m) <= (src & m) : (dst & m) < (src & m)
        case .logic: return false
        case .inc, .dec: return aux != 0
        case .shl:
            return (UInt64(dst & m) << UInt64(src)) >> UInt64(8 << size) & 1 != 0
        case .shr:
            return src <= UInt32(8 << size) && ((dst & m) >> (src &- 1)) & 1 != 0
        case .sar:
            let bits = UInt32(8 << size)
            let sx = Int64(Int32(bitPattern: (dst & m) << (32 - bits)) >> (32 - bits))
            return (sx >> Int64(min(src, 63) - 1)) & 1 != 0
        }
    }

    var of: Bool {
        let sb = signBit
        switch op {
        case .none, .logic: return false
        case .add, .adc: return ((dst ^ result) & (src ^ result) & sb) != 0
        case .sub, .sbb: return ((dst ^ src) & (dst ^ result) & sb) != 0
        case .inc: return (result & mask) == sb
        case .dec: return (result & mask) == sb &- 1
        // OF is defined for 1-bit shifts; for other counts it is undefined and this CPU uses
        // the same formula (SHL) or clears it (SHR, SAR).
        case .shl: return (result & sb != 0) != cf
        case .shr: return src == 1 && dst & sb != 0
        case .sar: return false
        }
    }

    var af: Bool {
        switch op {
        case .none, .logic, .shl, .shr, .sar: return false
        case .inc: return result & 0xF == 0
        case .dec: return result & 0xF == 0xF
        default: return ((dst ^ src ^ result) & 0x10) != 0
        }
    }

    /// The six arithmetic flags as EFLAGS bits.
    public var materialized: UInt32 {
        let m = mask, sb = signBit
        var f = parityFlag(result)
        if result & m == 0 { f |= EFLAGS.zf }
        if result & sb != 0 { f |= EFLAGS.sf }
        switch op {
        case .add:
            if (result & m) < (dst & m) { f |= EFLAGS.cf }
            if (dst ^ result) & (src ^ result) & sb != 0 { f |= EFLAGS.of }
            f |= (dst ^ src ^ result) & EFLAGS.af
        case .sub:
            if (dst & m) < (src & m) { f |= EFLAGS.cf }
            if (dst ^ src) & (dst ^ result) & sb != 0 { f |= EFLAGS.of }
            f |= (dst ^ src ^ result) & EFLAGS.af
        case .logic, .none:
            break
        default:
            if cf { f |= EFLAGS.cf }
            if of { f |= EFLAGS.of }
            if af { f |= EFLAGS.af }
        }
        return f
    }
}
