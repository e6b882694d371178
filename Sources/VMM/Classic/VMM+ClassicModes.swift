import Machine
import X86Core
import X86Decode

/// What ring compression cannot run: real mode, virtual-8086 mode and hardware task switches.
/// A pre-VT VMM could not deprivilege them honestly (VMware handed them to its emulator and
/// binary translator), so the classic VMM runs them "emulated": the guest at its own privilege
/// level (ring 0 at real ring 0, V86 at CPL 3), its own GDTR, IDTR, LDTR and TR in the CPU, with
/// `--virt=hw`'s intercepts (CR writes, CR3 reads, INVLPG, HLT, CPUID, MSRs, TASK_SWITCH) and read
/// shadows, and the policy's exception bitmap; the shadow MMU still translates.
///
/// - Real mode: while the guest's CR0.PE = 0 (`followClassicGuestMode`).
/// - Virtual-8086 mode: an IRETD of the guest kernel with VM in its frame. At real ring 1 the CPU
///   ignores VM (a protected-mode return, which faults on the V86 CS as a selector); the #GP
///   exits and the VMM re-executes the IRETD at real CPL 0 on the guest's tables. V86 code, its
///   interrupts and exceptions and the guest's ring-0 monitor then run natively.
/// - Task switches: the shadow copies of TSS descriptors and task gates are not present
///   (`RingCompression.shadowDescriptor`/`shadowGate`), and the VMM TSS's back link is 0, so a
///   far JMP/CALL to a TSS or task gate, an IRET with NT and INT n through a task gate fault
///   (#GP, #NP, #TS with the selector) and exit; an exception or interrupt the VMM delivers
///   through a task gate is recognized before delivery. The instruction is re-executed (the
///   event re-delivered) in the emulated mode, where the switch is a TASK_SWITCH exit as under
///   `--virt=hw` and runs on the guest's GDT and TSSs.
///
/// The guest goes back to ring compression at the first VM entry where it is in protected mode
/// with VM = 0 at CPL 0 or 3 (`resumeRingCompression`): the new task's TR, LDTR, CR3 (through
/// the shadow MMU), CS and SS at ring 1, the VMM TSS's ring-1 stack from the guest's TSS.
extension VMM {
    /// The emulated mode begins (see above). From ring compression the guest's descriptor-table
    /// registers go back into the CPU and CS/SS lose the ring-1 marks; `tablesLoaded`: the CPU
    /// already holds the guest's own (VMM.init at the reset vector, the guest's view of binary
    /// translation), and nothing is counted.
    func enterClassicEmulatedMode(_ c: ClassicState, _ mode: ClassicState.EmulatedMode, tablesLoaded: Bool = false) {
        let st = cpu.statePointer
        if c.emulated == nil && !tablesLoaded {
            st.pointee.gdtr = c.gdtr
            st.pointee.idtr = c.idtr
            loadGuestLDTRAndTR(c)
            decompressCodeAndStack()
            if st.pointee.cpl == 1 { st.pointee.cpl = 0 }
        }
        if !tablesLoaded && mode != c.emulated {
            switch mode {
            case .realMode: c.realModeEntries &+= 1
            case .v86: c.v86Entries &+= 1
            case .taskSwitch: c.taskSwitchEntries &+= 1
            }
        }
        if mode == .realMode { st.pointee.cpl = 0 }
        c.emulated = mode
        loadClassicCR4(c)
        applyClassicEmulatedControls()
        cpu.flushTLB()
        cpu.eflags = cpu.eflags  // re-evaluate the CPU's attention
    }

    /// The guest's LDTR and TR caches, from its GDT (TR = the power-on cache if it never ran LTR).
    func loadGuestLDTRAndTR(_ c: ClassicState) {
        let st = cpu.statePointer
        if let l = c.ldt {
            st.pointee.ldtr = SegmentCache(selector: c.ldtr, base: l.base, limit: l.limit, attributes: 0x82)
        } else {
            var ldtr = SegmentCache()
            ldtr.selector = c.ldtr
            st.pointee.ldtr = ldtr
        }
        if c.tr & ~7 != 0 && UInt32(c.tr | 7) <= UInt32(c.gdtr.limit) {
            st.pointee.tr = RingCompression.segmentCache(selector: c.tr, guestRead64(c.gdtr.base &+ UInt32(c.tr & ~7)))
        } else {
            st.pointee.tr = SegmentCache(selector: c.tr, base: 0, limit: 0xFFFF, attributes: 0x8B)
        }
    }

    /// CS and SS as the guest loaded them: RPL 1 → 0 and the compressed DPL 1 → 0 (also for the
    /// guest's view of binary translation, whose selectors already have RPL 0); the x87's last
    /// CS and operand selector likewise.
    func decompressCodeAndStack() {
        let st = cpu.statePointer
        guard st.pointee.flags & EFLAGS.vm == 0 else { return }
        for r in [SegmentRegister.cs, .ss] {
            let old = st.pointee[r]
            let rpl = old.selector & 3
            guard rpl == 1 || (rpl == 0 && st.pointee.cpl == 0 && old.dpl == 1) else { continue }
            let attributes = old.dpl == 1 ? old.attributes & ~0x60 : old.attributes
            st.pointee[r] = SegmentCache(selector: old.selector & ~3, base: old.base, limit: old.limit, attributes: attributes)
        }
        if st.pointee.fpu.instructionSelector & 3 == 1 { st.pointee.fpu.instructionSelector &= ~3 }
        if st.pointee.fpu.operandSelector & 3 == 1 { st.pointee.fpu.operandSelector &= ~3 }
    }

    /// The controls of the emulated modes: `--virt=hw`'s (the shadow MMU's CR and INVLPG exits
    /// included), except descriptor-table exiting (LGDT, LIDT, LLDT, LTR load the CPU's own
    /// registers, which are the guest's here), with the policy's exception bitmap.
    func applyClassicEmulatedControls() {
        cpu.intercepts = policy.intercepts.union([.cr0Write, .cr3Write, .cr3Read, .cr4Write, .invlpg])
            .subtracting(.descriptorTable)
        cpu.exitOnExceptions = policy.exceptions
        cpu.cr0GuestHostMask = 0xFFFF_FFFF
        cpu.cr4GuestHostMask = 0xFFFF_FFFF
        syncReadShadows()
    }

    /// The real CR4: the guest's, PSE off (shadow paging); UMIP (`--umip`) only under ring
    /// compression — code the emulated modes run at CPL 3 (V86) sees the guest's own.
    func loadClassicCR4(_ c: ClassicState) {
        let umip = c.umip && c.emulated == nil
        try? cpu.writeCR4(virtualCPU.cr4 & ~CR4.pse | (umip ? CR4.umip : 0))
    }

    /// Called after every emulated change of the guest's control registers: a change of CR0.PE
    /// switches between ring compression (or a V86/task-switch stretch) and real mode.
    func followClassicGuestMode() {
        guard let c = classic else { return }
        let real = virtualCPU.cr0 & CR0.pe == 0
        if real && !c.realMode {
            enterClassicEmulatedMode(c, .realMode)
        } else if !real && c.realMode {
            enterRingCompression(c)
        }
    }

    /// At VM entry: a V86 or task-switch stretch ends once the guest is back in protected mode
    /// with VM = 0 at CPL 0 or 3 (rings 1 and 2 of the guest itself stay emulated).
    func resumeRingCompression(_ c: ClassicState) {
        guard let m = c.emulated, m != .realMode, !c.inEmulation else { return }
        let st = cpu.statePointer.pointee
        guard st.cr0 & CR0.pe != 0, st.flags & EFLAGS.vm == 0, st.cpl == 0 || st.cpl == 3 else { return }
        enterRingCompression(c)
    }

    // MARK: What compression made fault

    /// A #TS, #NP, #SS or #GP exit of the ring-compressed guest (`d`: the instruction at EIP): a
    /// task switch or an entry into virtual-8086 mode that compression made fault? Then it is
    /// re-executed in the emulated mode (which raises the guest's own fault, if any, exactly).
    /// nil: not one of them.
    func classicModeSwitchFault(_ d: DecodedInstruction, vector: UInt8, errorCode: UInt32?) -> ClassicState.EmulatedMode? {
        guard let c = classic, d.map == 0 else { return nil }
        let st = cpu.statePointer.pointee
        guard st.cpl == 1 || st.cpl == 3 else { return nil }
        switch d.opcode {
        case 0xEA, 0x9A:  // JMP/CALL ptr16:16/32
            return farTransferNamesTask(c, errorCode) ? .taskSwitch : nil
        case 0xFF where d.reg == 3 || d.reg == 5:  // CALL/JMP m16:16/32
            return farTransferNamesTask(c, errorCode) ? .taskSwitch : nil
        case 0xCF:
            // IRET with NT: the CPU read the back link from the VMM's TSS (0) and raised #TS(0).
            if st.flags & EFLAGS.nt != 0 { return .taskSwitch }
            // IRETD of the guest kernel with VM in the frame (ring 1 ignores VM).
            guard st.cpl == 1, d.operandSize32 else { return nil }
            let ss = st.segments[2]
            let esp = ss.big ? st.regs[4] : st.regs[4] & 0xFFFF
            guard let flags = guestRead32(ss.base &+ esp &+ 8), flags & EFLAGS.vm != 0 else { return nil }
            return .v86
        case 0xCD, 0xCC, 0xCE, 0xF1:  // INT n, INT3, INTO, INT1 through a task gate
            guard let code = errorCode, code & 2 != 0, c.hasTaskGate(UInt8(truncatingIfNeeded: code >> 3)) else { return nil }
            return .taskSwitch
        default:
            return nil
        }
    }

    /// The selector of a far JMP/CALL's fault names a TSS or task gate in the guest's GDT or LDT.
    func farTransferNamesTask(_ c: ClassicState, _ errorCode: UInt32?) -> Bool {
        guard let code = errorCode, code & 3 == 0, code & ~7 != 0 else { return false }
        let index = code & 0xFFF8
        let d: UInt64
        if code & 4 == 0 {
            guard index + 7 <= UInt32(c.gdtr.limit) else { return false }
            d = guestRead64(c.gdtr.base &+ index)
        } else {
            guard let l = c.ldt, index + 7 <= l.limit else { return false }
            d = guestRead64(l.base &+ index)
        }
        return RingCompression.isTaskDescriptor(d)
    }

    /// Runs the instruction that faulted under compression again, in the emulated mode.
    func reexecuteEmulated(_ c: ClassicState, _ mode: ClassicState.EmulatedMode, _ d: DecodedInstruction,
                           vector: UInt8, errorCode: UInt32?) -> StopReason? {
        let what = mode == .v86 ? "entry into virtual-8086 mode" : "task switch"
        c.traps[OpcodeTable.shared.mnemonic(row: Int(d.row), wide: d.operandSize32) + (mode == .v86 ? " (to V86)" : " (task switch)"), default: 0] &+= 1
        record(.exceptionOrNMI, instruction: d, .exception(vector: vector, errorCode: errorCode, cr2: nil),
               action: "\(what): re-executed at the guest's privilege level on its own tables")
        enterClassicEmulatedMode(c, mode)
        // INT n retires before its delivery faults: the compressed attempt was the VMM's, and
        // must not count on the guest's clock (the instruction count, the TSC).
        if [0xCD, 0xCC, 0xCE, 0xF1].contains(d.opcode) { cpu.statePointer.pointee.instructions &-= 1 }
        // The event that interrupted it, a debugger breakpoint on it: already seen once.
        let savedRequest = cpu.interruptRequested
        let savedBreakpoints = cpu.breakpoints
        cpu.interruptRequested = false
        if !savedBreakpoints.isEmpty { cpu.breakpoints = [] }
        let exit = cpu.run(maxInstructions: 1)
        cpu.interruptRequested = savedRequest
        if !savedBreakpoints.isEmpty { cpu.breakpoints = savedBreakpoints }
        return handle(exit, deadline: nil)
    }

    /// Before the VMM delivers `vector` under ring compression (an exception it reflects, an
    /// external interrupt): would the delivery reach a task gate of the guest's IDT — the
    /// vector's own, or #DF's, #TS's, #NP's, #SS's, #GP's or #PF's should the delivery fault?
    /// Then it is delivered in the emulated mode (the shadow task gates are not present).
    func classicDeliveryNeedsTask(_ vector: UInt8) -> Bool {
        guard let c = classic, c.emulated == nil else { return false }
        return c.hasTaskGate(vector) || c.taskGates.0 & 0x7D00 != 0
    }

    func enterEmulatedForDelivery(_ vector: UInt8, external: Bool) {
        guard let c = classic else { return }
        c.traps[(external ? "interrupt" : Vector.name(vector)) + " (task gate)", default: 0] &+= 1
        enterClassicEmulatedMode(c, .taskSwitch)
    }

    /// Binary translation: the hole run in the guest's view (its GDT, LDT and TSS, CPL 0) was an
    /// IRET into V86 or a task switch. The guest's view is the emulated mode's state but for the
    /// IDT and the controls; it continues from there.
    func continueGuestViewEmulated(_ c: ClassicState, _ mode: ClassicState.EmulatedMode, mnemonic: String) {
        let st = cpu.statePointer
        st.pointee.gdtr = c.gdtr
        st.pointee.idtr = c.idtr
        if st.pointee.tr.selector == UInt16(ClassicState.Layout.tssIndex << 3) || st.pointee.ldtr.selector == UInt16(ClassicState.Layout.ldtIndex << 3) {
            loadGuestLDTRAndTR(c)
        }
        decompressCodeAndStack()
        c.traps[mnemonic + (mode == .v86 ? " (to V86)" : " (task switch)"), default: 0] &+= 1
        enterClassicEmulatedMode(c, mode, tablesLoaded: true)
        if mode == .v86 { c.v86Entries &+= 1 } else { c.taskSwitchEntries &+= 1 }
    }
}
