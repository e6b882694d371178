/// The 8042 keyboard controller (ports 0x60 data, 0x64 status/command) with a PS/2 keyboard on
/// its keyboard port and nothing on its auxiliary (mouse) port; IRQ1 for keyboard bytes, IRQ12
/// for bytes put in the auxiliary buffer with 0xD3. (IBM PS/2 Hardware Interface Technical
/// Reference, "Keyboard/Auxiliary Device Controller"; QEMU 7.2's pckbd.c where a choice was
/// needed.)
///
/// ```
/// status (0x64 read)                       command byte (0x20 read / 0x60 write)
///  bit 0 OBF   output buffer full           bit 0 keyboard interrupt (IRQ1)
///  bit 1 IBF   always 0: writes act at once bit 1 auxiliary interrupt (IRQ12)
///  bit 2 SYS   set by self-test 0xAA        bit 2 system flag
///  bit 3 A2    last write: 1 = 0x64, 0 = 0x60   bit 4 keyboard interface disabled
///  bit 4 INH   1 = not inhibited (no keylock)   bit 5 auxiliary interface disabled
///  bit 5 AOBF  the byte is from the aux port    bit 6 translate set 2 → set 1
/// ```
///
/// Model choices:
/// - One output buffer byte, filled from three sources in QEMU's order: a controller reply
///   (0x20, 0xAA, 0xD0, 0xD2…), then an 0xD3 byte (auxiliary), then the keyboard. The byte
///   is taken from its source when the guest reads 0x60, and the next one moves in at once.
///   Reading 0x60 with the buffer empty returns the byte read last.
/// - IRQ1 is high while the buffer holds a keyboard or controller byte, the command byte
///   enables it and the keyboard interface is enabled; reading 0x60 lowers it, and the next
///   byte raises it again (an edge for each byte).
/// - Keyboard bytes wait while the interface is disabled (0xAD, command byte bit 4); a byte
///   written to the keyboard enables it again (QEMU).
/// - The status SYS bit follows the self-test only, not command byte bit 2 (QEMU); A2 follows
///   the last write, as the datasheet says (QEMU leaves it set).
/// - A20 is never masked (see SystemControl): output port bit 1 reads 1 whatever is written,
///   0xDD does nothing. Writing the output port with bit 0 clear, or pulsing it (0xF0–0xFE with
///   bit 0 clear), resets the machine (`onReset`).
/// - No mouse: 0xA9 (auxiliary interface test) answers 0x00 as QEMU's (the lines are fine),
///   bytes for the mouse (0xD4) are dropped unanswered.
/// - Host typing (`type`): key events wait in a host-side queue, and the keyboard gets the next
///   one only when its buffer is empty, the output buffer is empty, scanning is on, the
///   interface is enabled, and virtual time has passed `typingStart` (so a guest finds its
///   keyboard quiet while it boots and sets up its interrupt controllers). Nothing typed is
///   lost and the same input reaches the same instructions every run.
public final class Keyboard8042: PortDevice {
    /// Called when the guest asks for a CPU reset.
    public var onReset: () -> Void = {}
    public let keyboard = PS2Keyboard()
    let lines: InterruptLines
    let clock: VirtualClock

    static let irq = 1, auxIRQ = 12
    // Status bits.
    static let outputFull: UInt8 = 0x01, systemFlag: UInt8 = 0x04, lastWasCommand: UInt8 = 0x08
    static let notInhibited: UInt8 = 0x10, auxOutputFull: UInt8 = 0x20
    // Command byte bits.
    static let keyboardInterrupt: UInt8 = 0x01, auxInterrupt: UInt8 = 0x02
    static let keyboardDisabled: UInt8 = 0x10, auxDisabled: UInt8 = 0x20, translation: UInt8 = 0x40

    /// Virtual time (ns) before which typed keys are held back: 100 ms, 10 M instructions.
    public static let typingStart: UInt64 = 100_000_000
    /// Typed key events held on the host side at most; more are dropped and counted.
    public static let typedLimit = 1 << 16

    /// Where the byte in the output buffer came from (nil: the buffer is empty).
    enum Source: UInt8 { case controller = 1, aux = 2, keyboard = 3 }

    /// SYS, A2 and INH as SeaBIOS leaves them (self-test run, last write a command).
    var status: UInt8 = systemFlag | lastWasCommand | notInhibited
    /// The command byte as SeaBIOS leaves it: keyboard interrupt on, auxiliary port disabled,
    /// translation on (0x61, read back from QEMU 7.2).
    var commandByte: UInt8 = 0x61
    /// Output port: bits 2–3 and 6–7 ones, A20 and not-reset (0xCF, QEMU after SeaBIOS).
    var outputPort: UInt8 = 0xCF
    /// The controller command whose data byte the next write to 0x60 is (0x60, 0xD1–0xD4).
    var pendingCommand: UInt8? = nil
    var source: Source? = nil
    /// What 0x60 reads (the byte taken from its source at the last read).
    var outputData: UInt8 = 0
    /// A controller reply or 0xD2/0xD3 byte waiting, and whether it is the auxiliary's.
    var controllerByte: UInt8? = nil
    var controllerByteIsAux = false
    /// Typed key events not yet given to the keyboard; `typedHead` indexes the next.
    var typed: [KeyEvent] = []
    var typedHead = 0
    /// Key events dropped because `typedLimit` were already waiting.
    public internal(set) var droppedKeys: UInt64 = 0

    public init(lines: InterruptLines, clock: VirtualClock) {
        self.lines = lines
        self.clock = clock
    }

    // MARK: Host typing

    /// Key events typed on the host, delivered in order as the guest reads them.
    public func type(_ events: [KeyEvent]) {
        compactTyped()
        let room = max(0, Self.typedLimit - (typed.count - typedHead))
        typed.append(contentsOf: events.prefix(room))
        if events.count > room { droppedKeys &+= UInt64(events.count - room) }
        deliverTyped()
    }

    /// Typed events still waiting for the guest.
    public var typedPending: Int { typed.count - typedHead }

    /// When the first typed key is due (the machine stops a sleeping CPU then), if one waits.
    public func nextDeadline() -> UInt64? {
        typedPending > 0 && clock.now < Self.typingStart ? Self.typingStart : nil
    }

    func compactTyped() {
        if typedHead > 0 && typedHead == typed.count {
            typed.removeAll(keepingCapacity: true)
            typedHead = 0
        } else if typedHead > 4096 {
            typed.removeFirst(typedHead)
            typedHead = 0
        }
    }

    /// Gives the keyboard the next typed key when the guest has taken everything before it.
    public func deliverTyped() {
        guard typedHead < typed.count, source == nil, controllerByte == nil, keyboard.isEmpty,
              keyboard.scanning, commandByte & Self.keyboardDisabled == 0, clock.now >= Self.typingStart
        else { return }
        keyboard.send(typed[typedHead])
        typedHead += 1
        compactTyped()
        fillOutput()
    }

    // MARK: Output buffer and interrupts

    /// The next byte's source, by priority; keyboard bytes wait while the interface is disabled.
    var nextSource: Source? {
        if controllerByte != nil { return controllerByteIsAux ? .aux : .controller }
        if keyboard.hasData && commandByte & Self.keyboardDisabled == 0 { return .keyboard }
        return nil
    }

    /// Moves the next byte in if the output buffer is empty.
    func fillOutput() {
        if source == nil { source = nextSource }
        updateIRQ()
    }

    func updateIRQ() {
        let full = source != nil
        let aux = source == .aux
        lines.set(Self.irq, high: full && !aux && commandByte & Self.keyboardInterrupt != 0
                      && commandByte & Self.keyboardDisabled == 0)
        lines.set(Self.auxIRQ, high: full && aux && commandByte & Self.auxInterrupt != 0)
    }

    /// A controller reply (or an 0xD2/0xD3 byte); it replaces one not yet read.
    func reply(_ byte: UInt8, aux: Bool = false) {
        controllerByte = byte
        controllerByteIsAux = aux
        fillOutput()
    }

    var statusRegister: UInt8 {
        var s = status
        if source != nil { s |= Self.outputFull }
        if source == .aux { s |= Self.auxOutputFull }
        return s
    }

    // MARK: Ports

    public func read(port: UInt16, size: Int) -> UInt32 {
        switch port {
        case 0x64: return UInt32(statusRegister)
        case 0x60: return UInt32(readData())
        default: return 0xFF
        }
    }

    func readData() -> UInt8 {
        guard let from = source else { return outputData }
        source = nil
        updateIRQ()
        switch from {
        case .keyboard: outputData = keyboard.read()
        case .controller, .aux:
            outputData = controllerByte ?? outputData
            controllerByte = nil
        }
        fillOutput()
        deliverTyped()
        return outputData
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        let v = UInt8(truncatingIfNeeded: value)
        switch port {
        case 0x64:
            status |= Self.lastWasCommand
            command(v)
        case 0x60:
            status &= ~Self.lastWasCommand
            writeData(v)
        default: return
        }
        deliverTyped()
    }

    func writeData(_ v: UInt8) {
        let pending = pendingCommand
        pendingCommand = nil
        switch pending {
        case 0x60:
            commandByte = v
            keyboard.translate = v & Self.translation != 0
            updateIRQ()
            fillOutput()
        case 0xD1:
            outputPort = v | 0x02
            if v & 1 == 0 { onReset() }
        case 0xD2: reply(v)
        case 0xD3: reply(v, aux: true)
        case 0xD4: break  // to the mouse: there is none
        default:
            keyboard.write(v)
            // Sending to the keyboard enables its interface again (QEMU).
            commandByte &= ~Self.keyboardDisabled
            fillOutput()
        }
    }

    func command(_ c: UInt8) {
        pendingCommand = nil
        switch c {
        case 0x20: reply(commandByte)
        case 0x60, 0xD1, 0xD2, 0xD3, 0xD4: pendingCommand = c
        case 0xA7: commandByte |= Self.auxDisabled
        case 0xA8: commandByte &= ~Self.auxDisabled
        case 0xA9: reply(0x00)  // auxiliary interface test: no fault on the lines
        case 0xAA:
            status |= Self.systemFlag
            reply(0x55)  // self-test passed
        case 0xAB: reply(0x00)  // keyboard interface test passed
        case 0xAD:
            commandByte |= Self.keyboardDisabled
            updateIRQ()
        case 0xAE:
            commandByte &= ~Self.keyboardDisabled
            fillOutput()
        case 0xC0: reply(0x80)  // input port: keyboard not inhibited
        case 0xD0:
            // The output port's bits 4–5 mirror the buffer-full flags.
            var p = outputPort & ~0x30
            if source != nil { p |= 0x10 }
            if source == .aux { p |= 0x20 }
            reply(p)
        case 0xDD, 0xDF: break  // A20 off/on: it is always on
        case 0xF0...0xFF:
            // Pulse output-port lines for 6 µs; a 0 in bit 0 pulses the reset line (0xFE).
            if c & 1 == 0 { onReset() }
        default: break
        }
    }
}
