import ELF
import Testing

/// A minimal valid ELF32 executable: header, one PT_LOAD segment, no sections.
func minimalELF(machine: UInt16 = 3, elfClass: UInt8 = 1, code: [UInt8] = [0x90, 0xC3]) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 52 + 32)
    b[0] = 0x7F; b[1] = 0x45; b[2] = 0x4C; b[3] = 0x46; b[4] = elfClass; b[5] = 1; b[6] = 1
    func put16(_ o: Int, _ v: UInt16) { b[o] = UInt8(v & 0xFF); b[o + 1] = UInt8(v >> 8) }
    func put32(_ o: Int, _ v: UInt32) { for i in 0..<4 { b[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }
    put16(16, 2); put16(18, machine); put32(20, 1); put32(24, 0x100000); put32(28, 52)
    put16(40, 52); put16(42, 32); put16(44, 1); put16(46, 40)
    put32(52, 1); put32(56, 84); put32(60, 0x100000); put32(64, 0x100000)
    put32(68, UInt32(code.count)); put32(72, UInt32(code.count)); put32(76, 5)
    return b + code
}

@Test func parsesMinimalExecutable() throws {
    let elf = try ELF32File(bytes: minimalELF())
    #expect(elf.entry == 0x100000)
    #expect(elf.codeRegions.count == 1)
    #expect(Array(elf.codeRegions[0].bytes) == [0x90, 0xC3])
}

@Test(arguments: [
    ([UInt8](), "bad magic"),
    (Array("hello world, not an elf".utf8), "bad magic"),
    (Array(minimalELF().prefix(30)), "truncated"),
    (minimalELF(elfClass: 2), "64-bit"),
    (minimalELF(machine: 62), "EM_386"),
    (Array(minimalELF().prefix(60)), "truncated"),
])
func rejectsMalformedFiles(_ bytes: [UInt8], _ reason: String) {
    do {
        _ = try ELF32File(bytes: bytes)
        Issue.record("accepted a malformed ELF")
    } catch {
        #expect(error.description.contains(reason), "\(error.description)")
    }
}

/// Random corruption of a valid header never traps.
@Test func survivesCorruptedHeaders() {
    var state: UInt64 = 99
    let good = minimalELF()
    for _ in 0..<20_000 {
        var bytes = good
        for _ in 0..<4 {
            state = state &* 6364136223846793005 &+ 1
            let at = Int((state >> 33) % UInt64(bytes.count))
            bytes[at] = UInt8(truncatingIfNeeded: state >> 17)
        }
        if let elf = try? ELF32File(bytes: bytes) { _ = elf.codeRegions }
    }
}
