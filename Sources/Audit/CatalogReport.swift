import X86Decode

/// `x86v audit --table` and `--table --json`: the catalog as aligned text or one JSON array.
/// Deterministic: the order is the table's, nothing depends on hashing or time.
extension Catalog {
    /// The columns of the text table, in order.
    static let columns = ["MNEMONIC", "OPCODES", "CLASS", "HOLE", "CONDITION", "WHY", "SDM"]

    /// One entry's cells. `*` after the mnemonic: on Robin & Irvine's list.
    static func cells(_ e: Entry) -> [String] {
        let pg = e.popekGoldberg
        var klass = pg.class.rawValue
        if pg.class == .privileged { klass += " " + pg.trap.rawValue }
        return [
            e.mnemonic + (pg.robinIrvine ? " *" : ""),
            e.opcodes.joined(separator: ", "),
            klass,
            pg.hole ? "HOLE" : "no",
            pg.condition ?? "-",
            pg.reason,
            pg.sdm,
        ]
    }

    /// The aligned text table, a legend and the summary.
    public static func table() -> String {
        let rows = [columns] + entries.map(cells)
        var widths = [Int](repeating: 0, count: columns.count)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        var out = ""
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                line += i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
            }
            out += line + "\n"
        }
        let s = summary
        out += "\n* on Robin & Irvine's list (2000). HOLE: sensitive and runs at CPL > 0 without trapping.\n"
        out += "CONDITION: when the class holds (privileged: when it traps at CPL > 0; HOLE: when it is one).\n"
        out += "Setting: guest kernel at ring 1 (ring compression), IOPL 0, CR4.TSD = 1, an i686 (no UMIP, no CPUID faulting).\n"
        out += "\(s.families) families, \(s.rows) rows: \(s.holeFamilies) holes (\(s.holeRows) rows), "
        out += "\(s.privilegedFamilies) privileged (\(s.privilegedRows) rows), "
        out += "\(s.sensitiveCoveredFamilies) sensitive but seen by the VMM, \(s.innocuousFamilies) innocuous; "
        out += "the other \(s.unlistedRows) rows of the opcode table are innocuous.\n"
        return out
    }

    /// One JSON array, one object per family, in table order.
    public static func json() -> String {
        var out = "["
        for (n, e) in entries.enumerated() {
            let pg = e.popekGoldberg
            out += n == 0 ? "\n" : ",\n"
            out += "{\"mnemonic\":\(quote(e.mnemonic))"
            out += ",\"opcodes\":[\(e.opcodes.map(quote).joined(separator: ","))]"
            out += ",\"forms\":[\(e.forms.map(quote).joined(separator: ","))]"
            out += ",\"class\":\(quote(pg.class.rawValue))"
            out += ",\"sensitive_to\":[\(pg.sensitivity.names.map(quote).joined(separator: ","))]"
            out += ",\"hole\":\(pg.hole)"
            out += ",\"trap\":\(pg.trap == .none ? "null" : quote(pg.trap.rawValue))"
            out += ",\"condition\":\(pg.condition.map(quote) ?? "null")"
            out += ",\"reason\":\(quote(pg.reason))"
            out += ",\"sdm\":\(quote(pg.sdm))"
            out += ",\"robin_irvine\":\(pg.robinIrvine)}"
        }
        return out + "\n]\n"
    }

    /// A JSON string literal (RFC 8259 §7).
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
