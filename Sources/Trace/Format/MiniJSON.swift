/// A small JSON reader for trace lines (x86v has no Foundation dependency, and a trace line is
/// small and regular). Parses one value from UTF-8 bytes; errors carry the byte offset.
indirect enum JSONValue {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    subscript(_ key: String) -> JSONValue? {
        if case .object(let pairs) = self { return pairs.first { $0.0 == key }?.1 }
        return nil
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    /// A whole number from 0 to 2^53 (counts, indices, sizes); nil for anything else.
    var count: UInt64? {
        guard let n = number, n >= 0, n <= 9_007_199_254_740_992, n.rounded() == n else { return nil }
        return UInt64(n)
    }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    var pairs: [(String, JSONValue)]? { if case .object(let p) = self { return p } else { return nil } }
    var isNull: Bool { if case .null = self { return true } else { return false } }

    /// "0x…" hex strings (how traces write addresses and registers).
    var hex: UInt32? {
        guard let s = string, s.hasPrefix("0x"), s.count > 2, s.count <= 10 else { return nil }
        return UInt32(s.dropFirst(2), radix: 16)
    }

    struct ParseError: Error { let offset: Int; let what: String }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(ParseError) -> JSONValue {
        var p = Parser(b: bytes, i: 0)
        p.space()
        let v = try p.value(depth: 0)
        p.space()
        guard p.i == bytes.count else { throw ParseError(offset: p.i, what: "trailing characters") }
        return v
    }

    struct Parser {
        let b: UnsafeBufferPointer<UInt8>
        var i: Int

        mutating func space() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        }

        mutating func expect(_ c: UInt8) throws(ParseError) {
            guard i < b.count, b[i] == c else { throw ParseError(offset: i, what: "expected '\(Character(UnicodeScalar(c)))'") }
            i += 1
        }

        mutating func value(depth: Int) throws(ParseError) -> JSONValue {
            guard depth < 32 else { throw ParseError(offset: i, what: "nested too deeply") }
            guard i < b.count else { throw ParseError(offset: i, what: "unexpected end") }
            switch b[i] {
            case 0x7B:  // {
                i += 1
                var pairs: [(String, JSONValue)] = []
                space()
                if i < b.count && b[i] == 0x7D { i += 1; return .object(pairs) }
                while true {
                    space()
                    let k = try string()
                    space()
                    try expect(0x3A)
                    space()
                    pairs.append((k, try value(depth: depth + 1)))
                    space()
                    if i < b.count && b[i] == 0x2C { i += 1; continue }
                    try expect(0x7D)
                    return .object(pairs)
                }
            case 0x5B:  // [
                i += 1
                var items: [JSONValue] = []
                space()
                if i < b.count && b[i] == 0x5D { i += 1; return .array(items) }
                while true {
                    space()
                    items.append(try value(depth: depth + 1))
                    space()
                    if i < b.count && b[i] == 0x2C { i += 1; continue }
                    try expect(0x5D)
                    return .array(items)
                }
            case 0x22: return .string(try string())
            case 0x74: try word("true"); return .bool(true)
            case 0x66: try word("false"); return .bool(false)
            case 0x6E: try word("null"); return .null
            default:
                let start = i
                while i < b.count, (b[i] >= 0x30 && b[i] <= 0x39) || b[i] == 0x2D || b[i] == 0x2B || b[i] == 0x2E || b[i] == 0x65 || b[i] == 0x45 { i += 1 }
                guard i > start, let d = Double(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)) else {
                    throw ParseError(offset: start, what: "not a JSON value")
                }
                return .number(d)
            }
        }

        mutating func word(_ w: StaticString) throws(ParseError) {
            let n = w.utf8CodeUnitCount
            guard i + n <= b.count else { throw ParseError(offset: i, what: "not a JSON value") }
            for k in 0..<n where b[i + k] != w.utf8Start[k] { throw ParseError(offset: i, what: "not a JSON value") }
            i += n
        }

        mutating func string() throws(ParseError) -> String {
            try expect(0x22)
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw ParseError(offset: i, what: "unterminated string") }
                let c = b[i]
                i += 1
                if c == 0x22 { break }
                if c == 0x5C {
                    guard i < b.count else { throw ParseError(offset: i, what: "unterminated string") }
                    let e = b[i]
                    i += 1
                    switch e {
                    case 0x6E: out.append(0x0A)
                    case 0x74: out.append(0x09)
                    case 0x72: out.append(0x0D)
                    case 0x62: out.append(0x08)
                    case 0x66: out.append(0x0C)
                    case 0x75:
                        guard i + 4 <= b.count, let u = UInt32(String(decoding: UnsafeBufferPointer(rebasing: b[i..<i + 4]), as: UTF8.self), radix: 16),
                              let scalar = UnicodeScalar(u) else { throw ParseError(offset: i, what: "bad \\u escape") }
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                        i += 4
                    default: out.append(e)
                    }
                } else {
                    out.append(c)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
