import X86Decode

/// System instructions: descriptor-table registers, LDTR/TR, control and debug registers,
/// CLI/STI/HLT, and the protection-query instructions (SDM Vol. 2, Vol. 3A §2.8).
extension CPU {
    @inline(__always)
    func requireCPL0() throws(Fault) {
        if s.pointee.cpl != 0 { throw Fault.gp(0) }
    }

    @inline(__always)
    func requireProtectedMode() throws(Fault) {
        // SLDT, STR, LLDT, LTR, VERR, VERW, LAR, LSL, ARPL: #UD in real and virtual-8086 mode.
        if !protectedMode || s.pointee.flags & EFLAGS.vm != 0 { throw Fault.ud }
    }

    /// Leaves the loop before the instruction executes when the owner intercepts it.
    @inline(__always)
    func interceptIfRequested(_ what: Intercept) throws(Fault) {
        if intercepts.contains(what) {
            pendingExit = .intercepted(what)
            throw Fault.exit
        }
    }

    func hlt() throws(Fault) {
        try requireCPL0()
        try interceptIfRequested(.hlt)
        pendingExit = .halted
        throw Fault.exit
    }

    /// CLI: with CPL > IOPL, CR4.VME (in V86 mode) or CR4.PVI (at CPL 3) makes it clear VIF
    /// instead of faulting (SDM Vol. 2A CLI, Vol. 3A §20.3.2, §20.4).
    func cli() throws(Fault) {
        if protectedMode && UInt32(s.pointee.cpl) > (s.pointee.flags >> 12) & 3 {
            guard virtualInterruptFlag else { throw Fault.gp(0) }
            s.pointee.flags &= ~EFLAGS.vif
            return
        }
        s.pointee.flags &= ~EFLAGS.if
    }

    /// STI: the same, setting VIF, except that a pending virtual interrupt (VIP) is #GP(0) so
    /// the monitor can deliver it.
    func sti() throws(Fault) {
        if protectedMode && UInt32(s.pointee.cpl) > (s.pointee.flags >> 12) & 3 {
            guard virtualInterruptFlag, s.pointee.flags & EFLAGS.vip == 0 else { throw Fault.gp(0) }
            s.pointee.flags |= EFLAGS.vif
            return
        }
        if s.pointee.flags & EFLAGS.if == 0 {
            s.pointee.flags |= EFLAGS.if
            setInterruptShadow()
        }
    }

    func clts() throws(Fault) {
        try requireCPL0()
        try interceptIfRequested(.cr0Write)
        s.pointee.cr0 &= ~CR0.ts
    }

    /// CR4.UMIP: the store-descriptor-table instructions and SMSW are CPL-0 only (SDM Vol. 3A
    /// §2.5; the #GP comes before any VM exit for them, §25.1.1).
    @inline(__always)
    func checkUMIP() throws(Fault) {
        if s.pointee.cr4 & CR4.umip != 0 && s.pointee.cpl != 0 { throw Fault.gp(0) }
    }

    // MARK: 0F 00: SLDT, STR, LLDT, LTR, VERR, VERW

    func group6(_ d: InstructionRef) throws(Fault) {
        try requireProtectedMode()
        let sz = d.operandSize32 ? 4 : 2
        switch d.reg {
        case 0, 1:
            try checkUMIP()
            try interceptIfRequested(.descriptorTable)
            let sel = UInt32(d.reg == 0 ? s.pointee.ldtr.selector : s.pointee.tr.selector)
            if d.modrm >= 0xC0 { setReg(Int(d.modrm & 7), size: sz, sel) } else { try writeE(d, size: 2, sel) }
        case 2:
            try requireCPL0()
            try interceptIfRequested(.descriptorTable)
            let selector = UInt16(try readE(d, size: 2))
            try loadLDT(selector)
        case 3:
            try requireCPL0()
            try interceptIfRequested(.descriptorTable)
            let selector = UInt16(try readE(d, size: 2))
            try loadTR(selector)
        case 4, 5:
            let selector = UInt16(try readE(d, size: 2))
            let ok = try verify(selector, write: d.reg == 5)
            setFlags(ok ? EFLAGS.zf : 0, mask: EFLAGS.zf)
        default:
            throw Fault.ud
        }
    }

    func loadLDT(_ selector: UInt16) throws(Fault) {
        if selector & 0xFFFC == 0 {
            var c = SegmentCache()
            c.selector = selector
            s.pointee.ldtr = c
            return
        }
        let sel = UInt32(selector & 0xFFFC)
        if selector & 4 != 0 { throw Fault.gp(sel) }
        let (desc, _) = try readDescriptor(selector)
        if desc.isSegment || desc.type != 2 { throw Fault.gp(sel) }
        if !desc.present { throw Fault.np(sel) }
        s.pointee.ldtr = desc.cache(selector: selector)
    }

    func loadTR(_ selector: UInt16) throws(Fault) {
        if selector & 0xFFFC == 0 { throw Fault.gp(0) }
        let sel = UInt32(selector & 0xFFFC)
        if selector & 4 != 0 { throw Fault.gp(sel) }
        let (desc, address) = try readDescriptor(selector)
        if desc.isSegment || (desc.type != 1 && desc.type != 9) { throw Fault.gp(sel) }
        if !desc.present { throw Fault.np(sel) }
        // Mark the TSS busy (type 1→3, 9→B).
        try writeSystem(address &+ 4, size: 4, value: desc.high | 0x200)
        var busy = desc
        busy.high |= 0x200
        s.pointee.tr = busy.cache(selector: selector)
    }

    /// VERR/VERW (SDM Vol. 2B): ZF = 1 when the segment is readable/writable at CPL and RPL.
    func verify(_ selector: UInt16, write: Bool) throws(Fault) -> Bool {
        if selector & 0xFFFC == 0 { return false }
        guard let (desc, _) = try descriptorIfInTable(selector), desc.isSegment else { return false }
        let cpl = s.pointee.cpl, rpl = UInt8(selector & 3)
        if !(desc.isConforming && !write) && (desc.dpl < cpl || desc.dpl < rpl) { return false }
        return write ? desc.isWritableData : desc.isReadable
    }

    /// The descriptor, or nil when the selector points outside its table (no fault: LAR, LSL,
    /// VERR, VERW report that in ZF).
    func descriptorIfInTable(_ selector: UInt16) throws(Fault) -> (Descriptor, UInt32)? {
        let index = UInt32(selector & 0xFFF8)
        if selector & 4 != 0 {
            let ldt = s.pointee.ldtr
            if ldt.selector & 0xFFFC == 0 || !ldt.present || index + 7 > ldt.limit { return nil }
        } else if index + 7 > UInt32(s.pointee.gdtr.limit) {
            return nil
        }
        return try readDescriptor(selector)
    }

    /// LAR/LSL (SDM Vol. 2A): ZF = 1 and the access rights / limit when the descriptor is a
    /// valid type and visible at CPL and RPL.
    func larLsl(_ d: InstructionRef, sz: Int, lsl: Bool) throws(Fault) {
        try requireProtectedMode()
        let selector = UInt16(try readE(d, size: 2))
        var ok = false
        var value: UInt32 = 0
        if selector & 0xFFFC != 0, let (desc, _) = try descriptorIfInTable(selector) {
            let cpl = s.pointee.cpl, rpl = UInt8(selector & 3)
            // LSL: TSS (1, 3, 9, B) and LDT (2); LAR also gates (4, 5, C).
            let validSystem: UInt32 = lsl ? 0x0A0E : 0x1A3E
            let typeOK = desc.isSegment || validSystem & (1 << UInt32(desc.type)) != 0
            let privilegeOK = desc.isConforming || (desc.dpl >= cpl && desc.dpl >= rpl)
            if typeOK && privilegeOK {
                ok = true
                value = lsl ? desc.limit : desc.high & 0x00F0_FF00
            }
        }
        if ok { setReg(Int(d.reg), size: sz, value) }
        setFlags(ok ? EFLAGS.zf : 0, mask: EFLAGS.zf)
    }

    func arpl(_ d: InstructionRef) throws(Fault) {
        try requireProtectedMode()
        let src = reg(Int(d.reg), size: 2)
        var adjusted = false
        _ = try modifyE(d, size: 2) { dst in
            if dst & 3 < src & 3 {
                adjusted = true
                return (dst & ~3) | (src & 3)
            }
            return dst
        }
        setFlags(adjusted ? EFLAGS.zf : 0, mask: EFLAGS.zf)
    }

    // MARK: 0F 01: SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG

    func group7(_ d: InstructionRef, sz: Int) throws(Fault) {
        switch d.reg {
        case 0, 1:
            try checkUMIP()
            try interceptIfRequested(.descriptorTable)
            let table = d.reg == 0 ? s.pointee.gdtr : s.pointee.idtr
            let (seg, off) = effectiveAddress(d)
            let base = sz == 4 ? table.base : table.base & 0x00FF_FFFF
            let lin = try writeAddress(seg, off, size: 6)
            try probeWrite(lin, size: 6, user: userMode)
            try write(seg, off, size: 2, UInt32(table.limit))
            try write(seg, off &+ 2, size: 4, base)
        case 2, 3:
            try requireCPL0()
            try interceptIfRequested(.descriptorTable)
            let (seg, off) = effectiveAddress(d)
            let limit = try read(seg, off, size: 2)
            var base = try read(seg, off &+ 2, size: 4)
            if sz == 2 { base &= 0x00FF_FFFF }
            let t = TableRegister(base: base, limit: UInt16(limit))
            if d.reg == 2 { s.pointee.gdtr = t } else { s.pointee.idtr = t }
        case 4:
            try checkUMIP()
            let v = guestVisibleCR0
            if d.modrm >= 0xC0 { setReg(Int(d.modrm & 7), size: sz, v) } else { try writeE(d, size: 2, v & 0xFFFF) }
        case 6:
            try requireCPL0()
            try interceptIfRequested(.cr0Write)
            let v = try readE(d, size: 2)
            // LMSW changes PE (set only), MP, EM, TS.
            let cr0 = s.pointee.cr0
            let new = (cr0 & ~0xE) | (v & 0xE) | (cr0 & 1) | (v & 1)
            try writeCR0(new)
        case 7:
            try requireCPL0()
            try interceptIfRequested(.invlpg)
            let (seg, off) = effectiveAddress(d)
            // INVLPG takes the linear address without a limit check.
            tlb.invalidate(page: s.pointee.segments[seg].base &+ off)
        default:
            throw Fault.ud
        }
    }

    // MARK: Control and debug registers

    /// 0F 20–23: MOV r32, CRn / DRn and back. ModRM.mod is ignored (always a register).
    func moveControlDebug(_ d: InstructionRef) throws(Fault) {
        try requireCPL0()
        let n = Int(d.reg)
        let r = Int(d.modrm & 7)
        switch d.opcode {
        case 0x20:
            switch n {
            case 0: gpr[r] = guestVisibleCR0
            case 2: gpr[r] = s.pointee.cr2
            case 3:
                try interceptIfRequested(.cr3Read)
                gpr[r] = s.pointee.cr3
            case 4: gpr[r] = (s.pointee.cr4 & ~cr4GuestHostMask) | (cr4ReadShadow & cr4GuestHostMask)
            default: throw Fault.ud
            }
        case 0x22:
            let v = gpr[r]
            switch n {
            case 0:
                try interceptIfRequested(.cr0Write)
                try writeCR0(v)
            case 2: s.pointee.cr2 = v
            case 3:
                try interceptIfRequested(.cr3Write)
                writeCR3(v)
            case 4:
                try interceptIfRequested(.cr4Write)
                try writeCR4(v)
            default: throw Fault.ud
            }
        case 0x21, 0x23:
            try interceptIfRequested(.drAccess)
            var index = n
            if index == 4 || index == 5 {
                if s.pointee.cr4 & CR4.de != 0 { throw Fault.ud }
                index += 2
            }
            // DR7.GD: any debug-register access is a #DB fault (SDM Vol. 3A §17.2.4).
            if s.pointee.dr[7] & 0x2000 != 0 {
                s.pointee.dr[6] = (s.pointee.dr[6] | 0x2000) | 0xFFFF_0FF0
                s.pointee.dr[7] &= ~0x2000
                throw Fault.exception(Vector.debug)
            }
            if d.opcode == 0x21 {
                var v = s.pointee.dr[index]
                if index == 6 { v = (v & 0xE00F) | 0xFFFF_0FF0 }
                if index == 7 { v = (v & 0xFFFF_2BFF) | 0x400 }
                gpr[r] = v
            } else {
                var v = gpr[r]
                if index == 6 { v = (v & 0xE00F) | 0xFFFF_0FF0 }
                if index == 7 { v = (v & 0xFFFF_2BFF) | 0x400 }
                s.pointee.dr[index] = v
                // Data breakpoints work by keeping their pages out of the TLB.
                tlb.flush(keepGlobal: false)
                updateAttention()
            }
        default:
            throw Fault.ud
        }
    }

    /// CR0 as MOV from CR0 and SMSW see it: bits the owner masks come from the read shadow.
    var guestVisibleCR0: UInt32 {
        (s.pointee.cr0 & ~cr0GuestHostMask) | (cr0ReadShadow & cr0GuestHostMask)
    }

    /// CR0 write (SDM Vol. 3A §2.5, MOV CR): PG without PE, or NW without CD, is #GP(0). ET is
    /// hard-wired to 1. A paging-mode change flushes the TLB including global entries.
    public func writeCR0(_ value: UInt32) throws(Fault) {
        if value & CR0.pg != 0 && value & CR0.pe == 0 { throw Fault.gp(0) }
        if value & CR0.nw != 0 && value & CR0.cd == 0 { throw Fault.gp(0) }
        let known = CR0.pe | CR0.mp | CR0.em | CR0.ts | CR0.ne | CR0.wp | CR0.am | CR0.nw | CR0.cd | CR0.pg
        let new = (value & known) | CR0.et
        let old = s.pointee.cr0
        s.pointee.cr0 = new
        updateAlignmentCheck()
        if (old ^ new) & (CR0.pg | CR0.wp | CR0.pe) != 0 { tlb.flush(keepGlobal: false) }
        if (old ^ new) & CR0.pe != 0 {
            if new & CR0.pe == 0 {
                s.pointee.cpl = 0
                modeCounters.protectedToReal &+= 1
            } else {
                modeCounters.realToProtected &+= 1
            }
        }
    }

    /// CR3 write: the guest-visible CR3 and, on bare hardware, the walker's root. Flushes
    /// non-global translations.
    public func writeCR3(_ value: UInt32) {
        s.pointee.cr3 = value
        s.pointee.pagingRoot = value & 0xFFFF_F000
        tlb.flush(keepGlobal: s.pointee.cr4 & CR4.pge != 0)
    }

    public func writeCR4(_ value: UInt32) throws(Fault) {
        if value & ~(CR4.supported | (umipSupported ? CR4.umip : 0)) != 0 { throw Fault.gp(0) }
        let old = s.pointee.cr4
        s.pointee.cr4 = value
        if (old ^ value) & (CR4.pge | CR4.pse) != 0 { tlb.flush(keepGlobal: false) }
    }

    /// Instruction breakpoints (DR7 L/G enabled, R/W = 00) matching `linear`: DR6 B bits.
    func instructionBreakpointHit(linear: UInt32) -> UInt32? {
        let dr7 = s.pointee.dr[7]
        var hits: UInt32 = 0
        for i in 0..<4 where dr7 & (3 << (2 * i)) != 0 {
            let rw = (dr7 >> (16 + 4 * UInt32(i))) & 3
            if rw == 0 && s.pointee.dr[i] == linear { hits |= 1 << UInt32(i) }
        }
        return hits == 0 ? nil : hits
    }
}
