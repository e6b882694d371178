import ArgumentParser

@main
struct X86V: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "x86v",
        abstract: "A pure-software x86 system virtualizer (decoder and disassembler stage).",
        subcommands: [Disasm.self, DecoderCheck.self]
    )
}
