// The suite's opcode table `80386.csv`, read for one column: `f_umask`, the 16-bit mask of the
// FLAGS bits an instruction defines (1 = defined, compare; 0 = undefined). It is used where a
// test file carries no mask of its own (MOO files without an RM32 chunk). Rows are keyed by
// `op` (two or four hex digits, "0FA3") and, for group opcodes, `ex` (the ModR/M reg field).
//
// A test file's name gives its row: `(66|67)*` size prefixes, the opcode, then `.ex` for a group
// member ("676601" → 01, "80.4" → 80 ex 4, "0FBA.5" → 0FBA ex 5).

/// `f_umask` per opcode from the suite's `80386.csv`.
public struct UndefinedFlagsTable: Sendable {
    /// (key "OP" or "OP.EX", mask), sorted by key.
    public private(set) var rows: [(key: String, mask: UInt16)] = []

    public init(csv text: String, source: String = "80386.csv") throws(ConformanceInputError) {
        var lines = text.split(whereSeparator: \.isNewline).map(Self.fields)
        guard !lines.isEmpty else { throw ConformanceInputError("\(source): empty") }
        let head = lines.removeFirst()
        guard let op = head.firstIndex(of: "op"), let ex = head.firstIndex(of: "ex"),
              let umask = head.firstIndex(of: "f_umask") else {
            throw ConformanceInputError("\(source): no op, ex and f_umask columns in the header")
        }
        for (n, row) in lines.enumerated() where row.count > max(op, ex, umask) {
            let text = row[umask]
            if text.isEmpty { continue }
            let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? String(text.dropFirst(2)) : text
            guard let mask = UInt16(digits, radix: 16) else {
                throw ConformanceInputError("\(source): line \(n + 2): f_umask \"\(text)\" is not a 16-bit hex number")
            }
            let key = row[ex].isEmpty ? row[op].uppercased() : "\(row[op].uppercased()).\(row[ex])"
            rows.append((key, mask))
        }
        rows.sort { $0.key < $1.key }
    }

    public static func load(_ path: String) throws(ConformanceInputError) -> UndefinedFlagsTable {
        try UndefinedFlagsTable(csv: String(decoding: try TestFileLoader.readWholeFile(path), as: UTF8.self), source: path)
    }

    /// `f_umask` for a test file ("6601", "80.4", "00"), or nil if its row has none.
    public func mask(forFile file: String) -> UInt16? {
        let key = Self.opcodeKey(file)
        return rows.first { $0.key == key }?.mask
    }

    /// The table key of a file stem: size prefixes dropped, hex upper-cased.
    public static func opcodeKey(_ file: String) -> String {
        let parts = file.split(separator: ".", maxSplits: 1)
        var op = Substring(parts.first.map { $0.uppercased() } ?? "")
        while op.count > 2 && (op.hasPrefix("66") || op.hasPrefix("67")) { op = op.dropFirst(2) }
        return parts.count == 2 ? "\(op).\(parts[1])" : String(op)
    }

    /// One CSV line split into fields (double quotes group commas; "" is a quote).
    public static func fields(_ line: Substring) -> [String] {
        var out: [String] = []
        var field = ""
        var quoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if quoted {
                if c == "\"" {
                    // A doubled quote is a literal quote; a single one closes the field.
                    var lookahead = chars
                    if lookahead.next() == "\"" { field.append("\""); chars = lookahead } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                out.append(field)
                field = ""
            } else {
                field.append(c)
            }
        }
        out.append(field)
        return out.map { $0.trimmedOfBlanks() }
    }
}

extension String {
    func trimmedOfBlanks() -> String { Substring(self).trimmingWhitespace() }
}
