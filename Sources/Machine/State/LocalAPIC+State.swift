import X86Core

// Snapshot state of the local APIC: every register (ID, TPR, LDR, DFR, SVR, ISR/TMR/IRR, ESR and
// the errors pending for it, ICR, the six LVT entries), the timer (initial count, divide
// configuration, and the anchor its current count is computed from), the NMI latch and count.
// The base address is wiring.
// Each register is checked against the bits its write path can set.

extension VectorBitmap {
    func saveState(to w: inout StateWriter) {
        for i in 0..<8 { w.put(words[i]) }
    }

    static func restored(from r: inout StateReader) throws(StateError) -> VectorBitmap {
        var b = VectorBitmap()
        for i in 0..<8 { b.words[i] = try r.get() }
        return b
    }
}

extension LocalAPIC {
    /// Section "LAPC".
    public func saveState(to w: inout StateWriter) {
        w.tag("LAPC")
        w.put(idRegister); w.put(tpr); w.put(ldr); w.put(dfr); w.put(svr)
        irr.saveState(to: &w); isr.saveState(to: &w); tmr.saveState(to: &w)
        w.put(esr); w.put(pendingErrors); w.put(icrLow); w.put(icrHigh)
        w.put(lvtTimer); w.put(lvtThermal); w.put(lvtPerformance)
        w.put(lvtLINT0); w.put(lvtLINT1); w.put(lvtError)
        w.put(timerInitial); w.put(timerDivide); w.put(timerAnchor); w.put(timerAnchorCount)
        w.put(nmiPending); w.put(nmisSignalled)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("LAPC")
        let errors = Self.errorSendIllegalVector | Self.errorReceiveIllegalVector | Self.errorIllegalRegister
        let newID = try r.get("LAPIC ID", mask: 0xFF00_0000 as UInt32)
        let newTPR = try r.get("LAPIC TPR", mask: 0xFF as UInt32)
        let newLDR = try r.get("LAPIC LDR", mask: 0xFF00_0000 as UInt32)
        let newDFR = try r.get("LAPIC DFR", UInt32.self) { $0 & 0x0FFF_FFFF == 0x0FFF_FFFF }
        let newSVR = try r.get("LAPIC SVR", mask: 0x3FF as UInt32)
        let newIRR = try VectorBitmap.restored(from: &r)
        let newISR = try VectorBitmap.restored(from: &r)
        let newTMR = try VectorBitmap.restored(from: &r)
        let newESR = try r.get("LAPIC ESR", mask: errors)
        let newPending = try r.get("LAPIC pending errors", mask: errors)
        let newICRLow = try r.get("LAPIC ICR low", mask: 0x000C_CFFF as UInt32)
        let newICRHigh = try r.get("LAPIC ICR high", mask: 0xFF00_0000 as UInt32)
        let timer = try r.get("LAPIC LVT timer", mask: 0x0003_00FF as UInt32)
        let thermal = try r.get("LAPIC LVT thermal", mask: 0x0001_07FF as UInt32)
        let performance = try r.get("LAPIC LVT performance", mask: 0x0001_07FF as UInt32)
        let lint0 = try r.get("LAPIC LVT LINT0", mask: 0x0001_E7FF as UInt32)
        let lint1 = try r.get("LAPIC LVT LINT1", mask: 0x0001_E7FF as UInt32)
        let error = try r.get("LAPIC LVT error", mask: 0x0001_00FF as UInt32)
        let initial: UInt32 = try r.get()
        let divide = try r.get("LAPIC timer divide", mask: 0xB as UInt32)
        let anchor: UInt64 = try r.get()
        let anchorCount: UInt32 = try r.get()
        let nmi = try r.getBool()
        let nmis: UInt64 = try r.get()
        return {
            self.nmiPending = nmi; self.nmisSignalled = nmis
            self.idRegister = newID; self.tpr = newTPR; self.ldr = newLDR; self.dfr = newDFR
            self.svr = newSVR
            self.irr = newIRR; self.isr = newISR; self.tmr = newTMR
            self.esr = newESR; self.pendingErrors = newPending
            self.icrLow = newICRLow; self.icrHigh = newICRHigh
            self.lvtTimer = timer; self.lvtThermal = thermal; self.lvtPerformance = performance
            self.lvtLINT0 = lint0; self.lvtLINT1 = lint1; self.lvtError = error
            self.timerInitial = initial; self.timerDivide = divide
            self.timerAnchor = anchor; self.timerAnchorCount = anchorCount
        }
    }
}
