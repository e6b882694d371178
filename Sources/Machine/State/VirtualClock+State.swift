import X86Core

// Snapshot state of the virtual clock: the time skipped while halted. The instruction count and
// the TSC offset it moves with belong to the CPU's state (saved with the CPU).

extension VirtualClock {
    /// Section "CLCK".
    public func saveState(to w: inout StateWriter) {
        w.tag("CLCK")
        w.put(idleNanoseconds)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("CLCK")
        let idle: UInt64 = try r.get()
        return { self.idleNanoseconds = idle }
    }
}
