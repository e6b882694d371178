import X86Decode

/// ROL/ROR/RCL/RCR/SHL/SHR/SAL/SAR and SHLD/SHRD (SDM Vol. 2B). Flags are computed eagerly:
/// shifts are rare next to ADD/CMP and their flag rules depend on the count.
///
/// Undefined flags get fixed, documented values so runs are deterministic: AF is cleared by
/// shifts with a nonzero count; OF for counts other than 1 is computed with the count-1 formula
/// (what Intel parts do); the opcode table lists these as undefined for the differential test.
extension CPU {
    /// C0/C1 (Ib), D0/D1 (1), D2/D3 (CL).
    func shiftGroup(_ d: InstructionRef, sz: Int) throws(Fault) {
        let opc = d.opcode
        let raw: UInt32 = opc <= 0xC1 ? d.immediate : (opc <= 0xD1 ? 1 : gpr[1])
        let count = raw & 0x1F
        if count == 0 {
            // Still a full operand access: a memory operand must be readable (and is not written).
            _ = try readE(d, size: sz)
            return
        }
        let op = Int(d.reg)
        if d.modrm >= 0xC0 && sz == 4 && op >= 4 {
            shiftRegister32(op, Int(d.modrm & 7), count: count)
            return
        }
        if d.modrm >= 0xC0 {
            shiftRegister(op, Int(d.modrm & 7), count: count, sz: sz)
        } else {
            let lin = try rmwAddress(d, size: sz)
            let v = try readLinear(lin, size: sz, user: userMode)
            let (res, flags, mask) = shiftCompute(op, v, count: count, sz: sz)
            try writeLinear(lin, size: sz, value: res, user: userMode)
            finishShift(op, v, res, count: count, sz: sz, flags: flags, mask: mask)
        }
    }

    /// Any shift or rotate of a register by a count of 1–31.
    @inline(__always)
    func shiftRegister(_ op: Int, _ r: Int, count: UInt32, sz: Int) {
        let v = reg(r, size: sz)
        let (res, flags, mask) = shiftCompute(op, v, count: count, sz: sz)
        setReg(r, size: sz, res)
        finishShift(op, v, res, count: count, sz: sz, flags: flags, mask: mask)
    }

    /// ROL (0) or ROR (1) of a 32-bit register by a count of 1–31 (`shiftCompute` with the
    /// size fixed, so it folds; the block engine's handler).
    @inline(__always)
    func rotateRegister32(_ op: Int, _ r: Int, count: UInt32) {
        let (res, flags, mask) = shiftCompute(op, gpr[r], count: count, sz: 4)
        gpr[r] = res
        setFlags(flags, mask: mask)
    }

    /// The common case, inline: SHL/SAL (4, 6), SHR (5), SAR (7) of a 32-bit register by a
    /// count of 1–31.
    @inline(__always)
    func shiftRegister32(_ op: Int, _ r: Int, count: UInt32) {
        let v = gpr[r]
        let res: UInt32
        switch op {
        case 5: res = v >> count; setLazy(.shr, size: 4, result: res, dst: v, src: count)
        case 7: res = UInt32(bitPattern: Int32(bitPattern: v) >> Int32(count)); setLazy(.sar, size: 4, result: res, dst: v, src: count)
        default: res = v << count; setLazy(.shl, size: 4, result: res, dst: v, src: count)
        }
        gpr[r] = res
    }

    /// SHL/SHR/SAR keep their flags lazily; rotates set CF and OF now.
    @inline(__always)
    func finishShift(_ op: Int, _ v: UInt32, _ res: UInt32, count: UInt32, sz: Int, flags: UInt32, mask: UInt32) {
        switch op {
        case 4, 6: setLazy(.shl, size: sz, result: res, dst: v, src: count)
        case 5: setLazy(.shr, size: sz, result: res, dst: v, src: count)
        case 7: setLazy(.sar, size: sz, result: res, dst: v, src: count)
        default: if mask != 0 { setFlags(flags, mask: mask) }
        }
    }

    /// Returns (result, flag bits, mask of flags written).
    @inline(__always)
    func shiftCompute(_ op: Int, _ v: UInt32, count: UInt32, sz: Int) -> (UInt32, UInt32, UInt32) {
        let bits = UInt32(sz * 8)
        let m = maskFor(UInt8(sz >> 1))
        let sign = signBitFor(UInt8(sz >> 1))
        let x = v & m
        switch op {
        case 0, 1:  // ROL, ROR
            let n = count % bits
            let r: UInt32
            if op == 0 {
                r = n == 0 ? x : ((x << n) | (x >> (bits - n))) & m
                let cf = r & 1
                let of = ((r & sign) != 0 ? 1 : 0) ^ cf
                return (r, (cf != 0 ? EFLAGS.cf : 0) | (of != 0 ? EFLAGS.of : 0), EFLAGS.cf | EFLAGS.of)
            } else {
                r = n == 0 ? x : ((x >> n) | (x << (bits - n))) & m
                let cf: UInt32 = r & sign != 0 ? 1 : 0
                let of: UInt32 = ((r & sign) != 0) != ((r & (sign >> 1)) != 0) ? 1 : 0
                return (r, (cf != 0 ? EFLAGS.cf : 0) | (of != 0 ? EFLAGS.of : 0), EFLAGS.cf | EFLAGS.of)
            }
        case 2, 3:  // RCL, RCR through a (bits+1)-bit value
            let n = count % (bits + 1)
            if n == 0 { return (x, 0, 0) }
            let cfIn: UInt32 = carry ? 1 : 0
            let wide = UInt64(x) | UInt64(cfIn) << UInt64(bits)
            let width = UInt64(bits + 1)
            let wmask = (UInt64(1) << width) - 1
            let rot: UInt64
            if op == 2 {
                rot = ((wide << UInt64(n)) | (wide >> (width - UInt64(n)))) & wmask
            } else {
                rot = ((wide >> UInt64(n)) | (wide << (width - UInt64(n)))) & wmask
            }
            let r = UInt32(truncatingIfNeeded: rot) & m
            let cf = UInt32(truncatingIfNeeded: rot >> UInt64(bits)) & 1
            let of: UInt32
            if op == 2 {
                of = ((r & sign) != 0 ? 1 : 0) ^ cf
            } else {
                of = ((r & sign) != 0) != ((r & (sign >> 1)) != 0) ? 1 : 0
            }
            return (r, (cf != 0 ? EFLAGS.cf : 0) | (of != 0 ? EFLAGS.of : 0), EFLAGS.cf | EFLAGS.of)
        case 4, 6:  // SHL/SAL (flags: lazy, see finishShift)
            return (count >= bits ? 0 : (x << count) & m, 0, 0)
        case 5:  // SHR
            return (count >= bits ? 0 : x >> count, 0, 0)
        default:  // SAR
            let sx = Int32(bitPattern: x << (32 - bits)) >> (32 - bits)
            return (UInt32(bitPattern: sx >> Int32(min(count, 31))) & m, 0, 0)
        }
    }

    /// SHLD/SHRD Ev, Gv, Ib/CL. With a 16-bit operand and a count above 16 the result is
    /// undefined; this CPU shifts through the 32-bit concatenation as Intel parts do.
    func doubleShift(_ d: InstructionRef, sz: Int) throws(Fault) {
        let left = d.opcode == 0xA4 || d.opcode == 0xA5
        let raw = d.opcode & 1 == 0 ? d.immediate : gpr[1]
        let count = raw & 0x1F
        let src = reg(Int(d.reg), size: sz)
        if count == 0 {
            _ = try readE(d, size: sz)
            return
        }
        let bits = UInt64(sz * 8)
        let m = UInt64(maskFor(UInt8(sz >> 1)))
        var flags: UInt32 = 0
        _ = try modifyE(d, size: sz) { v in
            let dst = UInt64(v) & m
            let r: UInt64, cf: UInt64
            if left {
                // dst:src (or dst:src:dst for 16-bit counts above 16) shifted left.
                let combined = bits == 32 ? (dst << 32 | UInt64(src)) : (dst << 32 | UInt64(src & 0xFFFF) << 16 | dst)
                let shifted = combined << UInt64(count)
                r = (shifted >> 32) & m
                cf = (combined >> (32 + bits - UInt64(count))) & 1
            } else {
                let combined = bits == 32 ? (UInt64(src) << 32 | dst) : (dst << 32 | UInt64(src & 0xFFFF) << 16 | dst)
                let shifted = combined >> UInt64(count)
                r = shifted & m
                cf = (combined >> (UInt64(count) - 1)) & 1
            }
            let res = UInt32(truncatingIfNeeded: r)
            let sign = signBitFor(UInt8(sz >> 1))
            let of = ((res ^ v) & sign) != 0
            flags = (cf != 0 ? EFLAGS.cf : 0) | (of ? EFLAGS.of : 0) | self.szp(res, size: sz)
            return res
        }
        setFlags(flags, mask: EFLAGS.arithmetic)
    }
}
