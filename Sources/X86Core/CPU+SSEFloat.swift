import CX87Host
import X86Decode

/// MXCSR bits (SDM Vol. 1 §10.2.3, Figure 10-3).
///
///     15  14:13  12 11 10  9  8  7   6   5  4  3  2  1  0
///     FZ  RC     PM UM OM ZM DM IM  DAZ  PE UE OE ZE DE IE
enum MXCSR {
    static let invalid: UInt32 = 1 << 0
    static let denormal: UInt32 = 1 << 1
    static let divideByZero: UInt32 = 1 << 2
    static let overflow: UInt32 = 1 << 3
    static let underflow: UInt32 = 1 << 4
    static let precision: UInt32 = 1 << 5
    static let flags: UInt32 = 0x3F
    /// IE, DE, ZE: detected before the computation (SDM Vol. 1 §11.5.1).
    static let preComputation: UInt32 = invalid | denormal | divideByZero
    static let masks: UInt32 = 0x3F << 7
    static let denormalsAreZero: UInt32 = 1 << 6
    static let flushToZero: UInt32 = 1 << 15
}

/// The lanes of an operation that can overflow or underflow (ADD/SUB/MUL/DIV, CVTPD2PS,
/// CVTSD2SS), for the unmasked-OE/UE rules; `count` 0 for every other operation.
struct SSELanes {
    /// What the lane computes, for the exactness check of an unmasked OE/UE.
    enum Kind: UInt8 { case add, subtract, multiply, divide, convert }

    var count: Int
    var kind: Kind = .add
    /// Bytes per source lane and per result lane (4 or 8).
    var inputWidth: Int
    var outputWidth: Int
    /// The one-lane form, to recompute a packed operation lane by lane.
    var scalar: Int32

    static let none = SSELanes(count: 0, inputWidth: 0, outputWidth: 0, scalar: 0)
}

/// Floating-point SSE/SSE2 on the host (Sources/CX87Host/cxmm.c) and the exception rules.
///
/// The host computes with the guest's rounding, DAZ and FTZ and every exception masked; its
/// flags decide. With every guest exception masked (the usual case) they are ORed into MXCSR
/// and the result is written. Otherwise (SDM Vol. 1 §11.5.1–11.5.2, made precise where the
/// SDM is loose by measuring the AMD host: SIGFPE, the signal frame's MXCSR, and a native
/// differential over random operands and MXCSR values):
/// - an unmasked IE/DE/ZE in any lane: only the pre-computation flags (of all lanes) are set
///   and the instruction faults;
/// - an unmasked OE, or UE (the result tiny, exact or not: with UM clear, FTZ does not apply),
///   in any lane: the instruction faults. That lane reports OE or UE, its pre-computation
///   flags, and PE only if the result rounded with an unbounded exponent is inexact (what an
///   x87 handler would see; the masked response's denormalizing or overflowing is not done);
///   every other lane reports its flags as computed;
/// - otherwise an unmasked PE: every flag, and a fault.
/// A fault is #XM with CR4.OSXMMEXCPT, else #UD; the destination is not written.
extension CPU {
    func simdFloatingPointFault() -> Fault {
        s.pointee.cr4 & CR4.osxmmexcpt != 0 ? Fault.exception(Vector.simdError) : Fault.ud
    }

    /// `dst OP src` on the host under the guest's MXCSR; the result, or the fault.
    func sseHost(_ op: Int32, _ dst: XMMRegister, _ src: XMMRegister, lanes: SSELanes = .none) throws(Fault) -> XMMRegister {
        let mxcsr = s.pointee.fpu.mxcsr
        let unmasked = ~(mxcsr >> 7) & MXCSR.flags
        let control = hostControl(mxcsr, unmasked: unmasked)
        var result = cxmm_reg(lo: dst.low, hi: dst.high)
        var source = cxmm_reg(lo: src.low, hi: src.high)
        let raised = cxmm_run(op, &result, &source, control)
        if raised > MXCSR.flags { try hostCannotCompute() }
        let value = XMMRegister(low: result.lo, high: result.hi)
        if unmasked != 0 {
            let flags = try sseUnmasked(raised, dst, src, value, lanes: lanes, unmasked: unmasked, control: control)
            s.pointee.fpu.mxcsr |= flags
        } else {
            s.pointee.fpu.mxcsr |= raised
        }
        return value
    }

    /// The host's MXCSR for a guest operation: the guest's rounding and DAZ, every exception
    /// masked, flags clear; FTZ only while UM is set (an unmasked underflow is not flushed).
    @inline(__always)
    func hostControl(_ mxcsr: UInt32, unmasked: UInt32) -> UInt32 {
        var control = (mxcsr & ~MXCSR.flags) | MXCSR.masks
        if unmasked & MXCSR.underflow != 0 { control &= ~MXCSR.flushToZero }
        return control
    }

    @inline(never)
    func hostCannotCompute() throws(Fault) {
        pendingExit = .notImplemented(eip: s.pointee.currentEIP, what: "SSE floating point (the host is not x86-64)")
        throw Fault.exit
    }

    /// Some exception is unmasked: the flags to set if the instruction completes, or the fault
    /// (with MXCSR's flags set) if it does not.
    @inline(never)
    func sseUnmasked(_ raised: UInt32, _ dst: XMMRegister, _ src: XMMRegister, _ result: XMMRegister,
                     lanes: SSELanes, unmasked: UInt32, control: UInt32) throws(Fault) -> UInt32 {
        let pre = raised & MXCSR.preComputation
        if pre & unmasked != 0 {
            s.pointee.fpu.mxcsr |= pre
            throw simdFloatingPointFault()
        }
        if lanes.count != 0 && unmasked & (MXCSR.overflow | MXCSR.underflow) != 0
            && (raised & (MXCSR.overflow | MXCSR.underflow) != 0
                || (unmasked & MXCSR.underflow != 0 && SSELaneBits.anyDenormal(result, lanes: lanes))) {
            var kept: UInt32 = 0
            var faults = false
            let daz = control & MXCSR.denormalsAreZero != 0
            for i in 0..<lanes.count {
                var laneFlags = raised
                var laneResult = result
                var position = i
                let a = SSELaneBits.get(dst, i, width: lanes.inputWidth)
                let b = SSELaneBits.get(src, i, width: lanes.inputWidth)
                if lanes.count > 1 {
                    // One lane alone: its own flags (the packed operation ORs them).
                    var x = cxmm_reg(lo: a, hi: 0)
                    var y = cxmm_reg(lo: b, hi: 0)
                    laneFlags = cxmm_run(lanes.scalar, &x, &y, control)
                    laneResult = XMMRegister(low: x.lo, high: x.hi)
                    position = 0
                }
                let out = SSELaneBits.get(laneResult, position, width: lanes.outputWidth)
                let tiny = laneFlags & MXCSR.underflow != 0
                    || (unmasked & MXCSR.underflow != 0 && SSELaneBits.isDenormal(out, width: lanes.outputWidth))
                var g = laneFlags
                if laneFlags & MXCSR.overflow != 0 && unmasked & MXCSR.overflow != 0 {
                    g = laneFlags & MXCSR.preComputation | MXCSR.overflow
                } else if tiny && unmasked & MXCSR.underflow != 0 {
                    g = laneFlags & MXCSR.preComputation | MXCSR.underflow
                } else {
                    kept |= g
                    continue
                }
                faults = true
                if SSELaneBits.inexactUnbounded(lanes, a, b, daz: daz) { g |= MXCSR.precision }
                kept |= g
            }
            if faults {
                s.pointee.fpu.mxcsr |= kept
                throw simdFloatingPointFault()
            }
        }
        if raised & unmasked != 0 {
            s.pointee.fpu.mxcsr |= raised
            throw simdFloatingPointFault()
        }
        return raised
    }

    // MARK: Instructions

    /// The form index of the four-form rows: PS 0, SS 1, PD 2, SD 3 (cxmm.h's order).
    @inline(__always)
    static func floatForm(_ form: UInt8) -> Int {
        switch form {
        case SIMDRowClass.rep: return 1
        case SIMDRowClass.operandSize: return 2
        case SIMDRowClass.repne: return 3
        default: return 0
        }
    }

    /// Memory operand size of each form: m128, m32, m128, m64.
    @inline(__always)
    static func floatSourceSize(_ k: Int) -> Int { k == 1 ? 4 : k == 3 ? 8 : 16 }

    /// ADD, SUB, MUL, DIV, MIN, MAX, SQRT in PS/SS/PD/SD (0F 51, 58–5F).
    func sseArithmetic(_ d: InstructionRef, form: UInt8) throws(Fault) {
        let base: Int
        switch d.opcode {
        case 0x58: base = 0
        case 0x5C: base = 1
        case 0x59: base = 2
        case 0x5E: base = 3
        case 0x5D: base = 4
        case 0x5F: base = 5
        default: base = 6  // 0x51 SQRT
        }
        let k = CPU.floatForm(form)
        let op = Int32(CXMM_ADDPS) + Int32(base * 4 + k)
        let source = try xmmSource(d, size: CPU.floatSourceSize(k))
        var lanes = SSELanes.none
        if base <= 3 {
            let width = k >= 2 ? 8 : 4
            let count = k == 0 ? 4 : k == 2 ? 2 : 1
            let kind: SSELanes.Kind = base == 0 ? .add : base == 1 ? .subtract : base == 2 ? .multiply : .divide
            lanes = SSELanes(count: count, kind: kind, inputWidth: width, outputWidth: width,
                             scalar: k & 1 == 0 ? op + 1 : op)
        }
        let r = Int(d.reg)
        setXMM(r, try sseHost(op, xmm(r), source, lanes: lanes))
    }

    /// RSQRTPS/SS (0F 52), RCPPS/SS (0F 53): the host's approximation (the SDM promises a
    /// relative error of at most 1.5 × 2^-12; AMD's tables give other bits than Intel's, and
    /// Intel's generations differ among themselves). No exceptions; DAZ/FTZ as the host.
    func sseReciprocal(_ d: InstructionRef, form: UInt8) throws(Fault) {
        let scalar = form == SIMDRowClass.rep
        let op = Int32(d.opcode == 0x53 ? CXMM_RCPPS : CXMM_RSQRTPS) + (scalar ? 1 : 0)
        let source = try xmmSource(d, size: scalar ? 4 : 16)
        let r = Int(d.reg)
        setXMM(r, try sseHost(op, xmm(r), source))
    }

    /// CMPccPS/SS/PD/SD (0F C2): predicate imm8[2:0] (the host ignores bits 7:3 too).
    func sseCompare(_ d: InstructionRef, form: UInt8) throws(Fault) {
        let k = CPU.floatForm(form)
        let op = Int32(CXMM_CMPPS) + Int32(k * 8) + Int32(d.immediate & 7)
        let source = try xmmSource(d, size: CPU.floatSourceSize(k))
        let r = Int(d.reg)
        setXMM(r, try sseHost(op, xmm(r), source))
    }

    /// UCOMISS/UCOMISD (0F 2E), COMISS/COMISD (0F 2F): ZF, PF, CF from the comparison; OF, SF,
    /// AF cleared.
    func sseOrderedCompare(_ d: InstructionRef, form: UInt8) throws(Fault) {
        let double = form == SIMDRowClass.operandSize
        let op = Int32(double ? CXMM_COMISD : CXMM_COMISS) + (d.opcode == 0x2E ? 1 : 0)
        let source = try xmmSource(d, size: double ? 8 : 4)
        let result = try sseHost(op, xmm(Int(d.reg)), source)
        let bits = UInt32(truncatingIfNeeded: result.low) & (EFLAGS.zf | EFLAGS.pf | EFLAGS.cf)
        setFlags(bits, mask: EFLAGS.arithmetic)
    }

    /// The conversions (0F 2A, 2C, 2D, 5A, 5B, E6).
    func sseConvert(_ d: InstructionRef, form: UInt8) throws(Fault) {
        let r = Int(d.reg)
        let register = d.modrm >= 0xC0
        switch (d.opcode, form) {
        case (0x2A, SIMDRowClass.none), (0x2A, SIMDRowClass.operandSize):
            // CVTPI2PS/CVTPI2PD xmm, mm/m64: an MMX register source is an MMX instruction.
            if register { try mmxEnter() }
            let source = XMMRegister(low: try mmxSource(d))
            let op = Int32(form == SIMDRowClass.none ? CXMM_CVTPI2PS : CXMM_CVTPI2PD)
            // The x87 unit is in MMX state before the conversion can raise #XM (the host's order).
            if register { mmxLeave() }
            setXMM(r, try sseHost(op, xmm(r), source))
        case (0x2A, _):
            // CVTSI2SS/CVTSI2SD xmm, r/m32.
            let source = XMMRegister(low: UInt64(try dwordSource(d)))
            let op = Int32(form == SIMDRowClass.rep ? CXMM_CVTSI2SS : CXMM_CVTSI2SD)
            setXMM(r, try sseHost(op, xmm(r), source))
        case (0x2C, SIMDRowClass.none), (0x2D, SIMDRowClass.none),
             (0x2C, SIMDRowClass.operandSize), (0x2D, SIMDRowClass.operandSize):
            // CVT(T)PS2PI mm, xmm/m64; CVT(T)PD2PI mm, xmm/m128.
            try mmxEnter()
            let double = form == SIMDRowClass.operandSize
            var source = try xmmSource(d, size: double ? 16 : 8)
            if !double { source.high = 0 }
            let truncate = d.opcode == 0x2C
            let op = Int32(double ? (truncate ? CXMM_CVTTPD2PI : CXMM_CVTPD2PI) : (truncate ? CXMM_CVTTPS2PI : CXMM_CVTPS2PI))
            mmxLeave()  // MMX state before a #XM, as on the host
            let result = try sseHost(op, XMMRegister(), source)
            setMMX(r, result.low)
        case (0x2C, _), (0x2D, _):
            // CVT(T)SS2SI/CVT(T)SD2SI r32, xmm/m32|m64.
            let double = form == SIMDRowClass.repne
            let source = try xmmSource(d, size: double ? 8 : 4)
            let truncate = d.opcode == 0x2C
            let op = Int32(double ? (truncate ? CXMM_CVTTSD2SI : CXMM_CVTSD2SI) : (truncate ? CXMM_CVTTSS2SI : CXMM_CVTSS2SI))
            let result = try sseHost(op, XMMRegister(), source)
            gpr[r] = UInt32(truncatingIfNeeded: result.low)
        case (0x5A, _):
            let k = CPU.floatForm(form)
            let (op, size, lanes): (Int32, Int, SSELanes)
            switch k {
            case 0: (op, size, lanes) = (Int32(CXMM_CVTPS2PD), 8, .none)
            case 1: (op, size, lanes) = (Int32(CXMM_CVTSS2SD), 4, .none)
            case 2: (op, size, lanes) = (Int32(CXMM_CVTPD2PS), 16,
                                         SSELanes(count: 2, kind: .convert, inputWidth: 8, outputWidth: 4, scalar: Int32(CXMM_CVTSD2SS)))
            default: (op, size, lanes) = (Int32(CXMM_CVTSD2SS), 8,
                                          SSELanes(count: 1, kind: .convert, inputWidth: 8, outputWidth: 4, scalar: Int32(CXMM_CVTSD2SS)))
            }
            let source = try xmmSource(d, size: size)
            setXMM(r, try sseHost(op, xmm(r), source, lanes: lanes))
        case (0x5B, _):
            let op = Int32(form == SIMDRowClass.operandSize ? CXMM_CVTPS2DQ : form == SIMDRowClass.rep ? CXMM_CVTTPS2DQ : CXMM_CVTDQ2PS)
            let source = try xmmSource(d, size: 16)
            setXMM(r, try sseHost(op, xmm(r), source))
        case (0xE6, _):
            let op = Int32(form == SIMDRowClass.operandSize ? CXMM_CVTTPD2DQ : form == SIMDRowClass.rep ? CXMM_CVTDQ2PD : CXMM_CVTPD2DQ)
            let source = try xmmSource(d, size: form == SIMDRowClass.rep ? 8 : 16)
            setXMM(r, try sseHost(op, xmm(r), source))
        default:
            try notImplemented(d)
        }
    }
}

/// Lanes of an XMM value as bit patterns.
enum SSELaneBits {
    /// Lane `i` of `width` bytes (4 or 8), zero-extended.
    @inline(__always)
    static func get(_ v: XMMRegister, _ i: Int, width: Int) -> UInt64 {
        if width == 8 { return i == 0 ? v.low : v.high }
        let q = i < 2 ? v.low : v.high
        return (i & 1 == 0 ? q : q >> 32) & 0xFFFF_FFFF
    }

    /// Whether a result lane of the operation is a nonzero denormal.
    static func anyDenormal(_ v: XMMRegister, lanes: SSELanes) -> Bool {
        for i in 0..<lanes.count where isDenormal(get(v, i, width: lanes.outputWidth), width: lanes.outputWidth) {
            return true
        }
        return false
    }

    /// A finite value as an integer significand and a power of two (`value = m × 2^e`);
    /// denormals are zero under DAZ.
    @inline(__always)
    static func decode(_ x: UInt64, width: Int, daz: Bool) -> (negative: Bool, significand: UInt64, exponent: Int) {
        if width == 8 {
            let e = Int(x >> 52 & 0x7FF), f = x & 0x000F_FFFF_FFFF_FFFF
            if e == 0 { return (x >> 63 != 0, daz ? 0 : f, -1074) }
            return (x >> 63 != 0, f | 1 << 52, e - 1075)
        }
        let e = Int(x >> 23 & 0xFF), f = x & 0x7F_FFFF
        if e == 0 { return (x >> 31 & 1 != 0, daz ? 0 : f, -149) }
        return (x >> 31 & 1 != 0, f | 1 << 23, e - 150)
    }

    /// Significant bits of an integer (trailing zeros dropped).
    @inline(__always)
    static func significantBits(_ v: UInt128) -> Int {
        v == 0 ? 0 : 128 - v.leadingZeroBitCount - v.trailingZeroBitCount
    }

    /// Whether a lane's exact result needs more bits than the result format has: the PE of an
    /// unmasked overflow or underflow, which rounds with an unbounded exponent. The operands
    /// are finite and nonzero (the lane overflowed or underflowed).
    static func inexactUnbounded(_ lanes: SSELanes, _ a: UInt64, _ b: UInt64, daz: Bool) -> Bool {
        let precision = lanes.outputWidth == 8 ? 53 : 24
        let x = decode(a, width: lanes.inputWidth, daz: daz)
        let y = decode(b, width: lanes.inputWidth, daz: daz)
        switch lanes.kind {
        case .convert:
            return significantBits(UInt128(y.significand)) > precision
        case .multiply:
            return significantBits(UInt128(x.significand) * UInt128(y.significand)) > precision
        case .divide:
            // m_x / m_y terminates in binary only if m_y's odd part divides m_x.
            if y.significand == 0 { return false }
            let odd = y.significand >> UInt64(y.significand.trailingZeroBitCount)
            if x.significand % odd != 0 { return true }
            return significantBits(UInt128(x.significand / odd)) > precision
        case .add, .subtract:
            let yNegative = lanes.kind == .subtract ? !y.negative : y.negative
            if x.significand == 0 || y.significand == 0 { return false }
            var (big, small) = (x, (negative: yNegative, significand: y.significand, exponent: y.exponent))
            if big.exponent < small.exponent { swap(&big, &small) }
            let shift = big.exponent - small.exponent
            // Past 64 bits of distance the smaller operand lies wholly below the result's last bit.
            if shift > 64 { return true }
            let high = UInt128(big.significand) << UInt128(shift), low = UInt128(small.significand)
            let sum = big.negative == small.negative ? high + low : (high > low ? high - low : low - high)
            return significantBits(sum) > precision
        }
    }

    /// A nonzero denormal of the format: a result that is tiny and exact.
    @inline(__always)
    static func isDenormal(_ x: UInt64, width: Int) -> Bool {
        if width == 8 { return x & 0x7FF0_0000_0000_0000 == 0 && x & 0x000F_FFFF_FFFF_FFFF != 0 }
        return x & 0x7F80_0000 == 0 && x & 0x007F_FFFF != 0
    }
}
