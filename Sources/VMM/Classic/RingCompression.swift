/// Ring compression, the deprivileging of pre-VT VMMs (VMware's, Xen's before VT-x; Adams &
/// Agesen 2006 §3, Robin & Irvine 2000): the guest kernel's ring 0 runs at real ring 1, its
/// ring 3 stays at ring 3, so every privileged instruction it executes traps (#GP) into the VMM.
/// The VMM keeps shadow copies of the guest's descriptor tables in which the guest's ring-0
/// descriptors say ring 1; the CPU only ever sees the shadows.
///
/// These are the per-descriptor rules (SDM Vol. 3A §3.4.5 segment descriptors, §6.11 gates),
/// pure functions on the 8-byte little-endian descriptor as a `UInt64`:
///
///      63      56 55 54 53 52 51   48 47 46 45 44 43   40 39      16 15       0
///     ┌──────────┬──┬──┬──┬──┬───────┬──┬─────┬──┬───────┬──────────┬──────────┐
///     │base 31:24│G │DB│L │AV│lim19:16│P │ DPL │S │ type  │base 23:0 │limit 15:0│
///     └──────────┴──┴──┴──┴──┴───────┴──┴─────┴──┴───────┴──────────┴──────────┘
///
/// - code and data (S = 1): DPL 0 becomes 1; the accessed bit is set, so the CPU never writes the
///   shadow table (the VMM maps it read-only: a guest write must trap);
/// - call gates: DPL 0 becomes 1 (ring-1 kernel code may still call through them);
/// - TSS descriptors (types 1, 3, 9, B) and task gates (5) are kept but marked not present: a
///   deprivileged task switch would save into the VMM's TSS and load from the shadow GDT, so
///   every JMP, CALL or INT n that would switch tasks faults (#GP or #NP with the selector) and
///   exits; the VMM finds the guest's own descriptor behind it and runs the switch on the
///   guest's tables (`VMM+ClassicModes.swift`). LDT descriptors are kept as they are;
/// - IDT interrupt and trap gates: DPL 0 becomes 1 (so `int n` from the ring-1 kernel still
///   reaches them, and ring 3 still cannot); their target selector names a shadow code
///   descriptor of DPL 1, so the handler runs at ring 1, on the ring-1 stack of the VMM's TSS
///   when it comes from ring 3. Task gates are not present, as in the GDT.
public enum RingCompression {
    /// The real privilege level a guest privilege level runs at.
    public static func realRing(ofGuestRing r: UInt8) -> UInt8 { r == 0 ? 1 : r }

    /// The guest privilege level a real one stands for (ring 1 is the guest's ring 0; rings 1 and
    /// 2 of the guest itself cannot be virtualized this way).
    public static func guestRing(ofRealRing r: UInt8) -> UInt8 { r == 1 ? 0 : r }

    static func dpl(_ d: UInt64) -> UInt8 { UInt8((d >> 45) & 3) }
    static func withDPL(_ d: UInt64, _ v: UInt8) -> UInt64 { d & ~(3 << 45) | UInt64(v & 3) << 45 }
    static func present(_ d: UInt64) -> Bool { d & (1 << 47) != 0 }

    /// A TSS descriptor (types 1, 3, 9, B) or a task gate (5): what a task switch goes through.
    public static func isTaskDescriptor(_ d: UInt64) -> Bool {
        guard d & (1 << 44) == 0 else { return false }
        switch (d >> 40) & 0xF {
        case 0x1, 0x3, 0x9, 0xB, 0x5: return true
        default: return false
        }
    }

    /// What a guest GDT or LDT entry becomes in the shadow table.
    public static func shadowDescriptor(_ d: UInt64) -> UInt64 {
        guard present(d) else { return d }
        let isSegment = d & (1 << 44) != 0
        let type = (d >> 40) & 0xF
        if isSegment {
            let r = dpl(d) == 0 ? withDPL(d, 1) : d
            return r | (1 << 40)  // accessed
        }
        switch type {
        case 0x1, 0x3, 0x9, 0xB, 0x5: return d & ~(1 << 47)  // TSSs and task gates: not present
        case 0xC, 0x4: return dpl(d) == 0 ? withDPL(d, 1) : d  // call gates
        default: return d
        }
    }

    /// What a guest IDT gate becomes in the shadow IDT.
    public static func shadowGate(_ g: UInt64) -> UInt64 {
        guard present(g) else { return g }
        let type = (g >> 40) & 0x1F
        switch type {
        case 0x0E, 0x0F, 0x06, 0x07:  // 32- and 16-bit interrupt and trap gates
            return dpl(g) == 0 ? withDPL(g, 1) : g
        case 0x05:
            return g & ~(1 << 47)  // task gates: not present (the VMM delivers through them)
        default:
            return g  // invalid types fault as they would natively
        }
    }

    /// Does this guest descriptor ask for something ring compression cannot give? Guest
    /// descriptors of DPL 1 or 2 (the guest's own use of the middle rings) collide with the ring
    /// the VMM gives the guest kernel. nil when it can be virtualized.
    public static func problem(withDescriptor d: UInt64) -> String? {
        guard present(d) else { return nil }
        let isSegment = d & (1 << 44) != 0
        if isSegment && (dpl(d) == 1 || dpl(d) == 2) {
            return "the guest uses ring \(dpl(d)) itself (a DPL-\(dpl(d)) segment), which ring compression gives to its kernel"
        }
        return nil
    }
}

import X86Decode

extension RingCompression {
    /// Is this instruction, executed by the deprivileged guest kernel, a hole — sensitive and
    /// not trapping? The opcode table's Popek–Goldberg column, with its conditions: MOV to a
    /// segment register only for SS, MOV from one only for CS and SS, and with UMIP the five
    /// store instructions trap.
    public static func isHole(_ d: DecodedInstruction, umip: Bool) -> Bool {
        guard let pg = OpcodeTable.rows[Int(d.row)].popekGoldberg, pg.hole else { return false }
        if d.map == 0 && d.opcode == 0x8E && d.reg != 2 { return false }
        if d.map == 0 && d.opcode == 0x8C && d.reg != 1 && d.reg != 2 { return false }
        if umip && storesSystemState(d) { return false }
        return true
    }
}

import X86Core

extension RingCompression {
    /// SGDT, SIDT, SLDT, STR, SMSW: the instructions CR4.UMIP makes CPL-0 only.
    public static func storesSystemState(_ d: DecodedInstruction) -> Bool {
        d.map == 1 && ((d.opcode == 0x01 && (d.reg <= 1 || d.reg == 4)) || (d.opcode == 0x00 && d.reg <= 1))
    }

    /// Base of an 8-byte descriptor (SDM Vol. 3A Figure 3-8).
    static func base(_ d: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: (d >> 16) & 0xFF_FFFF | (d >> 32) & 0xFF00_0000)
    }

    /// Limit in bytes (scaled by G).
    static func limit(_ d: UInt64) -> UInt32 {
        let raw = UInt32(d & 0xFFFF) | UInt32((d >> 48) & 0xF) << 16
        return d & (1 << 55) != 0 ? raw << 12 | 0xFFF : raw
    }

    /// The descriptor cache a load of `selector` with descriptor `d` gives.
    static func segmentCache(selector: UInt16, _ d: UInt64) -> SegmentCache {
        SegmentCache(selector: selector, base: base(d), limit: limit(d), attributes: UInt16(truncatingIfNeeded: (d >> 40) & 0xF0FF))
    }

    /// A byte-granular system descriptor (TSS, LDT) of DPL 0.
    static func systemDescriptor(base b: UInt32, limit l: UInt32, type: UInt8) -> UInt64 {
        UInt64(l & 0xFFFF) | UInt64(b & 0xFF_FFFF) << 16 | UInt64(0x80 | type) << 40
            | UInt64((l >> 16) & 0xF) << 48 | UInt64(b >> 24) << 56
    }
}
