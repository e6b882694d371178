import ArgumentParser
import Trace

/// `x86v lockstep GUEST [run flags]`: the guest under x86v and QEMU (or two x86v
/// configurations) at once, compared instruction by instruction (docs/lockstep.md).
struct LockstepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstep",
        abstract: "Run a guest on x86v and on QEMU (or a second x86v configuration) and report the first instruction where they differ.",
        discussion: """
            Every run flag (--virt, --mmu, --memory, --max-instructions…) configures the x86v side. \
            --against 'FLAGS' compares with a second x86v run with those flags instead of QEMU \
            (identical by construction: any difference is a bug). Exit status: 0 identical to the \
            end of the shorter run, 1 a divergence, 2 bad input or QEMU missing.
            """)

    @OptionGroup var options: RunOptions
    @Option(help: "Compare with x86v run with these flags instead of QEMU, e.g. '--virt=none'.") var against: String?
    @Option(help: "The QEMU binary.") var qemu: String = "qemu-system-i386"
    @Option(name: .customLong("qemu-filter"), help: "Address ranges QEMU logs ('auto', the default: everywhere but QEMU's firmware; 'image': the guest's loadable segments; 'all'; or LO-HI,…).")
    var qemuFilter: String = "auto"
    @Option(help: "Instructions of context before the divergence.") var context: Int = 10
    @Flag(help: "Compare the block engine with the interpreter instead (one process, the same flags on both sides): CPU state at every block boundary, whole machines every 1 Mi instructions and at the end.")
    var engines = false
    @Option(name: .customLong("test-flip-flag"), help: ArgumentHelp("Testing: flip EFLAGS bit BIT at instruction N on side A (N:BIT).", visibility: .hidden))
    var flipFlag: String?

    func validate() throws {
        if options.bios != nil && !engines {
            // The QEMU side would need `-bios` and the x86v side of --against the ROM instead of
            // a kernel: not wired (yet); the engines compare fine from the reset vector.
            throw InputError("lockstep with --bios compares the engines only (--engines): against QEMU or --against it is not supported")
        }
        if options.bios != nil { return }
        guard (0...1000).contains(context) else { throw InputError("bad --context \(context) (0-1000)") }
        if options.kernel != nil {
            // A bzImage: QEMU would run its real-mode setup first, x86v enters the 32-bit entry,
            // so only x86v configurations (or the engines) are compared, from the same start.
            if against == nil && !engines {
                throw InputError("lockstep --kernel compares x86v configurations (--against 'FLAGS') or the engines (--engines): QEMU runs a bzImage's real-mode setup, x86v enters its 32-bit entry point")
            }
            return
        }
        guard options.guest != nil, options.flat == nil else { throw InputError("lockstep needs a multiboot ELF GUEST (not --flat)") }
        if !options.modules.isEmpty && against == nil { throw InputError("--module is not passed to QEMU: compare with --against") }
    }

    func run() throws {
        if engines { try compareEngines() }
        guard let memory = parseMemorySize(options.memory) else { throw InputError("bad --memory '\(options.memory)'") }
        var plan = Lockstep(x86v: selfExecutablePath(), guest: (options.guest ?? options.kernel)!, runArguments: passThroughArguments(),
                            against: against.map { $0.split(separator: " ").map(String.init) })
        plan.qemu = qemu
        plan.memoryMiB = memory >> 20
        plan.append = options.append
        if let r = options.rtc { plan.rtc = r.contains("T") ? r : r + "T00:00:00" }
        switch qemuFilter {
        case "auto": plan.qemuFilter = nil
        case "image": plan.qemuFilter = plan.imageRanges(try plan.loadELFForFilter())
        case "all": plan.qemuFilter = []
        default:
            var ranges: [ClosedRange<UInt32>] = []
            for part in qemuFilter.split(separator: ",") {
                let ends = part.split(separator: "-")
                guard ends.count == 2, let lo = parseAddress(String(ends[0])), let hi = parseAddress(String(ends[1])), lo <= hi else {
                    throw InputError("bad --qemu-filter '\(qemuFilter)' (image, all, or LO-HI,…)")
                }
                ranges.append(lo...hi)
            }
            plan.qemuFilter = ranges
        }
        plan.diff.context = context
        let outcome: Lockstep.Outcome
        do { outcome = try runPlan(plan) } catch { throw InputError(error.description) }
        print(outcome.report, terminator: "")
        if !outcome.result.identical && outcome.result.stoppedBy == nil { throw ExitCode(1) }
    }

    func runPlan(_ plan: Lockstep) throws(TraceInputError) -> Lockstep.Outcome {
        try plan.run()
    }

    /// The command line's run flags, for the x86v side: everything but the guest and
    /// lockstep's own options.
    func passThroughArguments() -> [String] {
        let own: Set<String> = ["--against", "--qemu", "--qemu-filter", "--context", "--engines"]
        var args = Array(normalizedArguments().dropFirst())
        var out: [String] = []
        var i = 0
        var guestDropped = false
        while i < args.count {
            let a = args[i]
            let name = String(a.split(separator: "=", maxSplits: 1).first ?? "")
            // `--kernel FILE` becomes the run's GUEST (which takes a bzImage too).
            if own.contains(name) || (name == "--kernel" && options.kernel != nil) {
                i += a.contains("=") ? 1 : 2
                continue
            }
            if !guestDropped && a == options.guest && (i == 0 || !args[i - 1].hasPrefix("--") || args[i - 1].contains("=") || isFlag(args[i - 1])) {
                guestDropped = true
                i += 1
                continue
            }
            out.append(a)
            i += 1
        }
        args = out
        return args
    }

    /// Options of `run` that take no value.
    func isFlag(_ a: String) -> Bool {
        ["--stats", "--strict-io", "--umip"].contains(a)
    }
}

extension LockstepCommand {
    /// `--engines`: both engines on machines built from the same flags, compared in-process.
    func compareEngines() throws -> Never {
        if against != nil { throw InputError("--engines compares the two engines itself: drop --against") }
        var a = options
        a.engine = .blocks
        var b = options
        b.engine = .interp
        b.serial = "/dev/null"
        if b.debugcon != nil { b.debugcon = "/dev/null" }
        b.post = nil
        b.traceFaults = nil
        b.traceExits = nil
        let sa = try a.makeSetup(interactiveInput: false)
        let sb = try b.makeSetup(interactiveInput: false)
        var plan = EngineLockstep(blocks: .init(machine: sa.machine, vmm: sa.vmm, run: sa.run),
                                  interp: .init(machine: sb.machine, vmm: sb.vmm, run: sb.run),
                                  maxInstructions: options.maxInstructions)
        if let f = flipFlag {
            let parts = f.split(separator: ":")
            guard parts.count == 2, let n = UInt64(parts[0]), let bit = Int(parts[1]), (0..<22).contains(bit) else {
                throw InputError("bad --test-flip-flag '\(f)' (N:BIT, BIT 0-21)")
            }
            plan.flip = (n, bit)
        }
        let outcome = plan.run()
        sa.serial.flush()
        print(outcome.report, terminator: "")
        throw ExitCode(outcome.divergence == nil ? 0 : 1)
    }
}
