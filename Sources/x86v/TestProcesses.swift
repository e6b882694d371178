import Machine
#if canImport(Glibc)
import Glibc
#endif

/// One child process: argv, where its stdout+stderr go, and how it ended.
struct ChildRun {
    var argv: [String]
    var logPath: String
    var status: Int32 = -1
    var signal: Int32 = 0
    var seconds: Double = 0
}

/// Starts `argv` with stdin from /dev/null and stdout+stderr into `logPath`; nil if it could not start.
func spawnChild(_ argv: [String], logPath: String, searchPath: Bool = false) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
    cArgs.append(nil)
    defer { for p in cArgs { free(p) } }
    var pid: pid_t = 0
    let rc = searchPath
        ? posix_spawnp(&pid, argv[0], &actions, nil, cArgs, environ)
        : posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
    return rc == 0 ? pid : nil
}

/// Splits a waitpid status into (exit status, signal): a signal death has status -1.
func decodeWaitStatus(_ raw: Int32) -> (status: Int32, signal: Int32) {
    let sig = raw & 0x7F
    return sig == 0 ? ((raw >> 8) & 0xFF, 0) : (-1, sig)
}

/// Runs one child to completion (for `run --help` and `diff -u`).
func runChild(_ argv: [String], logPath: String, searchPath: Bool = false) -> Int32 {
    guard let pid = spawnChild(argv, logPath: logPath, searchPath: searchPath) else { return -1 }
    var raw: Int32 = 0
    while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
    return decodeWaitStatus(raw).status
}

/// Runs `runs` with at most `jobs` children at a time; `finished(i)` is called as each ends,
/// in completion order (the caller restores the order it wants).
func runPool(_ runs: inout [ChildRun], jobs: Int, finished: (Int, ChildRun) -> Void) {
    var next = 0
    var running: [pid_t: (index: Int, start: Double)] = [:]
    while next < runs.count || !running.isEmpty {
        while running.count < jobs && next < runs.count {
            let start = monotonicSeconds()
            if let pid = spawnChild(runs[next].argv, logPath: runs[next].logPath) {
                running[pid] = (next, start)
            } else {
                runs[next].status = 127
                writeTextFile(runs[next].logPath, "x86v: cannot start \(runs[next].argv[0])\n")
                finished(next, runs[next])
            }
            next += 1
        }
        if running.isEmpty { continue }
        var raw: Int32 = 0
        let pid = waitpid(-1, &raw, 0)
        if pid < 0 {
            if errno == EINTR { continue }
            break
        }
        guard let r = running.removeValue(forKey: pid) else { continue }
        let (status, sig) = decodeWaitStatus(raw)
        runs[r.index].status = status
        runs[r.index].signal = sig
        runs[r.index].seconds = monotonicSeconds() - r.start
        finished(r.index, runs[r.index])
    }
}

/// This executable's path, for spawning `x86v run` (the same build that runs the tests).
func selfExecutablePath() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return "/proc/self/exe" }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A fresh private directory under $TMPDIR (or /tmp), removed with `removeTree`.
func makeTemporaryDirectory() throws -> String {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(base)/x86v-test.XXXXXX".utf8CString)
    guard mkdtemp(&template) != nil else { throw InputError("cannot create a temporary directory in \(base)") }
    return String(cString: template)
}

/// Removes a directory made by `makeTemporaryDirectory` (flat: only files inside).
func removeTree(_ dir: String) {
    for name in listDirectory(dir) { unlink("\(dir)/\(name)") }
    rmdir(dir)
}

func processorCount() -> Int {
    max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}
