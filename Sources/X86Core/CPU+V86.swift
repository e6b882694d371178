import X86Decode

/// Virtual-8086 mode (SDM Vol. 3A Chapter 20): EFLAGS.VM = 1 with CR0.PE = 1. Segments are
/// paragraphs as in real mode, CPL is 3, paging and the I/O bitmap apply, and the instructions
/// that would touch IF (CLI, STI, PUSHF, POPF, INT n, IRET) fault to the monitor unless IOPL = 3.
/// Interrupts and exceptions leave V86 for a ring-0 handler through the protected-mode IDT.
extension CPU {
    @inline(__always) var v86Mode: Bool { s.pointee.flags & EFLAGS.vm != 0 }

    /// Segment registers hold paragraphs: real-address mode, or virtual-8086 mode.
    @inline(__always) var paragraphSegments: Bool {
        s.pointee.cr0 & CR0.pe == 0 || s.pointee.flags & EFLAGS.vm != 0
    }

    /// A segment register as virtual-8086 mode loads it: base = selector × 16, a 64 KiB limit,
    /// a present, accessed, read/write data segment at DPL 3 (what VT-x requires of V86 guest
    /// state, SDM Vol. 3C §26.3.1.2; code fetch through CS ignores the type).
    func v86Segment(_ selector: UInt16) -> SegmentCache {
        SegmentCache(selector: selector, base: UInt32(selector) << 4, limit: 0xFFFF, attributes: 0xF3)
    }

    /// #GP(0) for an IOPL-sensitive instruction in virtual-8086 mode with IOPL < 3.
    @inline(__always)
    func checkV86IOPL() throws(Fault) {
        let f = s.pointee.flags
        if f & EFLAGS.vm != 0 && f & EFLAGS.iopl != EFLAGS.iopl { throw Fault.gp(0) }
    }

    /// IRET inside virtual-8086 mode with IOPL = 3 (SDM Vol. 2A IRET, "RETURN-FROM-VIRTUAL-
    /// 8086-MODE"): a real-mode-style return that cannot change IOPL or VM.
    func iretInV86(sz: Int) throws(Fault) {
        try checkV86IOPL()
        let st = s
        let flags = materializedFlags()
        let ip = try peekStack(size: sz)
        let cs = try peekStack(size: sz, depth: UInt32(sz))
        let f = try peekStack(size: sz, depth: UInt32(2 * sz))
        let target = sz == 4 ? ip : ip & 0xFFFF
        if target > 0xFFFF { throw Fault.gp(0) }
        adjustStack(UInt32(3 * sz))
        realModeFarTransfer(selector: UInt16(truncatingIfNeeded: cs), offset: target)
        var mask = EFLAGS.writable & ~(EFLAGS.vm | EFLAGS.iopl | EFLAGS.vip | EFLAGS.vif)
        if sz == 2 { mask &= 0xFFFF }
        st.pointee.lazy.op = .none
        st.pointee.flags = (flags & ~mask) | (f & mask) | EFLAGS.fixed1
        updateAttention()
    }

    /// IRETD at CPL 0 with VM set in the popped EFLAGS (SDM Vol. 2A IRET, "RETURN-TO-VIRTUAL-
    /// 8086-MODE"): EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS from the ring-0 stack.
    func iretToV86() throws(Fault) {
        let st = s
        let eip = try peekStack(size: 4)
        let cs = try peekStack(size: 4, depth: 4)
        let newFlags = try peekStack(size: 4, depth: 8)
        let esp = try peekStack(size: 4, depth: 12)
        let ss = try peekStack(size: 4, depth: 16)
        let es = try peekStack(size: 4, depth: 20)
        let ds = try peekStack(size: 4, depth: 24)
        let fs = try peekStack(size: 4, depth: 28)
        let gs = try peekStack(size: 4, depth: 32)
        // The V86 code segment's limit is 64 KiB.
        if eip > 0xFFFF { throw Fault.gp(0) }
        st.pointee.lazy.op = .none
        st.pointee.flags = (newFlags & EFLAGS.writable) | EFLAGS.fixed1
        st.pointee.segments[0] = v86Segment(UInt16(truncatingIfNeeded: es))
        st.pointee.segments[1] = v86Segment(UInt16(truncatingIfNeeded: cs))
        st.pointee.segments[2] = v86Segment(UInt16(truncatingIfNeeded: ss))
        st.pointee.segments[3] = v86Segment(UInt16(truncatingIfNeeded: ds))
        st.pointee.segments[4] = v86Segment(UInt16(truncatingIfNeeded: fs))
        st.pointee.segments[5] = v86Segment(UInt16(truncatingIfNeeded: gs))
        st.pointee.cpl = 3
        gpr[4] = esp
        st.pointee.eip = eip
        modeCounters.v86Entries &+= 1
        rfSetByInstruction = st.pointee.flags & EFLAGS.rf != 0
        updateAttention()
    }
}
