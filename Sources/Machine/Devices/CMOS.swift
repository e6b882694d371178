/// A calendar date and time of day (proleptic Gregorian, no time zone): the RTC's starting point.
public struct RTCDateTime: Equatable, Sendable {
    public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        self.year = year; self.month = month; self.day = day
        self.hour = hour; self.minute = minute; self.second = second
    }
    /// x86v's default boot date.
    public static let defaultStart = RTCDateTime(year: 2000, month: 1, day: 1, hour: 0, minute: 0, second: 0)

    /// "YYYY-MM-DDTHH:MM:SS" (or "YYYY-MM-DD"), nil if malformed.
    /// The year is 1…9999 (four digits), and every field must exist on the calendar.
    public static func parse(_ text: String) -> RTCDateTime? {
        let c = Array(text.utf8)
        guard c.count == 10 || c.count == 19 else { return nil }
        func number(_ from: Int, _ length: Int) -> Int? {
            var n = 0
            for b in c[from..<from + length] {
                guard b >= 0x30 && b <= 0x39 else { return nil }
                n = n * 10 + Int(b - 0x30)
            }
            return n
        }
        guard c[4] == UInt8(ascii: "-"), c[7] == UInt8(ascii: "-"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2)
        else { return nil }
        var hour = 0, minute = 0, second = 0
        if c.count == 19 {
            guard c[10] == UInt8(ascii: "T"), c[13] == UInt8(ascii: ":"), c[16] == UInt8(ascii: ":"),
                  let h = number(11, 2), let m = number(14, 2), let s = number(17, 2)
            else { return nil }
            (hour, minute, second) = (h, m, s)
        }
        guard year >= 1, (1...12).contains(month), day >= 1,
              day <= daysInMonth(year: year, month: month),
              hour < 24, minute < 60, second < 60
        else { return nil }
        return RTCDateTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    public static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (negative before). Shifts the year to start in March so the leap
    /// day is last, then counts whole 400-year eras of 146,097 days.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let monthFromMarch = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468  // 719,468 days from 0000-03-01 to 1970-01-01
    }

    /// Seconds since 1970-01-01T00:00:00.
    public var secondsSinceEpoch: Int64 {
        Int64(Self.days(year: year, month: month, day: day)) * 86_400
            + Int64(hour * 3600 + minute * 60 + second)
    }

    public init(secondsSinceEpoch s: Int64) {
        var days = Int(s / 86_400)
        var rest = Int(s % 86_400)
        if rest < 0 { rest += 86_400; days -= 1 }
        // The inverse of `days(year:month:day:)`.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        self.init(year: year, month: month, day: day,
                  hour: rest / 3600, minute: rest / 60 % 60, second: rest % 60)
    }

    /// Day of the week as the RTC counts it: 1 = Sunday … 7 = Saturday.
    public var weekday: Int {
        let d = Self.days(year: year, month: month, day: day)
        return ((d % 7 + 7 + 4) % 7) + 1  // 1970-01-01 was a Thursday (5)
    }
}

/// The MC146818 real-time clock and its 128 bytes of CMOS RAM at 0x70 (index; bit 7 masks NMI)
/// and 0x71 (data) (Motorola MC146818A datasheet; the PC's CMOS map as QEMU fills it).
///
/// Time is `start` plus virtual time, so a run is deterministic; seconds tick over at every whole
/// virtual second. Reads of the time registers compute the current time in the format register
/// B selects (BCD or binary, 12 or 24 hours). Writes set the time and keep it as an offset from
/// virtual time, preserving the sub-second phase (the divider chain is not reset). The SET bit
/// freezes the registers; clearing it resumes from what the guest wrote.
///
/// Register A's UIP bit is high in the last 244 µs of each virtual second. Flags in register C
/// are computed from virtual time when read or when a deadline passes: PF at the rate select of
/// register A, UF at each second, AF when the alarm bytes (0xC0–0xFF = don't care) match. IRQ8
/// goes high when a flag is set whose enable bit in register B is set, and low when register C
/// is read. Left out: the divider-control bits (time always counts), daylight saving (DSE), the
/// square-wave output, and bank 2.
///
/// Power-on state is what SeaBIOS's `rtc_setup` leaves: register A 0x26 (32.768 kHz time base,
/// 1024 Hz periodic rate), register B 0x02 (24-hour, BCD, no interrupts), NMI masked.
public final class CMOS: PortDevice, ClockedDevice {
    /// The ports this device answers.
    public static let portRanges: [ClosedRange<UInt16>] = [0x70...0x71]
    /// Register B bits.
    static let set: UInt8 = 0x80, pie: UInt8 = 0x40, aie: UInt8 = 0x20, uie: UInt8 = 0x10
    static let binary: UInt8 = 0x04, hours24: UInt8 = 0x02
    /// Register C bits.
    static let irqf: UInt8 = 0x80, pf: UInt8 = 0x40, af: UInt8 = 0x20, uf: UInt8 = 0x10
    /// UIP is set this long before each update.
    public static let updateInProgressNanoseconds: UInt64 = 244_000
    static let second: UInt64 = 1_000_000_000

    let clock: VirtualClock
    let lines: InterruptLines
    /// CMOS RAM; the time bytes (0–9, 0x32) hold the frozen time while SET is on.
    var ram = [UInt8](repeating: 0, count: 128)
    var index: UInt8 = 0
    public internal(set) var nmiMasked = true
    /// Calendar seconds at virtual time 0: the clock reads `epochOffset + now / 1 s`.
    var epochOffset: Int64
    var regA: UInt8 = 0x26
    var regB: UInt8 = 0x02
    var regC: UInt8 = 0
    /// Virtual time up to which register C's flags are up to date.
    var checkedThrough: UInt64

    /// `memorySize` is guest RAM in bytes; it fills the memory-size bytes the BIOS would.
    public init(clock: VirtualClock, lines: InterruptLines, start: RTCDateTime, memorySize: Int) {
        self.clock = clock
        self.lines = lines
        let now = clock.now
        checkedThrough = now
        epochOffset = start.secondsSinceEpoch - Int64(now / Self.second)
        setMemorySize(memorySize)
        ram[0x14] = 0x06  // equipment: FPU, PS/2 mouse (as QEMU reports)
    }

    /// The memory bytes as QEMU fills them: 0x15/0x16 base memory in KiB, 0x17/0x18 and
    /// 0x30/0x31 KiB above 1 MiB (at most 0xFFFF), 0x34/0x35 64 KiB blocks above 16 MiB.
    func setMemorySize(_ bytes: Int) {
        func put(_ lo: Int, _ value: Int) {
            ram[lo] = UInt8(value & 0xFF)
            ram[lo + 1] = UInt8(value >> 8 & 0xFF)
        }
        put(0x15, 640)
        let extended = min(max(bytes / 1024 - 1024, 0), 0xFFFF)
        put(0x17, extended)
        put(0x30, extended)
        put(0x34, bytes > 16 << 20 ? min((bytes - (16 << 20)) / 65536, 0xFFFF) : 0)
    }

    // MARK: Time

    var frozen: Bool { regB & Self.set != 0 }

    /// The date and time the registers show at `now`.
    func dateTime(at now: UInt64) -> RTCDateTime {
        frozen ? decodeRegisters() : RTCDateTime(secondsSinceEpoch: epochOffset + Int64(now / Self.second))
    }

    func encode(_ v: Int) -> UInt8 {
        regB & Self.binary != 0 ? UInt8(v & 0xFF) : UInt8((v / 10 % 10) << 4 | v % 10)
    }

    func decode(_ b: UInt8) -> Int {
        regB & Self.binary != 0 ? Int(b) : Int(b >> 4) * 10 + Int(b & 0x0F)
    }

    func encodeHour(_ h: Int) -> UInt8 {
        if regB & Self.hours24 != 0 { return encode(h) }
        let h12 = h % 12 == 0 ? 12 : h % 12
        return encode(h12) | (h >= 12 ? 0x80 : 0)
    }

    func decodeHour(_ b: UInt8) -> Int {
        if regB & Self.hours24 != 0 { return decode(b) }
        return decode(b & 0x7F) % 12 + (b & 0x80 != 0 ? 12 : 0)
    }

    /// The time registers' bytes for `t` in the current format.
    func timeRegisters(_ t: RTCDateTime) -> [(Int, UInt8)] {
        [(0, encode(t.second)), (2, encode(t.minute)), (4, encodeHour(t.hour)),
         (6, encode(t.weekday)), (7, encode(t.day)), (8, encode(t.month)),
         (9, encode(t.year % 100)), (0x32, encode(t.year / 100 % 100))]
    }

    func snapshot(at now: UInt64) {
        for (i, b) in timeRegisters(dateTime(at: now)) { ram[i] = b }
    }

    /// The time the registers hold, each field clamped to the calendar.
    func decodeRegisters() -> RTCDateTime {
        let year = decode(ram[0x32]) * 100 + decode(ram[9])
        let month = min(max(decode(ram[8]), 1), 12)
        let day = min(max(decode(ram[7]), 1), RTCDateTime.daysInMonth(year: year, month: month))
        return RTCDateTime(year: year, month: month, day: day, hour: min(decodeHour(ram[4]), 23),
                           minute: min(decode(ram[2]), 59), second: min(decode(ram[0]), 59))
    }

    /// The clock runs on from the registers' time, starting at the current second.
    func resume(at now: UInt64) {
        epochOffset = decodeRegisters().secondsSinceEpoch - Int64(now / Self.second)
    }

    // MARK: Interrupts

    /// Periodic interrupt period in 32.768 kHz cycles, or nil for rate select 0.
    var periodicCycles: UInt64? {
        let rs = regA & 0x0F
        switch rs {
        case 0: return nil
        case 1, 2: return 1 << (UInt64(rs) + 7)  // 3.90625 ms, 7.8125 ms
        default: return 1 << (UInt64(rs) - 1)  // 122.070 µs … 500 ms
        }
    }

    func cycles(at ns: UInt64) -> UInt64 { TickMath.ticks(atNanoseconds: ns, hz: 32768) }

    /// Whether the alarm bytes match the time shown at second `s`.
    func alarmMatches(_ t: RTCDateTime) -> Bool {
        func match(_ alarm: UInt8, _ value: UInt8) -> Bool { alarm & 0xC0 == 0xC0 || alarm == value }
        return match(ram[1], encode(t.second)) && match(ram[3], encode(t.minute))
            && match(ram[5], encodeHour(t.hour))
    }

    /// Sets register C's flags for every event in (checkedThrough, now] and drives IRQ8.
    func catchUp(to now: UInt64) {
        if now > checkedThrough {
            if let p = periodicCycles, cycles(at: now) / p > cycles(at: checkedThrough) / p {
                regC |= Self.pf
            }
            let first = checkedThrough / Self.second + 1, last = now / Self.second
            if !frozen && last >= first {
                regC |= Self.uf
                // Look for an alarm match in the seconds that passed (at most a day's worth:
                // any valid alarm pattern matches within a day).
                var s = last
                while s >= first && s + 86_400 > last {
                    if alarmMatches(RTCDateTime(secondsSinceEpoch: epochOffset + Int64(s))) {
                        regC |= Self.af
                        break
                    }
                    s -= 1
                }
            }
            checkedThrough = now
        }
        updateIRQ()
    }

    func updateIRQ() {
        if regC & Self.irqf == 0 && regC & regB & (Self.pf | Self.af | Self.uf) != 0 {
            regC |= Self.irqf
            lines.set(8, high: true)
        }
    }

    public func nextDeadline() -> UInt64? {
        guard regC & Self.irqf == 0 else { return nil }  // nothing is visible until C is read
        var next: UInt64? = nil
        if regB & Self.pie != 0, let p = periodicCycles {
            next = TickMath.nanoseconds(atTick: (cycles(at: checkedThrough) / p + 1) * p, hz: 32768)
        }
        if regB & (Self.uie | Self.aie) != 0 && !frozen {
            let s = (checkedThrough / Self.second + 1) * Self.second
            next = min(next ?? s, s)
        }
        return next
    }

    public func tick(now: UInt64) { catchUp(to: now) }

    // MARK: Ports

    public func read(port: UInt16, size: Int) -> UInt32 {
        guard port == 0x71 else { return 0xFF }  // the index register is write-only
        let now = clock.now
        let i = Int(index)
        switch i {
        case 0, 2, 4, 6, 7, 8, 9, 0x32:
            if frozen { return UInt32(ram[i]) }
            return UInt32(timeRegisters(dateTime(at: now)).first { $0.0 == i }!.1)
        case 0x0A:
            let phase = now % Self.second
            let uip = !frozen && phase >= Self.second - Self.updateInProgressNanoseconds
            return UInt32(regA | (uip ? 0x80 : 0))
        case 0x0B: return UInt32(regB)
        case 0x0C:
            catchUp(to: now)
            let v = regC
            regC = 0
            lines.set(8, high: false)
            return UInt32(v)
        case 0x0D: return 0x80  // VRT: the battery is fine
        default: return UInt32(ram[i])
        }
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        let v = UInt8(truncatingIfNeeded: value)
        if port == 0x70 {
            index = v & 0x7F
            nmiMasked = v & 0x80 != 0
            return
        }
        guard port == 0x71 else { return }
        let now = clock.now
        let i = Int(index)
        switch i {
        case 0, 2, 4, 6, 7, 8, 9, 0x32:
            if frozen {
                ram[i] = v
            } else {
                snapshot(at: now)
                ram[i] = v
                resume(at: now)
            }
        case 0x0A:
            catchUp(to: now)
            regA = v & 0x7F
        case 0x0B:
            catchUp(to: now)
            let wasFrozen = frozen
            if !wasFrozen && v & Self.set != 0 { snapshot(at: now) }
            // Setting SET clears UIE (datasheet).
            regB = v & Self.set != 0 ? v & ~Self.uie : v
            if wasFrozen && !frozen { resume(at: now) }
            updateIRQ()
        case 0x0C, 0x0D: break  // read-only
        default: ram[i] = v
        }
    }
}
