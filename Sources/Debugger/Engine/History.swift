import Machine
import VMM
import X86Core

/// A machine snapshot plus what the session needs to continue from it (where the guest's output
/// stood, whether the guest had ended).
public struct SessionSnapshot {
    public let machine: MachineSnapshot
    let serialPosition: UInt64
    let consolePosition: UInt64
    let ended: StopReason?
    let logMarks: EventLog.Totals

    public var instructionCount: UInt64 { machine.instructionCount }
}

/// Automatic snapshots for reverse execution: one every `interval` instructions, sharing unchanged
/// RAM pages with the previous one, within a memory budget. When the budget is exceeded every
/// other snapshot is dropped (the first is kept), so the history always reaches back to the start
/// with coarser spacing the further back it goes — a replay costs at most one gap.
public struct History {
    public static let defaultInterval: UInt64 = 200_000
    public static let defaultBudget = 512 << 20

    public private(set) var interval: UInt64
    let budgetBytes: Int
    public private(set) var snapshots: [SessionSnapshot] = []
    public private(set) var bytes = 0

    init(interval: UInt64, budgetBytes: Int) {
        self.interval = max(1, interval)
        self.budgetBytes = budgetBytes
    }

    /// The next instruction count at which a snapshot is due (a multiple of the interval).
    func nextDue(after now: UInt64) -> UInt64 {
        (now / interval &+ 1) &* interval
    }

    /// Takes a snapshot if the count is at a due point (or there is none yet) and not taken.
    mutating func record(_ s: DebugSession) {
        let now = s.icount
        guard snapshots.isEmpty || (now % interval == 0 && now > snapshots.last!.instructionCount) else { return }
        let snap = s.capture(previous: snapshots.last?.machine)
        snapshots.append(snap)
        bytes += snap.machine.byteSize
        if bytes > budgetBytes && snapshots.count > 2 { thin() }
    }

    /// Drops every other snapshot after the first (their unshared pages go with them).
    mutating func thin() {
        var kept: [SessionSnapshot] = [snapshots[0]]
        for (i, s) in snapshots.enumerated().dropFirst() where i % 2 == 0 || i == snapshots.count - 1 { kept.append(s) }
        snapshots = kept
        bytes = kept.reduce(0) { $0 + $1.machine.byteSize }
    }

    /// The latest snapshot at or before `count`.
    func nearest(atOrBefore count: UInt64) -> SessionSnapshot? {
        snapshots.last { $0.instructionCount <= count }
    }

    /// Forgets snapshots after `count` (the user changed the past: they no longer describe it).
    mutating func truncate(after count: UInt64) {
        snapshots.removeAll { $0.instructionCount > count }
        bytes = snapshots.reduce(0) { $0 + $1.machine.byteSize }
    }
}

extension DebugSession {
    func capture(previous: MachineSnapshot?) -> SessionSnapshot {
        SessionSnapshot(machine: MachineSnapshot.capture(machine: machine, vmm: vmm, previous: previous),
                        serialPosition: serialPosition, consolePosition: consolePosition, ended: ended,
                        logMarks: log.totals)
    }

    /// Puts the machine back to `snap`: the event log forgets what happened after it.
    func restore(_ snap: SessionSnapshot) throws(DebugError) {
        do {
            try snap.machine.restore(into: machine, vmm: vmm)
        } catch {
            throw DebugError("restore failed: \(error.description)")
        }
        rearm()
        serialPosition = snap.serialPosition
        consolePosition = snap.consolePosition
        ended = snap.ended
        log.truncate(to: snap.logMarks)
        pendingStop = nil
    }

    /// A restored soft TLB may hold pages that now carry watchpoints: hand them to the CPU again.
    func rearm() {
        let watches = cpu.watchpoints
        cpu.watchpoints = watches
    }

    /// Moves the machine to instruction count `target` (earlier than now): restore the nearest
    /// snapshot before it and replay, breakpoints off and output muted (it was shown already).
    func travel(to target: UInt64) throws(DebugError) {
        guard let snap = history.nearest(atOrBefore: target) else {
            throw DebugError("no snapshot at or before instruction \(target)")
        }
        try restore(snap)
        replaying = true
        defer { replaying = false }
        _ = advance(to: target, interrupted: nil)
        if icount != target { throw DebugError("replay stopped at \(icount), not \(target)") }
    }

    /// `reverse-step N`: back N instructions (counted as the instruction count counts: REP
    /// iterations and delivered events are steps too).
    public func reverseStep(_ n: UInt64) throws(DebugError) -> StopCause {
        let now = icount
        let oldest = history.snapshots.first?.instructionCount ?? now
        if now <= oldest { return .historyStart }
        let target = now >= oldest &+ n ? now - n : oldest
        try travel(to: target)
        return target == oldest && now - oldest < n ? .historyStart : .stepped
    }

    /// `reverse-continue`: back to the latest breakpoint hit before now (replaying each snapshot
    /// gap in turn, newest first, and noting where breakpoints fire), or to the start of history.
    public func reverseContinue() throws(DebugError) -> StopCause {
        let now = icount
        var upper = now
        let snaps = history.snapshots.filter { $0.instructionCount < now }
        for snap in snaps.reversed() {
            try restore(snap)
            var hits: [(UInt64, StopCause)] = []
            let savedHits = breakpoints.map(\.hits)
            while icount < upper {
                let cause = advance(to: upper, interrupted: nil)
                if case .stepped = cause { break }
                if case .ended = cause { break }
                if icount < upper { hits.append((icount, cause)) } else { break }
            }
            for i in breakpoints.indices where i < savedHits.count { breakpoints[i].hits = savedHits[i] }
            if let (count, cause) = hits.last {
                try travel(to: count)
                return cause
            }
            upper = snap.instructionCount
        }
        if let first = history.snapshots.first { try travel(to: first.instructionCount) }
        return .historyStart
    }

    // MARK: Named snapshots and files

    public func takeSnapshot(named name: String) {
        let snap = capture(previous: history.snapshots.last?.machine)
        named.removeAll { $0.name == name }
        named.append((name, snap))
    }

    public func restoreSnapshot(named name: String) throws(DebugError) {
        guard let snap = named.last(where: { $0.name == name })?.snapshot else {
            let known = named.map(\.name).joined(separator: ", ")
            throw DebugError("no snapshot named '\(name)'" + (known.isEmpty ? " (none taken yet)" : " (known: \(known))"))
        }
        try restore(snap)
        // The future recorded in the history may differ from the new one only if the user
        // changes state; keep the snapshots up to here, which are still true.
        history.truncate(after: icount)
    }

    public var snapshotNames: [String] { named.map(\.name) }
}

extension DebugSession {
    /// Replaces the machine with a loaded one (`load FILE`): history and logs start again there.
    public func load(_ snapshot: MachineSnapshot) throws {
        do { try snapshot.restore(into: machine, vmm: vmm) } catch { throw DebugError("load failed: \(error.description)") }
        rearm()
        // A loaded machine's output is all new to this session.
        serialPosition = 0; serialShown = 0; consolePosition = 0; consoleShown = 0
        serialMidLine = false
        ended = nil
        pendingStop = nil
        log = EventLog()
        history = History(interval: history.interval, budgetBytes: history.budgetBytes)
        history.record(self)
        notePreviousRegisters()
    }
}
