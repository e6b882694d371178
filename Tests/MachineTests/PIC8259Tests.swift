import Testing
import Machine

/// A PIC programmed the way an OS does it: vectors 0x20/0x28, cascade on IRQ2, 8086 mode,
/// everything unmasked.
private func programmedPIC(autoEOI: Bool = false) -> DualPIC {
    let pic = DualPIC()
    let icw4: UInt32 = autoEOI ? 0x03 : 0x01
    for (cmd, data, base, icw3) in [(UInt16(0x20), UInt16(0x21), UInt32(0x20), UInt32(4)),
                                    (0xA0, 0xA1, 0x28, 2)] {
        pic.write(port: cmd, size: 1, value: 0x11)
        pic.write(port: data, size: 1, value: base)
        pic.write(port: data, size: 1, value: icw3)
        pic.write(port: data, size: 1, value: icw4)
        pic.write(port: data, size: 1, value: 0x00)
    }
    return pic
}

private func edge(_ pic: DualPIC, _ irq: Int) {
    pic.setIRQ(irq, level: true)
    pic.setIRQ(irq, level: false)
}

@Test func picPowerOnStateIsWhatSeaBIOSLeaves() {
    let pic = DualPIC()
    #expect(pic.read(port: 0x21, size: 1) == 0xB8)
    #expect(pic.read(port: 0xA1, size: 1) == 0x8E)
    #expect(!pic.interruptOutput)
    edge(pic, 0)
    #expect(pic.interruptOutput)
    #expect(pic.acknowledge() == 0x08)
    edge(pic, 8)
    pic.write(port: 0x20, size: 1, value: 0x20)
    #expect(pic.acknowledge() == 0x70)
    edge(pic, 3)  // masked by the BIOS
    pic.write(port: 0xA0, size: 1, value: 0x20)
    pic.write(port: 0x20, size: 1, value: 0x20)
    #expect(!pic.interruptOutput)
}

@Test func picInitSequenceSetsVectorBaseFromICW2AndClearsIMR() {
    let pic = DualPIC()
    pic.write(port: 0x20, size: 1, value: 0x11)
    pic.write(port: 0x21, size: 1, value: 0x47)  // low three bits ignored
    pic.write(port: 0x21, size: 1, value: 0x04)
    pic.write(port: 0x21, size: 1, value: 0x01)
    #expect(pic.read(port: 0x21, size: 1) == 0x00)
    pic.write(port: 0x21, size: 1, value: 0xFE)  // OCW1 now, not an ICW
    #expect(pic.read(port: 0x21, size: 1) == 0xFE)
    edge(pic, 0)
    #expect(pic.acknowledge() == 0x40)
}

@Test func picWithoutICW4ExpectsOnlyICW2AndICW3() {
    let pic = DualPIC()
    pic.write(port: 0x20, size: 1, value: 0x10)
    pic.write(port: 0x21, size: 1, value: 0x30)
    pic.write(port: 0x21, size: 1, value: 0x04)
    pic.write(port: 0x21, size: 1, value: 0xFD)  // OCW1
    #expect(pic.read(port: 0x21, size: 1) == 0xFD)
    // Single mode skips ICW3 too.
    pic.write(port: 0x20, size: 1, value: 0x13)
    pic.write(port: 0x21, size: 1, value: 0x50)
    pic.write(port: 0x21, size: 1, value: 0x01)  // ICW4
    pic.write(port: 0x21, size: 1, value: 0x7F)  // OCW1
    #expect(pic.read(port: 0x21, size: 1) == 0x7F)
}

@Test func picFixedPriorityAndInServiceBlocking() {
    let pic = programmedPIC()
    edge(pic, 5)
    #expect(pic.acknowledge() == 0x25)
    edge(pic, 6)  // lower priority than IRQ5 in service
    #expect(!pic.interruptOutput)
    edge(pic, 5)  // equal priority is blocked too
    #expect(!pic.interruptOutput)
    edge(pic, 3)  // higher priority nests
    #expect(pic.interruptOutput)
    #expect(pic.acknowledge() == 0x23)
    #expect(pic.isr == 0b0010_1000)
    pic.write(port: 0x20, size: 1, value: 0x20)  // non-specific EOI ends IRQ3, the highest
    #expect(pic.isr == 0b0010_0000)
    #expect(!pic.interruptOutput)
    pic.write(port: 0x20, size: 1, value: 0x20)
    #expect(pic.acknowledge() == 0x25)  // IRQ5 (requested twice, latched once) before IRQ6
    pic.write(port: 0x20, size: 1, value: 0x20)
    #expect(pic.acknowledge() == 0x26)
}

@Test func picSpecificEOIEndsTheNamedLevelOnly() {
    let pic = programmedPIC()
    edge(pic, 4)
    _ = pic.acknowledge()
    edge(pic, 1)
    _ = pic.acknowledge()
    #expect(pic.isr == 0b0001_0010)
    pic.write(port: 0x20, size: 1, value: 0x64)  // specific EOI, level 4
    #expect(pic.isr == 0b0000_0010)
}

@Test func picMaskedRequestsStayInIRRButDoNotInterrupt() {
    let pic = programmedPIC()
    pic.write(port: 0x21, size: 1, value: 0x01)
    edge(pic, 0)
    #expect(!pic.interruptOutput)
    pic.write(port: 0x20, size: 1, value: 0x0A)  // OCW3: read IRR
    #expect(pic.read(port: 0x20, size: 1) == 0x01)
    pic.write(port: 0x21, size: 1, value: 0x00)
    #expect(pic.interruptOutput)
    #expect(pic.acknowledge() == 0x20)
    #expect(pic.read(port: 0x20, size: 1) == 0x00)
    pic.write(port: 0x20, size: 1, value: 0x0B)  // OCW3: read ISR
    #expect(pic.read(port: 0x20, size: 1) == 0x01)
}

@Test func picSpuriousIRQ7WhenTheRequestVanishes() {
    let pic = programmedPIC()
    pic.write(port: 0x4D0, size: 1, value: 0x08)  // IRQ3 level-triggered
    pic.setIRQ(3, level: true)
    #expect(pic.interruptOutput)
    pic.setIRQ(3, level: false)  // gone before INTA
    #expect(pic.acknowledge() == 0x27)
    #expect(pic.isr == 0)  // a spurious IRQ7 must not be EOI'd
}

@Test func picSlaveRequestThatVanishesWithdrawsTheCascade() {
    let pic = programmedPIC()
    pic.write(port: 0x4D1, size: 1, value: 0x08)  // IRQ11 level
    pic.setIRQ(11, level: true)
    #expect(pic.interruptOutput)
    pic.setIRQ(11, level: false)
    #expect(!pic.interruptOutput)
    #expect(pic.acknowledge() == 0x27)  // master spurious
    #expect(pic.isr == 0)
}

@Test func picSlaveSpuriousSetsMasterCascadeInService() {
    let pic = programmedPIC()
    pic.master.irr |= 0x04  // the master granted IR2 but the slave has nothing
    #expect(pic.acknowledge() == 0x2F)
    #expect(pic.isr == 0x0004)
}

@Test func picSlaveCascadeDeliversThroughIRQ2() {
    let pic = programmedPIC()
    edge(pic, 12)
    #expect(pic.interruptOutput)
    #expect(pic.acknowledge() == 0x2C)
    #expect(pic.isr == 0x1004)
    // IRQ3 is below the master's IR2 in service; IRQ1 is above it.
    edge(pic, 3)
    #expect(!pic.interruptOutput)
    edge(pic, 9)  // slave IRQ9 outranks IRQ12 on the slave, but the master's IR2 is busy
    #expect(!pic.interruptOutput)
    edge(pic, 1)
    #expect(pic.acknowledge() == 0x21)
    pic.write(port: 0x20, size: 1, value: 0x20)  // EOI IRQ1
    pic.write(port: 0xA0, size: 1, value: 0x20)  // slave EOI (IRQ12)
    pic.write(port: 0x20, size: 1, value: 0x20)  // master EOI (IR2)
    #expect(pic.acknowledge() == 0x29)
    pic.write(port: 0xA0, size: 1, value: 0x20)
    pic.write(port: 0x20, size: 1, value: 0x20)
    #expect(pic.acknowledge() == 0x23)
}

@Test func picSlaveMaskHidesItsRequests() {
    let pic = programmedPIC()
    pic.write(port: 0xA1, size: 1, value: 0x10)
    edge(pic, 12)
    #expect(!pic.interruptOutput)
    pic.write(port: 0xA1, size: 1, value: 0x00)
    #expect(pic.interruptOutput)
    #expect(pic.acknowledge() == 0x2C)
}

@Test func picLevelTriggeredIRRFollowsTheLine() {
    let pic = programmedPIC()
    pic.write(port: 0x4D1, size: 1, value: 0xFF)
    #expect(pic.read(port: 0x4D1, size: 1) == 0xDE)  // IRQ8 and IRQ13 stay edge
    pic.write(port: 0x4D0, size: 1, value: 0xFF)
    #expect(pic.read(port: 0x4D0, size: 1) == 0xF8)  // IRQ0–2 stay edge
    pic.setIRQ(10, level: true)
    #expect(pic.acknowledge() == 0x2A)
    pic.write(port: 0xA0, size: 1, value: 0x20)
    pic.write(port: 0x20, size: 1, value: 0x20)
    #expect(pic.interruptOutput)  // still asserted: it comes back after EOI
    pic.setIRQ(10, level: false)
    #expect(!pic.interruptOutput)
}

@Test func picAutoEOILeavesNothingInService() {
    let pic = programmedPIC(autoEOI: true)
    edge(pic, 4)
    #expect(pic.acknowledge() == 0x24)
    #expect(pic.isr == 0)
    edge(pic, 6)
    #expect(pic.interruptOutput)
}

@Test func picRotateOnEOIMakesTheServedLevelLowest() {
    let pic = programmedPIC()
    edge(pic, 1)
    #expect(pic.acknowledge() == 0x21)
    pic.write(port: 0x20, size: 1, value: 0xA0)  // rotate on non-specific EOI: IRQ1 lowest
    edge(pic, 0)
    edge(pic, 3)
    #expect(pic.acknowledge() == 0x23)  // IRQ2 highest now, then 3, …, 0, 1
    pic.write(port: 0x20, size: 1, value: 0xC4)  // set priority: IRQ4 lowest → IRQ5 highest
    pic.write(port: 0x20, size: 1, value: 0x63)
    edge(pic, 6)
    #expect(pic.acknowledge() == 0x26)
}

@Test func picPollCommandAcknowledges() {
    let pic = programmedPIC()
    edge(pic, 5)
    pic.write(port: 0x20, size: 1, value: 0x0C)
    #expect(pic.read(port: 0x20, size: 1) == 0x85)
    #expect(pic.isr == 0x20)
    pic.write(port: 0x20, size: 1, value: 0x0C)
    #expect(pic.read(port: 0x20, size: 1) == 0x00)
}

@Test func picSpecialMaskModeLetsLowerLevelsThrough() {
    let pic = programmedPIC()
    edge(pic, 2)
    _ = pic.acknowledge()  // slave spurious, IR2 in service
    edge(pic, 5)
    #expect(!pic.interruptOutput)
    pic.write(port: 0x21, size: 1, value: 0x04)  // mask IR2
    pic.write(port: 0x20, size: 1, value: 0x68)  // OCW3: set special mask
    #expect(pic.interruptOutput)
    #expect(pic.acknowledge() == 0x25)
}
