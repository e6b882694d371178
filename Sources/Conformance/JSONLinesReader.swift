// The JSON-lines form of the suite (../shared/conformance/80386/README.md, "Line format"): one
// test object per line, every number unsigned decimal. Unknown keys (`ea`, `queue`, `cycles`)
// are ignored; a missing or mistyped field the runner needs is an error naming the line.

/// Reads the JSON-lines form into `ConformanceTest`s.
public enum JSONLinesReader {
    /// Every test in `bytes` (a whole file). `file` names the source in errors and is the test's
    /// `file` when a line has none. Blank lines are skipped.
    public static func read(_ bytes: [UInt8], file: String) throws(ConformanceInputError) -> [ConformanceTest] {
        var tests: [ConformanceTest] = []
        var lineStart = 0
        var lineNumber = 0
        let stem = testFileStem(file)
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            lineNumber += 1
            let line = bytes[lineStart..<lineEnd]
            lineStart = lineEnd + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do throws(LineError) {
                tests.append(try test(line, defaultFile: stem))
            } catch {
                throw ConformanceInputError("\(file): line \(lineNumber): \(error.what)")
            }
        }
        return tests
    }

    /// One test from one line of text (for tests and tools).
    public static func test(line: String, file: String = "") throws(ConformanceInputError) -> ConformanceTest {
        do throws(LineError) {
            return try test(Array(line.utf8)[...], defaultFile: file)
        } catch {
            throw ConformanceInputError("\(file.isEmpty ? "line" : file): \(error.what)")
        }
    }

    struct LineError: Error { let what: String }

    static func test(_ line: ArraySlice<UInt8>, defaultFile: String) throws(LineError) -> ConformanceTest {
        let v: JSONValue
        do { v = try JSONValue.parse(line) } catch {
            throw LineError(what: "malformed JSON at byte \(error.offset): \(error.what)")
        }
        guard v.pairs != nil else { throw LineError(what: "not a JSON object") }
        var t = ConformanceTest(
            file: try optionalString(v, "file") ?? defaultFile,
            index: Int(try integer(v, "idx", max: UInt64(Int32.max))),
            hash: (try optionalString(v, "hash") ?? "").lowercased(),
            name: try optionalString(v, "name") ?? "",
            bytes: try byteArray(v, "bytes"),
            mode: try optionalString(v, "mode") ?? "real")
        guard let initial = v["initial"], initial.pairs != nil else { throw LineError(what: "no \"initial\" object") }
        guard let final = v["final"], final.pairs != nil else { throw LineError(what: "no \"final\" object") }
        t.initialRegisters = try registers(initial, "initial")
        t.initialRAM = try ram(initial, "initial")
        t.finalRegisters = try registers(final, "final")
        t.finalRAM = try ram(final, "final")
        for r in ConformanceRegister.allCases where t.initialRegisters[r] == nil {
            throw LineError(what: "initial.regs has no \"\(r.name)\"")
        }
        if v["flags_mask"] != nil {
            t.flagsMask = UInt32(try integer(v, "flags_mask", max: 0xFFFF_FFFF))
            let src = try optionalString(v, "flags_mask_src") ?? "test"
            guard let source = FlagsMaskSource(rawValue: src) else {
                throw LineError(what: "unknown flags_mask_src \"\(src)\"")
            }
            t.flagsMaskSource = source
        }
        if let masks = v["reg_masks"] {
            guard let pairs = masks.pairs else { throw LineError(what: "\"reg_masks\" is not an object") }
            for (k, m) in pairs {
                guard let r = ConformanceRegister(name: k) else { throw LineError(what: "reg_masks: unknown register \"\(k)\"") }
                guard let n = m.integer, n <= 0xFFFF_FFFF else { throw LineError(what: "reg_masks.\(k) is not a 32-bit unsigned integer") }
                t.registerMasks[r] = UInt32(n)
            }
        }
        if let e = v["exception"] {
            guard e.pairs != nil else { throw LineError(what: "\"exception\" is not an object") }
            t.exception = TestException(vector: UInt8(try integer(e, "number", max: 255, path: "exception.")),
                                        flagAddress: UInt32(try integer(e, "flag_address", max: 0xFFFF_FFFF, path: "exception.")))
        }
        return t
    }

    private static func optionalString(_ v: JSONValue, _ key: String) throws(LineError) -> String? {
        guard let f = v[key] else { return nil }
        guard let s = f.string else { throw LineError(what: "\"\(key)\" is not a string") }
        return s
    }

    private static func integer(_ v: JSONValue, _ key: String, max: UInt64, path: String = "") throws(LineError) -> UInt64 {
        guard let f = v[key] else { throw LineError(what: "no \"\(path)\(key)\"") }
        guard let n = f.integer, n <= max else {
            throw LineError(what: "\"\(path)\(key)\" is not an unsigned integer up to \(max)")
        }
        return n
    }

    private static func byteArray(_ v: JSONValue, _ key: String) throws(LineError) -> [UInt8] {
        guard let f = v[key] else { return [] }
        guard let items = f.array else { throw LineError(what: "\"\(key)\" is not an array") }
        var out: [UInt8] = []
        for item in items {
            guard let n = item.integer, n <= 0xFF else { throw LineError(what: "\"\(key)\" holds a value that is not a byte") }
            out.append(UInt8(n))
        }
        return out
    }

    private static func registers(_ state: JSONValue, _ which: String) throws(LineError) -> RegisterValues {
        var out = RegisterValues()
        guard let regs = state["regs"] else { return out }
        guard let pairs = regs.pairs else { throw LineError(what: "\(which).regs is not an object") }
        for (k, v) in pairs {
            guard let r = ConformanceRegister(name: k) else { throw LineError(what: "\(which).regs: unknown register \"\(k)\"") }
            guard let n = v.integer, n <= 0xFFFF_FFFF else {
                throw LineError(what: "\(which).regs.\(k) is not a 32-bit unsigned integer")
            }
            out[r] = UInt32(n)
        }
        return out
    }

    private static func ram(_ state: JSONValue, _ which: String) throws(LineError) -> [RAMByte] {
        guard let ram = state["ram"] else { return [] }
        guard let entries = ram.array else { throw LineError(what: "\(which).ram is not an array") }
        var out: [RAMByte] = []
        out.reserveCapacity(entries.count)
        for (i, e) in entries.enumerated() {
            guard let pair = e.array, pair.count == 2, let a = pair[0].integer, a <= 0xFFFF_FFFF,
                  let b = pair[1].integer, b <= 0xFF else {
                throw LineError(what: "\(which).ram[\(i)] is not [address, byte]")
            }
            out.append(RAMByte(UInt32(a), UInt8(b)))
        }
        return out
    }
}

/// "dir/676601.MOO.gz" → "676601"; "00.jsonl" → "00"; "80.4.MOO" → "80.4".
public func testFileStem(_ path: String) -> String {
    var name = Substring(path.split(separator: "/", omittingEmptySubsequences: false).last ?? "")
    for suffix in [".gz", ".jsonl", ".json", ".MOO", ".moo"] where name.hasSuffix(suffix) {
        name = name.dropLast(suffix.count)
    }
    return String(name)
}
