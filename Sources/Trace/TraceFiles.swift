/// Opens any trace `x86v trace diff` accepts, by its first bytes: an x86v trace (binary or JSON
/// lines) or a QEMU `-d cpu,exec` log (read from `entry` on, when given).
public enum TraceFiles {
    public static func open(_ path: String, entry: UInt32?) throws(TraceInputError) -> TraceStepSource {
        let probe = try FileBytes(path: path, capacity: 64)
        try probe.fill(16)
        let head = Array(UnsafeBufferPointer(start: probe.buffer, count: probe.available))
        if head.starts(with: TraceFormat.magic) || head.starts(with: Array("{\"x86v-trace\":".utf8)) {
            return try TraceReader(path: path)
        }
        if head.isEmpty { throw TraceInputError("\(path): empty") }
        do {
            return try QEMULogReader(path: path, entry: entry)
        } catch {
            throw TraceInputError("\(path): neither an x86v trace nor a QEMU log (\(error.description))")
        }
    }
}
