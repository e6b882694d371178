import CX87Host
import Testing

/// The host-FPU core (Sources/CX87Host) against Swift's `Float80`, which is the host's x87 in its
/// default environment (64-bit precision, round to nearest): with that control word the two must
/// agree bit for bit; under other precision and rounding controls, against values worked out by
/// hand. The host's own control word must come back unchanged.
struct X87HostTests {
    func real(_ v: Float80) -> cx87_real {
        cx87_real(significand: v.significandBitPattern | (v.isNormal || v.isInfinite || v.isNaN ? 1 << 63 : 0),
                  sign_exponent: UInt16(v.exponentBitPattern) | (v.sign == .minus ? 0x8000 : 0))
    }

    func run(_ op: Int32, _ a: cx87_real, _ b: cx87_real, control: UInt16 = 0x037F) -> (cx87_real, UInt16) {
        var out = cx87_real()
        var status: UInt16 = 0
        #expect(cx87_arith(op, a, b, control, &out, &status) == 1)
        return (out, status)
    }

    @Test func defaultEnvironmentMatchesFloat80() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state
        }
        let before = cx87_host_control()
        for _ in 0..<20_000 {
            // Normal operands of both signs over a wide exponent range.
            let a = Float80(sign: next() & 1 == 0 ? .plus : .minus, exponentBitPattern: UInt(16383 - 200 + Int(next() % 400)),
                            significandBitPattern: next() & ~(1 << 63))
            let b = Float80(sign: next() & 1 == 0 ? .plus : .minus, exponentBitPattern: UInt(16383 - 200 + Int(next() % 400)),
                            significandBitPattern: next() & ~(1 << 63))
            for (op, expected) in [(CX87_ADD, a + b), (CX87_SUB, a - b), (CX87_MUL, a * b), (CX87_DIV, a / b)] {
                let (r, _) = run(Int32(op), real(a), real(b))
                let e = real(expected)
                #expect(r.significand == e.significand && r.sign_exponent == e.sign_exponent, "op \(op): \(a) \(b)")
            }
        }
        #expect(cx87_host_control() == before)
    }

    @Test func precisionRoundingAndFlags() {
        let one = cx87_real(significand: 1 << 63, sign_exponent: 0x3FFF)
        let three = cx87_real(significand: 0xC000_0000_0000_0000, sign_exponent: 0x4000)
        // 1/3 = 0.0101…b: 64 bits of significand 0xAAAA…AA, the rest 1010…: round to nearest goes
        // up (…AB, C1 set), toward zero stays (…AA); both inexact (PE).
        let (nearest, s1) = run(Int32(CX87_DIV), one, three)
        #expect(nearest.significand == 0xAAAA_AAAA_AAAA_AAAB && nearest.sign_exponent == 0x3FFD)
        #expect(s1 == 0x0220)
        let (down, s2) = run(Int32(CX87_DIV), one, three, control: 0x0F7F)
        #expect(down.significand == 0xAAAA_AAAA_AAAA_AAAA && s2 == 0x0020)
        // Precision control 53 bits (PC = 10b): the significand rounds at bit 11.
        let (double, _) = run(Int32(CX87_DIV), one, three, control: 0x027F)
        #expect(double.significand == 0xAAAA_AAAA_AAAA_A800)
        // 24 bits (PC = 00b).
        let (single, _) = run(Int32(CX87_DIV), one, three, control: 0x007F)
        #expect(single.significand == 0xAAAA_AB00_0000_0000)
        // 1/0: ZE, +∞; 0/0: IE, the default NaN (negative, "real indefinite").
        let zero = cx87_real(significand: 0, sign_exponent: 0)
        let (inf, s3) = run(Int32(CX87_DIV), one, zero)
        #expect(inf.sign_exponent == 0x7FFF && inf.significand == 1 << 63 && s3 == 0x0004)
        let (nan, s4) = run(Int32(CX87_DIV), zero, zero)
        #expect(nan.sign_exponent == 0xFFFF && nan.significand == 0xC000_0000_0000_0000 && s4 == 0x0001)
        // Unmasked exceptions in the guest's control word do not trap on the host.
        let (_, s5) = run(Int32(CX87_DIV), one, zero, control: 0x0340)
        #expect(s5 == 0x0004)
        #expect(cx87_host_control() == 0x037F)
    }
}
