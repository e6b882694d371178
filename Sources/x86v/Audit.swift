import ArgumentParser
import Audit

/// `x86v audit --table [--json]`: the Popek–Goldberg catalog of the opcode table (Sources/Audit).
/// `x86v audit GUEST` (which instructions of the catalog a guest executes) comes later.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The Popek–Goldberg classification of every sensitive x86 instruction.",
        discussion: "Example: x86v audit --table; x86v audit --table --json"
    )

    @Flag(help: "Print the catalog: mnemonic, class, hole, condition, why, SDM section.") var table = false
    @Flag(help: "With --table: one JSON array instead of aligned text.") var json = false
    @Argument(help: "A guest to audit (not implemented yet).") var guest: String?

    func run() throws {
        if guest != nil {
            writeAll(2, Array("x86v audit GUEST: not implemented yet (use --table)\n".utf8))
            throw ExitCode(2)
        }
        guard table else { throw InputError("audit: give --table (and --json for JSON)") }
        print(json ? Catalog.json() : Catalog.table(), terminator: "")
    }
}
