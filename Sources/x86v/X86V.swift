import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// The `x86v` command. Exit status: 0 success, 1 a check found mismatches, 2 bad input
/// (bad flag, unreadable or malformed file, address out of range); see docs/formats.md.
@main
struct X86V: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "x86v",
        abstract: "A pure-software x86 system virtualizer .",
        subcommands: [Run.self, Debug.self, TestCommand.self, PageTables.self, Disasm.self, DecoderCheck.self, AuditCommand.self, TraceCommand.self, LockstepCommand.self, ConformanceCommand.self]
    )

    static func main() {
        do {
            var command = try parseAsRoot(normalizedArguments())
            try command.run()
        } catch let exit as ExitCode {
            Glibc.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            // One line on stderr, status 2: the contract for every kind of bad input.
            let line = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            writeAll(2, Array("x86v: \(line)\n".utf8))
            Glibc.exit(2)
        }
    }
}

/// `x86v audit ... --json` with no FILE after it (the last argument, or another option next)
/// means stdout: ArgumentParser's options always take a value, so it is given one here.
func normalizedArguments() -> [String] {
    var args = Array(CommandLine.arguments.dropFirst())
    if args.first == "lockstep" {
        // `--against '--virt=none'`: the value starts with "--", which ArgumentParser would take
        // for the next option.
        var i = 0
        while i + 1 < args.count {
            if args[i] == "--against" { args[i] = "--against=" + args[i + 1]; args.remove(at: i + 1) }
            i += 1
        }
        return args
    }
    guard args.first == "audit" else { return args }
    var i = 0
    while i < args.count {
        if args[i] == "--json" && (i + 1 == args.count || args[i + 1].hasPrefix("--")) {
            args[i] = "--json=-"
        }
        i += 1
    }
    return args
}

/// A user-facing error: printed as one line, exit status 2.
struct InputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
