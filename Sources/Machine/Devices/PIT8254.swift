/// Exact conversions between virtual nanoseconds and the ticks of a fixed-frequency clock, with
/// 128-bit intermediates so nothing drifts however long the guest runs.
package enum TickMath {
    /// floor(ns × hz / 10⁹).
    package static func ticks(atNanoseconds ns: UInt64, hz: UInt64) -> UInt64 {
        let p = ns.multipliedFullWidth(by: hz)
        return UInt64(1_000_000_000).dividingFullWidth(p).quotient
    }

    /// ceil(ticks × 10⁹ / hz): the first nanosecond at which `ticks(atNanoseconds:)` ≥ `ticks`
    /// (UInt64.max if that lies beyond the clock's range).
    package static func nanoseconds(atTick ticks: UInt64, hz: UInt64) -> UInt64 {
        let p = ticks.multipliedFullWidth(by: 1_000_000_000)
        guard p.high < hz else { return .max }
        let (q, r) = hz.dividingFullWidth(p)
        return r == 0 ? q : (q == .max ? .max : q + 1)
    }
}

/// One counter of the 8254 (Intel 8254 datasheet, order 231164). The counter is not stepped: its
/// value and OUT are computed from the input-clock tick at which counting (re)started, so the
/// device is a pure function of virtual time.
struct PITChannel {
    /// Control word RW field: 1 = LSB only, 2 = MSB only, 3 = LSB then MSB.
    var access: UInt8 = 3
    /// Counter mode 0–5 (control word values 6 and 7 alias modes 2 and 3).
    var mode: UInt8 = 0
    /// The BCD bit, kept for the status byte; counting is always binary (no PC guest uses BCD).
    var bcd = false
    /// The initial count, 1…65536 (a written 0 means 65536).
    var count: UInt64 = 65536
    /// Input-clock tick at which the current count started counting (or was triggered).
    var start: UInt64 = 0
    /// A count has been written since the last control word (the counter runs).
    var loaded = false
    /// Modes 1 and 5: a gate rising edge started the count.
    var triggered = false
    /// Counting is halted by a low gate: the elapsed ticks at the moment it stopped.
    var paused: UInt64? = nil
    var gate = true
    /// LSB-then-MSB write in progress: the LSB already written.
    var pendingLSB: UInt8? = nil
    /// Next read of a 16-bit value returns the MSB.
    var readMSBNext = false
    /// Output latch from a counter-latch or read-back command.
    var latchedCount: UInt16? = nil
    var latchedStatus: UInt8? = nil

    /// Ticks counted since `start` at input tick `t`.
    func elapsed(at t: UInt64) -> UInt64 {
        if let p = paused { return p }
        return t >= start ? t - start : 0
    }

    /// Whether the counter is counting a loaded count at all.
    var running: Bool { loaded && (mode == 1 || mode == 5 ? triggered : true) }

    /// The counting element's value at tick `t`.
    func value(at t: UInt64) -> UInt16 {
        guard running else { return UInt16(truncatingIfNeeded: count) }
        let d = elapsed(at: t)
        let v: UInt64
        switch mode {
        case 2: v = count - d % count
        case 3:
            // Decrements by two each clock, reloading each half period.
            let half = (count + 1) / 2
            let r = d % count
            let phase = r < half ? r : r - half
            v = (count & ~1) &- 2 * phase
        default: v = count &- d  // modes 0, 1, 4, 5 wrap after terminal count
        }
        return UInt16(truncatingIfNeeded: v)
    }

    /// OUT at tick `t`.
    func out(at t: UInt64) -> Bool {
        switch mode {
        case 0: return running && elapsed(at: t) >= count
        case 1: return !running || elapsed(at: t) >= count
        case 2:
            guard running && gate else { return true }
            return elapsed(at: t) % count != count - 1
        case 3:
            guard running && gate else { return true }
            return elapsed(at: t) % count < (count + 1) / 2
        default:  // 4, 5: low for the one clock after terminal count
            return !(running && elapsed(at: t) == count)
        }
    }

    /// The first tick after `t` at which OUT rises, or nil if it never will on its own.
    func nextRisingEdge(after t: UInt64) -> UInt64? {
        guard running, paused == nil else { return nil }
        let d = t >= start ? t - start : 0
        let first: UInt64
        switch mode {
        case 0, 1: first = count
        case 2, 3:
            // Rises at every reload: start + k·count, k ≥ 1.
            let (k, overflow) = (d / count + 1).multipliedReportingOverflow(by: count)
            return overflow ? nil : start &+ k
        default: first = count + 1
        }
        let edge = start + first
        return edge > t ? edge : nil
    }

    /// The read-back status byte: OUT, null count, RW, mode, BCD.
    func status(at t: UInt64) -> UInt8 {
        var s = access << 4 | mode << 1 | (bcd ? 1 : 0)
        if out(at: t) { s |= 0x80 }
        // Null count: the written count has not reached the counting element yet (it does on
        // the first input clock after the write).
        if !loaded || pendingLSB != nil || (running && t <= start && paused == nil) { s |= 0x40 }
        return s
    }
}

/// The 8254 programmable interval timer at 0x40–0x43 (channel 0 → IRQ0, channel 1 the unused
/// DRAM-refresh counter, channel 2 → the speaker, gated by port 0x61) and the port 0x61 system
/// control bits (Intel 8254 datasheet; IBM PC/AT technical reference).
///
/// The input clock is 1,193,182 Hz of virtual time. Differences from the chip, all invisible to
/// the guests x86v targets:
/// - counting is binary even with the BCD bit set (the bit is kept and reported in the status);
/// - a new count written in modes 2 and 3 takes effect at once rather than at the next reload;
/// - the count reaches the counting element at the write itself, not one clock later (null
///   count still reads 1 until the next clock);
/// - IRQ0 follows OUT only at rising edges: the line is pulsed low→high at each edge and left at
///   OUT's level then, so the short low phases of mode 2 are not replayed.
///
/// Power-on state is what SeaBIOS's `pit_setup` leaves: channel 0 in mode 2 with count 0 (65536,
/// 18.2 Hz), counting from virtual time 0; channels 1 and 2 unprogrammed.
public final class PIT8254: PortDevice, ClockedDevice {
    /// The ports this device answers.
    public static let portRanges: [ClosedRange<UInt16>] = [0x40...0x43, 0x61...0x61]
    public static let frequency: UInt64 = 1_193_182
    /// DRAM refresh request period: port 0x61 bit 4 toggles every 15.085 µs.
    public static let refreshToggleNanoseconds: UInt64 = 15_085

    let clock: VirtualClock
    let lines: InterruptLines
    var channels = [PITChannel](repeating: PITChannel(), count: 3) { didSet { deadline.known = false } }
    /// Port 0x61 bits 0–3 as written (gate 2, speaker data, parity and channel check enables).
    var port61: UInt8 = 0
    /// Input ticks up to which channel 0's rising edges have been delivered.
    var deliveredThrough: UInt64 = 0 { didSet { deadline.known = false } }
    /// `nextDeadline` is asked at every VM exit and depends only on channel 0 and
    /// `deliveredThrough`: remembered until either changes (the observers above). A derived
    /// value, not device state: kept in an object so snapshots and state comparisons ignore it.
    private let deadline = DeadlineMemo()
    /// Channel 0's OUT as last driven onto IRQ0.
    var outLevel = true

    public init(clock: VirtualClock, lines: InterruptLines) {
        self.clock = clock
        self.lines = lines
        channels[0].mode = 2
        channels[0].loaded = true
        channels[0].start = 0
        channels[2].gate = false
        deliveredThrough = currentTick
        // OUT is high in mode 2, but the line is left low: raising it now would latch an IRQ0
        // the BIOS would have served. The first period's edge arrives as usual.
    }

    var currentTick: UInt64 { TickMath.ticks(atNanoseconds: clock.now, hz: Self.frequency) }

    // MARK: ClockedDevice

    public func nextDeadline() -> UInt64? {
        if deadline.known { return deadline.value }
        deadline.value = channels[0].nextRisingEdge(after: deliveredThrough).map {
            TickMath.nanoseconds(atTick: $0, hz: Self.frequency)
        }
        deadline.known = true
        return deadline.value
    }

    /// Delivers one IRQ0 edge however many periods passed (a long halt must not flood the PIC).
    public func tick(now: UInt64) {
        let t = TickMath.ticks(atNanoseconds: now, hz: Self.frequency)
        guard t > deliveredThrough else { return }
        if let edge = channels[0].nextRisingEdge(after: deliveredThrough), edge <= t {
            lines.set(0, high: false)
            lines.set(0, high: true)
            outLevel = true
        }
        deliveredThrough = t
        drive(channels[0].out(at: t))
    }

    private func drive(_ level: Bool) {
        guard level != outLevel else { return }
        outLevel = level
        lines.set(0, high: level)
    }

    /// Channel 0 was reprogrammed: OUT takes its new level and edges restart from now.
    private func channel0Changed(_ t: UInt64) {
        deliveredThrough = t
        drive(channels[0].out(at: t))
    }

    // MARK: Ports

    public func read(port: UInt16, size: Int) -> UInt32 {
        let t = currentTick
        switch port {
        case 0x40...0x42: return UInt32(readCounter(Int(port - 0x40), t))
        case 0x43: return 0xFF  // the control register is write-only
        case 0x61:
            var v = port61 & 0x0F
            if (clock.now / Self.refreshToggleNanoseconds) & 1 != 0 { v |= 0x10 }
            if channels[2].out(at: t) { v |= 0x20 }
            return UInt32(v)
        default: return 0xFF
        }
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        let t = currentTick
        let v = UInt8(truncatingIfNeeded: value)
        switch port {
        case 0x40...0x42: writeCounter(Int(port - 0x40), v, t)
        case 0x43: writeControl(v, t)
        case 0x61:
            port61 = v & 0x0F
            setGate(v & 1 != 0, t)
        default: return
        }
    }

    private func readCounter(_ n: Int, _ t: UInt64) -> UInt8 {
        var c = channels[n]
        defer { channels[n] = c }
        if let s = c.latchedStatus {
            c.latchedStatus = nil
            return s
        }
        let value = c.latchedCount ?? c.value(at: t)
        switch c.access {
        case 1:
            c.latchedCount = nil
            return UInt8(truncatingIfNeeded: value)
        case 2:
            c.latchedCount = nil
            return UInt8(value >> 8)
        default:
            // Without a latch the two bytes come from different moments, as on the chip.
            c.readMSBNext.toggle()
            if c.readMSBNext { return UInt8(truncatingIfNeeded: value) }
            c.latchedCount = nil
            return UInt8(value >> 8)
        }
    }

    private func writeCounter(_ n: Int, _ v: UInt8, _ t: UInt64) {
        var c = channels[n]
        var written: UInt64
        switch c.access {
        case 1: written = UInt64(v)
        case 2: written = UInt64(v) << 8
        default:
            guard let lsb = c.pendingLSB else {
                c.pendingLSB = v
                // Mode 0: writing the first byte stops the count and drops OUT.
                if c.mode == 0 { c.loaded = false }
                channels[n] = c
                if n == 0 { channel0Changed(t) }
                return
            }
            c.pendingLSB = nil
            written = UInt64(v) << 8 | UInt64(lsb)
        }
        if written == 0 { written = 65536 }
        c.count = written
        c.loaded = true
        c.start = t
        c.triggered = false
        // Modes 0/2/3/4 count only while the gate is high; a low gate holds the fresh count.
        c.paused = c.gate || c.mode == 1 || c.mode == 5 ? nil : 0
        channels[n] = c
        if n == 0 { channel0Changed(t) }
    }

    private func writeControl(_ v: UInt8, _ t: UInt64) {
        let select = Int(v >> 6)
        if select == 3 {
            // Read-back: bit 5 = 0 latches counts, bit 4 = 0 latches status, bits 3–1 pick counters.
            for n in 0..<3 where v & (2 << UInt8(n)) != 0 {
                if v & 0x20 == 0 && channels[n].latchedCount == nil {
                    channels[n].latchedCount = channels[n].value(at: t)
                    channels[n].readMSBNext = false
                }
                if v & 0x10 == 0 && channels[n].latchedStatus == nil {
                    channels[n].latchedStatus = channels[n].status(at: t)
                }
            }
            return
        }
        let access = (v >> 4) & 3
        if access == 0 {
            // Counter latch command; a second latch before the first is read is ignored.
            if channels[select].latchedCount == nil {
                channels[select].latchedCount = channels[select].value(at: t)
                channels[select].readMSBNext = false
            }
            return
        }
        var c = channels[select]
        c.access = access
        var mode = (v >> 1) & 7
        if mode > 5 { mode -= 4 }
        c.mode = mode
        c.bcd = v & 1 != 0
        c.loaded = false
        c.triggered = false
        c.paused = nil
        c.pendingLSB = nil
        c.readMSBNext = false
        c.latchedCount = nil
        c.latchedStatus = nil
        channels[select] = c
        if select == 0 { channel0Changed(t) }
    }

    /// Gate input of channel 2 (port 0x61 bit 0); channels 0 and 1 are tied high on a PC.
    private func setGate(_ high: Bool, _ t: UInt64) {
        var c = channels[2]
        guard c.gate != high else { return }
        c.gate = high
        switch c.mode {
        case 0, 4:
            // Counting is suspended while the gate is low and resumes where it stopped.
            if high, let p = c.paused {
                c.start = t &- p
                c.paused = nil
            } else if !high && c.loaded {
                c.paused = c.elapsed(at: t)
            }
        case 2, 3:
            // Low gate stops the count (OUT high); the rising edge reloads it.
            if high {
                c.start = t
                c.paused = nil
            } else if c.loaded {
                c.paused = c.elapsed(at: t)
            }
        default:
            // Modes 1 and 5: the rising edge (re)triggers the count.
            if high && c.loaded {
                c.start = t
                c.triggered = true
            }
        }
        channels[2] = c
    }
}

/// A remembered `nextDeadline` answer (see `PIT8254.deadline`).
final class DeadlineMemo {
    var known = false
    var value: UInt64? = nil
}
