import X86Core

// Snapshot state of the ACPI PM registers, the APM ports and 0xCF9. The SCI's level lives with
// the interrupt lines (section LINE); the callbacks are wiring.

extension ACPIPowerManagement {
    /// Section "ACPI".
    public func saveState(to w: inout StateWriter) {
        w.tag("ACPI")
        w.put(status)
        w.put(enable)
        w.put(control)
        w.put(timerOverflow)
        w.put(gpeStatus)
        w.put(gpeEnable)
        w.put(apmControl)
        w.put(apmStatus)
        w.put(resetControl)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("ACPI")
        let sts: UInt16 = try r.get()
        let en: UInt16 = try r.get()
        // SLP_EN is write-only: never kept.
        let cnt: UInt16 = try r.get("PM1_CNT", mask: ~Self.sleepEnable)
        let overflow: UInt64 = try r.get()
        // No GPE source exists, so no status bit can be set.
        let gpeSts: UInt16 = try r.get("GPE0_STS", mask: 0)
        let gpeEn: UInt16 = try r.get()
        let apmc: UInt8 = try r.get()
        let apms: UInt8 = try r.get()
        let rcr: UInt8 = try r.get("reset control", mask: 0x02)
        return {
            self.status = sts
            self.enable = en
            self.control = cnt
            self.timerOverflow = overflow
            self.gpeStatus = gpeSts
            self.gpeEnable = gpeEn
            self.apmControl = apmc
            self.apmStatus = apms
            self.resetControl = rcr
        }
    }
}
