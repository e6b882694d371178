import X86Decode

/// What started a task switch: the source field of VT-x's TASK_SWITCH exit qualification
/// (SDM Vol. 3C Table 28-2: 0 CALL, 1 IRET, 2 JMP, 3 a task gate in the IDT).
public enum TaskSwitchSource: UInt8, Sendable, Equatable {
    case call = 0, iret = 1, jmp = 2, taskGate = 3

    public var name: String {
        switch self {
        case .call: "CALL"
        case .iret: "IRET"
        case .jmp: "JMP"
        case .taskGate: "task gate in the IDT"
        }
    }
}

/// A task switch the owner intercepted (`Intercept.taskSwitch`), before anything changed. For a
/// task gate in the IDT it also holds the event being delivered, so the owner can deliver it
/// again once it decides to let the switch happen (`CPU.completeTaskGateDelivery`).
public struct TaskSwitchRequest: Sendable, Equatable {
    /// The new task's TSS selector (through a task gate: the gate's TSS selector).
    public var selector: UInt16
    public var source: TaskSwitchSource
    public var vector: UInt8 = 0
    public var errorCode: UInt32? = nil
    var software = false
    var isINT3 = false
    var external = false
}

/// Hardware task switching (SDM Vol. 3A §7.3; the order of the checks follows §7.3 and Table
/// 7-1): JMP/CALL to a TSS or task gate, task gates in the IDT, IRET with NT. 32-bit and 16-bit
/// (286) TSSs. Checks before the commit point fault in the old task with nothing changed; after
/// it, the new task is loaded and the fault is raised in its context.
extension CPU {
    /// TSS layout offsets (32-bit, 16-bit).
    private enum TSS32 {
        static let cr3: UInt32 = 0x1C, eip: UInt32 = 0x20, eflags: UInt32 = 0x24, eax: UInt32 = 0x28
        static let es: UInt32 = 0x48, ldt: UInt32 = 0x60, trap: UInt32 = 0x64
    }
    private enum TSS16 {
        static let ip: UInt32 = 0x0E, flags: UInt32 = 0x10, ax: UInt32 = 0x12, es: UInt32 = 0x22, ldt: UInt32 = 0x2A
    }

    /// The checks of a JMP or CALL to a TSS descriptor (SDM Vol. 2A JMP/CALL "TASK-STATE-SEGMENT"):
    /// then the switch.
    func jumpOrCallToTSS(_ desc: Descriptor, address: UInt32, selector: UInt16, source: TaskSwitchSource) throws(Fault) {
        let sel = UInt32(selector & 0xFFFC)
        let cpl = s.pointee.cpl
        if desc.dpl < cpl || desc.dpl < UInt8(selector & 3) { throw Fault.gp(sel) }
        // Only available TSSs reach here (types 1 and 9); a busy one is #GP(selector) by type.
        if !desc.present { throw Fault.np(sel) }
        try taskSwitch(selector: selector, desc: desc, address: address, source: source, errorCode: nil, ext: 0)
    }

    /// JMP or CALL through a task gate in the GDT or LDT.
    func jumpOrCallThroughTaskGate(_ gate: Descriptor, selector: UInt16, source: TaskSwitchSource) throws(Fault) {
        let sel = UInt32(selector & 0xFFFC)
        let cpl = s.pointee.cpl
        if gate.dpl < cpl || gate.dpl < UInt8(selector & 3) { throw Fault.gp(sel) }
        if !gate.present { throw Fault.np(sel) }
        let (tss, address) = try taskGateTarget(gate.gateSelector, ext: 0)
        try taskSwitch(selector: gate.gateSelector, desc: tss, address: address, source: source, errorCode: nil, ext: 0)
    }

    /// The TSS a task gate names: in the GDT, an available TSS, present.
    func taskGateTarget(_ tssSelector: UInt16, ext: UInt32) throws(Fault) -> (Descriptor, UInt32) {
        let tsel = UInt32(tssSelector & 0xFFFC) | ext
        if tssSelector & 4 != 0 || tssSelector & 0xFFFC == 0 { throw Fault.gp(tsel) }
        let (tss, address): (Descriptor, UInt32)
        do throws(Fault) {
            (tss, address) = try readDescriptor(tssSelector)
        } catch {
            if error.vector == Vector.generalProtection { throw Fault.gp(tsel) }
            throw error
        }
        if tss.isSegment || (tss.type != 1 && tss.type != 9) { throw Fault.gp(tsel) }
        if !tss.present { throw Fault.np(tsel) }
        return (tss, address)
    }

    /// IRET with NT = 1: a return to the task named by the current TSS's back link.
    func iretToPreviousTask() throws(Fault) {
        let st = s
        let link = UInt16(truncatingIfNeeded: try readSystem(st.pointee.tr.base, size: 2))
        let sel = UInt32(link & 0xFFFC)
        if link & 4 != 0 { throw Fault.ts(sel) }
        let (tss, address): (Descriptor, UInt32)
        do throws(Fault) {
            (tss, address) = try readDescriptor(link)
        } catch {
            if error.vector == Vector.generalProtection { throw Fault.ts(sel) }
            throw error
        }
        if tss.isSegment || (tss.type != 3 && tss.type != 0xB) { throw Fault.ts(sel) }
        if !tss.present { throw Fault.np(sel) }
        try taskSwitch(selector: link, desc: tss, address: address, source: .iret, errorCode: nil, ext: 0)
    }


    /// Delivers again the event whose task gate the owner intercepted, with task-switch
    /// interception lifted for it (the VMM's emulation of the switch). Nil: delivered.
    public func completeTaskGateDelivery() -> ExitReason? {
        guard let r = taskSwitchRequest, r.source == .taskGate else { return nil }
        taskSwitchRequest = nil
        let saved = intercepts
        intercepts.remove(.taskSwitch)
        defer { intercepts = saved }
        s.pointee.halted = false
        deliveringExternalInterrupt = r.external
        let exit = deliverOrExit(vector: r.vector, errorCode: r.errorCode, software: r.software,
                                 isTrap: true, isINT3: r.isINT3)
        deliveringExternalInterrupt = false
        updateAttention()
        return exit
    }

    /// The switch itself (SDM Vol. 3A §7.3 steps 3–13), with the TSS descriptor already checked
    /// by the caller for type, privilege and presence.
    func taskSwitch(selector: UInt16, desc: Descriptor, address: UInt32, source: TaskSwitchSource,
                    errorCode: UInt32?, ext: UInt32, event: TaskSwitchRequest? = nil, savedRF: Bool = false) throws(Fault) {
        let st = s
        let sel = UInt32(selector & 0xFFFC)
        let new32 = desc.type & 8 != 0
        let newBase = desc.base
        // The new TSS must hold a whole task state: #TS(new TSS selector).
        let newMax: UInt32 = new32 ? 0x67 : 0x2B
        if desc.limit < newMax { throw Fault.ts(sel | ext) }
        // VT-x exits here, after the checks of the gate and the new TSS descriptor and before
        // anything changes (SDM Vol. 3C §26.4.2 "Task switches").
        if intercepts.contains(.taskSwitch) {
            var r = event ?? TaskSwitchRequest(selector: selector, source: source)
            r.selector = selector
            r.source = source
            taskSwitchRequest = r
            pendingExit = .intercepted(.taskSwitch)
            throw Fault.exit
        }
        // The old TSS must have room for the dynamic fields the switch saves.
        let old = st.pointee.tr
        let old32 = old.type & 8 != 0
        if old.limit < (old32 ? 0x5F : 0x29) { throw Fault.ts(UInt32(old.selector & 0xFFFC) | ext) }
        // Every page the switch touches is checked before the first change (no half switch).
        _ = try readSystem(newBase, size: 1)
        _ = try readSystem(newBase &+ newMax, size: 1)
        if source == .call || source == .taskGate { try probeWrite(newBase, size: 2, user: false) }
        if old32 {
            try probeWrite(old.base &+ 0x20, size: 4, user: false)
            try probeWrite(old.base &+ 0x5C, size: 2, user: false)
        } else {
            try probeWrite(old.base &+ 0x0E, size: 2, user: false)
            try probeWrite(old.base &+ 0x28, size: 2, user: false)
        }

        // JMP and IRET leave the old task: it is no longer busy.
        if source == .jmp || source == .iret {
            let d = st.pointee.gdtr.base &+ UInt32(old.selector & 0xFFF8) &+ 4
            let high = try readSystem(d, size: 4)
            try writeSystem(d, size: 4, value: high & ~0x200)
        }
        var oldFlags = materializedFlags() | (savedRF ? EFLAGS.rf : 0)
        if source == .iret { oldFlags &= ~EFLAGS.nt }
        let eip = st.pointee.eip
        if old32 {
            try writeSystem(old.base &+ TSS32.eip, size: 4, value: eip)
            try writeSystem(old.base &+ TSS32.eflags, size: 4, value: oldFlags)
            for r in 0..<8 { try writeSystem(old.base &+ TSS32.eax &+ UInt32(r * 4), size: 4, value: gpr[r]) }
            for seg in 0..<6 {
                try writeSystem(old.base &+ TSS32.es &+ UInt32(seg * 4), size: 2,
                                value: UInt32(st.pointee.segments[seg].selector))
            }
        } else {
            try writeSystem(old.base &+ TSS16.ip, size: 2, value: eip & 0xFFFF)
            try writeSystem(old.base &+ TSS16.flags, size: 2, value: oldFlags & 0xFFFF)
            for r in 0..<8 { try writeSystem(old.base &+ TSS16.ax &+ UInt32(r * 2), size: 2, value: gpr[r] & 0xFFFF) }
            for seg in 0..<4 {
                try writeSystem(old.base &+ TSS16.es &+ UInt32(seg * 2), size: 2,
                                value: UInt32(st.pointee.segments[seg].selector))
            }
        }
        // CALL and interrupts nest: the new task links back to the old one.
        if source == .call || source == .taskGate {
            try writeSystem(newBase, size: 2, value: UInt32(old.selector))
        }

        // The new task's state.
        var regs = InlineArray<8, UInt32>(repeating: 0)
        var selectors = InlineArray<6, UInt16>(repeating: 0)
        let newEIP: UInt32, ldtSelector: UInt16
        var newFlags: UInt32
        var newCR3: UInt32? = nil
        var trap = false
        if new32 {
            if st.pointee.cr0 & CR0.pg != 0 { newCR3 = try readSystem(newBase &+ TSS32.cr3, size: 4) }
            newEIP = try readSystem(newBase &+ TSS32.eip, size: 4)
            newFlags = try readSystem(newBase &+ TSS32.eflags, size: 4)
            for r in 0..<8 { regs[r] = try readSystem(newBase &+ TSS32.eax &+ UInt32(r * 4), size: 4) }
            for seg in 0..<6 {
                selectors[seg] = UInt16(try readSystem(newBase &+ TSS32.es &+ UInt32(seg * 4), size: 2))
            }
            ldtSelector = UInt16(try readSystem(newBase &+ TSS32.ldt, size: 2))
            trap = try readSystem(newBase &+ TSS32.trap, size: 2) & 1 != 0
        } else {
            // A 286 TSS holds 16-bit registers: the upper words become all ones (as Bochs and
            // the 386 do), FS and GS are null, and there is no CR3.
            newEIP = try readSystem(newBase &+ TSS16.ip, size: 2)
            newFlags = try readSystem(newBase &+ TSS16.flags, size: 2)
            for r in 0..<8 { regs[r] = 0xFFFF_0000 | (try readSystem(newBase &+ TSS16.ax &+ UInt32(r * 2), size: 2)) }
            for seg in 0..<4 {
                selectors[seg] = UInt16(try readSystem(newBase &+ TSS16.es &+ UInt32(seg * 2), size: 2))
            }
            ldtSelector = UInt16(try readSystem(newBase &+ TSS16.ldt, size: 2))
        }
        // JMP, CALL and interrupts make the new task busy (IRET returns to a busy one).
        if source != .iret {
            let high = try readSystem(address &+ 4, size: 4)
            try writeSystem(address &+ 4, size: 4, value: high | 0x200)
        }

        // Commit point (§7.3 step 10): from here the switch completes, and a fault is the new task's.
        let leftV86 = oldFlags & EFLAGS.vm != 0
        var busy = desc
        busy.high |= 0x200
        st.pointee.tr = busy.cache(selector: selector)
        st.pointee.cr0 |= CR0.ts
        // Local breakpoint enables are per task (SDM Vol. 3A §17.2.4).
        st.pointee.dr[7] &= ~0x155
        if source == .call || source == .taskGate { newFlags |= EFLAGS.nt }
        modeCounters.taskSwitches &+= 1
        if leftV86 && newFlags & EFLAGS.vm == 0 { modeCounters.v86Exits &+= 1 }
        if newFlags & EFLAGS.vm != 0 { modeCounters.v86Entries &+= 1 }

        st.pointee.eip = newEIP
        st.pointee.currentEIP = newEIP
        for r in 0..<8 { gpr[r] = regs[r] }
        st.pointee.lazy.op = .none
        st.pointee.flags = (newFlags & EFLAGS.writable) | EFLAGS.fixed1
        // Selectors first, with unusable caches: a check below that fails leaves them so.
        for seg in 0..<6 {
            var c = SegmentCache()
            c.selector = selectors[seg]
            st.pointee.segments[seg] = c
        }
        var ldt = SegmentCache()
        ldt.selector = ldtSelector
        st.pointee.ldtr = ldt
        if let hook = taskSwitchHook {
            hook(newCR3)
        } else if let cr3 = newCR3, cr3 != st.pointee.cr3 {
            writeCR3(cr3)
        }
        // CPL 3 until CS is loaded: a fault on the way switches to the new task's ring-0 stack.
        st.pointee.cpl = 3
        try loadTaskLDT(ldtSelector, ext: ext)
        if newFlags & EFLAGS.vm != 0 {
            for seg in 0..<6 { st.pointee.segments[seg] = v86Segment(selectors[seg]) }
        } else {
            try loadTaskSegments(selectors, ext: ext)
        }
        updateAttention()
        if trap && new32 {
            taskTrapPending = true
            attention = true
        }
        if let code = errorCode {
            try push(code, size: new32 ? 4 : 2)
        }
        if newEIP > st.pointee.segments[1].limit { throw Fault.gp(ext) }
    }

    private func loadTaskLDT(_ selector: UInt16, ext: UInt32) throws(Fault) {
        let sel = UInt32(selector & 0xFFFC) | ext
        if selector & 4 != 0 { throw Fault.ts(sel) }
        if selector & 0xFFFC == 0 { return }
        let desc: Descriptor
        do throws(Fault) {
            (desc, _) = try readDescriptor(selector)
        } catch {
            if error.vector == Vector.generalProtection { throw Fault.ts(sel) }
            throw error
        }
        if desc.isSegment || desc.type != 2 || !desc.present { throw Fault.ts(sel) }
        s.pointee.ldtr = desc.cache(selector: selector)
    }

    /// A descriptor for a task-switch segment load: #TS(selector) if outside its table.
    private func taskDescriptor(_ selector: UInt16, ext: UInt32) throws(Fault) -> (Descriptor, UInt32) {
        do throws(Fault) {
            return try readDescriptor(selector)
        } catch {
            if error.vector == Vector.generalProtection { throw Fault.ts(UInt32(selector & 0xFFFC) | ext) }
            throw error
        }
    }

    /// SS, DS, ES, FS, GS, then CS of a protected-mode task (SDM Vol. 3A Table 7-1).
    private func loadTaskSegments(_ selectors: InlineArray<6, UInt16>, ext: UInt32) throws(Fault) {
        let st = s
        let csSelector = selectors[1]
        let csRPL = UInt8(csSelector & 3)
        // SS: a writable data segment with DPL = CS.RPL = SS.RPL.
        let ssSelector = selectors[2]
        let ssCode = UInt32(ssSelector & 0xFFFC) | ext
        if ssSelector & 0xFFFC == 0 { throw Fault.ts(ssCode) }
        let (ss, ssAddress) = try taskDescriptor(ssSelector, ext: ext)
        if !ss.isWritableData { throw Fault.ts(ssCode) }
        if !ss.present { throw Fault.ss(ssCode) }
        if ss.dpl != csRPL || ss.dpl != UInt8(ssSelector & 3) { throw Fault.ts(ssCode) }
        try markAccessed(ss, at: ssAddress)
        var ssd = ss
        ssd.high |= 0x100
        st.pointee.segments[2] = ssd.cache(selector: ssSelector)
        st.pointee.cpl = csRPL
        // DS, ES, FS, GS: null, or data / readable code usable at CS.RPL and their RPL.
        for seg in [3, 0, 4, 5] {
            let selector = selectors[seg]
            if selector & 0xFFFC == 0 { continue }
            let code = UInt32(selector & 0xFFFC) | ext
            let (d, address) = try taskDescriptor(selector, ext: ext)
            if !d.isSegment || (d.isCode && d.type & 2 == 0) { throw Fault.ts(code) }
            if !d.isConforming && (UInt8(selector & 3) > d.dpl || csRPL > d.dpl) { throw Fault.ts(code) }
            if !d.present { throw Fault.np(code) }
            try markAccessed(d, at: address)
            var dd = d
            dd.high |= 0x100
            st.pointee.segments[seg] = dd.cache(selector: selector)
        }
        // CS: code, DPL = RPL (non-conforming) or DPL <= RPL (conforming), present.
        let csCode = UInt32(csSelector & 0xFFFC) | ext
        if csSelector & 0xFFFC == 0 { throw Fault.ts(csCode) }
        let (cs, csAddress) = try taskDescriptor(csSelector, ext: ext)
        if !cs.isCode { throw Fault.ts(csCode) }
        if cs.isConforming ? cs.dpl > csRPL : cs.dpl != csRPL { throw Fault.ts(csCode) }
        if !cs.present { throw Fault.np(csCode) }
        try markAccessed(cs, at: csAddress)
        loadCS(cs, selector: csSelector, cpl: csRPL)
    }
}
