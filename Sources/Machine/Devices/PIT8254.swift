/// STUB (helper A fills in): 8254 PIT at 0x40–0x43 (channel 0 → IRQ0) and port 0x61.
public final class PIT8254: PortDevice, ClockedDevice {
    public init(clock: VirtualClock, lines: InterruptLines) {}
    public func read(port: UInt16, size: Int) -> UInt32 { 0xFF }
    public func write(port: UInt16, size: Int, value: UInt32) {}
    public func nextDeadline() -> UInt64? { nil }
    public func tick(now: UInt64) {}
}
