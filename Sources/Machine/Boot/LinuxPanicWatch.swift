/// Watches a Linux guest's serial console for its panic banner, so that a kernel panic ends
/// the run with a status of its own (`StopReason.guestPanic`, 26) and the panic text already
/// printed. Linux has no device it always tells (pvpanic is a module in Debian's kernel, and
/// loads too late for a panic at boot), but `panic()` always prints
///
///     Kernel panic - not syncing: <reason>
///     <the backtrace…>
///     ---[ end Kernel panic - not syncing: <reason> ]---
///
/// and then, unless `panic=N` asks for a reboot, spins forever. The run stops when the end
/// line is complete (so the whole text is out), or at the reset `panic=N` leads to once the
/// first line was seen. Only a bzImage boot arms it (`PCMachine.watchForLinuxPanic`): a
/// multiboot guest printing the same words is left alone. It reads COM1 only (console=ttyS0).
public final class LinuxPanicWatch {
    static let begin = Array("Kernel panic - not syncing".utf8)
    static let end = Array("---[ end Kernel panic - not syncing".utf8)
    /// Longer lines are cut here (the banner is at the start of its line, after the time).
    static let maxLine = 1024

    /// The "Kernel panic - not syncing: …" line, once seen.
    public private(set) var panicLine: String? = nil
    /// Called when the end line is complete.
    var onEnd: () -> Void = {}
    private var line: [UInt8] = []

    public init() {}

    /// The line being received (for snapshots: a save between two bytes of a line loses nothing).
    public var partialLine: [UInt8] { line }

    /// Puts back what a snapshot recorded.
    public func restore(panicLine: String?, partialLine: [UInt8]) {
        self.panicLine = panicLine
        line = Array(partialLine.prefix(Self.maxLine))
    }

    /// One byte the guest sent on COM1.
    public func feed(_ byte: UInt8) {
        if byte == 0x0A {
            lineDone()
            line.removeAll(keepingCapacity: true)
        } else if line.count < Self.maxLine {
            line.append(byte)
        }
    }

    private func lineDone() {
        // The end line holds the begin text too: alone (no panic seen) it is not a panic.
        if find(Self.end) != nil {
            if panicLine != nil { onEnd() }
            return
        }
        if panicLine == nil, let at = find(Self.begin) {
            let text = line[at...].filter { $0 != 0x0D }
            panicLine = String(decoding: text, as: UTF8.self)
        }
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard line.count >= needle.count else { return nil }
        for i in 0...(line.count - needle.count) where line[i] == needle[0] {
            if line[i ..< i + needle.count].elementsEqual(needle) { return i }
        }
        return nil
    }
}
