import Foundation
import Testing
import Audit
import X86Core
import X86Decode

/// The catalog against the interpreter: every family's claim, CPL 0 against CPL 1 and 3
/// (CrossCheck+*.swift), and every row of the catalog run by some check.
@Suite struct CatalogCrossCheckTests {
    @Test(arguments: Catalog.entries.map(\.mnemonic))
    func crossCheck(_ family: String) {
        guard let check = crossChecks[family] else {
            Issue.record("\(family): no cross-check")
            return
        }
        for encoding in check.encodings { check.verify(encoding) }
    }

    /// Every row of every family is run by its check (the encodings decode to exactly the
    /// family's rows); a claim the interpreter cannot show must say why.
    @Test func everyRowIsCrossChecked() {
        var rows = 0
        var covered = 0
        var unverified: [String] = []
        for entry in Catalog.entries {
            guard let check = crossChecks[entry.mnemonic] else {
                Issue.record("\(entry.mnemonic): no cross-check")
                continue
            }
            let run = Set(check.encodings.map(\.row))
            for (row, form) in zip(entry.rows, entry.forms) {
                rows += 1
                if run.contains(row) { covered += 1 } else { Issue.record("\(entry.mnemonic): row \(form) is not run") }
            }
            for e in check.encodings where !entry.rows.contains(e.row) {
                Issue.record("\(entry.mnemonic): \(e) decodes to row \(e.row), not one of the family's")
            }
            if let reason = check.unverified {
                #expect(!reason.isEmpty, "\(entry.mnemonic): an unverified claim needs its reason")
                unverified.append("\(entry.mnemonic): \(reason)")
            }
        }
        #expect(rows == Catalog.summary.rows)
        #expect(covered == rows, "\(rows - covered) of \(rows) catalog rows not run")
        #expect(Set(crossChecks.keys) == Set(Catalog.entries.map(\.mnemonic)), "checks for families not in the catalog")
        // Stated, not skipped: the rows run; only these parts of their claims are not compared.
        #expect(unverified.count == 1, "\(unverified.joined(separator: "\n"))")
    }
}

/// The column itself: complete, consistent with the other columns, and printed as documented.
@Suite struct CatalogTests {
    @Test func theKnownHolesAreHoles() {
        let byName = Dictionary(uniqueKeysWithValues: Catalog.entries.map { ($0.mnemonic, $0.popekGoldberg) })
        for name in ["SGDT", "SIDT", "SLDT", "STR", "SMSW", "PUSHF/PUSHFD", "POPF/POPFD", "LAR", "LSL", "VERR",
                     "VERW", "PUSH CS", "PUSH SS", "POP SS", "MOV r/m, Sreg", "MOV Sreg, r/m", "LSS", "CALL far",
                     "JMP far", "RET far", "INT n/INT3/INTO/INT1", "IRET/IRETD", "CPUID"] {
            #expect(byName[name]?.hole == true, "\(name)")
        }
        for name in ["LGDT", "LIDT", "LLDT", "LTR", "MOV CRn", "MOV DRn", "HLT", "INVLPG", "INVD", "WBINVD",
                     "RDMSR", "WRMSR", "CLTS", "LMSW", "SYSEXIT", "CLI", "STI", "IN", "OUT", "INS", "OUTS",
                     "RDTSC", "RDPMC", "RSM"] {
            #expect(byName[name]?.class == .privileged && byName[name]?.hole == false, "\(name)")
        }
    }

    /// A privileged class needs a trap, a hole needs a sensitive class, innocuous means nothing.
    @Test func everyEntryIsConsistent() {
        for e in Catalog.entries {
            let pg = e.popekGoldberg
            let name = e.mnemonic
            #expect(!pg.reason.isEmpty && pg.sdm.hasPrefix("Vol. "), "\(name)")
            switch pg.class {
            case .privileged:
                #expect(pg.trap != .none && !pg.hole, "\(name)")
            case .controlSensitive:
                #expect(pg.trap == .none && pg.sensitivity.contains(.control), "\(name)")
            case .behaviourSensitive:
                #expect(pg.trap == .none && !pg.sensitivity.contains(.control) && !pg.sensitivity.isEmpty, "\(name)")
            case .innocuous:
                #expect(pg.trap == .none && pg.sensitivity.isEmpty && !pg.hole, "\(name)")
            }
            for row in e.rows { #expect(OpcodeTable.rows[row].popekGoldberg == pg) }
        }
    }

    /// The `.privileged`, `.io` and `.iopl` attribute columns agree with the Popek–Goldberg one.
    @Test func attributeColumnsAgree() {
        for (index, row) in OpcodeTable.rows.enumerated() where index > 0 {
            let pg = row.popekGoldberg
            let form = "\(row.opcode) \(row.mnemonic) \(row.operands)"
            if row.attributes.contains(.privileged) {
                #expect(pg?.class == .privileged && pg?.trap == .gp && pg?.condition == nil, "\(form)")
            }
            if pg?.class == .privileged && pg?.condition == nil {
                #expect(row.attributes.contains(.privileged), "\(form): unconditionally privileged")
            }
            if row.attributes.contains(.io) { #expect(pg?.condition?.hasPrefix("CPL > IOPL") == true, "\(form)") }
            if row.attributes.contains(.iopl) { #expect(pg?.condition == "CPL > IOPL", "\(form)") }
        }
    }

    @Test func summaryCounts() {
        let s = Catalog.summary
        #expect(s.families == Catalog.entries.count)
        #expect(s.families == s.holeFamilies + s.privilegedFamilies + s.sensitiveCoveredFamilies + s.innocuousFamilies)
        #expect(s.rows + s.unlistedRows == OpcodeTable.rows.count - 1)
        #expect(Set(Catalog.entries.map(\.mnemonic)).count == Catalog.entries.count)
        // Table order: each family is listed at its first row.
        let firsts = Catalog.entries.map { $0.rows[0] }
        #expect(firsts == firsts.sorted())
    }

    @Test func tableHasOneLinePerFamily() {
        let lines = Catalog.table().split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0].hasPrefix("MNEMONIC"))
        for (n, e) in Catalog.entries.enumerated() {
            #expect(lines[n + 1].hasPrefix(e.mnemonic), "line \(n + 1): \(lines[n + 1])")
        }
        // Aligned: every family line has its CLASS column where the header has it.
        let column = lines[0].range(of: "CLASS")!.lowerBound.utf16Offset(in: lines[0])
        for line in lines[1...Catalog.entries.count] {
            let classStart = line.index(line.startIndex, offsetBy: column)
            #expect(line[..<classStart].last == " " && line[classStart] != " ", "\(line)")
        }
        #expect(Catalog.table() == Catalog.table())
    }

    @Test func jsonIsOneArray() throws {
        let text = Catalog.json()
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        let array = try #require(value as? [[String: Any]])
        #expect(array.count == Catalog.entries.count)
        for (object, e) in zip(array, Catalog.entries) {
            #expect(object["mnemonic"] as? String == e.mnemonic)
            #expect(object["hole"] as? Bool == e.popekGoldberg.hole)
            #expect(object["class"] as? String == e.popekGoldberg.class.rawValue)
            #expect((object["forms"] as? [String])?.count == e.rows.count)
        }
    }
}
