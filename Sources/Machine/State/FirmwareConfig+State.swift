import X86Core

// Snapshot state of fw_cfg: the selector and the read offset. The items are configuration (the
// RAM size the machine is rebuilt with), not state.

extension FirmwareConfig {
    /// Section "FWCF".
    public func saveState(to w: inout StateWriter) {
        w.tag("FWCF")
        w.put(selector)
        w.put(offset)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("FWCF")
        let key: UInt16 = try r.get()
        // The offset never runs past the end of the item (reads there do not advance).
        let length = UInt32(items[key & ~0x4000]?.count ?? 0)
        let at: UInt32 = try r.get("fw_cfg offset", UInt32.self) { $0 <= length }
        return {
            self.selector = key
            self.offset = at
        }
    }
}
