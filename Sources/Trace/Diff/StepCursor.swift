import X86Decode

/// One side of a diff: its steps with REP iterations collapsed (rule rep-iterations), a bounded
/// look-ahead for resynchronisation, and the last steps compared (the report's context).
final class StepCursor {
    let source: TraceStepSource
    /// Steps read from the source but not consumed yet (index 0 is the current step).
    var ahead: [TraceStep] = []
    var head = 0
    var ended = false
    /// Steps consumed so far (the position of the current step in this side's stream).
    var position: UInt64 = 0
    /// The last steps consumed, oldest first, for the report.
    var history: [TraceStep] = []
    let historyLimit: Int
    /// A step pulled from the source, not yet known to be the last of its REP run.
    var pending: TraceStep? = nil
    var collapsed: UInt64 = 0
    var foldedFetchFaults: UInt64 = 0
    let decoder = Decoder()
    /// Incremented per step consumed (the lockstep watchdog reads it).
    var progress: UnsafeMutablePointer<Int>? = nil

    init(_ source: TraceStepSource, history: Int) {
        self.source = source
        historyLimit = history
    }

    var label: String { source.label }

    /// The step `offset` ahead of the current one (0: the current one), nil past the end.
    func peek(_ offset: Int = 0) throws(TraceInputError) -> TraceStep? {
        while ahead.count - head <= offset {
            guard let s = try pull() else { return nil }
            ahead.append(s)
        }
        return ahead[head + offset]
    }

    /// True if this side is known to have no current step without reading further.
    func peekIfEnded() throws(TraceInputError) -> Bool {
        ahead.count == head && ended && pending == nil
    }

    /// Consumes the current step.
    func advance() throws(TraceInputError) {
        guard let s = try peek() else { return }
        history.append(s)
        if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }
        head += 1
        position += 1
        progress?.pointee &+= 1
        if head > 4096 && head * 2 > ahead.count {
            ahead.removeFirst(head)
            head = 0
        }
    }

    /// The next collapsed step from the source.
    func pull() throws(TraceInputError) -> TraceStep? {
        if ended && pending == nil { return nil }
        if pending == nil {
            guard let first = try source.next() else { ended = true; return nil }
            pending = first
        }
        var current = pending!
        pending = nil
        while !ended {
            guard let next = try source.next() else { ended = true; break }
            if isFetchFault(next) {
                // The instruction could not even be fetched: no instruction ran there (QEMU logs
                // none); its fault belongs with the step that led to it, and so do the writes of
                // its delivery (the frame).
                current.after = next.after
                current.writes += next.writes
                current.events += next.events
                foldedFetchFaults += 1
                continue
            }
            if isRepeatIteration(of: current, next) {
                // One step: the first iteration's state before, the last one's after, all events.
                current.after = next.after
                current.writes += next.writes
                current.events += next.events
                collapsed += 1
                continue
            }
            pending = next
            break
        }
        return current
    }

    /// The step's instruction never started: a page fault fetching it (CR2 inside its bytes), or
    /// an instruction breakpoint on it (a #DB fault, which pushes the step's own EIP).
    func isFetchFault(_ s: TraceStep) -> Bool {
        s.events.contains { e in
            guard e.kind == .exception else { return false }
            if e.vector == 14 { return e.address.map { $0 &- s.linear < 16 } == true }
            if e.vector == 1 { return s.writes.last.map { $0.size == 4 && $0.value == s.before.eip } == true }
            return false
        }
    }

    /// `b` continues the REP string instruction `a` started (same CS:EIP, nothing delivered).
    func isRepeatIteration(of a: TraceStep, _ b: TraceStep) -> Bool {
        guard a.linear == b.linear, a.before.cs == b.before.cs, !a.events.contains(where: { $0.isDelivery }) else { return false }
        if !a.bytes.isEmpty {
            var d = DecodedInstruction()
            let ok = a.bytes.withUnsafeBufferPointer { decoder.decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &d) == .ok }
            guard ok else { return false }
            return isRepString(d)
        }
        // No bytes (QEMU): ECX counts down, as only a REP iteration makes it do at an unchanged EIP.
        let c0 = a.before[.ecx], c1 = b.before[.ecx]
        return c1 < c0 && c0 - c1 <= 0x10000
    }
}

/// MOVS/CMPS/STOS/LODS/SCAS/INS/OUTS with a REP prefix.
func isRepString(_ d: DecodedInstruction) -> Bool {
    guard d.map == 0, d.prefixes.contains(.rep) || d.prefixes.contains(.repne) else { return false }
    switch d.opcode {
    case 0x6C...0x6F, 0xA4...0xA7, 0xAA...0xAF: return true
    default: return false
    }
}
