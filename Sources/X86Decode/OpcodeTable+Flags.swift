// The table's flag columns: `flags:` (read>written) and `undefined:` (what the SDM leaves
// undefined, including the count-dependent shift and rotate rules), compiled per row and
// resolved per execution. Differential checkers mask exactly these bits and nothing else.

/// EFLAGS bits as the table's flag columns spell them (lower-case SDM letters).
public enum FlagLetters {
    /// `o s z a p c d i t` → OF SF ZF AF PF CF DF IF TF.
    public static func mask(_ letters: some StringProtocol) -> UInt32 {
        var mask: UInt32 = 0
        for letter in letters {
            switch letter {
            case "o": mask |= 0x800
            case "s": mask |= 0x80
            case "z": mask |= 0x40
            case "a": mask |= 0x10
            case "p": mask |= 0x4
            case "c": mask |= 0x1
            case "d": mask |= 0x400
            case "i": mask |= 0x200
            case "t": mask |= 0x100
            default: preconditionFailure("unknown flag letter \(letter)")
            }
        }
        return mask
    }

    /// The six arithmetic flags OF SF ZF AF PF CF.
    public static let arithmetic: UInt32 = 0x8D5
}

/// The `undefined:` column: EFLAGS bits the SDM calls undefined after the instruction.
///
/// A string literal lists flags undefined on every execution that writes flags (`"szap"` for
/// MUL, SDM Vol. 2B "MUL—Flags Affected"). Shifts and rotates depend on the count operand and use
/// a `CountRule` instead; `OpcodeTable.flagEffect` resolves it for one execution.
public struct UndefinedFlags: Sendable, Equatable, ExpressibleByStringLiteral {
    /// Flags undefined whenever the instruction executes.
    public let always: UInt32
    public let rule: CountRule

    /// Count-dependent flag rules (the count is masked to five bits first; a masked count of 0
    /// changes no flags at all).
    public enum CountRule: UInt8, Sendable {
        case none
        /// SHL/SAL/SHR (SDM Vol. 2B "SAL/SAR/SHL/SHR"): AF undefined for a nonzero count, OF unless
        /// the count is 1, CF when the count is at least the operand width (8- and 16-bit forms).
        case shift
        /// SAR: as `shift`, but CF stays defined (the sign bit) for large counts.
        case arithmeticShift
        /// ROL/ROR/RCL/RCR (SDM Vol. 2B "RCL/RCR/ROL/ROR"): OF undefined unless the count is 1.
        case rotate
        /// SHLD/SHRD (SDM Vol. 2B "SHLD", "SHRD"): AF undefined for a nonzero count, OF unless the
        /// count is 1; a count above the operand width leaves every arithmetic flag (and the
        /// destination) undefined.
        case doubleShift
    }

    public init(stringLiteral letters: String) {
        always = FlagLetters.mask(letters)
        rule = .none
    }

    init(rule: CountRule) {
        always = 0
        self.rule = rule
    }

    public static let none: UndefinedFlags = ""
    public static let shift = UndefinedFlags(rule: .shift)
    public static let arithmeticShift = UndefinedFlags(rule: .arithmeticShift)
    public static let rotate = UndefinedFlags(rule: .rotate)
    public static let doubleShift = UndefinedFlags(rule: .doubleShift)
}

/// What one execution of an instruction does to EFLAGS.
public struct FlagEffect: Sendable, Equatable {
    /// Flags the instruction reads.
    public var read: UInt32
    /// Flags it sets to a defined value.
    public var written: UInt32
    /// Flags it changes to a value the SDM leaves undefined (model-specific on real hardware).
    public var undefined: UInt32

    public init(read: UInt32, written: UInt32, undefined: UInt32) {
        self.read = read
        self.written = written
        self.undefined = undefined
    }
}

/// The compiled flag columns of one row.
struct RowFlags {
    var read: UInt32 = 0
    var written: UInt32 = 0
    var undefined = UndefinedFlags.none

    init() {}

    init(_ row: OpcodeRow) {
        let parts = row.flags.split(separator: ">", omittingEmptySubsequences: false)
        if parts.count == 2 {
            read = FlagLetters.mask(parts[0])
            written = FlagLetters.mask(parts[1])
        } else {
            // No `>`: every listed flag is written (`clc` → "c").
            written = FlagLetters.mask(row.flags)
        }
        undefined = row.undefined
    }
}

extension OpcodeTable {
    /// The flag columns of a row as masks: `written` includes flags that are only sometimes
    /// defined; `undefined` is the row's rule (see `flagEffect` for one execution).
    public func flagColumns(row: Int) -> (read: UInt32, written: UInt32, undefined: UndefinedFlags) {
        let f = rowFlags[row]
        return (f.read, f.written, f.undefined)
    }

    /// The effect of one execution of `row` with an operand of `operandBits` and, for the
    /// count-dependent rows, a count operand of `count` (before the processor masks it to 5 bits).
    public func flagEffect(row: Int, operandBits: Int, count: UInt32) -> FlagEffect {
        let f = rowFlags[row]
        let all = f.written | f.undefined.always
        var undefined = f.undefined.always
        let masked = count & 0x1F
        let o: UInt32 = 0x800, a: UInt32 = 0x10, c: UInt32 = 0x1
        switch f.undefined.rule {
        case .none:
            break
        case .shift, .arithmeticShift, .rotate, .doubleShift:
            if masked == 0 { return FlagEffect(read: f.read, written: 0, undefined: 0) }
            if masked != 1 { undefined |= o }
            switch f.undefined.rule {
            case .shift:
                undefined |= a
                if masked >= UInt32(operandBits) { undefined |= c }
            case .arithmeticShift:
                undefined |= a
            case .doubleShift:
                undefined |= a
                if masked > UInt32(operandBits) { undefined |= FlagLetters.arithmetic }
            default:
                break
            }
        }
        return FlagEffect(read: f.read, written: all & ~undefined, undefined: undefined & all)
    }

    /// The effect of one execution of a decoded instruction; `cl` is CL's value, read by the
    /// count-by-CL forms of the shifts and rotates.
    public func flagEffect(of instruction: DecodedInstruction, cl: UInt8) -> FlagEffect {
        let row = Int(instruction.row)
        let r = compiled[row]
        let bits: Int
        switch r.operand0.width {
        case .byte: bits = 8
        case .word: bits = 16
        case .operandSize: bits = instruction.operandSize32 ? 32 : 16
        default: bits = 32
        }
        var count: UInt32 = 0
        if rowFlags[row].undefined.rule != .none {
            let last = r.operandCount == 3 ? r.operand2 : r.operand1
            switch last.kind {
            case .one: count = 1
            case .immediate: count = instruction.immediate
            case .fixedGeneral: count = UInt32(cl)
            default: count = 0
            }
        }
        return flagEffect(row: row, operandBits: bits, count: count)
    }
}
