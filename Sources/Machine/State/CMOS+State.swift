import X86Core

// Snapshot state of the RTC/CMOS: the 128 RAM bytes (which hold the frozen time while SET is
// on and the alarm bytes), the index and NMI mask, the calendar offset, registers A–C and how far
// register C's flags have been computed.

extension CMOS {
    /// Calendar offsets a machine can reach: the guest can write any year 0…16665 (two BCD bytes
    /// of up to 0xFF) at any virtual time (at most 2^64 ns ≈ 1.8·10¹⁰ s). The bounds keep
    /// `epochOffset + now / 1 s` from overflowing.
    static let epochOffsetRange: ClosedRange<Int64> = (-(1 << 37))...(1 << 40)

    /// Section "CMOS".
    public func saveState(to w: inout StateWriter) {
        w.tag("CMOS")
        w.put(bytes: ram)
        w.put(index)
        w.put(nmiMasked)
        w.put(epochOffset)
        w.put(regA); w.put(regB); w.put(regC)
        w.put(checkedThrough)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("CMOS")
        let bytes = try r.getBytes(limit: 128)
        guard bytes.count == 128 else {
            throw StateError("snapshot corrupt: CMOS RAM of \(bytes.count) bytes where 128 were expected")
        }
        let newRAM = Array(bytes)
        let newIndex: UInt8 = try r.get("CMOS index", mask: 0x7F)
        let masked = try r.getBool()
        let offset = try r.get("RTC epoch offset", Int64.self) { Self.epochOffsetRange.contains($0) }
        let a: UInt8 = try r.get("RTC register A", mask: 0x7F)
        let b: UInt8 = try r.get()
        let c: UInt8 = try r.get("RTC register C", mask: 0xF0)
        // Half the clock's range (292 years): the next-second deadline must not overflow.
        let checked = try r.get("RTC checked-through time", UInt64.self) { $0 <= UInt64.max / 2 }
        return {
            self.ram = newRAM
            self.index = newIndex
            self.nmiMasked = masked
            self.epochOffset = offset
            self.regA = a
            self.regB = b
            self.regC = c
            self.checkedThrough = checked
        }
    }
}
