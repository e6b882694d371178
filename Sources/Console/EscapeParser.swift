/// The console's escape key, as QEMU's `-nographic` (its character-device multiplexer): after
/// Ctrl-A the next key is a command, not guest input.
///
/// ```
/// Ctrl-A x        end the run (status 24, x86v's "user-quit")
/// Ctrl-A h, ?     list these escapes
/// Ctrl-A Ctrl-A   type one Ctrl-A for the guest
/// Ctrl-A c        QEMU switches to its monitor; x86v has none and says so
/// Ctrl-A other    nothing (the key is dropped, as QEMU drops it)
/// ```
///
/// Left out: QEMU's Ctrl-A s (save disk images), b (serial break) and t (timestamps).
public struct EscapeParser: Sendable {
    public static let escapeKey: UInt8 = 0x01

    public enum Command: Equatable, Sendable {
        case quit, help, noMonitor
    }

    /// The last byte was Ctrl-A (the command may come in the next read).
    public private(set) var pendingEscape = false

    public init() {}

    /// Splits host bytes into what the guest gets and the commands typed.
    public mutating func feed(_ bytes: [UInt8]) -> (guest: [UInt8], commands: [Command]) {
        var guest: [UInt8] = []
        var commands: [Command] = []
        for b in bytes {
            if pendingEscape {
                pendingEscape = false
                switch b {
                case Self.escapeKey: guest.append(b)
                case UInt8(ascii: "x"), UInt8(ascii: "X"): commands.append(.quit)
                case UInt8(ascii: "h"), UInt8(ascii: "H"), UInt8(ascii: "?"): commands.append(.help)
                case UInt8(ascii: "c"), UInt8(ascii: "C"): commands.append(.noMonitor)
                default: break
                }
            } else if b == Self.escapeKey {
                pendingEscape = true
            } else {
                guest.append(b)
            }
        }
        return (guest, commands)
    }

    /// What `Ctrl-A h` prints (lines end in CR LF: the terminal is raw).
    public static let helpText = """
        C-a h    print this help\r
        C-a x    exit x86v (the run ends with status 24)\r
        C-a c    (QEMU's monitor: x86v has none)\r
        C-a C-a  sends C-a\r

        """
}
