/// EFLAGS access on top of `LazyFlags`.
extension CPU {
    /// Full EFLAGS with the arithmetic flags computed.
    @inline(__always)
    func materializedFlags() -> UInt32 {
        let st = s
        if st.pointee.lazy.op == .none { return st.pointee.flags }
        return (st.pointee.flags & ~EFLAGS.arithmetic) | st.pointee.lazy.materialized
    }

    /// Folds the lazy flags into `flags` (before an instruction changes only some of them).
    @inline(__always)
    func materialize() {
        let st = s
        if st.pointee.lazy.op != .none {
            st.pointee.flags = (st.pointee.flags & ~EFLAGS.arithmetic) | st.pointee.lazy.materialized
            st.pointee.lazy.op = .none
        }
    }

    /// Sets the arithmetic flags in `mask` to `bits`, keeping the others.
    @inline(__always)
    func setFlags(_ bits: UInt32, mask: UInt32) {
        if mask == EFLAGS.arithmetic {
            s.pointee.lazy.op = .none
        } else {
            materialize()
        }
        s.pointee.flags = (s.pointee.flags & ~mask) | (bits & mask)
    }

    @inline(__always)
    func setLazy(_ op: FlagOp, size: Int, result: UInt32, dst: UInt32, src: UInt32, aux: UInt32 = 0) {
        var l = LazyFlags()
        l.op = op
        l.size = UInt8(size >> 1)
        l.result = result
        l.dst = dst
        l.src = src
        l.aux = aux
        s.pointee.lazy = l
    }

    @inline(__always) var carry: Bool {
        let st = s
        return st.pointee.lazy.op == .none ? st.pointee.flags & EFLAGS.cf != 0 : st.pointee.lazy.cf
    }

    /// SF, ZF, PF from a result (logic-style), as EFLAGS bits.
    @inline(__always)
    func szp(_ r: UInt32, size: Int) -> UInt32 {
        let m = maskFor(UInt8(size >> 1))
        var f = parityFlag(r)
        if r & m == 0 { f |= EFLAGS.zf }
        if r & signBitFor(UInt8(size >> 1)) != 0 { f |= EFLAGS.sf }
        return f
    }

    /// Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc; SDM Vol. 1 App. B).
    @inline(__always)
    func condition(_ cc: UInt8) -> Bool {
        let st = s
        let l = st.pointee.lazy
        let r: Bool
        switch l.op {
        case .sub:
            // CMP/SUB: compare the operands directly.
            let m = l.mask
            let a = l.dst & m, b = l.src & m
            switch cc >> 1 {
            case 0: r = l.of
            case 1: r = a < b
            case 2: r = a == b
            case 3: r = a <= b
            case 4: r = l.sf
            case 5: r = parityFlag(l.result) != 0
            case 6:
                let sh = UInt32(32 - 8 * Int(maskBytes(l.size)))
                r = Int32(bitPattern: a << sh) < Int32(bitPattern: b << sh)
            default:
                let sh = UInt32(32 - 8 * Int(maskBytes(l.size)))
                r = Int32(bitPattern: a << sh) <= Int32(bitPattern: b << sh)
            }
        case .none:
            r = conditionFromFlags(cc >> 1, st.pointee.flags)
        default:
            // ZF, SF and PF come from the result whatever the operation.
            switch cc >> 1 {
            case 0: r = l.of
            case 1: r = l.cf
            case 2: r = l.zf
            case 3: r = l.cf || l.zf
            case 4: r = l.sf
            case 5: r = parityFlag(l.result) != 0
            case 6: r = l.sf != l.of
            default: r = l.zf || l.sf != l.of
            }
        }
        return r != (cc & 1 != 0)
    }

    @inline(__always)
    func maskBytes(_ size: UInt8) -> UInt8 { size == 2 ? 4 : (size == 1 ? 2 : 1) }

    @inline(__always)
    func conditionFromFlags(_ c: UInt8, _ f: UInt32) -> Bool {
        let cf = f & EFLAGS.cf != 0, zf = f & EFLAGS.zf != 0
        let sf = f & EFLAGS.sf != 0, of = f & EFLAGS.of != 0
        switch c {
        case 0: return of
        case 1: return cf
        case 2: return zf
        case 3: return cf || zf
        case 4: return sf
        case 5: return f & EFLAGS.pf != 0
        case 6: return sf != of
        default: return zf || sf != of
        }
    }
}
