import Testing
import X86Core

/// Every lazy flag operation, exhaustively on 8-bit operands (and carry-in), against an eager
/// reference written from the SDM's flag definitions with wide integer arithmetic.
struct EagerFlags {
    static func bits(cf: Bool, pf: Bool, af: Bool, zf: Bool, sf: Bool, of: Bool) -> UInt32 {
        (cf ? 1 : 0) | (pf ? 4 : 0) | (af ? 0x10 : 0) | (zf ? 0x40 : 0) | (sf ? 0x80 : 0) | (of ? 0x800 : 0)
    }
    static func parity(_ r: Int) -> Bool { (r & 0xFF).nonzeroBitCount % 2 == 0 }

    /// ADD/ADC/SUB/SBB through signed and unsigned wide results.
    static func arith(_ a: Int, _ b: Int, carry: Int, subtract: Bool) -> (UInt32, Int) {
        let unsigned = subtract ? a - b - carry : a + b + carry
        let sa = Int(Int8(truncatingIfNeeded: a)), sb = Int(Int8(truncatingIfNeeded: b))
        let signed = subtract ? sa - sb - carry : sa + sb + carry
        let r = unsigned & 0xFF
        let lowNibble = subtract ? (a & 0xF) - (b & 0xF) - carry : (a & 0xF) + (b & 0xF) + carry
        let f = bits(cf: unsigned < 0 || unsigned > 0xFF, pf: parity(r), af: lowNibble < 0 || lowNibble > 0xF,
                     zf: r == 0, sf: r & 0x80 != 0, of: signed < -128 || signed > 127)
        return (f, r)
    }
}

@Test(arguments: [FlagOp.add, .adc, .sub, .sbb])
func arithmeticFlagsMatchEagerReference(_ op: FlagOp) {
    var mismatches = 0
    for a in 0..<256 {
        for b in 0..<256 {
            for carry in 0...1 {
                if carry == 1 && (op == .add || op == .sub) { continue }
                let subtract = op == .sub || op == .sbb
                let (want, r) = EagerFlags.arith(a, b, carry: carry, subtract: subtract)
                let lazy = LazyFlags(op: op, size: 0, result: UInt32(r) | 0xABCD_EF00, dst: UInt32(a),
                                     src: UInt32(b), aux: UInt32(carry))
                if lazy.materialized != want { mismatches += 1 }
            }
        }
    }
    #expect(mismatches == 0, "\(op): \(mismatches) mismatches")
}

@Test func incDecFlagsKeepCarry() {
    var mismatches = 0
    for a in 0..<256 {
        for cf in 0...1 {
            for (op, delta) in [(FlagOp.inc, 1), (.dec, -1)] {
                let (eager, r) = EagerFlags.arith(a, 1, carry: 0, subtract: delta < 0)
                let want = (eager & ~1) | UInt32(cf)
                let lazy = LazyFlags(op: op, size: 0, result: UInt32(r), dst: UInt32(a), src: 1, aux: UInt32(cf))
                if lazy.materialized != want { mismatches += 1 }
            }
        }
    }
    #expect(mismatches == 0)
}

/// SHL/SHR/SAR with counts 1…31 on 8-bit operands: CF is the last bit shifted out (0 when the
/// count exceeds the width for SHL/SHR), OF defined for count 1, SZP from the result.
@Test(arguments: [FlagOp.shl, .shr, .sar])
func shiftFlagsMatchEagerReference(_ op: FlagOp) {
    var mismatches = 0
    for a in 0..<256 {
        for count in 1..<32 {
            let r: Int, cf: Bool
            switch op {
            case .shl:
                let wide = a << count
                r = wide & 0xFF; cf = (wide >> 8) & 1 != 0
            case .shr:
                r = count >= 8 ? 0 : a >> count; cf = count <= 8 && (a >> (count - 1)) & 1 != 0
            default:
                let sa = Int(Int8(truncatingIfNeeded: a))
                r = (sa >> min(count, 31)) & 0xFF; cf = (sa >> (count - 1)) & 1 != 0
            }
            let lazy = LazyFlags(op: op, size: 0, result: UInt32(r), dst: UInt32(a), src: UInt32(count), aux: 0)
            let f = lazy.materialized
            let defined: UInt32 = 1 | 4 | 0x40 | 0x80 | (count == 1 ? 0x800 : 0)
            var want = EagerFlags.bits(cf: cf, pf: EagerFlags.parity(r), af: false, zf: r == 0, sf: r & 0x80 != 0, of: false)
            if count == 1 {
                let of: Bool
                switch op {
                case .shl: of = (r & 0x80 != 0) != cf
                case .shr: of = a & 0x80 != 0
                default: of = false
                }
                if of { want |= 0x800 }
            }
            if f & defined != want & defined { mismatches += 1 }
        }
    }
    #expect(mismatches == 0, "\(op): \(mismatches) mismatches")
}
