import ArgumentParser

struct Disasm: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Disassemble a 32-bit ELF or a raw binary.")
    func run() throws {}
}
