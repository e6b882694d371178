/// Interrupt and exception delivery through the IDT, the double-fault rules, and IRET
/// (SDM Vol. 3A §6.10–§6.15, Vol. 2A INT n/INTO/INT3/INT1, IRET).
extension CPU {
    /// Delivers `vector` or, if the owner asked (`exitOnExceptions`), returns it as an exit.
    /// Faults during delivery are combined by the SDM's Table 6-5: contributory + contributory
    /// or #PF + (#PF or contributory) become #DF; a fault while delivering #DF is a triple
    /// fault (shutdown). INT n and external interrupts are benign whatever their vector (Table
    /// 6-4): `int 13` failing its gate check is #GP, not #DF.
    func deliverOrExit(vector: UInt8, errorCode: UInt32?, software: Bool, isTrap: Bool,
                       isINT3: Bool = false) -> ExitReason? {
        var v = vector
        var code = errorCode
        var ext: UInt32 = software ? 0 : 1
        var soft = software
        var chain = 0
        // The event is an exception (its class counts for the double-fault rules) and a fault
        // (its pushed EFLAGS image has RF = 1, SDM Vol. 3A §17.3.1.1).
        var isException = !software && !deliveringExternalInterrupt
        var isFault = !isTrap
        while true {
            recordException(v, code)
            if (!soft || isINT3) && v < 32 && exitOnExceptions & (1 << UInt32(v)) != 0 {
                return .exception(vector: v, errorCode: code)
            }
            do throws(Fault) {
                try deliver(vector: v, errorCode: code, software: soft, ext: ext, isINT3: isINT3,
                            pushRF: isException && isFault && Vector.setsRF(v))
                // A delivery takes one instruction time on the virtual clock: a guest caught in
                // an exception loop that never retires an instruction still reaches its budget.
                s.pointee.instructions &+= 1
                s.pointee.halted = false
                updateAttention()
                deliveryObserver?(v, code, soft)
                return nil
            } catch {
                if error.kind == .exit { return pendingExitAfterDeliveryFailure() }
                chain += 1
                let second = error.vector
                if (isException && v == Vector.doubleFault) || chain > 3 {
                    recordException(second, error.hasErrorCode ? error.errorCode : nil)
                    return .shutdown
                }
                let firstContributory = isException && Vector.isContributory(v)
                let secondContributory = Vector.isContributory(second)
                if (firstContributory && secondContributory)
                    || (isException && v == Vector.pageFault && (secondContributory || second == Vector.pageFault)) {
                    recordException(second, error.hasErrorCode ? error.errorCode : nil)
                    v = Vector.doubleFault
                    code = 0
                } else {
                    v = second
                    code = error.hasErrorCode ? error.errorCode : nil
                }
                // A fault raised while delivering INT n is a fault of the INT instruction itself.
                if soft { s.pointee.eip = s.pointee.currentEIP }
                // Exceptions raised by the delivery of another event are external events,
                // except those caused by INT n itself.
                ext = soft ? 0 : 1
                soft = false
                isException = true
                isFault = true
            }
        }
    }

    private func pendingExitAfterDeliveryFailure() -> ExitReason {
        let exit = pendingExit
        pendingExit = .instructionLimit
        return exit
    }

    func recordException(_ v: UInt8, _ code: UInt32?) {
        if exceptionChain.count >= 8 { exceptionChain.removeFirst() }
        exceptionChain.append((v, code, s.pointee.eip))
    }

    /// INT n, INT3, INTO, INT1: a trap (EIP after the instruction is pushed), delivered by the
    /// loop once the instruction has retired. INT n/INT3/INTO check the gate DPL against CPL;
    /// INT1 (ICEBP) does not.
    /// In virtual-8086 mode INT n (not INT3 or INTO, as on the 386 and in Bochs) is
    /// IOPL-sensitive: #GP(0) to the monitor when IOPL < 3 (SDM Vol. 3A §20.3.3, Table 20-2).
    func softwareInterrupt(_ vector: UInt8, isINT3: Bool, icebp: Bool = false) throws(Fault) {
        if !isINT3 && v86Mode {
            if try redirectV86Interrupt(vector) { return }
            try checkV86IOPL()
        }
        throw Fault(kind: .softwareInterrupt, vector: vector, hasErrorCode: false,
                    errorCode: (isINT3 ? 1 : 0) | (icebp ? 2 : 0))
    }

    /// Delivers an external interrupt now (the owner's interrupt controller chose `vector` after
    /// an `.interruptWindow` exit). Returns `.shutdown` if delivery triple-faults.
    @discardableResult
    public func deliverInterrupt(vector: UInt8) -> ExitReason? {
        interruptRequested = false
        s.pointee.halted = false
        s.pointee.currentEIP = s.pointee.eip
        deliveringExternalInterrupt = true
        let r = deliverOrExit(vector: vector, errorCode: nil, software: false, isTrap: true)
        deliveringExternalInterrupt = false
        updateAttention()
        return r
    }

    /// Delivers an NMI now (the owner saw `nmiDeliverable` after an `.interruptWindow` exit, or
    /// injects one at VM entry): interrupt 2 through the IDT (or the IVT), whatever IF says, as an
    /// external event (EXT = 1 in an error code its delivery raises), a benign one for the
    /// double-fault rules. NMIs stay blocked until the next IRET (SDM Vol. 3A §6.7.1); the CPU
    /// leaves HLT. Returns `.shutdown` if delivery triple-faults, or an exit it raised.
    @discardableResult
    public func deliverNMI() -> ExitReason? {
        nmiRequested = false
        s.pointee.nmiBlocked = true
        s.pointee.halted = false
        s.pointee.currentEIP = s.pointee.eip
        deliveringExternalInterrupt = true
        let r = deliverOrExit(vector: Vector.nmi, errorCode: nil, software: false, isTrap: true)
        deliveringExternalInterrupt = false
        updateAttention()
        return r
    }

    /// Injects an exception as the VMM's event injection does (delivered before the next
    /// instruction, as if the current instruction had faulted).
    @discardableResult
    public func injectException(vector: UInt8, errorCode: UInt32?) -> ExitReason? {
        s.pointee.currentEIP = s.pointee.eip
        let r = deliverOrExit(vector: vector, errorCode: errorCode, software: false, isTrap: false)
        updateAttention()
        return r
    }

    /// One delivery through the IDT.
    /// `pushRF`: a fault-class exception, whose EFLAGS image (on the stack or in the old TSS)
    /// has RF set so that IRET back to the faulting instruction does not retrigger its
    /// instruction breakpoint (SDM Vol. 3A §17.3.1.1).
    func deliver(vector: UInt8, errorCode: UInt32?, software: Bool, ext: UInt32, isINT3: Bool,
                 pushRF: Bool = false) throws(Fault) {
        let st = s
        if st.pointee.cr0 & CR0.pe == 0 {
            try deliverRealMode(vector: vector)
            return
        }
        let idtCode = UInt32(vector) * 8 + 2 + ext
        let entry = UInt32(vector) * 8
        if entry + 7 > UInt32(st.pointee.idtr.limit) { throw Fault.gp(idtCode) }
        let low = try readSystem(st.pointee.idtr.base &+ entry, size: 4)
        let high = try readSystem(st.pointee.idtr.base &+ entry &+ 4, size: 4)
        let gate = Descriptor(low: low, high: high)
        let type = gate.type
        // Task (5), 16-bit interrupt/trap (6, 7), 32-bit interrupt/trap (E, F) gates only.
        guard !gate.isSegment, 0xC0E0 & (1 << UInt32(type)) != 0 else { throw Fault.gp(idtCode) }
        let cpl = st.pointee.cpl
        if software && gate.dpl < cpl { throw Fault.gp(UInt32(vector) * 8 + 2) }
        if !gate.present { throw Fault.np(idtCode) }
        if type == 0x5 {
            // A task gate: the handler is a task (SDM Vol. 3A §6.12.2). The error code goes on
            // the new task's stack.
            let (tss, address) = try taskGateTarget(gate.gateSelector, ext: ext)
            var event = TaskSwitchRequest(selector: gate.gateSelector, source: .taskGate)
            event.vector = vector
            event.errorCode = errorCode
            event.software = software
            event.isINT3 = isINT3
            event.external = deliveringExternalInterrupt
            try taskSwitch(selector: gate.gateSelector, desc: tss, address: address, source: .taskGate,
                           errorCode: errorCode, ext: ext, event: event, savedRF: pushRF)
            return
        }
        let codeSel = gate.gateSelector
        if codeSel & 0xFFFC == 0 { throw Fault.gp(ext) }
        let (code, codeAddress): (Descriptor, UInt32)
        do throws(Fault) {
            (code, codeAddress) = try readDescriptor(codeSel)
        } catch {
            if error.vector == Vector.generalProtection { throw Fault.gp(UInt32(codeSel & 0xFFFC) | ext) }
            throw error
        }
        let csCode = UInt32(codeSel & 0xFFFC) | ext
        if !code.isCode || code.dpl > cpl { throw Fault.gp(csCode) }
        if !code.present { throw Fault.np(csCode) }
        // From virtual-8086 mode only a ring-0, non-conforming handler will do.
        let fromV86 = st.pointee.flags & EFLAGS.vm != 0
        if fromV86 && (code.isConforming || code.dpl != 0) { throw Fault.gp(csCode) }
        let gate32 = type & 8 != 0
        let gsz = gate32 ? 4 : 2
        let target = gate32 ? gate.gateOffset : gate.gateOffset & 0xFFFF
        if target > code.limit { throw Fault.gp(ext) }
        let flags = materializedFlags() | (pushRF ? EFLAGS.rf : 0)
        let returnEIP = st.pointee.eip
        let oldCS = UInt32(st.pointee.segments[1].selector)
        let newCPL: UInt8
        if !code.isConforming && code.dpl < cpl {
            newCPL = code.dpl
            let (newSS, startESP) = try innerStack(dpl: newCPL, ext: ext)
            var esp = startESP
            if fromV86 {
                // GS, FS, DS, ES first, then the usual frame (SDM Vol. 3A §20.3.1.1, Figure 20-4).
                for seg in [5, 4, 3, 0] {
                    try pushOn(newSS, esp: &esp, UInt32(st.pointee.segments[seg].selector), size: gsz)
                }
            }
            try pushOn(newSS, esp: &esp, UInt32(st.pointee.segments[2].selector), size: gsz)
            try pushOn(newSS, esp: &esp, gpr[4], size: gsz)
            try pushOn(newSS, esp: &esp, flags, size: gsz)
            try pushOn(newSS, esp: &esp, oldCS, size: gsz)
            try pushOn(newSS, esp: &esp, returnEIP, size: gsz)
            if let e = errorCode { try pushOn(newSS, esp: &esp, e, size: gsz) }
            st.pointee.segments[2] = newSS
            gpr[4] = esp
            if fromV86 {
                // The handler must not use the V86 paragraphs as protected-mode selectors.
                for seg in [0, 3, 4, 5] { st.pointee.segments[seg] = SegmentCache() }
                modeCounters.v86Exits &+= 1
            }
        } else {
            newCPL = cpl
            let ss = st.pointee.segments[2]
            var esp = gpr[4]
            try pushOn(ss, esp: &esp, flags, size: gsz)
            try pushOn(ss, esp: &esp, oldCS, size: gsz)
            try pushOn(ss, esp: &esp, returnEIP, size: gsz)
            if let e = errorCode { try pushOn(ss, esp: &esp, e, size: gsz) }
            gpr[4] = esp
        }
        try markAccessed(code, at: codeAddress)
        loadCS(code, selector: codeSel, cpl: newCPL)
        st.pointee.eip = target
        st.pointee.lazy.op = .none
        var newFlags = flags & ~(EFLAGS.tf | EFLAGS.nt | EFLAGS.rf | EFLAGS.vm)
        if type & 1 == 0 { newFlags &= ~EFLAGS.if }
        st.pointee.flags = newFlags
    }

    /// Real-address mode: the IVT at IDTR.base holds 4-byte CS:IP vectors (SDM Vol. 3A §20.1.4).
    func deliverRealMode(vector: UInt8) throws(Fault) {
        let st = s
        let entry = UInt32(vector) * 4
        if entry + 3 > UInt32(st.pointee.idtr.limit) { throw Fault.gp(UInt32(vector) * 8 + 2) }
        let ip = try readSystem(st.pointee.idtr.base &+ entry, size: 2)
        let cs = try readSystem(st.pointee.idtr.base &+ entry &+ 2, size: 2)
        let flags = materializedFlags()
        let esp = gpr[4]
        do throws(Fault) {
            try push(flags & 0xFFFF, size: 2)
            try push(UInt32(st.pointee.segments[1].selector), size: 2)
            try push(st.pointee.eip & 0xFFFF, size: 2)
        } catch { gpr[4] = esp; throw error }
        st.pointee.lazy.op = .none
        st.pointee.flags = flags & ~(EFLAGS.if | EFLAGS.tf | EFLAGS.ac | EFLAGS.rf)
        realModeFarTransfer(selector: UInt16(cs), offset: ip)
    }

    /// IRET/IRETD: real mode, inside virtual-8086 mode, a nested-task return (NT = 1: a task
    /// switch), a return to virtual-8086 mode, or a protected-mode return whose flag update rules
    /// follow POPF's by the CPL before the return.
    func iret(sz: Int) throws(Fault) {
        let st = s
        // IRET ends NMI blocking even when it then faults (SDM Vol. 3C §27.2.3: the exit
        // information of a faulting IRET says NMIs were already unblocked).
        if st.pointee.nmiBlocked {
            st.pointee.nmiBlocked = false
            if nmiRequested { updateAttention() }
        }
        let flags = materializedFlags()
        if st.pointee.cr0 & CR0.pe == 0 {
            let ip = try peekStack(size: sz)
            let cs = try peekStack(size: sz, depth: UInt32(sz))
            let f = try peekStack(size: sz, depth: UInt32(2 * sz))
            adjustStack(UInt32(3 * sz))
            realModeFarTransfer(selector: UInt16(truncatingIfNeeded: cs), offset: sz == 4 ? ip : ip & 0xFFFF)
            let mask: UInt32 = sz == 4 ? EFLAGS.writable & ~(EFLAGS.vm | EFLAGS.vip | EFLAGS.vif) : 0xFFFF & EFLAGS.writable
            st.pointee.lazy.op = .none
            st.pointee.flags = (flags & ~mask) | (f & mask) | EFLAGS.fixed1
            updateAttention()
            return
        }
        if flags & EFLAGS.vm != 0 {
            try iretInV86(sz: sz)
            return
        }
        if flags & EFLAGS.nt != 0 {
            // Nested-task return to the task in the back link (SDM Vol. 2A IRET "TASK-RETURN").
            try iretToPreviousTask()
            return
        }
        let eip = try peekStack(size: sz)
        let csSel = UInt16(truncatingIfNeeded: try peekStack(size: sz, depth: UInt32(sz)))
        let newFlagsRaw = try peekStack(size: sz, depth: UInt32(2 * sz))
        let cpl = st.pointee.cpl
        if sz == 4 && newFlagsRaw & EFLAGS.vm != 0 && cpl == 0 {
            try iretToV86()
            return
        }
        let (desc, address) = try checkReturnCodeSegment(csSel, cpl: cpl)
        let rpl = UInt8(csSel & 3)
        let target = sz == 4 ? eip : eip & 0xFFFF
        var newSS: SegmentCache? = nil
        var newESP: UInt32 = 0
        if rpl > cpl {
            newESP = try peekStack(size: sz, depth: UInt32(3 * sz))
            let ssSel = UInt16(truncatingIfNeeded: try peekStack(size: sz, depth: UInt32(4 * sz)))
            newSS = try checkOuterStack(ssSel, rpl: rpl)
        }
        if target > desc.limit { throw Fault.gp(0) }
        // Commit.
        // VIF and VIP come back only with a 32-bit IRET at CPL 0 (SDM Vol. 2A IRET).
        var changeable = EFLAGS.writable & ~EFLAGS.vm
        if cpl > 0 || sz == 2 { changeable &= ~(EFLAGS.vip | EFLAGS.vif) }
        if cpl > 0 { changeable &= ~EFLAGS.iopl }
        if UInt32(cpl) > (flags >> 12) & 3 { changeable &= ~EFLAGS.if }
        if sz == 2 { changeable &= 0xFFFF }
        try markAccessed(desc, at: address)
        if let ss = newSS {
            loadCS(desc, selector: csSel, cpl: rpl)
            st.pointee.segments[2] = ss
            gpr[4] = ss.big ? newESP : (gpr[4] & 0xFFFF_0000) | (newESP & 0xFFFF)
            nullInaccessibleDataSegments()
        } else {
            adjustStack(UInt32(3 * sz))
            loadCS(desc, selector: csSel, cpl: cpl)
        }
        st.pointee.eip = target
        st.pointee.lazy.op = .none
        st.pointee.flags = (flags & ~changeable) | (newFlagsRaw & changeable) | EFLAGS.fixed1
        // IRET may set RF: it then suppresses an instruction breakpoint on the target.
        rfSetByInstruction = st.pointee.flags & EFLAGS.rf != 0
        updateAttention()
    }
}
