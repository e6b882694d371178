import X86Core

// Snapshot state of pc-testdev: whether the machine has one (`--device pc-testdev`; a resumed
// machine is rebuilt without flags, so the snapshot says), then its register, the I/O APIC-only
// lines 16–23 (0–15 live in section LINE) and the 64 KiB window.

extension PCMachine {
    /// Section "PCTD".
    func saveTestDevice(to w: inout StateWriter) {
        w.tag("PCTD")
        guard let device = testDevice else {
            w.put(false)
            return
        }
        w.put(true)
        w.put(device.scratch)
        w.put(device.upperLines)
        w.put(bytes: device.memory.bytes)
    }

    /// Reads and checks the section; the closure attaches the device if the snapshot has one and
    /// installs its state.
    func readTestDevice(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("PCTD")
        guard try r.getBool() else {
            if testDevice != nil { throw StateError("snapshot has no pc-testdev, but this machine has one") }
            return {}
        }
        let scratch: UInt32 = try r.get()
        let upper: UInt8 = try r.get()
        let at = r.offset
        let bytes = Array(try r.getBytes(limit: Int(PCTestDevice.memorySize)))
        guard bytes.count == Int(PCTestDevice.memorySize) else {
            throw StateError("snapshot corrupt: pc-testdev window of \(bytes.count) bytes at byte \(at)")
        }
        return {
            let device = self.attachTestDevice()
            device.scratch = scratch
            device.upperLines = upper
            device.memory.bytes = bytes
        }
    }
}
