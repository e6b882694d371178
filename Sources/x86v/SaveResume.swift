import ArgumentParser
import Machine
import ShadowMMU
import VMM
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// `x86v run --save-at N --save FILE` and `x86v run --resume FILE`: a run cut in two at an
/// instruction boundary. The machine is captured and rebuilt by the VMM module
/// (`MachineSnapshot`, `SnapshotConfig`); this file only maps flags onto it.
struct SnapshotOptions: ParsableArguments {
    @Option(name: .customLong("save-at"), help: ArgumentHelp(
        "Run until the instruction count reaches N, write the machine to --save FILE, exit with status 18.",
        valueName: "N"))
    var saveAt: UInt64?
    @Option(help: ArgumentHelp("The snapshot file for --save-at.", valueName: "FILE")) var save: String?
    @Option(help: ArgumentHelp(
        "Continue the run saved in FILE (no GUEST: the machine, its flags and the rest of --serial-in come from the file).",
        valueName: "FILE"))
    var resume: String?

    /// The flag combinations (Run's `validate`, with the run flags beside these).
    func check(_ options: RunOptions) throws {
        if (saveAt == nil) != (save == nil) { throw InputError("--save-at N and --save FILE go together") }

        guard resume != nil else {
            try options.checkGuestGiven()
            return
        }
        // The snapshot fixes the machine: these flags would silently describe another one.
        var given: [String] = []
        if options.guest != nil { given.append("GUEST") }
        if options.flat != nil || options.load != nil || options.entry != nil { given.append("--flat/--load/--entry") }
        if options.bios != nil { given.append("--bios") }
        if options.dumpFirmware != nil { given.append("--dump-firmware") }
        if !options.modules.isEmpty { given.append("--module") }
        if !options.append.isEmpty { given.append("--append") }
        if options.memory != "128M" { given.append("--memory") }
        if options.virt != .hw { given.append("--virt") }
        if options.umip { given.append("--umip") }
        if options.mmu != .shadow { given.append("--mmu") }
        if options.shadowPages != nil { given.append("--shadow-pages") }
        if !options.exits.isEmpty { given.append("--exits") }
        if options.strictIO { given.append("--strict-io") }
        if !options.devices.isEmpty { given.append("--device") }
        if options.rtc != nil { given.append("--rtc") }
        if options.serialIn != nil { given.append("--serial-in") }
        if options.keysIn != nil { given.append("--keys-in") }
        if !given.isEmpty {
            throw InputError("--resume takes the machine from the snapshot: drop \(given.joined(separator: ", "))")
        }
    }

    /// Runs (fresh or resumed), saving at `saveAt` if asked; never returns.
    func run(_ options: RunOptions) throws -> Never {
        let began = monotonicSeconds()
        let setup: GuestSetup
        var config: SnapshotConfig
        if let path = resume {
            let snapshot: MachineSnapshot
            (config, snapshot) = try Self.readSnapshot(path)
            setup = try Self.resumedSetup(options, config: config)
            do {
                try snapshot.restore(into: setup.machine, vmm: setup.vmm, faultTrace: setup.faults)
            } catch {
                throw InputError("\(path): \(error.description)")
            }
            if setup.faults != nil && !snapshot.hasFaultTraceCounters {
                writeAll(2, Array("x86v: note: \(path) was saved without --trace-faults: this fault trace numbers from 1\n".utf8))
            }
            // The budget of the saved run, unless given again.
            if CommandLine.arguments.contains(where: { $0 == "--max-instructions" || $0.hasPrefix("--max-instructions=") }) {
                config.maxInstructions = options.maxInstructions
            }
        } else {
            setup = try options.makeSetup()
            config = try Self.config(of: setup, options: options)
        }
        let limits = RunLimits(maxInstructions: config.maxInstructions, timeoutSeconds: options.timeout)
        let startCount = setup.machine.cpu.state.instructions
        if let n = saveAt, let path = save, n <= limits.maxInstructions {
            var first = limits
            first.maxInstructions = n
            let stop = setup.run(first)
            if stop == .instructionLimit {
                let snapshot = MachineSnapshot.capture(machine: setup.machine, vmm: setup.vmm, previous: nil,
                                                       faultTrace: setup.faults)
                try Self.write(snapshot.fileBytes(config: config), to: path)
                setup.flushOutputs()
                throw ExitCode(Self.savedStatus)
            }
            // The run ended before the save point: it ends as it would have without --save-at.
            try setup.finish(stop, wallSeconds: monotonicSeconds() - began, since: startCount)
        }
        let stop = setup.run(limits)
        try setup.finish(stop, wallSeconds: monotonicSeconds() - began, since: startCount)
    }

    /// `x86v run`'s status after `--save-at` wrote its file (even: x86v's own).
    static let savedStatus: Int32 = 18

    static func readSnapshot(_ path: String) throws -> (SnapshotConfig, MachineSnapshot) {
        let bytes = try readFile(path)
        do {
            return try MachineSnapshot.read(fileBytes: bytes)
        } catch {
            throw InputError("\(path): \(error.description)")
        }
    }

    /// The machine a fresh run built, as a snapshot config.
    static func config(of setup: GuestSetup, options: RunOptions) throws -> SnapshotConfig {
        let memory = setup.machine.memory
        var rtc = RTCDateTime.defaultStart
        if let text = options.rtc, let d = RTCDateTime.parse(text) { rtc = d }
        var config = SnapshotConfig(
            memoryBytes: Int(memory.guestSize), privateMemoryBytes: Int(memory.size - memory.guestSize),
            shadowPages: setup.vmm?.shadow?.poolPages ?? 0, virt: Self.virt(options.virt),
            mmu: setup.vmm?.shadow == nil ? .direct : .shadow, exits: options.exits,
            strictIO: setup.machine.strictIO, rtcStart: rtc, guestPath: options.guestName,
            maxInstructions: options.maxInstructions)
        config.umip = options.umip
        config.rom = setup.machine.rom
        return config
    }

    static func virt(_ v: RunOptions.Virt) -> SnapshotConfig.Virt {
        switch v {
        case .hw: .hw
        case .none: .none
        case .classic: .classic
        case .bt: .bt
        }
    }

    /// The machine of `config`, wired as `RunOptions.makeSetup` wires a fresh one (serial, console,
    /// traces), with nothing loaded: the snapshot supplies RAM and state.
    static func resumedSetup(_ given: RunOptions, config: SnapshotConfig) throws -> GuestSetup {
        var options = given
        switch config.virt {
        case .hw: options.virt = .hw
        case .none: options.virt = .none
        case .classic: options.virt = .classic
        case .bt: options.virt = .bt
        }
        options.umip = config.umip
        options.mmu = config.mmu == .shadow ? .shadow : .direct
        if config.virt == .none && options.traceExits != nil {
            throw InputError("--trace-exits needs --virt=hw, and the snapshot was taken with --virt=none")
        }
        let built: (machine: PCMachine, vmm: VMM?)
        do { built = try config.makeMachine() } catch { throw InputError(error.description) }
        let machine = built.machine
        machine.cpu.engine = options.engine
        let output = try SerialOutput(path: options.serial ?? (options.display == .text ? "/dev/null" : nil))
        machine.serialOutput = { output.append($0) }
        let (console, post) = try options.wireDebugPorts(machine)
        try ConsoleFrontEnd.attach(machine, options: options, interactive: isatty(0) != 0)
        // --drive given again replaces the snapshot's paths (same indices, sizes and modes,
        // checked by the restore); positions left empty reopen the paths the snapshot recorded.
        try options.attachDrives(to: machine)
        var faults: FaultTrace? = nil
        if let path = options.traceFaults {
            guard let t = FaultTrace(path: path) else { throw InputError("\(path): cannot write the fault trace") }
            faults = t
        }
        if let vmm = built.vmm {
            if let f = faults {
                if vmm.shadow != nil { vmm.faultTrace = f } else { f.attach(to: machine.cpu) }
            }
            if let path = options.traceExits {
                guard let t = ExitTrace(path: path) else { throw InputError("\(path): cannot write the exit trace") }
                vmm.trace = t
            }
        } else {
            faults?.attach(to: machine.cpu)
        }
        return GuestSetup(options: options, machine: machine, vmm: built.vmm, elf: nil, serial: output,
                          console: console, faults: faults, post: post)
    }

    /// Writes the file whole, or not at all (a temporary file renamed into place).
    static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw InputError("\(path): \(String(cString: strerror(errno)))") }
        var done = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        let error = errno
        guard close(fd) == 0, ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw InputError("\(path): \(String(cString: strerror(ok ? errno : error)))")
        }
    }
}

extension GuestSetup {
    /// Flushes serial, console and traces (a run that stops without the report: `--save-at`).
    func flushOutputs() {
        vmm?.trace?.close()
        serial.flush()
        console.flush()
        post?.flush()
        faults?.close()
        closeDrives()
        ConsoleFrontEnd.finish(machine)
    }
}
