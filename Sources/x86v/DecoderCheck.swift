import ArgumentParser
import CapstoneOracle
import X86Decode

/// `x86v decoder-check`: the differential decoder test against Capstone, with the mismatches
/// listed (the test in Tests/ runs the same corpus and only counts).
struct DecoderCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decoder-check",
        abstract: "Compare x86v's decoder with Capstone over the generated encoding corpus."
    )

    @Option(help: "Code size: 16 or 32.") var mode: Int = 32
    @Option(help: "Number of random byte strings after the systematic sweep.") var random: Int = 200_000
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Unexplained mismatches to print (one per opcode).") var show: Int = 40
    @Option(help: "Address of each encoding (relative branch targets depend on it).") var address: String = "0x1000"

    func run() throws {
        guard let codeMode = CodeMode(rawValue: UInt8(clamping: mode)), mode == 16 || mode == 32 else {
            throw ValidationError("--mode must be 16 or 32")
        }
        let checker = try DifferentialChecker(mode: codeMode)
        guard let at = parseAddress(address) else { throw InputError("bad --address '\(address)'") }
        var shownKeys = Set<String>()
        var perKey: [String: Int] = [:]
        var keyOrder: [String] = []
        var examples: [String: String] = [:]
        EncodingCorpus.forEach(seed: seed, randomCount: random) { bytes, count in
            if checker.compare(bytes, count: count, address: at) == .unexplained {
                let buffer = UnsafeBufferPointer(start: bytes, count: 16)
                var i = 0
                while i < 15 && legacyPrefixBytes.contains(buffer[i]) { i += 1 }
                let key = buffer[i] == 0x0F ? "0F " + hexByte(buffer[i + 1]) : hexByte(buffer[i])
                if perKey[key] == nil { keyOrder.append(key) }
                perKey[key, default: 0] += 1
                if !shownKeys.contains(key) && shownKeys.count < show {
                    shownKeys.insert(key)
                    let hex = buffer.prefix(12).map(hexByte).joined(separator: " ")
                    examples[key] = "\(hex)\n    x86v:     \(checker.lastOurs)\n    capstone: \(checker.lastTheirs)"
                }
            }
        }
        for key in keyOrder where examples[key] != nil {
            print("[\(key)] \(perKey[key]!) mismatches, e.g. \(examples[key]!)")
        }
        let c = checker.counts
        print("\(c.compared) compared, \(c.equal) equal, \(c.known) known differences, \(c.unexplained) unexplained")
        if c.unexplained > 0 { throw ExitCode(1) }
    }
}

func hexByte(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}
