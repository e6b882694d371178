import X86Decode

/// Decodes the same bytes with x86v and Capstone and classifies the outcome. Used by the
/// differential test, `x86v disasm --check` and the decoder benchmark.
public final class DifferentialChecker {
    public let mode: CodeMode
    let capstone: Capstone
    let decoder = Decoder()
    public let disassembler = Disassembler()
    let knownDifferences: [KnownDifference]

    /// Outcome of one comparison.
    public enum Outcome: Equatable {
        /// Both reject the bytes.
        case bothInvalid
        /// Same length and same text.
        case equal
        /// They differ in a way `KnownDifferences` explains (the entry's index).
        case known(Int)
        /// They differ and nothing explains it.
        case unexplained
    }

    /// Running totals.
    public struct Counts: Sendable {
        public var compared = 0
        public var equal = 0
        public var known = 0
        public var unexplained = 0
        public init() {}
    }

    public private(set) var counts = Counts()
    /// How often each known difference was used (parallel to `KnownDifferences.all`).
    public private(set) var knownHits: [Int]

    public init(mode: CodeMode) throws(Capstone.OpenError) {
        self.mode = mode
        capstone = try Capstone(mode: mode)
        knownDifferences = KnownDifferences.all
        knownHits = Array(repeating: 0, count: knownDifferences.count)
    }

    /// The last comparison's two sides, for reporting.
    public private(set) var lastOurs = ""
    public private(set) var lastTheirs = ""

    /// Compares one instruction start. `address` is the virtual address of `bytes[0]`.
    @discardableResult
    public func compare(_ bytes: UnsafePointer<UInt8>, count: Int, address: UInt32) -> Outcome {
        counts.compared += 1
        var instruction = DecodedInstruction()
        let status = decoder.decode(bytes, count: count, mode: mode, into: &instruction)
        let theirLength = capstone.decode(bytes, count: min(count, 15), address: UInt64(address))
        if status != .ok && theirLength == nil {
            counts.equal += 1
            return .bothInvalid
        }
        var ourTotal = 0
        if status == .ok {
            ourTotal = disassembler.format(instruction, address: address).total
            if let theirLength, theirLength == Int(instruction.length),
               capstone.textEquals(disassembler.buffer, count: ourTotal) {
                counts.equal += 1
                return .equal
            }
        }
        let ours = status == .ok
            ? String(decoding: UnsafeBufferPointer(start: disassembler.buffer, count: ourTotal), as: UTF8.self)
            : "(\(status))"
        let theirs = theirLength == nil ? "(invalid)" : capstone.text
        lastOurs = status == .ok ? "\(ours) [\(instruction.length)]" : ours
        lastTheirs = theirLength.map { "\(theirs) [\($0)]" } ?? theirs
        let view = EncodingView(bytes: UnsafeBufferPointer(start: bytes, count: min(count, 16)), mode: mode,
                                ours: status == .ok ? ours : nil, oursLength: Int(instruction.length),
                                theirs: theirLength == nil ? nil : theirs, theirsLength: theirLength ?? 0)
        for (index, difference) in knownDifferences.enumerated() where difference.matches(view) {
            counts.known += 1
            knownHits[index] += 1
            return .known(index)
        }
        counts.unexplained += 1
        return .unexplained
    }

    public func knownDifference(_ index: Int) -> KnownDifference { knownDifferences[index] }
}

/// What a known-difference pattern is matched against.
public struct EncodingView {
    public let bytes: UnsafeBufferPointer<UInt8>
    public let mode: CodeMode
    /// x86v's text, nil when x86v rejects the bytes.
    public let ours: String?
    public let oursLength: Int
    /// Capstone's text, nil when Capstone rejects the bytes.
    public let theirs: String?
    public let theirsLength: Int
}
