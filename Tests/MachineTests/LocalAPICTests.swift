import Testing
import X86Core
import Machine

/// A local APIC on a fresh CPU's virtual clock; `at(ns)` moves virtual time (10 ns per instruction).
final class APICBench {
    let cpu = CPU(memorySize: 1 << 20)
    let clock: VirtualClock
    let lapic: LocalAPIC

    init() {
        clock = VirtualClock(cpu: cpu)
        lapic = LocalAPIC(clock: clock)
    }

    func at(_ ns: UInt64) { cpu.statePointer.pointee.instructions = ns / VirtualClock.nanosecondsPerInstruction }
    func read(_ reg: UInt32) -> UInt32 { lapic.read(offset: reg, size: 4) }
    func write(_ reg: UInt32, _ value: UInt32) { lapic.write(offset: reg, size: 4, value: value) }
    func irr(_ v: UInt8) -> Bool { read(0x200 + UInt32(v >> 5) << 4) & (1 << UInt32(v & 31)) != 0 }
    func isr(_ v: UInt8) -> Bool { read(0x100 + UInt32(v >> 5) << 4) & (1 << UInt32(v & 31)) != 0 }
    func tmr(_ v: UInt8) -> Bool { read(0x180 + UInt32(v >> 5) << 4) & (1 << UInt32(v & 31)) != 0 }
}

@Test func lapicStartsInTheStateSeaBIOSLeaves() {
    let b = APICBench()
    #expect(b.read(0x30) == 0x0005_0014)
    #expect(b.read(0x20) == 0)
    #expect(b.read(0xF0) == 0x1FF)
    #expect(b.read(0x350) == 0x8700)
    #expect(b.read(0x360) == 0x8400)
    #expect(b.read(0x320) == 0x10000)
    #expect(b.read(0x370) == 0x10000)
    #expect(b.read(0xE0) == 0xFFFF_FFFF)
    #expect(b.lapic.acceptsExtINT)
    b.lapic.powerOnReset()
    #expect(b.read(0xF0) == 0xFF)
    #expect(b.read(0x350) == 0x10000)
    #expect(b.lapic.acceptsExtINT)  // software-disabled: the 8259 passes
}

@Test func narrowReadsSeeTheContainingDwordAndNarrowWritesAreIgnored() {
    let b = APICBench()
    b.write(0x20, 0x1200_0000)
    #expect(b.lapic.id == 0x12)
    #expect(b.lapic.read(offset: 0x23, size: 1) == 0x12)
    #expect(b.lapic.read(offset: 0x22, size: 2) == 0x1200)
    #expect(b.lapic.read(offset: 0x24, size: 4) == 0)
    b.lapic.write(offset: 0x80, size: 1, value: 0x30)
    b.lapic.write(offset: 0x84, size: 4, value: 0x30)
    #expect(b.read(0x80) == 0)
    b.write(0x80, 0xFFFF_FF30)
    #expect(b.read(0x80) == 0x30)
}

/// Divide-configuration encodings (bits 0, 1, 3) and their divisors — SDM Figure 10-10.
let divideEncodings: [(UInt32, UInt64)] = [
    (0x0, 2), (0x1, 4), (0x2, 8), (0x3, 16), (0x8, 32), (0x9, 64), (0xA, 128), (0xB, 1),
]

@Test(arguments: divideEncodings)
func oneShotTimerFiresAfterInitialCountTimesDivisorBusTicks(code: UInt32, divisor: UInt64) {
    let b = APICBench()
    b.at(1000)
    b.write(0x3E0, code)
    b.write(0x320, 0x40)  // one-shot, vector 0x40
    b.write(0x380, 1000)
    let period = 1000 * divisor * 10
    #expect(b.lapic.nextDeadline() == 1000 + period)
    b.at(1000 + period / 2)
    #expect(b.read(0x390) == 500)
    b.at(1000 + period - 10 * divisor)
    #expect(b.read(0x390) == 1)
    b.lapic.tick(now: b.clock.now)
    #expect(!b.irr(0x40))
    b.at(1000 + period)
    #expect(b.read(0x390) == 0)
    b.lapic.tick(now: b.clock.now)
    #expect(b.irr(0x40))
    #expect(b.lapic.nextDeadline() == nil)
    #expect(b.read(0x390) == 0)
    #expect(b.read(0x380) == 1000)
}

@Test func periodicTimerReloadsAndRealignsAfterMissedPeriods() {
    let b = APICBench()
    b.write(0x3E0, 0xB)  // divide by 1: one count per 10 ns
    b.write(0x320, 0x20000 | 0x41)
    b.write(0x380, 100)
    #expect(b.lapic.nextDeadline() == 1000)
    b.at(1000)
    b.lapic.tick(now: 1000)
    #expect(b.irr(0x41))
    #expect(b.lapic.nextDeadline() == 2000)
    #expect(b.read(0x390) == 100)
    #expect(b.lapic.acknowledge() == 0x41)
    b.write(0xB0, 0)
    // Three and a half periods late: the count keeps running, one interrupt, next on the grid.
    b.at(5500)
    #expect(b.read(0x390) == 50)
    b.lapic.tick(now: 5500)
    #expect(b.irr(0x41))
    #expect(b.lapic.nextDeadline() == 6000)
    #expect(b.read(0x390) == 50)
}

@Test func maskedTimerCountsWithoutInterruptingAndZeroInitialCountStopsIt() {
    let b = APICBench()
    b.write(0x3E0, 0xB)
    b.write(0x320, 0x10000 | 0x20000 | 0x42)
    b.write(0x380, 10)
    #expect(b.lapic.nextDeadline() == nil)  // nothing for the run loop to stop for
    b.at(250)
    #expect(b.read(0x390) == 5)
    b.lapic.tick(now: 250)
    #expect(!b.irr(0x42))
    b.write(0x320, 0x20000 | 0x42)  // unmasked: on the original grid
    #expect(b.lapic.nextDeadline() == 300)
    #expect(!b.irr(0x42))
    b.write(0x380, 0)
    #expect(b.lapic.nextDeadline() == nil)
    #expect(b.read(0x390) == 0)
}

@Test func aOneShotThatExpiredWhileMaskedDoesNotFireOnUnmask() {
    let b = APICBench()
    b.write(0x3E0, 0xB)
    b.write(0x320, 0x10044)
    b.write(0x380, 10)
    b.at(500)
    #expect(b.read(0x390) == 0)
    b.write(0x320, 0x44)
    #expect(!b.irr(0x44))
    #expect(b.lapic.nextDeadline() == nil)
}

@Test func changingTheDivisorMidCountKeepsTheCurrentCount() {
    let b = APICBench()
    b.write(0x3E0, 0x0)  // divide by 2: 20 ns per count
    b.write(0x320, 0x43)
    b.write(0x380, 1000)
    b.at(5000)
    #expect(b.read(0x390) == 750)
    b.write(0x3E0, 0xB)
    #expect(b.lapic.nextDeadline() == 5000 + 750 * 10)
}

@Test func taskPriorityBlocksSameAndLowerClasses() {
    let b = APICBench()
    b.lapic.accept(vector: 0x51, levelTriggered: false)
    b.write(0x80, 0x50)
    #expect(b.read(0xA0) == 0x50)
    #expect(!b.lapic.hasDeliverable)
    #expect(b.lapic.acknowledge() == nil)
    b.write(0x80, 0x4F)
    #expect(b.lapic.hasDeliverable)
    #expect(b.lapic.acknowledge() == 0x51)
    #expect(b.isr(0x51) && !b.irr(0x51))
    #expect(b.read(0xA0) == 0x50)  // in-service class above TPR's
    b.lapic.accept(vector: 0x5F, levelTriggered: false)
    #expect(!b.lapic.hasDeliverable)  // same class as the one in service
    b.lapic.accept(vector: 0x60, levelTriggered: false)
    #expect(b.lapic.acknowledge() == 0x60)
    #expect(b.read(0xA0) == 0x60)
}

@Test func eoiRetiresTheHighestInServiceVectorFirst() {
    let b = APICBench()
    b.lapic.accept(vector: 0x30, levelTriggered: false)
    #expect(b.lapic.acknowledge() == 0x30)
    b.lapic.accept(vector: 0x80, levelTriggered: false)
    #expect(b.lapic.acknowledge() == 0x80)
    b.write(0xB0, 0)
    #expect(!b.isr(0x80) && b.isr(0x30))
    b.write(0xB0, 0)
    #expect(!b.isr(0x30))
    #expect(b.read(0xA0) == 0)
}

@Test func eoiOfALevelTriggeredVectorIsBroadcast() {
    let b = APICBench()
    var eois: [UInt8] = []
    b.lapic.onEOI = { eois.append($0) }
    b.lapic.accept(vector: 0x41, levelTriggered: true)
    b.lapic.accept(vector: 0x31, levelTriggered: false)
    #expect(b.tmr(0x41) && !b.tmr(0x31))
    #expect(b.lapic.acknowledge() == 0x41)
    b.write(0xB0, 0)
    #expect(eois == [0x41])
    #expect(b.lapic.acknowledge() == 0x31)
    b.write(0xB0, 0)
    #expect(eois == [0x41])
}

@Test func selfIPIsReachOurIRRAndOthersGoNowhere() {
    let b = APICBench()
    b.write(0x300, 0x0004_0045)  // fixed, shorthand self
    #expect(b.irr(0x45))
    #expect(b.read(0x300) & 0x1000 == 0)  // delivery status idle
    b.write(0x300, 0x0008_0046)  // all including self
    #expect(b.irr(0x46))
    b.write(0x300, 0x000C_0047)  // all excluding self
    #expect(!b.irr(0x47))
    b.write(0x310, 0x0100_0000)
    b.write(0x300, 0x48)  // physical, destination 1: not us
    #expect(!b.irr(0x48))
    b.write(0x310, 0)
    b.write(0x300, 0x48)  // physical, destination 0: us
    #expect(b.irr(0x48))
    b.write(0xD0, 0x0200_0000)  // logical ID bit 1
    b.write(0x310, 0x0100_0000)
    b.write(0x300, 0x849)  // logical, destination 0x01
    #expect(!b.irr(0x49))
    b.write(0x310, 0x0300_0000)
    b.write(0x300, 0x849)
    #expect(b.irr(0x49))
    b.write(0x300, 0x0004_0500 | 0x4A)  // INIT to self: no receiver here
    #expect(!b.irr(0x4A))
}

@Test func illegalVectorsAreDroppedAndReportedThroughESR() {
    let b = APICBench()
    b.write(0x370, 0xE0)  // error LVT unmasked
    b.lapic.accept(vector: 5, levelTriggered: false)
    #expect(b.read(0x200) == 0)
    #expect(b.irr(0xE0))
    #expect(b.read(0x280) == 0)  // ESR shows errors only after a write
    b.write(0x280, 0)
    #expect(b.read(0x280) == 0x40)
    b.write(0x280, 0)
    #expect(b.read(0x280) == 0)
    b.write(0x300, 0x0004_0003)  // self IPI with vector 3
    b.write(0x280, 0)
    #expect(b.read(0x280) == 0x60)
}

@Test func softwareDisabledAPICMasksLVTsAndDropsFixedInterrupts() {
    let b = APICBench()
    b.write(0x320, 0x30)
    b.write(0xF0, 0xEF)
    #expect(!b.lapic.isSoftwareEnabled)
    #expect(b.read(0x320) == 0x10030)
    #expect(b.read(0x350) & 0x10000 != 0)
    b.write(0x320, 0x31)
    #expect(b.read(0x320) == 0x10031)
    b.lapic.accept(vector: 0x50, levelTriggered: false)
    #expect(!b.irr(0x50))
    #expect(b.lapic.acceptsExtINT)
    #expect(b.lapic.spuriousVector == 0xEF)
    b.write(0xF0, 0x1EF)
    b.write(0x320, 0x31)
    #expect(b.read(0x320) == 0x31)
}

@Test func extINTPassesOnlyThroughAnUnmaskedExtINTLINT0() {
    let b = APICBench()
    b.write(0x350, 0x10700)
    #expect(!b.lapic.acceptsExtINT)
    b.write(0x350, 0x0030)  // fixed
    #expect(!b.lapic.acceptsExtINT)
    b.write(0x350, 0x0700)
    #expect(b.lapic.acceptsExtINT)
}

@Test func destinationMatchingPhysicalFlatAndCluster() {
    let b = APICBench()
    b.write(0x20, 0x0300_0000)
    #expect(b.lapic.matchesDestination(3, logical: false))
    #expect(b.lapic.matchesDestination(0xFF, logical: false))
    #expect(!b.lapic.matchesDestination(0, logical: false))
    b.write(0xD0, 0x0400_0000)
    #expect(b.lapic.matchesDestination(0x0C, logical: true))
    #expect(!b.lapic.matchesDestination(0x03, logical: true))
    b.write(0xE0, 0x0FFF_FFFF)  // cluster model
    #expect(b.read(0xE0) == 0x0FFF_FFFF)
    b.write(0xD0, 0x2400_0000)  // cluster 2, member bit 2
    #expect(b.lapic.matchesDestination(0x24, logical: true))
    #expect(b.lapic.matchesDestination(0xF4, logical: true))
    #expect(!b.lapic.matchesDestination(0x14, logical: true))
    #expect(!b.lapic.matchesDestination(0x21, logical: true))
}
