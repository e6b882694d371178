import Machine
import ShadowMMU
import VMM
import X86Core

/// The task-state segment and the segment registers' descriptor caches.
extension DescriptorView {
    /// The TSS that TR names, read at TR's cached base (SDM Vol. 3A §7.2.1 Figure 7-2 for the
    /// 32-bit layout, §7.6 Figure 7-11 for the 16-bit one):
    ///
    ///     32-bit: 0 link | 4 ESP0 | 8 SS0 | 0C ESP1 | 10 SS1 | 14 ESP2 | 18 SS2 | 1C CR3 | 20 EIP
    ///             24 EFLAGS | 28 EAX ECX EDX EBX ESP EBP ESI EDI | 48 ES CS SS DS FS GS (dwords)
    ///             60 LDT | 64 T (bit 0) | 66 I/O map base
    ///     16-bit: 0 link | 2 SP0 | 4 SS0 | 6 SP1 | 8 SS1 | 0A SP2 | 0C SS2 | 0E IP | 10 FLAGS
    ///             12 AX CX DX BX SP BP SI DI | 22 ES CS SS DS | 2A LDT
    public static func tss(machine: PCMachine, vmm: VMM?) -> String {
        let st = machine.cpu.statePointer.pointee
        let tr = st.tr
        guard tr.present, tr.isSystem, [1, 3, 9, 0xB].contains(tr.type) else {
            return "TSS: none (TR \(hex16(tr.selector)) holds no TSS)"
        }
        let memory = GuestMemory(machine: machine, vmm: vmm)
        let is32 = tr.type & 8 != 0
        let size: UInt32 = is32 ? 0x68 : 0x2C
        var header = "TSS TR \(hex16(tr.selector))  base \(hex(tr.base))  limit \(hex(tr.limit))  \(typeName(attributes: tr.attributes))"
        if tr.selector & 0xFFFC == 0 { header += "  (null selector: the cache as reset left it)" }
        guard tr.limit + 1 >= size else {
            return header + ": limit below the \(is32 ? "32" : "16")-bit TSS size \(hex(size, digits: 2))"
        }
        guard let b = memory.read(tr.base, count: Int(size)) else {
            return header + ": not mapped (linear \(hex(tr.base)) unreadable)"
        }
        func w16(_ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
        func w32(_ o: Int) -> UInt32 { UInt32(w16(o)) | UInt32(w16(o + 2)) << 16 }
        var lines = [header]
        if is32 {
            lines.append("  link \(hex16(w16(0)))")
            lines.append("  ESP0 \(hex(w32(4)))  SS0 \(hex16(w16(8)))   ESP1 \(hex(w32(0xC)))  SS1 \(hex16(w16(0x10)))   ESP2 \(hex(w32(0x14)))  SS2 \(hex16(w16(0x18)))")
            lines.append("  CR3 \(hex(w32(0x1C)))  EIP \(hex(w32(0x20)))  EFLAGS \(hex(w32(0x24)))")
            let gprs = ["EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI"]
            lines.append("  " + (0..<4).map { "\(gprs[$0]) \(hex(w32(0x28 + 4 * $0)))" }.joined(separator: "  "))
            lines.append("  " + (4..<8).map { "\(gprs[$0]) \(hex(w32(0x28 + 4 * $0)))" }.joined(separator: "  "))
            let segs = ["ES", "CS", "SS", "DS", "FS", "GS"]
            lines.append("  " + (0..<6).map { "\(segs[$0]) \(hex16(w16(0x48 + 4 * $0)))" }.joined(separator: "  "))
            let ioBase = w16(0x66)
            let io = UInt32(ioBase) > tr.limit ? "no I/O bitmap: beyond the limit" : "I/O bitmap at \(hex(tr.base &+ UInt32(ioBase)))"
            lines.append("  LDT \(hex16(w16(0x60)))  T \(b[0x64] & 1)  I/O map base \(hex16(ioBase)) (\(io))")
        } else {
            lines.append("  link \(hex16(w16(0)))")
            lines.append("  SP0 \(hex16(w16(2)))  SS0 \(hex16(w16(4)))   SP1 \(hex16(w16(6)))  SS1 \(hex16(w16(8)))   SP2 \(hex16(w16(0xA)))  SS2 \(hex16(w16(0xC)))")
            lines.append("  IP \(hex16(w16(0xE)))  FLAGS \(hex16(w16(0x10)))")
            let gprs = ["AX", "CX", "DX", "BX", "SP", "BP", "SI", "DI"]
            lines.append("  " + (0..<8).map { "\(gprs[$0]) \(hex16(w16(0x12 + 2 * $0)))" }.joined(separator: "  "))
            let segs = ["ES", "CS", "SS", "DS"]
            lines.append("  " + (0..<4).map { "\(segs[$0]) \(hex16(w16(0x22 + 2 * $0)))" }.joined(separator: "  "))
            lines.append("  LDT \(hex16(w16(0x2A)))")
        }
        return lines.joined(separator: "\n")
    }

    /// One line per segment register, then LDTR and TR: selector and the descriptor cache the
    /// CPU really uses (base, limit in bytes, type, DPL), which may differ from the table entry
    /// if the guest edited it after the load (SDM Vol. 3A §3.4.3).
    public static func segments(cpu: CPU) -> String {
        let st = cpu.statePointer.pointee
        let names = ["ES", "CS", "SS", "DS", "FS", "GS"]
        var lines: [String] = []
        for r in SegmentRegister.allCases { lines.append(segmentLine(names[r.rawValue], st[r])) }
        lines.append(segmentLine("LDTR", st.ldtr))
        lines.append(segmentLine("TR", st.tr))
        return lines.joined(separator: "\n")
    }

    static func segmentLine(_ name: String, _ c: SegmentCache) -> String {
        let head = ViewSupport.pad(name, 4) + "  " + hex16(c.selector)
        guard c.present else { return head + "  " + (c.selector & 0xFFFC == 0 ? "null (unusable)" : "not present (unusable)") }
        return head + "  base \(hex(c.base))  limit \(hex(c.limit))  DPL \(c.dpl)  " + typeName(attributes: c.attributes)
    }
}
