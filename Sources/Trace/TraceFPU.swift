import X86Core

/// The x87/MMX/SSE state a trace follows (issue 16), field by field: the physical registers
/// R0–R7 (not ST(i): a push or pop changes TOP, not every register), FCW, FSW (TOP included),
/// the full tag word, FOP, FIP/FCS, FDP/FDS, XMM0–XMM7 and MXCSR. IGNNE# (a pin, not a register)
/// is not traced.
///
/// A trace records the FPU only where it changes, so a guest that does no floating point pays
/// nothing and its trace is the same as without FPU support: steps list the fields their
/// instruction changed (beside the integer registers), and a step that restates the whole state
/// restates the FPU only when it is not the power-on state.
public enum TraceFPUField: Int, CaseIterable, Sendable {
    case r0 = 0, r1, r2, r3, r4, r5, r6, r7
    case fcw, fsw, ftw, fop, fip, fcs, fdp, fds
    case xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7
    case mxcsr

    public static let count = 25

    /// The JSON and report name ("r0", "fsw", "xmm3"…).
    public var name: String { String(describing: self) }

    public static func named(_ text: String) -> TraceFPUField? {
        allCases.first { $0.name == text }
    }

    public var isStackRegister: Bool { rawValue <= TraceFPUField.r7.rawValue }
    public var isXMM: Bool { rawValue >= TraceFPUField.xmm0.rawValue && rawValue <= TraceFPUField.xmm7.rawValue }

    /// Bytes in the binary form: 10 for R0–R7 (significand, then sign/exponent), 16 for XMM (low
    /// quadword first), 2 or 4 for the others.
    public var byteSize: Int {
        switch self {
        case .r0, .r1, .r2, .r3, .r4, .r5, .r6, .r7: 10
        case .xmm0, .xmm1, .xmm2, .xmm3, .xmm4, .xmm5, .xmm6, .xmm7: 16
        case .fip, .fdp, .mxcsr: 4
        default: 2
        }
    }

    /// Hex digits in JSON: R0–R7 as sign/exponent then significand (20), XMM as bits 127…0 (32).
    public var digits: Int { byteSize * 2 }
}

/// One field's value: `high` holds R's sign/exponent or XMM's high quadword (0 for the others).
public struct TraceFPUValue: Equatable, Sendable {
    public var high: UInt64
    public var low: UInt64
    public init(high: UInt64 = 0, low: UInt64) {
        self.high = high
        self.low = low
    }
}

extension FPUState {
    /// The power-on state as a trace follows it (IGNNE# clear).
    public static let traceDefault = FPUState()

    /// This state as a trace records it (IGNNE# cleared: not traced).
    public var traced: FPUState {
        var s = self
        s.ignoreNumericError = false
        return s
    }

    public subscript(trace f: TraceFPUField) -> TraceFPUValue {
        get {
            switch f {
            case .r0, .r1, .r2, .r3, .r4, .r5, .r6, .r7:
                let r = registers[f.rawValue]
                return TraceFPUValue(high: UInt64(r.signExponent), low: r.significand)
            case .xmm0, .xmm1, .xmm2, .xmm3, .xmm4, .xmm5, .xmm6, .xmm7:
                let x = xmm[f.rawValue - TraceFPUField.xmm0.rawValue]
                return TraceFPUValue(high: x.high, low: x.low)
            case .fcw: return TraceFPUValue(low: UInt64(control))
            case .fsw: return TraceFPUValue(low: UInt64(status))
            case .ftw: return TraceFPUValue(low: UInt64(tags))
            case .fop: return TraceFPUValue(low: UInt64(lastOpcode))
            case .fip: return TraceFPUValue(low: UInt64(instructionPointer))
            case .fcs: return TraceFPUValue(low: UInt64(instructionSelector))
            case .fdp: return TraceFPUValue(low: UInt64(operandPointer))
            case .fds: return TraceFPUValue(low: UInt64(operandSelector))
            case .mxcsr: return TraceFPUValue(low: UInt64(mxcsr))
            }
        }
        set {
            switch f {
            case .r0, .r1, .r2, .r3, .r4, .r5, .r6, .r7:
                registers[f.rawValue] = X87Register(significand: newValue.low, signExponent: UInt16(truncatingIfNeeded: newValue.high))
            case .xmm0, .xmm1, .xmm2, .xmm3, .xmm4, .xmm5, .xmm6, .xmm7:
                xmm[f.rawValue - TraceFPUField.xmm0.rawValue] = XMMRegister(low: newValue.low, high: newValue.high)
            case .fcw: control = UInt16(truncatingIfNeeded: newValue.low)
            case .fsw: status = UInt16(truncatingIfNeeded: newValue.low)
            case .ftw: tags = UInt16(truncatingIfNeeded: newValue.low)
            case .fop: lastOpcode = UInt16(truncatingIfNeeded: newValue.low)
            case .fip: instructionPointer = UInt32(truncatingIfNeeded: newValue.low)
            case .fcs: instructionSelector = UInt16(truncatingIfNeeded: newValue.low)
            case .fdp: operandPointer = UInt32(truncatingIfNeeded: newValue.low)
            case .fds: operandSelector = UInt16(truncatingIfNeeded: newValue.low)
            case .mxcsr: mxcsr = UInt32(truncatingIfNeeded: newValue.low)
            }
        }
    }

    /// Bit i set when field i differs (`TraceFPUField` order).
    public func traceChanges(from old: FPUState) -> UInt32 {
        var mask: UInt32 = 0
        for f in TraceFPUField.allCases where self[trace: f] != old[trace: f] { mask |= 1 << UInt32(f.rawValue) }
        return mask
    }
}

/// An FPU state shared by the steps it holds for: a reader hands every step from one change to
/// the next the same box, so following the FPU costs a reference per step, and "did this step
/// change the FPU" is `fpuAfter !== fpu`.
public final class TraceFPU: Sendable {
    public let state: FPUState
    public init(_ state: FPUState) { self.state = state }
}

/// `value` as `digits` lowercase hex digits after "0x" (R: sign/exponent first; XMM: high first).
func fpuHex(_ v: TraceFPUValue, digits: Int) -> String {
    func pad(_ x: UInt64, _ n: Int) -> String {
        let s = String(x, radix: 16)
        return s.count >= n ? String(s.suffix(n)) : String(repeating: "0", count: n - s.count) + s
    }
    switch digits {
    case 20: return "0x" + pad(v.high, 4) + pad(v.low, 16)
    case 32: return "0x" + pad(v.high, 16) + pad(v.low, 16)
    default: return "0x" + pad(v.low, digits)
    }
}
