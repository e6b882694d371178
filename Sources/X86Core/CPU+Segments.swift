import X86Decode

/// A segment or gate descriptor as it sits in the GDT/LDT/IDT (SDM Vol. 3A §3.4.5, §5.8.3).
struct Descriptor {
    var low: UInt32
    var high: UInt32

    var base: UInt32 { (low >> 16) | ((high & 0xFF) << 16) | (high & 0xFF00_0000) }
    var limit: UInt32 {
        let raw = (low & 0xFFFF) | (high & 0xF_0000)
        return high & 0x80_0000 != 0 ? raw << 12 | 0xFFF : raw
    }
    /// Bytes 5–6 minus the limit nibble, as `SegmentCache.attributes`.
    var attributes: UInt16 { UInt16(truncatingIfNeeded: (high >> 8) & 0xF0FF) }
    var type: UInt8 { UInt8((high >> 8) & 0xF) }
    var isSegment: Bool { high & 0x1000 != 0 }
    var dpl: UInt8 { UInt8((high >> 13) & 3) }
    var present: Bool { high & 0x8000 != 0 }
    var isCode: Bool { isSegment && type & 8 != 0 }
    var isConforming: Bool { isCode && type & 4 != 0 }
    var isReadable: Bool { isSegment && (type & 8 == 0 || type & 2 != 0) }
    var isWritableData: Bool { isSegment && type & 8 == 0 && type & 2 != 0 }
    // Gates
    var gateSelector: UInt16 { UInt16(truncatingIfNeeded: low >> 16) }
    var gateOffset: UInt32 { (low & 0xFFFF) | (high & 0xFFFF_0000) }
    var gateParameterCount: UInt32 { high & 0x1F }

    func cache(selector: UInt16) -> SegmentCache {
        SegmentCache(selector: selector, base: base, limit: limit, attributes: attributes)
    }
}

/// Segment register loads with all protection checks, and far JMP/CALL/RET through code
/// segments and call gates (SDM Vol. 3A §5.5–§5.8, Vol. 2 JMP/CALL/RET/MOV/POP/LDS).
extension CPU {
    @inline(__always) var protectedMode: Bool { s.pointee.cr0 & CR0.pe != 0 }

    /// Reads the descriptor for `selector` from the GDT or LDT, or #GP(selector) when the index
    /// is outside the table (or the LDT is null).
    func readDescriptor(_ selector: UInt16) throws(Fault) -> (Descriptor, UInt32) {
        let index = UInt32(selector & 0xFFF8)
        let base: UInt32, limit: UInt32
        if selector & 4 != 0 {
            let ldt = s.pointee.ldtr
            guard ldt.selector & 0xFFFC != 0, ldt.present else { throw Fault.gp(UInt32(selector & 0xFFFC)) }
            base = ldt.base
            limit = ldt.limit
        } else {
            base = s.pointee.gdtr.base
            limit = UInt32(s.pointee.gdtr.limit)
        }
        if index + 7 > limit { throw Fault.gp(UInt32(selector & 0xFFFC)) }
        let address = base &+ index
        let low = try readSystem(address, size: 4)
        let high = try readSystem(address &+ 4, size: 4)
        return (Descriptor(low: low, high: high), address)
    }

    /// Sets the accessed bit of a segment descriptor (a locked write, SDM Vol. 3A §3.4.5.1).
    func markAccessed(_ descriptor: Descriptor, at address: UInt32) throws(Fault) {
        if descriptor.isSegment && descriptor.high & 0x100 == 0 {
            try writeSystem(address &+ 4, size: 4, value: descriptor.high | 0x100)
        }
    }

    /// MOV/POP/LxS into DS, ES, FS, GS or SS.
    func loadSegment(_ seg: Int, _ selector: UInt16) throws(Fault) {
        let st = s
        guard protectedMode else {
            var c = st.pointee.segments[seg]
            c.selector = selector
            c.base = UInt32(selector) << 4
            if c.attributes & 0x80 == 0 { c.attributes = 0x93; c.limit = 0xFFFF }
            c.access = SegmentAccess.compute(attributes: c.attributes, selector: selector)
            st.pointee.segments[seg] = c
            return
        }
        let sel = UInt32(selector & 0xFFFC)
        let rpl = UInt8(selector & 3)
        let cpl = st.pointee.cpl
        if seg == SegmentRegister.ss.rawValue {
            if selector & 0xFFFC == 0 { throw Fault.gp(0) }
            let (desc, address) = try readDescriptor(selector)
            if rpl != cpl || desc.dpl != cpl || !desc.isWritableData { throw Fault.gp(sel) }
            if !desc.present { throw Fault.ss(sel) }
            try markAccessed(desc, at: address)
            var d = desc
            d.high |= 0x100
            st.pointee.segments[seg] = d.cache(selector: selector)
            return
        }
        if selector & 0xFFFC == 0 {
            // A null selector loads fine; using it faults (SDM Vol. 3A §5.4.1).
            var c = SegmentCache()
            c.selector = selector
            st.pointee.segments[seg] = c
            return
        }
        let (desc, address) = try readDescriptor(selector)
        if !desc.isReadable { throw Fault.gp(sel) }
        if !desc.isConforming && (rpl > desc.dpl || cpl > desc.dpl) { throw Fault.gp(sel) }
        if !desc.present { throw Fault.np(sel) }
        try markAccessed(desc, at: address)
        var d = desc
        d.high |= 0x100
        st.pointee.segments[seg] = d.cache(selector: selector)
    }

    func popSegment(_ seg: Int, sz: Int) throws(Fault) {
        let v = try peekStack(size: sz)
        try loadSegment(seg, UInt16(truncatingIfNeeded: v))
        adjustStack(UInt32(sz))
        if seg == SegmentRegister.ss.rawValue { setInterruptShadow(); debugTrapsHeld = true }
    }

    /// MOV Sw, Ew. MOV to CS is #UD (the decoder rejects it).
    func movSwEw(_ d: InstructionRef) throws(Fault) {
        let seg = Int(d.reg)
        let v = try readE(d, size: 2)
        try loadSegment(seg, UInt16(truncatingIfNeeded: v))
        if seg == SegmentRegister.ss.rawValue { setInterruptShadow(); debugTrapsHeld = true }
    }

    /// MOV Ev, Sw: a register destination gets the selector zero-extended (32-bit operand) or in
    /// its low word; memory always gets a word.
    func movEwSw(_ d: InstructionRef, sz: Int) throws(Fault) {
        let v = UInt32(s.pointee.segments[Int(d.reg)].selector)
        if d.modrm >= 0xC0 { setReg(Int(d.modrm & 7), size: sz, v) } else { try writeE(d, size: 2, v) }
    }

    func loadFarPointer(_ d: InstructionRef, seg: Int, sz: Int) throws(Fault) {
        let (s0, off) = effectiveAddress(d)
        let offset = try read(s0, off, size: sz)
        let selector = try read16(s0, off &+ UInt32(sz))
        try loadSegment(seg, UInt16(selector))
        setReg(Int(d.reg), size: sz, offset)
    }

    func setInterruptShadow() {
        s.pointee.interruptShadow = true
        attention = true
    }

    // MARK: Far transfers

    /// Loads CS for a transfer to `selector` at privilege `cpl` (the RPL is forced to it).
    func loadCS(_ desc: Descriptor, selector: UInt16, cpl: UInt8) {
        var d = desc
        d.high |= 0x100
        let sel = (selector & 0xFFFC) | UInt16(cpl)
        s.pointee.segments[SegmentRegister.cs.rawValue] = d.cache(selector: sel)
        s.pointee.cpl = cpl
    }

    func realModeFarTransfer(selector: UInt16, offset: UInt32) {
        var c = s.pointee.segments[1]
        c.selector = selector
        c.base = UInt32(selector) << 4
        s.pointee.segments[1] = c
        s.pointee.eip = offset
    }

    /// Checks a code-segment target of a direct far JMP/CALL (no gate): returns the descriptor.
    func checkDirectCodeTarget(_ desc: Descriptor, selector: UInt16) throws(Fault) {
        let sel = UInt32(selector & 0xFFFC)
        let cpl = s.pointee.cpl
        let rpl = UInt8(selector & 3)
        if desc.isConforming {
            if desc.dpl > cpl { throw Fault.gp(sel) }
        } else {
            if rpl > cpl || desc.dpl != cpl { throw Fault.gp(sel) }
        }
        if !desc.present { throw Fault.np(sel) }
    }

    func farJump(selector: UInt16, offset: UInt32, sz: Int) throws(Fault) {
        let target = sz == 4 ? offset : offset & 0xFFFF
        guard protectedMode else { realModeFarTransfer(selector: selector, offset: target); return }
        if selector & 0xFFFC == 0 { throw Fault.gp(0) }
        let (desc, address) = try readDescriptor(selector)
        let sel = UInt32(selector & 0xFFFC)
        let cpl = s.pointee.cpl
        if desc.isCode {
            try checkDirectCodeTarget(desc, selector: selector)
            if target > desc.limit { throw Fault.gp(0) }
            try markAccessed(desc, at: address)
            loadCS(desc, selector: selector, cpl: cpl)
            s.pointee.eip = target
            return
        }
        if desc.isSegment { throw Fault.gp(sel) }
        switch desc.type {
        case 0x4, 0xC:
            let (code, codeAddress, codeSel) = try checkCallGate(desc, selector: selector)
            if !code.isConforming && code.dpl != cpl { throw Fault.gp(UInt32(codeSel & 0xFFFC)) }
            let gateTarget = desc.type == 0x4 ? desc.gateOffset & 0xFFFF : desc.gateOffset
            if gateTarget > code.limit { throw Fault.gp(0) }
            try markAccessed(code, at: codeAddress)
            loadCS(code, selector: codeSel, cpl: cpl)
            s.pointee.eip = gateTarget
        case 0x1, 0x9, 0x5:
            try taskSwitchUnsupported(selector)
        default:
            throw Fault.gp(sel)
        }
    }

    /// Validates a call gate and its target code segment; returns the code descriptor.
    func checkCallGate(_ gate: Descriptor, selector: UInt16) throws(Fault) -> (Descriptor, UInt32, UInt16) {
        let sel = UInt32(selector & 0xFFFC)
        let cpl = s.pointee.cpl
        let rpl = UInt8(selector & 3)
        if gate.dpl < cpl || gate.dpl < rpl { throw Fault.gp(sel) }
        if !gate.present { throw Fault.np(sel) }
        let codeSel = gate.gateSelector
        if codeSel & 0xFFFC == 0 { throw Fault.gp(0) }
        let (code, codeAddress) = try readDescriptor(codeSel)
        if !code.isCode || code.dpl > cpl { throw Fault.gp(UInt32(codeSel & 0xFFFC)) }
        if !code.present { throw Fault.np(UInt32(codeSel & 0xFFFC)) }
        return (code, codeAddress, codeSel)
    }

    func farCall(selector: UInt16, offset: UInt32, sz: Int) throws(Fault) {
        let target = sz == 4 ? offset : offset & 0xFFFF
        let st = s
        let returnEIP = st.pointee.eip
        let oldCS = UInt32(st.pointee.segments[1].selector)
        guard protectedMode else {
            let esp = gpr[4]
            do throws(Fault) {
                try push(oldCS, size: sz)
                try push(returnEIP, size: sz)
            } catch { gpr[4] = esp; throw error }
            realModeFarTransfer(selector: selector, offset: target)
            return
        }
        if selector & 0xFFFC == 0 { throw Fault.gp(0) }
        let (desc, address) = try readDescriptor(selector)
        let sel = UInt32(selector & 0xFFFC)
        let cpl = st.pointee.cpl
        if desc.isCode {
            try checkDirectCodeTarget(desc, selector: selector)
            if target > desc.limit { throw Fault.gp(0) }
            let esp = gpr[4]
            do throws(Fault) {
                try push(oldCS, size: sz)
                try push(returnEIP, size: sz)
            } catch { gpr[4] = esp; throw error }
            try markAccessed(desc, at: address)
            loadCS(desc, selector: selector, cpl: cpl)
            st.pointee.eip = target
            return
        }
        if desc.isSegment { throw Fault.gp(sel) }
        switch desc.type {
        case 0x4, 0xC:
            let (code, codeAddress, codeSel) = try checkCallGate(desc, selector: selector)
            let gate32 = desc.type == 0xC
            let gateTarget = gate32 ? desc.gateOffset : desc.gateOffset & 0xFFFF
            if gateTarget > code.limit { throw Fault.gp(0) }
            let gsz = gate32 ? 4 : 2
            if !code.isConforming && code.dpl < cpl {
                try callGateToInner(code: code, codeSelector: codeSel, gate: desc, gsz: gsz,
                                    returnEIP: returnEIP, oldCS: oldCS)
            } else {
                let esp = gpr[4]
                do throws(Fault) {
                    try push(oldCS, size: gsz)
                    try push(returnEIP, size: gsz)
                } catch { gpr[4] = esp; throw error }
                loadCS(code, selector: codeSel, cpl: cpl)
            }
            try markAccessed(code, at: codeAddress)
            st.pointee.eip = gateTarget
        case 0x1, 0x9, 0x5:
            try taskSwitchUnsupported(selector)
        default:
            throw Fault.gp(sel)
        }
    }

    /// The inner stack for privilege `dpl` from the current TSS (SDM Vol. 3A §5.8.5, §7.2.1),
    /// with the checks that raise #TS.
    func innerStack(dpl: UInt8, ext: UInt32) throws(Fault) -> (SegmentCache, UInt32) {
        let tr = s.pointee.tr
        let tss32 = tr.type & 8 != 0
        let entry: UInt32 = tss32 ? UInt32(dpl) * 8 + 4 : UInt32(dpl) * 4 + 2
        let span: UInt32 = tss32 ? 5 : 3
        if entry + span > tr.limit { throw Fault.ts(UInt32(tr.selector & 0xFFFC) | ext) }
        let esp: UInt32, ssSel: UInt16
        if tss32 {
            esp = try readSystem(tr.base &+ entry, size: 4)
            ssSel = UInt16(try readSystem(tr.base &+ entry &+ 4, size: 2))
        } else {
            esp = try readSystem(tr.base &+ entry, size: 2)
            ssSel = UInt16(try readSystem(tr.base &+ entry &+ 2, size: 2))
        }
        let sel = UInt32(ssSel & 0xFFFC) | ext
        if ssSel & 0xFFFC == 0 { throw Fault.ts(ext) }
        let (desc, address): (Descriptor, UInt32)
        do throws(Fault) {
            (desc, address) = try readDescriptor(ssSel)
        } catch {
            if error.vector == Vector.generalProtection { throw Fault.ts(sel) }
            throw error
        }
        if UInt8(ssSel & 3) != dpl || desc.dpl != dpl || !desc.isWritableData { throw Fault.ts(sel) }
        if !desc.present { throw Fault.ss(sel) }
        try markAccessed(desc, at: address)
        var d = desc
        d.high |= 0x100
        return (d.cache(selector: ssSel), esp)
    }

    /// Writes `value` at `offset` below the top of a stack that is not SS yet.
    func pushOn(_ stack: SegmentCache, esp: inout UInt32, _ value: UInt32, size: Int) throws(Fault) {
        let big = stack.big
        let new = big ? esp &- UInt32(size) : (esp &- UInt32(size)) & 0xFFFF
        // The new stack's limit is checked like any SS access: #SS(selector) if outside.
        let last = new &+ UInt32(size - 1)
        let inside: Bool
        if stack.type & 4 != 0 {
            inside = new > stack.limit && last <= (big ? 0xFFFF_FFFF : 0xFFFF)
        } else {
            inside = last <= stack.limit && last >= new
        }
        if !inside { throw Fault.ss(UInt32(stack.selector & 0xFFFC)) }
        try writeSystem(stack.base &+ new, size: size, value: value)
        esp = big ? new : (esp & 0xFFFF_0000) | new
    }

    func callGateToInner(code: Descriptor, codeSelector: UInt16, gate: Descriptor, gsz: Int,
                         returnEIP: UInt32, oldCS: UInt32) throws(Fault) {
        let st = s
        let newCPL = code.dpl
        let (newSS, newESPStart) = try innerStack(dpl: newCPL, ext: 0)
        let oldSS = st.pointee.segments[2]
        let oldESP = gpr[4]
        var esp = newESPStart
        try pushOn(newSS, esp: &esp, UInt32(oldSS.selector), size: gsz)
        try pushOn(newSS, esp: &esp, oldESP, size: gsz)
        // Copy the parameters from the old stack (SDM Vol. 3A §5.8.5, Figure 5-13).
        let count = gate.gateParameterCount
        if count > 0 {
            for i in (0..<count).reversed() {
                let off = oldSS.big ? oldESP &+ i * UInt32(gsz) : (oldESP &+ i * UInt32(gsz)) & 0xFFFF
                let v = try readSystem(oldSS.base &+ off, size: gsz)
                try pushOn(newSS, esp: &esp, v, size: gsz)
            }
        }
        try pushOn(newSS, esp: &esp, oldCS, size: gsz)
        try pushOn(newSS, esp: &esp, returnEIP, size: gsz)
        st.pointee.segments[2] = newSS
        gpr[4] = esp
        loadCS(code, selector: codeSelector, cpl: newCPL)
    }

    func farReturn(sz: Int, release: UInt32) throws(Fault) {
        let st = s
        let eip = try peekStack(size: sz)
        let csSel = UInt16(truncatingIfNeeded: try peekStack(size: sz, depth: UInt32(sz)))
        guard protectedMode else {
            adjustStack(UInt32(2 * sz) &+ release)
            realModeFarTransfer(selector: csSel, offset: sz == 4 ? eip : eip & 0xFFFF)
            return
        }
        let cpl = st.pointee.cpl
        if csSel & 0xFFFC == 0 { throw Fault.gp(0) }
        let (desc, address) = try readDescriptor(csSel)
        let sel = UInt32(csSel & 0xFFFC)
        let rpl = UInt8(csSel & 3)
        if !desc.isCode || rpl < cpl { throw Fault.gp(sel) }
        if desc.isConforming ? desc.dpl > rpl : desc.dpl != rpl { throw Fault.gp(sel) }
        if !desc.present { throw Fault.np(sel) }
        let target = sz == 4 ? eip : eip & 0xFFFF
        if rpl == cpl {
            if target > desc.limit { throw Fault.gp(0) }
            try markAccessed(desc, at: address)
            adjustStack(UInt32(2 * sz) &+ release)
            loadCS(desc, selector: csSel, cpl: cpl)
            st.pointee.eip = target
            return
        }
        // Return to an outer privilege level: the outer SS:ESP follows the parameters.
        let base = UInt32(2 * sz) &+ release
        let newESP = try peekStack(size: sz, depth: base)
        let ssSel = UInt16(truncatingIfNeeded: try peekStack(size: sz, depth: base &+ UInt32(sz)))
        let newSS = try checkOuterStack(ssSel, rpl: rpl)
        if target > desc.limit { throw Fault.gp(0) }
        try markAccessed(desc, at: address)
        loadCS(desc, selector: csSel, cpl: rpl)
        st.pointee.segments[2] = newSS
        gpr[4] = newSS.big ? newESP &+ release : (newESP &+ release) & 0xFFFF
        st.pointee.eip = target
        nullInaccessibleDataSegments()
    }

    /// SS checks for a return to an outer level (RET far, IRET).
    func checkOuterStack(_ ssSel: UInt16, rpl: UInt8) throws(Fault) -> SegmentCache {
        if ssSel & 0xFFFC == 0 { throw Fault.gp(0) }
        let (ss, ssAddress) = try readDescriptor(ssSel)
        let sel = UInt32(ssSel & 0xFFFC)
        if UInt8(ssSel & 3) != rpl || !ss.isWritableData || ss.dpl != rpl { throw Fault.gp(sel) }
        if !ss.present { throw Fault.ss(sel) }
        try markAccessed(ss, at: ssAddress)
        var d = ss
        d.high |= 0x100
        return d.cache(selector: ssSel)
    }

    /// After a return to an outer level, DS/ES/FS/GS that the new CPL may not use are nulled
    /// (SDM Vol. 2B RET, "FOR each SegReg in (ES, FS, GS, and DS)").
    func nullInaccessibleDataSegments() {
        let cpl = s.pointee.cpl
        for seg in [0, 3, 4, 5] {
            let c = s.pointee.segments[seg]
            let isData = c.attributes & 0x10 != 0 && c.type & 8 == 0
            let nonConformingCode = c.attributes & 0x10 != 0 && c.type & 0xC == 0x8
            if (isData || nonConformingCode) && c.dpl < cpl {
                var null = SegmentCache()
                null.selector = 0
                s.pointee.segments[seg] = null
            }
        }
    }

    func taskSwitchUnsupported(_ selector: UInt16) throws(Fault) {
        pendingExit = .notImplemented(eip: s.pointee.currentEIP,
                                      what: "task switch through selector 0x\(String(selector, radix: 16))")
        throw Fault.exit
    }
}
