import X86Core

/// STUB (helper B fills in): the local APIC at 0xFEE00000.
public final class LocalAPIC: MMIORegion, ClockedDevice {
    public var onEOI: (UInt8) -> Void = { _ in }
    public init(clock: VirtualClock, base: UInt32 = 0xFEE0_0000) { super.init(base: base, size: 0x1000) }
    public var id: UInt8 { 0 }
    /// A fixed interrupt message from the I/O APIC or an IPI.
    public func accept(vector: UInt8, levelTriggered: Bool) {}
    public func matchesDestination(_ destination: UInt8, logical: Bool) -> Bool { true }
    /// An IRR vector above the processor priority.
    public var hasDeliverable: Bool { false }
    /// INTA: the highest deliverable vector moves from IRR to ISR.
    public func acknowledge() -> UInt8? { nil }
    /// Whether LINT0 passes the 8259's INTR (virtual-wire ExtINT, or the APIC software-disabled).
    public var acceptsExtINT: Bool { true }
    public func nextDeadline() -> UInt64? { nil }
    public func tick(now: UInt64) {}
}
