import Testing
import X86Core
import Machine

/// A CPU only for its instruction counter, which drives the virtual clock.
private final class PITRig {
    let cpu = CPU(memorySize: 1 << 20)
    let clock: VirtualClock
    let pic = DualPIC()
    let lines: InterruptLines
    let pit: PIT8254

    init() {
        clock = VirtualClock(cpu: cpu)
        lines = InterruptLines(pic: pic, ioapic: IOAPIC(lapic: LocalAPIC(clock: clock)))
        pit = PIT8254(clock: clock, lines: lines)
    }

    /// Moves virtual time to the first instruction boundary at or after `ns`.
    func advance(to ns: UInt64) {
        cpu.statePointer.pointee.instructions = (ns + 9) / 10
    }

    /// Moves to the first instant at which `ticks` input clocks have passed.
    func advance(toTick ticks: UInt64) { advance(to: TickMath.nanoseconds(atTick: ticks, hz: 1_193_182)) }

    /// What the machine does: tick when the deadline is reached.
    func runToDeadline() {
        guard let d = pit.nextDeadline() else { return }
        advance(to: d)
        pit.tick(now: clock.now)
    }

    func out(_ port: UInt16, _ value: UInt32) { pit.write(port: port, size: 1, value: value) }
    func inb(_ port: UInt16) -> UInt32 { pit.read(port: port, size: 1) }
    func read16(_ port: UInt16) -> UInt32 { inb(port) | inb(port) << 8 }

    /// Channel 0 in `mode`, LSB-then-MSB, with `count`.
    func program(mode: UInt32, count: UInt32, channel: UInt32 = 0) {
        out(0x43, channel << 6 | 0x30 | mode << 1)
        out(0x40 + UInt16(channel), count & 0xFF)
        out(0x40 + UInt16(channel), count >> 8)
    }

    /// Takes the pending IRQ0 (vector 8 in the power-on PIC state) and ends it.
    func takeIRQ0() -> Bool {
        guard pic.interruptOutput else { return false }
        let v = pic.acknowledge()
        pic.write(port: 0x20, size: 1, value: 0x20)
        return v == 0x08
    }
}

@Test func pitTickMathIsExactAndDoesNotDrift() {
    #expect(TickMath.ticks(atNanoseconds: 1_000_000_000, hz: 1_193_182) == 1_193_182)
    #expect(TickMath.ticks(atNanoseconds: 999_999_999, hz: 1_193_182) == 1_193_181)
    let year: UInt64 = 365 * 86_400
    #expect(TickMath.ticks(atNanoseconds: year * 1_000_000_000, hz: 1_193_182) == year * 1_193_182)
    #expect(TickMath.nanoseconds(atTick: 1_193_182, hz: 1_193_182) == 1_000_000_000)
    #expect(TickMath.nanoseconds(atTick: 1, hz: 1_193_182) == 839)  // 838.09… rounded up
    for t: UInt64 in [1, 2, 65536, 1_000_003, 1 << 40] {
        let ns = TickMath.nanoseconds(atTick: t, hz: 1_193_182)
        #expect(TickMath.ticks(atNanoseconds: ns, hz: 1_193_182) == t)
        #expect(TickMath.ticks(atNanoseconds: ns - 1, hz: 1_193_182) == t - 1)
    }
}

@Test func pitPowerOnRunsChannel0AtTheBIOSRate() {
    let r = PITRig()
    // SeaBIOS: mode 2, count 0 = 65536 → 18.2 Hz.
    #expect(r.pit.nextDeadline() == 54_925_402)  // ceil(65536e9 / 1193182)
    #expect(!r.pic.interruptOutput)
    r.runToDeadline()
    #expect(r.takeIRQ0())
}

@Test func pitMode2DeadlinesAreOnePeriodApartWithoutDrift() {
    let r = PITRig()
    r.program(mode: 2, count: 1193)
    let period = 1193.0 * 1e9 / 1_193_182.0  // 999_847.6 ns
    var deadlines: [UInt64] = []
    for _ in 0..<50 {
        deadlines.append(r.pit.nextDeadline()!)
        r.runToDeadline()
        #expect(r.takeIRQ0())
        #expect(!r.pic.interruptOutput)
    }
    for i in 1..<deadlines.count {
        let gap = Double(deadlines[i] - deadlines[i - 1])
        #expect(abs(gap - period.rounded()) <= 1)
    }
    // The 50th edge is exactly 50 periods after the start: no accumulated rounding.
    #expect(deadlines[49] == TickMath.nanoseconds(atTick: 50 * 1193, hz: 1_193_182))
}

@Test func pitLongSkipDeliversOneEdgeNotThousands() {
    let r = PITRig()
    r.program(mode: 2, count: 100)
    r.advance(toTick: 100 * 1000 + 50)
    r.pit.tick(now: r.clock.now)
    #expect(r.takeIRQ0())
    #expect(!r.pic.interruptOutput)
    // The next deadline is the next period boundary after now, not a backlog.
    #expect(r.pit.nextDeadline() == TickMath.nanoseconds(atTick: 100 * 1001, hz: 1_193_182))
}

@Test func pitCounterReadsAndLatchCommand() {
    let r = PITRig()
    r.program(mode: 2, count: 1000)
    r.advance(toTick: 300)
    #expect(r.read16(0x40) == 700)
    r.out(0x43, 0x00)  // latch channel 0
    r.advance(toTick: 500)
    r.out(0x43, 0x00)  // a second latch before reading is ignored
    #expect(r.read16(0x40) == 700)
    #expect(r.read16(0x40) == 500)  // latch released: live again
    r.advance(toTick: 1000 + 10)  // reloaded, counting again
    #expect(r.read16(0x40) == 990)
}

@Test func pitCountZeroMeans65536AndLSBOnlyAccess() {
    let r = PITRig()
    r.program(mode: 2, count: 0)
    r.advance(toTick: 1)
    #expect(r.read16(0x40) == 65535)
    r.out(0x43, 0x14)  // channel 0, LSB only, mode 2
    let start = TickMath.ticks(atNanoseconds: r.clock.now, hz: 1_193_182)
    r.out(0x40, 100)
    r.advance(toTick: start + 30)
    #expect(r.inb(0x40) == 70)
    #expect(r.inb(0x40) == 70)  // LSB-only mode reads the LSB every time
    #expect(r.pit.nextDeadline() == TickMath.nanoseconds(atTick: start + 100, hz: 1_193_182))
}

@Test func pitMode0IsAOneShot() {
    let r = PITRig()
    r.out(0x43, 0xE2)  // read-back status of channel 0 (mode 2 from the BIOS)
    #expect(r.inb(0x40) & 0x80 != 0)
    r.program(mode: 0, count: 100)
    r.out(0x43, 0xE2)
    #expect(r.inb(0x40) == 0x30 | 0x40)  // OUT low, null count, LSB/MSB, mode 0
    #expect(r.pit.nextDeadline() == TickMath.nanoseconds(atTick: 100, hz: 1_193_182))
    r.advance(toTick: 99)
    r.out(0x43, 0xE2)
    #expect(r.inb(0x40) == 0x30)  // still low, count loaded
    r.runToDeadline()
    #expect(r.takeIRQ0())
    #expect(r.pit.nextDeadline() == nil)
    r.out(0x43, 0xE2)
    #expect(r.inb(0x40) == 0xB0)  // OUT stays high
    #expect(r.lines.isHigh(0))
    r.advance(toTick: 130)
    #expect(r.read16(0x40) == 65536 - 30)  // the counter wraps and keeps counting
}

@Test func pitReadBackLatchesCountAndStatusTogether() {
    let r = PITRig()
    r.program(mode: 3, count: 1000, channel: 2)
    r.out(0x61, 0x01)  // gate channel 2 on (restarts the count)
    r.advance(toTick: 200)
    r.out(0x43, 0xC8)  // read-back count and status of channel 2
    r.advance(toTick: 300)
    #expect(r.inb(0x42) == 0x80 | 0x36)  // status first: OUT high, LSB/MSB, mode 3
    #expect(r.read16(0x42) == 600)  // count latched at tick 200: 1000 − 2·200
}

@Test func pitPort61ShowsChannel2OutGateAndRefreshToggle() {
    let r = PITRig()
    #expect(r.inb(0x61) & 0x10 == 0)
    r.advance(to: 15_090)
    #expect(r.inb(0x61) & 0x10 == 0x10)
    r.advance(to: 30_180)
    #expect(r.inb(0x61) & 0x10 == 0)

    r.advance(to: 0)
    r.out(0x61, 0x03)  // gate on, speaker data on
    r.program(mode: 3, count: 1000, channel: 2)
    #expect(r.inb(0x61) & 0x23 == 0x23)  // OUT high during the first half
    r.advance(toTick: 600)
    #expect(r.inb(0x61) & 0x20 == 0)  // second half: low
    r.advance(toTick: 1000)
    #expect(r.inb(0x61) & 0x20 == 0x20)
}

@Test func pitChannel2GatePausesMode0() {
    let r = PITRig()
    r.out(0x61, 0x00)
    r.program(mode: 0, count: 100, channel: 2)
    r.advance(toTick: 50)
    #expect(r.read16(0x42) == 100)  // gate low: not counting
    r.out(0x61, 0x01)
    r.advance(toTick: 80)
    #expect(r.read16(0x42) == 70)
    r.out(0x61, 0x00)
    r.advance(toTick: 500)
    #expect(r.read16(0x42) == 70)
    #expect(r.inb(0x61) & 0x20 == 0)
    r.out(0x61, 0x01)
    r.advance(toTick: 570)
    #expect(r.inb(0x61) & 0x20 == 0x20)  // terminal count reached after 100 counted ticks
    #expect(r.pit.nextDeadline() != nil)  // channel 2 never interrupts, channel 0 still runs
}

@Test func pitChannel2Mode1IsTriggeredByTheGate() {
    let r = PITRig()
    r.program(mode: 1, count: 50, channel: 2)
    #expect(r.inb(0x61) & 0x20 == 0x20)  // OUT high until triggered
    r.advance(toTick: 10)
    r.out(0x61, 0x01)
    r.advance(toTick: 30)
    #expect(r.inb(0x61) & 0x20 == 0)
    #expect(r.read16(0x42) == 30)
    r.advance(toTick: 60)
    #expect(r.inb(0x61) & 0x20 == 0x20)
}

@Test func pitMode4StrobesOnceAfterTerminalCount() {
    let r = PITRig()
    r.program(mode: 4, count: 10)
    #expect(r.pit.nextDeadline() == TickMath.nanoseconds(atTick: 11, hz: 1_193_182))
    r.runToDeadline()
    #expect(r.takeIRQ0())
    #expect(r.pit.nextDeadline() == nil)
}

@Test func pitReprogrammingMode0DropsIRQ0AndRaisesItAtTerminalCount() {
    let r = PITRig()
    r.runToDeadline()  // BIOS mode 2: line high after the first edge
    #expect(r.takeIRQ0())
    #expect(r.lines.isHigh(0))
    r.out(0x43, 0x30)  // mode 0 control word: OUT low at once
    #expect(!r.lines.isHigh(0))
    r.out(0x40, 5)
    r.out(0x40, 0)
    r.runToDeadline()
    #expect(r.lines.isHigh(0))
    #expect(r.takeIRQ0())
}
