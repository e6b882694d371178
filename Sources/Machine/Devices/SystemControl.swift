/// STUB (helper A fills in): port 0x92 (System Control Port A: fast reset, A20) and the 8042
/// keyboard controller's 0x60/0x64 (status, command 0xFE = pulse the reset line).
public final class SystemControl: PortDevice {
    /// Called when the guest asks for a CPU reset.
    public var onReset: () -> Void = {}
    public init() {}
    public func read(port: UInt16, size: Int) -> UInt32 { 0xFF }
    public func write(port: UInt16, size: Int, value: UInt32) {}
}
