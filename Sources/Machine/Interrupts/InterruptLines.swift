/// The ISA interrupt request lines IRQ0–15 as wires: a device sets its line's level and both
/// interrupt controllers see it, the 8259 pair on its IRQ inputs and the I/O APIC on its pins
/// (ISA IRQ n on pin n, except IRQ0, which the PIT drives into pin 2 as on QEMU's and most
/// PCs' boards, where the firmware reports it as an interrupt source override).
public final class InterruptLines {
    public let pic: DualPIC
    public let ioapic: IOAPIC
    var levels: UInt16 = 0

    public init(pic: DualPIC, ioapic: IOAPIC) {
        self.pic = pic
        self.ioapic = ioapic
    }

    public static func ioapicPin(forIRQ irq: Int) -> Int { irq == 0 ? 2 : irq }

    /// Drives line `irq` (0–15) high or low. Edge-triggered inputs latch on the rising edge.
    public func set(_ irq: Int, high: Bool) {
        guard irq >= 0 && irq < 16 else { return }
        let bit: UInt16 = 1 << UInt16(irq)
        let was = levels & bit != 0
        if was == high { return }
        if high { levels |= bit } else { levels &= ~bit }
        pic.setIRQ(irq, level: high)
        ioapic.setPin(Self.ioapicPin(forIRQ: irq), level: high)
    }

    /// A pulse: high then low (an edge for edge-triggered inputs).
    public func pulse(_ irq: Int) {
        set(irq, high: false)
        set(irq, high: true)
        set(irq, high: false)
    }

    public func isHigh(_ irq: Int) -> Bool { irq >= 0 && irq < 16 && levels & (1 << UInt16(irq)) != 0 }
}
