import Testing
import X86Decode

/// Hand-checked encodings: bytes, code size, expected length and Capstone-style text.
/// Each expectation was read off the SDM encoding tables (and agrees with Capstone 4.0.2
/// except where noted).
struct DecodeCase: CustomStringConvertible, Sendable {
    let bytes: [UInt8]
    let mode: CodeMode
    let length: Int
    let text: String
    var description: String { "\(bytes.map { String($0, radix: 16) }) → \(text)" }
    init(_ bytes: [UInt8], _ mode: CodeMode, _ length: Int, _ text: String) {
        self.bytes = bytes; self.mode = mode; self.length = length; self.text = text
    }
    init(_ bytes: [UInt8], _ length: Int, _ text: String) {
        self.init(bytes, .bits32, length, text)
    }
}

let decodeCases: [DecodeCase] = [
    DecodeCase([0x01, 0xC8], 2, "add eax, ecx"),
    DecodeCase([0xF0, 0x01, 0x01], 3, "lock add dword ptr [ecx], eax"),
    DecodeCase([0x83, 0xC0, 0xFF], 3, "add eax, -1"),
    DecodeCase([0x83, 0xE0, 0xF0], 3, "and eax, 0xfffffff0"),
    DecodeCase([0x8B, 0x45, 0xF0], 3, "mov eax, dword ptr [ebp - 0x10]"),
    DecodeCase([0x8B, 0x04, 0x80], 3, "mov eax, dword ptr [eax + eax*4]"),
    DecodeCase([0x64, 0xA1, 0, 0, 0, 0], 6, "mov eax, dword ptr fs:[0]"),
    DecodeCase([0xF3, 0xA5], 2, "rep movsd dword ptr es:[edi], dword ptr [esi]"),
    DecodeCase([0xF3, 0xA6], 2, "repe cmpsb byte ptr [esi], byte ptr es:[edi]"),
    DecodeCase([0xE8, 0xFB, 0xFF, 0xFF, 0xFF], 5, "call 0x1000"),
    DecodeCase([0xEA, 0, 0, 0, 0, 0x08, 0], 7, "ljmp 8:0"),
    DecodeCase([0x0F, 0x20, 0xC0], 3, "mov eax, cr0"),
    DecodeCase([0x0F, 0x01, 0x38], 3, "invlpg byte ptr [eax]"),
    DecodeCase([0x0F, 0xC7, 0x08], 3, "cmpxchg8b qword ptr [eax]"),
    DecodeCase([0x0F, 0x34], 2, "sysenter"),
    DecodeCase([0x9C], 1, "pushfd"),
    DecodeCase([0x66, 0x9C], 2, "pushf"),
    DecodeCase([0x8B, 0x00], .bits16, 2, "mov ax, word ptr [bx + si]"),
    DecodeCase([0x66, 0x8B, 0x46, 0xFE], .bits16, 4, "mov eax, dword ptr [bp - 2]"),
    DecodeCase([0xE3, 0x00], .bits16, 2, "jcxz 0x1002"),
    DecodeCase([0x67, 0xE3, 0x00], .bits32, 3, "jcxz 0x1003"),
    DecodeCase([0xC8, 0x10, 0x00, 0x01], 4, "enter 0x10, 1"),
    DecodeCase([0xD4, 0x0A], 2, "aam"),
    DecodeCase([0xD5, 0x08], 2, "aad 8"),
    DecodeCase([0x0F, 0x0B], 2, "ud2"),
    // x87, MMX, SSE, SSE2.
    DecodeCase([0xD9, 0xE8], 2, "fld1"),
    DecodeCase([0xDD, 0x00], 2, "fld qword ptr [eax]"),
    DecodeCase([0xDF, 0xE0], 2, "fnstsw ax"),
    DecodeCase([0x0F, 0xFE, 0xC1], 3, "paddd mm0, mm1"),
    DecodeCase([0x66, 0x0F, 0xFE, 0xC1], 4, "paddd xmm0, xmm1"),
    DecodeCase([0xF2, 0x0F, 0x58, 0x00], 4, "addsd xmm0, qword ptr [eax]"),
    DecodeCase([0x0F, 0xC2, 0xC1, 0x01], 4, "cmpltps xmm0, xmm1"),
    DecodeCase([0x0F, 0xC2, 0xC1, 0x08], 4, "cmpps xmm0, xmm1, 8"),
    DecodeCase([0x0F, 0xAE, 0xF8], 3, "sfence"),
    DecodeCase([0x0F, 0xAE, 0x00], 3, "fxsave [eax]"),
]

@Test(arguments: decodeCases)
func decodesToCapstoneText(_ c: DecodeCase) {
    let decoder = Decoder()
    let disassembler = Disassembler()
    var instruction = DecodedInstruction()
    let status = c.bytes.withUnsafeBufferPointer {
        decoder.decode($0.baseAddress!, count: $0.count, mode: c.mode, into: &instruction)
    }
    #expect(status == .ok)
    #expect(Int(instruction.length) == c.length)
    #expect(disassembler.text(instruction, address: 0x1000) == c.text)
}

/// Encodings hardware rejects (#UD) or cannot fetch (#GP for more than 15 bytes).
@Test(arguments: [
    ([0x8D, 0xC0], DecodeStatus.invalid),                 // LEA with a register source
    ([0xC4, 0xC0], .invalid),                             // LES register form
    ([0x0F, 0xC7, 0xC8], .invalid),                       // CMPXCHG8B register form
    ([0x0F, 0x01, 0xD0], .invalid),                       // LGDT register form (XGETBV on later CPUs)
    ([0x62, 0xC0], .invalid),                             // BOUND register form
    ([0xF0, 0x8B, 0x00], .invalid),                       // LOCK MOV
    ([0xF0, 0x01, 0xC0], .invalid),                       // LOCK with a register destination
    ([0x0F, 0x20, 0xC8], .invalid),                       // MOV from CR1
    ([0x8E, 0xC8], .invalid),                             // MOV CS, r
    ([0x0F, 0x04], .invalid),                             // reserved opcode
    (Array(repeating: 0x2E, count: 15) + [0x90], .tooLong),
    ([0x2E, 0x2E], .truncated),
    ([0x05, 0x01, 0x02], .truncated),
])
func rejects(_ bytes: [UInt8], _ expected: DecodeStatus) {
    var instruction = DecodedInstruction()
    let status = bytes.withUnsafeBufferPointer {
        Decoder().decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &instruction)
    }
    #expect(status == expected)
}

@Test func fifteenPrefixedBytesAreStillAnInstruction() {
    let bytes: [UInt8] = Array(repeating: 0x2E, count: 14) + [0x90]
    var instruction = DecodedInstruction()
    let status = bytes.withUnsafeBufferPointer {
        Decoder().decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &instruction)
    }
    #expect(status == .ok)
    #expect(instruction.length == 15)
}

@Test func decodedInstructionIsSmallPlainData() {
    #expect(MemoryLayout<DecodedInstruction>.size <= 32)
    #expect(_isPOD(DecodedInstruction.self))
}

@Test func everyRowCompiles() {
    // Building the table parses every row (a malformed row traps); each mnemonic is non-empty.
    let table = OpcodeTable.shared
    for row in 1..<OpcodeTable.rows.count {
        #expect(!table.mnemonic(row: row, wide: true).isEmpty)
    }
}
