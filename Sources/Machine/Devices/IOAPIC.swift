import X86Core

/// STUB (helper B fills in): the I/O APIC at 0xFEC00000 (24 pins).
public final class IOAPIC: MMIORegion {
    public init(lapic: LocalAPIC, base: UInt32 = 0xFEC0_0000) { super.init(base: base, size: 0x1000) }
    public func setPin(_ pin: Int, level: Bool) {}
    /// EOI broadcast for a level-triggered vector: clears Remote IRR.
    public func endOfInterrupt(vector: UInt8) {}
}
