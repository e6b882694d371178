import Testing
import X86Core
import Machine

private final class RTCRig {
    let cpu = CPU(memorySize: 1 << 20)
    let clock: VirtualClock
    let pic = DualPIC()
    let lines: InterruptLines
    let cmos: CMOS

    init(start: RTCDateTime = RTCDateTime(year: 2024, month: 2, day: 29, hour: 23, minute: 59, second: 58),
         memorySize: Int = 32 << 20) {
        clock = VirtualClock(cpu: cpu)
        lines = InterruptLines(pic: pic, ioapic: IOAPIC(lapic: LocalAPIC(clock: clock)))
        cmos = CMOS(clock: clock, lines: lines, start: start, memorySize: memorySize)
    }

    func advance(to ns: UInt64) { cpu.statePointer.pointee.instructions = (ns + 9) / 10 }

    func get(_ reg: UInt32) -> UInt8 {
        cmos.write(port: 0x70, size: 1, value: reg)
        return UInt8(cmos.read(port: 0x71, size: 1))
    }

    func put(_ reg: UInt32, _ value: UInt32) {
        cmos.write(port: 0x70, size: 1, value: reg)
        cmos.write(port: 0x71, size: 1, value: value)
    }

    func runToDeadline() {
        guard let d = cmos.nextDeadline() else { return }
        advance(to: d)
        cmos.tick(now: clock.now)
    }
}

@Test func rtcParseAcceptsDatesAndTimesAndRejectsNonsense() {
    #expect(RTCDateTime.parse("2024-02-29T13:05:09")
            == RTCDateTime(year: 2024, month: 2, day: 29, hour: 13, minute: 5, second: 9))
    #expect(RTCDateTime.parse("1999-12-31") == RTCDateTime(year: 1999, month: 12, day: 31, hour: 0, minute: 0, second: 0))
    for bad in ["2023-02-29", "2024-13-01", "2024-04-31", "2024-01-00", "2024-01-01T24:00:00",
                "2024-01-01T00:60:00", "2024-01-01T00:00:60", "2024-1-01", "2024-01-01 00:00:00",
                "2024-01-01T00:00", "abcd-01-01", "", "2024-01-01T00:00:00Z", "+024-01-01"] {
        #expect(RTCDateTime.parse(bad) == nil, "\(bad)")
    }
}

@Test func rtcWeekdayAndEpochSecondsRoundTrip() {
    #expect(RTCDateTime(year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0).weekday == 5)  // Thursday
    #expect(RTCDateTime.defaultStart.weekday == 7)  // 2000-01-01 was a Saturday
    #expect(RTCDateTime(year: 2024, month: 2, day: 29, hour: 0, minute: 0, second: 0).weekday == 5)
    #expect(RTCDateTime(year: 1969, month: 12, day: 28, hour: 0, minute: 0, second: 0).weekday == 1)
    #expect(RTCDateTime.defaultStart.secondsSinceEpoch == 946_684_800)
    for s: Int64 in [0, 951_782_400, 1_709_251_199, -1, 4_102_444_800, 253_402_300_799] {
        #expect(RTCDateTime(secondsSinceEpoch: s).secondsSinceEpoch == s)
    }
    #expect(RTCDateTime(secondsSinceEpoch: 1_709_251_199)
            == RTCDateTime(year: 2024, month: 2, day: 29, hour: 23, minute: 59, second: 59))
}

@Test func rtcReadsBCDTimeThatAdvancesWithVirtualTime() {
    let r = RTCRig()
    #expect(r.get(0x00) == 0x58)
    #expect(r.get(0x02) == 0x59)
    #expect(r.get(0x04) == 0x23)
    #expect(r.get(0x06) == 0x05)
    #expect(r.get(0x07) == 0x29)
    #expect(r.get(0x08) == 0x02)
    #expect(r.get(0x09) == 0x24)
    #expect(r.get(0x32) == 0x20)
    r.advance(to: 999_999_990)
    #expect(r.get(0x00) == 0x58)
    r.advance(to: 2_000_000_000)  // two seconds later: leap day rolls into March
    #expect(r.get(0x00) == 0x00)
    #expect(r.get(0x04) == 0x00)
    #expect(r.get(0x07) == 0x01)
    #expect(r.get(0x08) == 0x03)
    #expect(r.get(0x06) == 0x06)  // Friday
}

@Test func rtcBinaryAndTwelveHourFormats() {
    let r = RTCRig(start: RTCDateTime(year: 2087, month: 11, day: 5, hour: 13, minute: 45, second: 30))
    r.put(0x0B, 0x06)  // binary, 24 h
    #expect(r.get(0x00) == 30)
    #expect(r.get(0x04) == 13)
    #expect(r.get(0x09) == 87)
    #expect(r.get(0x32) == 20)
    r.put(0x0B, 0x04)  // binary, 12 h
    #expect(r.get(0x04) == 0x80 | 1)  // 1 PM
    r.put(0x0B, 0x00)  // BCD, 12 h
    #expect(r.get(0x04) == 0x81)
    let midnight = RTCRig(start: RTCDateTime(year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 0))
    midnight.put(0x0B, 0x00)
    #expect(midnight.get(0x04) == 0x12)  // 12 AM
    let noon = RTCRig(start: RTCDateTime(year: 2000, month: 1, day: 1, hour: 12, minute: 0, second: 0))
    noon.put(0x0B, 0x00)
    #expect(noon.get(0x04) == 0x92)  // 12 PM
}

@Test func rtcWritesSetTheTimeUnderSETAndWithout() {
    let r = RTCRig()
    r.put(0x0B, 0x82)  // SET: registers freeze
    r.put(0x00, 0x10)
    r.put(0x02, 0x20)
    r.put(0x04, 0x08)
    r.put(0x07, 0x15)
    r.put(0x08, 0x06)
    r.put(0x09, 0x31)
    r.advance(to: 5_000_000_000)
    #expect(r.get(0x00) == 0x10)  // frozen
    #expect(r.get(0x0A) & 0x80 == 0)  // no update in progress while SET
    r.put(0x0B, 0x02)  // resume
    r.advance(to: 7_000_000_000)
    #expect(r.get(0x00) == 0x12)
    #expect(r.get(0x02) == 0x20)
    #expect(r.get(0x09) == 0x31)
    #expect(r.get(0x06) == 0x01)  // 2031-06-15 is a Sunday
    r.put(0x02, 0x45)  // a direct write (no SET) moves the clock too
    #expect(r.get(0x02) == 0x45)
    #expect(r.get(0x00) == 0x12)
    r.advance(to: 8_000_000_000)
    #expect(r.get(0x00) == 0x13)
}

@Test func rtcUpdateInProgressIsTheLast244MicrosecondsOfEachSecond() {
    let r = RTCRig()
    #expect(r.get(0x0A) == 0x26)
    r.advance(to: 999_756_000 - 10)
    #expect(r.get(0x0A) & 0x80 == 0)
    r.advance(to: 999_756_000)
    #expect(r.get(0x0A) & 0x80 == 0x80)
    r.advance(to: 1_000_000_000)
    #expect(r.get(0x0A) & 0x80 == 0)
}

@Test func rtcRegisterCReadClearsFlagsAndLowersIRQ8() {
    let r = RTCRig()
    #expect(r.get(0x0D) == 0x80)
    #expect(r.cmos.nextDeadline() == nil)  // no interrupt enabled
    r.advance(to: 1_500_000_000)
    #expect(r.get(0x0C) == 0x50)  // PF and UF without IRQF: nothing enabled
    #expect(r.get(0x0C) == 0x00)
    r.put(0x0B, 0x12)  // UIE
    #expect(r.cmos.nextDeadline() == 2_000_000_000)
    r.runToDeadline()
    #expect(r.lines.isHigh(8))
    #expect(r.cmos.nextDeadline() == nil)  // IRQF stays until C is read
    #expect(r.get(0x0C) & 0x90 == 0x90)
    #expect(!r.lines.isHigh(8))
    #expect(r.cmos.nextDeadline() == 3_000_000_000)
}

@Test func rtcPeriodicInterruptFollowsRegisterARate() {
    let r = RTCRig()
    r.put(0x0B, 0x42)  // PIE; rate 6 = 1024 Hz
    // 32 cycles of 32.768 kHz = 976,562.5 ns.
    #expect(r.cmos.nextDeadline() == 976_563)
    r.runToDeadline()
    #expect(r.lines.isHigh(8))
    #expect(r.pic.interruptOutput)  // IRQ8 is unmasked after the BIOS
    #expect(r.pic.acknowledge() == 0x70)
    #expect(r.get(0x0C) == 0xC0)
    #expect(r.cmos.nextDeadline() == 1_953_125)
    r.put(0x0A, 0x2F)  // rate 15: 2 Hz
    #expect(r.cmos.nextDeadline() == 500_000_000)
    r.put(0x0A, 0x23)  // rate 3: 8192 Hz
    r.advance(to: 10_000_000)
    r.cmos.tick(now: r.clock.now)
    #expect(r.get(0x0C) & 0x40 == 0x40)
    r.put(0x0A, 0x20)  // rate 0: off
    #expect(r.cmos.nextDeadline() == nil)
}

@Test func rtcAlarmFiresWhenTheTimeMatches() {
    let r = RTCRig()  // 23:59:58
    r.put(0x01, 0x00)
    r.put(0x03, 0xC0)  // any minute
    r.put(0x05, 0xFF)  // any hour
    r.put(0x0B, 0x22)  // AIE
    r.runToDeadline()  // 23:59:59: no match
    #expect(!r.lines.isHigh(8))
    r.runToDeadline()  // 00:00:00
    #expect(r.lines.isHigh(8))
    #expect(r.get(0x0C) == 0xF0)  // IRQF, AF, UF, and PF (set at its rate even without PIE)
}

@Test func rtcMemorySizeBytesAndNMIMask() {
    let r = RTCRig(memorySize: 32 << 20)
    #expect(r.cmos.nmiMasked)  // as SeaBIOS leaves it
    #expect(r.get(0x15) == 0x80 && r.get(0x16) == 0x02)  // 640 KiB
    #expect(r.get(0x17) == 0x00 && r.get(0x18) == 0x7C)  // 31 MiB = 31,744 KiB
    #expect(r.get(0x30) == 0x00 && r.get(0x31) == 0x7C)
    #expect(r.get(0x34) == 0x00 && r.get(0x35) == 0x01)  // 16 MiB / 64 KiB = 256
    let big = RTCRig(memorySize: 1 << 31)
    #expect(big.get(0x17) == 0xFF && big.get(0x18) == 0xFF)  // capped
    #expect(big.get(0x34) == 0x00 && big.get(0x35) == 0x7F)  // 2032 MiB / 64 KiB = 32,512
    let small = RTCRig(memorySize: 8 << 20)
    #expect(small.get(0x34) == 0 && small.get(0x35) == 0)

    r.cmos.write(port: 0x70, size: 1, value: 0x0F)
    #expect(!r.cmos.nmiMasked)
    r.cmos.write(port: 0x71, size: 1, value: 0xAB)
    r.cmos.write(port: 0x70, size: 1, value: 0x8F)
    #expect(r.cmos.nmiMasked)
    #expect(r.cmos.read(port: 0x71, size: 1) == 0xAB)  // same byte: bit 7 is not address
}
