import Testing
import X86Core
import Machine

// NMIs: the local APIC's latch and its sources (ICR, LINT1, the I/O APIC), the chipset's NMI
// button behind port 0x70's mask, and the CPU taking them on the bare machine (blocking until
// IRET, waking HLT with IF = 0). The guest testguests/guests/nmi.c checks the same against QEMU
// under every configuration.

@Test func icrNMIToSelfLatchesWithoutTouchingIRROrESR() {
    let b = APICBench()
    b.write(0x310, 0)
    b.write(0x300, 0x4_0400)  // shorthand self, delivery mode NMI, vector 0
    #expect(b.lapic.nmiPending)
    #expect(!b.lapic.hasDeliverable)
    b.write(0x280, 0)
    #expect(b.read(0x280) == 0)  // vector 0 is not an illegal vector for an NMI
    b.lapic.nmiTaken()
    #expect(!b.lapic.nmiPending)
    b.write(0x300, 0xC_0400)  // all excluding self: nobody else
    #expect(!b.lapic.nmiPending)
}

@Test func lint1FollowsItsLVTEntry() {
    let b = APICBench()
    b.lapic.assertLINT1()  // 0x8400 as SeaBIOS leaves it: NMI
    #expect(b.lapic.nmiPending)
    b.lapic.nmiTaken()
    b.write(0x360, 0x1_0400)  // masked
    b.lapic.assertLINT1()
    #expect(!b.lapic.nmiPending)
    b.write(0x360, 0x0045)  // fixed, vector 0x45
    b.lapic.assertLINT1()
    #expect(!b.lapic.nmiPending && b.irr(0x45))
    b.write(0xF0, 0xFF)  // software-disabled: LINT1 is the NMI pin itself
    b.lapic.assertLINT1()
    #expect(b.lapic.nmiPending)
}

@Test func ioapicEntryInNMIModeSignalsAnNMIAndNeverWaitsForEOI() {
    let b = IOAPICBench()
    b.route(3, low: 0x8000 | 0x400 | 0x33)  // level, NMI
    #expect(b.ioapic.routesNMI)
    b.ioapic.setPin(3, level: true)
    #expect(b.lapic.nmiPending)
    #expect(b.low(3) & 0x4000 == 0)  // no Remote IRR
    #expect(!b.apic.irr(0x33))
    b.route(3, low: 0x1_0400 | 0x33)
    #expect(!b.ioapic.routesNMI)
}

/// A flat machine: GDT (null, code 0x08, data 0x10), an IDT whose gate 2 points at a handler
/// that counts in memory, and `program` at 0x1000.
func nmiMachine(program: [UInt8]) -> PCMachine {
    let m = PCMachine(memorySize: 1 << 20)
    let mem = m.memory
    mem.write32(0x3000, 0); mem.write32(0x3004, 0)
    mem.write32(0x3008, 0x0000_FFFF); mem.write32(0x300C, 0x00CF_9A00)
    mem.write32(0x3010, 0x0000_FFFF); mem.write32(0x3014, 0x00CF_9200)
    // Interrupt gate 2 -> 0x08:0x1100.
    mem.write32(0x2000 + 16, 0x0008_1100); mem.write32(0x2000 + 20, 0x0000_8E00)
    mem.load(bytes: [0xFF, 0x05, 0x00, 0x50, 0x00, 0x00, 0xCF], at: 0x1100)  // inc dword [0x5000]; iret
    mem.load(bytes: program, at: 0x1000)
    m.cpu.resetFlat(cpl: 0)
    var st = m.cpu.state
    st.gdtr = .init(base: 0x3000, limit: 0x17)
    st.idtr = .init(base: 0x2000, limit: 0x7FF)
    st.eip = 0x1000
    st[.esp] = 0x8000
    m.cpu.state = st
    return m
}

@Test func theNMIButtonIsHeldBackByPort70AndWakesCliHlt() {
    // cli; hlt; jmp short back to hlt
    let m = nmiMachine(program: [0xFA, 0xF4, 0xEB, 0xFD])
    m.scheduledNMIs = [2, 3, 4]
    // Port 0x70 bit 7 set (as SeaBIOS leaves it): every press is lost, the CPU stays asleep.
    let masked = HardwareRunner(machine: m).run(RunLimits(maxInstructions: 1000))
    #expect(masked == .haltedWithInterruptsOff)
    #expect(m.memory.read32(0x5000) == 0)

    let n = nmiMachine(program: [0xFA, 0xF4, 0xEB, 0xFD])
    // 2: at the HLT. The CPU is asleep again at instruction 6 with IF = 0: nothing else can
    // wake it, so the presses scheduled for 30 and 31 come at once, one per sleep.
    n.scheduledNMIs = [2, 30, 31]
    n.bus.write(port: 0x70, size: 1, value: 0x0F)
    let stop = HardwareRunner(machine: n).run(RunLimits(maxInstructions: 1000))
    #expect(stop == .haltedWithInterruptsOff)
    #expect(n.memory.read32(0x5000) == 3)  // each press woke HLT with IF = 0
    #expect(!n.cpu.state.nmiBlocked)
}

@Test func nmisStayBlockedUntilIRET() {
    // The handler never returns (jmp $): a second NMI waits, latched, and nothing else runs.
    let m = nmiMachine(program: [0xEB, 0xFE])
    m.memory.load(bytes: [0xFF, 0x05, 0x00, 0x50, 0x00, 0x00, 0xEB, 0xFE], at: 0x1100)
    m.bus.write(port: 0x70, size: 1, value: 0x0F)
    m.scheduledNMIs = [10, 20]
    _ = HardwareRunner(machine: m).run(RunLimits(maxInstructions: 100))
    #expect(m.memory.read32(0x5000) == 1)
    #expect(m.cpu.state.nmiBlocked)
    #expect(m.interrupts.nmiPending)
}
