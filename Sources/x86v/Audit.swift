import ArgumentParser
import Audit
import Machine
import VMM
#if canImport(Glibc)
import Glibc
#endif

/// `x86v audit --table [--json]`: the Popek–Goldberg catalog of the opcode table.
/// `x86v audit GUEST [run flags] [--umip] [--json FILE]`: the guest under `--virt=classic`, every hole
/// it executes reported (Sources/Audit). `--compare`: the same guest under classic, classic
/// with UMIP, hardware-assisted (`hw`) and bare, side by side.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Popek–Goldberg audits: the classification table, or a guest run deprivileged as on a pre-VT x86.",
        discussion: """
            Examples: x86v audit --table; x86v audit testguests/build/hole-sgdt.elf; \
            x86v audit testguests/build/demo.elf --umip; x86v audit testguests/build/demo.elf --compare. \
            Exit status: 0 (the report was made, whatever it says), 2 bad input.
            """
    )

    @Flag(help: "Print the catalog: mnemonic, class, hole, condition, why, SDM section.") var table = false
    @Option(help: ArgumentHelp("Write JSON to FILE ('-' or nothing: stdout): the catalog with --table, else the guest's report (the text report still goes to stdout).", valueName: "FILE"))
    var json: String?
    @Flag(help: "Run the guest under classic, classic --umip, hw and none and compare them in one table.") var compare = false
    @Flag(help: "Audit the guest under binary translation (--virt=bt): the holes the scans marked and the traps they took.")
    var bt = false
    @OptionGroup var options: RunOptions

    func validate() throws {
        if table {
            if options.guest != nil || options.flat != nil || options.bios != nil || compare { throw InputError("--table takes no guest") }
            return
        }
        try options.checkGuestGiven()
    }

    func run() throws {
        if table {
            if let j = json { try emit(Catalog.json(), to: j) } else { print(Catalog.table(), terminator: "") }
            return
        }
        if compare {
            writeAll(1, Array(try compareTable().utf8))
            return
        }
        if bt {
            writeAll(1, Array(try translationReport().utf8))
            return
        }
        let result = try audit(umip: options.umip)
        if let j = json {
            if j != "-" { writeAll(1, Array(result.text.utf8)) }
            try emit(result.json, to: j)
        } else {
            writeAll(1, Array(result.text.utf8))
        }
    }

    /// JSON to a file, or to stdout for "-".
    func emit(_ text: String, to path: String) throws {
        if path == "-" { writeAll(1, Array(text.utf8)); return }
        guard let f = fopen(path, "w") else { throw InputError("\(path): cannot write") }
        fputs(text, f)
        fclose(f)
    }

    struct Outcome {
        var text: String
        var json: String
        var serial: [UInt8]
        var stop: StopReason
        var instructions: UInt64
        var holes: Int
        var differing: Int
        var traps: UInt64
        var exits: UInt64
    }

    /// One run under classic virtualization with the hole monitor attached.
    func audit(umip: Bool) throws -> Outcome {
        var o = options
        o.virt = .classic
        o.mmu = .shadow
        o.umip = umip
        o.serial = o.serial ?? "/dev/null"
        let setup = try o.makeSetup(interactiveInput: false)
        var captured: [UInt8] = []
        let original = setup.machine.serialOutput
        setup.machine.serialOutput = { captured.append($0); original($0) }
        guard let vmm = setup.vmm else { throw InputError("audit: no VMM") }
        let monitor = HoleMonitor(vmm: vmm, symbols: setup.elf?.symbols ?? [])
        monitor.attach()
        let stop = setup.run(o.limits)
        monitor.detach()
        setup.flushOutputs()
        let name = options.guestName
        let n = setup.machine.cpu.state.instructions
        let stopText = stop.name
        return Outcome(text: monitor.report(guest: name, stop: stopText, instructions: n),
                       json: monitor.json(guest: name, stop: stopText, instructions: n),
                       serial: captured, stop: stop, instructions: n, holes: monitor.hits.count,
                       differing: monitor.hits.filter(\.matters).count,
                       traps: vmm.classic?.traps.values.reduce(0, +) ?? 0, exits: vmm.stats.total)
    }

    /// A plain run (hw, none or bt) for the comparison; for bt also the translator's counts.
    func plain(_ virt: RunOptions.Virt) throws -> (serial: [UInt8], stop: StopReason, instructions: UInt64, exits: UInt64,
                                                  translation: BinaryTranslator.Stats?) {
        var o = options
        o.virt = virt
        o.umip = false
        o.serial = "/dev/null"
        let setup = try o.makeSetup(interactiveInput: false)
        var captured: [UInt8] = []
        setup.machine.serialOutput = { captured.append($0) }
        let stop = setup.run(o.limits)
        setup.flushOutputs()
        let traps = setup.vmm?.classic.map { $0.traps.values.reduce(0, +) }
        return (captured, stop, setup.machine.cpu.state.instructions, traps ?? setup.vmm?.stats.total ?? 0,
                setup.vmm?.classic?.translator?.stats)
    }

    /// `--bt`: the run under binary translation, as the translator saw it.
    func translationReport() throws -> String {
        var o = options
        o.virt = .bt
        o.serial = o.serial ?? "/dev/null"
        let setup = try o.makeSetup(interactiveInput: false)
        let stop = setup.run(o.limits)
        setup.flushOutputs()
        guard let c = setup.vmm?.classic, let t = c.translator else { throw InputError("audit --bt: no translator") }
        return TranslationReport(guest: options.guestName, stop: stop,
                                 instructions: setup.machine.cpu.state.instructions, stats: t.stats, traps: c.traps).text
    }

    /// The lecture: one guest, four machines (the table is Audit's `Comparison`).
    func compareTable() throws -> String {
        let bare = try plain(.none)
        let hw = try plain(.hw)
        let classic = try audit(umip: false)
        let umip = try audit(umip: true)
        let bt = try plain(.bt)
        func same(_ s: [UInt8], _ stop: StopReason) -> Bool { s == bare.serial && stop == bare.stop }
        var c = Comparison(guest: options.guestName)
        c.rows = [
            .init(machine: "none (bare)", holes: nil, differing: nil, traps: nil, instructions: bare.instructions,
                  stop: bare.stop, sameOutputAsBare: true),
            .init(machine: "hw (VT-x)", holes: nil, differing: nil, traps: "\(hw.exits) exits", instructions: hw.instructions,
                  stop: hw.stop, sameOutputAsBare: same(hw.serial, hw.stop)),
            .init(machine: "classic", holes: classic.holes, differing: classic.differing, traps: "\(classic.traps) traps",
                  instructions: classic.instructions, stop: classic.stop, sameOutputAsBare: same(classic.serial, classic.stop)),
            .init(machine: "classic --umip", holes: umip.holes, differing: umip.differing, traps: "\(umip.traps) traps",
                  instructions: umip.instructions, stop: umip.stop, sameOutputAsBare: same(umip.serial, umip.stop)),
            .init(machine: "bt", holes: nil, differing: nil, traps: "\(bt.exits) traps",
                  instructions: bt.instructions, stop: bt.stop, sameOutputAsBare: same(bt.serial, bt.stop)),
        ]
        if let t = bt.translation {
            c.translation = "bt: \(t.blocksScanned) blocks scanned, \(t.holesPatched) holes (and segment loads) marked, \(t.trapsTaken) of them trapped and emulated, \(t.rescans) rescans of changed code"
        }
        return c.table()
    }
}

