import Testing
import X86Core
import Machine

/// A machine whose keyboard controller is driven through the bus, with virtual time past the
/// typing start so typed keys flow.
private func machine(typing: Bool = true) -> PCMachine {
    let m = PCMachine(memorySize: 1 << 20)
    if typing { m.cpu.statePointer.pointee.instructions = Keyboard8042.typingStart / 10 }
    return m
}

private func out(_ m: PCMachine, _ port: UInt16, _ v: UInt8) { m.bus.write(port: port, size: 1, value: UInt32(v)) }
private func inb(_ m: PCMachine, _ port: UInt16) -> UInt8 { UInt8(m.bus.read(port: port, size: 1)) }
/// Every byte the controller has, read while OBF is set.
private func drain(_ m: PCMachine) -> [UInt8] {
    var bytes: [UInt8] = []
    while inb(m, 0x64) & 1 != 0 && bytes.count < 100 { bytes.append(inb(m, 0x60)) }
    return bytes
}

@Test func i8042PowerOnStateIsSeaBIOSs() {
    let m = machine()
    #expect(inb(m, 0x64) == 0x1C)  // SYS, A2 (last write a command), not inhibited
    out(m, 0x64, 0x20)
    #expect(inb(m, 0x64) == 0x1D)
    #expect(inb(m, 0x60) == 0x61)
    #expect(inb(m, 0x60) == 0x61)  // empty: the last byte again
    out(m, 0x64, 0xD0)
    #expect(drain(m) == [0xCF])
}

@Test func i8042StatusA2FollowsTheLastWrite() {
    let m = machine()
    out(m, 0x60, 0xEE)
    #expect(inb(m, 0x64) & 0x08 == 0)
    #expect(drain(m) == [0xEE])
    out(m, 0x64, 0xAB)
    #expect(inb(m, 0x64) & 0x08 != 0)
    #expect(drain(m) == [0x00])
}

@Test func i8042ControllerCommands() {
    let m = machine()
    out(m, 0x64, 0xAA); #expect(drain(m) == [0x55])
    out(m, 0x64, 0xA9); #expect(drain(m) == [0x00])
    out(m, 0x64, 0xC0); #expect(drain(m) == [0x80])
    out(m, 0x64, 0x60); out(m, 0x60, 0x47)
    out(m, 0x64, 0x20); #expect(drain(m) == [0x47])
    out(m, 0x64, 0xAD); out(m, 0x64, 0xA8)
    out(m, 0x64, 0x20); #expect(drain(m) == [0x57 & ~0x20])
    out(m, 0x64, 0xAE); out(m, 0x64, 0xA7)
    out(m, 0x64, 0x20); #expect(drain(m) == [0x67])
}

@Test func i8042ResetsThroughTheOutputPortAndThePulseCommand() {
    let m = machine()
    out(m, 0x64, 0xD1); out(m, 0x60, 0xDD)  // A20 off is ignored, bit 0 set: no reset
    #expect(m.stopRequest == nil)
    out(m, 0x64, 0xD0); #expect(drain(m) == [0xCF])  // A20 reads 1; bits 4–5 are the OBF flags
    out(m, 0x64, 0xFF)  // pulses nothing
    #expect(m.stopRequest == nil)
    out(m, 0x64, 0xFE)
    #expect(m.stopRequest == .resetRequested)
    m.stopRequest = nil
    out(m, 0x64, 0xD1); out(m, 0x60, 0xCE)
    #expect(m.stopRequest == .resetRequested)
}

@Test func keyboardCommandsAndReplies() {
    let m = machine()
    out(m, 0x60, 0xF2); #expect(drain(m) == [0xFA, 0xAB, 0x41])
    out(m, 0x64, 0x60); out(m, 0x60, 0x21)  // translation off
    out(m, 0x60, 0xF2); #expect(drain(m) == [0xFA, 0xAB, 0x83])
    out(m, 0x60, 0xF0); #expect(drain(m) == [0xFA])
    out(m, 0x60, 0x00); #expect(drain(m) == [0xFA, 0x02])
    out(m, 0x60, 0xF0); out(m, 0x60, 0x07)  // the unread ACK is dropped by the next byte
    #expect(drain(m) == [0xFE])
    out(m, 0x60, 0xED); #expect(drain(m) == [0xFA])
    out(m, 0x60, 0x05); #expect(drain(m) == [0xFA])
    #expect(m.keyboard.keyboard.leds == 0x05)
    out(m, 0x60, 0xF3); #expect(drain(m) == [0xFA])
    out(m, 0x60, 0x7F); #expect(drain(m) == [0xFA])
    out(m, 0x60, 0xEE); #expect(drain(m) == [0xEE])
    out(m, 0x60, 0x42); #expect(drain(m) == [0xFE])
    out(m, 0x60, 0xFF); #expect(drain(m) == [0xFA, 0xAA])
    #expect(m.keyboard.keyboard.leds == 0 && m.keyboard.keyboard.scanSet == 2)
    out(m, 0x60, 0xF5); #expect(drain(m) == [0xFA])
    #expect(!m.keyboard.keyboard.scanning)
    out(m, 0x60, 0xF4); #expect(drain(m) == [0xFA])
    // A new command drops a reply not yet read.
    out(m, 0x60, 0xF2)
    out(m, 0x60, 0xEE)
    #expect(drain(m) == [0xEE])
}

@Test func irq1FollowsTheOutputBufferAndTheCommandByte() {
    let m = machine()
    out(m, 0x60, 0xEE)
    #expect(m.lines.isHigh(1))
    _ = inb(m, 0x60)
    #expect(!m.lines.isHigh(1))
    out(m, 0x64, 0x60); out(m, 0x60, 0x60)  // IRQ1 off
    out(m, 0x64, 0xD2); out(m, 0x60, 0x1C)
    #expect(!m.lines.isHigh(1) && inb(m, 0x64) & 1 == 1)
    #expect(inb(m, 0x60) == 0x1C)  // not translated
    out(m, 0x64, 0x60); out(m, 0x60, 0x63)  // IRQ1 and IRQ12 on
    out(m, 0x64, 0xD3); out(m, 0x60, 0x5A)
    #expect(inb(m, 0x64) & 0x21 == 0x21 && m.lines.isHigh(12) && !m.lines.isHigh(1))
    #expect(inb(m, 0x60) == 0x5A && !m.lines.isHigh(12))
    // Interface disabled: keyboard bytes wait, no IRQ1.
    out(m, 0x64, 0xAD)
    m.keyboard.keyboard.send(KeyEvent(Key(0x1C), release: false))
    m.keyboard.deliverTyped()
    #expect(inb(m, 0x64) & 1 == 0 && !m.lines.isHigh(1))
    out(m, 0x64, 0xAE)
    #expect(m.lines.isHigh(1))
    #expect(inb(m, 0x60) == 0x1E)  // set 2 'a' translated
}

@Test func typedKeysArriveOneAtATimeAsTheGuestReads() {
    let m = machine()
    var decoder = KeyDecoder()
    m.keyboard.type(decoder.decode(Array("aB\u{1B}[A".utf8)))
    var got: [UInt8] = []
    for _ in 0..<40 {
        guard inb(m, 0x64) & 1 != 0 else { break }
        got.append(inb(m, 0x60))
    }
    #expect(got == [0x1E, 0x9E, 0x2A, 0x30, 0xB0, 0xAA, 0xE0, 0x48, 0xE0, 0xC8])
    #expect(m.keyboard.typedPending == 0)
}

@Test func typedKeysWaitForTheTypingStartAndForScanning() {
    let m = machine(typing: false)
    m.keyboard.type(ScanCodes.keystroke(Key(0x1C)))
    #expect(inb(m, 0x64) & 1 == 0)
    #expect(m.keyboard.nextDeadline() == Keyboard8042.typingStart)
    m.cpu.statePointer.pointee.instructions = Keyboard8042.typingStart / 10
    out(m, 0x60, 0xF5)  // scanning off: the key waits
    #expect(drain(m) == [0xFA])
    #expect(inb(m, 0x64) & 1 == 0)
    out(m, 0x60, 0xF4)
    #expect(drain(m) == [0xFA, 0x1E, 0x9E])
}

@Test func typedKeysInSet2WithoutTranslation() {
    let m = machine()
    out(m, 0x64, 0x60); out(m, 0x60, 0x21)
    m.keyboard.type(ScanCodes.keystroke(.delete))
    #expect(drain(m) == [0xE0, 0x71, 0xE0, 0xF0, 0x71])
}

@Test func aFloodIsBoundedAndCounted() {
    let m = machine()
    let k = m.keyboard.keyboard
    for _ in 0..<40 { k.send(KeyEvent(Key(0x1C), release: false)) }
    #expect(k.buffered == PS2Keyboard.bufferSize)
    #expect(k.droppedBytes == 24)
    let many = [KeyEvent](repeating: KeyEvent(Key(0x1C), release: false), count: Keyboard8042.typedLimit + 10)
    m.keyboard.type(many)
    #expect(m.keyboard.droppedKeys == 10)
}

@Test func setTwoTranslatesToTheIBMSetOneCodes() {
    // Set-1 codes of the IBM tables for the keys x86v types.
    let set1: [(Key, UInt8)] = [
        (.escape, 0x01), (.backspace, 0x0E), (.tab, 0x0F), (.enter, 0x1C), (.space, 0x39),
        (.leftShift, 0x2A), (.leftControl, 0x1D), (.up, 0x48), (.down, 0x50), (.left, 0x4B),
        (.right, 0x4D), (.home, 0x47), (.end, 0x4F), (.pageUp, 0x49), (.pageDown, 0x51),
        (.insert, 0x52), (.delete, 0x53),
    ]
    for (key, code) in set1 { #expect(key.bytes(set: 1, release: false).last == code) }
    let fkeys: [UInt8] = [0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x41, 0x42, 0x43, 0x44, 0x57, 0x58]
    #expect(Key.function.map { $0.bytes(set: 1, release: false)[0] } == fkeys)
    // "qwertyuiop" is 0x10–0x19, "asdfghjkl" 0x1E–0x26, "zxcvbnm" 0x2C–0x32, "1234567890" 0x02–0x0B.
    var d = KeyDecoder()
    let rows: [(String, UInt8)] = [("qwertyuiop", 0x10), ("asdfghjkl", 0x1E), ("zxcvbnm", 0x2C), ("1234567890", 0x02)]
    for (letters, first) in rows {
        let makes = d.decode(Array(letters.utf8)).filter { !$0.release }.map { $0.key.bytes(set: 1, release: false)[0] }
        #expect(makes == (0..<UInt8(letters.count)).map { first + $0 })
    }
}

@Test func keyDecoderHandlesControlKeysAndSplitSequences() {
    var d = KeyDecoder()
    #expect(d.decode([0x03]) == ScanCodes.keystroke(Key(0x21), control: true))
    #expect(d.decode([0x1B, 0x5B]).isEmpty && d.isHoldingSequence)
    #expect(d.decode([0x33, 0x7E]) == ScanCodes.keystroke(.delete))
    #expect(d.decode([0x1B]).isEmpty)
    #expect(d.flush() == ScanCodes.keystroke(.escape))
    #expect(d.decode(Array("\u{1B}OP\u{1B}[24~\u{1B}[1;5C".utf8)) ==
            ScanCodes.keystroke(Key.function[0]) + ScanCodes.keystroke(Key.function[11]) + ScanCodes.keystroke(.right))
    #expect(d.decode([0xC3, 0xA9]).isEmpty && d.ignored == 2)
    #expect(d.decode([0x0D, 0x0A, 0x7F]) == ScanCodes.keystroke(.enter) + ScanCodes.keystroke(.enter) + ScanCodes.keystroke(.backspace))
}

@Test func keyboardSnapshotRoundTrip() throws {
    let a = machine()
    out(a, 0x60, 0xF2)
    _ = inb(a, 0x60)
    a.keyboard.type(ScanCodes.keystroke(.up) + ScanCodes.keystroke(Key(0x1C)))
    var w = StateWriter()
    a.keyboard.saveState(to: &w)
    let b = machine()
    var r = StateReader(w.bytes)
    try b.keyboard.restoreState(from: &r)
    #expect(drain(b) == drain(a))
    #expect(b.keyboard.typedPending == 0)
}
