import X86Core

// Snapshot state of the I/O bus: the per-port counts of accesses to unowned ports (`--stats`),
// in port order so the bytes never depend on the dictionary's hashing. Which device owns which
// port is wiring, rebuilt by `PCMachine.init`.

extension IOBus {
    /// Section "IOBS": a count, then (port, accesses) pairs in increasing port order.
    public func saveState(to w: inout StateWriter) {
        w.tag("IOBS")
        let ports = unknownAccesses.keys.sorted()
        w.put(UInt32(ports.count))
        for p in ports {
            w.put(p)
            w.put(unknownAccesses[p] ?? 0)
        }
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("IOBS")
        let n = try r.getCount(limit: 65536)
        var counts: [UInt16: UInt64] = [:]
        var previous: Int = -1
        for _ in 0..<n {
            // Strictly increasing: one entry per port, in the order `saveState` writes them.
            let port = try r.get("unknown-port entry out of order", UInt16.self) { Int($0) > previous }
            previous = Int(port)
            counts[port] = try r.get(UInt64.self)
        }
        return { self.unknownAccesses = counts }
    }
}
