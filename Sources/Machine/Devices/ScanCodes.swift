/// Keyboard scan codes: the keys x86v can type, their set-2 codes, the 8042's set-2 → set-1
/// translation table, and host bytes (ASCII, control characters, ANSI escape sequences) turned
/// into key presses on a US layout.
///
/// Only set-2 codes are written down: a key's set-1 code is its set-2 code through the
/// translation table (that is how the two sets are related on the hardware: an AT keyboard sends
/// set 2 and the 8042 translates it for software expecting the XT's set 1), and a unit test
/// checks the result against the set-1 codes of the IBM tables.

/// A physical key: its set-2 make code, and whether it sends the 0xE0 prefix (the extended keys
/// of the 101-key keyboard: arrows, the Insert/Delete/Home/End/Page block).
public struct Key: Equatable, Sendable {
    public let code: UInt8
    public let extended: Bool

    public init(_ code: UInt8, extended: Bool = false) {
        self.code = code
        self.extended = extended
    }

    public static let escape = Key(0x76), backspace = Key(0x66), tab = Key(0x0D), enter = Key(0x5A)
    public static let space = Key(0x29), leftShift = Key(0x12), leftControl = Key(0x14)
    public static let up = Key(0x75, extended: true), down = Key(0x72, extended: true)
    public static let left = Key(0x6B, extended: true), right = Key(0x74, extended: true)
    public static let home = Key(0x6C, extended: true), end = Key(0x69, extended: true)
    public static let pageUp = Key(0x7D, extended: true), pageDown = Key(0x7A, extended: true)
    public static let insert = Key(0x70, extended: true), delete = Key(0x71, extended: true)
    /// F1–F12 (set 2 numbers them in no particular order).
    public static let function: [Key] = [0x05, 0x06, 0x04, 0x0C, 0x03, 0x0B, 0x83, 0x0A, 0x01, 0x09, 0x78, 0x07].map { Key($0) }

    /// The bytes of a make (`release == false`) or break code in scan code set `set` (1, 2 or
    /// 3; set 3 is sent as set 2, see docs/devices.md). Set 1: [E0] code1 (| 0x80 on release);
    /// set 2: [E0] [F0] code2.
    public func bytes(set: UInt8, release: Bool) -> [UInt8] {
        var out: [UInt8] = extended ? [0xE0] : []
        if set == 1 {
            out.append(ScanCodes.translation[Int(code)] | (release ? 0x80 : 0))
        } else {
            if release { out.append(0xF0) }
            out.append(code)
        }
        return out
    }
}

/// A key going down or up.
public struct KeyEvent: Equatable, Sendable {
    public var key: Key
    public var release: Bool
    public init(_ key: Key, release: Bool) {
        self.key = key
        self.release = release
    }
}

public enum ScanCodes {
    /// The 8042's translation of set-2 bytes into set-1 bytes (IBM PS/2 keyboard controller;
    /// the table every 8042 compatible carries, as in QEMU's ps2.c). Index: the set-2 byte.
    /// Break codes are translated by the controller as the prefix 0xF0 followed by the code,
    /// giving the set-1 code with bit 7 set.
    public static let translation: [UInt8] = [
        0xFF, 0x43, 0x41, 0x3F, 0x3D, 0x3B, 0x3C, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3E, 0x0F, 0x29, 0x59,
        0x65, 0x38, 0x2A, 0x70, 0x1D, 0x10, 0x02, 0x5A, 0x66, 0x71, 0x2C, 0x1F, 0x1E, 0x11, 0x03, 0x5B,
        0x67, 0x2E, 0x2D, 0x20, 0x12, 0x05, 0x04, 0x5C, 0x68, 0x39, 0x2F, 0x21, 0x14, 0x13, 0x06, 0x5D,
        0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5E, 0x6A, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5F,
        0x6B, 0x33, 0x25, 0x17, 0x18, 0x0B, 0x0A, 0x60, 0x6C, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0C, 0x61,
        0x6D, 0x73, 0x28, 0x74, 0x1A, 0x0D, 0x62, 0x6E, 0x3A, 0x36, 0x1C, 0x1B, 0x75, 0x2B, 0x63, 0x76,
        0x55, 0x56, 0x77, 0x78, 0x79, 0x7A, 0x0E, 0x7B, 0x7C, 0x4F, 0x7D, 0x4B, 0x47, 0x7E, 0x7F, 0x6F,
        0x52, 0x53, 0x50, 0x4C, 0x4D, 0x48, 0x01, 0x45, 0x57, 0x4E, 0x51, 0x4A, 0x37, 0x49, 0x46, 0x54,
        0x80, 0x81, 0x82, 0x41, 0x54, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F,
    ] + (0x90...0xFF).map { UInt8($0) }

    /// Printable ASCII (0x20–0x7E) on a US keyboard: the key, and whether Shift is held.
    /// Index: byte − 0x20.
    static let printable: [(code: UInt8, shift: Bool)] = {
        // Unshifted and shifted characters of each key, in one list.
        let keys: [(UInt8, Character, Character)] = [
            (0x29, " ", " "), (0x16, "1", "!"), (0x1E, "2", "@"), (0x26, "3", "#"), (0x25, "4", "$"),
            (0x2E, "5", "%"), (0x36, "6", "^"), (0x3D, "7", "&"), (0x3E, "8", "*"), (0x46, "9", "("),
            (0x45, "0", ")"), (0x4E, "-", "_"), (0x55, "=", "+"), (0x54, "[", "{"), (0x5B, "]", "}"),
            (0x5D, "\\", "|"), (0x4C, ";", ":"), (0x52, "'", "\""), (0x0E, "`", "~"), (0x41, ",", "<"),
            (0x49, ".", ">"), (0x4A, "/", "?"),
            (0x1C, "a", "A"), (0x32, "b", "B"), (0x21, "c", "C"), (0x23, "d", "D"), (0x24, "e", "E"),
            (0x2B, "f", "F"), (0x34, "g", "G"), (0x33, "h", "H"), (0x43, "i", "I"), (0x3B, "j", "J"),
            (0x42, "k", "K"), (0x4B, "l", "L"), (0x3A, "m", "M"), (0x31, "n", "N"), (0x44, "o", "O"),
            (0x4D, "p", "P"), (0x15, "q", "Q"), (0x2D, "r", "R"), (0x1B, "s", "S"), (0x2C, "t", "T"),
            (0x3C, "u", "U"), (0x2A, "v", "V"), (0x1D, "w", "W"), (0x22, "x", "X"), (0x35, "y", "Y"),
            (0x1A, "z", "Z"),
        ]
        var table = [(code: UInt8, shift: Bool)](repeating: (0, false), count: 0x5F)
        for (code, plain, shifted) in keys {
            table[Int(plain.asciiValue! - 0x20)] = (code, false)
            if shifted != plain { table[Int(shifted.asciiValue! - 0x20)] = (code, true) }
        }
        return table
    }()

    /// The key events that type one keystroke: Ctrl and Shift go down first and up last, as
    /// QEMU's monitor `sendkey ctrl-shift-x` presses them.
    public static func keystroke(_ key: Key, shift: Bool = false, control: Bool = false) -> [KeyEvent] {
        var down: [Key] = []
        if control { down.append(.leftControl) }
        if shift { down.append(.leftShift) }
        down.append(key)
        return down.map { KeyEvent($0, release: false) } + down.reversed().map { KeyEvent($0, release: true) }
    }
}

/// Host bytes → keystrokes. Printable ASCII, Enter (CR or LF), Backspace (DEL or BS), Tab, Esc,
/// Ctrl-letters (0x01–0x1A) and Ctrl-\ ] ^ _ (0x1C–0x1F), and the ANSI/xterm sequences for
/// arrows, Home, End, Insert, Delete, Page Up/Down and F1–F12 (CSI and SS3 forms). Bytes with
/// no key (0x80–0xFF, NUL, unknown sequences) are dropped and counted.
///
/// A sequence can be split across reads from a terminal: its start waits for the next `decode`,
/// and `flush` (nothing more arrived, or end of file) types a lone ESC as the Esc key.
public struct KeyDecoder: Sendable {
    var pending: [UInt8] = []
    /// Host bytes that typed nothing.
    public private(set) var ignored: UInt64 = 0

    public init() {}

    /// The key events for `bytes` (plus any sequence start held from before).
    public mutating func decode(_ bytes: [UInt8]) -> [KeyEvent] {
        var out: [KeyEvent] = []
        var input = pending + bytes
        pending = []
        var i = 0
        while i < input.count {
            let b = input[i]
            if b == 0x1B {
                switch Self.sequence(input, at: i) {
                case .incomplete:
                    pending = Array(input[i...])
                    return out
                case .key(let key, let length):
                    out += ScanCodes.keystroke(key)
                    i += length
                case .unknown(let length):
                    ignored &+= UInt64(length)
                    i += length
                case .lone:
                    out += ScanCodes.keystroke(.escape)
                    i += 1
                }
                continue
            }
            out += Self.events(for: b, ignored: &ignored)
            i += 1
        }
        input.removeAll()
        return out
    }

    /// Ends a held sequence start: a lone ESC is the Esc key, anything longer is dropped.
    public mutating func flush() -> [KeyEvent] {
        guard !pending.isEmpty else { return [] }
        defer { pending = [] }
        if pending == [0x1B] { return ScanCodes.keystroke(.escape) }
        ignored &+= UInt64(pending.count)
        return []
    }

    public var isHoldingSequence: Bool { !pending.isEmpty }

    static func events(for b: UInt8, ignored: inout UInt64) -> [KeyEvent] {
        switch b {
        case 0x0D, 0x0A: return ScanCodes.keystroke(.enter)
        case 0x7F, 0x08: return ScanCodes.keystroke(.backspace)
        case 0x09: return ScanCodes.keystroke(.tab)
        case 0x20...0x7E:
            let k = ScanCodes.printable[Int(b - 0x20)]
            return ScanCodes.keystroke(Key(k.code), shift: k.shift)
        case 0x01...0x1A:
            // Ctrl-A … Ctrl-Z: the letter's key with Ctrl.
            let k = ScanCodes.printable[Int(b + 0x60 - 0x20)]
            return ScanCodes.keystroke(Key(k.code), control: true)
        case 0x1C, 0x1D, 0x1E, 0x1F:
            // Ctrl-\, Ctrl-], Ctrl-^ (Shift-6) and Ctrl-_ (Shift-minus).
            let char: UInt8 = [0x5C, 0x5D, 0x5E, 0x5F][Int(b - 0x1C)]
            let k = ScanCodes.printable[Int(char - 0x20)]
            return ScanCodes.keystroke(Key(k.code), shift: k.shift, control: true)
        default:
            ignored &+= 1
            return []
        }
    }

    enum Sequence { case incomplete, key(Key, length: Int), unknown(length: Int), lone }

    /// The escape sequence at `input[i]` (an ESC).
    static func sequence(_ input: [UInt8], at i: Int) -> Sequence {
        guard i + 1 < input.count else { return .incomplete }
        let kind = input[i + 1]
        if kind == UInt8(ascii: "O") {
            // SS3: ESC O A…D (arrows in application mode), H/F, P…S (F1–F4).
            guard i + 2 < input.count else { return .incomplete }
            let keys: [UInt8: Key] = [0x41: .up, 0x42: .down, 0x43: .right, 0x44: .left, 0x48: .home, 0x46: .end,
                                      0x50: Key.function[0], 0x51: Key.function[1], 0x52: Key.function[2], 0x53: Key.function[3]]
            if let k = keys[input[i + 2]] { return .key(k, length: 3) }
            return .unknown(length: 3)
        }
        guard kind == UInt8(ascii: "[") else { return .lone }
        // CSI: parameters (digits, ';') then a final byte 0x40–0x7E.
        var j = i + 2
        var number = 0
        var sawDigit = false
        while j < input.count, input[j] >= 0x30 && input[j] <= 0x3F {
            if input[j] >= 0x30 && input[j] <= 0x39 && number < 1000 && !sawSemicolon(input, from: i + 2, to: j) {
                number = number * 10 + Int(input[j] - 0x30)
                sawDigit = true
            }
            j += 1
        }
        guard j < input.count else { return j - i > 16 ? .unknown(length: j - i) : .incomplete }
        let final = input[j]
        let length = j - i + 1
        let letters: [UInt8: Key] = [0x41: .up, 0x42: .down, 0x43: .right, 0x44: .left, 0x48: .home, 0x46: .end]
        if let k = letters[final] { return .key(k, length: length) }
        guard final == UInt8(ascii: "~"), sawDigit else { return .unknown(length: length) }
        let tilde: [Int: Key] = [
            1: .home, 2: .insert, 3: .delete, 4: .end, 5: .pageUp, 6: .pageDown, 7: .home, 8: .end,
            11: Key.function[0], 12: Key.function[1], 13: Key.function[2], 14: Key.function[3],
            15: Key.function[4], 17: Key.function[5], 18: Key.function[6], 19: Key.function[7],
            20: Key.function[8], 21: Key.function[9], 23: Key.function[10], 24: Key.function[11],
        ]
        if let k = tilde[number] { return .key(k, length: length) }
        return .unknown(length: length)
    }

    /// True if a ';' comes before `to` (only the first parameter names the key; a modifier
    /// parameter after it, as in ESC [1;5A, is ignored).
    static func sawSemicolon(_ input: [UInt8], from: Int, to: Int) -> Bool {
        input[from..<to].contains(UInt8(ascii: ";"))
    }
}
