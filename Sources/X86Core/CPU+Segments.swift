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

/// Segment register loads with all protection checks (SDM Vol. 3A §5.5–§5.6, Vol. 2 MOV/POP/LDS).
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
        if st.pointee.flags & EFLAGS.vm != 0 && protectedMode {
            st.pointee.segments[seg] = v86Segment(selector)
            return
        }
        guard protectedMode else {
            // Real mode changes only the selector and the base: the limit and attributes stay
            // from the last protected-mode load ("unreal" mode, SDM Vol. 3A §9.9.2).
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
}
