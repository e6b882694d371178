/// Ports 0xF0 and 0xF1, the PC/AT's math coprocessor ports, and the FERR# → IRQ13 wiring of
/// the DOS-compatible x87 error path (CR0.NE = 0; SDM Vol. 1 Appendix D.2): the CPU raises
/// FERR# with an unmasked x87 exception, the board turns it into IRQ13 (the slave 8259's IR5),
/// and the handler's write to 0xF0 clears the request and asserts IGNNE#, so the waiting
/// instruction can run before the handler clears the error with FNCLEX. 0xF1 (coprocessor
/// reset on the AT) does the same here. Reads return 0xFF: nothing answers.
public final class CoprocessorPorts: PortDevice {
    /// The ports this device answers.
    public static let ports: ClosedRange<UInt16> = 0xF0...0xF1
    /// The board's FERR# latch output, IRQ13.
    public static let irq = 13

    /// Clears IRQ13 and asserts IGNNE# (wired by the machine).
    var onClear: () -> Void = {}

    public init() {}

    public func read(port: UInt16, size: Int) -> UInt32 { 0xFF }

    public func write(port: UInt16, size: Int, value: UInt32) { onClear() }
}
