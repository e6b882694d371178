import Machine
import ShadowMMU
import VMM
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// Turns one command line into text: the REPL, scripts and GDB's `monitor` all come through
/// here, so every command behaves the same everywhere and is testable with a transcript.
public final class CommandInterpreter {
    public let session: DebugSession
    /// Colour in `regs` (only on a terminal).
    public var colour = false
    /// Writes a machine file (`save`); the CLI provides it (it knows the run configuration).
    public var saveMachine: ((String) throws -> Void)? = nil
    /// Reads a machine file into the session's machine (`load`).
    public var loadMachine: ((String) throws -> Void)? = nil
    /// Polled while the guest runs (Ctrl-C at the REPL): true stops it.
    public var interruptCheck: (() -> Bool)? = nil

    public init(session: DebugSession) { self.session = session }

    public struct Result {
        public var text: String
        public var quit = false
    }

    public func execute(_ line: String) -> Result {
        let trimmed = line.trimmingCharacters(in: " \t\r")
        guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return Result(text: "") }
        var word = String(trimmed.prefix { $0 != " " && $0 != "/" })
        var rest = String(trimmed.dropFirst(word.count)).trimmingCharacters(in: " ")
        // `x/4x ADDR`: the format is glued to the command.
        var format = ""
        if trimmed.dropFirst(word.count).hasPrefix("/") {
            format = String(rest.dropFirst().prefix { $0 != " " })
            rest = String(rest.dropFirst(format.count + 1)).trimmingCharacters(in: " ")
        }
        word = word.lowercased()
        guard let spec = CommandTable.find(word) else {
            return Result(text: "unknown command '\(word)' (type `help` for the list)\n")
        }
        do {
            return try run(spec, format: format, args: rest)
        } catch {
            return Result(text: "error: \(error.description)\n")
        }
    }

    func words(_ s: String) -> [String] { s.split(separator: " ").map(String.init) }

    func address(_ text: String) throws(DebugError) -> AddressExpression {
        try AddressParser.parse(text, symbols: session.symbols, registers: session.registers.value)
    }

    /// A linear address from an expression (selector:offset through the loaded descriptor
    /// caches; a physical address is refused where a linear one is needed).
    func linear(_ text: String) throws(DebugError) -> UInt32 {
        switch try address(text) {
        case .linear(let a): return a
        case .physical: throw DebugError("'\(text)': a linear address is needed here, not phys:")
        case .segmented(let sel, let off):
            let st = session.cpu.statePointer.pointee
            guard let seg = (0..<6).first(where: { st.segments[$0].selector == sel }) else {
                throw DebugError("selector \(hex4(sel)) is not loaded in a segment register (its base is unknown)")
            }
            return st.segments[seg].base &+ off
        }
    }

    func count(_ text: String?, default d: UInt64, max m: UInt64 = 1 << 40) throws(DebugError) -> UInt64 {
        guard let t = text else { return d }
        guard !t.hasPrefix("-"), let n = AddressParser.number(t), n > 0, UInt64(n) <= m else { throw DebugError("bad count '\(t)'") }
        return UInt64(n)
    }

    func run(_ spec: CommandSpec, format: String, args: String) throws(DebugError) -> Result {
        let w = words(args)
        let s = session
        switch spec.name {
        case "step": return Result(text: motion(.step(try count(w.first, default: 1))))
        case "next": return Result(text: motion(.next))
        case "continue": return Result(text: motion(.continue))
        case "until":
            guard !w.isEmpty else { throw DebugError("usage: until ADDR") }
            return Result(text: motion(.until(try linear(args))))
        case "finish": return Result(text: motion(.finish))
        case "run-to":
            guard let t = w.first, let target = DebugSession.RunTarget(rawValue: t.lowercased()) else {
                throw DebugError("usage: run-to exit|fault|ring3|ring0|cr3|interrupt")
            }
            return Result(text: motion(.runTo(target)))
        case "break": return Result(text: try addBreakpoint(w, args: args))
        case "watch":
            var parts = w
            var reads = false, writes = true
            if let m = parts.first?.lowercased(), ["r", "w", "rw"].contains(m) {
                reads = m.contains("r"); writes = m.contains("w"); parts.removeFirst()
            }
            guard let a = parts.first else { throw DebugError("usage: watch [r|w|rw] ADDR [LEN]") }
            let lin = try linear(a)
            let len = try count(parts.count > 1 ? parts[1] : nil, default: 4, max: 1 << 20)
            let b = s.addBreakpoint(.watch(OwnerWatch(address: lin, length: UInt32(len), reads: reads, writes: writes)), text: args)
            let mapped = s.guestMemory.isMappedRAM(lin)
            return Result(text: "watchpoint \(b.id): \(reads && writes ? "read/write" : writes ? "write" : "read") \(hex8(lin)) len \(len)" + (mapped ? "" : " (not mapped yet)") + "\n")
        case "delete":
            if let t = w.first {
                guard let n = Int(t) else { throw DebugError("usage: delete [N]") }
                try s.deleteBreakpoint(n)
                return Result(text: "deleted breakpoint \(n)\n")
            }
            let n = s.breakpoints.count
            s.deleteAllBreakpoints()
            return Result(text: "deleted \(n) breakpoint\(n == 1 ? "" : "s")\n")
        case "condition":
            guard let t = w.first, let n = Int(t) else { throw DebugError("usage: condition N EXPR") }
            let expr = String(args.dropFirst(t.count)).trimmingCharacters(in: " ")
            try s.setCondition(n, expr.isEmpty ? nil : try Condition(expr))
            return Result(text: expr.isEmpty ? "breakpoint \(n) is now unconditional\n" : "breakpoint \(n) stops only if \(expr)\n")
        case "info": return Result(text: try info(w.first))
        case "regs": return Result(text: RegisterView.render(s, colour: colour) + (FPUView.changes(s).map { $0 + "\n" } ?? ""))
        case "fpu":
            let mmx: Bool?
            switch w.first?.lowercased() {
            case nil: mmx = nil
            case "mmx": mmx = true
            case "nommx": mmx = false
            default: throw DebugError("usage: fpu [mmx|nommx]")
            }
            return Result(text: FPUView.render(s, colour: colour, mmx: mmx))
        case "sse":
            guard w.count <= 1, let lanes = FPUView.Lanes(rawValue: w.first?.lowercased() ?? "") else {
                throw DebugError("usage: sse [f32|f64|i8|i16|i32|i64|u8|u16|u32|u64|hex]")
            }
            return Result(text: FPUView.renderSSE(s, colour: colour, lanes: lanes))
        case "set":
            guard w.count == 2, let v = AddressParser.number(w[1]) else { throw DebugError("usage: set REG VALUE") }
            let name = w[0].lowercased().hasPrefix("$") ? String(w[0].dropFirst()).lowercased() : w[0].lowercased()
            guard s.setRegister(name, v) else { throw DebugError("cannot set '\(w[0])' (general registers, eip, eflags)") }
            return Result(text: "\(name) = \(hex8(v))\n")
        case "disas":
            let st = s.cpu.statePointer.pointee
            var start = st.segments[1].base &+ st.eip
            var n = 8
            if let a = w.first { start = try linear(a) }
            if w.count > 1 { n = Int(try count(w[1], default: 8, max: 4096)) }
            return Result(text: CodeView.disassemble(s, at: start, count: n))
        case "x":
            guard !args.isEmpty else { throw DebugError("usage: x/FMT ADDR (e.g. x/4x esp, x/8i eip, x/16bx phys:0xb8000)") }
            switch try address(args) {
            case .physical(let p): return Result(text: try MemoryView.examine(s, format: format, address: p, physical: true))
            default: return Result(text: try MemoryView.examine(s, format: format, address: try linear(args), physical: false))
            }
        case "gdt": return Result(text: DescriptorView.gdt(machine: s.machine, vmm: s.vmm) + "\n")
        case "idt": return Result(text: DescriptorView.idt(machine: s.machine, vmm: s.vmm) + "\n")
        case "ldt": return Result(text: DescriptorView.ldt(machine: s.machine, vmm: s.vmm) + "\n")
        case "tss": return Result(text: DescriptorView.tss(machine: s.machine, vmm: s.vmm) + "\n")
        case "pt": return Result(text: try pageTables(w))
        case "exits": return Result(text: EventView.exits(s, last: Int(try count(w.first, default: 10, max: UInt64(EventLog.capacity)))))
        case "faults": return Result(text: EventView.faults(s, last: Int(try count(w.first, default: 10, max: UInt64(EventLog.capacity)))))
        case "explain": return Result(text: EventView.explain(s))
        case "snapshot":
            guard let name = w.first, w.count == 1 else { throw DebugError("usage: snapshot NAME") }
            s.takeSnapshot(named: name)
            return Result(text: "snapshot '\(name)' at icount \(s.icount)\n")
        case "restore":
            guard let name = w.first, w.count == 1 else { throw DebugError("usage: restore NAME") }
            try s.restoreSnapshot(named: name)
            return Result(text: "restored '\(name)': icount \(s.icount)\n" + where_())
        case "save":
            guard let path = w.first, w.count == 1 else { throw DebugError("usage: save FILE") }
            guard let save = saveMachine else { throw DebugError("save is not available here") }
            do { try save(path) } catch { throw DebugError("\(error)") }
            return Result(text: "saved the machine at icount \(s.icount) to \(path)\n")
        case "load":
            guard let path = w.first, w.count == 1 else { throw DebugError("usage: load FILE") }
            guard let load = loadMachine else { throw DebugError("load is not available here") }
            do { try load(path) } catch { throw DebugError("\(error)") }
            return Result(text: "loaded \(path): icount \(s.icount)\n" + where_())
        case "reverse-step":
            let n = try count(w.first, default: 1)
            s.notePreviousRegisters()
            let cause = try s.reverseStep(n)
            return Result(text: describe(cause))
        case "reverse-continue":
            s.notePreviousRegisters()
            let cause = try s.reverseContinue()
            return Result(text: describe(cause))
        case "stats": return Result(text: statsText())
        case "help": return Result(text: help(w.first))
        case "quit": return Result(text: "", quit: true)
        default: throw DebugError("unhandled command \(spec.name)")
        }
    }

    // MARK: Motion and stops

    func motion(_ m: DebugSession.Motion) -> String {
        session.notePreviousRegisters()
        return describe(session.resume(m, interrupted: interruptCheck))
    }

    /// The stop line and the instruction about to execute.
    public func describe(_ cause: StopCause) -> String {
        let s = session
        var line: String
        switch cause {
        case .stepped: line = ""
        case .breakpoint(let id):
            let b = s.breakpoints.first { $0.id == id }
            line = "breakpoint \(id)"
            if let b {
                switch b.kind {
                case .exit, .io, .cr3:
                    if let e = s.log.exits.last { line += ": VM exit \(e.exit.reason.name) (\(EventView.qualification(e.exit.qualification)))" }
                case .fault:
                    if let f = s.log.faults.last { line += ": \(Vector.name(f.vector))" + (f.vector == Vector.pageFault ? " at \(hex8(f.linear)), \(f.hidden ? "hidden" : "delivered")" : "") }
                default: break
                }
            }
        case .watch(let id, let hit):
            line = "watchpoint \(id): \(hit.isWrite ? "write of \(hex8(hit.value)) to" : "read of") \(hex8(hit.linear)) size \(hit.size)"
        case .event(let what): line = what
        case .ended(let stop):
            line = "the guest stopped: " + Self.stopText(stop)
            if stop == .tripleFault {
                line += " (exceptions: " + s.cpu.exceptionChain.map { e in
                    Vector.name(e.vector) + (e.errorCode.map { "(\(hex8($0)))" } ?? "") + " at \(hex8(e.eip))"
                }.joined(separator: " → ") + ")"
            }
        case .historyStart: line = "reached the start of the recorded history"
        case .interrupted: line = "interrupted"
        }
        return (line.isEmpty ? "" : "[\(line)]\n") + where_()
    }

    static func stopText(_ stop: StopReason) -> String {
        switch stop {
        case .debugExit(let v): "debug exit, status \(v)"
        case .haltedWithInterruptsOff: "HLT with interrupts off"
        case .idleForever: "halted with nothing left to wake it"
        case .tripleFault: "triple fault"
        case .instructionLimit: "instruction limit reached"
        case .timeout: "timeout"
        case .notImplemented(let eip, let what): "not implemented: \(what) at \(hex8(eip))"
        case .resetRequested: "the guest requested a reset"
        case .powerOff: "the guest powered the machine off (ACPI S5)"
        case .unknownPort(let p, let isIn): "--strict-io: \(isIn ? "read from" : "write to") unknown port 0x\(String(p, radix: 16))"
        case .breakpoint: "debugger stop"
        case .userQuit: "ended from the console (Ctrl-A x)"
        case .guestPanic(let line): "the guest kernel panicked: \(line)"
        }
    }

    /// "icount N  cs:eip <symbol>  instruction".
    func where_() -> String {
        let st = session.cpu.statePointer.pointee
        let lin = st.segments[1].base &+ st.eip
        let insn = CodeView.disassemble(session, at: lin, count: 1).split(separator: "\n").last.map(String.init) ?? ""
        return "icount \(st.instructions)  cpl \(st.cpl)  " + segmentedAddress(st) + insn.trimmingCharacters(in: " =>") + "\n"
    }

    /// "f000:057f " in real-address and virtual-8086 mode, where CS is a paragraph and the
    /// listing's linear address alone hides it; "" in protected mode.
    func segmentedAddress(_ st: CPUState) -> String {
        guard st.cr0 & CR0.pe == 0 || st.flags & EFLAGS.vm != 0 else { return "" }
        func four(_ v: UInt32) -> String {
            let t = String(v & 0xFFFF, radix: 16)
            return String(repeating: "0", count: 4 - t.count) + t
        }
        return four(UInt32(st.segments[1].selector)) + ":" + four(st.eip) + "  "
    }

    // MARK: Breakpoints

    func addBreakpoint(_ w: [String], args: String) throws(DebugError) -> String {
        let s = session
        guard let first = w.first else { throw DebugError("usage: break ADDR | exit [REASON] | fault [VECTOR] | io PORT | cr3") }
        let kind: Breakpoint.Kind
        switch first.lowercased() {
        case "exit":
            if w.count > 1 {
                let name = w[1].uppercased()
                guard let r = VMExitReason.allCases.first(where: { $0.name == name || String($0.rawValue) == w[1] }) else {
                    throw DebugError("unknown exit reason '\(w[1])' (one of \(VMExitReason.allCases.map(\.name).joined(separator: ", ")))")
                }
                kind = .exit(r)
            } else {
                kind = .exit(nil)
            }
            if s.vmm == nil { throw DebugError("no VM exits under --virt=none (no VMM)") }
        case "fault":
            if w.count > 1 {
                let t = w[1].uppercased().trimmingCharacters(in: "#")
                guard let v = AddressParser.number(w[1]).map({ UInt8(truncatingIfNeeded: $0) }) ?? (0..<32).map(UInt8.init).first(where: { Vector.name($0).trimmingCharacters(in: "#") == t }),
                      v < 32 else { throw DebugError("bad vector '\(w[1])' (0–31 or a name such as #PF)") }
                kind = .fault(v)
            } else {
                kind = .fault(nil)
            }
        case "io":
            guard w.count == 2, let p = AddressParser.number(w[1]), p <= 0xFFFF else { throw DebugError("usage: break io PORT") }
            if s.vmm == nil { throw DebugError("I/O breakpoints watch VM exits: they need --virt=hw") }
            kind = .io(UInt16(p))
        case "cr3":
            if s.vmm == nil { throw DebugError("CR3 breakpoints watch VM exits: they need --virt=hw (use run-to cr3)") }
            kind = .cr3
        default:
            let a = try linear(args)
            kind = .address(a)
            let b = s.addBreakpoint(kind, text: args)
            let mapped = s.guestMemory.isMappedRAM(a)
            return "breakpoint \(b.id) at \(hex8(a))" + (s.symbols.label(for: a).map { " <\($0)>" } ?? "")
                + (mapped ? "" : " (not mapped yet: it will hit once the guest maps it)") + "\n"
        }
        let b = s.addBreakpoint(kind, text: args)
        return "breakpoint \(b.id): \(args)\n"
    }

    // MARK: info, pt, stats, help

    func info(_ what: String?) throws(DebugError) -> String {
        let s = session
        switch what?.lowercased() {
        case nil:
            let st = s.cpu.statePointer.pointee
            let mode = st.cr0 & 1 == 0 ? "real mode" : "protected mode"
            let paging = s.guestMemory.controls != nil ? "paging on" : "paging off"
            let virt = s.vmm == nil ? "--virt=none (bare interpreter)" : (s.vmm?.shadow != nil ? "--virt=hw, shadow MMU" : "--virt=hw, direct MMU")
            var out = "guest \(s.guestName): \(virt)\n"
            out += "\(mode), \(paging), CPL \(st.cpl), \(st.segments[1].big ? "32" : "16")-bit code, icount \(st.instructions)\n"
            out += "history: \(s.history.snapshots.count) snapshots (every \(s.history.interval) instructions, \(s.history.bytes >> 10) KiB)\n"
            if let e = s.ended { out += "the guest has stopped: \(Self.stopText(e)) (restore or reverse-step to go on)\n" }
            return out
        case "breakpoints", "b", "break":
            if s.breakpoints.isEmpty { return "no breakpoints\n" }
            return s.breakpoints.map(\.description).joined(separator: "\n") + "\n"
        case "snapshots":
            let names = s.named.map { "\($0.name)  icount \($0.snapshot.instructionCount)" }
            return (names.isEmpty ? "no named snapshots" : names.joined(separator: "\n")) + "\n"
                + "automatic: \(s.history.snapshots.map { String($0.instructionCount) }.joined(separator: " "))\n"
        case "symbols":
            return s.symbols.symbols.map { "\(hex8($0.address))  \($0.name)" }.joined(separator: "\n") + "\n"
        default:
            throw DebugError("usage: info [breakpoints|snapshots|symbols]")
        }
    }

    func pageTables(_ w: [String]) throws(DebugError) -> String {
        let s = session
        if w.isEmpty { return PageTableView.ranges(machine: s.machine, vmm: s.vmm, shadow: false) + "\n" }
        if w[0] == "--shadow" {
            guard s.vmm?.shadow != nil else { throw DebugError("no shadow page tables: the guest runs with --mmu=direct or --virt=none") }
            return PageTableView.ranges(machine: s.machine, vmm: s.vmm, shadow: true) + "\n"
        }
        if w[0] == "--dot" {
            guard w.count == 2 else { throw DebugError("usage: pt --dot FILE") }
            let text = PageTableView.dot(machine: s.machine, vmm: s.vmm)
            guard let f = fopen(w[1], "w") else { throw DebugError("\(w[1]): cannot write") }
            fputs(text, f)
            fclose(f)
            var out = "wrote \(w[1]) (Graphviz)"
            if Self.haveDot() {
                let svg = w[1].hasSuffix(".dot") ? String(w[1].dropLast(4)) + ".svg" : w[1] + ".svg"
                let status = Self.runDot(input: w[1], output: svg)
                out += status == 0 ? " and \(svg)" : " (dot failed with status \(status))"
            } else {
                out += "; install graphviz (make deps) to render it"
            }
            return out + "\n"
        }
        return PageTableView.walk(machine: s.machine, vmm: s.vmm, linear: try linear(w.joined(separator: " "))) + "\n"
    }

    static func haveDot() -> Bool {
        access("/usr/bin/dot", X_OK) == 0
    }

    static func runDot(input: String, output: String) -> Int32 {
        var pid: pid_t = 0
        let args = ["/usr/bin/dot", "-Tsvg", "-o", output, input]
        var cargs = args.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        guard posix_spawn(&pid, "/usr/bin/dot", nil, nil, &cargs, environ) == 0 else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (status >> 8) & 0xFF
    }

    func statsText() -> String {
        let s = session
        let m = s.machine
        var out = "icount \(s.icount), virtual time \(m.clock.now) ns, port accesses \(m.portAccesses), interrupts delivered \(m.interruptsDelivered)\n"
        // The execution engine: what running without a breakpoint costs (docs/interpreter.md).
        if m.cpu.engine == .blocks {
            let b = m.cpu.blockStats, inv = m.memory.codeInvalidations
            out += "engine blocks: \(b.built) built, \(b.executions) run (\(b.instructions) instructions), \(b.chained) chained, "
                + "\(b.interpreted) interpreted; invalidated by \(inv.guestStores) guest stores, \(inv.otherWrites) other writes, \(inv.restores) restores\n"
        } else {
            out += "engine interp: one instruction at a time through the decoded cache\n"
        }
        if let v = s.vmm {
            out += "VM exits \(v.stats.total), events injected \(v.stats.injectedEvents)\n"
            for (r, n) in v.stats.nonZero { out += "  \(r.name.padding(20)) \(String(n).leftPad(10))\n" }
            if let sh = v.shadow {
                let st = sh.stats
                out += "shadow MMU: \(st.pagesInUse) of \(sh.poolPages) pages in use (peak \(st.peakPagesInUse))\n"
                // Plain words, each with KVM's debugfs name where it has one.
                let rows: [(String, UInt64)] = [("hidden faults (pf_fixed)", st.hiddenFaults), ("true faults (pf_guest)", st.trueFaults),
                    ("table writes synced (mmu_pte_write)", st.pteWrites), ("entries rebuilt (mmu_pte_updated)", st.pteUpdated),
                    ("tables out of sync (mmu_unsync)", st.unsynced), ("flooded tables (mmu_flooded)", st.floodedTables),
                    ("prefetched entries (prefetch)", st.prefetched), ("pages zapped (mmu_shadow_zapped)", st.pagesZapped),
                    ("pages built (mmu_cache_miss)", st.cacheMisses), ("pages recycled (mmu_recycled)", st.recycled),
                    ("entries created", st.entriesCreated), ("entries zapped", st.entriesZapped),
                    ("write-protect faults", st.writeProtectFaults),
                    ("CR3 switches", st.cr3Switches), ("root cache hits", st.rootCacheHits), ("tables shared", st.tablesShared),
                    ("INVLPG (invlpg)", st.invlpg), ("resets", st.resets)]
                for (n, v) in rows { out += "  \(n.padding(36)) \(String(v).leftPad(10))\n" }
            }
        } else {
            out += "--virt=none: no VMM, no exits\n"
        }
        return out
    }

    func help(_ command: String?) -> String {
        if let c = command {
            guard let spec = CommandTable.find(c.lowercased()) else { return "unknown command '\(c)'\n" }
            return "\(spec.usage)\n" + (spec.aliases.isEmpty ? "" : "aliases: \(spec.aliases.joined(separator: ", "))\n") + EventView.wrap(spec.help)
        }
        var out = "Commands (help CMD for one; addresses: a number, SEL:OFFSET, phys:ADDR, or a symbol, with +/- offsets):\n"
        for spec in CommandTable.all {
            out += "  \(spec.usage.padding(40))" + (spec.aliases.isEmpty ? "" : " (\(spec.aliases.joined(separator: ", ")))") + "\n"
        }
        return out
    }
}
