import X86Core

/// Snapshots of the classic VMM's own state (the guest's descriptor-table registers, the trap
/// counts, the shadow LDT's source, ring compression or the emulated mode (real mode, V86, a task
/// switch) and the switches between them, the binary translator's marks and counts). The shadow tables
/// themselves are VMM-private RAM, saved with the rest of RAM.
extension ClassicState {
    func saveState(to w: inout StateWriter) {
        w.tag("CLSC")
        w.put(gdtr.base); w.put(gdtr.limit); w.put(idtr.base); w.put(idtr.limit)
        w.put(ldtr); w.put(tr)
        w.put(UInt32(syncedGDTEntries))
        let t = traps.sorted { $0.key < $1.key }
        w.put(UInt32(t.count))
        for (m, n) in t { w.put(m); w.put(n) }
        w.put(problem != nil)
        if let p = problem { w.put(p) }
        w.put(ldt != nil)
        if let l = ldt { w.put(l.base); w.put(l.limit) }
        w.put(emulated?.rawValue ?? 0)
        w.put(realModeEntries); w.put(compressionEntries)
        w.put(v86Entries); w.put(taskSwitchEntries); w.put(emulatedReturns); w.put(tableWriteSyncs)
        w.put(translator != nil)
        if let bt = translator {
            let s = bt.stats
            w.put(s.blocksScanned); w.put(s.holesPatched); w.put(s.trapsTaken); w.put(s.rescans)
            w.put(UInt32(bt.entries.count))
            for key in bt.entries.keys.sorted() {
                let e = bt.entries[key]!
                w.put(key); w.put(e.hole); w.put(e.length); w.put(e.bytesLow); w.put(e.bytesHigh)
            }
        }
    }

    /// Reads and checks the section; the closure installs it.
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("CLSC")
        let g = TableRegister(base: try r.get(), limit: try r.get())
        let i = TableRegister(base: try r.get(), limit: try r.get())
        let l: UInt16 = try r.get(), t: UInt16 = try r.get()
        let synced = try r.getCount(limit: Layout.tssIndex)
        var trapCounts: [String: UInt64] = [:]
        for _ in 0..<(try r.getCount(limit: 4096)) { trapCounts[try r.getString(limit: 64)] = try r.get() }
        let prob: String? = try r.getBool() ? try r.getString(limit: 4096) : nil
        let ldtSource: (UInt32, UInt32)? = try r.getBool() ? (try r.get(), try r.get()) : nil
        let modeByte: UInt8 = try r.get()
        guard modeByte == 0 || EmulatedMode(rawValue: modeByte) != nil else {
            throw StateError("snapshot corrupt: classic mode \(modeByte)")
        }
        let mode = EmulatedMode(rawValue: modeByte)
        let realEntries: UInt64 = try r.get(), compressions: UInt64 = try r.get()
        let v86: UInt64 = try r.get(), tasks: UInt64 = try r.get(), returns: UInt64 = try r.get()
        let syncs: UInt64 = try r.get()
        guard try r.getBool() == (translator != nil) else {
            throw StateError("the snapshot was taken \(translator == nil ? "with" : "without") binary translation")
        }
        var stats = BinaryTranslator.Stats()
        var marks: [UInt32: BinaryTranslator.Entry] = [:]
        if translator != nil {
            stats.blocksScanned = try r.get(); stats.holesPatched = try r.get(); stats.trapsTaken = try r.get(); stats.rescans = try r.get()
            for _ in 0..<(try r.getCount(limit: 1 << 24)) {
                let key: UInt32 = try r.get()
                let hole = try r.getBool()
                let length: UInt8 = try r.get()
                guard (1...15).contains(length) else { throw StateError("snapshot corrupt: translation entry length \(length)") }
                marks[key] = BinaryTranslator.Entry(hole: hole, length: length, bytesLow: try r.get(), bytesHigh: try r.get())
            }
        }
        return {
            self.gdtr = g; self.idtr = i; self.ldtr = l; self.tr = t
            self.syncedGDTEntries = synced
            self.traps = trapCounts
            self.problem = prob
            self.ldt = ldtSource.map { (base: $0.0, limit: $0.1) }
            self.inEmulation = false
            self.emulated = mode
            self.realModeEntries = realEntries
            self.compressionEntries = compressions
            self.v86Entries = v86
            self.taskSwitchEntries = tasks
            self.emulatedReturns = returns
            self.tableWriteSyncs = syncs
            self.translator?.restore(stats: stats, entries: marks)
        }
    }
}

extension BinaryTranslator {
    func restore(stats s: Stats, entries e: [UInt32: Entry]) {
        stats = s
        entries = e
        passThrough = false
    }
}
