import X86Decode

/// BT/BTS/BTR/BTC, BSF/BSR, and the BCD adjustments (SDM Vol. 2A).
extension CPU {
    /// BT family. A register bit offset with a memory operand addresses any bit relative to the
    /// operand (signed, SDM Vol. 2A "BT": bit base + (offset >> 3 rounded to the operand size)).
    /// op: 0 BT, 1 BTS, 2 BTR, 3 BTC.
    func bitTest(_ d: InstructionRef, sz: Int, op: Int, immediate: Bool) throws(Fault) {
        let bits = UInt32(sz * 8)
        var offset = immediate ? d.immediate & 0xFF : reg(Int(d.reg), size: sz)
        let modify: (UInt32, UInt32) -> UInt32 = { v, b in
            switch op {
            case 1: return v | b
            case 2: return v & ~b
            case 3: return v ^ b
            default: return v
            }
        }
        let cf: Bool
        if d.modrm >= 0xC0 || immediate {
            offset &= bits - 1
            let bit: UInt32 = 1 << offset
            if op == 0 {
                cf = try readE(d, size: sz) & bit != 0
            } else {
                let (old, _) = try modifyE(d, size: sz) { modify($0, bit) }
                cf = old & bit != 0
            }
        } else {
            let (seg, base) = effectiveAddress(d)
            let signed = sz == 4 ? Int64(Int32(bitPattern: offset)) : Int64(Int16(truncatingIfNeeded: offset))
            let unitOffset = (signed >> (sz == 4 ? 5 : 4)) * Int64(sz)
            var off = base &+ UInt32(truncatingIfNeeded: unitOffset)
            if !d.addressSize32 { off &= 0xFFFF }
            let bit: UInt32 = 1 << (offset & (bits - 1))
            if op == 0 {
                cf = try read(seg, off, size: sz) & bit != 0
            } else {
                let lin = try writeAddress(seg, off, size: sz)
                try probeWrite(lin, size: sz, user: userMode)
                let old = try readLinear(lin, size: sz, user: userMode)
                try writeLinear(lin, size: sz, value: modify(old, bit), user: userMode)
                cf = old & bit != 0
            }
        }
        // CF is the bit; OF SF AF PF undefined (left unchanged here); ZF unchanged.
        setFlags(cf ? EFLAGS.cf : 0, mask: EFLAGS.cf)
    }

    /// BSF/BSR: ZF = 1 and the destination unchanged when the source is 0 (as Intel and AMD
    /// parts do; the SDM calls the destination undefined).
    func bitScan(_ d: InstructionRef, sz: Int, reverse: Bool) throws(Fault) {
        let v = try readE(d, size: sz)
        if v == 0 {
            setFlags(EFLAGS.zf, mask: EFLAGS.arithmetic)
            return
        }
        let index = reverse ? UInt32(31 - v.leadingZeroBitCount) : UInt32(v.trailingZeroBitCount)
        setReg(Int(d.reg), size: sz, index)
        setFlags(0, mask: EFLAGS.zf)
    }

    // MARK: BCD (SDM Vol. 2A DAA, DAS, AAA, AAS, AAM, AAD)

    func daa() {
        let f = materializedFlags()
        let oldAL = gpr[0] & 0xFF
        let oldCF = f & EFLAGS.cf != 0
        var al = oldAL
        var cf = false, af = false
        if al & 0xF > 9 || f & EFLAGS.af != 0 {
            al = (al &+ 6) & 0xFF
            cf = oldCF || oldAL > 0xF9
            af = true
        }
        if oldAL > 0x99 || oldCF {
            al = (al &+ 0x60) & 0xFF
            cf = true
        }
        setReg(0, size: 1, al)
        setFlags(szp(al, size: 1) | (cf ? EFLAGS.cf : 0) | (af ? EFLAGS.af : 0), mask: EFLAGS.arithmetic)
    }

    func das() {
        let f = materializedFlags()
        let oldAL = gpr[0] & 0xFF
        let oldCF = f & EFLAGS.cf != 0
        var al = oldAL
        var cf = false, af = false
        if al & 0xF > 9 || f & EFLAGS.af != 0 {
            al = (al &- 6) & 0xFF
            cf = oldCF || oldAL < 6
            af = true
        }
        if oldAL > 0x99 || oldCF {
            al = (al &- 0x60) & 0xFF
            cf = true
        }
        setReg(0, size: 1, al)
        setFlags(szp(al, size: 1) | (cf ? EFLAGS.cf : 0) | (af ? EFLAGS.af : 0), mask: EFLAGS.arithmetic)
    }

    func aaa() {
        let f = materializedFlags()
        var ax = gpr[0] & 0xFFFF
        let adjust = ax & 0xF > 9 || f & EFLAGS.af != 0
        if adjust { ax = ax &+ 0x106 }
        ax &= 0xFF0F
        setReg(0, size: 2, ax)
        setFlags((adjust ? EFLAGS.af | EFLAGS.cf : 0) | szp(ax & 0xFF, size: 1), mask: EFLAGS.arithmetic)
    }

    func aas() {
        let f = materializedFlags()
        var ax = gpr[0] & 0xFFFF
        let adjust = ax & 0xF > 9 || f & EFLAGS.af != 0
        if adjust {
            // AX ← AX − 6 (a borrow reaches AH), then AH ← AH − 1 (SDM Vol. 2A AAS).
            ax = (ax &- 6) & 0xFFFF
            ax = (ax &- 0x100) & 0xFFFF
        }
        ax &= 0xFF0F
        setReg(0, size: 2, ax)
        setFlags((adjust ? EFLAGS.af | EFLAGS.cf : 0) | szp(ax & 0xFF, size: 1), mask: EFLAGS.arithmetic)
    }

    func aam(_ base: UInt8) throws(Fault) {
        if base == 0 { throw Fault.de }
        let al = gpr[0] & 0xFF
        let ah = al / UInt32(base), newAL = al % UInt32(base)
        setReg(0, size: 2, ah << 8 | newAL)
        setFlags(szp(newAL, size: 1), mask: EFLAGS.arithmetic)
    }

    func aad(_ base: UInt8) {
        let al = gpr[0] & 0xFF, ah = (gpr[0] >> 8) & 0xFF
        let r = (al &+ ah &* UInt32(base)) & 0xFF
        setReg(0, size: 2, r)
        setFlags(szp(r, size: 1), mask: EFLAGS.arithmetic)
    }
}
