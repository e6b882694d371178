import X86Core

// The machine's part of a snapshot: everything outside the CPU and RAM (saved by X86Core's own
// sections). A snapshot is restored into a freshly built machine of the same configuration
// (memory size, RTC start): what `init` fixes and the wiring (device references, the bus's port
// map, callbacks, the MMIO observer, the input source) are not saved. Neither is `strictIO`, a
// run option the caller sets, like the run limits.
//
// Layout, each section behind its tag:
//
//     MACH  stop request (tag byte + payload), port accesses, interrupts delivered,
//           fruitless wakeups
//     CLCK  LINE  PICS  PITS  CMOS  SYSC  KBDC  VGAT  UART  LAPC  IOAP  DBGP  FWCF  ACPI  PCTD  IOBS  IDEC

extension StopReason {
    /// The tag byte of each case (0 is "no stop request").
    static func save(_ reason: StopReason?, to w: inout StateWriter) {
        switch reason {
        case nil: w.put(UInt8(0))
        case .debugExit(let status): w.put(UInt8(1)); w.put(status)
        case .haltedWithInterruptsOff: w.put(UInt8(2))
        case .idleForever: w.put(UInt8(3))
        case .tripleFault: w.put(UInt8(4))
        case .instructionLimit: w.put(UInt8(5))
        case .timeout: w.put(UInt8(6))
        case .notImplemented(let eip, let what): w.put(UInt8(7)); w.put(eip); w.put(what)
        case .resetRequested: w.put(UInt8(8))
        case .unknownPort(let port, let isIn): w.put(UInt8(9)); w.put(port); w.put(isIn)
        case .breakpoint: w.put(UInt8(10))
        case .powerOff: w.put(UInt8(11))
        case .userQuit: w.put(UInt8(12))
        case .guestPanic(let line): w.put(UInt8(13)); w.put(line)
        }
    }

    static func restored(from r: inout StateReader) throws(StateError) -> StopReason? {
        let at = r.offset
        switch try r.get(UInt8.self) {
        case 0: return nil
        case 1: return .debugExit(try r.get())
        case 2: return .haltedWithInterruptsOff
        case 3: return .idleForever
        case 4: return .tripleFault
        case 5: return .instructionLimit
        case 6: return .timeout
        case 7: return .notImplemented(eip: try r.get(), what: try r.getString(limit: 1 << 16))
        case 8: return .resetRequested
        case 9: return .unknownPort(port: try r.get(), isIn: try r.getBool())
        case 10: return .breakpoint
        case 11: return .powerOff
        case 12: return .userQuit
        case 13: return .guestPanic(try r.getString(limit: 1 << 16))
        case let t: throw StateError("snapshot corrupt: stop reason \(t) at byte \(at)")
        }
    }
}

extension PCMachine {
    /// Appends the state of every device, the clock, the interrupt lines and the machine's
    /// counters (not the CPU or RAM), in a fixed order, each section behind a 4-letter tag.
    public func saveState(to w: inout StateWriter) {
        w.tag("MACH")
        StopReason.save(stopRequest, to: &w)
        w.put(portAccesses)
        w.put(interruptsDelivered)
        w.put(UInt32(fruitlessWakeups))
        clock.saveState(to: &w)
        lines.saveState(to: &w)
        pic.saveState(to: &w)
        pit.saveState(to: &w)
        cmos.saveState(to: &w)
        systemControl.saveState(to: &w)
        keyboard.saveState(to: &w)
        vga.saveState(to: &w)
        uart.saveState(to: &w)
        lapic.saveState(to: &w)
        ioapic.saveState(to: &w)
        debugPorts.saveState(to: &w)
        firmwareConfig.saveState(to: &w)
        acpi.saveState(to: &w)
        saveTestDevice(to: &w)
        bus.saveState(to: &w)
        ide.saveState(to: &w)
        w.tag("LNXW")
        w.put(panicWatch != nil)
        if let watch = panicWatch {
            w.put(watch.panicLine != nil)
            w.put(watch.panicLine ?? "")
            w.put(bytes: watch.partialLine)
        }
    }

    /// Reads what `saveState` wrote into this machine, built with the same configuration. Every
    /// section is read and checked before anything changes: on a throw the machine is untouched.
    /// The CPU's pending-interrupt flag is the runner's to recompute (it does before each burst).
    public func restoreState(from r: inout StateReader) throws(StateError) {
        try r.expect("MACH")
        let stop = try StopReason.restored(from: &r)
        let ports: UInt64 = try r.get()
        let delivered: UInt64 = try r.get()
        let fruitless = Int(try r.get("fruitless wakeups", UInt32.self) { Int($0) <= Self.fruitlessWakeupLimit })
        let commits = [
            try clock.readState(from: &r),
            try lines.readState(from: &r),
            try pic.readState(from: &r),
            try pit.readState(from: &r),
            try cmos.readState(from: &r),
            try systemControl.readState(from: &r),
            try keyboard.readState(from: &r),
            try vga.readState(from: &r),
            try uart.readState(from: &r),
            try lapic.readState(from: &r),
            try ioapic.readState(from: &r),
            try debugPorts.readState(from: &r),
            try firmwareConfig.readState(from: &r),
            try acpi.readState(from: &r),
            try readTestDevice(from: &r),
            try bus.readState(from: &r),
            try ide.readState(from: &r),
            try readPanicWatch(from: &r),
        ]
        stopRequest = stop
        portAccesses = ports
        interruptsDelivered = delivered
        fruitlessWakeups = fruitless
        for commit in commits { commit() }
    }
}

extension PCMachine {
    /// "LNXW": whether the Linux panic watch is armed, the panic line it saw and the line it is
    /// receiving (a resumed bzImage run still stops on a panic).
    func readPanicWatch(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("LNXW")
        guard try r.getBool() else { return {} }
        let seen = try r.getBool()
        let line = try r.getString(limit: 1 << 16)
        let partial = Array(try r.getBytes(limit: LinuxPanicWatch.maxLine))
        return {
            self.watchForLinuxPanic()
            self.panicWatch?.restore(panicLine: seen ? line : nil, partialLine: partial)
        }
    }
}
