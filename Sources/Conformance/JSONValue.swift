// A small JSON reader for test lines (x86v has no Foundation dependency). Every number in the
// conformance format is an unsigned decimal integer, so a number is kept as a UInt64 when it is
// one and rejected where a field needs one otherwise; no floating point, so 32-bit values stay
// exact. Errors carry the byte offset in the line.

enum JSONValue {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    /// nil when the number is not an unsigned integer that fits 64 bits.
    case number(UInt64?)
    case bool(Bool)
    case null

    subscript(_ key: String) -> JSONValue? {
        if case .object(let pairs) = self { return pairs.first { $0.0 == key }?.1 }
        return nil
    }

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var integer: UInt64? { if case .number(let n) = self { n } else { nil } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    var pairs: [(String, JSONValue)]? { if case .object(let p) = self { p } else { nil } }

    struct ParseError: Error { let offset: Int; let what: String }

    /// Parses exactly one value (surrounding white space allowed).
    static func parse(_ bytes: ArraySlice<UInt8>) throws(ParseError) -> JSONValue {
        var p = Parser(b: Array(bytes), i: 0)
        p.space()
        let v = try p.value(depth: 0)
        p.space()
        guard p.i == p.b.count else { throw ParseError(offset: p.i, what: "trailing characters") }
        return v
    }

    private struct Parser {
        let b: [UInt8]
        var i: Int

        mutating func space() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        }

        mutating func expect(_ c: UInt8) throws(ParseError) {
            guard i < b.count, b[i] == c else {
                throw ParseError(offset: i, what: "expected '\(Character(UnicodeScalar(c)))'")
            }
            i += 1
        }

        mutating func value(depth: Int) throws(ParseError) -> JSONValue {
            guard depth < 16 else { throw ParseError(offset: i, what: "nested too deeply") }
            guard i < b.count else { throw ParseError(offset: i, what: "unexpected end of line") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var pairs: [(String, JSONValue)] = []
                space()
                if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                while true {
                    space()
                    let key = try string()
                    space()
                    try expect(UInt8(ascii: ":"))
                    space()
                    pairs.append((key, try value(depth: depth + 1)))
                    space()
                    if i < b.count && b[i] == UInt8(ascii: ",") { i += 1; continue }
                    try expect(UInt8(ascii: "}"))
                    return .object(pairs)
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [JSONValue] = []
                space()
                if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    space()
                    items.append(try value(depth: depth + 1))
                    space()
                    if i < b.count && b[i] == UInt8(ascii: ",") { i += 1; continue }
                    try expect(UInt8(ascii: "]"))
                    return .array(items)
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try word("true"); return .bool(true)
            case UInt8(ascii: "f"): try word("false"); return .bool(false)
            case UInt8(ascii: "n"): try word("null"); return .null
            default: return try number()
            }
        }

        mutating func number() throws(ParseError) -> JSONValue {
            let start = i
            var value: UInt64? = 0
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
                if let v = value {
                    let (m, o1) = v.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(UInt64(b[i] - UInt8(ascii: "0")))
                    value = o1 || o2 ? nil : s
                }
                i += 1
            }
            var integral = i > start
            // Signs, fractions and exponents are valid JSON but not an unsigned integer.
            while i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: ".")
                    || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")
                    || (b[i] >= UInt8(ascii: "0") && b[i] <= UInt8(ascii: "9")) {
                integral = false
                i += 1
            }
            guard i > start else { throw ParseError(offset: start, what: "not a JSON value") }
            return .number(integral ? value : nil)
        }

        mutating func word(_ w: String) throws(ParseError) {
            for c in w.utf8 {
                guard i < b.count, b[i] == c else { throw ParseError(offset: i, what: "not a JSON value") }
                i += 1
            }
        }

        mutating func string() throws(ParseError) -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw ParseError(offset: i, what: "unterminated string") }
                let c = b[i]
                i += 1
                if c == UInt8(ascii: "\"") { break }
                guard c == UInt8(ascii: "\\") else { out.append(c); continue }
                guard i < b.count else { throw ParseError(offset: i, what: "unterminated string") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard i + 4 <= b.count,
                          let u = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16),
                          let scalar = UnicodeScalar(u) else { throw ParseError(offset: i, what: "bad \\u escape") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    i += 4
                default: out.append(e)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
