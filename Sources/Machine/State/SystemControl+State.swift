import X86Core

// Snapshot state of port 0x92 (the 8042 has its own section, KBDC). The reset callback is wiring.

extension SystemControl {
    /// Section "SYSC".
    public func saveState(to w: inout StateWriter) {
        w.tag("SYSC")
        w.put(port92)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("SYSC")
        let p92: UInt8 = try r.get()
        return { self.port92 = p92 }
    }
}
