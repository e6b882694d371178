import X86Core

// Snapshot state of the ISA lines: the level of each. Restoring sets the levels only; the
// controllers' own view of their inputs is restored with them, so nothing is re-driven.

extension InterruptLines {
    /// Section "LINE".
    public func saveState(to w: inout StateWriter) {
        w.tag("LINE")
        w.put(levels)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("LINE")
        let newLevels: UInt16 = try r.get()
        return { self.levels = newLevels }
    }
}
