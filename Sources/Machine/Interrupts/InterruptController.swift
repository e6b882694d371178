/// What the CPU's INTR and NMI pins see. INTR: the local APIC's deliverable fixed interrupts,
/// and the 8259 pair's INT output passed through LINT0 as ExtINT (virtual-wire mode, MP spec
/// §3.6.2.2). NMI: the local APIC's NMI latch.
///
/// ExtINT is taken first: it bypasses the APIC's priority logic (TPR/PPR do not apply —
/// SDM §10.8.1) and the vector comes from the 8259's INTA cycle. A request that disappears
/// between `pending` and `acknowledge` yields the APIC's spurious vector while the APIC is
/// software enabled (SDM §10.9), else nothing.
///
/// EOI broadcasts from the local APIC to the I/O APIC are wired by `IOAPIC.init(lapic:)`.
public final class InterruptController {
    public let pic: DualPIC
    public let lapic: LocalAPIC
    public init(pic: DualPIC, lapic: LocalAPIC) { self.pic = pic; self.lapic = lapic }

    /// The 8259's request reaches the CPU through LINT0.
    var extINTPending: Bool { lapic.acceptsExtINT && pic.interruptOutput }

    /// An interrupt is waiting for the CPU (it takes it when IF = 1).
    public var pending: Bool { extINTPending || lapic.hasDeliverable }

    /// An NMI waits for the CPU (the local APIC's latch: ICR, LINT1, I/O APIC).
    public var nmiPending: Bool { lapic.nmiPending }

    /// The CPU takes the NMI: the latch clears (a new edge may set it again at once).
    public func acknowledgeNMI() { lapic.nmiTaken() }

    /// INTA: the vector to deliver, or nil if the request disappeared.
    public func acknowledge() -> UInt8? {
        if extINTPending { return pic.acknowledge() }
        if let vector = lapic.acknowledge() { return vector }
        return lapic.isSoftwareEnabled ? lapic.spuriousVector : nil
    }
}
