import X86Decode

/// Dispatch: one switch over (map, opcode), group opcodes switch again on ModRM.reg. Handlers
/// are named after the mnemonic and SDM operand codes and live in the family files.
/// On entry EIP already points at the next instruction; a fault puts it back.
extension CPU {
    @inline(__always)
    func execute(_ d: InstructionRef) throws(Fault) {
        let sz = d.operandSize32 ? 4 : 2
        let opc = d.opcode
        if d.map == 0 {
            switch opc {
            case 0x00...0x05, 0x08...0x0D, 0x10...0x15, 0x18...0x1D,
                 0x20...0x25, 0x28...0x2D, 0x30...0x35, 0x38...0x3D:
                if opc & 6 == 0 && d.modrm >= 0xC0 && sz == 4 && opc & 1 != 0 {
                    // Fast path: 32-bit register-register forms (01/03, 09/0B, …, 39/3B).
                    let (dr, sr) = opc & 2 == 0 ? (Int(d.modrm & 7), Int(d.reg)) : (Int(d.reg), Int(d.modrm & 7))
                    aluRegisters32(op: Int(opc >> 3), dst: dr, src: sr)
                } else {
                    try aluForm(d, op: Int(opc >> 3), form: opc & 7, sz: sz)
                }
            case 0x06, 0x0E, 0x16, 0x1E:
                try push(s.pointee.segments[Int(opc >> 3)].selector.zx, size: sz)
            case 0x07, 0x17, 0x1F:
                try popSegment(Int(opc >> 3), sz: sz)
            case 0x27: daa()
            case 0x2F: das()
            case 0x37: aaa()
            case 0x3F: aas()
            case 0x40...0x47: incRegister(Int(opc & 7), sz: sz)
            case 0x48...0x4F: decRegister(Int(opc & 7), sz: sz)
            case 0x50...0x57:
                try push(reg(Int(opc & 7), size: sz), size: sz)
            case 0x58...0x5F: try popRegister(Int(opc & 7), sz: sz)
            case 0x60: try pusha(sz: sz)
            case 0x61: try popa(sz: sz)
            case 0x62: try bound(d, sz: sz)
            case 0x63: try arpl(d)
            case 0x68: try push(d.immediate, size: sz)
            case 0x69, 0x6B: try imulGvEvI(d, sz: sz)
            case 0x6A: try push(d.immediate, size: sz)
            case 0x6C...0x6F: try stringIO(d, sz: sz)
            case 0x70...0x7F:
                if condition(opc & 0xF) { try jumpRelative(d.immediate, sz: sz) }
            case 0x80, 0x81, 0x82, 0x83:
                try aluEvI(d, sz: opc == 0x80 || opc == 0x82 ? 1 : sz)
            case 0x84, 0x85: try testEG(d, sz: sz)
            case 0x86, 0x87: try xchgEG(d, sz: opc == 0x86 ? 1 : sz)
            case 0x88: try writeE(d, size: 1, reg(Int(d.reg), size: 1))
            case 0x89: try writeE(d, size: sz, reg(Int(d.reg), size: sz))
            case 0x8A: setReg(Int(d.reg), size: 1, try readE(d, size: 1))
            case 0x8B: setReg(Int(d.reg), size: sz, try readE(d, size: sz))
            case 0x8C: try movEwSw(d, sz: sz)
            case 0x8D: lea(d, sz: sz)
            case 0x8E: try movSwEw(d)
            case 0x8F: try popEv(d, sz: sz)
            case 0x90: break
            case 0x91...0x97:
                let r = Int(opc & 7)
                let a = reg(0, size: sz)
                setReg(0, size: sz, reg(r, size: sz))
                setReg(r, size: sz, a)
            case 0x98:
                if sz == 4 { gpr[0] = UInt32(bitPattern: Int32(Int16(truncatingIfNeeded: gpr[0]))) }
                else { setReg(0, size: 2, UInt32(UInt16(bitPattern: Int16(Int8(truncatingIfNeeded: gpr[0]))))) }
            case 0x99:
                if sz == 4 { gpr[2] = gpr[0] & 0x8000_0000 != 0 ? 0xFFFF_FFFF : 0 }
                else { setReg(2, size: 2, gpr[0] & 0x8000 != 0 ? 0xFFFF : 0) }
            case 0x9A: try farCall(selector: UInt16(truncatingIfNeeded: d.immediate2), offset: d.immediate, sz: sz)
            case 0x9B:
                if s.pointee.cr0 & (CR0.mp | CR0.ts) == (CR0.mp | CR0.ts) { throw Fault.nm }
                try x87PendingCheck()
            case 0x9C: try pushf(sz: sz)
            case 0x9D: try popf(sz: sz)
            case 0x9E:
                setFlags(UInt32(reg(4, size: 1)), mask: EFLAGS.sf | EFLAGS.zf | EFLAGS.af | EFLAGS.pf | EFLAGS.cf)
            case 0x9F:
                setReg(4, size: 1, (materializedFlags() & 0xD5) | 2)
            case 0xA0...0xA3: try movMoffs(d, sz: sz)
            case 0xA4...0xA7, 0xAA...0xAF: try stringOp(d, sz: sz)
            case 0xA8, 0xA9:
                let w = opc == 0xA8 ? 1 : sz
                let a = reg(0, size: w)
                setLazy(.logic, size: w, result: a & d.immediate, dst: a, src: 0)
            case 0xB0...0xB7: setReg(Int(opc & 7), size: 1, d.immediate)
            case 0xB8...0xBF: setReg(Int(opc & 7), size: sz, d.immediate)
            case 0xC0, 0xC1, 0xD0...0xD3: try shiftGroup(d, sz: opc & 1 == 0 ? 1 : sz)
            case 0xC2: try nearReturn(sz: sz, release: d.immediate & 0xFFFF)
            case 0xC3: try nearReturn(sz: sz, release: 0)
            case 0xC4: try loadFarPointer(d, seg: SegmentRegister.es.rawValue, sz: sz)
            case 0xC5: try loadFarPointer(d, seg: SegmentRegister.ds.rawValue, sz: sz)
            case 0xC6: try writeE(d, size: 1, d.immediate)
            case 0xC7: try writeE(d, size: sz, d.immediate)
            case 0xC8: try enter(d, sz: sz)
            case 0xC9: try leave(sz: sz)
            case 0xCA: try farReturn(sz: sz, release: d.immediate & 0xFFFF)
            case 0xCB: try farReturn(sz: sz, release: 0)
            case 0xCC: try softwareInterrupt(3, isINT3: true)
            case 0xCD: try softwareInterrupt(UInt8(truncatingIfNeeded: d.immediate), isINT3: false)
            case 0xCE:
                if condition(0) { try softwareInterrupt(Vector.overflow, isINT3: true) }
            case 0xCF: try iret(sz: sz)
            case 0xD4: try aam(UInt8(truncatingIfNeeded: d.immediate))
            case 0xD5: aad(UInt8(truncatingIfNeeded: d.immediate))
            case 0xD7:
                let off = d.addressSize32 ? gpr[3] &+ (gpr[0] & 0xFF) : (gpr[3] &+ (gpr[0] & 0xFF)) & 0xFFFF
                setReg(0, size: 1, try read8(dataSegment(d), off))
            case 0xD8...0xDF: try x87(d)
            case 0xE0...0xE3: try loopFamily(d, sz: sz)
            case 0xE4...0xE7, 0xEC...0xEF: try portIO(d, sz: sz)
            case 0xE8: try callRelative(d.immediate, sz: sz)
            case 0xE9, 0xEB: try jumpRelative(d.immediate, sz: sz)
            case 0xEA: try farJump(selector: UInt16(truncatingIfNeeded: d.immediate2), offset: d.immediate, sz: sz)
            case 0xF1: try softwareInterrupt(Vector.debug, isINT3: true, icebp: true)
            case 0xF4: try hlt()
            case 0xF5: setFlags(materializedFlags() ^ EFLAGS.cf, mask: EFLAGS.cf)
            case 0xF6, 0xF7: try group3(d, sz: opc == 0xF6 ? 1 : sz)
            case 0xF8: setFlags(0, mask: EFLAGS.cf)
            case 0xF9: setFlags(EFLAGS.cf, mask: EFLAGS.cf)
            case 0xFA: try cli()
            case 0xFB: try sti()
            case 0xFC: s.pointee.flags &= ~EFLAGS.df
            case 0xFD: s.pointee.flags |= EFLAGS.df
            case 0xFE, 0xFF: try group45(d, sz: opc == 0xFE ? 1 : sz)
            default: throw Fault.ud
            }
            return
        }
        switch opc {
        case 0x00: try group6(d)
        case 0x01: try group7(d, sz: sz)
        case 0x02: try larLsl(d, sz: sz, lsl: false)
        case 0x03: try larLsl(d, sz: sz, lsl: true)
        case 0x06: try clts()
        case 0x08, 0x09: try requireCPL0()  // INVD/WBINVD: no caches to model
        case 0x0B: throw Fault.ud
        case 0x0D, 0x18...0x1F:
            // Prefetch hints and multi-byte NOPs: a memory operand is not accessed.
            if opc == 0x18 || opc == 0x0D { try simdOrPrefetch(d) }
        case 0x20...0x23: try moveControlDebug(d)
        case 0x30: try wrmsr()
        case 0x31: try rdtsc()
        case 0x32: try rdmsr()
        case 0x33: try rdpmc()
        case 0x34: try sysenter()
        case 0x35: try sysexit()
        case 0x40...0x4F: try cmov(d, sz: sz)
        case 0x80...0x8F:
            if condition(opc & 0xF) { try jumpRelative(d.immediate, sz: sz) }
        case 0x90...0x9F: try setcc(d)
        case 0xA0, 0xA8: try push(s.pointee.segments[opc == 0xA0 ? 4 : 5].selector.zx, size: sz)
        case 0xA1, 0xA9: try popSegment(opc == 0xA1 ? 4 : 5, sz: sz)
        case 0xA2: try cpuid()
        case 0xA3, 0xAB, 0xB3, 0xBB: try bitTest(d, sz: sz, op: Int((opc >> 3) & 3), immediate: false)
        case 0xBA: try bitTest(d, sz: sz, op: Int(d.reg & 3), immediate: true)
        case 0xA4, 0xA5, 0xAC, 0xAD: try doubleShift(d, sz: sz)
        case 0xAF: try imulGvEv(d, sz: sz)
        case 0xB0, 0xB1: try cmpxchg(d, sz: opc == 0xB0 ? 1 : sz)
        case 0xB2: try loadFarPointer(d, seg: SegmentRegister.ss.rawValue, sz: sz)
        case 0xB4: try loadFarPointer(d, seg: SegmentRegister.fs.rawValue, sz: sz)
        case 0xB5: try loadFarPointer(d, seg: SegmentRegister.gs.rawValue, sz: sz)
        case 0xB6, 0xB7, 0xBE, 0xBF:
            let size = opc & 1 == 0 ? 1 : 2
            setReg(Int(d.reg), size: sz, extend(try readE(d, size: size), size: size, signed: opc >= 0xBE))
        case 0xBC, 0xBD: try bitScan(d, sz: sz, reverse: opc == 0xBD)
        case 0xC0, 0xC1: try xadd(d, sz: opc == 0xC0 ? 1 : sz)
        case 0xC7: try cmpxchg8b(d)
        case 0xC8...0xCF:
            let r = Int(opc & 7)
            if sz == 4 { gpr[r] = gpr[r].byteSwapped } else { setReg(r, size: 2, 0) }  // 16-bit BSWAP: undefined; zero like Intel
        default:
            try simdOrPrefetch(d)
        }
    }

    /// E8: CALL rel16/rel32.
    @inline(__always)
    func callRelative(_ displacement: UInt32, sz: Int) throws(Fault) {
        var target = s.pointee.eip &+ displacement
        if sz == 2 { target &= 0xFFFF }
        try checkNearTarget(target)
        try push(s.pointee.eip, size: sz)
        s.pointee.eip = target
    }

    /// Relative JMP/Jcc/CALL: a target outside CS's limit is #GP(0) with EIP at the branch.
    @inline(__always)
    func jumpRelative(_ displacement: UInt32, sz: Int) throws(Fault) {
        var target = s.pointee.eip &+ displacement
        if sz == 2 { target &= 0xFFFF }
        if target > s.pointee.segments[1].limit { throw Fault.gp(0) }
        s.pointee.eip = target
    }
}

extension UInt16 {
    @inline(__always) var zx: UInt32 { UInt32(self) }
}
