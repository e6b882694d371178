#if canImport(Glibc)
import Glibc
#endif

// Reading a test file whole, whatever its form: gzip (the suite ships `.MOO.gz`) is undone by
// piping through /bin/gzip -dc, which keeps the package free of a zlib dependency; then the
// contents decide the reader: a "MOO " header chunk is MOO, anything else JSON lines.

/// Loads a test file of any supported form (gzip undone first).
public enum TestFileLoader {
    /// The tests in the file at `path` (`.jsonl`, `.MOO`, `.MOO.gz`, gzipped JSON lines).
    public static func load(_ path: String) throws(ConformanceInputError) -> [ConformanceTest] {
        var bytes = try readWholeFile(path)
        if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B {
            bytes = try gunzip(path)
        }
        if bytes.count >= 4 && Array(bytes[0..<4]) == Array("MOO ".utf8) {
            return try MOOReader.read(bytes, file: path)
        }
        return try JSONLinesReader.read(bytes, file: path)
    }

    /// The whole file; a missing file, a directory or a read error is one line naming it.
    public static func readWholeFile(_ path: String) throws(ConformanceInputError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ConformanceInputError("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            throw ConformanceInputError("\(path): is a directory")
        }
        do {
            return try readAll(fd)
        } catch {
            throw ConformanceInputError("\(path): \(error.description)")
        }
    }

    /// `/bin/gzip -dc path`: its output, or an error with gzip's own message (a truncated or
    /// corrupt file makes gzip exit non-zero).
    static func gunzip(_ path: String) throws(ConformanceInputError) -> [UInt8] {
        var out: [Int32] = [0, 0], err: [Int32] = [0, 0]
        guard pipe(&out) == 0 else { throw ConformanceInputError("\(path): cannot create a pipe for gzip") }
        guard pipe(&err) == 0 else {
            close(out[0]); close(out[1])
            throw ConformanceInputError("\(path): cannot create a pipe for gzip")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        posix_spawn_file_actions_addclose(&actions, out[0])
        posix_spawn_file_actions_addclose(&actions, err[0])
        let argv = ["/bin/gzip", "-dc", "--", path]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArgs.append(nil)
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/gzip", &actions, nil, cArgs, environ)
        close(out[1]); close(err[1])
        defer { close(out[0]); close(err[0]) }
        guard rc == 0 else { throw ConformanceInputError("\(path): cannot run /bin/gzip to decompress it") }
        // gzip writes little to stderr (one line), so reading stdout to the end first cannot
        // leave it blocked on a full stderr pipe.
        let data = try? readAll(out[0])
        let message = (try? readAll(err[0])) ?? []
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let exited = raw & 0x7F == 0
        let status = (raw >> 8) & 0xFF
        guard let data, exited, status == 0 else {
            let line = String(decoding: message, as: UTF8.self).split(separator: "\n").first.map(String.init)
            throw ConformanceInputError("\(path): gzip could not decompress it (\(line ?? "status \(status)"))")
        }
        return data
    }

    struct ReadError: Error { let description: String }

    static func readAll(_ fd: Int32) throws(ReadError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(description: String(cString: strerror(errno)))
            }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }
}
