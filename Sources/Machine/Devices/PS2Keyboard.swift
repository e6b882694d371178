/// A PS/2 (MF2) keyboard on the 8042's keyboard port: the commands a host sends it, its
/// replies, and its 16-byte scan-code buffer (IBM PS/2 Keyboard and Auxiliary Device Technical
/// Reference, "Commands from the system"; QEMU's ps2.c for where a choice was needed).
///
/// ```
/// command  reply            command  reply
///  0xED    FA, byte → FA     0xF4    FA (scanning on)
///  0xEE    EE (echo)         0xF5    FA (defaults, scanning off)
///  0xF0    FA, n → FA        0xF6    FA (defaults, scanning on)
///          (0 → FA, set)     0xFA    FA
///  0xF2    FA AB 83          0xFB    FA, byte → FA
///          (AB 41 translated) 0xFF   FA AA (reset: defaults, buffer cleared)
///  0xF3    FA, byte → FA     0x00    FA;  0x05, others → FE (resend)
/// ```
///
/// Model choices, as QEMU's:
/// - Replies to commands are read before any scan code still buffered, and a new command
///   discards replies the host has not read yet.
/// - With translation on (the controller's command byte bit 6) the keyboard's bytes pass the
///   8042's set-2 → set-1 table on the way out; replies (FA, AA, EE, FE) do not, except the ID's
///   second byte (0x83 → 0x41) and the scan-set number.
/// - The scan-code buffer holds 16 bytes; a byte that does not fit is dropped and counted
///   (`droppedBytes`). Host typing never overflows it: the controller hands the keyboard a key
///   only when the buffer is empty (Keyboard8042).
/// - Set 3 is accepted and reported, but keys are sent in set 2 codes (no guest of interest uses
///   set 3; QEMU's set-3 table is its own).
/// - Reading with nothing buffered returns the last byte again (QEMU: "needed for EMM386").
public final class PS2Keyboard {
    public static let bufferSize = 16

    static let ack: UInt8 = 0xFA, resend: UInt8 = 0xFE, selfTestPassed: UInt8 = 0xAA

    /// Command replies not yet read (in front of the scan codes).
    var replies: [UInt8] = []
    /// Scan codes (already translated if translation is on).
    var buffer: [UInt8] = []
    /// The byte read last (what a read of an empty keyboard returns).
    var lastByte: UInt8 = 0
    /// The command whose parameter byte comes next (0xED, 0xF0, 0xF3 or 0xFB).
    var parameterFor: UInt8? = nil
    /// Keys are sent only while scanning is enabled (0xF4; 0xF5 disables).
    public internal(set) var scanning = true
    /// The scan code set, 1–3 (2 after reset).
    public internal(set) var scanSet: UInt8 = 2
    /// Set by the controller: translate to set 1 (command byte bit 6).
    var translate = true
    /// The last set-2 byte was 0xF0 (a break prefix): the translated next byte gets bit 7.
    var breakPrefix = false
    /// LED state from 0xED: bit 0 Scroll Lock, 1 Num Lock, 2 Caps Lock.
    public internal(set) var leds: UInt8 = 0
    /// Bytes dropped because the buffer was full.
    public internal(set) var droppedBytes: UInt64 = 0

    public init() {}

    /// Something for the controller to read.
    var hasData: Bool { !replies.isEmpty || !buffer.isEmpty }
    /// Nothing buffered (the controller may hand over the next typed key).
    var isEmpty: Bool { replies.isEmpty && buffer.isEmpty }

    /// The next byte for the controller's output buffer.
    func read() -> UInt8 {
        if !replies.isEmpty {
            lastByte = replies.removeFirst()
        } else if !buffer.isEmpty {
            lastByte = buffer.removeFirst()
        }
        return lastByte
    }

    /// Queues one byte of a key's code, in the current set, through the translation.
    func put(_ byte: UInt8) {
        var out = byte
        if translate {
            if byte == 0xF0 {
                breakPrefix = true
                return
            }
            out = ScanCodes.translation[Int(byte)] | (breakPrefix ? 0x80 : 0)
            breakPrefix = false
        }
        guard buffer.count < Self.bufferSize else {
            droppedBytes &+= 1
            return
        }
        buffer.append(out)
    }

    /// Scan-code bytes waiting (not command replies).
    public var buffered: Int { buffer.count }

    /// A key going down or up, sent at once in the current set (the controller's typing queue
    /// calls this when the buffer is empty; anything else sending keys may overflow it).
    public func send(_ event: KeyEvent) {
        for b in event.key.bytes(set: scanSet == 1 ? 1 : 2, release: event.release) { put(b) }
    }

    /// Defaults (0xF5, 0xF6, 0xFF): set 2, LEDs off, buffer cleared.
    func setDefaults() {
        scanSet = 2
        leds = 0
        buffer.removeAll()
        replies.removeAll()
        breakPrefix = false
        parameterFor = nil
    }

    /// A byte from the host (through the controller's port 0x60).
    func write(_ byte: UInt8) {
        replies.removeAll()
        if let command = parameterFor {
            parameterFor = nil
            parameter(byte, for: command)
            return
        }
        switch byte {
        case 0xED, 0xF3, 0xFB:
            parameterFor = byte
            replies = [Self.ack]
        case 0xF0:
            parameterFor = byte
            replies = [Self.ack]
        case 0xEE: replies = [0xEE]
        case 0xF2: replies = [Self.ack, 0xAB, translate ? 0x41 : 0x83]
        case 0xF4:
            scanning = true
            replies = [Self.ack]
        case 0xF5:
            setDefaults()
            scanning = false
            replies = [Self.ack]
        case 0xF6:
            setDefaults()
            scanning = true
            replies = [Self.ack]
        case 0xFF:
            setDefaults()
            scanning = true
            replies = [Self.ack, Self.selfTestPassed]
        case 0x00, 0xFA: replies = [Self.ack]
        default: replies = [Self.resend]
        }
    }

    func parameter(_ byte: UInt8, for command: UInt8) {
        switch command {
        case 0xED:
            leds = byte & 0x07
            replies = [Self.ack]
        case 0xF0:
            switch byte {
            case 0: replies = [Self.ack, translate ? ScanCodes.translation[Int(scanSet)] : scanSet]
            case 1...3:
                scanSet = byte
                replies = [Self.ack]
            default: replies = [Self.resend]
            }
        default:  // 0xF3 typematic rate/delay, 0xFB make/break per key: accepted, nothing changes
            replies = [Self.ack]
        }
    }
}
