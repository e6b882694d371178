import X86Core

// Snapshot state of the 8259 pair: every register and latch of both chips. ELCR's writable
// mask is fixed by the board (set at init) and not saved.

extension PIC8259Chip {
    func saveState(to w: inout StateWriter) {
        w.put(irr); w.put(isr); w.put(imr); w.put(elcr); w.put(lines)
        w.put(vectorBase); w.put(icw3); w.put(UInt8(initStep))
        w.put(needICW4); w.put(singleMode); w.put(autoEOI); w.put(specialFullyNested)
        w.put(rotateOnAutoEOI); w.put(highestPriority)
        w.put(readISR); w.put(pollPending); w.put(specialMask)
    }

    /// This chip (for its board wiring) with the registers read from `r`.
    func restored(from r: inout StateReader, name: String) throws(StateError) -> PIC8259Chip {
        var c = self
        c.irr = try r.get(); c.isr = try r.get(); c.imr = try r.get()
        c.elcr = try r.get("\(name) PIC ELCR", mask: elcrWritable)
        c.lines = try r.get()
        c.vectorBase = try r.get("\(name) PIC vector base", mask: 0xF8)
        c.icw3 = try r.get()
        c.initStep = Int(try r.get("\(name) PIC initialization step", UInt8.self) { [0, 2, 3, 4].contains($0) })
        c.needICW4 = try r.getBool(); c.singleMode = try r.getBool()
        c.autoEOI = try r.getBool(); c.specialFullyNested = try r.getBool()
        c.rotateOnAutoEOI = try r.getBool()
        c.highestPriority = try r.get("\(name) PIC highest priority", mask: 7)
        c.readISR = try r.getBool(); c.pollPending = try r.getBool(); c.specialMask = try r.getBool()
        return c
    }
}

extension DualPIC {
    /// Section "PICS": the master's registers, then the slave's.
    public func saveState(to w: inout StateWriter) {
        w.tag("PICS")
        master.saveState(to: &w)
        slave.saveState(to: &w)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("PICS")
        let m = try master.restored(from: &r, name: "master")
        let s = try slave.restored(from: &r, name: "slave")
        return { self.master = m; self.slave = s }
    }
}
