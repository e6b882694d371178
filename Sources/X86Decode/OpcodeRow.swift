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
    /// Popek–Goldberg class (see `PopekGoldberg`; the entries are in OpcodeTable+PopekGoldberg.swift).
    /// nil: the row is innocuous.
    public let popekGoldberg: PopekGoldberg?

    public init(_ opcode: String, _ mnemonic: String, _ operands: String = "",
                _ attributes: Attributes = [], flags: String = "", undefined: UndefinedFlags = .none,
                _ popekGoldberg: PopekGoldberg? = nil) {
        self.opcode = opcode
        self.mnemonic = mnemonic
        self.operands = operands
        self.attributes = attributes
        self.flags = flags
        self.undefined = undefined
        self.popekGoldberg = popekGoldberg
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

/// The Popek–Goldberg column: how an opcode row fares under trap-and-emulate virtualization
/// without hardware support (Popek & Goldberg 1974; Robin & Irvine 2000, "Analysis of the Intel
/// Pentium's Ability to Support a Secure Virtual Machine Monitor").
///
/// The setting is the classic one: the VMM owns ring 0 and the real GDT, IDT, TR, CR0–CR4 and
/// EFLAGS.IOPL/IF; the guest kernel runs at ring 1 (ring compression), its user code at ring 3,
/// IOPL is 0 and CR4.TSD is set. An instruction is *sensitive* if it changes that configuration
/// (control-sensitive) or if its result depends on it (behaviour-sensitive: on the mode, CPL or
/// IOPL, or on where the real tables and registers are). It is *privileged* if it traps at
/// CPL > 0 and not at CPL 0. The theorem needs every sensitive instruction to be privileged; a
/// sensitive instruction that runs at CPL > 0 without trapping is a *hole*.
///
/// One value per instruction family (the rows of a family share it); a row with none is
/// innocuous. `Audit.Catalog` groups the rows by family for `x86v audit --table`, and
/// Tests/AuditTests checks every claim against the interpreter.
public struct PopekGoldberg: Sendable, Equatable {
    /// Popek & Goldberg's classes. Privileged wins over the two sensitive classes (a privileged
    /// instruction is sensitive too: `sensitivity` says how); control wins over behaviour.
    public enum Class: String, Sendable, CaseIterable {
        /// Not sensitive: runs the same at every CPL and reveals nothing of the VMM.
        case innocuous
        /// Traps at CPL > 0 (under `condition`), so the VMM sees every execution.
        case privileged
        /// Changes the configuration (CPL, IF, IOPL, segment state, descriptor tables) without trapping.
        case controlSensitive = "control-sensitive"
        /// Its result depends on the mode (CPL, IOPL) or the location (the real tables and registers).
        case behaviourSensitive = "behaviour-sensitive"
    }

    /// What makes the instruction sensitive.
    public struct Sensitivity: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Changes the processor's configuration (CPL, IF/IOPL, segment registers, system registers).
        public static let control = Sensitivity(rawValue: 1 << 0)
        /// Mode-sensitive: the result depends on CPL or IOPL (SDM Vol. 3A §5.5).
        public static let mode = Sensitivity(rawValue: 1 << 1)
        /// Location-sensitive: the result shows the real machine (the VMM's GDTR/IDTR/LDTR/TR, CR0,
        /// EFLAGS.IF/IOPL, the host's CPUID and clock), not the guest's virtual one.
        public static let location = Sensitivity(rawValue: 1 << 2)

        /// `control, mode, location` order, for printing.
        public var names: [String] {
            [(Sensitivity.control, "control"), (.mode, "mode"), (.location, "location")]
                .filter { contains($0.0) }.map(\.1)
        }
    }

    /// The exception a privileged row raises at CPL > 0 (under `condition`).
    public enum Trap: String, Sendable {
        /// Runs at CPL > 0.
        case none = "-"
        /// #GP(0) (SDM Vol. 3A §5.9).
        case gp = "#GP(0)"
        /// #UD.
        case ud = "#UD"
    }

    /// The family the rows share, as the SDM names it (`SGDT`, `MOV Sreg, r/m`, `CALL far`).
    public let family: String
    public let `class`: Class
    public let sensitivity: Sensitivity
    /// Sensitive and not privileged: it runs at CPL > 0 and the guest sees the difference.
    public let hole: Bool
    public let trap: Trap
    /// When the classification holds (privileged: when it traps; hole: when it is one); nil = always.
    public let condition: String?
    /// Why, in a few words.
    public let reason: String
    /// Where the SDM says so (instruction pages in Vol. 2, protection rules in Vol. 3A).
    public let sdm: String
    /// Robin & Irvine's list of sensitive unprivileged instructions names this mnemonic.
    public let robinIrvine: Bool

    public init(_ family: String, _ `class`: Class, _ sensitivity: Sensitivity, hole: Bool = false,
                trap: Trap = .none, condition: String? = nil, reason: String, sdm: String,
                robinIrvine: Bool = false) {
        self.family = family
        self.class = `class`
        self.sensitivity = sensitivity
        self.hole = hole
        self.trap = trap
        self.condition = condition
        self.reason = reason
        self.sdm = sdm
        self.robinIrvine = robinIrvine
    }
}
