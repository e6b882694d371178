import X86Decode

/// Near RET, LOOP/LOOPE/LOOPNE/JCXZ, BOUND (SDM Vol. 2).
extension CPU {
    func nearReturn(sz: Int, release: UInt32) throws(Fault) {
        let target = try peekStack(size: sz)
        try checkNearTarget(target)
        adjustStack(UInt32(sz) &+ release)
        s.pointee.eip = target
    }

    /// E0 LOOPNE, E1 LOOPE, E2 LOOP, E3 JCXZ/JECXZ. The count register is ECX or CX by the
    /// address size.
    func loopFamily(_ d: InstructionRef, sz: Int) throws(Fault) {
        let wide = d.addressSize32
        var count = wide ? gpr[1] : gpr[1] & 0xFFFF
        let take: Bool
        if d.opcode == 0xE3 {
            take = count == 0
        } else {
            count = wide ? count &- 1 : (count &- 1) & 0xFFFF
            switch d.opcode {
            case 0xE0: take = count != 0 && !condition(4)
            case 0xE1: take = count != 0 && condition(4)
            default: take = count != 0
            }
        }
        if take {
            var target = s.pointee.eip &+ d.immediate
            if sz == 2 { target &= 0xFFFF }
            try checkNearTarget(target)
            s.pointee.eip = target
        }
        if d.opcode != 0xE3 {
            if wide { gpr[1] = count } else { setReg(1, size: 2, count) }
        }
    }

    func bound(_ d: InstructionRef, sz: Int) throws(Fault) {
        let (seg, off) = effectiveAddress(d)
        let lower = try read(seg, off, size: sz)
        let upper = try read(seg, off &+ UInt32(sz), size: sz)
        let index = reg(Int(d.reg), size: sz)
        let i: Int32, lo: Int32, hi: Int32
        if sz == 4 {
            i = Int32(bitPattern: index); lo = Int32(bitPattern: lower); hi = Int32(bitPattern: upper)
        } else {
            i = Int32(Int16(truncatingIfNeeded: index)); lo = Int32(Int16(truncatingIfNeeded: lower))
            hi = Int32(Int16(truncatingIfNeeded: upper))
        }
        if i < lo || i > hi { throw Fault.exception(Vector.boundRange) }
    }
}
