import Testing
import X86Core
import X86Decode

/// One instruction to run: its bytes, its assembly, and a tag the family's check reads
/// (`ss`/`ds` for a segment load's target, `mem` for a memory form, `dpl0` for a DPL-0 gate…).
struct Encoding: Sendable, CustomStringConvertible {
    let asm: String
    let bytes: [UInt8]
    var tag = ""
    var description: String { asm }

    init(_ asm: String, _ bytes: [UInt8], tag: String = "") {
        self.asm = asm
        self.bytes = bytes
        self.tag = tag
    }

    /// The opcode-table row the decoder gives these bytes (32-bit code).
    var row: Int {
        var d = DecodedInstruction()
        let status = bytes.withUnsafeBufferPointer {
            Decoder().decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &d)
        }
        return status == .ok && Int(d.length) == bytes.count ? Int(d.row) : -1
    }
}

/// How one catalog family is checked against the interpreter.
struct CrossCheck: Sendable {
    /// Together they decode to every row of the family (CatalogTests checks that).
    let encodings: [Encoding]
    /// The claim the check asserts, CPL 0 against CPL 1 and 3.
    let claim: String
    /// A claim of the table the interpreter cannot show, and why (the rows are still run).
    var unverified: String? = nil
    let verify: @Sendable (Encoding) -> Void
}

/// The privileged-row check: at CPL 1 and 3, under the condition that makes it trap, the row
/// raises `trap`; at CPL 0 it does not (`atCPL0` checks what it did instead).
func privilegedCheck(_ encodings: [Encoding], trap: ExitReason = gp(), setup: Setup = Setup(),
                     claim: String = "#GP(0) at CPL 1 and 3; runs at CPL 0",
                     atCPL0: @escaping @Sendable (Encoding, Outcome) -> Void = { e, o in
                         #expect(o.exit == .instructionLimit, "\(e) at CPL 0: \(o.exit)")
                     }) -> CrossCheck {
    CrossCheck(encodings: encodings, claim: claim) { e in
        for cpl: UInt8 in [1, 3] {
            let o = execute(e.bytes, cpl: cpl, setup)
            #expect(o.exit == trap, "\(e) at CPL \(cpl): \(o.exit), want \(trap)")
            #expect(o.after.eip == Rings.code, "\(e) at CPL \(cpl): a fault leaves EIP on the instruction")
        }
        atCPL0(e, execute(e.bytes, cpl: 0, setup))
    }
}

/// Runs at CPL 0, 1 and 3 and hands the three outcomes to `compare`; none may trap.
func noTrapCheck(_ encodings: [Encoding], claim: String, setup: @escaping @Sendable (Encoding, UInt8) -> Setup,
                 compare: @escaping @Sendable (Encoding, [UInt8: Outcome]) -> Void) -> CrossCheck {
    CrossCheck(encodings: encodings, claim: claim) { e in
        var outcomes: [UInt8: Outcome] = [:]
        for cpl: UInt8 in [0, 1, 3] {
            let o = execute(e.bytes, cpl: cpl, setup(e, cpl))
            #expect(!o.trapped, "\(e) at CPL \(cpl) trapped: \(o.exit)")
            outcomes[cpl] = o
        }
        compare(e, outcomes)
    }
}

/// Every family of the catalog, by `PopekGoldberg.family`.
let crossChecks: [String: CrossCheck] = segmentChecks.merging(transferChecks) { a, _ in a }
    .merging(systemChecks) { a, _ in a }
