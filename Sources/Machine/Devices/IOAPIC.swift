import X86Core

/// The I/O APIC at 0xFEC00000: 24 pins, each routed by a redirection-table entry to the local
/// APIC (Intel 82093AA datasheet).
///
/// Two 32-bit windows: IOREGSEL at 0x00 selects a register, IOWIN at 0x10 reads or writes it.
/// A write of any size to IOREGSEL takes its low byte; IOWIN takes only 32-bit writes (the
/// datasheet requires dword accesses; narrower reads return bytes of the dword).
///
/// ```
///  63      56 55        17  16   15   14   13   12   11  10   8 7      0
/// +----------+------------+----+----+----+----+----+----+------+--------+
/// |   dest   |  reserved  |mask|trig|rIRR|pol |dlvs|dstm| mode | vector |
/// +----------+------------+----+----+----+----+----+----+------+--------+
/// ```
///
/// Fixed and lowest-priority entries go to our only local APIC when its `matchesDestination`
/// accepts the destination. SMI, NMI, INIT and ExtINT entries are not delivered: the machine
/// has no NMI/SMI/INIT path, and the 8259's ExtINT already reaches the CPU through LINT0.
/// Delivery is instantaneous, so the delivery-status bit reads 0.
///
/// As the datasheet says (and unlike QEMU, which latches them), an edge on a masked pin is
/// lost; a level pin that is still asserted when unmasked is delivered then.
public final class IOAPIC: MMIORegion {
    let lapic: LocalAPIC
    public static let pinCount = 24
    /// Version register: max redirection entry 0x17, version 0x11.
    public static let versionRegister: UInt32 = 0x0017_0011

    // Redirection-entry fields (low dword).
    static let deliveryModeMask: UInt64 = 7 << 8
    static let destinationLogical: UInt64 = 1 << 11
    static let polarityLow: UInt64 = 1 << 13
    static let remoteIRR: UInt64 = 1 << 14
    static let levelTriggered: UInt64 = 1 << 15
    static let masked: UInt64 = 1 << 16
    /// Bits the guest may write: all but delivery status (12), Remote IRR (14) and reserved.
    static let writable: UInt64 = 0xFF00_0000_0001_AFFF

    var ioregsel: UInt32 = 0
    var idRegister: UInt32 = 0
    var redirection = [UInt64](repeating: IOAPIC.masked, count: pinCount)
    /// Raw pin levels as driven by the lines (before polarity).
    var pinLevels: UInt32 = 0

    /// Also installs itself as the local APIC's EOI broadcast receiver (`lapic.onEOI`).
    public init(lapic: LocalAPIC, base: UInt32 = 0xFEC0_0000) {
        self.lapic = lapic
        super.init(base: base, size: 0x1000)
        lapic.onEOI = { [weak self] vector in self?.endOfInterrupt(vector: vector) }
    }

    /// The redirection-table entry of `pin`.
    public func entry(_ pin: Int) -> UInt64 { redirection[pin] }

    override public func read(offset: UInt32, size: Int) -> UInt32 {
        let dword: UInt32
        switch offset & ~3 {
        case 0x00: dword = ioregsel
        case 0x10: dword = readRegister(UInt8(truncatingIfNeeded: ioregsel))
        default: dword = 0
        }
        let shifted = dword >> (8 * (offset & 3))
        return size >= 4 ? shifted : shifted & ((1 << (8 * UInt32(size))) - 1)
    }

    override public func write(offset: UInt32, size: Int, value: UInt32) {
        switch offset {
        case 0x00: ioregsel = value & 0xFF
        case 0x10 where size == 4: writeRegister(UInt8(truncatingIfNeeded: ioregsel), value)
        default: break
        }
    }

    func readRegister(_ index: UInt8) -> UInt32 {
        switch index {
        case 0x00: return idRegister
        case 0x01: return Self.versionRegister
        case 0x02: return idRegister  // arbitration ID: loaded from the ID
        case 0x10..<0x40:
            let e = redirection[Int(index - 0x10) >> 1]
            return UInt32(truncatingIfNeeded: index & 1 == 0 ? e : e >> 32)
        default: return 0
        }
    }

    func writeRegister(_ index: UInt8, _ value: UInt32) {
        switch index {
        case 0x00: idRegister = value & 0x0F00_0000
        case 0x10..<0x40:
            let pin = Int(index - 0x10) >> 1
            let old = redirection[pin]
            let v = UInt64(value)
            let new = index & 1 == 0 ? old & ~0xFFFF_FFFF | v : old & 0xFFFF_FFFF | v << 32
            redirection[pin] = new & Self.writable | old & Self.remoteIRR
            serviceLevel(pin)
        default: break
        }
    }

    /// Some unmasked entry has delivery mode NMI: a device can still raise an NMI (a CPU halted
    /// with IF = 0 may wake).
    public var routesNMI: Bool {
        redirection.contains { $0 & Self.masked == 0 && ($0 & Self.deliveryModeMask) >> 8 == 4 }
    }

    /// The pin is asserted once its polarity is applied.
    func isAsserted(_ pin: Int) -> Bool {
        (pinLevels >> UInt32(pin) & 1 != 0) != (redirection[pin] & Self.polarityLow != 0)
    }

    /// An ISA line (or other input) changed level.
    public func setPin(_ pin: Int, level: Bool) {
        guard pin >= 0 && pin < Self.pinCount else { return }
        let wasAsserted = isAsserted(pin)
        if level { pinLevels |= 1 << UInt32(pin) } else { pinLevels &= ~(1 << UInt32(pin)) }
        let e = redirection[pin]
        if e & Self.levelTriggered != 0 {
            serviceLevel(pin)
        } else if !wasAsserted && isAsserted(pin) && e & Self.masked == 0 {
            send(pin)
        }
    }

    /// A level pin that is asserted, unmasked and not awaiting EOI sends its message and sets
    /// Remote IRR.
    func serviceLevel(_ pin: Int) {
        let e = redirection[pin]
        guard e & Self.levelTriggered != 0, e & (Self.masked | Self.remoteIRR) == 0,
              isAsserted(pin) else { return }
        if send(pin) { redirection[pin] |= Self.remoteIRR }
    }

    /// Sends the entry's message; true if the local APIC took it.
    @discardableResult
    func send(_ pin: Int) -> Bool {
        let e = redirection[pin]
        let mode = (e & Self.deliveryModeMask) >> 8
        let destination = UInt8(truncatingIfNeeded: e >> 56)
        if mode == 4 {
            // NMI (the 82093AA datasheet asks for edge mode with it): the vector is ignored, and
            // a level entry never waits for an EOI that an NMI handler does not send.
            if lapic.matchesDestination(destination, logical: e & Self.destinationLogical != 0) { lapic.signalNMI() }
            return false
        }
        guard mode <= 1, lapic.isSoftwareEnabled else { return false }
        guard lapic.matchesDestination(destination, logical: e & Self.destinationLogical != 0) else {
            return false
        }
        lapic.accept(vector: UInt8(truncatingIfNeeded: e), levelTriggered: e & Self.levelTriggered != 0)
        return true
    }

    /// EOI broadcast for a level-triggered vector: clears Remote IRR of the entries with that
    /// vector, and a pin still asserted sends again.
    public func endOfInterrupt(vector: UInt8) {
        for pin in 0..<Self.pinCount where UInt8(truncatingIfNeeded: redirection[pin]) == vector {
            guard redirection[pin] & Self.remoteIRR != 0 else { continue }
            redirection[pin] &= ~Self.remoteIRR
            serviceLevel(pin)
        }
    }
}
