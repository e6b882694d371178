import Testing
import Machine

private final class Latch: PortDevice {
    var last: (UInt16, Int, UInt32)? = nil
    func read(port: UInt16, size: Int) -> UInt32 { 0x1234_5678 }
    func write(port: UInt16, size: Int, value: UInt32) { last = (port, size, value) }
}

@Test func unownedPortsFloatHighAndAreCounted() {
    let bus = IOBus()
    #expect(bus.read(port: 0x80, size: 1) == 0xFF)
    #expect(bus.read(port: 0x80, size: 2) == 0xFFFF)
    #expect(bus.read(port: 0x81, size: 4) == 0xFFFF_FFFF)
    bus.write(port: 0x80, size: 1, value: 0)
    #expect(bus.unknownAccesses[0x80] == 3)
    #expect(bus.unknownAccesses[0x81] == 1)
}

@Test func ownedPortsReachTheirDeviceMaskedToTheAccessSize() {
    let bus = IOBus()
    let d = Latch()
    bus.attach(d, ports: 0x100...0x103)
    #expect(bus.read(port: 0x101, size: 1) == 0x78)
    #expect(bus.read(port: 0x102, size: 2) == 0x5678)
    bus.write(port: 0x103, size: 1, value: 0x1FF)
    #expect(d.last?.0 == 0x103 && d.last?.2 == 0xFF)
    #expect(bus.unknownAccesses.isEmpty)
}
