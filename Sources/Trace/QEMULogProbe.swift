#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension QEMULogReader {
    /// Looks at the first MiB for what kind of log this is: true for dumps only (made without
    /// `exec`), false for Trace records. Throws when it is no QEMU `-d cpu` log at all.
    ///
    /// A dump under a "v=" or "SMM:" line is no sign of a dumps-only log: with -dfilter, the
    /// firmware's SMM entries and interrupts come before the first Trace line.
    static func probe(_ input: QEMULogInput) throws(TraceInputError) -> Bool {
        let window = 1 << 20
        try input.fill(atLeast: window)
        let limit = min(input.end, input.start + window)
        var i = input.start
        var previous = QEMULineKind.other
        var sawDump = false, sawBareDump = false
        while i < limit {
            let nl = memchr(input.base + i, 0x0A, limit - i)
            let lineEnd = nl.map { input.base.distance(to: $0) } ?? limit
            let kind = QEMULine(base: UnsafeRawPointer(input.base), start: i, end: lineEnd).kind
            if kind == .trace { return false }
            if kind == .registers {
                sawDump = true
                if previous != .delivery && previous != .smm { sawBareDump = true }
            }
            previous = kind
            i = lineEnd + 1
        }
        if sawBareDump { return true }
        if sawDump { return false }
        let what = input.end == input.start ? "empty, " : ""
        throw TraceInputError("\(input.path): \(what)not a QEMU -d cpu,exec log (no Trace or EAX= line in its first MiB)")
    }
}
