#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of a QEMU log, read with POSIX `read` into one fixed window (4 MiB by default).
///
/// A full `-d cpu,exec` log of a multiboot guest is gigabytes of firmware before the guest's first
/// instruction, and `-D` may name a FIFO QEMU is still writing, so nothing but the window is ever
/// held. Lines are handed out as index ranges of `base`, valid until the next call that reads.
///
/// Invariant: `base[start]` begins a line (unless `discarding`), so a scan never has to look before
/// `start` to know whether a byte is at a line start.
final class QEMULogInput {
    static let defaultCapacity = 4 << 20

    let path: String
    private let fd: Int32
    let base: UnsafeMutableRawPointer
    let capacity: Int
    /// Bytes `start..<end` of the window are read and not yet consumed.
    private(set) var start = 0
    private(set) var end = 0
    /// File offset of `base[0]` (for messages: byte offsets, since the skip does not count lines).
    private(set) var windowOffset: UInt64 = 0
    private(set) var atEOF = false
    private(set) var bytesRead: UInt64 = 0
    /// The last line `nextLine` returned had no newline: the file ended inside it.
    private(set) var lastLineUnterminated = false
    /// Dropping the rest of a line longer than the window (no line of QEMU's is).
    private var discarding = false

    init(path: String, capacity: Int = defaultCapacity) throws(TraceInputError) {
        self.path = path
        self.capacity = capacity
        // Non-blocking open, then blocking reads: opening a FIFO whose writer already finished
        // (its data still in the pipe) must not wait for a writer that will never come.
        let fd = openForReading(path)
        guard fd >= 0 else {
            throw TraceInputError("\(path): cannot open: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        base = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit {
        close(fd)
        base.deallocate()
    }

    func offset(of index: Int) -> UInt64 { windowOffset + UInt64(index) }

    /// Moves the unconsumed bytes to the front and reads once; false at end of file or when the
    /// window is full.
    @discardableResult
    func fill() throws(TraceInputError) -> Bool {
        if start > 0 {
            let kept = end - start
            if kept > 0 { memmove(base, base + start, kept) }
            windowOffset += UInt64(start)
            start = 0
            end = kept
        }
        guard !atEOF, end < capacity else { return false }
        while true {
            let got = read(fd, base + end, capacity - end)
            if got > 0 {
                end += got
                bytesRead += UInt64(got)
                return true
            }
            if got == 0 { atEOF = true; return false }
            if errno == EINTR { continue }
            throw TraceInputError("\(path): cannot read: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads until the window holds `count` unconsumed bytes or the file ends (a FIFO gives at
    /// most a pipe's worth per `read`).
    func fill(atLeast count: Int) throws(TraceInputError) {
        while end - start < count, try fill() {}
    }

    /// The next line without its newline, as a range of `base`; nil at the end of the file.
    func nextLine() throws(TraceInputError) -> Range<Int>? {
        lastLineUnterminated = false
        while true {
            if discarding { try dropLineRest(); continue }
            if start < end, let nl = memchr(base + start, 0x0A, end - start) {
                let lineEnd = base.distance(to: nl)
                defer { start = lineEnd + 1 }
                return start..<lineEnd
            }
            if try fill() { continue }
            if start == end { return nil }
            let line = start..<end
            start = end
            if atEOF { lastLineUnterminated = true } else { discarding = true }  // window-sized line
            return line
        }
    }

    /// Skips to the first line "Trace …[cs_base/pc/…" whose pc is `pc`, counting the other Trace
    /// lines in `skipped`, and leaves it as the next line; false at the end of the file.
    ///
    /// This runs over gigabytes of firmware records, so it makes no line: `memchr` finds each 'T'
    /// (about four a record: "Trace", "TR =", "TSS32", "HLT="), and only one at a line start is
    /// looked at further.
    func skipToTrace(pc: UInt32, skipped: inout UInt64) throws(TraceInputError) -> Bool {
        var count: UInt64 = 0
        defer { skipped += count }
        var i = start
        while true {
            if discarding { try dropLineRest(); i = start; continue }
            let p = base, e = end, lineZero = start
            var partial = -1  // start of a 'T' line whose newline is not read yet
            while i < e {
                guard let hit = memchr(p + i, 0x54, e - i) else { i = e; break }
                let t = p.distance(to: hit)
                guard t == lineZero || p.load(fromByteOffset: t - 1, as: UInt8.self) == 0x0A else {
                    i = t + 1
                    continue
                }
                guard let nl = memchr(p + t, 0x0A, e - t) else { partial = t; break }
                let lineEnd = p.distance(to: nl)
                let line = QEMULine(base: UnsafeRawPointer(p), start: t, end: lineEnd)
                if line.kind == .trace {
                    guard let trace = line.traceFields else {
                        throw TraceInputError("\(path): malformed Trace line at byte offset \(offset(of: t))")
                    }
                    if trace.pc == pc { start = t; return true }
                    count &+= 1
                }
                i = lineEnd + 1
            }
            // Keep only the last, unfinished line; resume the scan where it stopped.
            let keep = partial >= 0 ? partial : lastLineStart(before: e, notBefore: lineZero)
            let resume = (partial >= 0 ? partial : e) - keep
            start = keep
            if try fill() { i = resume; continue }
            if atEOF { start = end; return false }
            discarding = true  // the window is one line
            i = end
        }
    }

    private func lastLineStart(before e: Int, notBefore low: Int) -> Int {
        var j = e
        while j > low, base.load(fromByteOffset: j - 1, as: UInt8.self) != 0x0A { j -= 1 }
        return j
    }

    private func dropLineRest() throws(TraceInputError) {
        if start < end, let nl = memchr(base + start, 0x0A, end - start) {
            start = base.distance(to: nl) + 1
            discarding = false
            return
        }
        start = end
        if !(try fill()) && atEOF { discarding = false }
    }
}
