/// STUB (helper B fills in): a 16550A UART (COM1 at 0x3F8, IRQ4).
public final class UART16550: PortDevice {
    /// Each transmitted byte.
    public var onTransmit: (UInt8) -> Void = { _ in }
    public init(lines: InterruptLines, irq: Int = 4) {}
    /// Bytes arriving on the receive line (from --serial-in or a TTY).
    public func receive(_ bytes: [UInt8]) {}
    /// True when the receive buffer is empty and the guest could take more input.
    public var wantsInput: Bool { true }
    public func read(port: UInt16, size: Int) -> UInt32 { 0xFF }
    public func write(port: UInt16, size: Int, value: UInt32) {}
}
