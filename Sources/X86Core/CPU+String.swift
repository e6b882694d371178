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
        // REP MOVS/STOS forward with 32-bit addresses: whole pages at once where the soft TLB
        // allows (`repBulk`), the rest one iteration at a time below.
        let bulk = rep && a32 && delta == UInt32(w) && (opc == 0xA4 || opc == 0xA5 || opc == 0xAA || opc == 0xAB)
        while true {
            if rep {
                if gpr[1] & amask == 0 { return }
                if iterations == Self.repChunk {
                    s.pointee.eip = s.pointee.currentEIP
                    return
                }
                if bulk {
                    let done = repBulk(movs: opc <= 0xA5, w: w, srcSeg: srcSeg, limit: Self.repChunk - iterations)
                    if done > 0 {
                        iterations += done
                        continue
                    }
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

    /// Up to `limit` iterations of a forward REP MOVS or STOS (32-bit addresses) done at once:
    /// the whole elements that lie in the current destination (and source) page, when the
    /// segments allow the whole range on their fast checks and the soft TLB already holds a plain
    /// RAM translation for each page (a write entry for the destination without the code bit).
    /// Anything else — a segment or page fault to raise, a page holding blocks, a traced or
    /// watched page (they never get write entries), alignment checking (bank 2 is never filled),
    /// a MOVS whose destination overlaps its source ahead of it — returns 0, and the caller runs
    /// one iteration the ordinary way. The registers, memory and iteration count end exactly as
    /// that many single iterations leave them: the same run, bit for bit, only faster. Linux's
    /// fork and exec copy and clear pages with REP MOVSD/STOSD: 4 KiB is 1,024 iterations.
    @inline(never)
    func repBulk(movs: Bool, w: Int, srcSeg: Int, limit: Int) -> Int {
        let st = s
        let bank = userMode ? Int(st.pointee.userBank) : 0
        let di = gpr[7]
        let es = st.pointee.segments[SegmentRegister.es.rawValue]
        let dLin = es.base &+ di
        var n = min(Int(gpr[1]), limit, (0x1000 - Int(dLin & 0xFFF)) / w)
        var sLin: UInt32 = 0
        var si: UInt32 = 0
        if movs {
            si = gpr[6]
            let src = st.pointee.segments[srcSeg]
            sLin = src.base &+ si
            n = min(n, (0x1000 - Int(sLin & 0xFFF)) / w)
            guard n > 0 else { return 0 }
            let last = si &+ UInt32(n * w - 1)
            if src.access & SegmentAccess.read == 0 || last > src.limit || last < si { return 0 }
        }
        guard n > 0 else { return 0 }
        let lastD = di &+ UInt32(n * w - 1)
        if es.access & SegmentAccess.write == 0 || lastD > es.limit || lastD < di { return 0 }
        let dSlot = tlbSlots[SoftTLB.index(dLin, bank: bank)]
        guard dSlot.writeTag == dLin & 0xFFFF_F000 else { return 0 }
        let pd = Int(dSlot.physPage | (dLin & 0xFFF))
        let bytes = n * w
        if movs {
            let sSlot = tlbSlots[SoftTLB.index(sLin, bank: bank)]
            guard sSlot.readTag == sLin & 0xFFFF_F000 else { return 0 }
            let ps = Int(sSlot.physPage | (sLin & 0xFFF))
            // Element by element forward, a destination inside the source ahead of it re-reads
            // what it just wrote (a pattern fill): only the ordinary path does that.
            if pd > ps && pd < ps + bytes { return 0 }
            (ram + pd).copyMemory(from: ram + ps, byteCount: bytes)
            gpr[6] = si &+ UInt32(bytes)
        } else {
            let v = gpr[0]
            switch w {
            case 1: (ram + pd).initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: v), count: n)
            case 2:
                for i in 0..<n { (ram + pd + 2 * i).storeBytes(of: UInt16(truncatingIfNeeded: v), as: UInt16.self) }
            default:
                for i in 0..<n { (ram + pd + 4 * i).storeBytes(of: v, as: UInt32.self) }
            }
        }
        gpr[7] = di &+ UInt32(bytes)
        gpr[1] = gpr[1] &- UInt32(n)
        bulkStringIterations &+= UInt64(n)
        return n
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
