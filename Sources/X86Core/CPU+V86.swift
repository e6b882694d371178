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

    /// CLI/STI at CPL > IOPL work on VIF: V86 mode with CR4.VME, or CPL 3 with CR4.PVI.
    var virtualInterruptFlag: Bool {
        let st = s.pointee
        return st.flags & EFLAGS.vm != 0 ? st.cr4 & CR4.vme != 0 : st.cpl == 3 && st.cr4 & CR4.pvi != 0
    }

    /// V86 mode, IOPL < 3 and CR4.VME: the 16-bit PUSHF/POPF/IRET forms work on VIF.
    @inline(__always)
    func v86VirtualFlags(sz: Int) -> Bool {
        let st = s.pointee
        return st.flags & EFLAGS.vm != 0 && st.flags & EFLAGS.iopl != EFLAGS.iopl && st.cr4 & CR4.vme != 0 && sz == 2
    }

    /// The FLAGS image PUSHF and a redirected INT n push under VME with IOPL < 3: VIF in the IF
    /// position, IOPL 3 (SDM Vol. 2B PUSHF, Vol. 3A §20.3.3.5).
    func virtualFlagsImage() -> UInt32 {
        var f = materializedFlags() & 0xFFFF | EFLAGS.iopl
        f = s.pointee.flags & EFLAGS.vif != 0 ? f | EFLAGS.if : f & ~EFLAGS.if
        return f
    }

    /// A 16-bit FLAGS value popped under VME with IOPL < 3 (POPF, IRET): TF set, or IF set
    /// while a virtual interrupt is pending, is #GP(0); otherwise IF goes to VIF and IF and IOPL
    /// stay (SDM Vol. 2B POPF).
    func loadVirtualFlags(_ popped: UInt32) throws(Fault) {
        let st = s
        if popped & EFLAGS.tf != 0 || (popped & EFLAGS.if != 0 && st.pointee.flags & EFLAGS.vip != 0) {
            throw Fault.gp(0)
        }
        let current = materializedFlags()
        let keep = EFLAGS.if | EFLAGS.iopl
        var new = (current & ~(0xFFFF & ~keep)) | (popped & 0xFFFF & ~keep)
        new = popped & EFLAGS.if != 0 ? new | EFLAGS.vif : new & ~EFLAGS.vif
        st.pointee.lazy.op = .none
        st.pointee.flags = new | EFLAGS.fixed1
    }

    /// INT n in V86 mode with CR4.VME: the TSS's interrupt redirection bitmap (the 32 bytes
    /// below the I/O bitmap) says whether it goes to the 8086 program's own IVT (bit clear) or
    /// through the IDT (SDM Vol. 3A §20.3.3.5, methods 4–6). Returns true when redirected.
    func redirectV86Interrupt(_ vector: UInt8) throws(Fault) -> Bool {
        let st = s
        guard st.pointee.flags & EFLAGS.vm != 0, st.pointee.cr4 & CR4.vme != 0 else { return false }
        let tr = st.pointee.tr
        guard tr.type == 0x9 || tr.type == 0xB, tr.limit >= 0x67 else { throw Fault.gp(0) }
        let ioBase = try readSystem(tr.base &+ 0x66, size: 2)
        let byte = ioBase &- 32 &+ UInt32(vector >> 3)
        if ioBase < 32 || byte > tr.limit { throw Fault.gp(0) }
        if try readSystem(tr.base &+ byte, size: 1) & (1 << UInt32(vector & 7)) != 0 { return false }
        // Through the 8086 program's IVT at linear 0, as real mode would, with the flags image
        // of the method: IOPL 3 pushes FLAGS and clears IF; IOPL < 3 pushes VIF as IF and clears VIF.
        let ip = try readLinear(UInt32(vector) * 4, size: 2, user: true)
        let cs = try readLinear(UInt32(vector) * 4 + 2, size: 2, user: true)
        let iopl3 = st.pointee.flags & EFLAGS.iopl == EFLAGS.iopl
        let image = iopl3 ? materializedFlags() & 0xFFFF : virtualFlagsImage()
        let next = st.pointee.eip
        let esp = gpr[4]
        do throws(Fault) {
            try push(image, size: 2)
            try push(UInt32(st.pointee.segments[1].selector), size: 2)
            try push(next & 0xFFFF, size: 2)
        } catch { gpr[4] = esp; throw error }
        st.pointee.lazy.op = .none
        st.pointee.flags = materializedFlags() & ~(EFLAGS.tf | EFLAGS.rf | (iopl3 ? EFLAGS.if : EFLAGS.vif))
        realModeFarTransfer(selector: UInt16(cs), offset: ip)
        updateAttention()
        return true
    }

    /// IRET inside virtual-8086 mode with IOPL = 3 (SDM Vol. 2A IRET, "RETURN-FROM-VIRTUAL-
    /// 8086-MODE"): a real-mode-style return that cannot change IOPL or VM.
    func iretInV86(sz: Int) throws(Fault) {
        if v86VirtualFlags(sz: sz) {
            let ip = try peekStack(size: 2)
            let cs = try peekStack(size: 2, depth: 2)
            let f = try peekStack(size: 2, depth: 4)
            try loadVirtualFlags(f)
            adjustStack(6)
            realModeFarTransfer(selector: UInt16(truncatingIfNeeded: cs), offset: ip)
            updateAttention()
            return
        }
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
