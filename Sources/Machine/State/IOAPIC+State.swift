import X86Core

// Snapshot state of the I/O APIC: IOREGSEL, the ID, the 24 redirection entries (with their
// Remote IRR bits) and the raw pin levels. The local APIC it delivers to is wiring.

extension IOAPIC {
    /// Section "IOAP".
    public func saveState(to w: inout StateWriter) {
        w.tag("IOAP")
        w.put(ioregsel)
        w.put(idRegister)
        for e in redirection { w.put(e) }
        w.put(pinLevels)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("IOAP")
        let select = try r.get("I/O APIC IOREGSEL", mask: 0xFF as UInt32)
        let newID = try r.get("I/O APIC ID", mask: 0x0F00_0000 as UInt32)
        var table: [UInt64] = []
        for pin in 0..<Self.pinCount {
            table.append(try r.get("I/O APIC redirection entry \(pin)", mask: Self.writable | Self.remoteIRR))
        }
        let levels = try r.get("I/O APIC pin levels", mask: UInt32(1 << Self.pinCount) - 1)
        return {
            self.ioregsel = select
            self.idRegister = newID
            self.redirection = table
            self.pinLevels = levels
        }
    }
}
