import ArgumentParser
import Trace

/// `x86v trace print|diff`: the instruction traces `run --trace` writes (docs/formats.md).
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Print or compare instruction traces.",
        subcommands: [TracePrint.self, TraceDiffCommand.self, TraceRules.self]
    )
}

struct TracePrint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "print",
        abstract: "Print an x86v trace (binary or JSON lines) as JSON lines.",
        discussion: "Exit status: 0, or 2 for a file that is not a complete x86v trace.")

    @Argument(help: "The trace (from x86v run --trace FILE [--trace-format bin]).") var file: String
    @Option(name: .shortAndLong, help: "Write here instead of stdout.") var output: String?

    func run() throws {
        do { try convert() } catch { throw InputError(error.description) }
    }

    func convert() throws(TraceInputError) {
            let reader = try TraceReader(path: file)
            let writer = try TraceWriter(path: output ?? "/dev/stdout", format: .jsonl, guest: reader.guest, config: reader.config)
            var count: UInt64 = 0
            while let step = try reader.next() {
                // Where the recording restated the state (after a filter's gap), so does the print.
                writer.write(step, fullState: reader.lastStepHadFullState || count == 0)
                count += 1
            }
            try writer.finish(steps: count, stop: reader.stop ?? "")
    }
}

struct TraceDiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Find the first instruction where two traces disagree.",
        discussion: """
            A and B are x86v traces (either form) or QEMU logs (qemu-system-i386 -accel tcg \
            -singlestep -d cpu,nochain,exec[,int] -D LOG; -one-insn-per-tb on QEMU 8.1 and later). \
            A QEMU log is read from the guest's entry point (the first step of the x86v trace, or \
            --entry). With a QEMU log the rules of docs/lockstep.md apply; between two x86v traces \
            nothing may differ. Exit status: 0 identical to the end of the shorter stream, 1 a \
            divergence, 2 bad input (a truncated or foreign file, traces that never align).
            """)

    @Argument(help: "Trace A (x86v trace or QEMU log).") var a: String
    @Argument(help: "Trace B (x86v trace or QEMU log).") var b: String
    @Option(help: "Where a QEMU log starts (the guest's entry point; default: the x86v trace's first instruction).")
    var entry: String?
    @Option(help: "Instructions of context before the divergence.") var context: Int = 10
    @Flag(help: "Apply no rule even against a QEMU log.") var strict = false

    func run() throws {
        guard (0...1000).contains(context) else { throw InputError("bad --context \(context) (0-1000)") }
        var entryAddress: UInt32? = nil
        if let e = entry {
            guard let v = parseAddress(e) else { throw InputError("bad --entry '\(e)'") }
            entryAddress = v
        }
        let result: TraceDiff.Result
        let names: (String, String)
        do { (result, names) = try compare(entryAddress) } catch { throw InputError(error.description) }
        print(DiffReport(result: result, aName: names.0, bName: names.1).render(), terminator: "")
        if !result.identical && result.stoppedBy == nil { throw ExitCode(1) }
    }

    func compare(_ entry: UInt32?) throws(TraceInputError) -> (TraceDiff.Result, (String, String)) {
            var entryAddress = entry
            // The x86v side tells where a QEMU log starts.
            if entryAddress == nil {
                for path in [a, b] {
                    if let r = try? TraceReader(path: path), let first = try? r.next() {
                        entryAddress = first.linear
                        break
                    }
                }
            }
            let sa = try TraceFiles.open(a, entry: entryAddress)
            let sb = try TraceFiles.open(b, entry: entryAddress)
            var options = TraceDiff.Options()
            let reference = sa is QEMULogReader || sb is QEMULogReader
            options.rules = reference && !strict
            options.compareControlRegisters = !reference
            options.context = context
            return (try TraceDiff(sa, sb, options: options).run(), (sa.label, sb.label))
    }
}

struct TraceRules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "List the rules by which trace diff lets x86v and a reference machine differ (Sources/Trace/Diff/DiffRules.swift).")

    func run() throws {
        for r in DiffRules.all {
            print("\(r.id)\n  \(r.section)\n  \(r.summary)\n")
        }
    }
}
