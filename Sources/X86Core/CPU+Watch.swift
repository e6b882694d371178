/// The owner's watchpoints and stop requests (the debugger's, not the guest's DR0–DR7).
///
/// A watchpoint is any number of guest-linear bytes, for reads, writes or both, checked on every
/// data access the CPU makes (descriptor loads, stack pushes of an interrupt, string
/// instructions included), not only the four the debug registers allow. It costs nothing when
/// none is set: pages holding a watched byte are kept out of the soft TLB, so only accesses to
/// them take the slow path, where `noteOwnerWatch` records a hit. The instruction completes and
/// `run` returns `.breakpoint` after it (a trap, like a data breakpoint).

/// One watched range.
public struct OwnerWatch: Sendable, Equatable {
    public var address: UInt32
    public var length: UInt32
    public var reads: Bool
    public var writes: Bool
    public init(address: UInt32, length: UInt32, reads: Bool, writes: Bool) {
        self.address = address; self.length = max(1, length); self.reads = reads; self.writes = writes
    }
    func overlaps(_ lin: UInt32, _ size: Int) -> Bool {
        let end = UInt64(lin) + UInt64(size)
        return UInt64(address) < end && UInt64(lin) < UInt64(address) + UInt64(length)
    }
}

/// An access that touched a watched range.
public struct WatchHit: Sendable, Equatable {
    public var watch: Int
    public var linear: UInt32
    public var size: Int
    public var isWrite: Bool
    /// The value written (writes only).
    public var value: UInt32
}

extension CPU {
    @inline(__always) var hasOwnerWatches: Bool { ownerWatchesActive }

    func watchpointsChanged() {
        ownerWatchesActive = !watchpoints.isEmpty
        // Pages that now hold a watch must leave the TLB; pages that no longer do may return.
        tlb.flush(keepGlobal: false)
        updateAttention()
    }

    func noteOwnerWatch(_ lin: UInt32, size: Int, write: Bool, value: UInt32 = 0) {
        for (i, w) in watchpoints.enumerated() where (write ? w.writes : w.reads) && w.overlaps(lin, size) {
            watchHits.append(WatchHit(watch: i, linear: lin, size: size, isWrite: write, value: value))
        }
    }

    func pageHasOwnerWatch(_ linear: UInt32) -> Bool {
        let page = linear & 0xFFFF_F000
        for w in watchpoints {
            let first = w.address & 0xFFFF_F000
            let last = (w.address &+ (w.length - 1)) & 0xFFFF_F000
            if first <= last ? (page >= first && page <= last) : (page >= first || page <= last) { return true }
        }
        return false
    }

    /// Stops `run` at the next instruction boundary with `.breakpoint` (a debugger stop after an
    /// exit or a fault it was waiting for). If the CPU is not running, the next `run` returns at
    /// once, before any instruction.
    public func requestOwnerStop() {
        ownerStopRequested = true
        attention = true
    }

    /// True while an owner stop is requested and not yet taken.
    public var ownerStopPending: Bool { ownerStopRequested }

    /// Takes back a stop request (the owner's run loop returned without reaching the CPU).
    public func cancelOwnerStop() {
        ownerStopRequested = false
        updateAttention()
    }
}

extension CPU {
    /// The next `run` executes the instruction at EIP even if an owner breakpoint is there (a
    /// debugger resuming from a breakpoint steps over it, as GDB does).
    public func skipBreakpointAtCurrentInstruction() {
        skipOwnerBreakpointOnce = true
    }
}
