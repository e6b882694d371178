import X86Core

// Snapshot state of the 8254: each counter's programming, count, start tick, gate, pause, write
// and read latches; port 0x61's bits; how far channel 0's edges have been delivered and the
// level driven onto IRQ0. Times are input-clock ticks, so they are at most the tick of the last
// representable nanosecond (which keeps `start + count` from overflowing).

extension PITChannel {
    func saveState(to w: inout StateWriter) {
        w.put(access); w.put(mode); w.put(bcd); w.put(UInt32(count)); w.put(start)
        w.put(loaded); w.put(triggered); w.put(paused); w.put(gate)
        w.put(pendingLSB); w.put(readMSBNext); w.put(latchedCount); w.put(latchedStatus)
    }

    static func restored(from r: inout StateReader, name: String) throws(StateError) -> PITChannel {
        let maxTick = TickMath.ticks(atNanoseconds: .max, hz: PIT8254.frequency)
        var c = PITChannel()
        c.access = try r.get("\(name) access mode", UInt8.self) { (1...3).contains($0) }
        c.mode = try r.get("\(name) mode", UInt8.self) { $0 <= 5 }
        c.bcd = try r.getBool()
        c.count = UInt64(try r.get("\(name) count", UInt32.self) { (1...65536).contains($0) })
        c.start = try r.get("\(name) start tick", UInt64.self) { $0 <= maxTick }
        c.loaded = try r.getBool()
        c.triggered = try r.getBool()
        c.paused = try r.getOptional("\(name) paused ticks", UInt64.self) { $0 <= maxTick }
        c.gate = try r.getBool()
        c.pendingLSB = try r.getOptional(UInt8.self)
        c.readMSBNext = try r.getBool()
        c.latchedCount = try r.getOptional(UInt16.self)
        c.latchedStatus = try r.getOptional(UInt8.self)
        return c
    }
}

extension PIT8254 {
    /// Section "PITS": channels 0–2, port 0x61, channel 0's delivery point and IRQ0 level.
    public func saveState(to w: inout StateWriter) {
        w.tag("PITS")
        for c in channels { c.saveState(to: &w) }
        w.put(port61)
        w.put(deliveredThrough)
        w.put(outLevel)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("PITS")
        var cs: [PITChannel] = []
        for n in 0..<3 { cs.append(try PITChannel.restored(from: &r, name: "PIT channel \(n)")) }
        let p61: UInt8 = try r.get("PIT port 0x61", mask: 0x0F)
        let maxTick = TickMath.ticks(atNanoseconds: .max, hz: Self.frequency)
        let delivered = try r.get("PIT delivered-through tick", UInt64.self) { $0 <= maxTick }
        let level = try r.getBool()
        return {
            self.channels = cs
            self.port61 = p61
            self.deliveredThrough = delivered
            self.outLevel = level
        }
    }
}
