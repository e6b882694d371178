import X86Decode

/// What an owner (the VMM) needs to emulate an instruction that exited: the instruction itself,
/// its ModRM operand, and a way to retire it as the hardware would have.
extension CPU {
    /// The instruction the last `.intercepted`, `.portIO` or `.halted` exit stopped at.
    public var exitInstruction: DecodedInstruction { exitInstructionPointer.pointee }

    /// Re-decodes the instruction at `currentEIP` (it was fetched a moment ago, so the fetch
    /// cannot fault; if the owner changed memory since, whatever is there now is decoded).
    func captureExitInstruction() {
        let cs = s.pointee.segments[1]
        let lin = cs.base &+ s.pointee.currentEIP
        // The instruction that exited was just executed from the decoded cache (or the scratch
        // slot, for a TLB miss or a page-crossing fetch), and an exit happens before anything
        // changed: copy it from there instead of decoding it again (most of an exit's cost).
        if let cached = cachedInstruction(linear: lin, big: cs.big) {
            exitInstructionPointer.pointee = cached.pointee
            return
        }
        let d = try? fetchSlow(linear: lin, big: cs.big)
        exitInstructionPointer.pointee = d ?? DecodedInstruction()
    }

    /// The decoded-cache entry `step` would execute at `linear`, if it is there and still
    /// matches memory; nil where `step` would take the slow fetch.
    private func cachedInstruction(linear lin: UInt32, big: Bool) -> UnsafePointer<DecodedInstruction>? {
        let st = s
        let slot = tlbSlots[SoftTLB.index(lin, bank: st.pointee.cpl == 3 ? Int(st.pointee.userBank) : 0)]
        let offset = lin & 0xFFF
        guard offset <= 0xFF0 && slot.readTag == lin & 0xFFFF_F000 else { return nil }
        let phys = slot.physPage | offset
        let key = UInt64(phys) | (big ? 1 << 32 : 0)
        let entry = cacheEntries + DecodedCache.index(phys)
        guard cacheHolds(entry, phys: phys, key: key) else { return nil }
        return UnsafeRawPointer(entry).advanced(by: CachedInstruction.instructionOffset)
            .assumingMemoryBound(to: DecodedInstruction.self)
    }

    /// Reads the exiting instruction's ModRM operand (LMSW m16, for instance) with the guest's
    /// segmentation and paging; a fault is the guest's to take (inject it).
    public func readExitOperand(size: Int) throws(Fault) -> UInt32 {
        try readE(InstructionRef(UnsafePointer(exitInstructionPointer)), size: size)
    }

    /// The linear address of the exiting instruction's memory operand (INVLPG's qualification).
    public func exitOperandLinearAddress() -> UInt32 {
        let (seg, off) = effectiveAddress(InstructionRef(UnsafePointer(exitInstructionPointer)))
        return s.pointee.segments[seg].base &+ off
    }

    /// Retires the exiting instruction after the owner emulated it: EIP past it, the count, the
    /// end of an interrupt shadow, and the single-step trap a TF=1 instruction owes.
    public func completeEmulatedInstruction() {
        let st = s
        let next = st.pointee.currentEIP &+ UInt32(exitInstructionPointer.pointee.length)
        st.pointee.eip = st.pointee.segments[1].big ? next : next & 0xFFFF
        st.pointee.instructions &+= 1
        st.pointee.interruptShadow = false
        st.pointee.flags &= ~EFLAGS.rf
        if st.pointee.flags & EFLAGS.tf != 0 { ownerCompletedTrap = true }
        updateAttention()
    }

    /// Asks for `boundaryCallback` before the next instruction starts.
    public func requestBoundaryCallback() {
        boundaryCallbackRequested = true
        attention = true
    }

    /// Reads or writes a general register (EAX = 0 … EDI = 7), 32 bits.
    public func register(_ index: Int) -> UInt32 { gpr[index & 7] }
    public func setRegister(_ index: Int, _ value: UInt32) { gpr[index & 7] = value }
}

extension CPU {
    /// Decodes the instruction at CS:EIP through the MMU (a pre-VT VMM reads the instruction that
    /// trapped) and makes it the exit instruction, so `readExitOperand`,
    /// `exitOperandLinearAddress` and `completeEmulatedInstruction` work on it. nil if it cannot
    /// be fetched or decoded.
    public func captureInstructionAtEIP() -> DecodedInstruction? {
        let cs = s.pointee.segments[1]
        s.pointee.currentEIP = s.pointee.eip
        guard let d = try? fetchSlow(linear: cs.base &+ s.pointee.eip, big: cs.big) else { return nil }
        exitInstructionPointer.pointee = d
        return d
    }
}
