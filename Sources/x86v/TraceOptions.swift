import ArgumentParser
import Machine
import Trace
import VMM

/// `x86v run --trace FILE` and its filters (docs/formats.md, "Instruction traces").
struct TraceOptions: ParsableArguments {
    @Option(name: .customLong("trace"), help: "Write one record per instruction to FILE (see --trace-format).")
    var trace: String?
    @Option(name: .customLong("trace-format"), help: "jsonl (one JSON object per line, the default) or bin (compact; `x86v trace print` reads it).")
    var format: TraceWriter.Format = .jsonl
    @Option(name: .customLong("trace-from"), help: "Record from this instruction count on (the run before it goes at full speed).")
    var from: UInt64?
    @Option(name: .customLong("trace-to"), help: "Record up to this instruction count (the run goes on untraced after it).")
    var to: UInt64?
    @Option(name: .customLong("trace-range"), help: "Record only instructions with EIP in LO-HI (inclusive, hex or decimal).")
    var range: String?
    @Option(name: .customLong("trace-ring"), help: "Record only instructions run at CPL 0 or 3.")
    var ring: UInt8?
    @Option(name: .customLong("test-flip-flag"), help: ArgumentHelp("Testing the lockstep diff: flip EFLAGS bit BIT when the instruction count reaches N (N:BIT).", visibility: .hidden))
    var flipFlag: String?

    var active: Bool { trace != nil || flipFlag != nil }

    func validate() throws {
        if trace == nil && (from != nil || to != nil || range != nil || ring != nil) {
            throw InputError("--trace-from, --trace-to, --trace-range and --trace-ring go with --trace FILE")
        }
        if let r = ring, r != 0 && r != 3 { throw InputError("bad --trace-ring \(r) (0 or 3)") }
        if let f = from, let t = to, f > t { throw InputError("--trace-from \(f) is after --trace-to \(t)") }
        _ = try eipRange()
        _ = try flip()
    }

    func eipRange() throws -> ClosedRange<UInt32>? {
        guard let r = range else { return nil }
        let parts = r.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let lo = parseAddress(String(parts[0])), let hi = parseAddress(String(parts[1])), lo <= hi else {
            throw InputError("bad --trace-range '\(r)' (LO-HI, e.g. 0x100000-0x1fffff)")
        }
        return lo...hi
    }

    func flip() throws -> (index: UInt64, bit: Int)? {
        guard let f = flipFlag else { return nil }
        let parts = f.split(separator: ":")
        guard parts.count == 2, let n = UInt64(parts[0]), let b = Int(parts[1]), (0..<22).contains(b) else {
            throw InputError("bad --test-flip-flag '\(f)' (N:BIT, BIT 0-21)")
        }
        return (n, b)
    }

    /// The guest run with the recorder attached (and the flag flipped) as the flags ask.
    func makeRun(_ setup: GuestSetup) throws -> TracedRun {
        var recorder: TraceRecorder? = nil
        if let path = trace {
            let writer: TraceWriter
            do {
                writer = try TraceWriter(path: path, format: format, guest: setup.options.guestName,
                                         config: setup.options.configName)
            } catch { throw InputError(error.description) }
            var filter = TraceRecorder.Filter()
            filter.from = from ?? 0
            filter.to = to ?? .max
            filter.eipRange = try eipRange()
            filter.ring = ring
            let cpu = setup.machine.cpu
            let view: GuestView
            if let v = setup.vmm {
                view = GuestView(cpu: cpu) { [unowned(unsafe) v] in
                    let c = v.virtualCPU  // one read (one exclusivity check) per instruction
                    return (c.cr0, c.cr3, c.cr4)
                }
            } else {
                view = GuestView(cpu: cpu)
            }
            recorder = TraceRecorder(cpu: cpu, view: view, writer: writer, filter: filter)
        }
        var run = TracedRun(machine: setup.machine, vmm: setup.vmm, recorder: recorder)
        run.startAt = from ?? 0
        run.flip = try flip()
        return run
    }
}

extension TraceWriter.Format: ExpressibleByArgument {}
