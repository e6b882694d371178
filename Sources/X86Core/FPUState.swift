/// One x87 data register as the FPU holds it: a 64-bit significand (explicit integer bit) and
/// a sign bit over a 15-bit biased exponent, the layout of an 80-bit real in memory, FSAVE and
/// FXSAVE (SDM Vol. 1 §8.1.2). Any bit pattern is state (unsupported encodings included).
public struct X87Register: Sendable, Equatable {
    public var significand: UInt64 = 0
    public var signExponent: UInt16 = 0
    public init(significand: UInt64 = 0, signExponent: UInt16 = 0) {
        self.significand = significand
        self.signExponent = signExponent
    }
}

/// One 128-bit XMM register (low and high quadwords).
public struct XMMRegister: Sendable, Equatable {
    public var low: UInt64 = 0
    public var high: UInt64 = 0
    public init(low: UInt64 = 0, high: UInt64 = 0) {
        self.low = low
        self.high = high
    }
}

/// The x87 FPU, MMX and SSE state (issue 16, docs/x87.md): architectural, saved in snapshots,
/// compared by the engine lockstep. Nothing executes x87 or SSE instructions yet (they stop the
/// run as "not implemented"), so today this holds the power-on state (SDM Vol. 3A §9.1.1,
/// Table 9-1): FCW 0x0040, FSW 0, all tags 01 ("zero") in the full tag word 0x5555, registers
/// zero, MXCSR 0x1F80.
public struct FPUState: Sendable, Equatable {
    /// R0–R7, physical order (ST(i) is R((TOP + i) mod 8)).
    public var registers: InlineArray<8, X87Register> = .init(repeating: X87Register())
    /// FCW: exception masks, precision and rounding control.
    public var control: UInt16 = 0x0040
    /// FSW: exception flags, SF, ES, C0–C3, TOP (bits 13:11), B.
    public var status: UInt16 = 0
    /// The full tag word: 2 bits per physical register (00 valid, 01 zero, 10 special, 11 empty).
    public var tags: UInt16 = 0x5555
    /// The last non-control instruction's opcode (11 bits), and its and its operand's addresses.
    public var lastOpcode: UInt16 = 0
    public var instructionPointer: UInt32 = 0
    public var instructionSelector: UInt16 = 0
    public var operandPointer: UInt32 = 0
    public var operandSelector: UInt16 = 0
    /// XMM0–XMM7.
    public var xmm: InlineArray<8, XMMRegister> = .init(repeating: XMMRegister())
    /// MXCSR: SSE flags, masks, rounding, DAZ/FTZ. Bits 31:16 are reserved (#GP if set).
    public var mxcsr: UInt32 = 0x1F80
    /// IGNNE#: the PC's port 0xF0 write lets waiting instructions run past a pending x87 error
    /// while CR0.NE = 0 (cleared when the error is: FNCLEX, FNINIT, FLDENV…).
    public var ignoreNumericError: Bool = false

    public init() {}

    public static func == (a: FPUState, b: FPUState) -> Bool {
        for i in 0..<8 where a.registers[i] != b.registers[i] || a.xmm[i] != b.xmm[i] { return false }
        return a.control == b.control && a.status == b.status && a.tags == b.tags && a.lastOpcode == b.lastOpcode
            && a.instructionPointer == b.instructionPointer && a.instructionSelector == b.instructionSelector
            && a.operandPointer == b.operandPointer && a.operandSelector == b.operandSelector && a.mxcsr == b.mxcsr
            && a.ignoreNumericError == b.ignoreNumericError
    }
}

/// How many x87, MMX and SSE/SSE2 instructions ran (`--stats`): counted where they execute,
/// off the hot loop, the same in both engines; not architectural state (not in snapshots).
public struct FPUCounters: Sendable, Equatable {
    public var x87: UInt64 = 0
    public var mmx: UInt64 = 0
    public var sse: UInt64 = 0
    public init() {}
}
