import X86Decode

/// Far JMP/CALL/RET through code segments and call gates, with the inner-stack switch from the
/// TSS and the outer-ring return rules (SDM Vol. 3A §5.8, Vol. 2 JMP/CALL/RET).
extension CPU {
    // MARK: Far transfers

    /// Loads CS for a transfer to `selector` at privilege `cpl` (the RPL is forced to it).
    func loadCS(_ desc: Descriptor, selector: UInt16, cpl: UInt8) {
        var d = desc
        d.high |= 0x100
        let sel = (selector & 0xFFFC) | UInt16(cpl)
        s.pointee.segments[SegmentRegister.cs.rawValue] = d.cache(selector: sel)
        s.pointee.cpl = cpl
    }

    /// A far transfer in real-address or virtual-8086 mode: CS is a paragraph. Real mode keeps
    /// CS's cached limit and attributes; V86 mode reloads them as every V86 segment load does.
    func realModeFarTransfer(selector: UInt16, offset: UInt32) {
        if s.pointee.flags & EFLAGS.vm != 0 {
            s.pointee.segments[1] = v86Segment(selector)
        } else {
            var c = s.pointee.segments[1]
            c.selector = selector
            c.base = UInt32(selector) << 4
            s.pointee.segments[1] = c
        }
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
        guard !paragraphSegments else { realModeFarTransfer(selector: selector, offset: target); return }
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
        case 0x1, 0x9:
            try jumpOrCallToTSS(desc, address: address, selector: selector, source: .jmp)
        case 0x5:
            try jumpOrCallThroughTaskGate(desc, selector: selector, source: .jmp)
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
        guard !paragraphSegments else {
            try pushFarReturn(cs: oldCS, eip: returnEIP, size: sz)
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
            try pushFarReturn(cs: oldCS, eip: returnEIP, size: sz)
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
                try pushFarReturn(cs: oldCS, eip: returnEIP, size: gsz)
                loadCS(code, selector: codeSel, cpl: cpl)
            }
            try markAccessed(code, at: codeAddress)
            st.pointee.eip = gateTarget
        case 0x1, 0x9:
            try jumpOrCallToTSS(desc, address: address, selector: selector, source: .call)
        case 0x5:
            try jumpOrCallThroughTaskGate(desc, selector: selector, source: .call)
        default:
            throw Fault.gp(sel)
        }
    }

    /// Pushes CS then EIP on the current stack; ESP is unchanged if either push faults.
    func pushFarReturn(cs: UInt32, eip: UInt32, size: Int) throws(Fault) {
        let esp = gpr[4]
        do throws(Fault) {
            try push(cs, size: size)
            try push(eip, size: size)
        } catch {
            gpr[4] = esp
            throw error
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
        guard !paragraphSegments else {
            adjustStack(UInt32(2 * sz) &+ release)
            realModeFarTransfer(selector: csSel, offset: sz == 4 ? eip : eip & 0xFFFF)
            return
        }
        let cpl = st.pointee.cpl
        let (desc, address) = try checkReturnCodeSegment(csSel, cpl: cpl)
        let rpl = UInt8(csSel & 3)
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

    /// The code segment a far RET or IRET returns to (SDM Vol. 2B RET, IRET): not null, code,
    /// RPL >= CPL, DPL == RPL (or <= RPL if conforming), present.
    func checkReturnCodeSegment(_ csSel: UInt16, cpl: UInt8) throws(Fault) -> (Descriptor, UInt32) {
        if csSel & 0xFFFC == 0 { throw Fault.gp(0) }
        let (desc, address) = try readDescriptor(csSel)
        let sel = UInt32(csSel & 0xFFFC)
        let rpl = UInt8(csSel & 3)
        if !desc.isCode || rpl < cpl { throw Fault.gp(sel) }
        if desc.isConforming ? desc.dpl > rpl : desc.dpl != rpl { throw Fault.gp(sel) }
        if !desc.present { throw Fault.np(sel) }
        return (desc, address)
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
}
