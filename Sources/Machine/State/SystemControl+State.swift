import X86Core

// Snapshot state of port 0x92 and the 8042: every register, the output buffer, the byte 0x60
// last returned, and the command waiting for its data byte. The reset callback is wiring.

extension SystemControl {
    /// Section "SYSC".
    public func saveState(to w: inout StateWriter) {
        w.tag("SYSC")
        w.put(port92)
        w.put(status)
        w.put(outputBuffer)
        w.put(lastOutput)
        w.put(pendingCommand)
        w.put(commandByte)
        w.put(outputPort)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("SYSC")
        let p92: UInt8 = try r.get()
        let newStatus: UInt8 = try r.get()
        let buffer = try r.getOptional(UInt8.self)
        let last: UInt8 = try r.get()
        // Only the commands that take a data byte wait for one.
        let pending = try r.getOptional("8042 pending command", UInt8.self) { $0 == 0x60 || $0 == 0xD1 }
        let command: UInt8 = try r.get()
        let output: UInt8 = try r.get()
        return {
            self.port92 = p92
            self.status = newStatus
            self.outputBuffer = buffer
            self.lastOutput = last
            self.pendingCommand = pending
            self.commandByte = command
            self.outputPort = output
        }
    }
}
