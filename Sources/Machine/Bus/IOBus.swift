/// The I/O port space: 65,536 ports, each owned by at most one device. Ports nobody owns read
/// as all ones (0xFF/0xFFFF/0xFFFFFFFF, a floating ISA bus) and ignore writes; each such access
/// is counted so `--stats` can show what the guest probed.
public final class IOBus {
    /// Index into `devices` + 1 per port; 0 = nobody.
    private var owner = [UInt8](repeating: 0, count: 65536)
    private var devices: [any PortDevice] = []
    /// Accesses to unowned ports, by port.
    public internal(set) var unknownAccesses: [UInt16: UInt64] = [:]

    public init() {}

    /// Gives `ports` to `device` (later registrations win).
    public func attach(_ device: any PortDevice, ports: ClosedRange<UInt16>) {
        if !devices.contains(where: { $0 === device }) { devices.append(device) }
        let index = devices.firstIndex { $0 === device }!
        for p in ports { owner[Int(p)] = UInt8(index + 1) }
    }

    public func isOwned(_ port: UInt16) -> Bool { owner[Int(port)] != 0 }

    static func mask(_ size: Int) -> UInt32 { size >= 4 ? 0xFFFF_FFFF : (1 << (8 * UInt32(size))) - 1 }

    public func read(port: UInt16, size: Int) -> UInt32 {
        let i = Int(owner[Int(port)])
        guard i != 0 else {
            unknownAccesses[port, default: 0] &+= 1
            return Self.mask(size)
        }
        return devices[i - 1].read(port: port, size: size) & Self.mask(size)
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        let i = Int(owner[Int(port)])
        guard i != 0 else {
            unknownAccesses[port, default: 0] &+= 1
            return
        }
        devices[i - 1].write(port: port, size: size, value: value & Self.mask(size))
    }
}
