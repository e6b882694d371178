import X86Core

// Snapshot state of the 16550A: the host-side receive queue (whole, with its read position),
// the RX FIFO, RBR, every register, the divisor latch, FIFO mode and trigger level, the pending
// line-status and modem-status bits, the THRE interrupt condition and whether held host input
// was released. The IRQ number and the clock are wiring.

extension UART16550 {
    /// Section "UART".
    public func saveState(to w: inout StateWriter) {
        w.tag("UART")
        w.put(bytes: hostQueue)
        w.put(UInt32(hostHead))
        w.put(bytes: fifo)
        w.put(rbr); w.put(ier); w.put(lcr); w.put(mcr); w.put(scr); w.put(dll); w.put(dlm)
        w.put(fifoEnabled)
        w.put(UInt8(triggerLevel))
        w.put(lineErrors); w.put(modemDeltas)
        w.put(transmitterInterrupt)
        w.put(inputReleased)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("UART")
        let queue = Array(try r.getBytes())
        let head = Int(try r.get("UART host queue position", UInt32.self) { Int($0) <= queue.count })
        let rx = Array(try r.getBytes(limit: 16))
        let newRBR: UInt8 = try r.get()
        let newIER: UInt8 = try r.get("UART IER", mask: 0x0F)
        let newLCR: UInt8 = try r.get()
        let newMCR: UInt8 = try r.get("UART MCR", mask: 0x1F)
        let newSCR: UInt8 = try r.get()
        let newDLL: UInt8 = try r.get()
        let newDLM: UInt8 = try r.get()
        let fifoOn = try r.getBool()
        guard rx.count <= (fifoOn ? 16 : 1) else {
            throw StateError("snapshot corrupt: \(rx.count) bytes in the UART's receive buffer with FIFOs \(fifoOn ? "on" : "off")")
        }
        let trigger = Int(try r.get("UART trigger level", UInt8.self) { [1, 4, 8, 14].contains($0) })
        let errors: UInt8 = try r.get("UART line errors", mask: Self.lsrErrors)
        let deltas: UInt8 = try r.get("UART modem deltas", mask: 0x0F)
        let thre = try r.getBool()
        let released = try r.getBool()
        return {
            self.inputReleased = released
            self.hostQueue = queue
            self.hostHead = head
            self.fifo = rx
            self.rbr = newRBR
            self.ier = newIER
            self.lcr = newLCR
            self.mcr = newMCR
            self.scr = newSCR
            self.dll = newDLL
            self.dlm = newDLM
            self.fifoEnabled = fifoOn
            self.triggerLevel = trigger
            self.lineErrors = errors
            self.modemDeltas = deltas
            self.transmitterInterrupt = thre
        }
    }
}
