/// The result of decoding one instruction: a 24-byte plain value (no class, no heap, no
/// existential), so the interpreter can keep thousands in a decoded-instruction cache.
///
///     byte  0-1   row       index into `OpcodeTable.rows` (the opcode id)
///     byte  2     length    1…15
///     byte  3     prefixes  Prefixes bit set
///     byte  4     segment   override: SegmentOverride raw value (0 = none)
///     byte  5     modrm     ModRM byte (valid when `hasModRM`)
///     byte  6     sib       SIB byte (valid when `hasSIB`)
///     byte  7     form      Form bit set (operand/address size, ModRM/SIB present)
///     byte  8-11  displacement (sign-extended to 32 bits)
///     byte 12-15  immediate    (first immediate, zero-extended; sign-extension is the row's business)
///     byte 16-19  immediate2   (ENTER's level byte, a far pointer's selector)
///     byte 20     opcode       (last opcode byte)
///     byte 21     map          (0 = one-byte, 1 = 0F)
public struct DecodedInstruction: Sendable, Equatable {
    public var row: UInt16 = 0
    public var length: UInt8 = 0
    public var prefixes: Prefixes = []
    public var segment: SegmentOverride = .none
    public var modrm: UInt8 = 0
    public var sib: UInt8 = 0
    public var form: Form = []
    public var displacement: UInt32 = 0
    public var immediate: UInt32 = 0
    public var immediate2: UInt32 = 0
    /// The last opcode byte (register-in-opcode forms and condition codes read it).
    public var opcode: UInt8 = 0
    /// 0 = one-byte map, 1 = 0F map.
    public var map: UInt8 = 0

    public init() {}

    @inline(__always) public var operandSize32: Bool { form.contains(.operand32) }
    @inline(__always) public var addressSize32: Bool { form.contains(.address32) }
    @inline(__always) public var hasModRM: Bool { form.contains(.hasModRM) }
    @inline(__always) public var hasSIB: Bool { form.contains(.hasSIB) }
    /// ModRM.mod (bits 7:6).
    @inline(__always) public var mod: UInt8 { modrm >> 6 }
    /// ModRM.reg (bits 5:3): a register or an opcode extension.
    @inline(__always) public var reg: UInt8 { (modrm >> 3) & 7 }
    /// ModRM.rm (bits 2:0).
    @inline(__always) public var rm: UInt8 { modrm & 7 }
}

/// Legacy prefixes seen (SDM Vol. 2A §2.1.1). Segment overrides are kept in `SegmentOverride`.
public struct Prefixes: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let lock = Prefixes(rawValue: 1 << 0)
    /// F3: REP/REPE (or a mandatory SSE prefix).
    public static let rep = Prefixes(rawValue: 1 << 1)
    /// F2: REPNE (or a mandatory SSE prefix).
    public static let repne = Prefixes(rawValue: 1 << 2)
    /// 66 seen (it may have been consumed as a mandatory SSE prefix; see `Form.operand32`).
    public static let operandSizeOverride = Prefixes(rawValue: 1 << 3)
    /// 67 seen.
    public static let addressSizeOverride = Prefixes(rawValue: 1 << 4)
}

/// Every legacy prefix byte (SDM Vol. 2A §2.1.1): LOCK, REPNE, REP, 66, 67 and the six
/// segment overrides. The decoder classifies them through `OpcodeTable.prefixKinds`; tools and
/// tests that walk raw bytes use this list.
public let legacyPrefixBytes: [UInt8] = [0xF0, 0xF2, 0xF3, 0x66, 0x67, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65]

/// The segment override prefix in effect (the last one wins, as on Intel hardware).
public enum SegmentOverride: UInt8, Sendable {
    case none = 0, es, cs, ss, ds, fs, gs

    /// The segment register number (ES = 0 … GS = 5), or nil when there is no override.
    public var segmentNumber: UInt8? { self == .none ? nil : rawValue - 1 }
}

/// How the instruction was encoded.
public struct Form: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let operand32 = Form(rawValue: 1 << 0)
    public static let address32 = Form(rawValue: 1 << 1)
    public static let hasModRM = Form(rawValue: 1 << 2)
    public static let hasSIB = Form(rawValue: 1 << 3)
}

/// Why a byte string is not an instruction.
public enum DecodeStatus: UInt8, Sendable {
    case ok
    /// Raises #UD on an i686 with SSE2: reserved opcode, LOCK misuse, register form of a memory-only operand.
    case invalid
    /// Longer than 15 bytes: #GP(0) on hardware (SDM Vol. 2A §2.3.11).
    case tooLong
    /// The buffer ends before the instruction does.
    case truncated
}

/// Default operand and address size of the code segment (CS.D, SDM Vol. 3A §3.4.5).
public enum CodeMode: UInt8, Sendable {
    case bits16 = 16
    case bits32 = 32
}
