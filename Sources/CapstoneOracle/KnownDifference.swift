import X86Decode

/// One agreed difference between x86v and Capstone (entries are in Tests/KnownDifferences.swift).
public struct KnownDifference: Sendable {
    /// Short name, e.g. "cr-reserved".
    public let id: String
    /// The encodings it covers, in the grammar described at the top of KnownDifferences.swift.
    public let pattern: String
    /// What x86v does with them.
    public let x86v: String
    /// What Capstone 4.0.2 does with them.
    public let capstone: String
    /// The SDM section that decides.
    public let sdm: String
    private let tokens: [Token]

    public init(_ id: String, pattern: String, x86v: String, capstone: String, sdm: String) {
        self.id = id
        self.pattern = pattern
        self.x86v = x86v
        self.capstone = capstone
        self.sdm = sdm
        self.tokens = pattern.split(separator: " ").map { Token(String($0)) }
    }

    enum Token: Sendable {
        case prefixPresent([UInt8]), prefixAbsent(UInt8), segmentPresent, segmentAbsent
        case byte(ClosedRange<UInt8>)
        case reg([UInt8]), modIs3, modNot3, mode(CodeMode)
        case oursValid(Bool), theirsValid(Bool)

        init(_ text: String) {
            func hexByte(_ s: Substring) -> UInt8 {
                guard let v = UInt8(s, radix: 16) else { preconditionFailure("bad pattern token \(text)") }
                return v
            }
            switch text {
            case "[seg]": self = .segmentPresent
            case "[!seg]": self = .segmentAbsent
            case "xx": self = .byte(0...255)
            case "mod=3": self = .modIs3
            case "mod!=3": self = .modNot3
            case "mode16": self = .mode(.bits16)
            case "mode32": self = .mode(.bits32)
            case "ours=invalid": self = .oursValid(false)
            case "ours=valid": self = .oursValid(true)
            case "theirs=invalid": self = .theirsValid(false)
            case "theirs=valid": self = .theirsValid(true)
            default:
                if text.hasPrefix("[!") {
                    self = .prefixAbsent(hexByte(text.dropFirst(2).dropLast()))
                } else if text.hasPrefix("[") {
                    self = .prefixPresent(text.dropFirst().dropLast().split(separator: "|").map(hexByte))
                } else if text.hasPrefix("/") {
                    self = .reg(text.dropFirst().split(separator: ",").map { UInt8($0)! })
                } else if let dash = text.firstIndex(of: "-") {
                    self = .byte(hexByte(text[..<dash])...hexByte(text[text.index(after: dash)...]))
                } else {
                    let v = hexByte(Substring(text))
                    self = .byte(v...v)
                }
            }
        }
    }

    static let prefixBytes: Set<UInt8> = [0xF0, 0xF2, 0xF3, 0x66, 0x67, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65]
    static let segmentBytes: Set<UInt8> = [0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65]

    /// True when this entry covers `view`.
    public func matches(_ view: EncodingView) -> Bool {
        var prefixEnd = 0
        while prefixEnd < view.bytes.count && prefixEnd < 15 && Self.prefixBytes.contains(view.bytes[prefixEnd]) {
            prefixEnd += 1
        }
        let prefixes = view.bytes[0..<prefixEnd]
        var cursor = prefixEnd
        for token in tokens {
            switch token {
            case .prefixPresent(let any):
                if !prefixes.contains(where: { any.contains($0) }) { return false }
            case .prefixAbsent(let b):
                if prefixes.contains(b) { return false }
            case .segmentPresent:
                if !prefixes.contains(where: { Self.segmentBytes.contains($0) }) { return false }
            case .segmentAbsent:
                if prefixes.contains(where: { Self.segmentBytes.contains($0) }) { return false }
            case .byte(let range):
                guard cursor < view.bytes.count, range.contains(view.bytes[cursor]) else { return false }
                cursor += 1
            case .reg(let values):
                guard cursor < view.bytes.count, values.contains((view.bytes[cursor] >> 3) & 7) else { return false }
            case .modIs3:
                guard cursor < view.bytes.count, view.bytes[cursor] >= 0xC0 else { return false }
            case .modNot3:
                guard cursor < view.bytes.count, view.bytes[cursor] < 0xC0 else { return false }
            case .mode(let m):
                if view.mode != m { return false }
            case .oursValid(let valid):
                if (view.ours != nil) != valid { return false }
            case .theirsValid(let valid):
                if (view.theirs != nil) != valid { return false }
            }
        }
        return true
    }
}
