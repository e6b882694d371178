import X86Core

// Snapshot state of the 8042 and its PS/2 keyboard: the controller's registers, the output
// buffer (source and byte), the controller byte waiting, the keyboard's replies, buffer and
// modes, and the host-side queue of typed key events not yet delivered (so a resumed run types
// the rest). The reset callback and the interrupt lines are wiring.

extension Keyboard8042 {
    /// Section "KBDC".
    public func saveState(to w: inout StateWriter) {
        w.tag("KBDC")
        w.put(status)
        w.put(commandByte)
        w.put(outputPort)
        w.put(pendingCommand)
        w.put(source?.rawValue)
        w.put(outputData)
        w.put(controllerByte)
        w.put(controllerByteIsAux)
        w.put(droppedKeys)
        let events = typed[typedHead...].map { e -> UInt16 in
            UInt16(e.key.code) | (e.key.extended ? 0x100 : 0) | (e.release ? 0x200 : 0)
        }
        w.put(UInt32(events.count))
        for e in events { w.put(e) }
        keyboard.saveState(to: &w)
    }

    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("KBDC")
        let newStatus: UInt8 = try r.get("8042 status", mask: 0x1C)
        let command: UInt8 = try r.get()
        let port: UInt8 = try r.get()
        let pending = try r.getOptional("8042 pending command", UInt8.self) { [0x60, 0xD1, 0xD2, 0xD3, 0xD4].contains($0) }
        let from = try r.getOptional("8042 output source", UInt8.self) { Source(rawValue: $0) != nil }
        let data: UInt8 = try r.get()
        let cb = try r.getOptional(UInt8.self)
        let cbAux = try r.getBool()
        let dropped: UInt64 = try r.get()
        let count = try r.getCount(limit: Self.typedLimit)
        var events: [KeyEvent] = []
        for _ in 0..<count {
            let e: UInt16 = try r.get("typed key event", mask: 0x3FF)
            events.append(KeyEvent(Key(UInt8(e & 0xFF), extended: e & 0x100 != 0), release: e & 0x200 != 0))
        }
        let installKeyboard = try keyboard.readState(from: &r)
        return {
            self.status = newStatus
            self.commandByte = command
            self.outputPort = port
            self.pendingCommand = pending
            self.source = from.flatMap(Source.init(rawValue:))
            self.outputData = data
            self.controllerByte = cb
            self.controllerByteIsAux = cbAux
            self.droppedKeys = dropped
            self.typed = events
            self.typedHead = 0
            installKeyboard()
        }
    }
}

extension PS2Keyboard {
    func saveState(to w: inout StateWriter) {
        w.put(bytes: replies)
        w.put(bytes: buffer)
        w.put(lastByte)
        w.put(parameterFor)
        w.put(scanning)
        w.put(scanSet)
        w.put(translate)
        w.put(breakPrefix)
        w.put(leds)
        w.put(droppedBytes)
    }

    func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        let newReplies = Array(try r.getBytes(limit: 3))
        let newBuffer = Array(try r.getBytes(limit: Self.bufferSize))
        let last: UInt8 = try r.get()
        let parameter = try r.getOptional("keyboard command", UInt8.self) { [0xED, 0xF0, 0xF3, 0xFB].contains($0) }
        let scan = try r.getBool()
        let set: UInt8 = try r.get("scan code set", UInt8.self) { (1...3).contains($0) }
        let translation = try r.getBool()
        let prefix = try r.getBool()
        let newLEDs: UInt8 = try r.get("keyboard LEDs", mask: 0x07)
        let dropped: UInt64 = try r.get()
        return {
            self.replies = newReplies
            self.buffer = newBuffer
            self.lastByte = last
            self.parameterFor = parameter
            self.scanning = scan
            self.scanSet = set
            self.translate = translation
            self.breakPrefix = prefix
            self.leds = newLEDs
            self.droppedBytes = dropped
        }
    }
}
