import Machine
import ShadowMMU
import VMM
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// What `x86v run` says at the end: the exit status, the one-line reason, the `--stats` table
/// and the `--stats-json` document (docs/formats.md).
struct RunReport {
    let virt: String
    let machine: PCMachine
    let vmm: VMM?
    let stop: StopReason
    let wallSeconds: Double
    /// The instruction count the timed part started at (a resumed run starts past 0).
    var startInstructions: UInt64 = 0

    var instructions: UInt64 { machine.cpu.state.instructions }

    var exitStatus: Int32 { stop.exitStatus }

    var stopName: String { stop.name }

    var eip: String { "0x" + String(machine.cpu.state.eip, radix: 16) }

    /// The one-line reason for stops that are not the guest's own choice.
    func stopMessage() -> String? {
        switch stop {
        case .debugExit, .haltedWithInterruptsOff:
            return nil
        case .instructionLimit:
            return "instruction limit (\(instructions)) reached at eip \(eip)"
        case .notImplemented(let at, let what):
            return "not implemented: \(what) at 0x\(String(at, radix: 16))"
        case .tripleFault:
            let chain = machine.cpu.exceptionChain.map { e in
                Vector.name(e.vector) + (e.errorCode.map { "(0x\(String($0, radix: 16)))" } ?? "")
                    + " at 0x\(String(e.eip, radix: 16))"
            }.joined(separator: " → ")
            return "triple fault at eip \(eip) (exceptions: \(chain))"
        case .timeout:
            return "timeout after \(instructions) instructions at eip \(eip)"
        case .idleForever:
            return "the guest halted with interrupts enabled and no timer armed: nothing can wake it (eip \(eip))"
        case .unknownPort(let port, let isIn):
            return "--strict-io: \(isIn ? "read from" : "write to") unknown port 0x\(String(port, radix: 16)) at eip 0x\(String(machine.cpu.state.eip, radix: 16))"
        case .resetRequested:
            return "the guest requested a system reset at eip \(eip)"
        case .powerOff:
            return "the guest powered the machine off (ACPI S5) at eip \(eip)"
        case .breakpoint:
            return "stopped by the debugger at eip \(eip)"
        case .userQuit:
            return "ended from the console at eip \(eip) (Ctrl-A x, or the terminal closed)"
        case .guestPanic(let line):
            return "the guest kernel panicked (\(line)); the run stopped at eip \(eip)"
        }
    }

    func table() -> String {
        let mips = wallSeconds > 0 ? Double(instructions &- startInstructions) / wallSeconds / 1e6 : 0
        var s = "x86v: \(instructions) instructions\(startInstructions > 0 ? " (\(instructions &- startInstructions) since the resume)" : "") in \(fixed(wallSeconds, 3)) s (\(fixed(mips, 1)) MIPS), virt=\(virt), stop: \(stopName)\n"
        let clock = machine.clock
        s += "  virtual time     \(fixed(Double(clock.now) / 1e6, 3)) ms (idle \(fixed(Double(clock.idleNanoseconds) / 1e6, 3)) ms)\n"
        s += "  port accesses    \(machine.portAccesses)\n"
        s += "  interrupts       \(machine.interruptsDelivered) delivered\n"
        s += engineLines()
        s += modeLine()
        let unknown = machine.bus.unknownAccesses.sorted { $0.key < $1.key }
        if !unknown.isEmpty {
            s += "  unknown ports    " + unknown.map { "0x\(String($0.key, radix: 16))×\($0.value)" }.joined(separator: " ") + "\n"
        }
        if let vmm {
            let total = vmm.stats.total
            let rate = wallSeconds > 0 ? Double(total) / wallSeconds : 0
            s += "  VM exits         \(total) (\(fixed(rate / 1000, 1)) k/s), \(vmm.stats.injectedEvents) events injected\n"
            for (reason, n) in vmm.stats.nonZero {
                let name = reason.name + String(repeating: " ", count: max(0, 20 - reason.name.count))
                s += "    \(name) \(String(n).leftPad(10))  (basic reason \(reason.rawValue))\n"
            }
            if let c = vmm.classic {
                let traps = c.traps.sorted { $0.key < $1.key }
                s += "  classic traps    \(traps.reduce(0) { $0 + $1.value }) emulated" + (c.umip ? " (UMIP on)" : "") + "\n"
                for (m, n) in traps { s += "    " + m + String(repeating: " ", count: max(0, 20 - m.count)) + " " + String(n).leftPad(10) + "\n" }
                if c.realModeEntries > 0 || c.compressionEntries > 0 || c.realMode || c.v86Entries > 0 || c.taskSwitchEntries > 0 {
                    s += "  classic modes    \(c.compressionEntries) ring compressions entered from real mode, \(c.realModeEntries) returns to real mode (run at CPL 0 with --virt=hw's intercepts)\n"
                    s += "                   emulated: \(c.v86Entries) times for V86 mode, \(c.taskSwitchEntries) for task switches; \(c.emulatedReturns) returns to ring compression\n"
                }
                if c.tableWriteSyncs > 0 {
                    s += "  traced tables    \(c.tableWriteSyncs) re-syncs of the shadow tables after guest stores to its GDT/IDT/LDT/TSS pages\n"
                }
                if let t = c.translator?.stats {
                    s += "  translation      \(t.blocksScanned) blocks scanned, \(t.holesPatched) instructions marked, \(t.trapsTaken) traps, \(t.rescans) rescans\n"
                }
            }
            if let sh = vmm.shadow {
                s += "  shadow MMU       \(sh.stats.pagesInUse) of \(sh.poolPages) pages in use (peak \(sh.stats.peakPagesInUse))\n"
                for (name, value) in Self.shadowCounters(sh.stats) {
                    s += "    \(name + String(repeating: " ", count: max(0, 20 - name.count))) \(String(value).leftPad(10))\n"
                }
            }
        }
        return s
    }

    /// The execution engine and, for blocks, its counters (not in the JSON, which is the same
    /// for both engines).
    func engineLines() -> String {
        let cpu = machine.cpu
        guard cpu.engine == .blocks else { return "  engine           interp (one instruction at a time)\n" + fpuLine() }
        let b = cpu.blockStats
        let inv = cpu.memory.codeInvalidations
        let average = b.executions > 0 ? Double(b.instructions) / Double(b.executions) : 0
        var s = "  engine           blocks\n"
        s += "    built          \(String(b.built).leftPad(12))\n"
        s += "    executed       \(String(b.executions).leftPad(12))  (\(fixed(average, 2)) instructions each)\n"
        s += "    chained        \(String(b.chained).leftPad(12))\n"
        s += "    interpreted    \(String(b.interpreted).leftPad(12))  (instructions run one at a time by the fast path)\n"
        s += "    invalidated    \(String(inv.guestStores).leftPad(12))  by guest stores, \(inv.otherWrites) by other writes, \(inv.restores) by restores\n"
        return s + fpuLine()
    }

    /// x87, MMX and SSE instructions run (counted since this process started the guest).
    func fpuLine() -> String {
        let f = machine.cpu.fpuCounters
        return "  floating point   \(f.x87) x87, \(f.mmx) MMX, \(f.sse) SSE/SSE2 instructions\n"
    }

    /// Mode and task switches (`ModeCounters`: counted where the CPU changes mode, the same in
    /// both engines and under every configuration).
    func modeLine() -> String {
        let m = machine.cpu.modeCounters
        return "  mode switches    \(m.realToProtected) real→protected, \(m.protectedToReal) protected→real, \(m.v86Entries) V86 entries, \(m.v86Exits) V86 exits, \(m.taskSwitches) task switches\n"
    }

    /// Deterministic: no wall-clock quantities.
    func json() -> String {
        var s = "{\"virt\":\"\(virt)\",\"stop\":\"\(stopName)\",\"exit_status\":\(exitStatus),\"instructions\":\(instructions)"
        s += ",\"virtual_ns\":\(machine.clock.now),\"idle_ns\":\(machine.clock.idleNanoseconds)"
        s += ",\"port_accesses\":\(machine.portAccesses),\"interrupts_delivered\":\(machine.interruptsDelivered)"
        let m = machine.cpu.modeCounters
        s += ",\"mode_switches\":{\"real_to_protected\":\(m.realToProtected),\"protected_to_real\":\(m.protectedToReal)"
        s += ",\"v86_entries\":\(m.v86Entries),\"v86_exits\":\(m.v86Exits),\"task_switches\":\(m.taskSwitches)}"
        let unknown = machine.bus.unknownAccesses.sorted { $0.key < $1.key }
        s += ",\"unknown_ports\":{" + unknown.map { "\"0x\(String($0.key, radix: 16))\":\($0.value)" }.joined(separator: ",") + "}"
        if let vmm {
            s += ",\"exits\":{\"total\":\(vmm.stats.total),\"injected_events\":\(vmm.stats.injectedEvents),\"by_reason\":{"
            s += vmm.stats.nonZero.map { "\"\($0.0.name)\":\($0.1)" }.joined(separator: ",") + "}}"
            if let c = vmm.classic {
                s += ",\"classic\":{\"compression_entries\":\(c.compressionEntries),\"real_mode_entries\":\(c.realModeEntries),\"v86_entries\":\(c.v86Entries),\"task_switch_entries\":\(c.taskSwitchEntries),\"emulated_returns\":\(c.emulatedReturns),\"table_write_syncs\":\(c.tableWriteSyncs)}"
            }
            if let sh = vmm.shadow {
                s += ",\"shadow\":{\"pool_pages\":\(sh.poolPages),\"pages_in_use\":\(sh.stats.pagesInUse),\"peak_pages\":\(sh.stats.peakPagesInUse),"
                s += Self.shadowCounters(sh.stats).map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
            }
        }
        return s + "}\n"
    }
}

extension RunReport {
    static func shadowCounters(_ s: ShadowMMU.Stats) -> [(String, UInt64)] {
        // KVM's debugfs names first (arch/x86/kvm: pf_fixed, pf_guest, mmu_*), so a student can
        // put them next to a real host's; then the ones KVM has no name for.
        [("pf_fixed", s.hiddenFaults), ("pf_guest", s.trueFaults),
         ("mmu_pte_write", s.pteWrites), ("mmu_pte_updated", s.pteUpdated),
         ("mmu_flooded", s.floodedTables), ("mmu_unsync", s.unsynced), ("mmu_shadow_zapped", s.pagesZapped),
         ("mmu_cache_miss", s.cacheMisses), ("mmu_recycled", s.recycled),
         ("invlpg", s.invlpg), ("prefetch", s.prefetched),
         ("entries_created", s.entriesCreated), ("entries_zapped", s.entriesZapped),
         ("write_protect_faults", s.writeProtectFaults),
         ("cr3_switches", s.cr3Switches), ("root_cache_hits", s.rootCacheHits), ("tables_shared", s.tablesShared),
         ("resets", s.resets)]
    }
}

func fixed(_ v: Double, _ digits: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    _ = withVaList([v]) { vsnprintf(&buffer, 64, "%.\(digits)f", $0) }
    return String(cString: buffer)
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
