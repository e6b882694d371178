/// The PC's IDE (ATA) controller in legacy mode, as QEMU's PIIX3 IDE function presents it:
/// two channels, each with a master and a slave position, PIO only.
///
/// | Channel | Ports | Control | IRQ | `--drive index=` |
/// | --- | --- | --- | --- | --- |
/// | primary | 0x1F0–0x1F7 | 0x3F6 | 14 | 0 master, 1 slave |
/// | secondary | 0x170–0x177 | 0x376 | 15 | 2 master, 3 slave |
///
/// The controller is always there (with no disks every register reads 0, as on QEMU); disks are
/// attached before the run (`attach`). Commands: IDENTIFY DEVICE; READ/WRITE SECTORS and
/// MULTIPLE in LBA28, CHS and LBA48 (EXT); READ VERIFY; SET MULTIPLE MODE; FLUSH CACHE (EXT);
/// INITIALIZE DEVICE PARAMETERS; SET FEATURES; EXECUTE DEVICE DIAGNOSTIC; the power and seek
/// commands as no-ops; anything else aborts. Left out: bus-master DMA (PCI), ATAPI, the
/// device's own timing (every command completes as it is written).
public final class IDEController {
    let channels: [IDEChannel]

    public static let primaryPorts: ClosedRange<UInt16> = 0x1F0...0x1F7
    public static let primaryControl: UInt16 = 0x3F6
    public static let secondaryPorts: ClosedRange<UInt16> = 0x170...0x177
    public static let secondaryControl: UInt16 = 0x376

    public init(lines: InterruptLines) {
        channels = [
            IDEChannel(base: 0x1F0, control: Self.primaryControl, irq: 14, firstIndex: 0, lines: lines),
            IDEChannel(base: 0x170, control: Self.secondaryControl, irq: 15, firstIndex: 2, lines: lines),
        ]
        for c in channels { c.powerOn() }
    }

    /// Puts the ports on the bus.
    public func attachPorts(to bus: IOBus) {
        bus.attach(channels[0], ports: Self.primaryPorts)
        bus.attach(channels[0], ports: Self.primaryControl...Self.primaryControl)
        bus.attach(channels[1], ports: Self.secondaryPorts)
        bus.attach(channels[1], ports: Self.secondaryControl...Self.secondaryControl)
    }

    func position(_ index: Int) -> IDEDevice { channels[index >> 1].devices[index & 1] }

    /// Puts `image` at `index` (0–3, QEMU's `-drive index=`), replacing what was there; the
    /// channel powers on again (attach before the run starts).
    public func attach(_ image: DiskImage, index: Int) {
        precondition(index >= 0 && index < 4, "IDE index 0–3")
        position(index).image = image
        channels[index >> 1].powerOn()
    }

    /// The disk at `index`, if any.
    public func drive(at index: Int) -> DiskImage? {
        guard index >= 0 && index < 4 else { return nil }
        return position(index).image
    }

    /// `fsync`s every writable disk (the end of a run); the paths whose flush failed.
    @discardableResult
    public func flushAll() -> [String] {
        var failed: [String] = []
        for i in 0..<4 { if let d = position(i).image, !d.flush() { failed.append(d.path) } }
        return failed
    }

    /// Flushes and closes every disk.
    @discardableResult
    public func closeAll() -> [String] {
        let failed = flushAll()
        for i in 0..<4 { position(i).image?.close() }
        return failed
    }
}
