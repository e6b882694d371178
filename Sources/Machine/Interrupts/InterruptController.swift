/// STUB (helper B fills in): what the CPU's INTR pin sees: the LAPIC's deliverable vectors and
/// the 8259's ExtINT through LINT0.
public final class InterruptController {
    public let pic: DualPIC
    public let lapic: LocalAPIC
    public init(pic: DualPIC, lapic: LocalAPIC) { self.pic = pic; self.lapic = lapic }
    /// An interrupt is waiting for the CPU (it takes it when IF = 1).
    public var pending: Bool { false }
    /// INTA: the vector to deliver, or nil if the request disappeared.
    public func acknowledge() -> UInt8? { nil }
}
