/// One row of the opcode table: one opcode form, written the way SDM Vol. 2 and its
/// Appendix A write it. The decoder, the disassembler and (later) the audit catalog are all
/// built from these rows, so a mnemonic is typed exactly once.
///
/// `opcode` grammar (space separated):
///
///     [66|F2|F3|NP] [0F] XX[+r] [/0../7 | /r | YY | YY+i]
///
/// - a leading `66`/`F2`/`F3` before `0F` is a mandatory prefix (SSE); `NP` means "none of them".
/// - `+r`: the low three opcode bits name a register (`50+r push Zv`).
/// - `/n`: ModRM.reg is an opcode extension; `/r`: a ModRM byte is present.
/// - `YY` after an x87 escape byte: that exact ModRM byte (`D9 E0 fchs`); `YY+i`: eight
///   consecutive ModRM bytes whose rm field is ST(i) (`D8 C0+i fadd`).
///
/// `operands` are SDM Appendix A codes (`Eb, Gb`, `Gv, Ev, Iz`, `Vps, Wps`), listed in
/// `OperandSpec.parse`. `mnemonic` may carry `a|b` variants chosen by operand size (16|32),
/// or by address size when the row has `.mnemonicByAddressSize`.
public struct OpcodeRow: Sendable {
    public let opcode: String
    public let mnemonic: String
    public let operands: String
    public let attributes: Attributes
    /// EFLAGS read and written, as `read>written` in lower-case SDM letters (`c>oszapc` for ADC).
    public let flags: String
    /// EFLAGS the SDM leaves undefined ("Flags Affected"): letters (`szap` for MUL), or a
    /// count-dependent rule for shifts and rotates. See `UndefinedFlags`, `OpcodeTable.flagEffect`.
    public let undefined: UndefinedFlags
    /// Popek–Goldberg class (filled by the audit issue; the classic holes are marked now).
    public let sensitivity: Sensitivity

    public init(_ opcode: String, _ mnemonic: String, _ operands: String = "",
                _ attributes: Attributes = [], flags: String = "", undefined: UndefinedFlags = .none,
                _ sensitivity: Sensitivity = .none) {
        self.opcode = opcode
        self.mnemonic = mnemonic
        self.operands = operands
        self.attributes = attributes
        self.flags = flags
        self.undefined = undefined
        self.sensitivity = sensitivity
    }
}

/// Per-row properties. These are the table's extra columns: the interpreter, the VMM's exit
/// policy and the audit read them instead of keeping their own lists.
public struct Attributes: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// LOCK is accepted (with a memory destination); otherwise LOCK raises #UD (SDM Vol. 2A §3.2 LOCK).
    public static let lockable = Attributes(rawValue: 1 << 0)
    /// #GP(0) unless CPL = 0 (SDM Vol. 3A §5.9).
    public static let privileged = Attributes(rawValue: 1 << 1)
    /// Port I/O: checked against IOPL and the TSS I/O bitmap (SDM Vol. 1 §19.5).
    public static let io = Attributes(rawValue: 1 << 2)
    /// Changes EIP other than by falling through.
    public static let controlFlow = Attributes(rawValue: 1 << 3)
    /// A string instruction: REP/REPNE are meaningful and printed.
    public static let string = Attributes(rawValue: 1 << 4)
    /// A string instruction whose F3 prefix means REPE (CMPS, SCAS).
    public static let repeConditional = Attributes(rawValue: 1 << 5)
    /// `a|b` mnemonic variants follow the address size (JCXZ/JECXZ) instead of the operand size.
    public static let mnemonicByAddressSize = Attributes(rawValue: 1 << 6)
    /// The immediate is printed unsigned even when sign-extended (Capstone's AND/OR/XOR rule).
    public static let unsignedImmediate = Attributes(rawValue: 1 << 7)
    /// x87 instruction (checked against CR0.EM/TS before execution).
    public static let x87 = Attributes(rawValue: 1 << 8)
    /// MMX instruction (#UD if CR0.EM, #NM if CR0.TS).
    public static let mmx = Attributes(rawValue: 1 << 9)
    /// SSE/SSE2 instruction (#UD unless CR4.OSFXSR, #NM if CR0.TS).
    public static let sse = Attributes(rawValue: 1 << 10)
    /// IOPL-sensitive at CPL > IOPL (CLI, STI, and with VME the flags instructions).
    public static let iopl = Attributes(rawValue: 1 << 11)
    /// ModRM.mod is ignored and rm always names a register (MOV to/from CR/DR, SDM Vol. 2B MOV).
    public static let modIgnored = Attributes(rawValue: 1 << 12)
    /// AAM/AAD: Capstone omits the immediate when it is the default base 10.
    public static let omitTen = Attributes(rawValue: 1 << 13)
    /// CMPPS/CMPPD/CMPSS/CMPSD: an imm8 predicate below 8 is written into the mnemonic
    /// (`cmpltps xmm0, xmm1`) and not printed as an operand (Capstone and the SDM's pseudo-ops).
    public static let comparePredicate = Attributes(rawValue: 1 << 14)
}

/// Popek–Goldberg classification of an instruction when the guest kernel runs deprivileged
/// (Robin & Irvine 2000, "Analysis of the Intel Pentium's Ability to Support a Secure VMM").
public enum Sensitivity: UInt8, Sendable {
    case none
    /// Privileged: traps at CPL > 0, so trap-and-emulate works.
    case privileged
    /// Sensitive but unprivileged: reads state that reveals the deprivileging (SGDT, SMSW, PUSHF…).
    case leaksState
    /// Sensitive but unprivileged: behaves differently instead of trapping (POPF dropping IF…).
    case behavesDifferently
    /// Checks or transfers through descriptors whose DPL/RPL reveal the real CPL (LAR, far CALL…).
    case protectionCheck
}
