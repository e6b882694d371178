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
        let d = try? fetchSlow(linear: cs.base &+ s.pointee.currentEIP, big: cs.big)
        exitInstructionPointer.pointee = d ?? DecodedInstruction()
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
