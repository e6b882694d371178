import CapstoneOracle
import Testing
import X86Decode

/// x86v against Capstone 4 over the generated corpus (every 1- and 2-byte opcode × ModRM
/// under 13 prefix sequences, every prefix-group combination on every opcode, and seeded
/// random strings): validity, length, mnemonic and operand text. Only entries in
/// Tests/KnownDifferences.swift may explain a difference.
/// Two load addresses: branch targets near 0 and far from it (operand-size truncation of
/// EIP only shows when the address has bits above 15).
@Test(arguments: [CodeMode.bits32, .bits16], [UInt32(0x1000), 0x1234_5678])
func decoderMatchesCapstone(_ mode: CodeMode, _ address: UInt32) throws {
    let checker = try DifferentialChecker(mode: mode)
    var firstUnexplained: [String] = []
    let total = EncodingCorpus.forEach(seed: 20261128, randomCount: 300_000) { bytes, count in
        if checker.compare(bytes, count: count, address: address) == .unexplained && firstUnexplained.count < 10 {
            let hex = (0..<12).map { String(bytes[$0], radix: 16) }.joined(separator: " ")
            firstUnexplained.append("\(hex): x86v \(checker.lastOurs) / capstone \(checker.lastTheirs)")
        }
    }
    let c = checker.counts
    print("differential \(mode.rawValue)-bit at \(String(address, radix: 16)): \(c.compared) compared, \(c.equal) equal, \(c.known) known differences, \(c.unexplained) unexplained")
    #expect(total >= 1_000_000)
    #expect(c.unexplained == 0, "\(firstUnexplained.joined(separator: "\n"))")
}

/// Every known difference must still be needed: an entry nothing matches is stale.
@Test func everyKnownDifferenceIsUsed() throws {
    var used = Array(repeating: 0, count: KnownDifferences.all.count)
    for mode in [CodeMode.bits32, .bits16] {
        let checker = try DifferentialChecker(mode: mode)
        for address: UInt32 in [0x1000, 0x1234_5678] {
            EncodingCorpus.forEach(seed: 20261128, randomCount: 300_000) { bytes, count in
                checker.compare(bytes, count: count, address: address)
            }
        }
        for (i, hits) in checker.knownHits.enumerated() { used[i] += hits }
    }
    for (i, hits) in used.enumerated() {
        #expect(hits > 0, "known difference \(KnownDifferences.all[i].id) never matched")
    }
}
