import X86Decode

/// The sensitive-instruction catalog: the opcode table's Popek–Goldberg column, grouped by
/// instruction family (the rows sharing one `PopekGoldberg` value), in table order (the one-byte
/// map, then the two-byte map, x87 and SIMD, as SDM Vol. 2D Appendix A orders them).
///
/// Nothing here is typed twice: the families, their rows and every claim come from
/// `OpcodeTable.rows`. A row without an entry is innocuous and is not listed (only counted).
/// Tests/AuditTests runs every listed row at CPL 0, 1 and 3 on the interpreter.
public enum Catalog {
    /// One family: its rows and the classification they share.
    public struct Entry: Sendable {
        /// The family as the SDM names it (`SGDT`, `MOV Sreg, r/m`): `PopekGoldberg.family`.
        public let mnemonic: String
        public let popekGoldberg: PopekGoldberg
        /// Indices into `OpcodeTable.rows` (= decoded row ids), in table order.
        public let rows: [Int]

        /// The distinct opcode columns of the rows (`8C` once for `mov Rv, Sw` and `mov Mw, Sw`).
        public var opcodes: [String] {
            var seen: [String] = []
            for row in rows {
                let opcode = OpcodeTable.rows[row].opcode
                if !seen.contains(opcode) { seen.append(opcode) }
            }
            return seen
        }

        /// Each row as `opcode mnemonic operands` (`0F 01 /0 sgdt M`).
        public var forms: [String] {
            rows.map {
                let r = OpcodeTable.rows[$0]
                return [r.opcode, r.mnemonic, r.operands].filter { !$0.isEmpty }.joined(separator: " ")
            }
        }
    }

    /// Every family with an entry, ordered by its first row.
    public static let entries: [Entry] = {
        var order: [String] = []
        var byFamily: [String: (PopekGoldberg, [Int])] = [:]
        for (index, row) in OpcodeTable.rows.enumerated() {
            guard let pg = row.popekGoldberg else { continue }
            if let (existing, rows) = byFamily[pg.family] {
                // One family, one classification: two different values under one name would
                // make the catalog lie about some rows.
                precondition(existing == pg, "family \(pg.family) has two different classifications")
                byFamily[pg.family] = (existing, rows + [index])
            } else {
                order.append(pg.family)
                byFamily[pg.family] = (pg, [index])
            }
        }
        return order.map { Entry(mnemonic: $0, popekGoldberg: byFamily[$0]!.0, rows: byFamily[$0]!.1) }
    }()

    /// Counts for the summary line (and the tests).
    public struct Summary: Sendable, Equatable {
        public var families = 0
        public var rows = 0
        public var holeFamilies = 0
        public var holeRows = 0
        public var privilegedFamilies = 0
        public var privilegedRows = 0
        /// Sensitive families that are neither privileged nor holes (the VMM sees them anyway).
        public var sensitiveCoveredFamilies = 0
        /// Families with an entry that says innocuous (listed because they are often asked about).
        public var innocuousFamilies = 0
        /// Rows of the opcode table without an entry (innocuous), the invalid sentinel excluded.
        public var unlistedRows = 0
    }

    public static var summary: Summary {
        var s = Summary()
        for e in entries {
            let pg = e.popekGoldberg
            s.families += 1
            s.rows += e.rows.count
            if pg.hole { s.holeFamilies += 1; s.holeRows += e.rows.count }
            if pg.class == .privileged { s.privilegedFamilies += 1; s.privilegedRows += e.rows.count }
            if pg.class == .innocuous { s.innocuousFamilies += 1 }
            if !pg.hole && (pg.class == .controlSensitive || pg.class == .behaviourSensitive) {
                s.sensitiveCoveredFamilies += 1
            }
        }
        s.unlistedRows = OpcodeTable.rows.count - 1 - s.rows
        return s
    }
}
