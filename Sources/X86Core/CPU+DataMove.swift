import X86Decode

/// XCHG, CMPXCHG, CMPXCHG8B, XADD, MOV moffs, POP Ev (SDM Vol. 2).
extension CPU {
    func xchgEG(_ d: InstructionRef, sz: Int) throws(Fault) {
        let g = reg(Int(d.reg), size: sz)
        let (old, _) = try modifyE(d, size: sz) { _ in g }
        setReg(Int(d.reg), size: sz, old)
    }

    /// CMPXCHG: compare the accumulator with the destination; the destination is always written
    /// (with its old value when unequal), as the SDM's locked-cycle description says.
    func cmpxchg(_ d: InstructionRef, sz: Int) throws(Fault) {
        let acc = reg(0, size: sz)
        let src = reg(Int(d.reg), size: sz)
        let (old, _) = try modifyE(d, size: sz) { v in v == acc ? src : v }
        let (_, l) = aluCompute(7, acc, old, sz: sz)
        s.pointee.lazy = l
        if old != acc { setReg(0, size: sz, old) }
    }

    func xadd(_ d: InstructionRef, sz: Int) throws(Fault) {
        let src = reg(Int(d.reg), size: sz)
        let (old, new) = try modifyE(d, size: sz) { $0 &+ src }
        setReg(Int(d.reg), size: sz, old)
        // DEST is written last (SDM Vol. 2B XADD): with one register for both, it gets the sum.
        if d.modrm >= 0xC0 { setReg(Int(d.modrm & 7), size: sz, new) }
        setLazy(.add, size: sz, result: new, dst: old, src: src)
    }

    func cmpxchg8b(_ d: InstructionRef) throws(Fault) {
        let (seg, off) = effectiveAddress(d)
        let lin = try writeAddress(seg, off, size: 8)
        try probeWrite(lin, size: 4, user: userMode)
        try probeWrite(lin &+ 4, size: 4, user: userMode)
        let lo = try readLinear(lin, size: 4, user: userMode)
        let hi = try readLinear(lin &+ 4, size: 4, user: userMode)
        let equal = lo == gpr[0] && hi == gpr[2]
        if equal {
            try writeLinear(lin, size: 4, value: gpr[3], user: userMode)
            try writeLinear(lin &+ 4, size: 4, value: gpr[1], user: userMode)
        } else {
            try writeLinear(lin, size: 4, value: lo, user: userMode)
            try writeLinear(lin &+ 4, size: 4, value: hi, user: userMode)
            gpr[0] = lo
            gpr[2] = hi
        }
        setFlags(equal ? EFLAGS.zf : 0, mask: EFLAGS.zf)
    }

    func movMoffs(_ d: InstructionRef, sz: Int) throws(Fault) {
        let w = d.opcode & 1 == 0 ? 1 : sz
        let seg = dataSegment(d)
        let off = d.immediate
        if d.opcode < 0xA2 {
            setReg(0, size: w, try read(seg, off, size: w))
        } else {
            try write(seg, off, size: w, reg(0, size: w))
        }
    }

    /// POP Ev: ESP is incremented before the destination address is computed (SDM Vol. 2B POP),
    /// but a fault leaves ESP unchanged.
    func popEv(_ d: InstructionRef, sz: Int) throws(Fault) {
        let v = try peekStack(size: sz)
        if d.modrm >= 0xC0 {
            adjustStack(UInt32(sz))
            setReg(Int(d.modrm & 7), size: sz, v)
            return
        }
        let savedESP = gpr[4]
        adjustStack(UInt32(sz))
        let (seg, off) = effectiveAddress(d)
        do throws(Fault) {
            try write(seg, off, size: sz, v)
        } catch {
            gpr[4] = savedESP
            throw error
        }
    }
}

/// Small instructions `execute` and the block engine's handlers share.
extension CPU {
    /// 40+r INC, 48+r DEC (CF kept).
    @inline(__always)
    func incRegister(_ r: Int, sz: Int) {
        let v = reg(r, size: sz)
        let res = v &+ 1
        setReg(r, size: sz, res)
        setLazy(.inc, size: sz, result: res, dst: v, src: 1, aux: carry ? 1 : 0)
    }

    @inline(__always)
    func decRegister(_ r: Int, sz: Int) {
        let v = reg(r, size: sz)
        let res = v &- 1
        setReg(r, size: sz, res)
        setLazy(.dec, size: sz, result: res, dst: v, src: 1, aux: carry ? 1 : 0)
    }

    /// 58+r POP: the register is written only after the read succeeded.
    @inline(__always)
    func popRegister(_ r: Int, sz: Int) throws(Fault) {
        let v = try peekStack(size: sz)
        adjustStack(UInt32(sz))
        setReg(r, size: sz, v)
    }

    /// TEST: AND for the flags only.
    @inline(__always)
    func test(_ a: UInt32, _ b: UInt32, size w: Int) {
        setLazy(.logic, size: w, result: a & b, dst: a, src: 0)
    }

    /// 8D LEA.
    @inline(__always)
    func lea(_ d: InstructionRef, sz: Int) {
        setReg(Int(d.reg), size: sz, effectiveAddress(d).offset)
    }

    /// MOVZX/MOVSX (0F B6, B7, BE, BF): a `size`-byte value zero- or sign-extended.
    @inline(__always)
    func extend(_ v: UInt32, size: Int, signed: Bool) -> UInt32 {
        guard signed else { return v }
        return size == 1 ? UInt32(bitPattern: Int32(Int8(truncatingIfNeeded: v)))
            : UInt32(bitPattern: Int32(Int16(truncatingIfNeeded: v)))
    }

    /// 84/85 TEST Eb/Ev, Gb/Gv.
    @inline(__always)
    func testEG(_ d: InstructionRef, sz: Int) throws(Fault) {
        let w = d.opcode == 0x84 ? 1 : sz
        test(try readE(d, size: w), reg(Int(d.reg), size: w), size: w)
    }

    /// 0F 40–4F CMOVcc: the source is read (and may fault) whatever the condition.
    @inline(__always)
    func cmov(_ d: InstructionRef, sz: Int) throws(Fault) {
        let v = try readE(d, size: sz)
        if condition(d.opcode & 0xF) { setReg(Int(d.reg), size: sz, v) }
    }

    /// 0F 90–9F SETcc.
    @inline(__always)
    func setcc(_ d: InstructionRef) throws(Fault) {
        try writeE(d, size: 1, condition(d.opcode & 0xF) ? 1 : 0)
    }

    /// 0F AF IMUL Gv, Ev.
    @inline(__always)
    func imulGvEv(_ d: InstructionRef, sz: Int) throws(Fault) {
        let a = reg(Int(d.reg), size: sz)
        let b = try readE(d, size: sz)
        setReg(Int(d.reg), size: sz, imulTruncating(a, b, sz: sz))
    }
}
