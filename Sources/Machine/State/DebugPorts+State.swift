import X86Core

// Snapshot state of the debug ports: the exit status a write to 0xF4 left (the console
// callback is wiring).

extension DebugPorts {
    /// Section "DBGP".
    public func saveState(to w: inout StateWriter) {
        w.tag("DBGP")
        w.put(exitStatus)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("DBGP")
        // The host status is 8 bits (see `write`).
        let status = try r.getOptional("debug exit status", Int32.self) { (0...255).contains($0) }
        return { self.exitStatus = status }
    }
}
