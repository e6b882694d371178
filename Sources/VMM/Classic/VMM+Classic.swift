import Machine
import ShadowMMU
import X86Core
import X86Decode

/// The classic (pre-VT) trap-and-emulate engine: set-up, shadow descriptor tables, the #GP
/// handler that emulates trapped privileged instructions. See `ClassicState`.
extension VMM {
    /// Intercepts armed only while a trapped instruction is re-executed at real CPL 0: they hand
    /// its effect on privileged state to the VMM's emulation (the same code `--virt=hw` uses), so
    /// the guest's CR0/CR3/CR4, descriptor tables, MSRs and HLT stay virtual.
    static let classicEmulationIntercepts: Intercept = [.cr0Write, .cr3Write, .cr3Read, .cr4Write, .invlpg, .hlt,
                                                        .msr, .descriptorTable, .drAccess]

    /// The exceptions that exit under ring compression: all but #BP and #OF, which come only
    /// from INT3 and INTO, whose gate-privilege check must happen before delivery: the CPU
    /// delivers them through the shadow IDT itself.
    static let classicExceptionBitmap: UInt32 = 0xFFFF_FFFF & ~(1 << 3 | 1 << 4)

    /// Puts the VMM's tables in place (VMM.init, classic): the reserved page table, the VMM's TSS
    /// and its descriptor in the shadow GDT. Then `enterRingCompression` or
    /// `enterClassicEmulatedMode` sets up the CPU for the guest's current mode.
    func prepareClassic(_ c: ClassicState, shadow s: ShadowMMU) {
        let mem = machine.memory
        // unowned(unsafe) as the shadow MMU's other hooks; `deinit` clears it.
        s.watchedWrite = { [unowned(unsafe) self] in self.classicTablesWritten() }
        // The reserved page table: GDT (16 pages), IDT, TSS; present, read-only, supervisor,
        // accessed. A guest write to them faults (CR0.WP is always on under the shadow MMU).
        for i in 0..<34 { mem.write32(c.base + UInt32(i) * 4, (c.base + 0x1000 * UInt32(i + 1)) | 0x21) }
        s.reservedSlot = (ClassicState.Layout.slot, c.base | 0x23)
        // The VMM's TSS descriptor (busy: the CPU never loads it by LTR) and TSS.
        let tss = ClassicState.Layout.tssLinear
        let descriptor = RingCompression.systemDescriptor(base: tss, limit: 0x67, type: 0xB)
        let at = c.gdtPhysical + UInt32(ClassicState.Layout.tssIndex) * 8
        mem.write32(at, UInt32(truncatingIfNeeded: descriptor))
        mem.write32(at + 4, UInt32(truncatingIfNeeded: descriptor >> 32))
        mem.write(c.tssPhysical + 0x66, size: 2, value: 0x68)  // I/O map base past the limit: no bitmap
    }

    /// Ring compression begins (VMM.init for a guest in protected mode, the guest's CR0.PE
    /// 0 → 1, the end of a V86 or task-switch stretch: `resumeRingCompression`): the guest's
    /// descriptor-table registers become virtual and the CPU gets the shadow
    /// GDT, IDT and TSS; CS and SS move to ring 1; no intercepts, every exception exits.
    func enterRingCompression(_ c: ClassicState) {
        let st = cpu.statePointer
        if let from = c.emulated {
            // From an emulated mode (real mode, V86, a task switch), where the CPU held the
            // guest's own registers (LGDT, LTR, a task switch may have changed them there).
            c.gdtr = st.pointee.gdtr
            c.idtr = st.pointee.idtr
            c.ldtr = st.pointee.ldtr.selector
            c.tr = st.pointee.tr.selector
            c.emulated = nil
            if from == .realMode { c.compressionEntries &+= 1 } else { c.emulatedReturns &+= 1 }
            loadClassicCR4(c)
        }
        let tss = ClassicState.Layout.tssLinear
        st.pointee.gdtr = TableRegister(base: ClassicState.Layout.gdtLinear, limit: 0xFFFF)
        st.pointee.idtr = TableRegister(base: ClassicState.Layout.idtLinear, limit: c.idtr.limit)
        st.pointee.tr = SegmentCache(selector: UInt16(ClassicState.Layout.tssIndex << 3), base: tss, limit: 0x67,
                                     attributes: 0x8B)
        st.pointee.ldtr = SegmentCache()
        // Ring compression of what is loaded now: CS and SS at ring 1.
        if st.pointee.cpl == 0 {
            st.pointee.cpl = 1
            for r in [SegmentRegister.cs, .ss] {
                let old = st.pointee[r]
                st.pointee[r] = SegmentCache(selector: old.selector | 1, base: old.base, limit: old.limit,
                                             attributes: old.attributes & ~0x60 | 0x20)
            }
        }
        // A CPU before VT-x: no execution controls, no read shadows; every exception is the
        // VMM's first.
        cpu.intercepts = []
        cpu.exitOnExceptions = Self.classicExceptionBitmap
        cpu.cr0GuestHostMask = 0
        cpu.cr4GuestHostMask = 0
        cpu.flushTLB()
        syncClassicTables()
        cpu.eflags = cpu.eflags  // re-evaluate the CPU's attention
    }

    // MARK: Shadow descriptor tables

    /// A 32-bit value at a guest-linear address, through the guest's own tables (nil: unmapped).
    func guestRead32(_ linear: UInt32) -> UInt32? {
        let v = virtualCPU
        var physical = linear
        if v.cr0 & CR0.pg != 0 {
            let w = GuestPageWalk.walk(machine.memory, GuestPageWalk.Controls(cr0: v.cr0, cr3: v.cr3, cr4: v.cr4),
                                       linear: linear, write: false, user: false)
            guard w.faultCode == nil || w.faultCode! & 1 != 0 else { return nil }
            guard w.pde & 1 != 0, w.pte.map({ $0 & 1 != 0 }) ?? true else { return nil }
            physical = w.frame | linear & 0xFFF
        }
        guard physical <= machine.memory.guestSize &- 4 else { return nil }
        return machine.memory.read32(physical)
    }

    func guestRead64(_ linear: UInt32) -> UInt64 {
        UInt64(guestRead32(linear) ?? 0) | UInt64(guestRead32(linear &+ 4) ?? 0) << 32
    }

    func guestWrite32(_ linear: UInt32, _ value: UInt32) {
        let v = virtualCPU
        var physical = linear
        if v.cr0 & CR0.pg != 0 {
            let w = GuestPageWalk.walk(machine.memory, GuestPageWalk.Controls(cr0: v.cr0, cr3: v.cr3, cr4: v.cr4),
                                       linear: linear, write: false, user: false)
            guard w.pde & 1 != 0, w.pte.map({ $0 & 1 != 0 }) ?? true else { return }
            physical = w.frame | linear & 0xFFF
        }
        guard physical <= machine.memory.guestSize &- 4 else { return }
        machine.memory.write32(physical, value)
    }

    /// Copies the guest's GDT and IDT into the shadows (ring-compressed) and the guest's ring-0
    /// stack into the VMM TSS's ring-1 fields. Done before every VM entry: a guest that edits
    /// its tables between two exits is seen at the next exit (the cost of not write-protecting
    /// them; docs/classic.md).
    func syncClassicTables() {
        // In the emulated modes the CPU holds the guest's own tables (`enterClassicEmulatedMode`).
        guard let c = classic else { return }
        guard c.emulated == nil else {
            shadow?.watch(frames: [])
            return
        }
        c.translator?.lastPage = nil
        let mem = machine.memory
        let entries = min(Int(c.gdtr.limit) / 8 + 1, ClassicState.Layout.tssIndex)
        let count = c.gdtr.limit == 0 && c.gdtr.base == 0 ? 0 : entries
        // A DPL-1 or DPL-2 descriptor runs at that ring as it is: a guest kernel that copied the
        // shadow GDT through SGDT (the hole) keeps working. (A guest that really uses the middle
        // rings is conflated with its kernel: `RingCompression.problem` names it.)
        copyTable(from: c.gdtr.base, count: count, to: c.gdtPhysical, RingCompression.shadowDescriptor)
        if count < c.syncedGDTEntries {
            for i in count..<c.syncedGDTEntries { mem.write32(c.gdtPhysical + UInt32(i * 8), 0); mem.write32(c.gdtPhysical + UInt32(i * 8) + 4, 0) }
        }
        c.syncedGDTEntries = count
        let gates = c.idtr.limit == 0 && c.idtr.base == 0 ? 0 : min(Int(c.idtr.limit) / 8 + 1, 256)
        copyTable(from: c.idtr.base, count: gates, to: c.idtPhysical, RingCompression.shadowGate)
        if gates < 256 {
            (mem.ram + Int(c.idtPhysical) + gates * 8).initializeMemory(as: UInt8.self, repeating: 0, count: (256 - gates) * 8)
        }
        // The vectors whose guest gate is a task gate (their shadow gates are not present).
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for i in 0..<gates where (mem.ram.loadUnaligned(fromByteOffset: Int(c.idtPhysical) + i * 8 + 5, as: UInt8.self) & 0x1F) == 0x05 {
            let bit = UInt64(1) << UInt64(i & 63)
            switch i >> 6 {
            case 0: words.0 |= bit
            case 1: words.1 |= bit
            case 2: words.2 |= bit
            default: words.3 |= bit
            }
        }
        c.taskGates = words
        cpu.statePointer.pointee.idtr.limit = c.idtr.limit
        syncShadowLDT(c)
        // Ring-1 stack = the guest's ring-0 stack from its TSS (ESP0 at +4, SS0 at +8).
        if c.tr & ~7 != 0 {
            let d = guestRead64(c.gdtr.base &+ UInt32(c.tr & ~7))
            let tssBase = RingCompression.base(d)
            mem.write32(c.tssPhysical + 0x0C, guestRead32(tssBase &+ 4) ?? 0)                 // ESP1 ← ESP0
            mem.write32(c.tssPhysical + 0x10, (guestRead32(tssBase &+ 8) ?? 0) & 0xFFFF | 1)   // SS1 ← SS0 | RPL 1
        }
        traceClassicTables(c)
        // No TLB flush: the soft TLB caches translations, not the tables' contents (descriptors
        // are cached in the segment registers, which only a load refreshes, as on hardware).
    }

    /// Copies `count` 8-byte entries from a guest-linear table into a shadow table at
    /// `shadow` (physical), transformed; one walk of the guest's tables per page.
    func copyTable(from linear: UInt32, count: Int, to shadow: UInt32, _ transform: (UInt64) -> UInt64) {
        let mem = machine.memory
        let ram = mem.ram
        var i = 0
        while i < count {
            let a = linear &+ UInt32(i * 8)
            let inPage = Int((0x1000 - (a & 0xFFF)) / 8)
            let run = max(1, min(count - i, inPage))
            if a & 7 == 0 && inPage >= 1, let first = guestPhysical(a), first <= mem.guestSize &- UInt32(run * 8) {
                for k in 0..<run {
                    let d = ram.loadUnaligned(fromByteOffset: Int(first) + k * 8, as: UInt64.self)
                    ram.storeBytes(of: transform(d), toByteOffset: Int(shadow) + (i + k) * 8, as: UInt64.self)
                }
            } else {
                for k in 0..<run {
                    ram.storeBytes(of: transform(guestRead64(a &+ UInt32(k * 8))), toByteOffset: Int(shadow) + (i + k) * 8, as: UInt64.self)
                }
            }
            i += run
        }
    }

    /// The guest's LDT, ring-compressed, at `Layout.ldtLinear` (up to 64 KiB), named by the
    /// shadow GDT's entry 8190; the real LDTR points at it (or is null with the guest's).
    func syncShadowLDT(_ c: ClassicState) {
        let st = cpu.statePointer
        let at = c.gdtPhysical + UInt32(ClassicState.Layout.ldtIndex) * 8
        let mem = machine.memory
        guard c.ldtr & ~3 != 0, c.ldtr & 4 == 0, UInt32(c.ldtr | 7) <= UInt32(c.gdtr.limit) else {
            c.ldt = nil
            mem.write32(at, 0); mem.write32(at + 4, 0)
            st.pointee.ldtr = SegmentCache()
            return
        }
        let d = guestRead64(c.gdtr.base &+ UInt32(c.ldtr & ~7))
        let limit = min(RingCompression.limit(d), 0xFFFF)
        let base = RingCompression.base(d)
        c.ldt = (base, limit)
        copyTable(from: base, count: Int(limit) / 8 + 1, to: c.ldtPhysical, RingCompression.shadowDescriptor)
        let lin = ClassicState.Layout.ldtLinear
        let shadow = RingCompression.systemDescriptor(base: lin, limit: limit, type: 0x2)
        mem.write32(at, UInt32(truncatingIfNeeded: shadow)); mem.write32(at + 4, UInt32(truncatingIfNeeded: shadow >> 32))
        st.pointee.ldtr = SegmentCache(selector: UInt16(ClassicState.Layout.ldtIndex << 3), base: lin, limit: limit, attributes: 0x82)
    }

    /// The guest-physical address of a guest-linear one through the guest's own page tables
    /// (its virtual CR0/CR3/CR4; nothing is marked accessed), nil when they do not map it.
    public func guestPhysical(_ linear: UInt32) -> UInt32? {
        let v = virtualCPU
        guard v.cr0 & CR0.pg != 0 else { return linear }
        let w = GuestPageWalk.walk(machine.memory, GuestPageWalk.Controls(cr0: v.cr0, cr3: v.cr3, cr4: v.cr4),
                                   linear: linear, write: false, user: false)
        guard w.pde & 1 != 0, w.pte.map({ $0 & 1 != 0 }) ?? true else { return nil }
        return w.frame | linear & 0xFFF
    }

    // MARK: The #GP handler

    /// A #GP exit under classic virtualization: the guest kernel (real CPL 1) ran a privileged
    /// instruction — emulate it — or the fault is the guest's own — reflect it. `captured`: the
    /// instruction at EIP (`CPU.captureInstructionAtEIP`, nil if it cannot be fetched).
    func classicGeneralProtection(_ captured: DecodedInstruction?, errorCode: UInt32?) -> StopReason? {
        guard let c = classic else { return reflect(vector: Vector.generalProtection, errorCode: errorCode) }
        let st = cpu.statePointer
        guard st.pointee.cpl == 1, let d = captured else {
            return reflect(vector: Vector.generalProtection, errorCode: errorCode)
        }
        let row = OpcodeTable.rows[Int(d.row)]
        let mnemonic = row.mnemonic
        let attributes = OpcodeTable.shared.attributes(row: Int(d.row))
        // Privileged by the opcode table's Popek–Goldberg column (RDTSC/RDPMC with CR4.TSD/PCE,
        // CLI/STI/IN/OUT above IOPL…) or by the attributes the interpreter checks.
        let privileged = row.popekGoldberg?.class == .privileged
        if privileged || attributes.contains(.privileged) || attributes.contains(.iopl) || attributes.contains(.io)
            || (c.umip && RingCompression.storesSystemState(d)) {
            c.traps[mnemonic, default: 0] &+= 1
            return emulateAtRingZero()
        }
        if fixUpStackSegmentLoad(d, errorCode: errorCode) { return nil }
        if fixUpFarReturn(d, errorCode: errorCode) { return nil }
        return reflect(vector: Vector.generalProtection, errorCode: errorCode)
    }

    /// Runs the trapped instruction once at real CPL 0 with the emulation intercepts armed and
    /// CR0/CR4 reads served from the guest's values: privileged state goes through the VMM's
    /// emulation, the rest (CLI, STI, IN, OUT, INVD…) executes as the guest kernel meant it.
    func emulateAtRingZero() -> StopReason? {
        guard let c = classic else { return nil }
        let st = cpu.statePointer
        c.inEmulation = true
        st.pointee.cpl = 0
        cpu.intercepts = Self.classicEmulationIntercepts
        cpu.cr0GuestHostMask = 0xFFFF_FFFF
        cpu.cr4GuestHostMask = 0xFFFF_FFFF
        syncReadShadows()
        let exit = cpu.run(maxInstructions: 1)
        var stop: StopReason? = nil
        if case .exception = exit {
            leaveRingZero()
            stop = handle(exit, deadline: nil)
        } else {
            stop = handle(exit, deadline: nil)
            leaveRingZero()
        }
        return stop
    }

    /// Back to the deprivileged guest after an emulation (unless the instruction itself changed
    /// the privilege level: SYSEXIT).
    func leaveRingZero() {
        guard let c = classic, c.inEmulation else { return }
        c.inEmulation = false
        // The emulated instruction cleared CR0.PE: the guest stays at CPL 0, in real mode.
        if c.emulated != nil {
            applyClassicEmulatedControls()
            return
        }
        let st = cpu.statePointer
        if st.pointee.cpl == 0 { st.pointee.cpl = 1 }
        cpu.intercepts = []
        cpu.cr0GuestHostMask = 0
        cpu.cr4GuestHostMask = 0
    }

    /// MOV SS / POP SS with a selector of RPL 0 naming a ring-compressed kernel data segment: the
    /// ring-1 CPU refuses it (SS needs RPL = DPL = CPL); it trapped, so the VMM may emulate it,
    /// loading the selector with RPL 1 (what ring compression means for SS). True when emulated.
    func fixUpStackSegmentLoad(_ d: DecodedInstruction, errorCode: UInt32?) -> Bool {
        guard let c = classic else { return false }
        let st = cpu.statePointer
        var selector: UInt16
        var pop = false
        if d.map == 0 && d.opcode == 0x8E && d.reg == 2 {
            guard let v = try? cpu.readExitOperand(size: 2) else { return false }
            selector = UInt16(truncatingIfNeeded: v)
        } else if d.map == 0 && d.opcode == 0x17 {
            let esp = st.pointee.regs[4]
            let ss = st.pointee[.ss]
            guard let v = guestRead32(ss.base &+ esp) else { return false }
            selector = UInt16(truncatingIfNeeded: v)
            pop = true
        } else {
            return false
        }
        guard selector & 3 == 0, selector & 4 == 0, selector >> 3 < c.syncedGDTEntries, errorCode == UInt32(selector & 0xFFFC) else { return false }
        let guestDescriptor = guestRead64(c.gdtr.base &+ UInt32(selector & ~7))
        // Only a present, writable data segment of the guest's ring 0 (DPL 1 too: a guest that
        // copied the shadow GDT through SGDT has the compressed descriptors in its own table).
        guard guestDescriptor & (1 << 47) != 0, guestDescriptor & (1 << 44) != 0, (guestDescriptor >> 43) & 1 == 0,
              (guestDescriptor >> 41) & 1 == 1, (guestDescriptor >> 45) & 3 <= 1 else { return false }
        let s = RingCompression.shadowDescriptor(guestDescriptor)
        st.pointee[.ss] = RingCompression.segmentCache(selector: selector | 1, s)
        if pop { st.pointee.regs[4] &+= d.operandSize32 ? 4 : 2 }
        c.traps[pop ? "pop ss" : "mov ss", default: 0] &+= 1
        record(.exceptionOrNMI, instruction: d, .exception(vector: Vector.generalProtection, errorCode: errorCode, cr2: nil),
               action: "emulated: SS loaded with RPL 1 (ring compression)")
        cpu.completeEmulatedInstruction()
        // MOV SS / POP SS hold off interrupts for one instruction (SDM Vol. 3A §6.8.3).
        st.pointee.interruptShadow = true
        cpu.eflags = cpu.eflags
        return true
    }

    /// IRET / RETF from the ring-1 kernel to a kernel code selector of RPL 0 (a frame the guest
    /// built itself, e.g. `push $0x08; push $f; lret`): the CPU sees a return to a more
    /// privileged ring and raises #GP(selector). It trapped, so the VMM emulates it as the
    /// same-ring return ring compression makes of it. EFLAGS follow the ring-1 rules (IF and IOPL
    /// are not changed: CPL 1 > IOPL 0) — the IRET hole stays open. True when emulated.
    func fixUpFarReturn(_ d: DecodedInstruction, errorCode: UInt32?) -> Bool {
        guard let c = classic, d.map == 0, [0xCF, 0xCB, 0xCA].contains(d.opcode), d.operandSize32 else { return false }
        let st = cpu.statePointer
        let ss = st.pointee[.ss]
        let esp = st.pointee.regs[4]
        guard let eip = guestRead32(ss.base &+ esp), let csWord = guestRead32(ss.base &+ esp &+ 4) else { return false }
        let selector = UInt16(truncatingIfNeeded: csWord)
        guard selector & 3 == 0, selector & 4 == 0, errorCode == UInt32(selector & 0xFFFC),
              Int(selector >> 3) < c.syncedGDTEntries else { return false }
        let g = guestRead64(c.gdtr.base &+ UInt32(selector & ~7))
        // A present code segment of the guest's ring 0 (or 1: see the SS fix-up).
        guard g & (1 << 47) != 0, g & (1 << 44) != 0, (g >> 43) & 1 == 1, (g >> 45) & 3 <= 1 else { return false }
        let cs = RingCompression.segmentCache(selector: selector | 1, RingCompression.shadowDescriptor(g))
        guard eip <= cs.limit else { return false }
        var pop: UInt32 = 8
        if d.opcode == 0xCF {
            guard let flags = guestRead32(ss.base &+ esp &+ 8) else { return false }
            let kept: UInt32 = EFLAGS.if | EFLAGS.iopl | EFLAGS.vm | EFLAGS.vif | EFLAGS.vip
            cpu.eflags = cpu.eflags & kept | flags & EFLAGS.writable & ~kept
            pop = 12
        } else if d.opcode == 0xCA {
            pop += d.immediate & 0xFFFF
        }
        st.pointee[.cs] = cs
        st.pointee.regs[4] = esp &+ pop
        st.pointee.eip = eip
        st.pointee.currentEIP = eip
        st.pointee.instructions &+= 1
        st.pointee.interruptShadow = false
        c.traps[d.opcode == 0xCF ? "iret" : "retf", default: 0] &+= 1
        record(.exceptionOrNMI, instruction: d, eip: cpu.state.eip,
               .exception(vector: Vector.generalProtection, errorCode: errorCode, cr2: nil),
               action: "emulated: return to the kernel's code with RPL 1 (ring compression)")
        cpu.eflags = cpu.eflags  // re-evaluate the CPU's attention (TF, IF)
        return true
    }

    // MARK: Descriptor-table instructions

    /// LGDT, LIDT, LLDT, LTR (and, with UMIP, SGDT, SIDT, SLDT, STR) against the guest's virtual
    /// registers; the shadows follow.
    func emulateClassicDescriptorTable(_ d: DecodedInstruction, _ exit: inout VMExit) -> StopReason? {
        guard let c = classic else { return nil }
        exit.reason = d.opcode == 0x00 ? .ldtrTrAccess : .gdtrIdtrAccess
        let address = cpu.exitOperandLinearAddress()
        switch (d.opcode, d.reg) {
        case (0x01, 2), (0x01, 3):
            guard let limit = guestRead32(address), let b = guestRead32(address &+ 2) else {
                return inject(.exception(Vector.pageFault, errorCode: 0), into: &exit)
            }
            let base = d.operandSize32 ? b : b & 0x00FF_FFFF
            let t = TableRegister(base: base, limit: UInt16(truncatingIfNeeded: limit))
            // A table in (or running into) the VMM's reserved area cannot be shadowed there.
            if UInt64(base) + UInt64(t.limit) >= UInt64(ClassicState.Layout.gdtLinear) {
                c.problem = "cannot virtualize classically: \(d.reg == 2 ? "LGDT" : "LIDT") of a table at 0x\(String(base, radix: 16)), inside the VMM's reserved area (the top 4 MiB)"
                return .notImplemented(eip: exit.eip, what: c.problem!)
            }
            if d.reg == 2 { c.gdtr = t } else { c.idtr = t }
            // Under binary translation the guest's GDT is its own (SGDT is emulated, so it never
            // copies the shadow's): a DPL-1 or DPL-2 segment is the guest using the middle rings,
            // which ring compression has given to its kernel.
            if d.reg == 2, c.translator != nil {
                for i in 1..<(Int(t.limit) / 8 + 1) {
                    if let p = RingCompression.problem(withDescriptor: guestRead64(t.base &+ UInt32(i * 8))) {
                        c.problem = "cannot virtualize classically: GDT entry \(i) (selector 0x\(String(i * 8, radix: 16))): \(p)"
                        return .notImplemented(eip: exit.eip, what: c.problem!)
                    }
                }
            }
            exit.action = "emulated: the guest's \(d.reg == 2 ? "GDTR" : "IDTR") = \(String(base, radix: 16)):\(String(t.limit, radix: 16)); shadow rebuilt"
        case (0x00, 2):
            let selector = UInt16(truncatingIfNeeded: (try? cpu.readExitOperand(size: 2)) ?? 0)
            if selector & ~3 != 0 {
                // The guest's GDT decides: an LDT descriptor, present, within the limit.
                let d = selector & 4 == 0 && UInt32(selector | 7) <= UInt32(c.gdtr.limit)
                    ? guestRead64(c.gdtr.base &+ UInt32(selector & ~7)) : 0
                guard (d >> 40) & 0x1F == 0x02 else {
                    return inject(.exception(Vector.generalProtection, errorCode: UInt32(selector & 0xFFFC)), into: &exit)
                }
                guard d & (1 << 47) != 0 else {
                    return inject(.exception(Vector.segmentNotPresent, errorCode: UInt32(selector & 0xFFFC)), into: &exit)
                }
            }
            c.ldtr = selector
        case (0x00, 3):
            let selector = UInt16(truncatingIfNeeded: (try? cpu.readExitOperand(size: 2)) ?? 0)
            // The guest's own GDT decides (a selector past its limit — the VMM's TSS slot, say —
            // is #GP(selector), as on hardware).
            guard selector & 4 == 0, selector & ~7 != 0, UInt32(selector | 7) <= UInt32(c.gdtr.limit) else {
                return inject(.exception(Vector.generalProtection, errorCode: UInt32(selector & 0xFFFC)), into: &exit)
            }
            c.tr = selector
            // LTR marks the guest's TSS descriptor busy, as hardware does.
            let high = c.gdtr.base &+ UInt32(selector & ~7) &+ 4
            if let v = guestRead32(high) { guestWrite32(high, v | 0x200) }
        case (0x01, 0), (0x01, 1):
            // UMIP made SGDT/SIDT trap: the guest gets its own values (the fix closes the hole).
            let t = d.reg == 0 ? c.gdtr : c.idtr
            guestWrite16(address, t.limit)
            guestWrite16(address &+ 2, UInt16(truncatingIfNeeded: t.base))
            guestWrite16(address &+ 4, UInt16(truncatingIfNeeded: t.base >> 16))
        case (0x00, 0), (0x00, 1):
            let v = d.reg == 0 ? c.ldtr : c.tr
            if d.modrm >= 0xC0 {
                let r = Int(d.modrm & 7)
                cpu.setRegister(r, d.operandSize32 ? UInt32(v) : cpu.register(r) & 0xFFFF_0000 | UInt32(v))
            } else {
                guestWrite16(address, v)
            }
        default:
            return .notImplemented(eip: exit.eip, what: "classic: descriptor-table instruction 0F \(String(d.opcode, radix: 16)) /\(d.reg)")
        }
        syncClassicTables()
        cpu.completeEmulatedInstruction()
        return nil
    }

    func guestWrite16(_ linear: UInt32, _ v: UInt16) {
        let word = linear & ~3
        let shift = (linear & 3) * 8
        if shift <= 16, let old = guestRead32(word) {
            guestWrite32(word, old & ~(0xFFFF << shift) | UInt32(v) << shift)
        } else {
            for i in 0..<2 {
                let a = linear &+ UInt32(i)
                if let old = guestRead32(a & ~3) {
                    let sh = (a & 3) * 8
                    guestWrite32(a & ~3, old & ~(0xFF << sh) | UInt32((v >> (8 * i)) & 0xFF) << sh)
                }
            }
        }
    }
}

// MARK: Binary translation

extension VMM {
    /// The binary translator's look before each instruction: guest-kernel code only.
    func translatorObserves() -> Bool {
        // The emulated modes run the guest exactly (its own tables, its own rings): nothing to translate.
        guard let c = classic, let bt = c.translator, c.emulated == nil else { return false }
        let st = cpu.statePointer.pointee
        guard st.cpl == 1 || st.cpl == 3 else { return false }
        let cs = st.segments[1]
        let lin = cs.base &+ st.eip
        let phys: UInt32
        if let p = bt.lastPage, p.linear == lin & ~0xFFF {
            phys = p.physical | lin & 0xFFF
        } else {
            guard let p = guestPhysical(lin) else { return false }
            bt.lastPage = (lin & ~0xFFF, p & ~0xFFF)
            phys = p
        }
        guard bt.shouldTrap(phys: phys, big: cs.big, memory: machine.memory, umip: c.umip) else { return false }
        // User code keeps its ring (it is not compressed): only the holes that read the machine's
        // tables and registers differ there, and only those are emulated.
        return st.cpl == 1 || bt.isUserLeak(atPhysical: phys, memory: machine.memory, big: cs.big)
    }

    /// A hole the translation made trap: run it once as the guest kernel would have (CPL 0, its
    /// own GDT, CS/SS of RPL 0), then compress the state again.
    func executeHoleInGuestView() -> StopReason? {
        guard let c = classic, let bt = c.translator else { return nil }
        let st = cpu.statePointer
        bt.noteTrap()
        var mnemonic = "?"
        if let d = cpu.captureInstructionAtEIP() {
            mnemonic = OpcodeTable.shared.mnemonic(row: Int(d.row), wide: d.operandSize32)
            c.traps[mnemonic + " (translated)", default: 0] &+= 1
        }
        // The guest may have edited its tables since the last exit: what it runs on now counts.
        syncClassicTables()
        let shadowGDTR = st.pointee.gdtr
        let shadowLDTR = st.pointee.ldtr, shadowTR = st.pointee.tr
        c.inEmulation = true
        st.pointee.gdtr = c.gdtr
        // Its LDT and TSS too (TI=1 selectors, a task return's back link).
        if let l = c.ldt { st.pointee.ldtr = SegmentCache(selector: c.ldtr, base: l.base, limit: l.limit, attributes: 0x82) }
        if c.tr & ~7 != 0 {
            st.pointee.tr = RingCompression.segmentCache(selector: c.tr, guestRead64(c.gdtr.base &+ UInt32(c.tr & ~7)))
        }
        if st.pointee.cpl == 1 {
            st.pointee.cpl = 0
            for r in [SegmentRegister.cs, .ss] where st.pointee[r].selector & 3 == 1 {
                st.pointee[r].selector &= ~3
            }
            // The x87's last-instruction CS and operand selector were recorded in ring 1 too:
            // FNSTENV, FNSAVE and FXSAVE store them (the catalog's FPU CS hole).
            if st.pointee.fpu.instructionSelector & 3 == 1 { st.pointee.fpu.instructionSelector &= ~3 }
            if st.pointee.fpu.operandSelector & 3 == 1 { st.pointee.fpu.operandSelector &= ~3 }
        }
        // A task switch exits as under --virt=hw (the policy's TASK_SWITCH), before anything
        // changed: the guest's view then becomes the emulated mode.
        cpu.intercepts = Self.classicEmulationIntercepts.union(policy.intercepts.intersection(.taskSwitch))
        cpu.cr0GuestHostMask = 0xFFFF_FFFF
        cpu.cr4GuestHostMask = 0xFFFF_FFFF
        syncReadShadows()
        let switches = cpu.modeCounters.taskSwitches
        bt.passThrough = true
        let exit = cpu.run(maxInstructions: 1)
        bt.passThrough = false
        // An IRET into virtual-8086 mode or a task switch (IRET with NT, a far JMP or CALL to a
        // TSS or task gate): what follows runs in the emulated mode, not compressed again.
        let v86 = st.pointee.flags & EFLAGS.vm != 0
        if exit == .intercepted(.taskSwitch) || v86 || cpu.modeCounters.taskSwitches != switches {
            c.inEmulation = false
            continueGuestViewEmulated(c, v86 ? .v86 : .taskSwitch, mnemonic: mnemonic)
            return handle(exit, deadline: nil)
        }
        st.pointee.ldtr = shadowLDTR
        st.pointee.tr = shadowTR
        leaveGuestView(shadowGDTR: shadowGDTR)
        return handle(exit, deadline: nil)
    }

    func leaveGuestView(shadowGDTR: TableRegister) {
        guard let c = classic else { return }
        let st = cpu.statePointer
        st.pointee.gdtr = shadowGDTR
        if st.pointee.cpl == 0 {
            st.pointee.cpl = 1
            for r in [SegmentRegister.cs, .ss] {
                let old = st.pointee[r]
                guard old.selector & 3 == 0 else { continue }
                // Loaded from the guest's GDT with DPL 0: the compressed copy says ring 1.
                let dpl = old.dpl == 0 ? UInt16(0x20) : UInt16(old.dpl) << 5
                st.pointee[r] = SegmentCache(selector: old.selector | 1, base: old.base, limit: old.limit,
                                             attributes: old.attributes & ~0x60 | dpl)
            }
        }
        c.inEmulation = false
        cpu.intercepts = []
        cpu.cr0GuestHostMask = 0
        cpu.cr4GuestHostMask = 0
        cpu.eflags = cpu.eflags
    }

    /// Binary translation: an event the VMM just delivered to the guest kernel without a stack
    /// switch pushed CS with RPL 1; the guest must see 0 (its IRET is translated too).
    func fixDeliveredFrame(errorCode: Bool) {
        guard let c = classic, c.translator != nil else { return }
        let st = cpu.statePointer.pointee
        guard st.cpl == 1 else { return }
        // The event actually delivered last (a fault during delivery replaces the first).
        let pushedCode = cpu.exceptionChain.last.map { $0.errorCode != nil } ?? errorCode
        let at = st.segments[2].base &+ st.regs[4] &+ (pushedCode ? 8 : 4)
        guard let cs = guestRead32(at), cs & 3 == 1 else { return }
        guestWrite32(at, cs & ~3)
    }
}
