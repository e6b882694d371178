import X86Decode

/// The encodings the differential test feeds to both decoders: every one- and two-byte opcode
/// with every ModRM byte under a set of prefix combinations, every combination of the prefix
/// groups on every opcode, and seeded random byte strings (with random prefix runs).
public struct EncodingCorpus {
    /// SplitMix64: deterministic and seedable, so a failure reproduces.
    public struct Random {
        var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        public mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    }

    /// Prefix sequences tried with every opcode × ModRM.
    public static let sweepPrefixes: [[UInt8]] = [
        [], [0x66], [0x67], [0xF3], [0xF2], [0xF0], [0x2E], [0x64], [0x66, 0x67], [0xF0, 0x66],
        [0x66, 0xF3], [0xF2, 0x66], [0x3E, 0xF3, 0x67],
    ]

    /// Tails after the ModRM byte: they feed SIB, displacement and immediate bytes.
    static func tail(_ random: inout Random, into buffer: UnsafeMutablePointer<UInt8>, count: Int) {
        let style = random.next() % 4
        for i in 0..<count {
            switch style {
            case 0: buffer[i] = 0
            case 1: buffer[i] = 0xFF
            default: buffer[i] = random.byte()
            }
        }
    }

    /// Calls `body(bytes, count)` for every encoding in the corpus; returns how many.
    @discardableResult
    public static func forEach(seed: UInt64, randomCount: Int,
                               _ body: (UnsafePointer<UInt8>, Int) -> Void) -> Int {
        let capacity = 32
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var random = Random(seed: seed)
        var total = 0

        // 1. Opcode × ModRM sweep under each prefix sequence.
        for prefixes in sweepPrefixes {
            for map in 0..<2 {
                for opcode in 0..<256 {
                    for modrm in 0..<256 {
                        var n = 0
                        for p in prefixes { buffer[n] = p; n += 1 }
                        if map == 1 { buffer[n] = 0x0F; n += 1 }
                        buffer[n] = UInt8(opcode); n += 1
                        buffer[n] = UInt8(modrm); n += 1
                        tail(&random, into: buffer + n, count: capacity - n)
                        body(buffer, 24)
                        total += 1
                    }
                }
            }
        }

        // 2. Every combination of the prefix groups (LOCK × REP × 66 × 67 × segment) on every
        //    opcode, with a few ModRM bytes each, in a random order of the chosen prefixes.
        let segments: [UInt8?] = [nil, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65]
        for lock in [false, true] {
            for rep: UInt8? in [nil, 0xF2, 0xF3] {
                for operandSize in [false, true] {
                    for addressSize in [false, true] {
                        for segment in segments {
                            var chosen: [UInt8] = []
                            if lock { chosen.append(0xF0) }
                            if let rep { chosen.append(rep) }
                            if operandSize { chosen.append(0x66) }
                            if addressSize { chosen.append(0x67) }
                            if let segment { chosen.append(segment) }
                            for map in 0..<2 {
                                for opcode in 0..<256 {
                                    for _ in 0..<2 {
                                        // Shuffle the prefix order.
                                        var order = chosen
                                        for i in stride(from: order.count - 1, to: 0, by: -1) {
                                            let j = Int(random.next() % UInt64(i + 1))
                                            order.swapAt(i, j)
                                        }
                                        var n = 0
                                        for p in order { buffer[n] = p; n += 1 }
                                        if map == 1 { buffer[n] = 0x0F; n += 1 }
                                        buffer[n] = UInt8(opcode); n += 1
                                        tail(&random, into: buffer + n, count: capacity - n)
                                        body(buffer, 24)
                                        total += 1
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        // 3. Seeded random byte strings, a third of them led by a random run of prefixes
        //    (repetition included, sometimes past the 15-byte limit).
        let prefixPool = legacyPrefixBytes
        for _ in 0..<randomCount {
            for i in 0..<capacity { buffer[i] = random.byte() }
            if random.next() % 3 == 0 {
                let run = Int(random.next() % 16)
                for i in 0..<run { buffer[i] = prefixPool[Int(random.next() % UInt64(prefixPool.count))] }
            }
            body(buffer, 24)
            total += 1
        }
        return total
    }
}
