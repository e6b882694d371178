import CapstoneOracle
import Testing
import X86Decode

/// Random bytes at a million instruction starts, with buffers cut short at random: the
/// decoder never traps, never claims more than 15 bytes, never reads past the buffer.
@Test func decoderSurvivesRandomBytes() {
    let decoder = Decoder()
    let disassembler = Disassembler()
    var random = EncodingCorpus.Random(seed: 7)
    let capacity = 1 << 16
    let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    defer { buffer.deallocate() }
    var starts = 0
    var valid = 0
    var instruction = DecodedInstruction()
    while starts < 1_000_000 {
        for i in 0..<capacity { buffer[i] = random.byte() }
        var offset = 0
        while offset < capacity - 1 && starts < 1_000_000 {
            let available = min(capacity - offset, Int(random.next() % 20) + 1)
            let mode: CodeMode = random.next() & 1 == 0 ? .bits32 : .bits16
            let status = decoder.decode(buffer + offset, count: available, mode: mode, into: &instruction)
            starts += 1
            if status == .ok {
                valid += 1
                #expect(instruction.length >= 1 && instruction.length <= 15)
                #expect(Int(instruction.length) <= available)
                let (_, total) = disassembler.format(instruction, address: UInt32(offset))
                #expect(total > 0 && total < 200)
                offset += Int(instruction.length)
            } else {
                offset += 1
            }
        }
    }
    print("fuzz: \(starts) instruction starts, \(valid) decoded")
    #expect(starts == 1_000_000)
}
