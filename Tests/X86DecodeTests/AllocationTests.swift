import CMallocCounter
import Testing
import X86Decode

/// Decoding and formatting must not touch the heap: the interpreter decodes in its hot loop.
@Test func decodingAndFormattingDoNotAllocate() {
    let decoder = Decoder()
    let disassembler = Disassembler()
    var random = UInt64(42)
    let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 4096 + 16)
    defer { bytes.deallocate() }
    for i in 0..<(4096 + 16) {
        random = random &* 6364136223846793005 &+ 1442695040888963407
        bytes[i] = UInt8(truncatingIfNeeded: random >> 33)
    }
    var instruction = DecodedInstruction()
    var decoded = 0
    // Warm up: the table is built on first use (that allocates, once).
    _ = decoder.decode(bytes, count: 16, mode: .bits32, into: &instruction)
    let before = x86v_malloc_count()
    for pass in 0..<50 {
        let mode: CodeMode = pass % 2 == 0 ? .bits32 : .bits16
        for offset in 0..<4096 {
            if decoder.decode(bytes + offset, count: 16, mode: mode, into: &instruction) == .ok {
                disassembler.format(instruction, address: UInt32(offset))
                decoded += 1
            }
        }
    }
    let after = x86v_malloc_count()
    #expect(decoded > 100_000)
    #expect(after - before == 0, "decode+format allocated \(after - before) times")
}

/// The counter itself works (so the test above can fail).
@Test func mallocCounterCounts() {
    let before = x86v_malloc_count()
    let array = [Int](repeating: 1, count: Int.random(in: 100...200))
    #expect(array.count >= 100)
    #expect(x86v_malloc_count() > before)
}
