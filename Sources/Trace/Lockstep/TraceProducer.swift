#if canImport(Glibc)
import Glibc
#endif

/// A child process writing a trace into a FIFO that the diff reads as it is written: neither a
/// QEMU log (about a kilobyte per instruction) nor an x86v trace of a long run ever lands on
/// disk whole. The child's stdout is discarded, its stderr kept for the error message.
final class TraceProducer {
    let name: String
    let fifo: String
    let stderrPath: String
    let pid: pid_t
    var finished = false
    var held: Int32 = -1

    /// The reader has the FIFO open: the probe's descriptor can go.
    func release() {
        if held >= 0 { close(held); held = -1 }
    }

    deinit { release() }
    var rawStatus: Int32 = 0

    /// Starts `argv` (searched in PATH) after creating `fifo`.
    init(name: String, argv: [String], fifo: String, stderrPath: String) throws(TraceInputError) {
        self.name = name
        self.fifo = fifo
        self.stderrPath = stderrPath
        guard mkfifo(fifo, 0o600) == 0 else {
            throw TraceInputError("cannot create \(fifo): \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArgs.append(nil)
        defer { for p in cArgs { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, argv[0], &actions, nil, cArgs, environ)
        guard rc == 0 else {
            throw TraceInputError("cannot start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        pid = child
    }

    /// Waits until the child has opened the FIFO and written its first bytes (so that opening it
    /// for reading cannot block forever), or fails with the child's own message if it ended
    /// first. `seconds`: how long the child may take to start writing.
    func waitForOutput(seconds: Double) throws(TraceInputError) {
        let probe = open(fifo, O_RDONLY | O_NONBLOCK)
        guard probe >= 0 else { throw TraceInputError("\(fifo): \(String(cString: strerror(errno)))") }
        // Kept open until the reader has opened the FIFO itself: a FIFO with no reader at all
        // kills its writer with SIGPIPE.
        held = probe
        var waited = 0.0
        while true {
            var p = pollfd(fd: probe, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, 100)
            if n > 0 && p.revents & Int16(POLLIN) != 0 { return }
            if reap() {
                throw TraceInputError("\(name) ended before writing a trace (\(statusText)): \(errorText())")
            }
            waited += 0.1
            if waited > seconds {
                kill()
                throw TraceInputError("\(name) wrote nothing in \(Int(seconds)) s; stopped it")
            }
        }
    }

    /// True if the child has ended (collects its status).
    @discardableResult
    func reap() -> Bool {
        if finished { return true }
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        if r == pid { finished = true; rawStatus = raw }
        return finished
    }

    func kill() {
        guard !reap() else { return }
        Glibc.kill(pid, SIGKILL)
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        finished = true
        rawStatus = raw
    }

    var statusText: String {
        let sig = rawStatus & 0x7F
        return sig == 0 ? "exit status \((rawStatus >> 8) & 0xFF)" : "signal \(sig)"
    }

    /// The last lines of the child's stderr.
    func errorText() -> String {
        let f = open(stderrPath, O_RDONLY)
        guard f >= 0 else { return "(no message)" }
        defer { close(f) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = read(f, &bytes, bytes.count)
        let text = n > 0 ? String(decoding: bytes[0..<n], as: UTF8.self) : ""
        let lines = text.split(separator: "\n").suffix(3)
        return lines.isEmpty ? "(no message)" : lines.joined(separator: " / ")
    }
}
