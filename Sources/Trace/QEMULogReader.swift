/// Reads a QEMU 7.2 per-instruction log as `TraceStep`s, streaming, for `TraceDiff`.
///
/// The log is made by `qemu-system-i386 … -kernel GUEST.elf -singlestep -d cpu,nochain,exec[,int]
/// [-dfilter RANGES] -D LOG`. What it says and how it becomes steps:
///
/// - A record is a `Trace` line and the register dump under it: the state before one instruction
///   (`-singlestep` makes every translation block one instruction; a record with another count in
///   its cflags is refused). `linear` = CS base + EIP; `physical`, `bytes`, `after` and `writes`
///   are not in the log.
/// - `events` are the `-d int` lines up to the next record that ran: "Servicing hardware INT=0xNN"
///   is an `.interrupt` (its "v=NN … i=0" line that follows is the same delivery, not a second
///   event); "v=NN e=EEEE i=1" is an INT n/INT3/INTO, `.softwareInterrupt`; "i=0" otherwise an
///   `.exception`, with the error code for vectors 8, 10–14, 17 and CR2 for #PF. The dump QEMU
///   prints under a "v=" or "SMM:" line is not a record. A delivery that faults is logged as both
///   vectors (v=00, then v=08 when delivering #DE raised #NP), and both become events, in order.
/// - Records that did not run are dropped, so each instruction is one step: a record followed by
///   "Stopped execution of TB chain" (QEMU entered the block and left before its instruction, to
///   answer an exit request; it prints the record again when it runs), and a record followed by one
///   at the same pc whose cflags has CF_NOIRQ (the first run was abandoned midway — a watchpoint
///   hit, a write to its own code — and QEMU re-runs the instruction alone).
/// - A REP instruction gives one record per iteration (same pc, ECX counting down), as x86v counts.
/// - With `-d fpu` (`cpu,fpu,…`) each record's dump ends with the x87/SSE rows: the step's `fpu`
///   (`QEMURecord.parseFPU`); without them `fpu` is nil and the diff leaves the FPU alone.
///
/// Because of the "Stopped" case a record is known to have run only when a later line says so, so
/// steps come out one record behind the reading. A log without `exec` (dumps only) is read too:
/// each dump not under a "v="/"SMM:" line is a record, and a block that stopped before running
/// cannot be told apart there.
public final class QEMULogReader: TraceStepSource {
    public let label: String
    /// Records passed over before the one at the entry point.
    public private(set) var skippedRecords: UInt64 = 0
    /// The HLT= field of the last step returned. (QEMU prints a record only when an instruction
    /// runs, so after a HLT the CPU is already awake again: expect false.)
    public private(set) var lastHalted = false
    /// Bytes of the log read so far.
    public var bytesRead: UInt64 { input.bytesRead }

    private let input: QEMULogInput
    private let path: String
    private let entry: UInt32?
    /// No Trace lines: records are the bare dumps.
    private let dumpsOnly: Bool
    private var waitingForEntry: Bool
    /// The last record known to have run, and the events since it.
    private var pending: QEMURecord?
    private var pendingEvents: [TraceEvent] = []
    /// The last record read, not yet known to have run.
    private var candidate: QEMURecord?
    /// The vector of the last "Servicing hardware INT" whose "v=" line has not been seen (-1: none).
    private var servicedVector = -1
    /// Dumps mode: the next dump follows a "v=" or "SMM:" line.
    private var dumpIsNotRecord = false
    private var nextIndex: UInt64 = 0
    /// FPU rows that follow now belong to the candidate (they follow its dump directly).
    private var fpuRowsForCandidate = false
    /// The last FPU state handed out: steps with the same state share it.
    private var lastFPU: TraceFPU? = nil

    /// Opens the log. With `entry`, every record before the first whose linear pc is `entry` is
    /// skipped (the firmware, in a log without -dfilter), and that record is step 0.
    public init(path: String, entry: UInt32?) throws(TraceInputError) {
        label = "QEMU log \(path)"
        self.path = path
        self.entry = entry
        input = try QEMULogInput(path: path)
        dumpsOnly = try Self.probe(input)
        waitingForEntry = entry != nil
        if let entry, !dumpsOnly {
            guard try input.skipToTrace(pc: entry, skipped: &skippedRecords) else { throw neverReached(entry) }
            waitingForEntry = false
        }
    }

    public func next() throws(TraceInputError) -> TraceStep? {
        while let range = try input.nextLine() {
            let line = QEMULine(base: UnsafeRawPointer(input.base), start: range.lowerBound, end: range.upperBound)
            let kind = line.kind
            if kind != .other { fpuRowsForCandidate = false }
            switch kind {
            case .trace:
                guard !dumpsOnly else { continue }
                servicedVector = -1
                let offset = input.offset(of: range.lowerBound)
                guard let trace = line.traceFields else { throw malformed("Trace", at: offset) }
                guard trace.cflags & cfCountMask == 1 else {
                    throw TraceInputError("\(path): the record at byte offset \(offset) covers a block of several instructions "
                        + "(cflags \(hex(trace.cflags))): make the log with -singlestep")
                }
                var record = QEMURecord(cflags: trace.cflags, offset: offset)
                try readDump(into: &record, from: 0)
                if let c = candidate, record.cflags & cfNoIRQ != 0, c.linear == record.linear { candidate = nil }
                let out = promote()
                accept(record)
                fpuRowsForCandidate = candidate != nil
                if let out { return out }
            case .registers:
                guard dumpsOnly else { continue }
                if dumpIsNotRecord { dumpIsNotRecord = false; continue }
                var record = QEMURecord(offset: input.offset(of: range.lowerBound))
                guard record.parse(line, row: 0) else { throw badRow(line, 0, record) }
                try readDump(into: &record, from: 1)
                let out = promote()
                accept(record)
                fpuRowsForCandidate = candidate != nil
                if let out { return out }
            case .stopped:
                candidate = nil
            case .servicing:
                guard let vector = line.servicedVector else { throw malformed("Servicing", at: input.offset(of: range.lowerBound)) }
                let out = promote()
                record(TraceEvent(kind: .interrupt, vector: vector))
                servicedVector = Int(vector)
                if let out { return out }
            case .delivery:
                guard let d = line.delivery else { throw malformed("interrupt (v=)", at: input.offset(of: range.lowerBound)) }
                dumpIsNotRecord = true
                let out = promote()
                if let event = event(for: d) { record(event) }
                servicedVector = -1
                if let out { return out }
            case .smm:
                dumpIsNotRecord = true
            case .other:
                if fpuRowsForCandidate && (line.word(at: 0) == QEMUKey.fcw || line.hasPrefix("FPR") || line.hasPrefix("XMM")) {
                    guard candidate!.parseFPU(line) else { throw malformed("FPU", at: input.offset(of: range.lowerBound)) }
                    continue
                }
                // -icount: an I/O access not last in its block makes QEMU abandon the block and
                // run the instruction again alone; the first record did not run.
                if line.hasPrefix("cpu_io_recompile: rewound") { candidate = nil }
                continue
            }
        }
        if let out = promote() { return out }
        if let last = pending {
            pending = nil
            return emit(last)
        }
        if waitingForEntry, let entry { throw neverReached(entry) }
        return nil
    }

    // MARK: records

    /// Reads dump rows `first`… of the record that starts at `record.offset`.
    private func readDump(into record: inout QEMURecord, from first: Int) throws(TraceInputError) {
        for row in first..<QEMURecord.rowCount {
            guard let range = try input.nextLine() else {
                throw TraceInputError("\(path): truncated: the log ends inside the record at byte offset \(record.offset) "
                    + "(its register dump stops before the \(QEMURecord.rowName(row)) line)")
            }
            let line = QEMULine(base: UnsafeRawPointer(input.base), start: range.lowerBound, end: range.upperBound)
            guard QEMURecord.isRow(line, row), record.parse(line, row: row) else { throw badRow(line, row, record) }
        }
    }

    private func badRow(_ line: QEMULine, _ row: Int, _ record: QEMURecord) -> TraceInputError {
        let name = QEMURecord.rowName(row)
        if input.lastLineUnterminated {
            return TraceInputError("\(path): truncated: the log ends inside the \(name) line of the record at byte offset \(record.offset)")
        }
        let offset = input.offset(of: line.start)
        if !QEMURecord.isRow(line, row) {
            return TraceInputError("\(path): the record at byte offset \(record.offset) is cut short: expected its \(name) line "
                + "at byte offset \(offset), found \"\(line.text)\"")
        }
        return malformed(name, at: offset)
    }

    /// The candidate ran (a line after it says so): it becomes the pending record, and the one
    /// pending before it is complete.
    private func promote() -> TraceStep? {
        guard let c = candidate else { return nil }
        candidate = nil
        let out = pending.map(emit)
        pending = c
        return out
    }

    private func accept(_ record: QEMURecord) {
        if waitingForEntry {
            guard record.linear == entry else { skippedRecords &+= 1; return }
            waitingForEntry = false
        }
        candidate = record
    }

    /// What a "v=" line reports; nil when it delivers the interrupt "Servicing hardware INT" just
    /// announced (one interrupt, one event).
    private func event(for d: QEMUDelivery) -> TraceEvent? {
        if d.isInt { return TraceEvent(kind: .softwareInterrupt, vector: d.vector) }
        if Int(d.vector) == servicedVector { return nil }
        if d.vector == 2 { return TraceEvent(kind: .interrupt, vector: 2) }  // NMI: QEMU does not announce it
        let code: UInt32? = errorCodeVectors & (1 << UInt32(min(d.vector, 31))) != 0 ? d.errorCode : nil
        return TraceEvent(kind: .exception, vector: d.vector, errorCode: code, address: d.cr2)
    }

    /// Events before the first record (the firmware's, under -dfilter) belong to no step.
    private func record(_ event: TraceEvent) {
        if pending != nil { pendingEvents.append(event) }
    }

    private func emit(_ r: QEMURecord) -> TraceStep {
        var fpu: TraceFPU? = nil
        if let f = r.fpu {
            if let last = lastFPU, last.state == f { fpu = last } else { fpu = TraceFPU(f); lastFPU = fpu }
        }
        let step = TraceStep(index: nextIndex, before: r.registers, linear: r.linear, events: pendingEvents, fpu: fpu)
        pendingEvents = []
        nextIndex &+= 1
        lastHalted = r.halted
        return step
    }

    // MARK: errors

    /// A line that does not parse: cut by the end of the file, or garbled.
    private func malformed(_ what: String, at offset: UInt64) -> TraceInputError {
        if input.lastLineUnterminated {
            return TraceInputError("\(path): truncated: the log ends inside the \(what) line at byte offset \(offset)")
        }
        return TraceInputError("\(path): malformed \(what) line at byte offset \(offset)")
    }

    private func neverReached(_ entry: UInt32) -> TraceInputError {
        TraceInputError("\(path): the guest's entry point \(hex(entry)) never appears "
            + "(a log of another guest, or -dfilter excludes it?)")
    }
}

/// cflags bits (QEMU 7.2 include/exec/exec-all.h): the block's instruction limit, and "no
/// interrupts", set when an instruction is re-run alone after an abandoned run.
private let cfCountMask: UInt32 = 0x1FF
private let cfNoIRQ: UInt32 = 0x0010_0000
/// #DF, #TS, #NP, #SS, #GP, #PF, #AC push an error code (SDM Vol. 3A §6.13).
private let errorCodeVectors: UInt32 = 1 << 8 | 1 << 10 | 1 << 11 | 1 << 12 | 1 << 13 | 1 << 14 | 1 << 17

private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
