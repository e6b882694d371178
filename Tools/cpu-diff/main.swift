// cpu-diff: differential check of X86Core against the host CPU on random user-mode code.
//
//     cpu-diff [--count N] [--seed S] [--harness PATH] [--case K] [--max-length L] [--show M]
//              [--no-reduce] [--no-mask] [--exclude MNEMONIC,...] [--stats] [--verbose]
//              [--engine blocks|interp] [--family int|x87|mmx|sse|fpu|all] [--unmasked P]
//
// Generates N seeded random sequences (Generator), runs them natively through
// Tools/native-harness and on X86Core (Emulated), and compares GPRs, EFLAGS (masking only the
// bits the opcode table's `undefined:` column calls undefined on the path taken), the exception
// vector and EIP on a fault, and the 8 KiB sandbox. Prints one summary line, then the first
// mismatches. Exit status: 0 all equal, 1 mismatches, 2 usage or harness errors.
// `--case K` reruns case K of the seed alone. Each shown mismatch is first reduced (groups of
// setup + instruction dropped while it still mismatches) unless `--no-reduce`.
// `--family` picks the instructions (default int); the FPU families start every case from a
// random FPU state (an FXSAVE image the harness FXRSTORs) and also compare the FXSAVE image
// after it (FPUCompare); `--unmasked P` is the percentage of states with unmasked exceptions.

import Foundation
import X86Core
import X86Decode

struct Options {
    var count = 10_000
    var seed: UInt64 = 1
    /// Default: the Makefile's output, relative to the working directory or to this executable
    /// (.build/release/cpu-diff → ../../Tools/native-harness/build/native-harness).
    var harness: String = {
        let relative = "Tools/native-harness/build/native-harness"
        if FileManager.default.isExecutableFile(atPath: relative) { return relative }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let beside = executable.deletingLastPathComponent().appendingPathComponent("../../../" + relative).standardized.path
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : relative
    }()
    var only: Int?
    /// The engine x86v runs the cases with (one instruction per run: each is a block's first).
    var engine = ExecutionEngine.blocks
    var maxLength = 20
    var show = 5
    var verbose = false
    /// Shrink each shown mismatch to the fewest instruction groups that still mismatch.
    var reduce = true
    /// Mnemonics not to generate.
    var exclude: Set<String> = []
    /// Compare undefined flags too (shows how this CPU model and x86v fill them in).
    var maskUndefined = true
    /// Print how often each mnemonic was generated.
    var stats = false
    /// The instruction families (`--family`).
    var family = Generator.Family.int
    /// Percent of FPU control words and MXCSR values with unmasked exceptions.
    var unmasked = 15
}

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(("cpu-diff: \(message)\n"
        + "usage: cpu-diff [--count N] [--seed S] [--harness PATH] [--case K] [--max-length L] [--show M] [--no-reduce] [--no-mask] [--exclude MNEMONIC,...] [--stats] [--verbose] [--engine blocks|interp] [--family int|x87|mmx|sse|fpu|all] [--unmasked P]\n")
        .data(using: .utf8)!)
    exit(2)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    func number(_ flag: String) -> UInt64 {
        guard let text = args.popFirst() else { usage("\(flag) needs a value") }
        let value = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16)
            : text.hasPrefix("-") ? Int64(text).map { UInt64(bitPattern: $0) } : UInt64(text)
        guard let value else { usage("bad value for \(flag): \(text)") }
        return value
    }
    while let arg = args.popFirst() {
        switch arg {
        case "--count": o.count = Int(number(arg))
        case "--seed": o.seed = number(arg)
        case "--harness": guard let p = args.popFirst() else { usage("--harness needs a path") }; o.harness = p
        case "--case": o.only = Int(Int64(bitPattern: number(arg)))
        case "--max-length": o.maxLength = max(1, Int(number(arg)))
        case "--show": o.show = Int(number(arg))
        case "--verbose", "-v": o.verbose = true
        case "--no-reduce": o.reduce = false
        case "--no-mask": o.maskUndefined = false
        case "--stats": o.stats = true
        case "--engine":
            guard let e = args.popFirst().flatMap(ExecutionEngine.init(rawValue:)) else { usage("--engine needs blocks or interp") }
            o.engine = e
        case "--family":
            guard let f = args.popFirst().flatMap(Generator.Family.init(rawValue:)) else {
                usage("--family needs one of " + Generator.Family.allCases.map(\.rawValue).joined(separator: ", "))
            }
            o.family = f
        case "--unmasked": o.unmasked = min(100, Int(number(arg)))
        case "--exclude":
            guard let list = args.popFirst() else { usage("--exclude needs a list") }
            o.exclude = Set(list.split(separator: ",").map(String.init))
        case "--help", "-h": usage("help")
        default: usage("unknown argument \(arg)")
        }
    }
    return o
}

struct Mismatch {
    let index: Int
    let testCase: TestCase
    let native: Outcome
    let emulated: Emulated.Run
    let what: [String]
}

let vectorNames: [Int: String] = [0: "DE", 1: "DB", 3: "BP", 4: "OF", 5: "BR", 6: "UD", 7: "NM", 12: "SS", 13: "GP", 14: "PF",
                                  16: "MF", 17: "AC", 19: "XM"]
let registerNames = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]

func hex(_ v: UInt32, _ digits: Int = 8) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
}

func flagNames(_ mask: UInt32) -> String {
    let names: [(UInt32, String)] = [(0x1, "CF"), (0x4, "PF"), (0x10, "AF"), (0x40, "ZF"), (0x80, "SF"), (0x100, "TF"),
                                     (0x200, "IF"), (0x400, "DF"), (0x800, "OF"), (0x3000, "IOPL"), (0x4000, "NT"),
                                     (0x4_0000, "AC"), (0x20_0000, "ID")]
    let list = names.filter { mask & $0.0 != 0 }.map(\.1)
    return list.isEmpty ? "-" : list.joined(separator: " ")
}

let hostNondeterminism = "native outcome changed on a rerun (FIP/FDP/FOP lost across a kernel FPU save with ES = 0)"
let sdmCompareFlags = "FCOMI/FUCOMI(P) with an unmasked #I: ZF PF CF (host 111; SDM Vol. 2A FCOMI: not set)"

/// Differences between the native outcome and x86v's, after masking undefined flags, and the
/// known-difference categories that hid one.
struct Comparison {
    var what: [String] = []
    var skipped: [String] = []
}

func compare(_ native: Outcome, _ run: Emulated.Run, _ c: TestCase) -> Comparison {
    var result = Comparison()
    var what: [String] = []
    let x = run.outcome
    if let other = run.otherExit { what.append("x86v exit \(other)") }
    if native.vector != x.vector {
        what.append("exception: native \(native.vector.map { "#\($0)" } ?? "none"), x86v \(x.vector.map { "#\($0)" } ?? "none")")
    } else if native.vector != nil && native.errorCode != x.errorCode {
        what.append("error code: native \(hex(native.errorCode)), x86v \(hex(x.errorCode))")
    }
    if native.eip != x.eip { what.append("eip: native +\(hex(native.eip, 1)), x86v +\(hex(x.eip, 1))") }
    for i in 0..<8 where native.regs[i] != x.regs[i] { what.append(registerNames[i]) }
    let undefinedFlags = options.maskUndefined ? run.undefined : 0
    let flagDiff = (native.eflags ^ x.eflags) & ~(undefinedFlags | run.sdmFlags | 0x10000)
    if flagDiff != 0 { what.append("eflags (\(flagNames(flagDiff)))") }
    if (native.eflags ^ x.eflags) & run.sdmFlags & ~undefinedFlags != 0 { result.skipped.append(sdmCompareFlags) }
    if native.sandboxDiff != x.sandboxDiff { what.append("sandbox") }
    if let n = native.fpu, let e = x.fpu {
        let f = FPUCompare(native: n, x86v: e, undefinedConditions: run.undefinedConditions,
                           disputedConditions: run.disputedConditions, selectorsUnknown: native.selectorsUnknown,
                           mask: options.maskUndefined)
        what += f.differences
        result.skipped += f.skipped
    } else if (native.fpu == nil) != (x.fpu == nil) {
        what.append("fpu image missing on one side")
    }
    if run.readSDMFlags && !what.isEmpty {
        // The case went on from ZF PF CF the host and the SDM set differently (see sdmFlags).
        result.skipped.append(sdmCompareFlags)
        what = []
    }
    if run.readUndefined && !what.isEmpty { what.append("(an instruction read an undefined flag)") }
    if run.readUndefinedConditions && !what.isEmpty { what.append("(an instruction stored undefined C0-C3)") }
    result.what = what
    return result
}

func describe(_ m: Mismatch, seed: UInt64) -> String {
    let name = m.index < 0 ? "corpus case \"\(Corpus.entries[-1 - m.index].name)\"" : "case \(m.index)"
    var out = "\(m.what == ["equal"] ? "no mismatch" : "mismatch") in \(name) (rerun: cpu-diff --seed \(seed) --case \(m.index) --verbose): "
        + m.what.joined(separator: ", ") + "\n"
    let disassembler = Disassembler()
    let decoder = Decoder()
    let code = m.testCase.code
    var offset = 0
    var instruction = DecodedInstruction()
    while offset < code.count {
        let status = code.withUnsafeBufferPointer {
            decoder.decode($0.baseAddress! + offset, count: code.count - offset, mode: .bits32, into: &instruction)
        }
        let length = status == .ok ? Int(instruction.length) : 1
        let address = Layout.codeBase + UInt32(offset)
        let bytes = code[offset..<(offset + length)].map { hex2($0) }.joined(separator: " ")
        let text = status == .ok ? disassembler.text(instruction, address: address) : "(bad)"
        let marker = (m.native.vector != nil && UInt32(offset) == m.native.eip) ? "  <- native fault" : ""
        out += "    \(String(address, radix: 16))  \(bytes.padding(toLength: 36, withPad: " ", startingAt: 0)) \(text)\(marker)\n"
        offset += length
    }
    func registers(_ regs: [UInt32], _ flags: UInt32) -> String {
        (0..<8).map { "\(registerNames[$0])=\(hex(regs[$0]))" }.joined(separator: " ") + " eflags=\(hex(flags))"
    }
    out += "  in:     " + registers(m.testCase.regs, (m.testCase.eflags & Layout.caseFlags) | 0x202)
        + "  fill=\(hex(m.testCase.fillSeed)) patches=\(m.testCase.patches.count)\n"
    func end(_ o: Outcome) -> String { o.vector.map { "#\($0) at +\(hex(o.eip, 1))" + (o.errorCode != 0 ? " (\(hex(o.errorCode)))" : "") } ?? "end" }
    out += "  native: " + registers(m.native.regs, m.native.eflags) + "  \(end(m.native))\n"
    out += "  x86v:   " + registers(m.emulated.outcome.regs, m.emulated.outcome.eflags) + "  \(end(m.emulated.outcome))\n"
    out += "  undefined flags at the end: \(flagNames(m.emulated.undefined))\n"
    if let image = m.testCase.fpu {
        out += "  fpu in: " + fpuSummary(image) + "\n"
        out += "          st: " + (0..<8).map { x87Text(image.st($0)) }.joined(separator: " ") + "\n"
        out += "          xmm: " + (0..<8).map { xmmText(image.xmm($0)) }.joined(separator: " ") + "\n"
        if let n = m.native.fpu { out += "  native: " + fpuSummary(n) + "\n" }
        if let e = m.emulated.outcome.fpu { out += "  x86v:   " + fpuSummary(e) + "\n" }
        out += "  C0-C3 undefined at the end: \(FSW.conditionNames(m.emulated.undefinedConditions))\n"
    }
    if m.native.sandboxDiff != m.emulated.outcome.sandboxDiff {
        var native: [Int: UInt8] = [:], emulated: [Int: UInt8] = [:]
        for d in m.native.sandboxDiff { native[Int(d >> 8)] = UInt8(d & 0xFF) }
        for d in m.emulated.outcome.sandboxDiff { emulated[Int(d >> 8)] = UInt8(d & 0xFF) }
        var initial = [UInt8](repeating: 0, count: Layout.sandboxSize)
        initial.withUnsafeMutableBytes { m.testCase.initialSandbox(into: $0.baseAddress!) }
        let offsets = Set(native.keys).union(emulated.keys).sorted().filter { native[$0] != emulated[$0] }
        for o in offsets.prefix(12) {
            let n = native[o] ?? initial[o], e = emulated[o] ?? initial[o]
            out += "  sandbox \(hex(Layout.sandboxBase + UInt32(o))): initial \(hex2(initial[o])) native \(hex2(n)) x86v \(hex2(e))\n"
        }
        if offsets.count > 12 { out += "  … \(offsets.count - 12) more sandbox bytes differ\n" }
    }
    return out
}

/// FCW, FSW (TOP), abridged tags, the pointers and MXCSR of an FXSAVE image, on one line.
func fpuSummary(_ i: FXImage) -> String {
    "fcw=\(hex16(i.fcw)) fsw=\(hex16(i.fsw)) (top \(i.top)) ftw=\(hex2(i.ftw)) fop=\(hex(UInt32(i.fop), 3)) "
        + "fip=\(hex16(i.fcs)):\(hex(i.fip)) fdp=\(hex16(i.fds)):\(hex(i.fdp)) mxcsr=\(hex(i.mxcsr))"
}

/// What kind of difference a `compare` line reports ("eax", "exception", "eflags", …).
func kind(_ line: String) -> String {
    String(line.prefix { $0 != ":" && $0 != "(" }).trimmingCharacters(in: .whitespaces)
}

/// Drops instruction groups while the case still mismatches the same way (its first kind of
/// difference, and no undefined flag read): greedy, one group per round, each round one native
/// batch of every single-group removal.
func reduce(_ original: TestCase, what: [String], harness: String, emulated: Emulated) throws -> TestCase {
    let first = what.first.map(kind) ?? ""
    var keep = [Bool](repeating: true, count: original.program.groupCount)
    var best = original
    var tag = 1000
    while true {
        var candidates: [(keep: [Bool], testCase: TestCase)] = []
        for g in 0..<keep.count where keep[g] {
            var k = keep
            k[g] = false
            var c = original
            c.code = original.program.code(keeping: k)
            c.instructionCount = original.program.instructionCount(keeping: k)
            candidates.append((k, c))
        }
        if candidates.isEmpty { return best }
        let native = try NativeRun(harness: harness, cases: candidates.map(\.testCase), tag: tag)
        let runs = candidates.map { emulated.run($0.testCase) }
        let outcomes = try native.wait()
        tag += 1
        guard let hit = candidates.indices.first(where: {
            !runs[$0].readUndefined && compare(outcomes[$0], runs[$0], candidates[$0].testCase).what.contains { kind($0) == first }
        })
        else { return best }
        keep = candidates[hit].keep
        best = candidates[hit].testCase
    }
}

let options = parseOptions()
let started = Date()
let emulated = Emulated()
emulated.cpu.engine = options.engine
if options.family.usesFPU {
    do { emulated.hostMXCSRMask = try NativeRun.hostMXCSRMask(harness: options.harness) } catch {
        FileHandle.standardError.write("cpu-diff: \(error)\n".data(using: .utf8)!)
        exit(2)
    }
}
// Negative indices name corpus entries (-1 is the first), run before the random cases.
let corpusIndices = (0..<Corpus.entries.count).filter { options.family.usesFPU || Corpus.entries[$0].fpu == nil }.map { -1 - $0 }
let indices: [Int] = options.only.map { [$0] } ?? (corpusIndices + Array(0..<options.count))
let randomCount = indices.filter { $0 >= 0 }.count
let chunkSize = 4096
var mismatches: [Mismatch] = []
var mismatchCount = 0
var faults = 0
var vectors = [Int](repeating: 0, count: 32)
var readUndefined = 0
var readUndefinedConditions = 0
var instructions = 0
var kinds: [String: Int] = [:]
/// Known-difference and not-comparable categories, by the number of cases where one hid a
/// difference (FPU families).
var skips: [String: Int] = [:]

func makeGenerator(_ index: Int) -> Generator {
    Generator(seed: SplitMix64.caseSeed(options.seed, index), excluding: options.exclude, family: options.family,
              unmaskedPercent: options.unmasked)
}

do {
    var chunkStart = 0
    var tag = 0
    while chunkStart < indices.count {
        let chunk = Array(indices[chunkStart..<min(chunkStart + chunkSize, indices.count)])
        var cases: [TestCase] = []
        cases.reserveCapacity(chunk.count)
        for index in chunk {
            if index < 0 {
                cases.append(Corpus.testCase(Corpus.entries[-1 - index]))
                continue
            }
            var generator = makeGenerator(index)
            cases.append(generator.makeCase(maxLength: options.maxLength))
        }
        let native = try NativeRun(harness: options.harness, cases: cases, tag: tag)
        var runs: [Emulated.Run] = []
        runs.reserveCapacity(cases.count)
        for c in cases { runs.append(emulated.run(c)) }
        var nativeOutcomes = try native.wait()
        if options.family.usesFPU {
            // A mismatching case runs natively once more. This host loses FIP/FDP/FOP while
            // FSW.ES = 0 whenever the kernel saves and restores the FPU state in the middle of a
            // case (a context switch: AMD's XSAVE/XRSTOR skip them like FXSAVE), so FNSTENV and
            // FNSAVE images are, about once in 100,000 cases, not the case's own. A second
            // native outcome that differs from the first and agrees with x86v is counted, not
            // reported.
            let suspects = cases.indices.filter { !compare(nativeOutcomes[$0], runs[$0], cases[$0]).what.isEmpty }
            if !suspects.isEmpty {
                let again = try NativeRun(harness: options.harness, cases: suspects.map { cases[$0] }, tag: tag + 100_000).wait()
                for (n, k) in suspects.enumerated() where again[n] != nativeOutcomes[k]
                    && compare(again[n], runs[k], cases[k]).what.isEmpty {
                    nativeOutcomes[k] = again[n]
                    skips[hostNondeterminism, default: 0] += 1
                }
            }
        }
        for (k, c) in cases.enumerated() {
            instructions += c.instructionCount
            if let v = nativeOutcomes[k].vector { faults += 1; vectors[Int(v) & 31] += 1 }
            if runs[k].readUndefined { readUndefined += 1 }
            if runs[k].readUndefinedConditions { readUndefinedConditions += 1 }
            let comparison = compare(nativeOutcomes[k], runs[k], c)
            let what = comparison.what
            if what.isEmpty {
                for s in Set(comparison.skipped) { skips[s, default: 0] += 1 }
                for f in runs[k].hostForms { skips[f.rawValue, default: 0] += 1 }
                // `--case K --verbose` shows the case even when it matches.
                if options.only != nil && options.verbose {
                    print(describe(Mismatch(index: chunk[k], testCase: c, native: nativeOutcomes[k], emulated: runs[k],
                                            what: ["equal"]), seed: options.seed))
                }
                continue
            }
            mismatchCount += 1
            for w in what { kinds[kind(w), default: 0] += 1 }
            if mismatches.count < max(options.show, options.verbose ? 20 : 0) {
                mismatches.append(Mismatch(index: chunk[k], testCase: c, native: nativeOutcomes[k], emulated: runs[k], what: what))
            }
        }
        if options.verbose {
            FileHandle.standardError.write("cpu-diff: \(chunkStart + chunk.count)/\(indices.count) cases, \(mismatchCount) mismatches\n".data(using: .utf8)!)
        }
        chunkStart += chunk.count
        tag += 1
    }
} catch {
    FileHandle.standardError.write("cpu-diff: \(error)\n".data(using: .utf8)!)
    exit(2)
}

if options.stats {
    // Mnemonics as generated (setup MOVs included), most frequent first.
    var counts: [String: Int] = [:]
    let decoder = Decoder()
    let table = OpcodeTable.shared
    for index in indices.filter({ $0 >= 0 }).prefix(20_000) {
        var generator = makeGenerator(index)
        let c = generator.makeCase(maxLength: options.maxLength)
        var offset = 0
        var instruction = DecodedInstruction()
        while offset < c.code.count {
            _ = c.code.withUnsafeBufferPointer {
                decoder.decode($0.baseAddress! + offset, count: c.code.count - offset, mode: .bits32, into: &instruction)
            }
            var name = table.mnemonic(row: Int(instruction.row), wide: instruction.operandSize32)
            if instruction.prefixes.contains(.rep) { name = "rep " + name }
            if instruction.prefixes.contains(.repne) { name = "repne " + name }
            counts[name, default: 0] += 1
            offset += Int(instruction.length)
        }
    }
    print(counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        .map { "\($0.key) \($0.value)" }.joined(separator: ", "))
}

let seconds = Date().timeIntervalSince(started)
let kindText = kinds.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
print("cpu-diff: \(randomCount) \(options.family == .int ? "" : options.family.rawValue + " ")sequences (\(instructions) instructions, \(emulated.executed) executed by x86v) "
      + "+ \(indices.count - randomCount) corpus cases, "
      + "mismatches: \(mismatchCount), native exceptions: \(faults)"
      + (faults == 0 ? "" : " (" + vectors.indices.filter { vectors[$0] > 0 }.map { "#\(vectorNames[$0] ?? String($0)) \(vectors[$0])" }.joined(separator: ", ") + ")")
      + ", undefined-flag reads: \(readUndefined), "
      + (options.family.usesFPU ? "undefined-C0-C3 stores: \(readUndefinedConditions), " : "")
      + "seed \(options.seed), \(String(format: "%.1f", seconds)) s" + (kindText.isEmpty ? "" : " [\(kindText)]"))
if options.family.usesFPU {
    // One line per category: matching cases where a known difference or a field the host does
    // not save hid a difference (Tools/cpu-diff/FPUKnownDifferences.md).
    let categories = [FPUCompare.undefinedConditions, FPUCompare.disputedConditions, sdmCompareFlags,
                      FPUCompare.pointersUnsaved, FPUCompare.selectorsUnknown, hostNondeterminism]
        + HostForm.allCases.map(\.rawValue)
    for name in categories + skips.keys.filter({ !categories.contains($0) }).sorted() {
        print("cpu-diff:   skipped \(skips[name] ?? 0): \(name)")
    }
}
for m in mismatches.prefix(options.verbose ? 20 : options.show) {
    var shown = m
    if options.reduce, let reduced = try? reduce(m.testCase, what: m.what, harness: options.harness, emulated: emulated),
       let outcome = try? NativeRun(harness: options.harness, cases: [reduced], tag: 999).wait().first {
        let run = emulated.run(reduced)
        shown = Mismatch(index: m.index, testCase: reduced, native: outcome, emulated: run, what: compare(outcome, run, reduced).what)
        if reduced.instructionCount < m.testCase.instructionCount {
            print("(reduced from \(m.testCase.instructionCount) to \(reduced.instructionCount) instructions)")
        }
    }
    print(describe(shown, seed: options.seed))
}
exit(mismatchCount == 0 ? 0 : 1)
