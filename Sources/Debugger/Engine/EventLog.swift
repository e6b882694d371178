import ShadowMMU
import VMM
import X86Core
import X86Decode

/// What the debugger remembers of the run: the last VM exits and page faults (and other
/// delivered events), newest last, each with the instruction count at which it happened, so
/// `exits`, `faults` and `explain` can show them and a restore can cut them back.
public struct EventLog {
    public static let capacity = 512

    /// One VM exit as the VMM recorded it.
    public struct Exit {
        public let exit: VMExit
        public var icount: UInt64 { exit.instructionCount }
    }

    /// One page fault (or other exception) seen by the shadow MMU or delivered by the CPU.
    public struct Fault {
        public let icount: UInt64
        public let eip: UInt32
        public let vector: UInt8
        public let linear: UInt32
        public let errorCode: UInt32?
        /// The guest walk (page faults), as the shadow MMU or the debugger saw it.
        public let walk: GuestPageWalk?
        /// Hidden: only the shadow MMU saw it (the guest never knew).
        public let hidden: Bool
        /// The shadow MMU's action ("fill", "dirty", "write-protect", …) or "deliver".
        public let action: String
        /// What the shadow entry became (physical address and new value), when known.
        public let shadowEntry: (address: UInt32, value: UInt32)?
        /// Guest CR0.WP, for explanations.
        public let wp: Bool
        /// The shadow MMU's zapped-entries counter when it happened (a write-protect fault's
        /// zaps happen at the next instruction boundary: the difference to the next fault).
        public let zappedBefore: UInt64
    }

    /// An event delivered through the IDT (external interrupt, exception, INT n).
    public struct Delivery {
        public let icount: UInt64
        public let vector: UInt8
        public let errorCode: UInt32?
        public let software: Bool
    }

    public private(set) var exits: [Exit] = []
    public private(set) var faults: [Fault] = []
    public private(set) var deliveries: [Delivery] = []
    /// How many of each were ever added (the lists keep the last `capacity`): a snapshot's marks.
    public private(set) var totals = Totals()

    public struct Totals: Sendable {
        var exits = 0, faults = 0, deliveries = 0
    }
    /// Which came last of an exit and a fault (for `explain`).
    public private(set) var lastWasFault = false

    mutating func add(_ e: Exit) {
        if exits.count >= Self.capacity { exits.removeFirst(exits.count - Self.capacity + 1) }
        exits.append(e)
        totals.exits += 1
        lastWasFault = false
    }

    mutating func add(_ f: Fault) {
        if faults.count >= Self.capacity { faults.removeFirst(faults.count - Self.capacity + 1) }
        faults.append(f)
        totals.faults += 1
        lastWasFault = true
    }

    mutating func add(_ d: Delivery) {
        if deliveries.count >= Self.capacity { deliveries.removeFirst(deliveries.count - Self.capacity + 1) }
        deliveries.append(d)
        totals.deliveries += 1
    }

    /// Forgets everything recorded after the marks (the machine went back to a snapshot taken
    /// then); replay re-adds it. Marks, not instruction counts: several events share a count.
    mutating func truncate(to marks: Totals) {
        exits.removeLast(min(exits.count, max(0, totals.exits - marks.exits)))
        faults.removeLast(min(faults.count, max(0, totals.faults - marks.faults)))
        deliveries.removeLast(min(deliveries.count, max(0, totals.deliveries - marks.deliveries)))
        totals = marks
        let e = exits.last?.icount, f = faults.last?.icount
        lastWasFault = f != nil && (e == nil || f! >= e!)
    }
}
