/// Where an operand comes from (SDM Vol. 2D Appendix A.2.1 "Codes for Addressing Method").
public enum OperandKind: UInt8, Sendable {
    case none
    /// E: ModRM.rm, a general register or memory.
    case rmGeneral
    /// M: ModRM.rm, memory only (register form is #UD).
    case memory
    /// R: ModRM.rm, a general register only.
    case rmRegister
    /// G: ModRM.reg, a general register.
    case regGeneral
    /// S: ModRM.reg, a segment register.
    case regSegment
    /// C: ModRM.reg, a control register.
    case regControl
    /// D: ModRM.reg, a debug register.
    case regDebug
    /// P: ModRM.reg, an MMX register.
    case regMMX
    /// Q: ModRM.rm, an MMX register or memory.
    case rmMMX
    /// N: ModRM.rm, an MMX register only.
    case rmRegisterMMX
    /// V: ModRM.reg, an XMM register.
    case regXMM
    /// W: ModRM.rm, an XMM register or memory.
    case rmXMM
    /// U: ModRM.rm, an XMM register only.
    case rmRegisterXMM
    /// ST(0).
    case st0
    /// ST(i), i = ModRM.rm.
    case stRM
    /// I: immediate, printed unsigned.
    case immediate
    /// sIb: a byte immediate sign-extended to the operand size, printed signed.
    case immediateSigned
    /// J: relative branch target.
    case relative
    /// Ap: far pointer selector:offset in the instruction.
    case farPointer
    /// O: moffs, an absolute offset in the instruction (no ModRM).
    case memoryOffset
    /// X: DS:[rSI], the string source (segment overridable).
    case stringSource
    /// Y: ES:[rDI], the string destination.
    case stringDestination
    /// A fixed general register (`AL`, `DX`, `eAX`); the register number is in `OperandSpec.register`.
    case fixedGeneral
    /// A fixed segment register (`ES` … `GS`).
    case fixedSegment
    /// Z: a general register from the opcode's low three bits.
    case opcodeRegister
    /// The constant 1 (shift by one).
    case one
}

/// Operand width (SDM Vol. 2D Appendix A.2.2 "Codes for Operand Type"), resolved per instruction
/// for `v` and `z`. For memory operands it also fixes the `… ptr` label Capstone prints.
public enum OperandWidth: UInt8, Sendable {
    /// No size: `lea eax, [eax]`, `lgdt [eax]`.
    case unsized
    case byte, word, dword, qword
    /// 80-bit x87 extended real (`xword ptr`).
    case xword
    /// 80-bit packed BCD (`tbyte ptr`).
    case tbyte
    /// 128-bit (`xmmword ptr`).
    case xmmword
    /// v: word or dword by operand size.
    case operandSize
    /// z: word or dword immediate by operand size (never 64-bit here).
    case immediateSize
    /// a: BOUND's pair (qword for 32-bit operands, dword for 16-bit).
    case boundPair
    /// A size-less `ptr` label (Capstone's LDS/LES/LFS/LGS/LSS text).
    case pointerLabel
}

/// One operand specifier of a table row.
public struct OperandSpec: Sendable, Equatable {
    public var kind: OperandKind
    public var width: OperandWidth
    /// Register number for fixed registers (general: 0 = eAX … 7 = eDI; segment: 0 = ES … 5 = GS).
    public var register: UInt8

    public init(_ kind: OperandKind, _ width: OperandWidth = .unsized, register: UInt8 = 0) {
        self.kind = kind
        self.width = width
        self.register = register
    }

    public static let none = OperandSpec(.none)

    /// True when the operand lives in ModRM.rm and requires mod != 3.
    var requiresMemory: Bool { kind == .memory }
    /// True when the operand lives in ModRM.rm and requires mod == 3.
    var requiresRegister: Bool {
        kind == .rmRegister || kind == .rmRegisterMMX || kind == .rmRegisterXMM || kind == .stRM
    }
    var usesModRM: Bool {
        switch kind {
        case .rmGeneral, .memory, .rmRegister, .regGeneral, .regSegment, .regControl, .regDebug,
             .regMMX, .rmMMX, .rmRegisterMMX, .regXMM, .rmXMM, .rmRegisterXMM, .stRM:
            return true
        default:
            return false
        }
    }

    /// Parses one SDM operand code as used in `OpcodeRow.operands`.
    static func parse(_ code: String) -> OperandSpec? {
        let generalRegisters = ["AL": (0, OperandWidth.byte), "CL": (1, .byte), "DX": (2, .word),
                                "AX": (0, .word), "eAX": (0, .operandSize), "eCX": (1, .operandSize),
                                "eDX": (2, .operandSize), "eBX": (3, .operandSize), "eSP": (4, .operandSize),
                                "eBP": (5, .operandSize), "eSI": (6, .operandSize), "eDI": (7, .operandSize),
                                "EAX": (0, .dword), "ECX": (1, .dword), "EDX": (2, .dword)]
        if let (number, width) = generalRegisters[code] {
            return OperandSpec(.fixedGeneral, width, register: UInt8(number))
        }
        if let segment = ["ES", "CS", "SS", "DS", "FS", "GS"].firstIndex(of: code) {
            return OperandSpec(.fixedSegment, .word, register: UInt8(segment))
        }
        let table: [String: OperandSpec] = [
            "Eb": .init(.rmGeneral, .byte), "Ew": .init(.rmGeneral, .word), "Ed": .init(.rmGeneral, .dword),
            "Ev": .init(.rmGeneral, .operandSize),
            "Gb": .init(.regGeneral, .byte), "Gw": .init(.regGeneral, .word), "Gd": .init(.regGeneral, .dword),
            "Gv": .init(.regGeneral, .operandSize),
            "Rd": .init(.rmRegister, .dword), "Rv": .init(.rmRegister, .operandSize), "Rw": .init(.rmRegister, .word),
            "Sw": .init(.regSegment, .word), "Cd": .init(.regControl, .dword), "Dd": .init(.regDebug, .dword),
            "M": .init(.memory, .unsized), "Mb": .init(.memory, .byte), "Mw": .init(.memory, .word),
            "Md": .init(.memory, .dword), "Mq": .init(.memory, .qword), "Mt": .init(.memory, .xword),
            "Mtb": .init(.memory, .tbyte), "Mdq": .init(.memory, .xmmword), "Mv": .init(.memory, .operandSize),
            "Ma": .init(.memory, .boundPair), "Mp": .init(.memory, .pointerLabel),
            "Ib": .init(.immediate, .byte), "Iw": .init(.immediate, .word), "Iz": .init(.immediate, .immediateSize),
            "sIb": .init(.immediateSigned, .byte), "sIw": .init(.immediateSigned, .word),
            "Jb": .init(.relative, .byte), "Jz": .init(.relative, .immediateSize),
            "Ap": .init(.farPointer, .immediateSize),
            "Ob": .init(.memoryOffset, .byte), "Ov": .init(.memoryOffset, .operandSize),
            "Xb": .init(.stringSource, .byte), "Xv": .init(.stringSource, .operandSize),
            "Yb": .init(.stringDestination, .byte), "Yv": .init(.stringDestination, .operandSize),
            "Zb": .init(.opcodeRegister, .byte), "Zv": .init(.opcodeRegister, .operandSize),
            "1": .init(.one),
            "ST": .init(.st0), "STi": .init(.stRM),
            // MMX: P = reg, Q = reg or memory, N = reg from rm.
            "Pq": .init(.regMMX, .qword), "Pd": .init(.regMMX, .dword),
            "Qq": .init(.rmMMX, .qword), "Qd": .init(.rmMMX, .dword), "Nq": .init(.rmRegisterMMX, .qword),
            // SSE: V = reg, W = reg or memory (the suffix fixes the memory width), U = reg from rm.
            "Vps": .init(.regXMM, .xmmword), "Vpd": .init(.regXMM, .xmmword), "Vdq": .init(.regXMM, .xmmword),
            "Vss": .init(.regXMM, .xmmword), "Vsd": .init(.regXMM, .xmmword), "Vq": .init(.regXMM, .xmmword),
            "Vd": .init(.regXMM, .xmmword),
            "Wps": .init(.rmXMM, .xmmword), "Wpd": .init(.rmXMM, .xmmword), "Wdq": .init(.rmXMM, .xmmword),
            "Wss": .init(.rmXMM, .dword), "Wsd": .init(.rmXMM, .qword), "Wq": .init(.rmXMM, .qword),
            "Wd": .init(.rmXMM, .dword),
            "Ups": .init(.rmRegisterXMM, .xmmword), "Upd": .init(.rmRegisterXMM, .xmmword),
            "Udq": .init(.rmRegisterXMM, .xmmword), "Uq": .init(.rmRegisterXMM, .xmmword),
        ]
        return table[code]
    }
}
