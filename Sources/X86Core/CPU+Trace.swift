/// The CPU's part of instruction tracing (`x86v run --trace`), like a hardware trace facility:
/// a hook at each instruction boundary (`traceObserver`) and a log of the data writes the
/// instruction made (`traceWrites`). While `traceWrites` is on, no TLB entry allows writes, so
/// every write reaches `writeLinearSlow`, which logs it after translation (the guest-physical
/// address is known then) and before the store. Off, both cost nothing on the fast path.

/// One data write: the guest-linear and physical address of its first byte, its size and value.
public struct TracedWrite: Sendable, Equatable {
    public var linear: UInt32
    public var physical: UInt32
    public var size: UInt8
    public var value: UInt32

    public init(linear: UInt32, physical: UInt32, size: UInt8, value: UInt32) {
        self.linear = linear; self.physical = physical; self.size = size; self.value = value
    }
}

extension CPU {
    func noteTracedWrite(_ lin: UInt32, _ phys: UInt32, size: Int, value: UInt32) {
        tracedWrites.append(TracedWrite(linear: lin, physical: phys, size: UInt8(size), value: value))
    }

    /// Forgets the recorded writes (the tracer calls this when it starts the next instruction).
    public func clearTracedWrites() {
        if !tracedWrites.isEmpty { tracedWrites.removeAll(keepingCapacity: true) }
    }
}
