import VMM
import X86Core

/// `regs`: the general registers, EIP, EFLAGS as letters, the segment registers with their
/// descriptor caches, the control registers as the guest sees them and as the hardware really
/// holds them, CPL. What changed since the previous stop is marked: `*` (or bold colour on a
/// terminal).
enum RegisterView {
    static let flagLetters: [(UInt32, String)] = [
        (EFLAGS.cf, "CF"), (EFLAGS.pf, "PF"), (EFLAGS.af, "AF"), (EFLAGS.zf, "ZF"), (EFLAGS.sf, "SF"),
        (EFLAGS.tf, "TF"), (EFLAGS.if, "IF"), (EFLAGS.df, "DF"), (EFLAGS.of, "OF"), (EFLAGS.nt, "NT"),
        (EFLAGS.rf, "RF"), (EFLAGS.vm, "VM"), (EFLAGS.ac, "AC"), (EFLAGS.id, "ID"),
    ]

    static func flags(_ v: UInt32) -> String {
        let set = flagLetters.filter { v & $0.0 != 0 }.map(\.1)
        return "[" + (set + ["IOPL=\((v >> 12) & 3)"]).joined(separator: " ") + "]"
    }

    static func render(_ s: DebugSession, colour: Bool) -> String {
        let now = RegisterSnapshot(cpu: s.cpu, vmm: s.vmm)
        let before = s.previousRegisters
        func mark(_ name: String, _ text: String) -> String {
            guard now.value(name) != before.value(name) else { return text + " " }
            return colour ? "\u{1B}[1;33m\(text)\u{1B}[0m*" : text + "*"
        }
        let st = s.cpu.statePointer.pointee
        var out = ""
        for row in 0..<2 {
            out += (0..<4).map { i -> String in
                let n = RegisterFile.gprNames[row * 4 + i]
                return mark(n, "\(n) \(hex8(now.value(n)))")
            }.joined(separator: "  ") + "\n"
        }
        let eflags = now.value("eflags")
        out += mark("eip", "eip \(hex8(st.eip))") + (s.symbols.label(for: st.segments[1].base &+ st.eip).map { " <\($0)>" } ?? "")
        out += "  " + mark("eflags", "eflags \(hex8(eflags))") + " " + flags(eflags) + "\n"
        for (i, name) in RegisterFile.segmentNames.enumerated() {
            let c = st.segments[i]
            out += mark(name, "\(name) \(hex4(c.selector))") + "  " + cacheText(c) + "\n"
        }
        out += "ldtr \(hex4(st.ldtr.selector))  " + cacheText(st.ldtr) + "\n"
        out += "tr   \(hex4(st.tr.selector))  " + cacheText(st.tr) + "\n"
        out += "gdtr base \(hex8(st.gdtr.base)) limit \(hex4(st.gdtr.limit))   idtr base \(hex8(st.idtr.base)) limit \(hex4(st.idtr.limit))\n"
        let guestLine = ["cr0", "cr2", "cr3", "cr4"].map { mark($0, "\($0) \(hex8(now.value($0)))") }.joined(separator: "  ")
        if s.vmm != nil {
            out += "guest sees  " + guestLine + "\n"
            out += "hardware    cr0 \(hex8(st.cr0))   cr2 \(hex8(st.cr2))   cr3 \(hex8(st.cr3))   cr4 \(hex8(st.cr4))"
            out += s.vmm?.shadow != nil ? "   (cr3 = shadow root; CR0/CR4 reads come from the VMM's read shadows)\n"
                                          : "   (CR0/CR4 reads come from the VMM's read shadows)\n"
        } else {
            out += guestLine + "\n"
        }
        out += mark("cpl", "cpl \(st.cpl)") + modeText(st) + "  icount \(st.instructions)" + (st.halted || (s.vmm?.guestHalted ?? false) ? "  (halted)" : "") + "\n"
        return out
    }

    /// The operating mode when it is not plain protected mode (SDM Vol. 3A §2.2): real-address
    /// mode (segments are paragraphs) or virtual-8086 mode (paragraphs at CPL 3 inside a task).
    static func modeText(_ st: CPUState) -> String {
        if st.cr0 & CR0.pe == 0 { return "  mode real-address" }
        if st.flags & EFLAGS.vm != 0 { return "  mode virtual-8086" + (st.cr4 & CR4.vme != 0 ? " (VME)" : "") }
        return ""
    }

    static func cacheText(_ c: SegmentCache) -> String {
        guard c.present || c.selector != 0 else { return "(null)" }
        let t = c.type
        let kind: String
        if c.isSystem {
            kind = ["reserved", "tss16-avail", "ldt", "tss16-busy", "call16", "task", "int16", "trap16",
                    "reserved", "tss32-avail", "reserved", "tss32-busy", "call32", "reserved", "int32", "trap32"][Int(t)]
        } else if t & 8 != 0 {
            kind = "code " + (t & 2 != 0 ? "r-x" : "--x") + (t & 4 != 0 ? " conforming" : "")
        } else {
            kind = "data " + (t & 2 != 0 ? "rw-" : "r--") + (t & 4 != 0 ? " expand-down" : "")
        }
        return "base \(hex8(c.base)) limit \(hex8(c.limit)) \(kind) dpl \(c.dpl)\(c.isSystem ? "" : c.big ? " 32-bit" : " 16-bit")\(c.present ? "" : " not-present")"
    }
}

func hex4(_ v: UInt16) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 4 - s.count)) + s
}

func hex2(_ v: UInt8) -> String {
    let s = String(v, radix: 16)
    return s.count == 1 ? "0" + s : s
}
