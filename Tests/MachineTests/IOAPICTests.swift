import Testing
import X86Core
import Machine

final class IOAPICBench {
    let apic = APICBench()
    let ioapic: IOAPIC
    var lapic: LocalAPIC { apic.lapic }

    init() { ioapic = IOAPIC(lapic: apic.lapic) }

    func reg(_ index: UInt32) -> UInt32 {
        ioapic.write(offset: 0, size: 4, value: index)
        return ioapic.read(offset: 0x10, size: 4)
    }
    func setReg(_ index: UInt32, _ value: UInt32) {
        ioapic.write(offset: 0, size: 4, value: index)
        ioapic.write(offset: 0x10, size: 4, value: value)
    }
    /// Programs redirection entry `pin`.
    func route(_ pin: Int, low: UInt32, destination: UInt8 = 0) {
        setReg(0x11 + 2 * UInt32(pin), UInt32(destination) << 24)
        setReg(0x10 + 2 * UInt32(pin), low)
    }
    func low(_ pin: Int) -> UInt32 { reg(0x10 + 2 * UInt32(pin)) }
    /// Acknowledges and EOIs whatever the local APIC delivers (at most `limit`, since an
    /// asserted level pin re-sends after each EOI); the vectors in order.
    func drain(limit: Int = 4) -> [UInt8] {
        var seen: [UInt8] = []
        while seen.count < limit, let v = lapic.acknowledge() {
            seen.append(v)
            apic.write(0xB0, 0)
        }
        return seen
    }
}

@Test func ioapicIdentifiesItselfAndStartsMasked() {
    let b = IOAPICBench()
    #expect(b.reg(1) == 0x0017_0011)
    #expect(b.reg(0) == 0)
    b.setReg(0, 0xFFFF_FFFF)
    #expect(b.reg(0) == 0x0F00_0000)
    #expect(b.reg(2) == 0x0F00_0000)
    for pin in 0..<24 { #expect(b.low(pin) == 0x10000) }
    b.ioapic.write(offset: 0, size: 4, value: 0x13)
    #expect(b.ioapic.read(offset: 0, size: 4) == 0x13)  // IOREGSEL reads back
    b.ioapic.write(offset: 0, size: 1, value: 0x01)
    #expect(b.ioapic.read(offset: 0x10, size: 4) == 0x0017_0011)
    #expect(b.ioapic.read(offset: 0x12, size: 1) == 0x17)
}

@Test func edgePinsSendOnRisingEdgesOnly() {
    let b = IOAPICBench()
    b.route(4, low: 0x34)
    b.ioapic.setPin(4, level: true)
    #expect(b.apic.irr(0x34) && !b.apic.tmr(0x34))
    #expect(b.drain() == [0x34])
    b.ioapic.setPin(4, level: true)  // no new edge
    #expect(b.drain() == [])
    b.ioapic.setPin(4, level: false)
    #expect(b.drain() == [])
    b.ioapic.setPin(4, level: true)
    #expect(b.drain() == [0x34])
}

@Test func edgesOnMaskedPinsAreLost() {
    let b = IOAPICBench()
    b.route(3, low: 0x10033)
    b.ioapic.setPin(3, level: true)
    b.route(3, low: 0x33)
    #expect(b.drain() == [])
}

@Test func levelPinsHoldRemoteIRRUntilEOIAndResendWhileAsserted() {
    let b = IOAPICBench()
    b.route(9, low: 0x8049)  // level, active high
    b.ioapic.setPin(9, level: true)
    #expect(b.apic.irr(0x49) && b.apic.tmr(0x49))
    #expect(b.low(9) & 0x4000 != 0)  // Remote IRR
    #expect(b.lapic.acknowledge() == 0x49)
    b.ioapic.setPin(9, level: false)
    b.ioapic.setPin(9, level: true)  // still awaiting EOI: nothing new
    #expect(!b.apic.irr(0x49))
    b.apic.write(0xB0, 0)  // EOI → broadcast → Remote IRR clear → pin still high → again
    #expect(b.apic.irr(0x49))
    #expect(b.low(9) & 0x4000 != 0)
    #expect(b.lapic.acknowledge() == 0x49)
    b.ioapic.setPin(9, level: false)
    b.apic.write(0xB0, 0)
    #expect(b.low(9) & 0x4000 == 0)
    #expect(b.drain() == [])
}

@Test func unmaskingAnAssertedLevelPinSendsIt() {
    let b = IOAPICBench()
    b.route(10, low: 0x1804A)  // level, masked
    b.ioapic.setPin(10, level: true)
    #expect(!b.apic.irr(0x4A))
    b.route(10, low: 0x804A)
    #expect(b.drain(limit: 1) == [0x4A])
}

@Test func activeLowPinsAssertWhenTheLineIsLow() {
    let b = IOAPICBench()
    b.ioapic.setPin(11, level: true)  // idle high
    b.route(11, low: 0xA04B)  // level, active low
    #expect(b.drain() == [])
    b.ioapic.setPin(11, level: false)
    #expect(b.drain(limit: 3) == [0x4B, 0x4B, 0x4B])  // re-sent after each EOI while low
}

@Test func remoteIRRAndDeliveryStatusAreReadOnly() {
    let b = IOAPICBench()
    b.route(5, low: 0x1D035)  // mask, trigger, Remote IRR, delivery status, vector
    #expect(b.low(5) == 0x18035)
    b.setReg(0x1B, 0xFFFF_FFFF)
    #expect(b.reg(0x1B) == 0xFF00_0000)
}

@Test func messagesGoOnlyToAMatchingDestinationWithFixedOrLowestPriorityMode() {
    let b = IOAPICBench()
    b.route(6, low: 0x36, destination: 1)  // physical APIC 1: not ours
    b.ioapic.setPin(6, level: true)
    #expect(b.drain() == [])
    b.apic.write(0xD0, 0x0100_0000)
    b.route(7, low: 0x937, destination: 1)  // logical, lowest priority
    b.ioapic.setPin(7, level: true)
    #expect(b.drain() == [0x37])
    b.route(8, low: 0x438)  // NMI: not delivered
    b.ioapic.setPin(8, level: true)
    #expect(b.drain() == [])
}

@Test func isaIRQ0ReachesPin2ThroughTheLines() {
    let b = IOAPICBench()
    let lines = InterruptLines(pic: DualPIC(), ioapic: b.ioapic)
    b.route(2, low: 0x30)
    b.route(0, low: 0x31)
    lines.set(0, high: true)
    #expect(b.drain() == [0x30])
}
