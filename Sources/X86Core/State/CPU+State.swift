import X86Decode

// The CPU's part of a machine snapshot (section "CPU "): every `CPUState` field by name, then
// the CPU object's own state that changes what happens next, then the soft TLB.
//
//     CPUState   GPRs, EIP, current EIP, EFLAGS, LazyFlags (op, size, result, dst, src, aux),
//                ES CS SS DS FS GS LDTR TR (selector, attributes, base, limit: `access` is
//                recomputed), GDTR, IDTR, CR0 CR2 CR3 CR4, paging root, DR0–DR7, CPL, user TLB
//                bank, interrupt shadow, halted, NMI blocked, instruction count, TSC offset, SYSENTER_CS/ESP/
//                EIP, APIC base, MISC_ENABLE, PAT
//     events     interrupt requested, NMI requested, vector being delivered, pending port access (+ its
//                instruction), the last exit's instruction, the exception chain (≤ 8)
//     owner      exception bitmap, intercepts, CR0/CR4 guest/host masks and read shadows
//     in flight  boundary callback requested, #PF address, owed single-step trap, breakpoint
//                skip, held debug traps (MOV SS), held single step, held breakpoint hits, RF set
//                by the instruction, data breakpoint hits
//     TLB        large pages held, then every valid slot of the supervisor and user banks
//                (slot, read tag, write tag, physical page, global)
//
// A `DecodedInstruction` is written field by field (22 bytes: row, length, prefixes, segment,
// ModRM, SIB, form, displacement, immediate, immediate2, opcode, map), not as raw struct bytes,
// so the file does not depend on the host's layout; the row is checked against the opcode table.
//
// The soft TLB is saved, not flushed: on bare hardware and with the direct MMU a guest that
// edits a PTE without INVLPG keeps using the old translation (and its A/D bits stay as they
// are) until the entry is evicted, and a resumed run must do the same. Its fill log is rebuilt.
// The decoded-instruction cache is not saved: every hit is validated against RAM, so it cannot
// change behaviour. Not saved either, because they belong to the owner and not to the machine:
// the debugger's breakpoints, watchpoints and stop request, and the owner's callbacks.
// `pendingExit` is only set inside `run` and is always `.instructionLimit` between runs.

extension CPU {
    /// Appends the CPU's state (section "CPU ").
    public func saveState(to w: inout StateWriter) {
        let st = s.pointee
        w.tag("CPU ")
        for i in 0..<8 { w.put(st.regs[i]) }
        w.put(st.eip)
        w.put(st.currentEIP)
        w.put(st.flags)
        w.put(st.lazy.op.rawValue)
        w.put(st.lazy.size)
        w.put(st.lazy.result)
        w.put(st.lazy.dst)
        w.put(st.lazy.src)
        w.put(st.lazy.aux)
        for i in 0..<6 { Self.put(st.segments[i], to: &w) }
        Self.put(st.ldtr, to: &w)
        Self.put(st.tr, to: &w)
        w.put(st.gdtr.base); w.put(st.gdtr.limit)
        w.put(st.idtr.base); w.put(st.idtr.limit)
        w.put(st.cr0); w.put(st.cr2); w.put(st.cr3); w.put(st.cr4)
        w.put(st.pagingRoot)
        for i in 0..<8 { w.put(st.dr[i]) }
        w.put(st.cpl)
        w.put(st.userBank)
        w.put(st.interruptShadow)
        w.put(st.halted)
        w.put(st.nmiBlocked)
        w.put(st.instructions)
        w.put(st.tscOffset)
        w.put(st.sysenterCS); w.put(st.sysenterESP); w.put(st.sysenterEIP)
        w.put(st.apicBase)
        w.put(st.miscEnable)
        w.put(st.pat)
        Self.put(st.fpu, to: &w)

        w.put(interruptRequested)
        w.put(nmiRequested)
        w.put(deliveringVector)
        w.put(pendingPort != nil)
        if let p = pendingPort {
            w.put(p.port); w.put(p.size); w.put(p.isIn); w.put(p.isString); w.put(p.isRep); w.put(p.value)
        }
        Self.put(pendingPortInstruction, to: &w)
        Self.put(exitInstructionPointer.pointee, to: &w)
        w.put(UInt32(exceptionChain.count))
        for e in exceptionChain { w.put(e.vector); w.put(e.errorCode); w.put(e.eip) }

        w.put(exitOnExceptions)
        w.put(intercepts.rawValue)
        w.put(cr0GuestHostMask); w.put(cr0ReadShadow)
        w.put(cr4GuestHostMask); w.put(cr4ReadShadow)

        w.put(boundaryCallbackRequested)
        w.put(pageFaultAddress)
        w.put(ownerCompletedTrap)
        w.put(skipOwnerBreakpointOnce)
        w.put(debugTrapsHeld)
        w.put(singleStepHeld)
        w.put(heldBreakpointHits)
        w.put(rfSetByInstruction)
        w.put(dataBreakpointHits)

        w.put(tlb.holdsLargePages)
        let slots = tlb.slots
        var valid: UInt32 = 0
        for i in 0..<(SoftTLB.entries * 2) where slots[i].readTag != SoftTLB.invalidTag { valid += 1 }
        w.put(valid)
        for i in 0..<(SoftTLB.entries * 2) where slots[i].readTag != SoftTLB.invalidTag {
            let e = slots[i]
            // A code page's write tag is the block engine's business, not the TLB's: saved as
            // the plain writable tag it stands for, so both engines write the same snapshot.
            w.put(UInt16(i)); w.put(e.readTag); w.put(e.writeTag & ~SoftTLB.codeTagBit); w.put(e.physPage); w.put(e.global)
        }
    }

    /// Reads what `saveState` wrote. On a throw nothing has changed.
    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    public func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("CPU ")
        var st = CPUState()
        for i in 0..<8 { st.regs[i] = try r.get() }
        st.eip = try r.get()
        st.currentEIP = try r.get()
        st.flags = try r.get()
        let opAt = r.offset
        guard let op = FlagOp(rawValue: try r.get()) else {
            throw StateError("snapshot corrupt: lazy flags operation at byte \(opAt)")
        }
        st.lazy.op = op
        st.lazy.size = try r.get()
        guard st.lazy.size <= 2 else { throw StateError("snapshot corrupt: lazy flags size \(st.lazy.size)") }
        st.lazy.result = try r.get()
        st.lazy.dst = try r.get()
        st.lazy.src = try r.get()
        st.lazy.aux = try r.get()
        for i in 0..<6 { st.segments[i] = try Self.segment(from: &r) }
        st.ldtr = try Self.segment(from: &r)
        st.tr = try Self.segment(from: &r)
        st.gdtr = TableRegister(base: try r.get(), limit: try r.get())
        st.idtr = TableRegister(base: try r.get(), limit: try r.get())
        st.cr0 = try r.get(); st.cr2 = try r.get(); st.cr3 = try r.get(); st.cr4 = try r.get()
        st.pagingRoot = try r.get()
        for i in 0..<8 { st.dr[i] = try r.get() }
        st.cpl = try r.get()
        guard st.cpl <= 3 else { throw StateError("snapshot corrupt: CPL \(st.cpl)") }
        st.userBank = try r.get()
        guard st.userBank == 1 || st.userBank == 2 else { throw StateError("snapshot corrupt: TLB bank \(st.userBank)") }
        st.interruptShadow = try r.getBool()
        st.halted = try r.getBool()
        st.nmiBlocked = try r.getBool()
        st.instructions = try r.get()
        st.tscOffset = try r.get()
        st.sysenterCS = try r.get(); st.sysenterESP = try r.get(); st.sysenterEIP = try r.get()
        st.apicBase = try r.get()
        st.miscEnable = try r.get()
        st.pat = try r.get()
        st.fpu = try Self.fpu(from: &r)

        let requested = try r.getBool()
        let nmi = try r.getBool()
        let delivering: UInt8 = try r.get()
        var port: PortAccess? = nil
        if try r.getBool() {
            let number: UInt16 = try r.get()
            let size: UInt8 = try r.get()
            guard size == 1 || size == 2 || size == 4 else { throw StateError("snapshot corrupt: port access size \(size)") }
            port = PortAccess(port: number, size: size, isIn: try r.getBool(), isString: try r.getBool(),
                              isRep: try r.getBool(), value: try r.get())
        }
        let portInstruction = try Self.instruction(from: &r)
        let exitInstruction = try Self.instruction(from: &r)
        let chainCount = try r.getCount(limit: 8)
        var chain: [(vector: UInt8, errorCode: UInt32?, eip: UInt32)] = []
        for _ in 0..<chainCount {
            let vector: UInt8 = try r.get()
            let code: UInt32? = try r.getOptional()
            let eip: UInt32 = try r.get()
            chain.append((vector: vector, errorCode: code, eip: eip))
        }

        let exceptionBitmap: UInt32 = try r.get()
        let interceptBits: UInt32 = try r.get()
        let cr0Mask: UInt32 = try r.get(), cr0Shadow: UInt32 = try r.get()
        let cr4Mask: UInt32 = try r.get(), cr4Shadow: UInt32 = try r.get()

        let callbackRequested = try r.getBool()
        let faultAddress: UInt32 = try r.get()
        let completedTrap = try r.getBool()
        let skipBreakpoint = try r.getBool()
        let trapsHeld = try r.getBool()
        let stepHeld = try r.getBool()
        let heldHits: UInt32 = try r.get()
        let rfSet = try r.getBool()
        let dataHits: UInt32 = try r.get()

        let largePages = try r.getBool()
        let count = try r.getCount(limit: SoftTLB.entries * 2)
        var entries: [(slot: Int, entry: TLBEntry)] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let at = r.offset
            let slot = Int(try r.get(UInt16.self))
            let e = TLBEntry(readTag: try r.get(), writeTag: try r.get(), physPage: try r.get(), global: try r.getBool())
            // A slot the fast path would use must point at a whole page of RAM, at its own index.
            guard slot < SoftTLB.entries * 2, e.readTag & 0xFFF == 0,
                  SoftTLB.index(e.readTag, user: slot >= SoftTLB.entries) == slot,
                  e.writeTag == e.readTag || e.writeTag == SoftTLB.invalidTag,
                  e.physPage & 0xFFF == 0, memory.isPlainRAMPage(e.physPage)
            else { throw StateError("snapshot corrupt: soft-TLB entry at byte \(at)") }
            entries.append((slot, e))
        }

        return {
            self.s.pointee = st
            self.interruptRequested = requested
            self.nmiRequested = nmi
            self.deliveringVector = delivering
            self.pendingPort = port
            self.pendingPortInstruction = portInstruction
            self.exitInstructionPointer.pointee = exitInstruction
            self.exceptionChain = chain
            self.exitOnExceptions = exceptionBitmap
            self.intercepts = Intercept(rawValue: interceptBits)
            self.cr0GuestHostMask = cr0Mask
            self.cr0ReadShadow = cr0Shadow
            self.cr4GuestHostMask = cr4Mask
            self.cr4ReadShadow = cr4Shadow
            self.boundaryCallbackRequested = callbackRequested
            self.pageFaultAddress = faultAddress
            self.ownerCompletedTrap = completedTrap
            self.skipOwnerBreakpointOnce = skipBreakpoint
            self.debugTrapsHeld = trapsHeld
            self.singleStepHeld = stepHeld
            self.heldBreakpointHits = heldHits
            self.rfSetByInstruction = rfSet
            self.dataBreakpointHits = dataHits
            self.pendingExit = .instructionLimit
            self.restoreTLB(entries, holdsLargePages: largePages)
            self.updateAttention()
        }
    }

    /// Empties the soft TLB and refills it with `entries`, except pages that now hold an owner
    /// watchpoint (the debugger's watches are not part of the snapshot; their pages must stay out).
    private func restoreTLB(_ entries: [(slot: Int, entry: TLBEntry)], holdsLargePages: Bool) {
        // Blocks are decoded from RAM the restore may have replaced: none survives, so no page
        // is a code page and the restored write tags are right as they are.
        memory.allPagesReplaced()
        tlb.flush(keepGlobal: false)
        tlb.holdsLargePages = holdsLargePages
        for (slot, e) in entries {
            if hasOwnerWatches && pageHasOwnerWatch(e.readTag) { continue }
            tlb.slots[slot] = e
            if tlb.filledCount < SoftTLB.fillLogCapacity {
                tlb.filled[tlb.filledCount] = Int32(slot)
                tlb.filledCount += 1
            } else {
                tlb.overflowed = true
            }
        }
    }

    /// The x87/SSE state: R0–R7 (significand, sign and exponent), FCW, FSW, the full tag word,
    /// FOP, FIP, FCS, FDP, FDS, XMM0–XMM7 (low, high), MXCSR, IGNNE#.
    private static func put(_ f: FPUState, to w: inout StateWriter) {
        for i in 0..<8 { w.put(f.registers[i].significand); w.put(f.registers[i].signExponent) }
        w.put(f.control); w.put(f.status); w.put(f.tags); w.put(f.lastOpcode)
        w.put(f.instructionPointer); w.put(f.instructionSelector)
        w.put(f.operandPointer); w.put(f.operandSelector)
        for i in 0..<8 { w.put(f.xmm[i].low); w.put(f.xmm[i].high) }
        w.put(f.mxcsr)
        w.put(UInt8(f.ignoreNumericError ? 1 : 0))
    }

    private static func fpu(from r: inout StateReader) throws(StateError) -> FPUState {
        var f = FPUState()
        for i in 0..<8 { f.registers[i] = X87Register(significand: try r.get(), signExponent: try r.get()) }
        f.control = try r.get(); f.status = try r.get(); f.tags = try r.get(); f.lastOpcode = try r.get()
        guard f.lastOpcode < 0x800 else { throw StateError("snapshot corrupt: x87 last opcode \(f.lastOpcode)") }
        f.instructionPointer = try r.get(); f.instructionSelector = try r.get()
        f.operandPointer = try r.get(); f.operandSelector = try r.get()
        for i in 0..<8 { f.xmm[i] = XMMRegister(low: try r.get(), high: try r.get()) }
        let at = r.offset
        f.mxcsr = try r.get()
        // Bits 31:16 of MXCSR are reserved: LDMXCSR and FXRSTOR fault on them (SDM Vol. 1 §10.2.3).
        guard f.mxcsr & 0xFFFF_0000 == 0 else { throw StateError("snapshot corrupt: MXCSR at byte \(at)") }
        let ignne: UInt8 = try r.get()
        guard ignne <= 1 else { throw StateError("snapshot corrupt: IGNNE# byte \(ignne)") }
        f.ignoreNumericError = ignne == 1
        return f
    }

    private static func put(_ c: SegmentCache, to w: inout StateWriter) {
        w.put(c.selector); w.put(c.attributes); w.put(c.base); w.put(c.limit)
    }

    private static func segment(from r: inout StateReader) throws(StateError) -> SegmentCache {
        let selector: UInt16 = try r.get()
        let attributes: UInt16 = try r.get()
        return SegmentCache(selector: selector, base: try r.get(), limit: try r.get(), attributes: attributes)
    }

    static func put(_ d: DecodedInstruction, to w: inout StateWriter) {
        w.put(d.row); w.put(d.length); w.put(d.prefixes.rawValue); w.put(d.segment.rawValue)
        w.put(d.modrm); w.put(d.sib); w.put(d.form.rawValue)
        w.put(d.displacement); w.put(d.immediate); w.put(d.immediate2)
        w.put(d.opcode); w.put(d.map)
    }

    static func instruction(from r: inout StateReader) throws(StateError) -> DecodedInstruction {
        let at = r.offset
        var d = DecodedInstruction()
        d.row = try r.get()
        d.length = try r.get()
        d.prefixes = Prefixes(rawValue: try r.get())
        let segment = SegmentOverride(rawValue: try r.get())
        d.modrm = try r.get()
        d.sib = try r.get()
        d.form = Form(rawValue: try r.get())
        d.displacement = try r.get()
        d.immediate = try r.get()
        d.immediate2 = try r.get()
        d.opcode = try r.get()
        d.map = try r.get()
        // An empty instruction (length 0) is the "none yet" value.
        guard let segment, Int(d.row) < OpcodeTable.rows.count, d.length <= 15, d.map <= 1 else {
            throw StateError("snapshot corrupt: decoded instruction at byte \(at)")
        }
        d.segment = segment
        return d
    }
}
