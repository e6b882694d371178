import Testing
import X86Core
import Machine

private func at(_ m: PCMachine, ns: UInt64) { m.cpu.statePointer.pointee.instructions = (ns + 9) / 10 }

@Test func acpiTimerIs24BitsAt3579545Hz() {
    let m = PCMachine(memorySize: 16 << 20)
    #expect(m.bus.read(port: 0x608, size: 4) == 0)
    at(m, ns: 1_000_000_000)
    #expect(m.bus.read(port: 0x608, size: 4) == 3_579_545)
    #expect(m.bus.read(port: 0x609, size: 1) == (3_579_545 >> 8) & 0xFF)  // any width
    at(m, ns: 5_000_000_000)  // 17,897,725 ticks: past 2^24, wrapped
    #expect(m.bus.read(port: 0x608, size: 4) == 17_897_725 & 0xFF_FFFF)
    m.bus.write(port: 0x608, size: 4, value: 0)  // read-only
    #expect(m.bus.read(port: 0x608, size: 4) == 17_897_725 & 0xFF_FFFF)
}

@Test func acpiTimerStatusAndTheSCI() {
    let m = PCMachine(memorySize: 16 << 20)
    #expect(m.bus.read(port: 0x600, size: 2) == 1)  // TMR_STS set from power-on, as QEMU
    m.bus.write(port: 0x600, size: 2, value: 0xFFFE)  // other bits: TMR_STS stays
    #expect(m.bus.read(port: 0x600, size: 2) == 1)
    m.bus.write(port: 0x600, size: 2, value: 1)
    #expect(m.bus.read(port: 0x600, size: 2) == 0)
    #expect(m.acpi.nextDeadline() == nil)  // TMR_EN clear
    m.bus.write(port: 0x602, size: 2, value: 1)
    // Bit 23 next changes at tick 0x800000: ceil(0x800000 × 10⁹ / 3,579,545) ns.
    let due = TickMath.nanoseconds(atTick: 0x80_0000, hz: 3_579_545)
    #expect(m.acpi.nextDeadline() == due)
    #expect(!m.lines.isHigh(9))
    at(m, ns: due)
    #expect(m.runDueTimers())
    #expect(m.lines.isHigh(9))  // SCI
    #expect(m.bus.read(port: 0x600, size: 2) == 1)
    m.bus.write(port: 0x600, size: 2, value: 1)
    #expect(!m.lines.isHigh(9))
    #expect(m.acpi.nextDeadline() == TickMath.nanoseconds(atTick: 0x100_0000, hz: 3_579_545))
}

@Test func acpiControlSleepAndAPM() {
    let m = PCMachine(memorySize: 16 << 20)
    #expect(m.bus.read(port: 0x604, size: 2) == 0)
    m.bus.write(port: 0xB2, size: 1, value: 0xF1)
    #expect(m.bus.read(port: 0x604, size: 2) == 1)  // SCI_EN
    m.bus.write(port: 0xB2, size: 1, value: 0xF0)
    #expect(m.bus.read(port: 0x604, size: 2) == 0)
    m.bus.write(port: 0x604, size: 2, value: 0x3C01)  // SLP_TYP 7 + SLP_EN: no such state
    #expect(m.bus.read(port: 0x604, size: 2) == 0x1C01)
    #expect(m.stopRequest == nil)
    m.bus.write(port: 0x605, size: 1, value: 0x20)  // a byte write of the high half: SLP_TYP 0 + SLP_EN
    #expect(m.stopRequest == .powerOff)
    #expect(StopReason.powerOff.exitStatus == 22)
    #expect(StopReason.powerOff.name == "power-off")
}

@Test func acpiResetRegisterAndGPE() {
    let m = PCMachine(memorySize: 16 << 20)
    m.bus.write(port: 0xCF9, size: 1, value: 0x0A)
    #expect(m.bus.read(port: 0xCF9, size: 1) == 0x02)
    #expect(m.stopRequest == nil)
    m.bus.write(port: 0xCF9, size: 1, value: 0x06)
    #expect(m.stopRequest == .resetRequested)
    #expect(m.bus.read(port: 0xCF9, size: 1) == 0x02)  // the reset write is not kept
    m.bus.write(port: 0xAFE2, size: 2, value: 0x000E)
    m.bus.write(port: 0xAFE0, size: 2, value: 0xFFFF)
    #expect(m.bus.read(port: 0xAFE0, size: 4) == 0x000E_0000)
    m.bus.write(port: 0xB3, size: 1, value: 0x5A)
    #expect(m.bus.read(port: 0xB3, size: 1) == 0x5A)
}

@Test func acpiSnapshotRoundTripAndPowerOffStop() throws {
    let m = PCMachine(memorySize: 16 << 20)
    at(m, ns: 123_456_789)
    m.bus.write(port: 0x600, size: 2, value: 1)
    m.bus.write(port: 0x602, size: 2, value: 0x0121)
    m.bus.write(port: 0x604, size: 2, value: 0x0401)
    m.bus.write(port: 0xCF9, size: 1, value: 0x02)
    m.stopRequest = .powerOff
    var w = StateWriter()
    m.saveState(to: &w)
    let copy = PCMachine(memorySize: 16 << 20)
    at(copy, ns: 123_456_789)
    var r = StateReader(w.finish())
    try copy.restoreState(from: &r)
    #expect(copy.stopRequest == .powerOff)
    for (port, size) in [(0x600, 2), (0x602, 2), (0x604, 2), (0x608, 4), (0xCF9, 1), (0xB2, 1)] as [(UInt16, Int)] {
        #expect(copy.bus.read(port: port, size: size) == m.bus.read(port: port, size: size))
    }
    #expect(copy.acpi.nextDeadline() == m.acpi.nextDeadline())
}
