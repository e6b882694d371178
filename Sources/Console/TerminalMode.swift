#if canImport(Glibc)
import Glibc
#endif

/// Raw mode for an interactive run (`x86v run` with a terminal on stdin), as QEMU's
/// `-nographic` sets its stdio: no line editing, no echo, no signals from Ctrl-C/Ctrl-Z/Ctrl-\
/// (they go to the guest; `Ctrl-A x` ends the run), output post-processing kept (a guest's "\n"
/// still starts a new line).
///
/// The terminal is always put back as it was: by `restore()` at the end of the run, at `exit`
/// (atexit), and on the signals that end the process (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
/// SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT; a Swift trap is SIGILL or SIGTRAP on Linux): the
/// handler calls only `tcsetattr` and `write` (async-signal-safe, POSIX.1 §2.4.3) with state
/// saved before it was installed, then lets the signal do what it would have done.
public enum TerminalMode {
    /// Puts `fd` (a terminal) in raw mode; false (nothing changed) if it is not a terminal.
    /// `extraOnRestore`: bytes written to the terminal when it is restored (e.g. leaving the
    /// alternate screen, showing the cursor), at most 64.
    @discardableResult
    public static func enterRaw(fd: Int32 = 0, outputFD: Int32 = 1, extraOnRestore: [UInt8] = []) -> Bool {
        guard isatty(fd) != 0, !TerminalState.active else { return false }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return false }
        var raw = saved
        raw.c_iflag &= ~tcflag_t(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON)
        raw.c_lflag &= ~tcflag_t(ECHO | ECHONL | ICANON | ISIG | IEXTEN)
        raw.c_cflag &= ~tcflag_t(CSIZE | PARENB)
        raw.c_cflag |= tcflag_t(CS8)
        raw.c_cc.6 = 1  // VMIN
        raw.c_cc.5 = 0  // VTIME
        TerminalState.fd = fd
        TerminalState.outputFD = outputFD
        TerminalState.saved = saved
        TerminalState.setExtra(extraOnRestore)
        TerminalState.active = true
        installHandlers()
        if tcsetattr(fd, TCSANOW, &raw) != 0 {
            TerminalState.active = false
            return false
        }
        return true
    }

    /// Puts the terminal back (idempotent; also done at exit and on fatal signals).
    public static func restore() {
        guard TerminalState.active else { return }
        TerminalState.active = false
        TerminalState.writeExtra()
        _ = tcsetattr(TerminalState.fd, TCSANOW, &TerminalState.saved)
    }

    public static var isRaw: Bool { TerminalState.active }

    /// The signals whose default action ends the process (and would leave the terminal raw).
    static let fatalSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP]

    static func installHandlers() {
        guard !TerminalState.handlersInstalled else { return }
        TerminalState.handlersInstalled = true
        atexit { TerminalMode.restore() }
        for s in fatalSignals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                if TerminalState.active {
                    TerminalState.active = false
                    TerminalState.writeExtra()
                    _ = tcsetattr(TerminalState.fd, TCSANOW, &TerminalState.saved)
                }
                // Back to the default action and deliver again: the process ends as it would
                // have (with a core dump for SIGSEGV/SIGABRT…), but with the terminal sane.
                signal(sig, SIG_DFL)
                raise(sig)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0  // the handler itself puts the default action back
            sigaction(s, &action, nil)
        }
    }
}

/// What the signal handler needs, in plain globals written before the handlers are installed
/// (no lazy initialisation, no allocation, no locks on the handler's path).
enum TerminalState {
    nonisolated(unsafe) static var fd: Int32 = 0
    nonisolated(unsafe) static var outputFD: Int32 = 1
    nonisolated(unsafe) static var saved = termios()
    nonisolated(unsafe) static var active = false
    nonisolated(unsafe) static var handlersInstalled = false
    nonisolated(unsafe) static var extra: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    nonisolated(unsafe) static var extraCount = 0

    static func setExtra(_ bytes: [UInt8]) {
        let n = min(bytes.count, 64)
        withUnsafeMutableBytes(of: &extra) { raw in
            for i in 0..<n { raw[i] = bytes[i] }
        }
        extraCount = n
    }

    static func writeExtra() {
        guard extraCount > 0 else { return }
        withUnsafeBytes(of: &extra) { raw in _ = write(outputFD, raw.baseAddress, extraCount) }
    }
}
