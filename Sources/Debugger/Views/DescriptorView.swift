import Machine
import ShadowMMU
import VMM
import X86Core

/// The debugger's descriptor-table views (`gdt`, `idt`, `ldt`, `tss`, and the segment lines of
/// `regs`): pure functions from machine state to text, deterministic, no colour.
///
/// API: `public enum DescriptorView` with static functions; each returns lines joined by "\n",
/// without a final newline.
/// - `gdt(machine:vmm:)`, `ldt(machine:vmm:)`: a header line, then one line per entry: index,
///   selector, type, base, limit (scaled by G), DPL, P, D/B, G; gates as selector:offset. Runs of
///   all-zero entries are one line. Entries a segment register or LDTR/TR was loaded from are
///   marked `← CS SS …`.
/// - `idt(machine:vmm:)`: one line per vector (gates: type, selector:offset, DPL, P); in real
///   mode the interrupt vector table (CS:IP).
/// - `tss(machine:vmm:)` (`DescriptorView+TSS.swift`): the task-state segment TR names, field by field.
/// - `segments(cpu:)` (`DescriptorView+TSS.swift`): ES CS SS DS FS GS LDTR TR and their caches.
///
/// Tables are read through `GuestMemory` by linear address, as the CPU reads them (SDM Vol. 3A
/// §3.5.1): no A bit is set, nothing is filled. An empty or unreadable table is one line.
public enum DescriptorView {
    public static func gdt(machine: PCMachine, vmm: VMM?) -> String {
        let st = machine.cpu.statePointer.pointee
        return table(name: "GDT", base: st.gdtr.base, limit: UInt32(st.gdtr.limit), ti: 0,
                     memory: GuestMemory(machine: machine, vmm: vmm), state: st)
    }

    public static func ldt(machine: PCMachine, vmm: VMM?) -> String {
        let st = machine.cpu.statePointer.pointee
        let l = st.ldtr
        guard l.selector & 0xFFFC != 0, l.present else {
            return "LDT: none (LDTR \(hex16(l.selector)) is null)"
        }
        return table(name: "LDT \(hex16(l.selector))", base: l.base, limit: l.limit, ti: 4,
                     memory: GuestMemory(machine: machine, vmm: vmm), state: st)
    }

    public static func idt(machine: PCMachine, vmm: VMM?) -> String {
        let st = machine.cpu.statePointer.pointee
        let memory = GuestMemory(machine: machine, vmm: vmm)
        let base = st.idtr.base, limit = UInt32(st.idtr.limit)
        let realMode = st.cr0 & CR0.pe == 0
        let size: UInt32 = realMode ? 4 : 8
        let count = min((limit + 1) / size, 256)
        let name = realMode ? "IVT (real mode)" : "IDT"
        let header = "\(name) base \(hex(base)) limit \(hex16(UInt16(truncatingIfNeeded: limit))) (\(count) \(count == 1 ? "entry" : "entries"))"
        guard count > 0 else { return "\(name): empty (IDTR base \(hex(base)) limit \(hex16(UInt16(truncatingIfNeeded: limit))))" }
        let raw = (0..<count).map { memory.read(base &+ $0 * size, count: Int(size)) }
        if raw.allSatisfy({ $0 == nil }) { return header + ": not mapped (linear \(hex(base)) unreadable)" }
        var lines = [header]
        forEachRun(raw, keepFirst: false) { first, last, bytes in
            let vector = ViewSupport.padLeft("\(first)", 5)
            let through = first == last ? "" : " (vectors \(first)-\(last))"
            guard let b = bytes else {
                lines.append("\(vector)      not mapped (linear \(hex(base &+ first * size)))" + through)
                return
            }
            if b.allSatisfy({ $0 == 0 }) {
                lines.append("\(vector)      zero" + through)
                return
            }
            let label = ViewSupport.pad(vectorName(first), 4)
            if realMode {
                let ip = UInt16(b[0]) | UInt16(b[1]) << 8, cs = UInt16(b[2]) | UInt16(b[3]) << 8
                lines.append("\(vector) \(label) \(hex16(cs)):\(hex16(ip))")
            } else {
                lines.append("\(vector) \(label) " + describe(Raw(b), typeWidth: gateWidth))
            }
        }
        return lines.joined(separator: "\n")
    }

    // MARK: Tables

    /// A GDT or LDT: header, then one line per entry (zero or unreadable runs collapsed).
    static func table(name: String, base: UInt32, limit: UInt32, ti: UInt16, memory: GuestMemory,
                      state st: CPUState) -> String {
        let count = min((UInt64(limit) + 1) / 8, 8192)
        guard count > 0 else { return "\(name): empty (base \(hex(base)) limit \(hex(limit, digits: 4)))" }
        let header = "\(name) base \(hex(base)) limit \(hex(limit, digits: 4)) (\(count) \(count == 1 ? "entry" : "entries"))"
        let raw = (0..<UInt32(count)).map { memory.read(base &+ $0 * 8, count: 8) }
        if raw.allSatisfy({ $0 == nil }) { return header + ": not mapped (linear \(hex(base)) unreadable)" }
        var lines = [header]
        forEachRun(raw, keepFirst: ti == 0) { first, last, bytes in
            let span = ViewSupport.padLeft("\(first)", 6) + "  " + hex16(UInt16(truncatingIfNeeded: first << 3) | ti)
            let through = first == last ? "" : " (entries \(first)-\(last))"
            guard let b = bytes else {
                lines.append("\(span)  not mapped (linear \(hex(base &+ first * 8)))" + through)
                return
            }
            if first == 0 && ti == 0 {
                let zero = b.allSatisfy { $0 == 0 }
                lines.append("\(span)  null descriptor" + (zero ? "" : " (contents ignored)"))
                return
            }
            if b.allSatisfy({ $0 == 0 }) {
                lines.append("\(span)  zero" + through)
                return
            }
            let users = loadedFrom(selectorIndex: first, ti: ti, state: st)
            lines.append("\(span)  " + describe(Raw(b)) + (users.isEmpty ? "" : "  ← " + users.joined(separator: " ")))
        }
        return lines.joined(separator: "\n")
    }

    /// Calls `body` once per entry, except that consecutive all-zero (or unreadable) entries are
    /// one call covering first...last.
    /// `keepFirst`: entry 0 stands alone (the GDT's null descriptor).
    static func forEachRun(_ raw: [[UInt8]?], keepFirst: Bool, _ body: (UInt32, UInt32, [UInt8]?) -> Void) {
        var i = 0
        while i < raw.count {
            let collapsible = raw[i] == nil || raw[i]!.allSatisfy { $0 == 0 }
            var j = i
            if collapsible && !(keepFirst && i == 0) {
                while j + 1 < raw.count && (raw[j + 1] == nil) == (raw[i] == nil)
                        && (raw[j + 1]?.allSatisfy { $0 == 0 } ?? true) { j += 1 }
            }
            body(UInt32(i), UInt32(j), raw[i])
            i = j + 1
        }
    }

    /// The segment registers (and LDTR, TR) whose selector names this entry.
    static func loadedFrom(selectorIndex: UInt32, ti: UInt16, state st: CPUState) -> [String] {
        var names: [String] = []
        let names6 = ["ES", "CS", "SS", "DS", "FS", "GS"]
        func matches(_ sel: UInt16) -> Bool { sel & 0xFFFC != 0 && sel & 4 == ti && UInt32(sel >> 3) == selectorIndex }
        for r in SegmentRegister.allCases where matches(st[r].selector) { names.append(names6[r.rawValue]) }
        if ti == 0 && matches(st.ldtr.selector) { names.append("LDTR") }
        if ti == 0 && matches(st.tr.selector) { names.append("TR") }
        return names
    }

    // MARK: One descriptor

    /// An 8-byte descriptor (SDM Vol. 3A §3.4.5 Figure 3-8, §5.8.3 Figure 5-8, §6.11 Figure 6-2):
    ///
    ///     high: base 31:24 | G D/B L AVL | limit 19:16 | P DPL S type | base 23:16
    ///     low:  base 15:0                | limit 15:0          (segments)
    ///     low:  selector                 | offset 15:0         (gates; offset 31:16 in high)
    struct Raw {
        var low: UInt32
        var high: UInt32
        init(_ b: [UInt8]) {
            low = UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
            high = UInt32(b[4]) | UInt32(b[5]) << 8 | UInt32(b[6]) << 16 | UInt32(b[7]) << 24
        }
        var attributes: UInt16 { UInt16(truncatingIfNeeded: (high >> 8) & 0xF0FF) }
        var base: UInt32 { (low >> 16) | ((high & 0xFF) << 16) | (high & 0xFF00_0000) }
        var limit: UInt32 {
            let raw = (low & 0xFFFF) | (high & 0xF_0000)
            return high & 0x80_0000 != 0 ? raw << 12 | 0xFFF : raw
        }
    }

    /// Room for the longest type name ("32-bit code execute/read, conforming, accessed"), and
    /// for the gate names of an IDT.
    static let typeWidth = 46
    static let gateWidth = 21

    /// "32-bit code execute/read, accessed        base 0x00000000  limit 0xffffffff  DPL 0  P 1  D/B 1  G 1",
    /// or for a gate "32-bit interrupt gate  0x0008:0x00003000  DPL 0  P 1".
    static func describe(_ d: Raw, typeWidth width: Int = typeWidth) -> String {
        let a = d.attributes
        let dpl = (a >> 5) & 3, p = (a >> 7) & 1
        let isSegment = a & 0x10 != 0
        let type = a & 0xF
        let name = ViewSupport.pad(typeName(attributes: a), width)
        if !isSegment && [4, 5, 6, 7, 0xC, 0xE, 0xF].contains(type) {
            let selector = UInt16(truncatingIfNeeded: d.low >> 16)
            if type == 5 { return "\(name)  TSS \(hex16(selector))  DPL \(dpl)  P \(p)" }
            let offset = (d.low & 0xFFFF) | (type & 8 != 0 ? d.high & 0xFFFF_0000 : 0)
            let params = type & 7 == 4 ? "  params \(d.high & 0x1F)" : ""
            return "\(name)  \(hex16(selector)):\(type & 8 != 0 ? hex(offset) : hex16(UInt16(offset)))  DPL \(dpl)  P \(p)" + params
        }
        return "\(name)  base \(hex(d.base))  limit \(hex(d.limit))  DPL \(dpl)  P \(p)  D/B \((a >> 14) & 1)  G \((a >> 15) & 1)"
    }

    /// The name of a descriptor type from its attribute word (`SegmentCache.attributes`:
    /// type 3:0, S 4, DPL 6:5, P 7, AVL 12, D/B 14, G 15; SDM Vol. 3A Tables 3-1 and 3-2).
    static func typeName(attributes a: UInt16) -> String {
        let type = a & 0xF
        if a & 0x10 != 0 {
            let width = a & 0x4000 != 0 ? "32-bit" : "16-bit"
            var parts: [String]
            if type & 8 != 0 {
                parts = ["\(width) code " + (type & 2 != 0 ? "execute/read" : "execute-only")]
                if type & 4 != 0 { parts.append("conforming") }
            } else {
                parts = ["\(width) data " + (type & 2 != 0 ? "read/write" : "read-only")]
                if type & 4 != 0 { parts.append("expand-down") }
            }
            if type & 1 != 0 { parts.append("accessed") }
            return parts.joined(separator: ", ")
        }
        switch type {
        case 0x1: return "16-bit TSS (available)"
        case 0x2: return "LDT"
        case 0x3: return "16-bit TSS (busy)"
        case 0x4: return "16-bit call gate"
        case 0x5: return "task gate"
        case 0x6: return "16-bit interrupt gate"
        case 0x7: return "16-bit trap gate"
        case 0x9: return "32-bit TSS (available)"
        case 0xB: return "32-bit TSS (busy)"
        case 0xC: return "32-bit call gate"
        case 0xE: return "32-bit interrupt gate"
        case 0xF: return "32-bit trap gate"
        default: return "reserved system type \(type)"
        }
    }

    /// "#PF" for the architectural vectors (SDM Vol. 3A Table 6-1), "" otherwise.
    static func vectorName(_ v: UInt32) -> String {
        let names = ["#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "", "#TS", "#NP",
                     "#SS", "#GP", "#PF", "", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"]
        return v < UInt32(names.count) ? names[Int(v)] : ""
    }

    static func hex16(_ v: UInt16) -> String { hex(UInt32(v), digits: 4) }
}
