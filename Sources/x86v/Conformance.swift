import ArgumentParser
import Conformance
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// `x86v conformance`: single-instruction tests captured on a real 80386 (SingleStepTests/80386,
/// JSON lines or MOO files) run on X86Core and compared. The harness is the Conformance module;
/// this parses flags and prints. See docs/formats.md, "x86v conformance".
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run 80386 hardware conformance tests (JSON lines, .MOO, .MOO.gz) and compare.",
        discussion: """
            Prints 'FILE: N tests, P passed, F failed, S skipped (revoked)' per file and a total, \
            and a report for each failing test (its registers and RAM bytes, expected against got). \
            revocation_list.txt and 80386.csv are read from the first FILE's directory unless given. \
            Exit status: 0 all passed, 1 a test failed, 2 bad input. See docs/formats.md.
            """
    )

    @Argument(help: "Test files: .jsonl, .MOO or .MOO.gz.") var files: [String]
    @Flag(help: "Also list every passing and skipped test.") var verbose = false
    @Option(help: "Failure reports to print (0 = all; every test still runs).") var maxFailures: Int = 20
    @Option(help: "The revocation list (default: revocation_list.txt beside the first FILE, if there).")
    var revocations: String?
    @Option(help: "The suite's opcode table, for f_umask (default: 80386.csv beside the first FILE, if there).")
    var csv: String?
    @Option(help: "The execution engine: blocks (default) or interp.") var engine: ExecutionEngine = .blocks

    func run() throws {
        guard !files.isEmpty else { throw InputError("no test FILE given") }
        guard maxFailures >= 0 else { throw InputError("--max-failures must not be negative") }
        let failed: Int
        do throws(ConformanceInputError) {
            failed = try runFiles()
        } catch {
            throw InputError(error.description)
        }
        throw ExitCode(failed == 0 ? 0 : 1)
    }

    /// Runs every file, printing as it goes; the number of failed tests.
    private func runFiles() throws(ConformanceInputError) -> Int {
        let directory = Self.directory(of: files[0])
        var session = ConformanceSession(runner: ConformanceRunner(engine: engine), verbose: verbose,
                                         maxFailureReports: maxFailures)
        if let path = revocations ?? Self.existing(directory + "revocation_list.txt") {
            session.revocations = try RevocationList.load(path)
        }
        if let path = csv ?? Self.existing(directory + "80386.csv") {
            session.flagsTable = try UndefinedFlagsTable.load(path)
        }
        var out = OutputBuffer()
        defer { out.flush() }
        for path in files {
            let counts = try session.run(path: path) { out.write($0 + "\n") }
            out.write(counts.line(String(path.split(separator: "/").last ?? Substring(path))) + "\n")
        }
        out.write(session.total.line("total") + "\n")
        return session.total.failed
    }

    /// "dir/00.jsonl" → "dir/"; "00.jsonl" → "".
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[...slash])
    }

    static func existing(_ path: String) -> String? {
        access(path, R_OK) == 0 ? path : nil
    }
}
