/// The serial output from the `x86v-guest: ` marker on (what `expected/NAME.out` holds after
/// its header line); nil if the guest never printed the marker.
func markedOutput(_ serial: [UInt8]) -> String? {
    let text = String(decoding: serial, as: UTF8.self)
    guard let r = text.firstRange(of: "x86v-guest: ") else { return nil }
    return String(text[r.lowerBound...])
}

/// The first line where `got` and `want` differ, as "at line N: got "…", want "…"", with N
/// counted in the golden file (its header is line 1); nil if equal.
func firstDifference(got: String, want: String, firstLine: Int) -> String? {
    if got == want { return nil }
    let a = got.split(separator: "\n", omittingEmptySubsequences: false)
    let e = want.split(separator: "\n", omittingEmptySubsequences: false)
    var i = 0
    while i < min(a.count, e.count) && a[i] == e[i] { i += 1 }
    let g = i < a.count ? quoteForMessage(a[i]) : "end of output"
    let w = i < e.count ? quoteForMessage(e[i]) : "end of output"
    return "at line \(i + firstLine): got \(g), want \(w)"
}

/// A line in double quotes with Swift escapes, shortened to 160 characters.
func quoteForMessage<S: StringProtocol>(_ s: S) -> String {
    let text = String(s)
    let short = text.count > 160 ? String(text.prefix(160)) + "…" : text
    return short.debugDescription
}

// MARK: - Fault traces

/// The keys of a fault-trace line that every MMU mode must agree on, in golden-file order.
/// Everything else (`kind`, `seq`, shadow/walk details) legitimately differs between modes.
let comparedFaultKeys = ["icount", "eip", "cr2", "error_code"]

/// The delivered page faults of a `--trace-faults` file (or of a golden), each reduced to
/// `{"icount":…,"eip":…,"cr2":…,"error_code":…}` with the values' JSON text kept verbatim.
/// Lines without a `kind` key count as delivered (a golden holds only those).
func deliveredFaults(_ text: String) -> [String] {
    var lines: [String] = []
    for line in text.split(separator: "\n") {
        guard let fields = parseFlatJSONObject(Array(line.utf8)) else {
            if !line.trimmingSpaces().isEmpty { lines.append(String(line)) }  // kept, so it shows in a diff
            continue
        }
        if let kind = fields.first(where: { $0.key == "kind" }), kind.value != "\"delivered\"" { continue }
        let kept = comparedFaultKeys.compactMap { key in
            fields.first { $0.key == key }.map { "\"\(key)\":\($0.value)" }
        }
        lines.append("{" + kept.joined(separator: ",") + "}")
    }
    return lines
}

/// The top-level members of one JSON object, values as their raw JSON text; nil if malformed.
func parseFlatJSONObject(_ b: [UInt8]) -> [(key: String, value: String)]? {
    var i = 0
    func skipSpace() { while i < b.count && (b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0D) { i += 1 } }
    /// Skips a string starting at b[i] == '"'; false if unterminated.
    func skipString() -> Bool {
        i += 1
        while i < b.count {
            if b[i] == 0x5C { i += 2; continue }
            if b[i] == 0x22 { i += 1; return true }
            i += 1
        }
        return false
    }
    skipSpace()
    guard i < b.count, b[i] == 0x7B else { return nil }  // {
    i += 1
    var fields: [(key: String, value: String)] = []
    skipSpace()
    if i < b.count && b[i] == 0x7D { return fields }
    while true {
        skipSpace()
        guard i < b.count, b[i] == 0x22 else { return nil }
        let keyStart = i + 1
        guard skipString() else { return nil }
        let key = String(decoding: b[keyStart..<(i - 1)], as: UTF8.self)
        skipSpace()
        guard i < b.count, b[i] == 0x3A else { return nil }  // :
        i += 1
        skipSpace()
        let valueStart = i
        var depth = 0
        while i < b.count {
            let c = b[i]
            if c == 0x22 { guard skipString() else { return nil }; continue }
            if c == 0x7B || c == 0x5B { depth += 1 }
            if c == 0x7D || c == 0x5D {
                if depth == 0 { break }
                depth -= 1
            }
            if c == 0x2C && depth == 0 { break }
            i += 1
        }
        guard i < b.count, i > valueStart else { return nil }
        fields.append((key, String(decoding: b[valueStart..<i], as: UTF8.self).trimmingSpaces()))
        if b[i] == 0x2C { i += 1; continue }
        i += 1  // }
        skipSpace()
        return i == b.count ? fields : nil
    }
}

/// The first difference between two lists of normalized fault lines, or nil.
func firstFaultDifference(got: [String], want: [String]) -> String? {
    if got == want { return nil }
    var i = 0
    while i < min(got.count, want.count) && got[i] == want[i] { i += 1 }
    if i == got.count || i == want.count {
        return "\(got.count) delivered page faults, want \(want.count) (first \(i) agree)"
    }
    return "delivered page fault \(i + 1) differs: got \(got[i]), want \(want[i])"
}

// MARK: - JUnit

/// Text for an XML attribute or element: &<>"' escaped, and characters XML 1.0 cannot hold
/// (C0 controls other than tab/newline/CR) written as `\u{..}`.
func xmlEscaped(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for scalar in s.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        default:
            if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}
