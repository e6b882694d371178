import CEditLine
#if canImport(Glibc)
import Glibc
#endif

/// Set by the SIGINT handler, read by the run loop's interrupt check.
nonisolated(unsafe) var replInterruptFlag: sig_atomic_t = 0

/// The debugger's front end: reads command lines (libedit with history on a terminal; plain
/// lines from a script or a pipe), runs them through the `CommandInterpreter` and prints.
/// Scripted runs echo each command after the prompt, so a transcript reads like a session.
public final class REPL {
    let interpreter: CommandInterpreter
    let script: UnsafeMutablePointer<FILE>?
    let interactive: Bool
    /// Called after each command (the CLI flushes the guest's buffered serial output here, so
    /// it appears in order with the debugger's).
    public var afterCommand: () -> Void = {}
    public static let prompt = "(x86v) "

    /// `scriptPath`: read commands from that file (then stop); nil: from stdin.
    public init(interpreter: CommandInterpreter, scriptPath: String?) throws(DebugError) {
        self.interpreter = interpreter
        if let p = scriptPath {
            guard let f = fopen(p, "r") else { throw DebugError("\(p): cannot read the script") }
            script = f
            interactive = false
        } else {
            script = nil
            interactive = isatty(0) != 0
        }
        interpreter.colour = interactive && isatty(1) != 0
        if interactive {
            // Ctrl-C stops a running guest (and is otherwise ignored): the session goes on.
            signal(SIGINT) { _ in replInterruptFlag = 1 }
            interpreter.interruptCheck = {
                if replInterruptFlag == 0 { return false }
                replInterruptFlag = 0
                return true
            }
        }
    }

    deinit { if let s = script { fclose(s) } }

    /// stdin as a stream of our own (Glibc's `stdin` global is shared mutable state to Swift 6).
    lazy var stdinStream: UnsafeMutablePointer<FILE>? = fdopen(0, "r")

    /// Runs until `quit` or the end of input. Returns the number of commands that failed.
    @discardableResult
    public func run() -> Int {
        var failures = 0
        while let line = readLine() {
            if !interactive { emit(Self.prompt + line + "\n") }
            let result = interpreter.execute(line)
            afterCommand()
            emit(result.text)
            if result.text.hasPrefix("error:") || result.text.hasPrefix("unknown command") { failures += 1 }
            if result.quit { break }
        }
        return failures
    }

    func readLine() -> String? {
        if interactive {
            replInterruptFlag = 0
            var raw: UnsafeMutablePointer<CChar>? = nil
            while true {
                raw = CEditLine.readline(Self.prompt)
                // Ctrl-C at the prompt abandons the line, not the session.
                if raw == nil && replInterruptFlag != 0 { replInterruptFlag = 0; emit("\n"); continue }
                break
            }
            guard let p = raw else { emit("\n"); return nil }
            defer { free(p) }
            let line = String(cString: p)
            if !line.trimmingCharacters(in: " ").isEmpty { add_history(p) }
            return line
        }
        guard let f = script ?? stdinStream else { return nil }
        var buffer: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(buffer) }
        let n = getline(&buffer, &capacity, f)
        guard n >= 0, let b = buffer else { return nil }
        var line = String(cString: b)
        while line.hasSuffix("\n") || line.hasSuffix("\r") { line.removeLast() }
        return line
    }

    func emit(_ text: String) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + done, $0.count - done) }
            if n <= 0 { break }
            done += n
        }
        bytes.removeAll()
    }
}
