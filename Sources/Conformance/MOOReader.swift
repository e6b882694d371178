// The suite's binary form: MOO ("Machine Opcode Operation"), format 1.x as documented in
// github.com/dbalsom/moo (doc/moo_format_v1.md). Little-endian throughout; every chunk is
//
//     +------+--------+------------------+
//     | type | length | payload (length) |     type: 4 ASCII bytes, space-padded
//     +------+--------+------------------+     length: uint32
//
// and a reader advances by the length (payloads may grow) and skips types it does not know.
//
//     "MOO "  major u8, minor u8, reserved u16, test count u32, CPU id 4 ASCII ("386E")
//     "META"  versions, cpu type, opcode u32, mnemonic 8, count u32, seed u64, cpu_mode u8 (0 = real)
//     "RM32"  (optional) register masks for every test of the file
//     "TEST"  index u32, then subchunks:
//         NAME  length u32 + ASCII        BYTS  length u32 + bytes
//         INIT / FINA  subchunks RG32 (mask u32 + one u32 per set bit, bit 0 = cr0 … 19 = dr7,
//                      the `ConformanceRegister` order), RM32 (same shape, masks), RAM (count u32
//                      + count × (address u32, byte u8)), QUEU, EA32 (ignored)
//         CYCL  bus cycles (ignored)   EXCP  vector u8 + flag address u32   HASH  20-byte SHA-1
//
// The 16-bit `REGS`/`RMSK` register chunks belong to the pre-386 suites and are refused.

/// Reads a decompressed MOO file into `ConformanceTest`s.
public enum MOOReader {
    /// Every test in a decompressed MOO file. `file` names the source in errors and gives the
    /// tests their `file` (the stem: "6601", "80.4").
    public static func read(_ bytes: [UInt8], file: String) throws(ConformanceInputError) -> [ConformanceTest] {
        var r = ChunkReader(bytes: bytes, file: file)
        let stem = testFileStem(file)
        guard bytes.count >= 8, Array(bytes[0..<4]) == Array("MOO ".utf8) else {
            throw ConformanceInputError("\(file): not a MOO file (no \"MOO \" header chunk)")
        }
        var declaredCount: UInt32? = nil
        var fileMasks = RegisterValues()
        var cpuMode: UInt8 = 0
        var tests: [ConformanceTest] = []
        var offset = 0
        while offset < bytes.count {
            let chunk = try r.chunk(at: offset, end: bytes.count)
            offset = chunk.end
            switch chunk.type {
            case "MOO ":
                if chunk.length >= 8 { declaredCount = try r.u32(chunk.start + 4) }
            case "META":
                if chunk.length >= 28 { cpuMode = try r.u8(chunk.start + 27) }
            case "RM32":
                fileMasks = try r.registers(chunk)
            case "REGS", "RMSK":
                throw r.error("16-bit \(chunk.type) chunk at byte \(chunk.start - 8): a pre-386 suite, not supported")
            case "TEST":
                var t = try test(chunk, &r, file: stem)
                if cpuMode != 0 { t.mode = "cpu_mode \(cpuMode)" }
                for reg in ConformanceRegister.allCases where t.registerMasks[reg] == nil {
                    t.registerMasks[reg] = fileMasks[reg]
                    if reg == .eflags, let m = fileMasks[reg], t.flagsMask == nil {
                        t.flagsMask = m
                        t.flagsMaskSource = .file
                    }
                }
                tests.append(t)
            default:
                continue
            }
        }
        if let n = declaredCount, Int(n) != tests.count {
            throw ConformanceInputError("\(file): the header declares \(n) tests but the file holds \(tests.count) (truncated?)")
        }
        return tests
    }

    private static func test(_ chunk: Chunk, _ r: inout ChunkReader, file: String) throws(ConformanceInputError) -> ConformanceTest {
        guard chunk.length >= 4 else { throw r.error("TEST chunk at byte \(chunk.start - 8) is too short") }
        let index = try r.u32(chunk.start)
        var t = ConformanceTest(file: file, index: Int(index), hash: "", name: "", bytes: [], mode: "real")
        var sawInitial = false, sawFinal = false
        var offset = chunk.start + 4
        while offset < chunk.end {
            let sub = try r.chunk(at: offset, end: chunk.end)
            offset = sub.end
            switch sub.type {
            case "NAME":
                let n = Int(try r.u32(sub.start))
                t.name = String(decoding: try r.slice(sub.start + 4, n, within: sub), as: UTF8.self)
            case "BYTS":
                let n = Int(try r.u32(sub.start))
                t.bytes = Array(try r.slice(sub.start + 4, n, within: sub))
            case "INIT", "FINA":
                let initial = sub.type == "INIT"
                if initial { sawInitial = true } else { sawFinal = true }
                var inner = sub.start
                while inner < sub.end {
                    let s = try r.chunk(at: inner, end: sub.end)
                    inner = s.end
                    switch s.type {
                    case "RG32":
                        if initial { t.initialRegisters = try r.registers(s) } else { t.finalRegisters = try r.registers(s) }
                    case "RM32":
                        t.registerMasks = try r.registers(s)
                        if let m = t.registerMasks[.eflags] { t.flagsMask = m; t.flagsMaskSource = .test }
                    case "RAM ":
                        if initial { t.initialRAM = try r.ram(s) } else { t.finalRAM = try r.ram(s) }
                    case "REGS", "RMSK":
                        throw r.error("16-bit \(s.type) chunk in test \(index): a pre-386 suite, not supported")
                    default:
                        continue
                    }
                }
            case "EXCP":
                guard sub.length >= 5 else { throw r.error("EXCP chunk of test \(index) is too short") }
                t.exception = TestException(vector: try r.u8(sub.start), flagAddress: try r.u32(sub.start + 1))
            case "HASH":
                let h = try r.slice(sub.start, 20, within: sub)
                t.hash = h.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
            default:
                continue
            }
        }
        guard sawInitial && sawFinal else { throw r.error("test \(index) lacks an INIT or FINA chunk") }
        for reg in ConformanceRegister.allCases where t.initialRegisters[reg] == nil {
            throw r.error("test \(index): the initial RG32 chunk has no \(reg.name)")
        }
        return t
    }

    struct Chunk {
        let type: String
        /// Payload offset and length; `end` = start + length.
        let start: Int
        let length: Int
        var end: Int { start + length }
    }

    /// Bounds-checked little-endian reads: a cut or lying length is an error naming the byte.
    struct ChunkReader {
        let bytes: [UInt8]
        let file: String

        func error(_ what: String) -> ConformanceInputError { ConformanceInputError("\(file): \(what)") }

        func chunk(at offset: Int, end: Int) throws(ConformanceInputError) -> Chunk {
            guard offset + 8 <= end else { throw error("truncated chunk header at byte \(offset)") }
            let type = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            let length = Int(try u32(offset + 4))
            guard length <= end - offset - 8 else {
                throw error("chunk \"\(type)\" at byte \(offset) runs past its container (length \(length); truncated?)")
            }
            return Chunk(type: type, start: offset + 8, length: length)
        }

        func u8(_ at: Int) throws(ConformanceInputError) -> UInt8 {
            guard at < bytes.count else { throw error("truncated at byte \(at)") }
            return bytes[at]
        }

        func u32(_ at: Int) throws(ConformanceInputError) -> UInt32 {
            guard at + 4 <= bytes.count else { throw error("truncated at byte \(at)") }
            return UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }

        func slice(_ at: Int, _ n: Int, within c: Chunk) throws(ConformanceInputError) -> ArraySlice<UInt8> {
            guard n >= 0, at + n <= c.end else { throw error("\(c.type) chunk at byte \(c.start - 8) is shorter than its contents") }
            return bytes[at..<at + n]
        }

        /// RG32 or RM32: a mask of present registers, then one value per set bit.
        func registers(_ c: Chunk) throws(ConformanceInputError) -> RegisterValues {
            guard c.length >= 4 else { throw error("\(c.type) chunk at byte \(c.start - 8) is too short") }
            let mask = try u32(c.start)
            guard mask >> UInt32(ConformanceRegister.allCases.count) == 0 else {
                throw error("\(c.type) chunk at byte \(c.start - 8) names unknown registers (mask 0x\(String(mask, radix: 16)))")
            }
            var out = RegisterValues()
            var at = c.start + 4
            for r in ConformanceRegister.allCases where mask & (1 << UInt32(r.rawValue)) != 0 {
                guard at + 4 <= c.end else { throw error("\(c.type) chunk at byte \(c.start - 8) is shorter than its mask says") }
                out[r] = try u32(at)
                at += 4
            }
            return out
        }

        func ram(_ c: Chunk) throws(ConformanceInputError) -> [RAMByte] {
            guard c.length >= 4 else { throw error("RAM chunk at byte \(c.start - 8) is too short") }
            let count = Int(try u32(c.start))
            guard count <= (c.length - 4) / 5 else {
                throw error("RAM chunk at byte \(c.start - 8) is shorter than its \(count) entries")
            }
            var out: [RAMByte] = []
            out.reserveCapacity(count)
            for i in 0..<count {
                let at = c.start + 4 + 5 * i
                out.append(RAMByte(try u32(at), bytes[at + 4]))
            }
            return out
        }
    }
}
