import X86Decode

/// The handler of a predecoded instruction, chosen once when its block is built, so the common
/// shapes skip `execute`'s opcode switch, ModRM-form and operand-size tests. Every handler calls
/// the same semantic functions as `execute` (one implementation of each instruction); `generic`
/// is `execute` itself.
enum BlockHandler: UInt8 {
    case generic = 0
    /// 01/03, 09/0B … 39/3B with two 32-bit registers.
    case aluRR32
    /// 81/83 /op with a 32-bit register.
    case aluRI32
    /// 03/0B … 3B: a 32-bit register with a memory operand.
    case aluGvM32
    /// 89/8B between 32-bit registers.
    case movRR32
    /// B8+r id.
    case movRI32
    /// 8B with a memory source, 89 with a memory destination, C7 /0 with a memory destination.
    case loadRM32, storeMR32, storeMI32
    /// 8D with a 32-bit destination.
    case lea32
    /// 40+r, 48+r, 50+r, 58+r with 32-bit operands.
    case inc32, dec32, push32, pop32
    /// 85 with two 32-bit registers.
    case testRR32
    /// C1 /4, /5, /7 (SHL, SHR, SAR) on a 32-bit register.
    case shiftRI32
    /// C1 /0, /1 (ROL, ROR) on a 32-bit register.
    case rotateRI32
    /// 05, 0D … 3D: EAX with an immediate; A9: TEST EAX, imm32.
    case aluAI32, testAI32
    /// 69/6B IMUL r32, r32, imm.
    case imulRRI32
    /// 70–7F, 0F 80–8F.
    case jcc
    /// JZ/JNZ (74, 75, 0F 84, 0F 85): ZF read straight from the lazy flags.
    case jzz
    /// E9, EB.
    case jmpRel
    /// E8 with a 32-bit operand size.
    case callRel32
    /// C3 with a 32-bit operand size.
    case ret32
    /// 0F B6, B7, BE, BF (MOVZX, MOVSX r32, r/m8 or r/m16), out of line.
    case movx
    /// 88/8A between 8-bit registers; 8A, 88 with memory (8-bit load, store); 66 8B, 66 89 with
    /// memory (16-bit).
    case movRR8, loadRM8, storeMR8, loadRM16, storeMR16
    /// The other ALU forms of 00–3D (8- and 16-bit, memory destinations, AL/AX immediates) and
    /// 80–83 with memory or 8/16-bit registers: `aluForm` / `aluEvI` out of line.
    case aluForm, aluEvI
    /// 84/85 TEST with memory or 8-bit registers; F6/F7 (TEST, NOT, NEG, MUL, IMUL, DIV, IDIV);
    /// 0F AF IMUL r, r/m; 0F 40–4F CMOVcc; 0F 90–9F SETcc; C0/C1/D0–D3 shifts and rotates not
    /// handled above: each its `execute` case, out of line, without the opcode switch.
    case testE, group3, imulGvEv, cmov, setcc, shift
    /// D8–DF (`x87`) and the MMX/SSE/SSE2 rows of the 0F map (`simdOrPrefetch`), out of line.
    case x87, simd
    /// 8-bit ALU on registers and immediates only (00–3D forms 0 and 2 with two registers, form
    /// 4 with AL; 80/82 and 84 with a register): no address, no fault, out of line.
    case alu8
    /// 90.
    case nop

    /// The handler for `d`.
    static func choose(_ d: DecodedInstruction) -> BlockHandler {
        let opc = d.opcode
        let o32 = d.operandSize32
        let register = d.modrm >= 0xC0
        let memory32 = !register && d.addressSize32
        if d.map == 1 {
            switch opc {
            case 0x84, 0x85: return .jzz
            case 0x80...0x8F: return .jcc
            case 0xB6, 0xB7, 0xBE, 0xBF: return o32 && (register || memory32) ? .movx : .generic
            case 0xAF: return .imulGvEv
            case 0x40...0x4F: return .cmov
            case 0x90...0x9F: return .setcc
            case 0x10...0x17, 0x28...0x2F, 0x50...0x7F, 0xAE, 0xC2...0xC6, 0xD0...0xFE:
                return d.prefixes.contains(.lock) ? .generic : .simd
            default: return .generic
            }
        }
        // The one-byte map. LOCK-prefixed forms go to `execute`, which knows the rules.
        if d.prefixes.contains(.lock) { return .generic }
        if opc >= 0xD8 && opc <= 0xDF { return .x87 }
        switch opc {
        case 0x00...0x3F where opc & 7 == 5 && o32: return .aluAI32
        case 0xA9 where o32: return .testAI32
        case 0x69, 0x6B: return o32 && register ? .imulRRI32 : .generic
        case 0xC1 where o32 && register && d.reg < 2: return .rotateRI32
        case 0x00...0x3F where opc & 7 == 1 || opc & 7 == 3:
            if o32 && register { return .aluRR32 }
            if o32 && opc & 7 == 3 && memory32 { return .aluGvM32 }
            return .aluForm
        case 0x00...0x3F where (opc & 7 == 0 || opc & 7 == 2) && register: return .alu8
        case 0x00...0x3F where opc & 7 == 4: return .alu8
        case 0x00...0x3F where opc & 7 <= 5: return .aluForm
        case 0x80, 0x82: return register ? .alu8 : .aluEvI
        case 0x84: return register ? .alu8 : .testE
        case 0x88: return register ? .movRR8 : memory32 ? .storeMR8 : .generic
        case 0x8A: return register ? .movRR8 : memory32 ? .loadRM8 : .generic
        case 0x89 where !o32 && memory32: return .storeMR16
        case 0x8B where !o32 && memory32: return .loadRM16
        case 0xF6, 0xF7: return .group3
        case 0xC0, 0xD0...0xD3: return .shift
        case 0x40...0x47 where o32: return .inc32
        case 0x48...0x4F where o32: return .dec32
        case 0x50...0x57 where o32: return .push32
        case 0x58...0x5F where o32: return .pop32
        case 0x74, 0x75: return .jzz
        case 0x70...0x7F: return .jcc
        case 0x81, 0x83: return o32 && register ? .aluRI32 : .aluEvI
        case 0x85: return o32 && register ? .testRR32 : .testE
        case 0x89: return !o32 ? .generic : register ? .movRR32 : memory32 ? .storeMR32 : .generic
        case 0x8B: return !o32 ? .generic : register ? .movRR32 : memory32 ? .loadRM32 : .generic
        case 0x8D: return o32 && memory32 ? .lea32 : .generic
        case 0x90 where !d.prefixes.contains(.rep): return .nop
        case 0xB8...0xBF where o32: return .movRI32
        case 0xC1 where o32 && register && d.reg >= 4 && d.reg != 6: return .shiftRI32
        case 0xC1: return .shift
        case 0xC3 where o32: return .ret32
        case 0xC7 where o32 && memory32: return .storeMI32
        case 0xE8 where o32: return .callRel32
        case 0xE9, 0xEB: return .jmpRel
        default: return .generic
        }
    }

    /// For the register-register handlers: destination | source << 3 (01/09/…/89: E ← G;
    /// 03/0B/…/8B: G ← E).
    static func registers(_ d: DecodedInstruction) -> UInt8 {
        let e = d.modrm & 7, g = d.reg
        return d.opcode & 2 == 0 ? e | g << 3 : g | e << 3
    }

    /// Whether the instruction after `d` may run in the same block: false after anything that
    /// can transfer control (EIP not simply past it), change CS, CPL, the code mode, paging or the
    /// interrupt flag or shadow, or exit to the owner by design (I/O, HLT). An allow-list: what is
    /// not known to be straight-line ends its block.
    static func continuesBlock(_ d: DecodedInstruction) -> Bool {
        let opc = d.opcode
        if d.map == 1 {
            switch opc {
            case 0x18...0x1F, 0x40...0x4F, 0x90...0x9F, 0xA0, 0xA1, 0xA3...0xA5, 0xA8, 0xA9,
                 0xAB...0xAD, 0xAF, 0xB0, 0xB1, 0xB3, 0xB6, 0xB7, 0xBA...0xBF, 0xC0, 0xC1, 0xC7,
                 0xC8...0xCF:
                return true
            case 0x10...0x17, 0x28...0x2F, 0x50...0x7F, 0xAE, 0xC2...0xC6, 0xD0...0xFE:
                // MMX, SSE, SSE2, the fences, LDMXCSR/STMXCSR, FXSAVE/FXRSTOR: straight-line.
                return true
            default:
                return false
            }
        }
        switch opc {
        case 0x00...0x05, 0x08...0x0D, 0x10...0x15, 0x18...0x1D, 0x20...0x25, 0x28...0x2D,
             0x30...0x35, 0x38...0x3D:
            return true
        case 0x06, 0x07, 0x0E, 0x16, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F:
            return true
        case 0x40...0x63, 0x68...0x6B:
            return true
        case 0x80...0x8D, 0x8F...0x99, 0x9B, 0x9C, 0x9E, 0x9F, 0xA0...0xA3, 0xA8...0xA9,
             0xB0...0xC1, 0xC4...0xC9, 0xD0...0xD5, 0xD7, 0xF5...0xF9, 0xFC...0xFE:
            return true
        case 0xD8...0xDF:
            // x87: straight-line; a fault, #MF or the FERR# freeze stops the block exactly.
            return true
        case 0x8E:
            return d.reg != SegmentRegister.ss.rawValue.asUInt8 && d.reg != 1
        case 0xA4...0xA7, 0xAA...0xAF:
            return !d.prefixes.contains(.rep) && !d.prefixes.contains(.repne)
        case 0xFF:
            return d.reg == 0 || d.reg == 1 || d.reg == 6
        default:
            return false
        }
    }
}

extension Int {
    @inline(__always) var asUInt8: UInt8 { UInt8(truncatingIfNeeded: self) }
}
