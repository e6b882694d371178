/// STUB (helper A fills in): a master/slave 8259A pair at 0x20–0x21 / 0xA0–0xA1, slave on IRQ2.
public final class DualPIC: PortDevice {
    public init() {}
    /// Input line `irq` (0–15) changed level.
    public func setIRQ(_ irq: Int, level: Bool) {}
    /// The master's INT output (an unmasked request with priority over everything in service).
    public var interruptOutput: Bool { false }
    /// INTA cycle: the vector the CPU receives (spurious IRQ7/IRQ15 vector if the request went away).
    public func acknowledge() -> UInt8 { 0 }
    public func read(port: UInt16, size: Int) -> UInt32 { 0xFF }
    public func write(port: UInt16, size: Int, value: UInt32) {}
}
