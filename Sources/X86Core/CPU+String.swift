import X86Decode

/// MOVS/CMPS/STOS/LODS/SCAS with REP/REPE/REPNE (SDM Vol. 2B). Each iteration commits its
/// index and count registers, so a fault in the middle restarts the instruction with the work
/// done so far kept, as on hardware. A long REP yields after `repChunk` iterations (EIP stays
/// on the instruction) so interrupts and the instruction budget are seen.
///
/// Each iteration counts as one instruction in `CPUState.instructions` (the virtual clock and
/// every budget): a `rep stosd` of four billion iterations takes time, and `--max-instructions`
/// and `--timeout` stop it like any other loop.
extension CPU {
    static let repChunk = 1 << 12

    @inline(__always)
    func stringStep(_ sz: Int) -> UInt32 {
        s.pointee.flags & EFLAGS.df != 0 ? 0 &- UInt32(sz) : UInt32(sz)
    }

    func stringOp(_ d: InstructionRef, sz: Int) throws(Fault) {
        let opc = d.opcode
        let w = opc & 1 == 0 ? 1 : sz
        let a32 = d.addressSize32
        let rep = d.prefixes.contains(.rep) || d.prefixes.contains(.repne)
        let delta = stringStep(w)
        let srcSeg = dataSegment(d)
        let es = SegmentRegister.es.rawValue
        let amask: UInt32 = a32 ? 0xFFFF_FFFF : 0xFFFF
        var iterations = 0
        defer {
            // `step` counts the instruction once; the other iterations count here. A REP that ran
            // long leaves the burst so the budget is checked before the next instruction.
            if iterations > 1 {
                s.pointee.instructions &+= UInt64(iterations - 1)
                attention = true
            }
        }
        while true {
            if rep {
                if gpr[1] & amask == 0 { return }
                if iterations == Self.repChunk {
                    s.pointee.eip = s.pointee.currentEIP
                    return
                }
            }
            let si = gpr[6] & amask, di = gpr[7] & amask
            var stop = false
            switch opc {
            case 0xA4, 0xA5:  // MOVS
                let v = try read(srcSeg, si, size: w)
                try write(es, di, size: w, v)
                advance(6, delta, amask); advance(7, delta, amask)
            case 0xAA, 0xAB:  // STOS
                try write(es, di, size: w, reg(0, size: w))
                advance(7, delta, amask)
            case 0xAC, 0xAD:  // LODS
                let v = try read(srcSeg, si, size: w)
                setReg(0, size: w, v)
                advance(6, delta, amask)
            case 0xA6, 0xA7:  // CMPS: [ESI] - [EDI]
                let a = try read(srcSeg, si, size: w)
                let b = try read(es, di, size: w)
                advance(6, delta, amask); advance(7, delta, amask)
                setLazy(.sub, size: w, result: a &- b, dst: a, src: b)
                if rep { stop = repeatStops(d) }
            default:  // SCAS: eAX - [EDI]
                let b = try read(es, di, size: w)
                let a = reg(0, size: w)
                advance(7, delta, amask)
                setLazy(.sub, size: w, result: a &- b, dst: a, src: b)
                if rep { stop = repeatStops(d) }
            }
            if !rep { return }
            gpr[1] = a32 ? gpr[1] &- 1 : (gpr[1] & 0xFFFF_0000) | ((gpr[1] &- 1) & 0xFFFF)
            iterations += 1
            if stop { return }
        }
    }

    /// REPE stops when ZF = 0, REPNE when ZF = 1 (the last prefix of F2/F3 wins).
    @inline(__always)
    func repeatStops(_ d: InstructionRef) -> Bool {
        let zf = condition(4)
        return d.prefixes.contains(.rep) ? !zf : zf
    }

    @inline(__always)
    func advance(_ r: Int, _ delta: UInt32, _ amask: UInt32) {
        gpr[r] = (gpr[r] & ~amask) | ((gpr[r] &+ delta) & amask)
    }
}
