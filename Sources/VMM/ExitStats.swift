/// Exit counts by reason and the VMM's other counters (`--stats`, `--stats-json`).
public struct ExitStats: Sendable {
    /// Indexed by `VMExitReason.rawValue`.
    public internal(set) var counts = [UInt64](repeating: 0, count: 64)
    /// Events injected at VM entry (interrupts and exceptions).
    public var injectedEvents: UInt64 = 0
    public var total: UInt64 { counts.reduce(0, +) }

    mutating func count(_ reason: VMExitReason) { counts[Int(reason.rawValue)] &+= 1 }

    public func count(of reason: VMExitReason) -> UInt64 { counts[Int(reason.rawValue)] }

    /// (reason, count) for every reason that happened, in SDM order.
    public var nonZero: [(VMExitReason, UInt64)] {
        VMExitReason.allCases.compactMap { r in counts[Int(r.rawValue)] > 0 ? (r, counts[Int(r.rawValue)]) : nil }
    }
}
