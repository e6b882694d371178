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
        /// A prefix byte occurs before any of the others: `[66<F2|F3]`, `[66<seg]`.
        case prefixBefore(UInt8, [UInt8])
        /// LOCK on an instruction that is not lockable or has no memory destination.
        case lockMisuse
        /// x86v decodes a memory operand that is a bare 32-bit displacement (no base, no index).
        case absolute32

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
            case "lock-misuse": self = .lockMisuse
            case "absolute32": self = .absolute32
            case "ours=invalid": self = .oursValid(false)
            case "ours=valid": self = .oursValid(true)
            case "theirs=invalid": self = .theirsValid(false)
            case "theirs=valid": self = .theirsValid(true)
            default:
                if text.hasPrefix("["), let less = text.firstIndex(of: "<") {
                    let first = hexByte(text[text.index(after: text.startIndex)..<less])
                    let rest = text[text.index(after: less)...].dropLast()
                    let others = rest.split(separator: "|").flatMap {
                        $0 == "seg" ? Array(KnownDifference.segmentBytes) : [hexByte($0)]
                    }
                    self = .prefixBefore(first, others)
                } else if text.hasPrefix("[!") {
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

    private static let decoder = Decoder()

    /// Decodes the bytes without their LOCK prefixes: true when the instruction is valid then
    /// but LOCK is not allowed on it (not lockable, or a register destination).
    static func isLockMisuse(_ view: EncodingView) -> Bool {
        var stripped: [UInt8] = []
        var index = 0
        var sawLock = false
        while index < view.bytes.count && prefixBytes.contains(view.bytes[index]) {
            if view.bytes[index] == 0xF0 { sawLock = true } else { stripped.append(view.bytes[index]) }
            index += 1
        }
        guard sawLock else { return false }
        stripped += view.bytes[index...]
        var instruction = DecodedInstruction()
        let status = stripped.withUnsafeBufferPointer {
            decoder.decode($0.baseAddress!, count: $0.count, mode: view.mode, into: &instruction)
        }
        guard status == .ok else { return false }
        let lockable = decoder.attributes(of: instruction).contains(.lockable)
        return !lockable || !instruction.hasModRM || instruction.mod == 3
    }

    static func hasAbsolute32(_ view: EncodingView) -> Bool {
        var instruction = DecodedInstruction()
        guard decoder.decode(view.bytes.baseAddress!, count: view.bytes.count, mode: view.mode, into: &instruction) == .ok,
              instruction.hasModRM, instruction.addressSize32, instruction.mod == 0 else { return false }
        return instruction.rm == 5 || (instruction.rm == 4 && instruction.sib & 7 == 5)
    }

    static let prefixBytes = Set(legacyPrefixBytes)
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
            case .prefixBefore(let first, let others):
                guard let at = prefixes.firstIndex(of: first),
                      prefixes[at...].contains(where: { others.contains($0) }) else { return false }
            case .lockMisuse:
                if !Self.isLockMisuse(view) { return false }
            case .absolute32:
                if !Self.hasAbsolute32(view) { return false }
            case .oursValid(let valid):
                if (view.ours != nil) != valid { return false }
            case .theirsValid(let valid):
                if (view.theirs != nil) != valid { return false }
            }
        }
        return true
    }
}
