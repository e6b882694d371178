import X86Decode

/// SSE/SSE2 data movement, logic and shuffles: bit operations, no floating-point exceptions,
/// no MXCSR (SDM Vol. 2 MOVAPS … UNPCKHPD).
extension CPU {
    /// 0F 10–17, 28, 29, 2B, 50, E7, F7.
    func sseMove(_ d: InstructionRef, form: UInt8) throws(Fault) {
        let r = Int(d.reg)
        let rm = Int(d.modrm & 7)
        let register = d.modrm >= 0xC0
        switch d.opcode {
        case 0x10:
            switch form {
            case SIMDRowClass.rep:
                // MOVSS xmm, xmm merges the low doubleword; MOVSS xmm, m32 zeroes the rest.
                if register {
                    let source = xmm(rm)
                    var v = xmm(r)
                    v.low = (v.low & 0xFFFF_FFFF_0000_0000) | (source.low & 0xFFFF_FFFF)
                    setXMM(r, v)
                } else {
                    setXMM(r, try readSIMDMemory(d, size: 4))
                }
            case SIMDRowClass.repne:
                if register { setXMM(r, XMMRegister(low: xmm(rm).low, high: xmm(r).high)) }
                else { setXMM(r, try readSIMDMemory(d, size: 8)) }
            default:
                setXMM(r, try xmmSource(d, size: 16, unaligned: true))  // MOVUPS, MOVUPD
            }
        case 0x11:
            let source = xmm(r)
            switch form {
            case SIMDRowClass.rep:
                if register {
                    var v = xmm(rm)
                    v.low = (v.low & 0xFFFF_FFFF_0000_0000) | (source.low & 0xFFFF_FFFF)
                    setXMM(rm, v)
                } else {
                    try writeSIMDMemory(d, size: 4, source)
                }
            case SIMDRowClass.repne:
                if register { setXMM(rm, XMMRegister(low: source.low, high: xmm(rm).high)) }
                else { try writeSIMDMemory(d, size: 8, source) }
            default:
                if register { setXMM(rm, source) } else { try writeSIMDMemory(d, size: 16, source) }
            }
        case 0x12:
            // MOVLPS/MOVLPD xmm, m64; MOVHLPS xmm, xmm.
            let low = register ? xmm(rm).high : try readSIMDMemory(d, size: 8).low
            setXMM(r, XMMRegister(low: low, high: xmm(r).high))
        case 0x13:
            try writeSIMDMemory(d, size: 8, xmm(r))
        case 0x16:
            // MOVHPS/MOVHPD xmm, m64; MOVLHPS xmm, xmm.
            let high = register ? xmm(rm).low : try readSIMDMemory(d, size: 8).low
            setXMM(r, XMMRegister(low: xmm(r).low, high: high))
        case 0x17:
            try writeSIMDMemory(d, size: 8, XMMRegister(low: xmm(r).high))
        case 0x28:
            setXMM(r, try xmmSource(d, size: 16))
        case 0x29, 0x2B:
            if register { setXMM(rm, xmm(r)) } else { try writeSIMDMemory(d, size: 16, aligned: true, xmm(r)) }
        case 0x50:
            // MOVMSKPS/MOVMSKPD r32, xmm: the sign bits.
            let v = xmm(rm)
            if form == SIMDRowClass.operandSize {
                gpr[r] = UInt32(v.low >> 63) | UInt32(v.high >> 63) << 1
            } else {
                gpr[r] = UInt32(v.low >> 31 & 1) | UInt32(v.low >> 63) << 1
                    | UInt32(v.high >> 31 & 1) << 2 | UInt32(v.high >> 63) << 3
            }
        case 0xE7:
            if form == SIMDRowClass.none { try mmxMove(d); return }
            try writeSIMDMemory(d, size: 16, aligned: true, xmm(r))  // MOVNTDQ
        case 0xF7:
            if form == SIMDRowClass.none { try mmxMove(d); return }
            try maskedStore(d, xmm(r), mask: xmm(rm), size: 16)     // MASKMOVDQU
        default:
            try notImplemented(d)
        }
    }

    /// MOVD/MOVQ (0F 6E, 6F, 7E, 7F, D6): MMX forms without a prefix, XMM forms with 66/F3/F2.
    func integerMove(_ d: InstructionRef, form: UInt8) throws(Fault) {
        if form == SIMDRowClass.none { try mmxMove(d); return }
        let r = Int(d.reg)
        let rm = Int(d.modrm & 7)
        let register = d.modrm >= 0xC0
        switch (d.opcode, form) {
        case (0x6E, _):
            setXMM(r, XMMRegister(low: UInt64(try dwordSource(d))))            // MOVD xmm, r/m32
        case (0x6F, _):
            setXMM(r, try xmmSource(d, size: 16, unaligned: form == SIMDRowClass.rep))  // MOVDQA, MOVDQU
        case (0x7E, SIMDRowClass.rep):
            setXMM(r, XMMRegister(low: try xmmSource(d, size: 8).low))          // MOVQ xmm, xmm/m64
        case (0x7E, _):
            let value = UInt32(truncatingIfNeeded: xmm(r).low)                 // MOVD r/m32, xmm
            if register { gpr[rm] = value } else {
                let (seg, offset) = effectiveAddress(d)
                try write(seg, offset, size: 4, value)
            }
        case (0x7F, _):
            if register { setXMM(rm, xmm(r)) }
            else { try writeSIMDMemory(d, size: 16, aligned: form != SIMDRowClass.rep, xmm(r)) }
        case (0xD6, SIMDRowClass.operandSize):
            // MOVQ xmm/m64, xmm: a register destination's upper half is zeroed.
            if register { setXMM(rm, XMMRegister(low: xmm(r).low)) } else { try writeSIMDMemory(d, size: 8, xmm(r)) }
        case (0xD6, SIMDRowClass.rep):
            try mmxEnter()                                                       // MOVQ2DQ xmm, mm
            setXMM(r, XMMRegister(low: mmx(rm)))
            mmxLeave()
        case (0xD6, _):
            try mmxEnter()                                                       // MOVDQ2Q mm, xmm
            setMMX(r, xmm(rm).low)
            mmxLeave()
        default:
            try notImplemented(d)
        }
    }

    /// UNPCKLPS/PD, UNPCKHPS/PD, ANDPS … XORPD, SHUFPS/PD (0F 14, 15, 54–57, C6).
    func sseShuffleOrLogic(_ d: InstructionRef, form: UInt8) throws(Fault) {
        let r = Int(d.reg)
        let a = xmm(r)
        let b = try xmmSource(d, size: 16)
        let double = form == SIMDRowClass.operandSize
        let result: XMMRegister
        switch d.opcode {
        case 0x14:
            result = double ? XMMRegister(low: a.low, high: b.low)
                : XMMRegister(low: (a.low & 0xFFFF_FFFF) | b.low << 32, high: a.low >> 32 | (b.low >> 32) << 32)
        case 0x15:
            result = double ? XMMRegister(low: a.high, high: b.high)
                : XMMRegister(low: (a.high & 0xFFFF_FFFF) | b.high << 32, high: a.high >> 32 | (b.high >> 32) << 32)
        case 0x54: result = XMMRegister(low: a.low & b.low, high: a.high & b.high)
        case 0x55: result = XMMRegister(low: ~a.low & b.low, high: ~a.high & b.high)
        case 0x56: result = XMMRegister(low: a.low | b.low, high: a.high | b.high)
        case 0x57: result = XMMRegister(low: a.low ^ b.low, high: a.high ^ b.high)
        case 0xC6:
            let order = d.immediate
            if double {
                result = XMMRegister(low: order & 1 == 0 ? a.low : a.high, high: order & 2 == 0 ? b.low : b.high)
            } else {
                func pick(_ v: XMMRegister, _ i: UInt32) -> UInt64 {
                    let q = i < 2 ? v.low : v.high
                    return (i & 1 == 0 ? q : q >> 32) & 0xFFFF_FFFF
                }
                result = XMMRegister(low: pick(a, order & 3) | pick(a, order >> 2 & 3) << 32,
                                     high: pick(b, order >> 4 & 3) | pick(b, order >> 6 & 3) << 32)
            }
        default:
            try notImplemented(d)
            return
        }
        setXMM(r, result)
    }
}
