import X86Decode

/// MMX (SDM Vol. 1 ch. 9, Vol. 3A ch. 12): eight 64-bit registers that are the significands of
/// the x87 registers R0–R7 (physical, not stack-relative).
///
/// Every MMX instruction, and every SSE instruction with an MMX register operand (CVTPI2PS/PD
/// from a register, CVT(T)PS2PI, CVT(T)PD2PI, MOVQ2DQ, MOVDQ2Q), first takes a pending unmasked
/// x87 exception (#MF, or FERR# with CR0.NE = 0: SDM Vol. 3A §12.5.1), then, when it completes,
/// leaves the x87 unit in MMX state: TOP = 0 and all tags valid (00). A write to MMn also sets
/// Rn's sign and exponent to all ones. EMMS sets TOP = 0 too (the SDM's "each time an MMX
/// instruction is executed, TOS is set to 000B", and the host does) and every tag empty.
extension CPU {
    /// FSW bits 13:11.
    static let fswTop: UInt16 = 0x3800

    /// Before an instruction that touches an MMX register.
    @inline(__always) func mmxEnter() throws(Fault) { try x87PendingCheck() }

    /// After it: the x87 unit in MMX state.
    @inline(__always) func mmxLeave() {
        s.pointee.fpu.status &= ~CPU.fswTop
        s.pointee.fpu.tags = 0
    }

    /// EMMS (SDM Vol. 2A): every tag empty, TOP = 0.
    func emms() throws(Fault) {
        try x87PendingCheck()
        s.pointee.fpu.status &= ~CPU.fswTop
        s.pointee.fpu.tags = 0xFFFF
    }

    /// The packed-integer rows on MMX registers (0F 60–7F and D1–FE without a 66 prefix).
    func mmxInteger(_ d: InstructionRef) throws(Fault) {
        try mmxEnter()
        let opcode = d.opcode
        let r = Int(d.reg)
        let rm = Int(d.modrm & 7)
        switch opcode {
        case 0x60...0x62:
            // PUNPCKLBW/WD/DQ mm, mm/m32: the low halves interleaved.
            let source = try mmxSource(d, size: 4)
            setMMX(r, PackedInteger.interleave(UInt32(truncatingIfNeeded: mmx(r)), UInt32(truncatingIfNeeded: source),
                                               width: PackedInteger.unpackWidth(opcode)))
        case 0x68...0x6A:
            let source = try mmxSource(d)
            setMMX(r, PackedInteger.interleave(UInt32(truncatingIfNeeded: mmx(r) >> 32), UInt32(truncatingIfNeeded: source >> 32),
                                               width: PackedInteger.unpackWidth(opcode)))
        case 0x63, 0x67, 0x6B:
            let source = try mmxSource(d)
            setMMX(r, UInt64(PackedInteger.pack(opcode, mmx(r))) | UInt64(PackedInteger.pack(opcode, source)) << 32)
        case 0x70:
            let source = try mmxSource(d)
            setMMX(r, PackedInteger.shuffleWords(source, d.immediate))
        case 0x71, 0x72, 0x73:
            guard let k = PackedInteger.immediateShiftKind(opcode, reg: d.reg) else { throw Fault.ud }
            setMMX(rm, PackedInteger.shift(mmx(rm), width: k.width, count: UInt64(d.immediate & 0xFF),
                                           right: k.right, arithmetic: k.arithmetic))
        case 0xC4:
            // PINSRW mm, r32/m16, imm8: word imm8[1:0].
            let value: UInt32
            if d.modrm >= 0xC0 { value = gpr[rm] } else {
                let (seg, offset) = effectiveAddress(d)
                value = try read(seg, offset, size: 2)
            }
            let shift = UInt64(d.immediate & 3) * 16
            setMMX(r, (mmx(r) & ~(0xFFFF << shift)) | UInt64(value & 0xFFFF) << shift)
        case 0xC5:
            gpr[r] = UInt32(truncatingIfNeeded: mmx(rm) >> (UInt64(d.immediate & 3) * 16)) & 0xFFFF
        case 0xD7:
            gpr[r] = PackedInteger.byteSigns(mmx(rm))
        default:
            let source = try mmxSource(d)
            if let k = PackedInteger.shiftKind(opcode) {
                setMMX(r, PackedInteger.shift(mmx(r), width: k.width, count: source, right: k.right, arithmetic: k.arithmetic))
            } else if let v = PackedInteger.laneLocal(opcode, mmx(r), source) {
                setMMX(r, v)
            } else {
                try notImplemented(d)
            }
        }
        mmxLeave()
    }

    /// MOVD/MOVQ with MMX registers, MOVNTQ, MASKMOVQ (0F 6E, 6F, 7E, 7F, E7, F7 without 66).
    func mmxMove(_ d: InstructionRef) throws(Fault) {
        try mmxEnter()
        let r = Int(d.reg)
        let rm = Int(d.modrm & 7)
        switch d.opcode {
        case 0x6E: setMMX(r, UInt64(try dwordSource(d)))
        case 0x6F: setMMX(r, try mmxSource(d))
        case 0x7E:
            let value = UInt32(truncatingIfNeeded: mmx(r))
            if d.modrm >= 0xC0 { gpr[rm] = value } else {
                let (seg, offset) = effectiveAddress(d)
                try write(seg, offset, size: 4, value)
            }
        case 0x7F, 0xE7:
            if d.modrm >= 0xC0 { setMMX(rm, mmx(r)) } else {
                try writeSIMDMemory(d, size: 8, XMMRegister(low: mmx(r)))
            }
        case 0xF7:
            try maskedStore(d, XMMRegister(low: mmx(r)), mask: XMMRegister(low: mmx(rm)), size: 8)
        default: try notImplemented(d)
        }
        mmxLeave()
    }

    /// MASKMOVQ/MASKMOVDQU: the bytes of `data` whose `mask` byte has bit 7 set go to DS:(E)DI
    /// (a segment override applies). The span from the first to the last selected byte is
    /// checked and probed before any byte is written; an all-zero mask accesses nothing.
    func maskedStore(_ d: InstructionRef, _ data: XMMRegister, mask: XMMRegister, size: Int) throws(Fault) {
        var selected: UInt32 = 0
        for i in 0..<size {
            let m = i < 8 ? mask.low >> UInt64(8 * i) : mask.high >> UInt64(8 * (i - 8))
            if m & 0x80 != 0 { selected |= 1 << UInt32(i) }
        }
        if selected == 0 { return }
        let first = selected.trailingZeroBitCount
        let last = 31 - selected.leadingZeroBitCount
        let base = d.addressSize32 ? gpr[7] : gpr[7] & 0xFFFF
        let seg = dataSegment(d)
        let user = userMode
        let linear = try writeAddress(seg, base &+ UInt32(first), size: last - first + 1)
        try probeWrite(linear, size: last - first + 1, user: user)
        for i in first...last where selected >> UInt32(i) & 1 != 0 {
            let byte = i < 8 ? data.low >> UInt64(8 * i) : data.high >> UInt64(8 * (i - 8))
            try writeLinear(linear &+ UInt32(i - first), size: 1, value: UInt32(truncatingIfNeeded: byte & 0xFF), user: user)
        }
    }
}
