import X86Decode

/// ADD/OR/ADC/SBB/AND/SUB/XOR/CMP, INC/DEC/NEG/NOT, MUL/IMUL/DIV/IDIV (SDM Vol. 2).
extension CPU {
    /// The eight ALU operations in opcode order (bits 5:3 of 00–3F, ModRM.reg of 80–83).
    /// Returns the result; flags are recorded by the caller after the write succeeds.
    @inline(__always)
    func aluCompute(_ op: Int, _ a: UInt32, _ b: UInt32, sz: Int) -> (UInt32, LazyFlags) {
        var l = LazyFlags()
        l.size = UInt8(sz >> 1)
        l.dst = a
        l.src = b
        let r: UInt32
        switch op {
        case 0: r = a &+ b; l.op = .add
        case 1: r = a | b; l.op = .logic
        case 2:
            let c: UInt32 = carry ? 1 : 0
            r = a &+ b &+ c; l.op = .adc; l.aux = c
        case 3:
            let c: UInt32 = carry ? 1 : 0
            r = a &- b &- c; l.op = .sbb; l.aux = c
        case 4: r = a & b; l.op = .logic
        case 5, 7: r = a &- b; l.op = .sub
        default: r = a ^ b; l.op = .logic
        }
        l.result = r
        return (r, l)
    }

    /// ALU op on two 32-bit registers, flags kept lazily (the hottest instruction shape).
    @inline(__always)
    func aluRegisters32(op: Int, dst: Int, src: Int) {
        let a = gpr[dst], b = gpr[src]
        let st = s
        switch op {
        case 0:
            let r = a &+ b; gpr[dst] = r
            st.pointee.lazy = LazyFlags(op: .add, size: 2, result: r, dst: a, src: b, aux: 0)
        case 1:
            let r = a | b; gpr[dst] = r
            st.pointee.lazy = LazyFlags(op: .logic, size: 2, result: r, dst: a, src: 0, aux: 0)
        case 4:
            let r = a & b; gpr[dst] = r
            st.pointee.lazy = LazyFlags(op: .logic, size: 2, result: r, dst: a, src: 0, aux: 0)
        case 5:
            let r = a &- b; gpr[dst] = r
            st.pointee.lazy = LazyFlags(op: .sub, size: 2, result: r, dst: a, src: b, aux: 0)
        case 6:
            let r = a ^ b; gpr[dst] = r
            st.pointee.lazy = LazyFlags(op: .logic, size: 2, result: r, dst: a, src: 0, aux: 0)
        case 7:
            st.pointee.lazy = LazyFlags(op: .sub, size: 2, result: a &- b, dst: a, src: b, aux: 0)
        default:
            let (r, l) = aluCompute(op, a, b, sz: 4)
            gpr[dst] = r
            st.pointee.lazy = l
        }
    }

    /// Forms 0–5 of the 00–3F block: Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev / AL,Ib / eAX,Iz.
    @inline(__always)
    func aluForm(_ d: InstructionRef, op: Int, form: UInt8, sz: Int) throws(Fault) {
        let w = form & 1 == 0 ? 1 : sz
        switch form {
        case 0, 1:
            let g = reg(Int(d.reg), size: w)
            if d.modrm >= 0xC0 {
                let r = Int(d.modrm & 7)
                let (res, l) = aluCompute(op, reg(r, size: w), g, sz: w)
                if op != 7 { setReg(r, size: w, res) }
                s.pointee.lazy = l
            } else if op == 7 {
                let (_, l) = aluCompute(op, try readE(d, size: w), g, sz: w)
                s.pointee.lazy = l
            } else {
                let lin = try rmwAddress(d, size: w)
                let (res, l) = aluCompute(op, try readLinear(lin, size: w, user: userMode), g, sz: w)
                try writeLinear(lin, size: w, value: res, user: userMode)
                s.pointee.lazy = l
            }
        case 2, 3:
            let r = Int(d.reg)
            let (res, l) = aluCompute(op, reg(r, size: w), try readE(d, size: w), sz: w)
            if op != 7 { setReg(r, size: w, res) }
            s.pointee.lazy = l
        default:
            let (res, l) = aluCompute(op, reg(0, size: w), d.immediate, sz: w)
            if op != 7 { setReg(0, size: w, res) }
            s.pointee.lazy = l
        }
    }

    /// 80/81/82/83: ALU Eb/Ev with an immediate.
    @inline(__always)
    func aluEvI(_ d: InstructionRef, sz: Int) throws(Fault) {
        let op = Int(d.reg)
        if d.modrm >= 0xC0 {
            aluRegisterImmediate(op, Int(d.modrm & 7), d.immediate, sz: sz)
        } else if op == 7 {
            let (_, l) = aluCompute(op, try readE(d, size: sz), d.immediate, sz: sz)
            s.pointee.lazy = l
        } else {
            let lin = try rmwAddress(d, size: sz)
            let (res, l) = aluCompute(op, try readLinear(lin, size: sz, user: userMode), d.immediate, sz: sz)
            try writeLinear(lin, size: sz, value: res, user: userMode)
            s.pointee.lazy = l
        }
    }

    /// ALU op on a register and an immediate (80–83 with a register operand).
    @inline(__always)
    func aluRegisterImmediate(_ op: Int, _ r: Int, _ immediate: UInt32, sz: Int) {
        let (res, l) = aluCompute(op, reg(r, size: sz), immediate, sz: sz)
        if op != 7 { setReg(r, size: sz, res) }
        s.pointee.lazy = l
    }

    /// Read-modify-write of an E operand through `body` (which returns the new value).
    @inline(__always)
    func modifyE(_ d: InstructionRef, size: Int, _ body: (UInt32) -> UInt32) throws(Fault) -> (old: UInt32, new: UInt32) {
        if d.modrm >= 0xC0 {
            let r = Int(d.modrm & 7)
            let old = reg(r, size: size)
            let new = body(old)
            setReg(r, size: size, new)
            return (old, new)
        }
        let lin = try rmwAddress(d, size: size)
        let old = try readLinear(lin, size: size, user: userMode)
        let new = body(old)
        try writeLinear(lin, size: size, value: new, user: userMode)
        return (old, new)
    }

    /// F6/F7: TEST, NOT, NEG, MUL, IMUL, DIV, IDIV.
    func group3(_ d: InstructionRef, sz: Int) throws(Fault) {
        switch d.reg {
        case 0, 1:
            let a = try readE(d, size: sz)
            setLazy(.logic, size: sz, result: a & d.immediate, dst: a, src: 0)
        case 2:
            _ = try modifyE(d, size: sz) { ~$0 }
        case 3:
            let (old, new) = try modifyE(d, size: sz) { 0 &- $0 }
            setLazy(.sub, size: sz, result: new, dst: 0, src: old)
        case 4: try multiply(try readE(d, size: sz), sz: sz, signed: false)
        case 5: try multiply(try readE(d, size: sz), sz: sz, signed: true)
        case 6: try divide(try readE(d, size: sz), sz: sz, signed: false)
        default: try divide(try readE(d, size: sz), sz: sz, signed: true)
        }
    }

    /// One-operand MUL/IMUL: AX ← AL·r/m8, DX:AX ← AX·r/m16, EDX:EAX ← EAX·r/m32.
    /// CF = OF = the upper half is significant. SF ZF AF PF are undefined: this CPU sets SF, ZF
    /// and PF from the low half and clears AF.
    func multiply(_ src: UInt32, sz: Int, signed: Bool) throws(Fault) {
        let low: UInt32, high: UInt32
        var overflow: Bool
        switch sz {
        case 1:
            let a = gpr[0] & 0xFF
            if signed {
                let p = Int32(Int8(truncatingIfNeeded: a)) * Int32(Int8(truncatingIfNeeded: src))
                setReg(0, size: 2, UInt32(bitPattern: p))
                overflow = p != Int32(Int8(truncatingIfNeeded: p))
            } else {
                let p = a * (src & 0xFF)
                setReg(0, size: 2, p)
                overflow = p > 0xFF
            }
            low = gpr[0] & 0xFF
            high = 0
        case 2:
            let a = gpr[0] & 0xFFFF
            let p: UInt32
            if signed {
                let sp = Int32(Int16(truncatingIfNeeded: a)) * Int32(Int16(truncatingIfNeeded: src))
                p = UInt32(bitPattern: sp)
                overflow = sp != Int32(Int16(truncatingIfNeeded: sp))
            } else {
                p = a * (src & 0xFFFF)
                overflow = p > 0xFFFF
            }
            setReg(0, size: 2, p)
            setReg(2, size: 2, p >> 16)
            low = p & 0xFFFF
            high = p >> 16
        default:
            if signed {
                let sp = Int64(Int32(bitPattern: gpr[0])) * Int64(Int32(bitPattern: src))
                low = UInt32(truncatingIfNeeded: sp)
                high = UInt32(truncatingIfNeeded: sp >> 32)
                overflow = sp != Int64(Int32(truncatingIfNeeded: sp))
            } else {
                let p = UInt64(gpr[0]) * UInt64(src)
                low = UInt32(truncatingIfNeeded: p)
                high = UInt32(truncatingIfNeeded: p >> 32)
                overflow = high != 0
            }
            gpr[0] = low
            gpr[2] = high
        }
        _ = high
        let f = (overflow ? EFLAGS.cf | EFLAGS.of : 0) | szp(low, size: sz)
        setFlags(f, mask: EFLAGS.arithmetic)
    }

    /// IMUL Gv, Ev, imm and IMUL Gv, Ev (truncating forms).
    func imulGvEvI(_ d: InstructionRef, sz: Int) throws(Fault) {
        let b = try readE(d, size: sz)
        setReg(Int(d.reg), size: sz, imulTruncating(b, d.immediate, sz: sz))
    }

    @inline(__always)
    func imulTruncating(_ a: UInt32, _ b: UInt32, sz: Int) -> UInt32 {
        let r: UInt32
        let overflow: Bool
        if sz == 4 {
            let p = Int64(Int32(bitPattern: a)) * Int64(Int32(bitPattern: b))
            r = UInt32(truncatingIfNeeded: p)
            overflow = p != Int64(Int32(truncatingIfNeeded: p))
        } else {
            let p = Int32(Int16(truncatingIfNeeded: a)) * Int32(Int16(truncatingIfNeeded: b))
            r = UInt32(bitPattern: p) & 0xFFFF
            overflow = p != Int32(Int16(truncatingIfNeeded: p))
        }
        setFlags((overflow ? EFLAGS.cf | EFLAGS.of : 0) | szp(r, size: sz), mask: EFLAGS.arithmetic)
        return r
    }

    /// DIV/IDIV: #DE on a zero divisor or a quotient that does not fit. Flags are undefined and
    /// left unchanged here.
    func divide(_ divisor: UInt32, sz: Int, signed: Bool) throws(Fault) {
        switch sz {
        case 1:
            let dividend = gpr[0] & 0xFFFF
            let v = divisor & 0xFF
            if v == 0 { throw Fault.de }
            if signed {
                let n = Int32(Int16(truncatingIfNeeded: dividend)), m = Int32(Int8(truncatingIfNeeded: v))
                let q = n / m, r = n % m
                if q > 127 || q < -128 { throw Fault.de }
                setReg(0, size: 2, (UInt32(bitPattern: r) & 0xFF) << 8 | (UInt32(bitPattern: q) & 0xFF))
            } else {
                let q = dividend / v, r = dividend % v
                if q > 0xFF { throw Fault.de }
                setReg(0, size: 2, r << 8 | q)
            }
        case 2:
            let dividend = (gpr[2] & 0xFFFF) << 16 | (gpr[0] & 0xFFFF)
            let v = divisor & 0xFFFF
            if v == 0 { throw Fault.de }
            if signed {
                let n = Int32(bitPattern: dividend), m = Int32(Int16(truncatingIfNeeded: v))
                // -2^31 / -1 overflows Int32 itself: it is a #DE either way.
                if n == Int32.min && m == -1 { throw Fault.de }
                let q = n / m, r = n % m
                if q > 32767 || q < -32768 { throw Fault.de }
                setReg(0, size: 2, UInt32(bitPattern: q))
                setReg(2, size: 2, UInt32(bitPattern: r))
            } else {
                let q = dividend / v, r = dividend % v
                if q > 0xFFFF { throw Fault.de }
                setReg(0, size: 2, q)
                setReg(2, size: 2, r)
            }
        default:
            let dividend = UInt64(gpr[2]) << 32 | UInt64(gpr[0])
            if divisor == 0 { throw Fault.de }
            if signed {
                let n = Int64(bitPattern: dividend), m = Int64(Int32(bitPattern: divisor))
                if n == Int64.min && m == -1 { throw Fault.de }
                let q = n / m, r = n % m
                if q > Int64(Int32.max) || q < Int64(Int32.min) { throw Fault.de }
                gpr[0] = UInt32(truncatingIfNeeded: q)
                gpr[2] = UInt32(truncatingIfNeeded: r)
            } else {
                let q = dividend / UInt64(divisor), r = dividend % UInt64(divisor)
                if q > 0xFFFF_FFFF { throw Fault.de }
                gpr[0] = UInt32(q)
                gpr[2] = UInt32(r)
            }
        }
    }

    /// FE/FF: INC, DEC (both), CALL, CALL far, JMP, JMP far, PUSH (FF only).
    func group45(_ d: InstructionRef, sz: Int) throws(Fault) {
        switch d.reg {
        case 0:
            let c: UInt32 = carry ? 1 : 0
            let (old, new) = try modifyE(d, size: sz) { $0 &+ 1 }
            setLazy(.inc, size: sz, result: new, dst: old, src: 1, aux: c)
        case 1:
            let c: UInt32 = carry ? 1 : 0
            let (old, new) = try modifyE(d, size: sz) { $0 &- 1 }
            setLazy(.dec, size: sz, result: new, dst: old, src: 1, aux: c)
        case 2:
            let target = try readE(d, size: sz)
            try checkNearTarget(target)
            try push(s.pointee.eip, size: sz)
            s.pointee.eip = target
        case 3:
            let (seg, off) = effectiveAddress(d)
            let offset = try read(seg, off, size: sz)
            let selector = try read16(seg, off &+ UInt32(sz))
            try farCall(selector: UInt16(selector), offset: offset, sz: sz)
        case 4:
            let target = try readE(d, size: sz)
            try checkNearTarget(target)
            s.pointee.eip = target
        case 5:
            let (seg, off) = effectiveAddress(d)
            let offset = try read(seg, off, size: sz)
            let selector = try read16(seg, off &+ UInt32(sz))
            try farJump(selector: UInt16(selector), offset: offset, sz: sz)
        default:
            try push(try readE(d, size: sz), size: sz)
        }
    }

    /// A near branch target outside CS's limit is #GP(0) at the branch (SDM Vol. 2A JMP/CALL).
    @inline(__always)
    func checkNearTarget(_ target: UInt32) throws(Fault) {
        if target > s.pointee.segments[1].limit { throw Fault.gp(0) }
    }
}
