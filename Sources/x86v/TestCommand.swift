import ArgumentParser
import Machine
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// `x86v test`: the page-fault regression runner. Runs every guest in every configuration as a
/// child `x86v run`, and compares its serial output, exit status and delivered page faults with
/// the goldens in `expected/`. See docs/formats.md, "x86v test".
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run test guests in each configuration and compare them with their golden files.",
        discussion: """
            Inputs are directories (their build/*.elf and ROM images build/rom-*.bin, else *.elf, \
            that have expected/NAME.out) or guest files. Configurations: none (--virt=none), \
            hw-direct (--virt=hw --mmu=direct), hw-shadow (--virt=hw --mmu=shadow), and for ROM \
            guests (run with --bios, compared on the 0xE9 debug console) also classic \
            (--virt=classic) and bt (--virt=bt). Exit status: 0 all passed, 1 a run failed, \
            2 bad input. See docs/formats.md.
            """
    )

    @Argument(help: "Directories of guests (e.g. testguests/) or guest ELF files.") var inputs: [String]
    @Flag(help: "Rewrite the goldens from the first configuration that ran, and show the diff.")
    var update = false
    @Option(help: "Run only every n-th (guest, config) pair starting at i (1-based), e.g. 2/4.")
    var shard: String?
    @Option(help: "Runs at a time (default: the number of processors).") var jobs: Int?
    @Option(help: "Write a JUnit XML report to this file.") var junit: String?
    @Option(name: .customLong("config"), help: "Only this configuration: none, hw-direct, hw-shadow, classic, bt (repeatable).")
    var configs: [String] = []
    @Option(help: "The execution engine every run uses: blocks (default) or interp.")
    var engine: ExecutionEngine?

    /// One (guest, configuration) pair: its run, or why it is skipped.
    struct Case {
        let guest: Int
        let config: TestConfig
        var skip: String?
        var run: ChildRun?
        var serialPath = ""
        var tracePath = ""
    }

    enum Verdict {
        case ok, fail(String), skip(String)
    }

    func run() throws {
        let (shardIndex, shardCount) = try parseShard()
        let jobCount = jobs ?? processorCount()
        guard jobCount >= 1 else { throw InputError("bad --jobs \(jobCount) (must be ≥ 1)") }
        let wanted = try configs.map { name in
            guard let c = TestConfig(rawValue: name) else {
                throw InputError("unknown --config '\(name)' (\(TestConfig.names))")
            }
            return c
        }
        var guests = try discoverGuests(inputs, allowMissingGolden: update)
        if let path = junit, !writeTextFile(path, "") {
            throw InputError("\(path): \(String(cString: strerror(errno)))")
        }

        let tmp = try makeTemporaryDirectory()
        defer { removeTree(tmp) }
        let exe = selfExecutablePath()
        // What this build of `x86v run` can do: --mmu and --trace-faults are recent additions.
        _ = runChild([exe, "run", "--help"], logPath: "\(tmp)/help.txt")
        let help = String(decoding: (try? readFile("\(tmp)/help.txt")) ?? [], as: UTF8.self)
        let hasMMU = help.contains("--mmu")
        let hasTraceFaults = help.contains("--trace-faults")

        var cases: [Case] = []
        for (g, guest) in guests.enumerated() {
            for c in TestConfig.allCases where guest.spec.configs.contains(c) && (wanted.isEmpty || wanted.contains(c)) {
                cases.append(Case(guest: g, config: c))
            }
        }
        cases = cases.enumerated().filter { $0.offset % shardCount == shardIndex - 1 }.map(\.element)

        var runs: [ChildRun] = []
        var runCase: [Int] = []
        for i in cases.indices {
            let guest = guests[cases[i].guest]
            let config = cases[i].config
            if let why = guest.spec.skip { cases[i].skip = why; continue }
            if config == .hwShadow && !hasMMU { cases[i].skip = "this x86v has no --mmu"; continue }
            let stem = "\(tmp)/\(i)-\(guest.name)-\(config.rawValue)"
            cases[i].serialPath = stem + ".serial"
            cases[i].tracePath = stem + ".faults.jsonl"
            // A ROM guest powers on into its image and prints on the 0xE9 debug console.
            var argv = guest.isROM ? [exe, "run", "--bios", guest.elf] : [exe, "run", guest.elf]
            argv += config == .hwDirect && !hasMMU ? ["--virt=hw"] : config.runFlags
            if let e = engine { argv += ["--engine", e.rawValue] }
            if guest.isROM {
                argv += ["--debugcon", cases[i].serialPath, "--serial", "/dev/null"]
            } else {
                argv += ["--serial", cases[i].serialPath]
            }
            argv += ["--max-instructions", "2000000000", "--timeout", "120"]
            if hasTraceFaults { argv += ["--trace-faults", cases[i].tracePath] }
            argv += guest.spec.flags  // last, so a spec can override the limits
            runs.append(ChildRun(argv: argv, logPath: stem + ".log"))
            runCase.append(i)
        }

        let began = monotonicSeconds()
        if !hasTraceFaults { print("note: this x86v has no --trace-faults: page faults are not compared") }
        var verdicts = [Verdict?](repeating: nil, count: cases.count)
        var printed = 0
        for i in cases.indices { if let why = cases[i].skip { verdicts[i] = .skip(why) } }
        func printReady() {
            while printed < cases.count, let v = verdicts[printed] {
                print(line(for: cases[printed], v, guests))
                printed += 1
            }
        }
        if !update { printReady() }
        runPool(&runs, jobs: jobCount) { r, child in
            let i = runCase[r]
            cases[i].run = child
            if !update {
                verdicts[i] = verdict(cases[i], guests[cases[i].guest], traceCompared: hasTraceFaults)
                printReady()
            }
        }

        if update {
            for (g, guest) in guests.enumerated() {
                guard let first = cases.first(where: { $0.guest == g && $0.run != nil }) else { continue }
                rewriteGoldens(guest, from: first, traceAvailable: hasTraceFaults, tmp: tmp)
                guests[g].spec = guest.spec
            }
            for i in cases.indices where cases[i].run != nil {
                verdicts[i] = verdict(cases[i], guests[cases[i].guest], traceCompared: hasTraceFaults)
            }
            printReady()
        }

        let elapsed = monotonicSeconds() - began
        var passed = 0, failed = 0, skipped = 0
        for v in verdicts {
            switch v {
            case .ok?: passed += 1
            case .fail?: failed += 1
            case .skip?, nil: skipped += 1
            }
        }
        print("\(passed) passed, \(failed) failed, \(skipped) skipped")
        if let path = junit {
            let xml = junitReport(cases, verdicts.map { $0 ?? .skip("not run") }, guests, seconds: elapsed,
                                  counts: (passed + failed + skipped, failed, skipped))
            guard writeTextFile(path, xml) else { throw InputError("\(path): cannot write the JUnit report") }
        }
        throw ExitCode(failed == 0 ? 0 : 1)
    }

    func parseShard() throws -> (Int, Int) {
        guard let text = shard else { return (1, 1) }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 1, i <= n else {
            throw InputError("bad --shard '\(text)' (i/n with 1 ≤ i ≤ n, e.g. 2/4)")
        }
        return (i, n)
    }

    /// Compares one finished run with the guest's goldens: stop, output, exit status, faults.
    func verdict(_ c: Case, _ guest: TestGuest, traceCompared: Bool) -> Verdict {
        guard let run = c.run else { return .skip(c.skip ?? "not run") }
        let log = String(decoding: (try? readFile(run.logPath)) ?? [], as: UTF8.self)
        let stopLine = log.split(separator: "\n").last { $0.hasPrefix("x86v: ") }.map { String($0.dropFirst(6)) }
        let why = stopLine.map { " (\($0))" } ?? ""
        if run.signal != 0 { return .fail("x86v run killed by signal \(run.signal)\(why)") }
        let golden = guest.golden()
        guard golden.header != nil else { return .fail("no golden \(guest.outPath)") }
        let want = guest.expectedStatus(body: golden.body)
        // x86v's own stops (limit, not implemented, triple fault, timeout…) are even: say which.
        if run.status != want && run.status % 2 == 0 {
            return .fail("exit status \(run.status), want \(want)\(why)")
        }
        let serial = (try? readFile(c.serialPath)) ?? []
        guard let output = markedOutput(serial) else {
            return .fail("no 'x86v-guest: ' marker in the \(guest.outputName) (exit status \(run.status))")
        }
        if let d = firstDifference(got: output, want: golden.body, firstLine: 2) {
            return .fail("output differs \(d)")
        }
        if run.status != want { return .fail("exit status \(run.status), want \(want)\(why)") }
        if traceCompared && fileExists(guest.faultsPath) {
            let got = deliveredFaults(String(decoding: (try? readFile(c.tracePath)) ?? [], as: UTF8.self))
            let wantFaults = deliveredFaults(String(decoding: (try? readFile(guest.faultsPath)) ?? [], as: UTF8.self))
            if let d = firstFaultDifference(got: got, want: wantFaults) { return .fail("page faults differ: \(d)") }
        }
        return .ok
    }

    func line(for c: Case, _ v: Verdict, _ guests: [TestGuest]) -> String {
        let label = "\(guests[c.guest].name) [\(c.config.rawValue)]"
        switch v {
        case .ok: return "ok    \(label) \(formatSeconds(c.run?.seconds ?? 0)) s"
        case .fail(let m): return "FAIL  \(label): \(m)"
        case .skip(let m): return "skip  \(label) (\(m))"
        }
    }

    /// `--update`: new `.out` (header kept) and `.faults.jsonl` from one run, with a `diff -u`.
    func rewriteGoldens(_ guest: TestGuest, from c: Case, traceAvailable: Bool, tmp: String) {
        guard let run = c.run else { return }
        let old = guest.golden()
        // Never record a run that x86v stopped (even status: limit, not implemented, timeout…).
        if run.signal != 0 || (run.status % 2 == 0 && run.status != 0 && run.status != guest.spec.status) {
            let log = String(decoding: (try? readFile(run.logPath)) ?? [], as: UTF8.self)
            let why = log.split(separator: "\n").last { $0.hasPrefix("x86v: ") }.map { ": \($0.dropFirst(6))" } ?? ""
            print("not updated: \(guest.outPath): the [\(c.config.rawValue)] run stopped with exit status \(run.status)\(why)")
            return
        }
        guard let output = markedOutput((try? readFile(c.serialPath)) ?? []) else {
            print("not updated: \(guest.outPath): no 'x86v-guest: ' marker in the [\(c.config.rawValue)] \(guest.outputName) (exit status \(run.status))")
            return
        }
        let header = old.header ?? "# recorded by x86v test --update (config \(c.config.rawValue))"
        replaceGolden(guest.outPath, with: header + "\n" + output, config: c.config, tmp: tmp)
        guard traceAvailable, fileExists(c.tracePath) else { return }
        let faults = deliveredFaults(String(decoding: (try? readFile(c.tracePath)) ?? [], as: UTF8.self))
        // A guest that delivers no page faults gets no fault golden unless it already has one.
        if faults.isEmpty && !fileExists(guest.faultsPath) { return }
        replaceGolden(guest.faultsPath, with: faults.map { $0 + "\n" }.joined(), config: c.config, tmp: tmp)
    }

    func replaceGolden(_ path: String, with text: String, config: TestConfig, tmp: String) {
        let existed = fileExists(path)
        if existed, let bytes = try? readFile(path), bytes == Array(text.utf8) { return }
        let newPath = "\(tmp)/new-\(baseName(path, dropping: ""))"
        writeTextFile(newPath, text)
        _ = runChild(["diff", "-u", "--label", existed ? path : "/dev/null", "--label", path, existed ? path : "/dev/null", newPath],
                     logPath: "\(tmp)/diff.txt", searchPath: true)
        guard writeTextFile(path, text) else {
            print("not updated: \(path): \(String(cString: strerror(errno)))")
            return
        }
        print("updated \(path) from [\(config.rawValue)]")
        let diff = String(decoding: (try? readFile("\(tmp)/diff.txt")) ?? [], as: UTF8.self)
        print(diff, terminator: diff.hasSuffix("\n") || diff.isEmpty ? "" : "\n")
    }

    func junitReport(_ cases: [Case], _ verdicts: [Verdict], _ guests: [TestGuest], seconds: Double,
                     counts: (tests: Int, failures: Int, skipped: Int)) -> String {
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let totals = "tests=\"\(counts.tests)\" failures=\"\(counts.failures)\" errors=\"0\" skipped=\"\(counts.skipped)\" time=\"\(formatSeconds(seconds))\""
        x += "<testsuites \(totals)>\n"
        x += "  <testsuite name=\"x86v test\" \(totals)>\n"
        for (c, v) in zip(cases, verdicts) {
            let attrs = "classname=\"x86v.\(xmlEscaped(guests[c.guest].name))\" name=\"\(c.config.rawValue)\" time=\"\(formatSeconds(c.run?.seconds ?? 0))\""
            switch v {
            case .ok:
                x += "    <testcase \(attrs)/>\n"
            case .fail(let m):
                x += "    <testcase \(attrs)>\n      <failure message=\"\(xmlEscaped(m))\" type=\"mismatch\">\(xmlEscaped(m))</failure>\n    </testcase>\n"
            case .skip(let m):
                x += "    <testcase \(attrs)>\n      <skipped message=\"\(xmlEscaped(m))\"/>\n    </testcase>\n"
            }
        }
        x += "  </testsuite>\n</testsuites>\n"
        return x
    }
}

/// Seconds with two decimals ("0.41").
func formatSeconds(_ s: Double) -> String {
    let centis = Int((max(0, s) * 100).rounded())
    let frac = centis % 100
    return "\(centis / 100).\(frac < 10 ? "0" : "")\(frac)"
}
