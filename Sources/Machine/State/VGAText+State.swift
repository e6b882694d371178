import X86Core

// Snapshot state of the VGA text device: the CRTC registers and index, the miscellaneous output
// register and the input-status toggle. The screen itself is guest RAM (saved with it).

extension VGAText {
    /// Section "VGAT".
    public func saveState(to w: inout StateWriter) {
        w.tag("VGAT")
        w.put(bytes: crtc)
        w.put(crtcIndex)
        w.put(misc)
        w.put(inputStatus)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("VGAT")
        let registers = Array(try r.getBytes(limit: 256))
        guard registers.count == 256 else {
            throw StateError("snapshot corrupt: \(registers.count) VGA CRTC registers (want 256)")
        }
        let index: UInt8 = try r.get()
        let newMisc: UInt8 = try r.get("VGA misc output", mask: 0xEF)
        let toggle: UInt8 = try r.get("VGA input status", mask: 0x09)
        return {
            self.crtc = registers
            self.crtcIndex = index
            self.misc = newMisc
            self.inputStatus = toggle
        }
    }
}
