import CMallocCounter
import CX87Host
import Testing
import X86Core

/// SSE/SSE2 floating point on the host unit (issue 16): results against Swift's own arithmetic
/// (which the host computes under the default MXCSR), rounding control, DAZ/FTZ, the masked and
/// unmasked exception rules (the unmasked ones as measured on the AMD host: SIGFPE and a
/// native differential),
/// conversions at the integer limits, COMIS/UCOMIS flags, MIN/MAX operand rules.

private let fMax = Float(bitPattern: 0x7F00_0000)       // 1.7e38: squares overflow
private let fMinNormal = Float(bitPattern: 0x0080_0000)
private let fDenormal = Float(bitPattern: 0x0000_0100)

/// A small seeded generator (xorshift64*), so a failing case prints the same every run.
private struct Seeded: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// Random bit patterns biased to the interesting classes, never NaN (Swift may commute an
/// addition's operands, which picks the other NaN).
private func randomFloat(_ g: inout Seeded) -> Float {
    let r = g.next()
    switch r % 8 {
    case 0: return Float(bitPattern: UInt32(truncatingIfNeeded: r >> 8) & 0x807F_FFFF)  // denormal
    case 1: return [Float(0), -0.0, .infinity, -.infinity, fMax, fMinNormal][Int((r >> 8) % 6)]
    default:
        let f = Float(bitPattern: UInt32(truncatingIfNeeded: r >> 16))
        return f.isNaN ? 1.5 : f
    }
}

private func randomDouble(_ g: inout Seeded) -> Double {
    let r = g.next()
    switch r % 8 {
    case 0: return Double(bitPattern: (r >> 4) & 0x800F_FFFF_FFFF_FFFF)
    case 1: return [0.0, -0.0, .infinity, -.infinity, 1e308, 2.2250738585072014e-308][Int((r >> 8) % 6)]
    default:
        let f = Double(bitPattern: g.next())
        return f.isNaN ? -2.5 : f
    }
}

@Test func packedAndScalarArithmeticMatchesSwift() {
    let cpu = CPU(memorySize: 1 << 20)
    var g = Seeded(state: 0x5EED_0016)
    // addps, subps, mulps, divps xmm0, xmm1
    let singles: [([UInt8], (Float, Float) -> Float)] = [
        ([0x0F, 0x58, 0xC1], { $0 + $1 }), ([0x0F, 0x5C, 0xC1], { $0 - $1 }),
        ([0x0F, 0x59, 0xC1], { $0 * $1 }), ([0x0F, 0x5E, 0xC1], { $0 / $1 }),
    ]
    for _ in 0..<200 {
        for (code, f) in singles {
            let x = (0..<4).map { _ in randomFloat(&g) }, y = (0..<4).map { _ in randomFloat(&g) }
            var c = SIMDCase(code)
            c.xmm = [xmmFloats(x[0], x[1], x[2], x[3]), xmmFloats(y[0], y[1], y[2], y[3])]
            let (out, exit) = c.run(on: cpu)
            let want = xmmFloats(f(x[0], y[0]), f(x[1], y[1]), f(x[2], y[2]), f(x[3], y[3]))
            #expect(exit == .halted)
            #expect(out.state.fpu.xmm[0] == want, "\(code) \(x) \(y)")
        }
    }
    // addsd, subsd, mulsd, divsd xmm0, xmm1: the high lane stays.
    let doubles: [([UInt8], (Double, Double) -> Double)] = [
        ([0xF2, 0x0F, 0x58, 0xC1], { $0 + $1 }), ([0xF2, 0x0F, 0x5C, 0xC1], { $0 - $1 }),
        ([0xF2, 0x0F, 0x59, 0xC1], { $0 * $1 }), ([0xF2, 0x0F, 0x5E, 0xC1], { $0 / $1 }),
    ]
    for _ in 0..<200 {
        for (code, f) in doubles {
            let x = randomDouble(&g), y = randomDouble(&g)
            var c = SIMDCase(code)
            c.xmm = [xmmDoubles(x, 7), xmmDoubles(y, 9)]
            let (out, exit) = c.run(on: cpu)
            #expect(exit == .halted)
            #expect(out.state.fpu.xmm[0] == xmmDoubles(f(x, y), 7), "\(code) \(x) \(y)")
        }
    }
    // sqrtpd xmm0, xmm1
    for _ in 0..<200 {
        let x = abs(randomDouble(&g)), y = abs(randomDouble(&g))
        var c = SIMDCase([0x66, 0x0F, 0x51, 0xC1])
        c.xmm = [XMMRegister(), xmmDoubles(x, y)]
        let (out, _) = c.run(on: cpu)
        #expect(out.state.fpu.xmm[0] == xmmDoubles(x.squareRoot(), y.squareRoot()))
    }
}

@Test func theHostMXCSRIsLeftAlone() {
    // divps xmm0, xmm1 (ZE, and PE/DE from the other lanes) under RC = up, FTZ, DAZ: the guest
    // gets the flags, the host's MXCSR (this thread's) is as before.
    var c = SIMDCase([0x0F, 0x5E, 0xC1])
    c.xmm = [xmmFloats(1, 1, fDenormal, fMax), xmmFloats(0, 3, 1, 0.5)]
    c.mxcsr = 0x1F80 | 0x4000 | 0x8000
    let before = cxmm_host_mxcsr()
    let (cpu, exit) = c.run()
    let after = cxmm_host_mxcsr()
    #expect(exit == .halted)
    #expect(after == before)
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x3E)  // ZE; DE, and UE|PE (flushed); OE|PE
}

@Test func roundingControlApplies() {
    // cvtsi2ss xmm0, eax with EAX = 2^24 + 1 (not a float): nearest → 2^24, up → 2^24 + 2.
    var c = SIMDCase([0xF3, 0x0F, 0x2A, 0xC0])
    c.regs = [.eax: 16_777_217]
    c.xmm = [xmmFloats(0, 1, 2, 3)]
    let (cpu, _) = c.run()
    #expect(cpu.state.fpu.xmm[0] == xmmFloats(16_777_216, 1, 2, 3))
    #expect(cpu.state.fpu.mxcsr == 0x1F80 | 0x20)  // PE
    c.mxcsr = 0x1F80 | 0x4000  // RC = up
    let (cpu2, _) = c.run()
    #expect(cpu2.state.fpu.xmm[0] == xmmFloats(16_777_218, 1, 2, 3))
    c.mxcsr = 0x1F80 | 0x6000  // RC = toward zero
    c.regs = [.eax: UInt32(bitPattern: -16_777_219)]
    let (cpu3, _) = c.run()
    #expect(cpu3.state.fpu.xmm[0] == xmmFloats(-16_777_218, 1, 2, 3))
}

@Test func flushToZeroAndDenormalsAreZero() {
    // mulss xmm0, xmm1: the smallest normal × 0.5 is an exact denormal; with FTZ it is 0, UE|PE.
    var c = SIMDCase([0xF3, 0x0F, 0x59, 0xC1])
    c.xmm = [xmmFloats(fMinNormal, 0, 0, 0), xmmFloats(0.5, 0, 0, 0)]
    let (cpu, _) = c.run()
    #expect(cpu.state.fpu.xmm[0].low == 0x0040_0000)
    #expect(cpu.state.fpu.mxcsr == 0x1F80)
    c.mxcsr = 0x9F80
    let (cpu2, _) = c.run()
    #expect(cpu2.state.fpu.xmm[0].low == 0)
    #expect(cpu2.state.fpu.mxcsr == 0x9F80 | 0x30)
    // addss xmm0, xmm1 of a denormal and 1.0: DE without DAZ; with DAZ the denormal is 0, no DE.
    c.code = [0xF3, 0x0F, 0x58, 0xC1]
    c.xmm = [xmmFloats(fDenormal, 0, 0, 0), xmmFloats(1, 0, 0, 0)]
    c.mxcsr = 0x1F80
    #expect(c.run().0.state.fpu.mxcsr == 0x1F80 | 0x22)  // DE, PE
    c.mxcsr = 0x1FC0
    #expect(c.run().0.state.fpu.mxcsr == 0x1FC0)
}

@Test func unmaskedZeroDivideIsXMOrUDAndWritesNothing() {
    // divss xmm0, xmm1: 1/0 with ZM clear.
    var c = SIMDCase([0xF3, 0x0F, 0x5E, 0xC1])
    c.xmm = [xmmFloats(1, 2, 3, 4), xmmFloats(0, 0, 0, 0)]
    c.mxcsr = 0x1F80 & ~0x200
    let (cpu, exit) = c.run()
    #expect(exit == exceptionXM)
    #expect(cpu.state.eip == 0x1000)
    #expect(cpu.state.fpu.xmm[0] == xmmFloats(1, 2, 3, 4))
    #expect(cpu.state.fpu.mxcsr == (0x1F80 & ~0x200) | 0x04)
    c.cr4 = CR4.osfxsr
    #expect(c.run().1 == exceptionUD)
    // Masked: +inf and ZE.
    c.mxcsr = 0x1F80
    let (cpu3, exit3) = c.run()
    #expect(exit3 == .halted)
    #expect(cpu3.state.fpu.xmm[0] == xmmFloats(.infinity, 2, 3, 4))
    #expect(cpu3.state.fpu.mxcsr == 0x1F84)
}

@Test func unmaskedOverflowAndUnderflowFlags() {
    // mulss xmm0, xmm1
    var c = SIMDCase([0xF3, 0x0F, 0x59, 0xC1])
    c.xmm = [xmmFloats(fMax, 0, 0, 0), xmmFloats(fMax, 0, 0, 0)]
    c.mxcsr = 0x1F80 & ~0x400  // OM clear: OE, and no PE (2^127 × 2^127 is exact unbounded)
    var (cpu, exit) = c.run()
    #expect(exit == exceptionXM)
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x08)
    c.xmm = [xmmDwords(0x7F7F_FFFF, 0, 0, 0), xmmDwords(0x3FC0_0001, 0, 0, 0)]  // needs 48 bits: PE
    (cpu, exit) = c.run()
    #expect(exit == exceptionXM)
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x28)
    c.xmm = [xmmFloats(fMax, 0, 0, 0), xmmFloats(fMax, 0, 0, 0)]
    c.mxcsr = 0x1F80 & ~0x1000  // only PM clear: the masked overflow's OE|PE, and a fault
    (cpu, exit) = c.run()
    #expect(exit == exceptionXM)
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x28)
    // An exact tiny result faults when UM is clear (even with FTZ set: it does not apply).
    c.xmm = [xmmFloats(fMinNormal, 0, 0, 0), xmmFloats(0.5, 0, 0, 0)]
    c.mxcsr = (0x9F80) & ~0x800
    (cpu, exit) = c.run()
    #expect(exit == exceptionXM)
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x10)
    // 2^-126 × 0.3 is inexact only once denormalized; unbounded it is exact: UE, no PE. With
    // 1.5000001 as the multiplier the product needs 48 bits: UE|PE.
    c.xmm = [xmmFloats(fMinNormal, 0, 0, 0), xmmFloats(0.3, 0, 0, 0)]
    (cpu, exit) = c.run()
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x10)
    c.xmm = [xmmDwords(0x0080_0001, 0, 0, 0), xmmDwords(0x3F40_0001, 0, 0, 0)]
    (cpu, exit) = c.run()
    #expect(exit == exceptionXM)
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x30)
    // mulps: lane 0 overflows exactly (OM clear), lane 1 is exact: OE only.
    c.code = [0x0F, 0x59, 0xC1]
    c.xmm = [xmmFloats(fMax, 1, 1, 1), xmmFloats(fMax, 0.3, 1, 1)]
    c.mxcsr = 0x1F80 & ~0x400
    (cpu, exit) = c.run()
    #expect(exit == exceptionXM)
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x08)
    #expect(cpu.state.fpu.xmm[0] == xmmFloats(fMax, 1, 1, 1))
    // Lane 1 underflows inexactly with UM set: its masked response's UE|PE is kept.
    c.xmm = [xmmFloats(fMax, fMinNormal, 1, 1), xmmFloats(fMax, 0.3, 1, 1)]
    (cpu, exit) = c.run()
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x38)
    // Lane 0 overflows with OM set (OE|PE), lane 1 is exactly tiny with UM clear: UE faults.
    c.xmm = [xmmFloats(fMax, fMinNormal, 1, 1), xmmFloats(fMax, 0.5, 1, 1)]
    c.mxcsr = 0x1F80 & ~0x800
    (cpu, exit) = c.run()
    #expect(exit == exceptionXM)
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x38)
    // A pre-computation exception unmasked wins: lane 0 SNaN (IM clear), lane 1 overflows.
    c.xmm = [xmmDwords(0x7F80_0001, fMax.bitPattern, 0, 0), xmmFloats(1, fMax, 1, 1)]
    c.mxcsr = 0x1F80 & ~0x80
    (cpu, exit) = c.run()
    #expect(exit == exceptionXM)
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x01)
}

@Test func conversionsAtTheIntegerLimits() {
    // cvttsd2si eax, [0x2000]; cvtsd2si ebx, [0x2008]; cvttss2si ecx, [0x2010]
    let code: [UInt8] = [0xF2, 0x0F, 0x2C, 0x05, 0x00, 0x20, 0x00, 0x00, 0xF2, 0x0F, 0x2D, 0x1D, 0x08, 0x20, 0x00, 0x00,
                         0xF3, 0x0F, 0x2C, 0x0D, 0x10, 0x20, 0x00, 0x00]
    func run(_ x: Double, _ y: Double, _ z: Float) -> (UInt32, UInt32, UInt32, UInt32) {
        var c = SIMDCase(code)
        c.data = bytes64(x.bitPattern) + bytes64(y.bitPattern) + bytes32(z.bitPattern)
        let (cpu, exit) = c.run()
        #expect(exit == .halted)
        return (cpu.state[.eax], cpu.state[.ebx], cpu.state[.ecx], cpu.state.fpu.mxcsr & 0x3F)
    }
    #expect(run(2_147_483_647.9, 2.5, -1.5) == (0x7FFF_FFFF, 2, 0xFFFF_FFFF, 0x20))
    #expect(run(2_147_483_648.0, 3.5, 2_147_483_648.0) == (0x8000_0000, 4, 0x8000_0000, 0x21))
    #expect(run(-2_147_483_648.9, -2_147_483_648.0, -2_147_483_648.0) == (0x8000_0000, 0x8000_0000, 0x8000_0000, 0x20))
    #expect(run(.nan, -.infinity, .nan) == (0x8000_0000, 0x8000_0000, 0x8000_0000, 0x01))
}

@Test func packedConversions() {
    // cvtps2pd xmm0, xmm1; cvtpd2ps xmm2, xmm3; cvttps2dq xmm4, xmm1; cvtdq2pd xmm5, xmm6;
    // cvtss2sd xmm7, xmm1 (merges)
    var c = SIMDCase([0x0F, 0x5A, 0xC1, 0x66, 0x0F, 0x5A, 0xD3, 0xF3, 0x0F, 0x5B, 0xE1, 0xF3, 0x0F, 0xE6, 0xEE,
                      0xF3, 0x0F, 0x5A, 0xF9])
    c.xmm = [XMMRegister(), xmmFloats(1.5, -2.75, 1e10, -0.5), xmmDwords(9, 9, 9, 9), xmmDoubles(0.1, -3e40),
             XMMRegister(), XMMRegister(), xmmDwords(0xFFFF_FFFF, 7, 1, 1), xmmDoubles(0, 42)]
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.xmm[0] == xmmDoubles(1.5, -2.75))
    #expect(cpu.state.fpu.xmm[2] == XMMRegister(low: UInt64(Float(0.1).bitPattern) | UInt64((-Float.infinity).bitPattern) << 32, high: 0))
    #expect(cpu.state.fpu.xmm[4] == xmmDwords(1, 0xFFFF_FFFE, 0x8000_0000, 0))
    #expect(cpu.state.fpu.xmm[5] == xmmDoubles(-1, 7))
    #expect(cpu.state.fpu.xmm[7] == xmmDoubles(1.5, 42))
    #expect(cpu.state.fpu.mxcsr & 0x3F == 0x29)  // IE (1e10), OE|PE (−3e40)
}

@Test func orderedAndUnorderedCompares() {
    // comisd xmm0, xmm1
    func flags(_ code: [UInt8], _ x: XMMRegister, _ y: XMMRegister) -> (UInt32, UInt32) {
        var c = SIMDCase(code)
        c.xmm = [x, y]
        c.regs = [:]
        let cpu = CPU(memorySize: 1 << 20)
        let (out, exit) = c.run(on: cpu)
        #expect(exit == .halted)
        return (out.eflags & 0x8D5, out.state.fpu.mxcsr & 0x3F)
    }
    let comisd: [UInt8] = [0x66, 0x0F, 0x2F, 0xC1]
    #expect(flags(comisd, xmmDoubles(1, 0), xmmDoubles(2, 0)) == (0x01, 0))
    #expect(flags(comisd, xmmDoubles(2, 0), xmmDoubles(2, 0)) == (0x40, 0))
    #expect(flags(comisd, xmmDoubles(3, 0), xmmDoubles(2, 0)) == (0x00, 0))
    #expect(flags(comisd, xmmDoubles(.nan, 0), xmmDoubles(2, 0)) == (0x45, 0x01))  // COMIS signals on QNaN
    let ucomiss: [UInt8] = [0x0F, 0x2E, 0xC1]
    #expect(flags(ucomiss, xmmFloats(.nan, 0, 0, 0), xmmFloats(2, 0, 0, 0)) == (0x45, 0))
    #expect(flags(ucomiss, xmmDwords(0x7F80_0001, 0, 0, 0), xmmFloats(2, 0, 0, 0)) == (0x45, 0x01))
}

@Test func comparePredicatesAndMinMax() {
    // cmpps xmm0, xmm1, 0x0D (only imm8[2:0] = 5, NLT, counts); cmpsd xmm2, xmm3, 3 (UNORD)
    var c = SIMDCase([0x0F, 0xC2, 0xC1, 0x0D, 0xF2, 0x0F, 0xC2, 0xD3, 0x03])
    c.xmm = [xmmFloats(1, 2, 3, .nan), xmmFloats(2, 2, 2, 2), xmmDoubles(.nan, 5), xmmDoubles(1, 1)]
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.xmm[0] == xmmDwords(0, ~0, ~0, ~0))
    #expect(cpu.state.fpu.xmm[2] == XMMRegister(low: ~0, high: xmmDoubles(.nan, 5).high))
    // minps xmm0, xmm1 and maxsd xmm2, xmm3: with a NaN or two zeros, the source is returned.
    c.code = [0x0F, 0x5D, 0xC1, 0xF2, 0x0F, 0x5F, 0xD3]
    c.xmm = [xmmFloats(.nan, 0, -0.0, 1), xmmFloats(3, -0.0, 0, .nan), xmmDoubles(0, 1), xmmDoubles(-0.0, 2)]
    let (cpu2, _) = c.run()
    #expect(cpu2.state.fpu.xmm[0] == xmmDwords(Float(3).bitPattern, (-Float(0)).bitPattern, 0, Float.nan.bitPattern))
    #expect(cpu2.state.fpu.xmm[2] == xmmDoubles(-0.0, 1))
    #expect(cpu2.state.fpu.mxcsr & 0x3F == 0x01)  // MINPS signals IE on a QNaN
}

@Test func reciprocalApproximationsAreClose() {
    // rsqrtps xmm0, xmm1; rcpss xmm2, xmm3 (the host's tables: only the precision is promised)
    var c = SIMDCase([0x0F, 0x52, 0xC1, 0xF3, 0x0F, 0x53, 0xD3])
    c.xmm = [XMMRegister(), xmmFloats(4, 16, 0.25, 1), xmmFloats(0, 5, 6, 7), xmmFloats(3, 0, 0, 0)]
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    let r = cpu.state.fpu.xmm[0]
    let lanes = [Float(bitPattern: UInt32(truncatingIfNeeded: r.low)), Float(bitPattern: UInt32(truncatingIfNeeded: r.low >> 32)),
                 Float(bitPattern: UInt32(truncatingIfNeeded: r.high)), Float(bitPattern: UInt32(truncatingIfNeeded: r.high >> 32))]
    for (got, want) in zip(lanes, [Float(0.5), 0.25, 2, 1]) { #expect(abs(got - want) <= want * 0.000_37) }
    let rcp = Float(bitPattern: UInt32(truncatingIfNeeded: cpu.state.fpu.xmm[2].low))
    #expect(abs(rcp - 1.0 / 3) <= 0.000_37 / 3)
    #expect(cpu.state.fpu.xmm[2].high == xmmFloats(0, 5, 6, 7).high)
    #expect(cpu.state.fpu.mxcsr == 0x1F80)
}

/// SSE, SSE2 and MMX execution does not allocate: a loop of them (host arithmetic, moves to and
/// from memory, integer operations, COMISD, EMMS), with UM and OM unmasked so the unmasked path
/// runs too, under a per-thread malloc counter, in both engines.
@Test(arguments: ExecutionEngine.allCases)
func simdLoopDoesNotAllocate(_ engine: ExecutionEngine) {
    // l: addps xmm0, xmm1; mulsd xmm2, xmm3; cvttsd2si eax, xmm2; pshufd xmm4, xmm0, 0x1B;
    //    paddw mm0, mm1; movaps [0x2000], xmm0; movsd xmm5, [0x2000]; comisd xmm2, xmm3;
    //    divps xmm6, xmm7; cvtpd2ps xmm1, xmm5; pmaddwd xmm4, xmm4; emms; jmp l
    var c = SIMDCase([0x0F, 0x58, 0xC1, 0xF2, 0x0F, 0x59, 0xD3, 0xF2, 0x0F, 0x2C, 0xC2, 0x66, 0x0F, 0x70, 0xE0, 0x1B,
                      0x0F, 0xFD, 0xC1, 0x0F, 0x29, 0x05, 0x00, 0x20, 0x00, 0x00, 0xF2, 0x0F, 0x10, 0x2D, 0x00, 0x20,
                      0x00, 0x00, 0x66, 0x0F, 0x2F, 0xD3, 0x0F, 0x5E, 0xF7, 0x66, 0x0F, 0x5A, 0xCD, 0x66, 0x0F, 0xF5,
                      0xE4, 0x0F, 0x77, 0xEB, 0xCB])
    c.xmm = [xmmFloats(1, 2, 3, 4), xmmFloats(0.5, 0.25, 0.125, 1), xmmDoubles(1.000001, 0), xmmDoubles(1.0000001, 0),
             XMMRegister(), XMMRegister(), xmmFloats(3, 3, 3, 3), xmmFloats(1, 1, 1, 1)]
    c.mxcsr = 0x1F80 & ~0x0C00
    let cpu = CPU(memorySize: 1 << 20)
    cpu.engine = engine
    let (_, warmUp) = c.run(on: cpu, budget: 1_000)  // one-time tables are built here
    #expect(warmUp == .instructionLimit)
    let before = x86v_malloc_count()
    let exit = cpu.run(maxInstructions: 200_000)
    let after = x86v_malloc_count()
    #expect(exit == .instructionLimit)
    #expect(after - before == 0, "\(engine): \(after - before) allocations in 200,000 SIMD instructions")
}
