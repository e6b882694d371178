import Testing
import X86Decode

/// The `flags:`/`undefined:` columns, resolved for one execution (SDM Vol. 2 "Flags Affected").
struct FlagCase: CustomStringConvertible, Sendable {
    let bytes: [UInt8]
    let cl: UInt8
    let written: String
    let undefined: String
    var description: String { "\(bytes.map { String($0, radix: 16) }) cl=\(cl)" }
    init(_ bytes: [UInt8], cl: UInt8 = 0, written: String, undefined: String) {
        self.bytes = bytes; self.cl = cl; self.written = written; self.undefined = undefined
    }
}

let flagCases: [FlagCase] = [
    FlagCase([0x01, 0xC8], written: "oszapc", undefined: ""),                  // add eax, ecx
    FlagCase([0x21, 0xC8], written: "oszpc", undefined: "a"),                  // and eax, ecx
    FlagCase([0xF7, 0xE1], written: "oc", undefined: "szap"),                  // mul ecx
    FlagCase([0xF7, 0xF1], written: "", undefined: "oszapc"),                  // div ecx
    FlagCase([0x0F, 0xBC, 0xC1], written: "z", undefined: "osapc"),            // bsf eax, ecx
    FlagCase([0x0F, 0xA3, 0xC8], written: "c", undefined: "osap"),             // bt eax, ecx
    FlagCase([0x37], written: "ac", undefined: "oszp"),                        // aaa
    FlagCase([0x27], written: "szapc", undefined: "o"),                        // daa
    FlagCase([0xD4, 0x0A], written: "szp", undefined: "oac"),                  // aam
    FlagCase([0xD1, 0xE0], written: "oszpc", undefined: "a"),                  // shl eax, 1
    FlagCase([0xC1, 0xE0, 0x00], written: "", undefined: ""),                  // shl eax, 0
    FlagCase([0xC1, 0xE0, 0x20], written: "", undefined: ""),                  // shl eax, 32 (masked 0)
    FlagCase([0xC1, 0xE0, 0x07], written: "szpc", undefined: "oa"),            // shl eax, 7
    FlagCase([0xD2, 0xE0], cl: 8, written: "szp", undefined: "oac"),           // shl al, cl (cl = 8)
    FlagCase([0xD2, 0xF8], cl: 8, written: "szpc", undefined: "oa"),           // sar al, cl (cl = 8)
    FlagCase([0xD3, 0xC0], cl: 1, written: "oc", undefined: ""),               // rol eax, cl (cl = 1)
    FlagCase([0xD3, 0xD0], cl: 9, written: "c", undefined: "o"),               // rcl eax, cl (cl = 9)
    FlagCase([0x66, 0x0F, 0xA5, 0xC8], cl: 17, written: "", undefined: "oszapc"), // shld ax, cx, cl (17)
    FlagCase([0x0F, 0xA4, 0xC8, 0x01], written: "oszpc", undefined: "a"),      // shld eax, ecx, 1
    FlagCase([0x0F, 0xAC, 0xC8, 0x00], written: "", undefined: ""),            // shrd eax, ecx, 0
    FlagCase([0x40], written: "oszap", undefined: ""),                         // inc eax
]

@Test func conditionsReadOnlyTheirFlags() {
    var instruction = DecodedInstruction()
    let bytes: [UInt8] = [0x0F, 0x96, 0xC0]  // setbe al
    _ = bytes.withUnsafeBufferPointer {
        Decoder().decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &instruction)
    }
    #expect(OpcodeTable.shared.flagEffect(of: instruction, cl: 0).read == FlagLetters.mask("cz"))
}

@Test(arguments: flagCases)
func flagEffectOfOneExecution(_ c: FlagCase) {
    var instruction = DecodedInstruction()
    let status = c.bytes.withUnsafeBufferPointer {
        Decoder().decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &instruction)
    }
    #expect(status == .ok)
    let effect = OpcodeTable.shared.flagEffect(of: instruction, cl: c.cl)
    #expect(effect.written == FlagLetters.mask(c.written))
    #expect(effect.undefined == FlagLetters.mask(c.undefined))
}

@Test func undefinedFlagsAreWrittenFlags() {
    // A row can only leave undefined what it changes: no undefined letter outside `flags:` writes.
    let table = OpcodeTable.shared
    for row in 1..<OpcodeTable.rows.count {
        let columns = table.flagColumns(row: row)
        #expect(columns.undefined.always & ~columns.written == 0, "row \(OpcodeTable.rows[row].opcode)")
    }
}
