/// Port 0x92, System Control Port A: fast reset (bit 0) and the A20 gate (bit 1) (IBM PS/2
/// technical reference). The 8042's own reset and A20 lines are in Keyboard8042.
///
/// A20 is never masked: guest physical address bit 20 always passes, as on every machine since
/// the 486's A20M# stopped mattering to protected-mode software. Port 0x92 bit 1 (and the 8042
/// output port's bit 1) read back as 1 whatever is written, so a guest's "enable A20" check
/// succeeds at once and "disable A20" has no effect.
public final class SystemControl: PortDevice {
    /// Called when the guest asks for a CPU reset.
    public var onReset: () -> Void = {}

    /// The ports this device answers.
    public static let portRanges: [ClosedRange<UInt16>] = [0x92...0x92]

    /// Port 0x92 as last written (bit 0 = fast reset, bit 1 = A20).
    var port92: UInt8 = 0x02

    public init() {}

    public func read(port: UInt16, size: Int) -> UInt32 {
        port == 0x92 ? UInt32(port92 | 0x02) : 0xFF
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        guard port == 0x92 else { return }
        let v = UInt8(truncatingIfNeeded: value)
        let old = port92
        port92 = v
        // A rising bit 0 resets the CPU.
        if v & 1 != 0 && old & 1 == 0 { onReset() }
    }
}
