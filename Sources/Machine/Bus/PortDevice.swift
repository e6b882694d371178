/// A device on the I/O port bus. `size` is 1, 2 or 4; the bus masks the value it returns to
/// that width. Called only from the machine's exit handling, never from the CPU's hot loop.
public protocol PortDevice: AnyObject {
    func read(port: UInt16, size: Int) -> UInt32
    func write(port: UInt16, size: Int, value: UInt32)
}

/// A device whose behaviour depends on virtual time (timers). The machine stops the CPU at the
/// earliest deadline and calls `tick(now:)`, so events land on the same instruction every run.
public protocol ClockedDevice: AnyObject {
    /// Absolute virtual time (ns, `VirtualClock.now`) at which the device next changes state on
    /// its own (a counter reaches zero), or nil if it never will until the guest touches it.
    func nextDeadline() -> UInt64?
    /// Brings the device up to `now` (>= every deadline it reported): raise IRQs that fell due,
    /// reload periodic counters.
    func tick(now: UInt64)
}
