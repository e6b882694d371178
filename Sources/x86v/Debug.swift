import ArgumentParser
import Debugger
import Machine
import VMM
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// `x86v debug GUEST [run flags]`: the teaching debugger (Sources/Debugger) on a guest built
/// exactly as `x86v run` builds it.
struct Debug: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Single-step a guest: registers, disassembly, guest and shadow page tables, VM exits and faults explained, snapshots and reverse stepping.",
        discussion: """
            Commands come from the terminal (line editing and history), from --script FILE, or \
            from a pipe; `help` lists them. Exit status: 0, or 1 if a scripted command failed.
            """
    )

    @OptionGroup var options: RunOptions
    @Option(help: "Read the commands from this file (a transcript goes to stdout).") var script: String?
    @Option(name: .customLong("snapshot-every"), help: "Automatic snapshot interval for reverse execution, in instructions.")
    var snapshotEvery: UInt64 = History.defaultInterval
    @Option(name: .customLong("history-mb"), help: "Memory for automatic snapshots, in MiB (older ones are thinned out).")
    var historyMB: Int = 512

    func validate() throws {
        try options.checkGuestGiven()
        try options.checkUMIP()
        if snapshotEvery == 0 { throw InputError("bad --snapshot-every (must be > 0)") }
        if historyMB < 1 { throw InputError("bad --history-mb (must be ≥ 1)") }
    }

    func run() throws {
        let setup = try options.makeSetup(interactiveInput: false)
        let session = DebugSession(machine: setup.machine, vmm: setup.vmm, elf: setup.elf,
                                   guestName: options.guestName,
                                   maxInstructions: options.maxInstructions, snapshotInterval: snapshotEvery,
                                   historyBytes: historyMB << 20)
        let interpreter = CommandInterpreter(session: session)
        interpreter.saveMachine = { path in
            let config = try SnapshotOptions.config(of: setup, options: options)
            let snap = MachineSnapshot.capture(machine: setup.machine, vmm: setup.vmm, previous: nil, faultTrace: setup.faults)
            try SnapshotOptions.write(snap.fileBytes(config: config), to: path)
        }
        interpreter.loadMachine = { path in
            let (config, snap) = try SnapshotOptions.readSnapshot(path)
            let mine = try SnapshotOptions.config(of: setup, options: options)
            guard config.sameMachine(as: mine) else {
                throw InputError("\(path) holds a \(config.name) machine with \(config.memoryBytes >> 20) MiB; this session runs \(mine.name) with \(mine.memoryBytes >> 20) MiB (start x86v run --resume \(path) instead)")
            }
            try session.load(snap)
        }
        let repl: REPL
        do { repl = try REPL(interpreter: interpreter, scriptPath: script) } catch { throw InputError(error.description) }
        repl.afterCommand = {
            setup.flushOutputs()
            // Guest output to the same stdout stopped mid-line: the debugger starts a new one.
            if options.serial == nil && session.serialMidLine {
                writeAll(1, [10])
                session.serialMidLine = false
            }
        }
        let failures = repl.run()
        setup.flushOutputs()
        throw ExitCode(failures == 0 ? 0 : 1)
    }
}

extension SnapshotConfig {
    /// Same machine shape (what `restore` needs: the ROM too, which is not RAM); the guest path
    /// and budget may differ.
    fileprivate func sameMachine(as other: SnapshotConfig) -> Bool {
        memoryBytes == other.memoryBytes && privateMemoryBytes == other.privateMemoryBytes
            && shadowPages == other.shadowPages && virt == other.virt && mmu == other.mmu
            && exits == other.exits && strictIO == other.strictIO && rom == other.rom
    }
}
