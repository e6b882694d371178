import Testing
import X86Core
import Machine

private func machineWithTestDevice() -> PCMachine {
    let m = PCMachine(memorySize: 16 << 20)
    m.attachTestDevice()
    return m
}

@Test func testDeviceIsOptIn() {
    let m = PCMachine(memorySize: 16 << 20)
    #expect(m.testDevice == nil)
    #expect(!m.bus.isOwned(0xE0) && !m.bus.isOwned(0x2000))
    #expect(m.memory.read(0xFF00_0000, size: 4) == 0xFFFF_FFFF)
    let d = m.attachTestDevice()
    #expect(m.attachTestDevice() === d)  // once
    #expect(m.bus.isOwned(0xE0) && m.bus.isOwned(0x2017) && !m.bus.isOwned(0x2018))
}

@Test func testDeviceScratchRegisterAtEveryWidth() {
    let m = machineWithTestDevice()
    m.bus.write(port: 0xE0, size: 4, value: 0x1234_5678)
    #expect(m.bus.read(port: 0xE0, size: 4) == 0x1234_5678)
    #expect((0..<4).map { m.bus.read(port: 0xE0 + UInt16($0), size: 1) } == [0x78, 0x56, 0x34, 0x12])
    #expect(m.bus.read(port: 0xE2, size: 2) == 0x1234)
    m.bus.write(port: 0xE3, size: 1, value: 0xAB)
    m.bus.write(port: 0xE0, size: 2, value: 0xCDEF)
    #expect(m.bus.read(port: 0xE0, size: 4) == 0xAB34_CDEF)
    // Unaligned: reads 0, writes nothing (QEMU 7.2).
    m.bus.write(port: 0xE1, size: 2, value: 0x9999)
    #expect(m.bus.read(port: 0xE1, size: 2) == 0)
    #expect(m.bus.read(port: 0xE2, size: 4) == 0)
    #expect(m.bus.read(port: 0xE0, size: 4) == 0xAB34_CDEF)
    // The byte view at 0xE8; 0xE9 stays the debug console.
    #expect(m.bus.read(port: 0xE8, size: 4) == 0xAB34_CDEF)
    m.bus.write(port: 0xE8, size: 1, value: 0x11)
    #expect(m.bus.read(port: 0xE0, size: 4) == 0xAB34_CD11)
    #expect(m.bus.read(port: 0xE9, size: 1) == 0xE9)
    // Flush page: accepted, nothing changes; reads 0.
    m.bus.write(port: 0xE4, size: 4, value: 0x1000)
    #expect(m.bus.read(port: 0xE4, size: 4) == 0)
}

@Test func testDeviceWindowIsRAM() {
    let m = machineWithTestDevice()
    let base: UInt32 = 0xFF00_0000
    m.memory.write(base + 0x21, size: 4, value: 0xAABB_CCDD)
    #expect(m.memory.read(base + 0x21, size: 4) == 0xAABB_CCDD)
    #expect(m.memory.read(base + 0x20, size: 4) == 0xBBCC_DD00)
    #expect(m.memory.read8(base + 0x24) == 0xAA)
    m.memory.write(base + 0xFFFF, size: 1, value: 0x5A)
    #expect(m.memory.read(base + 0xFFFF, size: 1) == 0x5A)
    // Past the window: nobody decodes it.
    #expect(m.memory.read8(base + 0x1_0000) == 0xFF)
}

@Test func testDeviceIRQPortsDriveTheLines() {
    let m = machineWithTestDevice()
    m.bus.write(port: 0x2005, size: 1, value: 1)
    #expect(m.lines.isHigh(5))
    m.bus.write(port: 0x2005, size: 1, value: 0)
    #expect(!m.lines.isHigh(5))
    m.bus.write(port: 0x200A, size: 1, value: 0x80)  // any non-zero value is high
    #expect(m.lines.isHigh(10))
    m.bus.write(port: 0x200A, size: 2, value: 0)  // byte writes only
    #expect(m.lines.isHigh(10))
    // Lines 16–23 reach the I/O APIC's pins only.
    let d = m.testDevice!
    m.bus.write(port: 0x2013, size: 1, value: 1)
    #expect(d.isLineHigh(19) && !d.isLineHigh(18))
    m.bus.write(port: 0x2013, size: 1, value: 0)
    #expect(!d.isLineHigh(19))
    #expect(d.isLineHigh(10) && !d.isLineHigh(5))
}

@Test func testDeviceSnapshotAttachesAndRestores() throws {
    let m = machineWithTestDevice()
    m.bus.write(port: 0xE0, size: 4, value: 0xFEED_BEEF)
    m.memory.write(0xFF00_1234, size: 4, value: 0x0102_0304)
    m.bus.write(port: 0x2011, size: 1, value: 1)
    var w = StateWriter()
    m.saveState(to: &w)
    let bytes = w.finish()
    let copy = PCMachine(memorySize: 16 << 20)
    var r = StateReader(bytes)
    try copy.restoreState(from: &r)
    #expect(copy.testDevice != nil)
    #expect(copy.bus.read(port: 0xE0, size: 4) == 0xFEED_BEEF)
    #expect(copy.memory.read(0xFF00_1234, size: 4) == 0x0102_0304)
    #expect(copy.testDevice?.isLineHigh(17) == true)
    // A snapshot without the device does not go into a machine with one.
    var w2 = StateWriter()
    PCMachine(memorySize: 16 << 20).saveState(to: &w2)
    var r2 = StateReader(w2.finish())
    #expect(throws: StateError.self) { try copy.restoreState(from: &r2) }
}
