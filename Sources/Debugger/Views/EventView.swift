import Machine
import ShadowMMU
import VMM
import X86Core
import X86Decode

/// `exits`, `faults` and `explain`: the event log as tables, and the last event in plain words
/// with the rule that applied and its SDM section.
enum EventView {
    static func exits(_ s: DebugSession, last n: Int) -> String {
        guard s.vmm != nil else { return "no VM exits: --virt=none runs the guest on the bare interpreter (no VMM)\n" }
        let list = s.log.exits.suffix(max(1, n))
        if list.isEmpty { return "no VM exits yet\n" }
        let dis = Disassembler()
        return list.map { e -> String in
            let x = e.exit
            let insn = x.instruction.map { $0.length > 0 ? dis.text($0, address: x.eip) : "" } ?? ""
            return "icount \(String(x.instructionCount).leftPad(9))  \(x.reason.name.padding(18)) eip \(hex8(x.eip))  "
                + (insn.isEmpty ? "" : insn.padding(28)) + qualification(x.qualification) + "  → \(x.action)"
        }.joined(separator: "\n") + "\n"
    }

    static func qualification(_ q: VMExit.Qualification) -> String {
        switch q {
        case .none: return ""
        case .io(let a): return "\(a.isIn ? "in" : "out") port 0x\(String(a.port, radix: 16)) size \(a.size)" + (a.isIn ? "" : " value 0x\(String(a.value, radix: 16))")
        case .controlRegister(let n, let access, _, let v): return "\(access.rawValue) CR\(n) = \(hex8(v))"
        case .exception(let v, let code, let cr2):
            return Vector.name(v) + (code.map { " error \(hex8($0))" } ?? "") + (cr2.map { " cr2 \(hex8($0))" } ?? "")
        case .timer(let d): return "timer deadline \(d) ns"
        case .linearAddress(let a): return "address \(hex8(a))"
        case .msr(let i, let v): return "msr 0x\(String(i, radix: 16))" + (v.map { " value 0x\(String($0, radix: 16))" } ?? "")
        case .cpuid(let l, let sub): return "leaf 0x\(String(l, radix: 16)) subleaf \(sub)"
        case .mmio(let dev, let a, let size, let w, let v): return "\(dev) \(w ? "write" : "read") \(hex8(a)) size \(size) value 0x\(String(v, radix: 16))"
        case .vector(let v): return "vector \(v)"
        case .taskSwitch(let sel, let source): return "selector 0x\(String(sel, radix: 16)) source \(source.name)"
        }
    }

    static func faults(_ s: DebugSession, last n: Int) -> String {
        let list = s.log.faults.suffix(max(1, n))
        if list.isEmpty { return "no page faults or exceptions yet\n" }
        return list.map { f -> String in
            var line = "icount \(String(f.icount).leftPad(9))  \(Vector.name(f.vector).padding(4)) eip \(hex8(f.eip))"
            if f.vector == Vector.pageFault {
                line += "  cr2 \(hex8(f.linear)) err \(f.errorCode.map { String($0, radix: 16) } ?? "-") (\(errorCodeText(f.errorCode ?? 0)))"
                line += f.hidden ? "  hidden" : "  delivered"
                if let w = f.walk {
                    line += "  guest PDE \(hex8(w.pde))" + (w.pte.map { " PTE \(hex8($0))" } ?? "")
                }
            } else if let c = f.errorCode {
                line += "  error \(hex8(c))"
            }
            return line + "  → \(f.action)"
        }.joined(separator: "\n") + "\n"
    }

    static func errorCodeText(_ c: UInt32) -> String {
        (c & 1 != 0 ? "protection" : "not-present") + (c & 2 != 0 ? ", write" : ", read") + (c & 4 != 0 ? ", user" : ", supervisor")
            + (c & 16 != 0 ? ", fetch" : "")
    }

    // MARK: explain

    static func explain(_ s: DebugSession) -> String {
        let exit = s.log.exits.last
        let fault = s.log.faults.last
        if s.log.lastWasFault, let f = fault { return explain(fault: f, session: s) }
        if let e = exit {
            if case .exception(let v, _, _) = e.exit.qualification, v == Vector.pageFault, let f = fault, f.icount == e.icount {
                return explain(fault: f, session: s)
            }
            return explain(exit: e.exit, session: s)
        }
        if let f = fault { return explain(fault: f, session: s) }
        return "Nothing to explain yet: no VM exit or page fault has happened. Step or continue first (try `run-to exit` or `run-to fault`).\n"
    }

    static func explain(exit x: VMExit, session s: DebugSession) -> String {
        let at = "At instruction \(x.instructionCount), eip \(hex8(x.eip))\(s.symbols.label(for: x.eip).map { " <\($0)>" } ?? "")"
        let insn = x.instruction.map { $0.length > 0 ? " (`\(Disassembler().text($0, address: x.eip))`)" : "" } ?? ""
        var text: String
        switch (x.reason, x.qualification) {
        case (.crAccess, .controlRegister(3, .movTo, _, let v)):
            text = "\(at) the guest loaded CR3 with \(hex8(v))\(insn). Under the VMM the guest's CR3 is virtual: the real CR3 holds the VMM's root, so the write exits (CR3-load exiting). "
            text += s.vmm?.shadow != nil
                ? "The VMM recorded the new value as the guest's CR3 and switched the shadow root (a cached shadow page directory if this address space was seen before, else a new empty one that fills on hidden faults). SDM Vol. 3C §25.1.3, §27.2.1 (Table 27-3); Vol. 3A §4.10.4.1."
                : "The VMM checked and loaded it into the real CR3 (the direct MMU walks the guest's own tables). SDM Vol. 3C §25.1.3, §27.2.1 (Table 27-3)."
        case (.crAccess, .controlRegister(3, .movFrom, _, let v)):
            text = "\(at) the guest read CR3\(insn). The real CR3 holds the VMM's shadow root, so CR3 reads exit (CR3-store exiting) and the VMM returned the guest's own value \(hex8(v)). SDM Vol. 3C §25.1.3."
        case (.crAccess, .controlRegister(let n, let access, _, let v)):
            text = "\(at) the guest wrote CR\(n) (\(access.rawValue)) = \(hex8(v))\(insn). The VMM owns every CR\(n) bit (guest/host mask all ones): the write exits, the VMM checks it as the instruction would, keeps it as the guest's CR\(n) (which the guest reads back through the read shadow) and loads the real register with what it needs"
            text += s.vmm?.shadow != nil ? " (PG and WP forced on, PSE off, for the shadow page tables; a change of PG/WP/PSE/PGE drops every shadow). " : ". "
            text += "SDM Vol. 3C §24.6.6, §25.1.3, §27.2.1 (Table 27-3)."
        case (.ioInstruction, .io(let a)):
            text = "\(at) the guest executed \(a.isIn ? "IN from" : "OUT to") port 0x\(String(a.port, radix: 16))\(portName(a.port))\(insn). The I/O bitmap intercepts it, so it exits; the VMM performed the access on the emulated device and resumed after the instruction. SDM Vol. 3C §25.1.3, §24.6.4 (I/O bitmaps)."
        case (.hlt, _):
            text = "\(at) the guest executed HLT. HLT exiting is on: the VMM puts the virtual CPU in the HLT activity state and skips virtual time to the next timer deadline; an interrupt wakes it by injection. SDM Vol. 3C §25.1.3, §24.4.2."
        case (.cpuid, .cpuid(let leaf, _)):
            text = "\(at) the guest executed CPUID (leaf 0x\(String(leaf, radix: 16))). CPUID always exits under VT-x; the VMM answered from x86v's CPU model. SDM Vol. 3C §25.1.2."
        case (.externalInterrupt, .timer(let d)):
            text = "\(at) virtual time reached a timer deadline (\(d) ns). Like a host timer interrupt it exits the guest (external-interrupt exiting); the VMM ticked the device, which may raise an IRQ that is injected at the next VM entry when the guest has IF = 1. SDM Vol. 3C §25.2, §26.6."
        case (.interruptWindow, _):
            text = "\(at) an interrupt was pending but the guest could not take it (IF = 0 or an STI/MOV SS shadow), so the VMM asked for an interrupt-window exit; the guest opened the window and the VMM injected the interrupt. SDM Vol. 3C §25.2, §26.6.5."
        case (.invlpg, .linearAddress(let a)):
            text = "\(at) the guest executed INVLPG \(hex8(a)). INVLPG exits so the VMM can drop its own cached translation: the soft TLB entry" + (s.vmm?.shadow != nil ? " and the shadow PTE for that page (refilled on the next access by a hidden fault)" : "") + ". SDM Vol. 3A §4.10.4.1; Vol. 3C §25.1.3."
        case (.rdmsr, .msr(let i, let v)), (.wrmsr, .msr(let i, let v)):
            text = "\(at) the guest executed \(x.reason == .rdmsr ? "RDMSR" : "WRMSR") on MSR 0x\(String(i, radix: 16))\(v.map { " (value 0x\(String($0, radix: 16)))" } ?? ""). MSR accesses exit (MSR bitmaps all ones); the VMM emulated it against x86v's MSR model (\(x.action)). SDM Vol. 3C §25.1.3, §24.6.9."
        case (.apicAccess, .mmio(_, let a, _, let w, _)), (.eptViolation, .mmio(_, let a, _, let w, _)):
            text = "\(at) the guest \(w ? "wrote" : "read") device memory at \(hex8(a)). The page belongs to an emulated device (\(x.reason == .apicAccess ? "the local APIC: APIC-access page" : "MMIO, as an EPT violation would report it")); the access was emulated by the device model. SDM Vol. 3C §29.4, §28.3.3."
        case (.nmiWindow, _):
            text = "\(at) an NMI was pending while the guest blocked NMIs (it was still in its NMI handler, before the IRET, or in an STI/MOV SS shadow), so the VMM asked for an NMI-window exit; the guest's IRET ended the blocking and the VMM injected the NMI (interrupt 2, whatever IF says). SDM Vol. 3A §6.7.1; Vol. 3C §25.2, §26.6.6."
        case (.exceptionOrNMI, .exception(Vector.nmi, _, _)):
            text = "\(at) an NMI arrived (from the local APIC: an NMI IPI, LINT1 or an I/O APIC entry in NMI mode) while the guest ran: with NMI exiting on it exits to the VMM, which injected it as an NMI event (interrupt 2 through the guest's IDT, whatever IF says; the guest then blocks NMIs until its IRET). SDM Vol. 3C §25.2, §26.6.1.1; Vol. 3A §6.7.1."
        case (.exceptionOrNMI, .exception(let v, let code, _)):
            text = "\(at) the guest raised \(Vector.name(v))\(code.map { "(\(hex8($0)))" } ?? "")\(insn). Its bit is set in the exception bitmap, so it exited to the VMM, which \(x.action). SDM Vol. 3C §25.2, §24.6.3."
        case (.gdtrIdtrAccess, _), (.ldtrTrAccess, _):
            text = "\(at) the guest executed a descriptor-table instruction\(insn). Descriptor-table exiting is on; the VMM \(x.action). SDM Vol. 3C §25.1.3."
        case (.taskSwitch, .taskSwitch(let sel, let source)):
            text = "\(at) the guest started a hardware task switch (\(source.name)) to the TSS with selector 0x\(String(sel, radix: 16))\(insn). VT-x never lets a guest switch tasks itself: every task switch exits, and the VMM performs it on the guest's TSSs (saving the old task's registers, loading the new one's, its LDT and CR3, the busy bits and back link), then resumes in the new task. SDM Vol. 3A §7.3; Vol. 3C §26.4.2."
        case (.tripleFault, _):
            text = "\(at) the guest triple-faulted: an exception occurred while delivering a double fault. Real hardware shuts down; the VMM stops the guest. SDM Vol. 3A §6.15 (interrupt 8)."
        default:
            text = "\(at) VM exit \(x.reason.name) (basic reason \(x.reason.rawValue))\(insn); the VMM \(x.action). SDM Vol. 3C Appendix C."
        }
        return wrap(text)
    }

    static func explain(fault f: EventLog.Fault, session s: DebugSession) -> String {
        guard f.vector == Vector.pageFault else {
            return wrap("At instruction \(f.icount), eip \(hex8(f.eip)), the CPU raised \(Vector.name(f.vector))\(f.errorCode.map { "(\(hex8($0)))" } ?? "") and delivered it through the guest's IDT. SDM Vol. 3A §6.15.")
        }
        let code = f.errorCode ?? 0
        let access = (code & 16 != 0 ? "fetched from" : code & 2 != 0 ? "wrote to" : "read") + " \(hex8(f.linear))"
        let ring = code & 4 != 0 ? "user mode" : "supervisor mode"
        let at = "At instruction \(f.icount), eip \(hex8(f.eip))\(s.symbols.label(for: f.eip).map { " <\($0)>" } ?? ""), the guest \(access) in \(ring)"
        let walk = f.walk.map { w in "guest PDE \(hex8(w.pde))" + (w.pte.map { ", PTE \(hex8($0))" } ?? "") + (w.large ? " (4 MiB page)" : "") } ?? ""
        let shadowed = f.shadowEntry.map { " (shadow PTE at \(hex8($0.address)) is now \(hex8($0.value)))" } ?? ""
        var text: String
        switch f.action {
        case "fill":
            text = "\(at). The shadow page tables had no entry for it, so the real walk failed: a hidden page fault the guest never sees. The guest's own tables allow the access (\(walk)), so the VMM set the guest's accessed bit, built the shadow entry\(shadowed) — writable only once the guest's dirty bit is set — and retried the instruction. SDM Vol. 3A §4.10.4 (software TLB consistency), §4.8 (A/D bits)."
        case "dirty":
            text = "\(at). Its shadow entry was read-only because the guest's dirty bit was still clear: the first write must set it, as hardware would (\(walk)). The VMM set D in the guest's entry, made the shadow entry writable\(shadowed) and retried; the guest saw no fault. SDM Vol. 3A §4.8."
        case "write-protect":
            let i = s.log.faults.lastIndex { $0.icount == f.icount && $0.linear == f.linear } ?? s.log.faults.count - 1
            let nextZapped = i + 1 < s.log.faults.count ? s.log.faults[i + 1].zappedBefore : (s.vmm?.shadow?.stats.entriesZapped ?? f.zappedBefore)
            let zapped = nextZapped &- f.zappedBefore
            let frame = f.walk.map { hex8($0.frame) } ?? "?"
            text = "\(at), inside a page table that the VMM write-protects (shadowed guest table at \(frame)). The VMM did that store for the guest (KVM's pte-write path; a store it cannot take over, such as a page-crossing or multi-part write, it lets through once and compares with a copy at the next instruction boundary) and zapped \(zapped) shadow entr\(zapped == 1 ? "y" : "ies") built from the guest entries that changed, or rebuilt them at once where the new entry is present and accessed (the rest are refilled by hidden faults when next used). SDM Vol. 3A §4.10.4."
        case "unsync":
            let frame = f.walk.map { hex8($0.frame) } ?? "?"
            text = "\(at), inside a leaf page table the VMM had write-protected (shadowed guest table at \(frame)). Instead of trapping every store to it, the VMM let the table go out of sync (KVM's unsync pages): the shadow entry for this page was made writable\(shadowed), so the guest now writes its table directly. The shadow entries built from it catch up when the guest must expect it of a real TLB too: INVLPG of their address, or any CR3 write. SDM Vol. 3A §4.10.4.2, §4.10.4.3."
        case "identity":
            text = "\(at) with guest paging off. The VMM still runs the real CPU with paging on, over an identity shadow (linear = guest-physical); the missing entry was filled and the instruction retried. The guest saw nothing. SDM Vol. 3A §4.1 (paging modes)."
        default:
            let why = code & 1 == 0 ? "the page is not present" : code & 4 != 0 && !(f.walk?.user ?? true) ? "user mode may not touch a supervisor page" : code & 2 != 0 ? "the page is read-only" + (code & 4 == 0 && f.wp ? " and CR0.WP = 1 applies it to the kernel too" : "") : "the access is not allowed"
            text = "\(at). The guest's own page tables do not allow it: \(why)\(walk.isEmpty ? "" : " (\(walk))"). This is a true fault: " + (s.vmm?.shadow != nil ? "the shadow MMU walked the guest's tables, found the guest would fault, and the VMM injected #PF with error code \(hex8(code)) and CR2 = \(hex8(f.linear)), exactly as hardware would." : "the CPU delivered #PF with error code \(hex8(code)) and CR2 = \(hex8(f.linear)) through the guest's IDT.") + " SDM Vol. 3A §4.7 (page-fault exceptions), §6.15 (interrupt 14)."
        }
        return wrap(text)
    }

    static func portName(_ p: UInt16) -> String {
        switch p {
        case 0x3F8...0x3FF: " (COM1, the 16550 UART)"
        case 0x20, 0x21, 0xA0, 0xA1: " (the 8259 interrupt controllers)"
        case 0x40...0x43: " (the 8254 timer)"
        case 0x70, 0x71: " (CMOS/RTC)"
        case 0xE9: " (the debug console)"
        case 0xF4: " (isa-debug-exit)"
        case 0x60, 0x64: " (the 8042 keyboard controller)"
        default: ""
        }
    }

    /// Wraps at 100 columns on word boundaries (deterministic, terminal-friendly).
    static func wrap(_ text: String, width: Int = 100) -> String {
        var out = "", line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width { out += line + "\n"; line = "" }
            line += (line.isEmpty ? "" : " ") + word
        }
        return out + line + "\n"
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
