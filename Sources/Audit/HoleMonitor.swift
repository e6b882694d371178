import ELF
import Machine
import ShadowMMU
import VMM
import X86Core
import X86Decode

/// Watches a guest run under `--virt=classic` and records every execution of a hole (a row of
/// the opcode table whose Popek–Goldberg column says "sensitive and not privileged"): where,
/// how often, at which guest ring, what the guest saw, and what a real, non-virtualized machine
/// would have given at that point (computed from the VMM's virtual CPU), and whether the
/// difference can change the guest's behaviour.
///
/// It observes before each instruction (`CPU.instructionObserver`: the slow path, only while an
/// audit runs) and reads the instruction and its operands through the guest's own page tables,
/// so the audit changes nothing the guest or the shadow MMU can see.
public final class HoleMonitor {
    let vmm: VMM
    let classic: ClassicState
    let symbols: [ELF32File.Symbol]
    let decoder = Decoder()

    /// One hole at one address.
    public struct Hit: Sendable {
        public let mnemonic: String
        public let family: String
        public let address: UInt32
        public let symbol: String?
        /// The guest's privilege level (0 for the deprivileged kernel's real ring 1).
        public let guestRing: UInt8
        public internal(set) var count: UInt64
        public let firstInstruction: UInt64
        /// What the guest saw, and what the machine it thinks it runs on would have given.
        public let saw: String
        public let native: String
        /// The values differ in a way the guest can act on.
        public let matters: Bool
        public let reason: String
        public let sdm: String
    }

    /// In order of first occurrence.
    public private(set) var hits: [Hit] = []
    var index: [UInt64: Int] = [:]

    public init(vmm: VMM, symbols: [ELF32File.Symbol]) {
        precondition(vmm.classic != nil, "an audit runs under classic virtualization")
        self.vmm = vmm
        classic = vmm.classic!
        self.symbols = symbols
    }

    public func attach() {
        vmm.machine.cpu.instructionObserver = { [unowned self] in observe(); return false }
    }

    public func detach() {
        vmm.machine.cpu.instructionObserver = nil
    }

    // MARK: Guest memory, through the guest's tables

    func read8(_ linear: UInt32) -> UInt8? {
        guard let p = vmm.guestPhysical(linear), p < vmm.machine.memory.guestSize else { return nil }
        return vmm.machine.memory.read8(p)
    }

    func read32(_ linear: UInt32) -> UInt32? {
        var v: UInt32 = 0
        for i in 0..<4 {
            guard let b = read8(linear &+ UInt32(i)) else { return nil }
            v |= UInt32(b) << (8 * i)
        }
        return v
    }

    func descriptor(_ selector: UInt16, table base: UInt32, limit: UInt16) -> UInt64? {
        let offset = UInt32(selector & ~7)
        guard selector & ~3 != 0, offset + 7 <= UInt32(limit), let lo = read32(base &+ offset),
              let hi = read32(base &+ offset &+ 4) else { return nil }
        return UInt64(lo) | UInt64(hi) << 32
    }

    // MARK: Observation

    func observe() {
        // The VMM re-running a trapped instruction at CPL 0 is the VMM, not the guest; in the
        // emulated modes (real mode, V86, a task switch) the guest is not deprivileged: it runs
        // at its own privilege level on its own tables, so nothing there is a hole.
        if classic.inEmulation || classic.emulated != nil { return }
        let cpu = vmm.machine.cpu
        let st = cpu.statePointer.pointee
        let lin = st.segments[1].base &+ st.eip
        var bytes = [UInt8](repeating: 0, count: 16)
        var have = 0
        while have < 16, let b = read8(lin &+ UInt32(have)) { bytes[have] = b; have += 1 }
        guard have > 0 else { return }
        var d = DecodedInstruction()
        let ok = bytes.withUnsafeBufferPointer { decoder.decode($0.baseAddress!, count: have, mode: st.segments[1].big ? .bits32 : .bits16, into: &d) }
        guard ok == .ok, let pg = OpcodeTable.rows[Int(d.row)].popekGoldberg,
              RingCompression.isHole(d, umip: classic.umip && st.cpl > 0) else { return }
        let key = UInt64(lin) << 16 | UInt64(d.row)
        if let i = index[key] { hits[i].count &+= 1; return }
        let (saw, native, matters) = compare(d, pg, st)
        let mnemonic = OpcodeTable.shared.mnemonic(row: Int(d.row), wide: d.operandSize32)
        index[key] = hits.count
        hits.append(Hit(mnemonic: mnemonic, family: pg.family, address: lin, symbol: label(lin),
                        guestRing: RingCompression.guestRing(ofRealRing: st.cpl), count: 1,
                        firstInstruction: st.instructions, saw: saw, native: native, matters: matters,
                        reason: pg.reason, sdm: pg.sdm))
    }

    func label(_ a: UInt32) -> String? {
        guard let s = symbols.last(where: { $0.address <= a }), a - s.address < 0x10000 else { return nil }
        return a == s.address ? s.name : "\(s.name)+0x\(String(a - s.address, radix: 16))"
    }

    static func hex(_ v: UInt32, _ digits: Int = 8) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    /// (what the guest sees, what the non-virtualized machine gives, does it matter).
    func compare(_ d: DecodedInstruction, _ pg: PopekGoldberg, _ st: CPUState) -> (String, String, Bool) {
        let v = vmm.virtualCPU
        let c = classic
        let flags = vmm.machine.cpu.eflags
        let guestRing = RingCompression.guestRing(ofRealRing: st.cpl)
        func sel(_ s: UInt16) -> String { Self.hex(UInt32(s), 4) }
        switch (d.map, d.opcode) {
        case (1, 0x01) where d.reg <= 1:
            let real = d.reg == 0 ? st.gdtr : st.idtr
            let guest = d.reg == 0 ? c.gdtr : c.idtr
            return ("base \(Self.hex(real.base)) limit \(Self.hex(UInt32(real.limit), 4))",
                    "base \(Self.hex(guest.base)) limit \(Self.hex(UInt32(guest.limit), 4))", real != guest)
        case (1, 0x01) where d.reg == 4:
            let real = vmm.machine.cpu.state.cr0 & 0xFFFF, guest = v.cr0 & 0xFFFF
            return ("msw \(Self.hex(real, 4))", "msw \(Self.hex(guest, 4))", real != guest)
        case (1, 0x00) where d.reg <= 1:
            let real = d.reg == 0 ? st.ldtr.selector : st.tr.selector
            let guest = d.reg == 0 ? c.ldtr : c.tr
            return (sel(real), sel(guest), real != guest)
        case (0, 0x9C):
            // PUSHF: the real IF/IOPL are the guest's under this VMM (it keeps IF real); what
            // differs is nothing — unless the guest set IOPL, which POPF at ring 1 refused.
            return ("IF=\(flags >> 9 & 1) IOPL=\(flags >> 12 & 3)", "IF=\(flags >> 9 & 1) IOPL=\(flags >> 12 & 3)", false)
        case (0, 0x9D):
            guard let popped = read32(st.segments[2].base &+ st.regs[4]) else { return ("?", "?", false) }
            let keptIF = guestRing == 0 && (flags & EFLAGS.iopl) >> 12 < 1
            let newIF = keptIF ? flags >> 9 & 1 : popped >> 9 & 1
            return ("IF=\(newIF) (POPF of IF=\(popped >> 9 & 1) at ring \(st.cpl))", "IF=\(guestRing == 0 ? popped >> 9 & 1 : newIF)",
                    keptIF && newIF != popped >> 9 & 1)
        case (0, 0xCF):
            guard let popped = read32(st.segments[2].base &+ st.regs[4] &+ 8) else { return ("?", "?", false) }
            let keptIF = st.cpl == 1 && (flags & EFLAGS.iopl) >> 12 < 1
            let newIF = keptIF ? flags >> 9 & 1 : popped >> 9 & 1
            return ("IF=\(newIF) after IRET (frame IF=\(popped >> 9 & 1))", "IF=\(popped >> 9 & 1)", newIF != popped >> 9 & 1)
        case (0, 0x8C) where d.reg == 1 || d.reg == 2, (0, 0x0E), (0, 0x16):
            let which = d.opcode == 0x0E || (d.opcode == 0x8C && d.reg == 1) ? SegmentRegister.cs : .ss
            let real = st[which].selector
            let guest = real & ~3 | UInt16(guestRing)
            return ("\(which == .cs ? "CS" : "SS") \(sel(real)) (RPL \(real & 3))", "\(sel(guest)) (RPL \(guestRing))", real != guest)
        case (1, 0x02), (1, 0x03), (1, 0x00) where d.reg == 4 || d.reg == 5:
            // LAR/LSL/VERR/VERW: the selector's descriptor as the CPU sees it (shadow) and as the
            // guest wrote it.
            guard d.hasModRM, d.mod == 3 else { return ("(memory operand)", "-", false) }
            let s = UInt16(truncatingIfNeeded: st.regs[Int(d.rm)])
            guard let shadow = descriptor(s, table: st.gdtr.base, limit: st.gdtr.limit),
                  let guest = descriptor(s, table: c.gdtr.base, limit: c.gdtr.limit) else { return (sel(s), sel(s), false) }
            let sd = shadow >> 45 & 3, gd = guest >> 45 & 3
            return ("\(sel(s)): DPL \(sd)", "DPL \(gd)", sd != gd)
        case (0, 0x8E), (0, 0x07), (0, 0x1F), (0, 0x17), (0, 0xC4), (0, 0xC5), (1, 0xA1), (1, 0xA9), (1, 0xB2), (1, 0xB4), (1, 0xB5):
            // The load is checked against CPL \(st.cpl) instead of \(guestRing): it passes for the
            // kernel's own (compressed) selectors; an SS of RPL 0 traps and the VMM loads it.
            return ("loaded with the checks of CPL \(st.cpl)", "CPL \(guestRing)", false)
        case (0, 0x9A), (0, 0xEA), (0, 0xCA), (0, 0xCB), (0, 0xFF):
            // The new CS takes RPL = CPL: visible later, where the guest reads CS (reported there).
            return ("CS.RPL becomes \(st.cpl)", "\(guestRing)", false)
        case (1, 0x34):
            return ("SYSENTER to the real SYSENTER_CS: ring 0", "ring 0", false)
        default:
            return ("as the real machine", "the same", false)
        }
    }

    // MARK: Report

    /// The audit report: every hole by kind with its first occurrence, the traps the VMM took
    /// (the cost of trap-and-emulate), and a verdict.
    public func report(guest: String, stop: String, instructions: UInt64) -> String {
        var out = "x86v audit: \(guest) under --virt=classic\(classic.umip ? " --umip" : ""): \(instructions) instructions, stop: \(stop)\n\n"
        if hits.isEmpty {
            out += "holes: none executed\n"
        } else {
            out += "holes executed (sensitive, not privileged), in order of first execution:\n"
            for h in hits {
                out += "  \(h.mnemonic.padded(8)) \(Self.hex(h.address))\(h.symbol.map { " <\($0)>" } ?? "")  ring \(h.guestRing)  ×\(h.count)  first at \(h.firstInstruction)\n"
                out += "           saw \(h.saw); a real machine: \(h.native)\(h.matters ? "  ← DIFFERS" : "")\n"
                out += "           \(h.reason) (\(h.sdm))\n"
            }
            out += "\nholes by kind:\n"
            var kinds: [(String, UInt64, Int, Bool)] = []
            for h in hits {
                if let i = kinds.firstIndex(where: { $0.0 == h.family }) {
                    kinds[i].1 &+= h.count; kinds[i].2 += 1; kinds[i].3 = kinds[i].3 || h.matters
                } else {
                    kinds.append((h.family, h.count, 1, h.matters))
                }
            }
            for k in kinds { out += "  \(k.0.padded(16)) \(String(k.1).padded(8)) executions at \(k.2) address\(k.2 == 1 ? "" : "es")\(k.3 ? ", the guest saw a difference" : "")\n" }
        }
        out += "\nprivileged instructions trapped and emulated (the cost of trap-and-emulate):\n"
        let traps = classic.traps.sorted { $0.key < $1.key }
        if traps.isEmpty { out += "  none\n" }
        for (m, n) in traps { out += "  \(m.padded(16)) \(n)\n" }
        let differing = hits.filter(\.matters).count
        out += "\nverdict: "
        if hits.isEmpty {
            out += "no hole executed: this run was classically virtualizable.\n"
        } else if differing == 0 {
            out += "\(hits.count) hole site\(hits.count == 1 ? "" : "s") executed, none showed the guest a difference.\n"
        } else {
            out += "\(hits.count) hole site\(hits.count == 1 ? "" : "s") executed; at \(differing) the guest saw the virtualization (its behaviour can change).\n"
        }
        return out
    }

    /// The same as JSON (holes named by mnemonic).
    public func json(guest: String, stop: String, instructions: UInt64) -> String {
        func q(_ s: String) -> String { "\"" + s.replacingQuotes() + "\"" }
        var out = "{\"guest\":\(q(guest)),\"virt\":\"classic\",\"umip\":\(classic.umip),\"stop\":\(q(stop)),\"instructions\":\(instructions),\"holes\":["
        out += hits.map { h in
            "{\"mnemonic\":\(q(h.mnemonic)),\"family\":\(q(h.family)),\"address\":\"\(Self.hex(h.address))\"" + (h.symbol.map { ",\"symbol\":\(q($0))" } ?? "")
                + ",\"ring\":\(h.guestRing),\"count\":\(h.count),\"first_icount\":\(h.firstInstruction),\"saw\":\(q(h.saw)),\"native\":\(q(h.native)),\"differs\":\(h.matters),\"sdm\":\(q(h.sdm))}"
        }.joined(separator: ",")
        out += "],\"traps\":{" + classic.traps.sorted { $0.key < $1.key }.map { "\(q($0.key)):\($0.value)" }.joined(separator: ",") + "}}\n"
        return out
    }
}

extension String {
    func padded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    func replacingQuotes() -> String {
        var out = ""
        for ch in self {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }
}
