import X86Decode

/// What an instruction reads, as far as the diff needs to know: general registers, memory
/// (32-bit flat addressing: base + index·scale + displacement; segment bases are not in a trace),
/// and EFLAGS. An over-approximation is safe (it only lets a masked value's influence spread a
/// little further); a missed input would report a masked difference as a divergence.
struct InstructionInputs {
    /// Bit n: GPR n (EAX = 0 … EDI = 7).
    var registers: UInt8 = 0
    var memory: [(address: UInt32, size: UInt32)] = []
    var flags = false
    /// A conditional branch, LOOP/JECXZ, or CMOVcc/SETcc: flags or ECX decide what happens next.
    var conditional = false

    init(_ d: DecodedInstruction, _ r: TraceRegisters) {
        let op = d.opcode
        let gpr = { (i: Int) -> UInt32 in r.values[i] }
        let size: UInt32 = d.operandSize32 ? 4 : 2
        // ModRM operands. The reg field is an opcode extension in the group opcodes.
        if d.hasModRM {
            let group = d.map == 0 && [0x80, 0x81, 0x82, 0x83, 0x8F, 0xC0, 0xC1, 0xC6, 0xC7, 0xD0, 0xD1, 0xD2, 0xD3,
                                       0xF6, 0xF7, 0xFE, 0xFF].contains(op)
                || d.map == 1 && [0x00, 0x01, 0xBA, 0xC7, 0x18, 0x1F].contains(op)
            if !group { registers |= 1 << d.reg }
            if d.mod == 3 {
                registers |= 1 << d.rm
            } else if d.addressSize32 {
                var ea = d.displacement
                if d.hasSIB {
                    let base = d.sib & 7, index = (d.sib >> 3) & 7, scale = d.sib >> 6
                    if !(base == 5 && d.mod == 0) { ea &+= gpr(Int(base)); registers |= 1 << base }
                    if index != 4 { ea &+= gpr(Int(index)) << UInt32(scale); registers |= 1 << index }
                } else if !(d.rm == 5 && d.mod == 0) {
                    ea &+= gpr(Int(d.rm))
                    registers |= 1 << d.rm
                }
                // LEA computes an address and reads nothing there.
                if !(d.map == 0 && op == 0x8D) { memory.append((ea, size)) }
            }
        }
        let esp = gpr(4), esi = gpr(6), edi = gpr(7)
        if d.map == 0 {
            switch op {
            case 0x00...0x3F where op & 7 == 4 || op & 7 == 5: registers |= 1  // AL/EAX, imm
            case 0x10...0x1D: flags = true  // ADC, SBB
            case 0x40...0x57: registers |= 1 << (op & 7)  // INC, DEC, PUSH r
            case 0x58...0x5F, 0x07, 0x17, 0x1F, 0x8F: memory.append((esp, size))  // POP
            case 0x60: registers = 0xFF
            case 0x61: memory.append((esp, 32))
            case 0x70...0x7F: flags = true; conditional = true
            case 0x91...0x97: registers |= 1 | 1 << (op & 7)
            case 0x98, 0x99, 0xA8, 0xA9: registers |= 1
            case 0xA0, 0xA1: memory.append((d.immediate, 4))  // MOV AL/EAX, moffs
            case 0xA2, 0xA3: registers |= 1
            case 0x9C, 0x9F: flags = true
            case 0x9D: memory.append((esp, size))
            case 0xA4...0xA7, 0xAC, 0xAD:  // MOVS, CMPS, LODS read [ESI]; CMPS [EDI] too
                registers |= 1 << 6 | 1 << 7 | 1 << 1
                memory.append((esi, 4))
                if op == 0xA6 || op == 0xA7 { memory.append((edi, 4)) }
            case 0xAA, 0xAB: registers |= 1 | 1 << 7 | 1 << 1
            case 0xAE, 0xAF: registers |= 1 | 1 << 7 | 1 << 1; memory.append((edi, 4))
            case 0x6C...0x6F: registers |= 1 << 2 | 1 << 6 | 1 << 7 | 1 << 1; if op >= 0x6E { memory.append((esi, 4)) }
            case 0xC2, 0xC3, 0xCA, 0xCB: memory.append((esp, 8))
            case 0xCF: memory.append((esp, 12))
            case 0xC9: registers |= 1 << 5; memory.append((gpr(5), size))
            case 0xD2, 0xD3: registers |= 1 << 1
            case 0xD7: registers |= 1 | 1 << 3; memory.append((gpr(3) &+ (gpr(0) & 0xFF), 1))
            case 0xE0...0xE3: registers |= 1 << 1; conditional = true; if op < 0xE2 { flags = true }
            case 0xE6, 0xE7: registers |= 1
            case 0xEC, 0xED: registers |= 1 << 2
            case 0xEE, 0xEF: registers |= 1 | 1 << 2
            case 0xF5: flags = true
            case 0xF6, 0xF7: registers |= 1 | 1 << 2  // MUL/DIV use EAX/EDX
            case 0xD0, 0xD1, 0xC0, 0xC1: if d.reg == 2 || d.reg == 3 { flags = true }  // RCL, RCR
            case 0x80...0x83: if d.reg == 2 || d.reg == 3 { flags = true }
            case 0xFF: if d.mod != 3 || d.reg == 6 { registers |= 1 << 4 }
            default: break
            }
        } else {
            switch op {
            case 0x40...0x4F: flags = true; conditional = true  // CMOVcc
            case 0x80...0x8F: flags = true; conditional = true  // Jcc
            case 0x90...0x9F: flags = true; conditional = true  // SETcc
            case 0xA2: registers |= 1 | 1 << 1  // CPUID
            case 0x30: registers |= 1 | 1 << 1 | 1 << 2  // WRMSR
            case 0x32: registers |= 1 << 1  // RDMSR
            case 0xA5, 0xAD: registers |= 1 << 1  // SHLD/SHRD by CL
            case 0xA1, 0xA9: memory.append((esp, size))  // POP FS/GS
            case 0xB0, 0xB1: registers |= 1  // CMPXCHG
            default: break
            }
        }
    }
}

/// Where an instruction stores, for steps that do not list their writes (QEMU's): an
/// over-approximation from the opcode and the registers before it.
enum InstructionOutputs {
    static func memory(_ d: DecodedInstruction, _ r: TraceRegisters) -> [(UInt32, UInt32)] {
        var out: [(UInt32, UInt32)] = []
        let esp = r[.esp], edi = r[.edi]
        let op = d.opcode
        var modrmWrites = false
        if d.map == 0 {
            switch op {
            case 0x00...0x3F where op & 7 <= 1 && op & 0xF8 != 0x38: modrmWrites = true
            case 0x80...0x83: modrmWrites = d.reg != 7
            case 0x86...0x89, 0x8C, 0x8F, 0xC0, 0xC1, 0xC6, 0xC7, 0xD0...0xD3: modrmWrites = true
            case 0xF6, 0xF7: modrmWrites = d.reg == 2 || d.reg == 3
            case 0xFE: modrmWrites = d.reg <= 1
            case 0xFF: modrmWrites = d.reg <= 1; if d.reg == 2 || d.reg == 3 || d.reg == 6 { out.append((esp &- 8, 8)) }
            case 0x06, 0x0E, 0x16, 0x1E, 0x50...0x57, 0x68, 0x6A, 0x9A, 0x9C, 0xE8, 0xC8: out.append((esp &- 8, 8))
            case 0x60: out.append((esp &- 32, 32))
            case 0xA2, 0xA3: out.append((d.immediate, 4))  // MOV moffs, AL/EAX
            case 0xA4, 0xA5, 0xAA, 0xAB, 0x6C, 0x6D:
                let count = d.prefixes.contains(.rep) ? min(r[.ecx], 0x4000) : 1
                out.append((edi, count * 4))
            default: break
            }
        } else {
            switch op {
            case 0x90...0x9F, 0xAB, 0xB3, 0xBB, 0xB0, 0xB1, 0xC0, 0xC1, 0xA4, 0xA5, 0xAC, 0xAD: modrmWrites = true
            case 0xBA: modrmWrites = d.reg >= 5
            case 0xA0, 0xA8: out.append((esp &- 8, 8))
            default: break
            }
        }
        if modrmWrites && d.hasModRM && d.mod != 3 {
            let inputs = InstructionInputs(d, r)
            if let m = inputs.memory.first { out.append((m.address, 4)) }
        }
        return out
    }
}
