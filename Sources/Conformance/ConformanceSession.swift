// A run over test files, as `x86v conformance` makes it: each file loaded whole, revoked tests
// skipped, the opcode table's mask filled in where a test has none, every other test run on a
// fresh CPU; counts per file and reports of failures (and, verbose, of every test) as text.

/// The counts of one file (or of all files).
public struct ConformanceCounts: Sendable, Equatable {
    public var tests = 0
    public var passed = 0
    public var failed = 0
    /// Revoked tests: listed in revocation_list.txt, never run.
    public var skipped = 0

    public init() {}

    public static func += (a: inout ConformanceCounts, b: ConformanceCounts) {
        a.tests += b.tests
        a.passed += b.passed
        a.failed += b.failed
        a.skipped += b.skipped
    }

    /// "00.jsonl: 250 tests, 250 passed, 0 failed, 0 skipped (revoked)".
    public func line(_ name: String) -> String {
        "\(name): \(tests) tests, \(passed) passed, \(failed) failed, \(skipped) skipped (revoked)"
    }
}

/// Runs test files one after another, counting and reporting (what `x86v conformance` does).
public struct ConformanceSession {
    public var runner: ConformanceRunner
    public var revocations: RevocationList
    public var flagsTable: UndefinedFlagsTable?
    /// Also report each passing and skipped test, one line each.
    public var verbose: Bool
    /// Failure reports to print in all (0 = all); every test still runs and is counted.
    public var maxFailureReports: Int
    public private(set) var failureReports = 0
    public private(set) var total = ConformanceCounts()

    public init(runner: ConformanceRunner = ConformanceRunner(), revocations: RevocationList = RevocationList(),
                flagsTable: UndefinedFlagsTable? = nil, verbose: Bool = false, maxFailureReports: Int = 0) {
        self.runner = runner
        self.revocations = revocations
        self.flagsTable = flagsTable
        self.verbose = verbose
        self.maxFailureReports = maxFailureReports
    }

    /// Loads and runs every test of the file at `path`; `emit` gets report text, a line at a time.
    public mutating func run(path: String, emit: (String) -> Void) throws(ConformanceInputError) -> ConformanceCounts {
        let tests = try TestFileLoader.load(path)
        let name = String(path.split(separator: "/").last ?? Substring(path))
        var counts = ConformanceCounts()
        for var test in tests {
            counts.tests += 1
            if !test.hash.isEmpty && revocations.contains(test.hash) {
                counts.skipped += 1
                if verbose { emit("SKIP \(test.title(source: name)) (revoked)") }
                continue
            }
            test.resolveFlagsMask(table: flagsTable)
            let outcome = runner.run(test)
            if outcome.passed {
                counts.passed += 1
                if verbose { emit("PASS \(test.title(source: name))") }
                continue
            }
            counts.failed += 1
            failureReports += 1
            if maxFailureReports == 0 || failureReports <= maxFailureReports {
                emit(Self.report(test, outcome, source: name))
            } else if failureReports == maxFailureReports + 1 {
                emit("(more failures not shown: --max-failures \(maxFailureReports))")
            }
        }
        total += counts
        return counts
    }

    /// A failure report: the test, then each differing register or byte, expected against got.
    public static func report(_ test: ConformanceTest, _ outcome: TestOutcome, source: String) -> String {
        var lines = ["FAIL \(test.title(source: source))"]
        for m in outcome.mismatches { lines.append("  \(m)") }
        if outcome.mismatches.contains(where: { if case .register(.eflags, _, _, _) = $0 { true } else { false } }) {
            lines.append("  (flags mask \(hex(test.flagsMask ?? 0xFFFF_FFFF, 8)) from \(test.flagsMaskSource.rawValue))")
        }
        return lines.joined(separator: "\n")
    }
}
