/// Fixed cases run before the random ones on every run: reduced reproductions of mismatches
/// cpu-diff found (kept as regression inputs, WasmKit `FailCases` style) and edge cases worth
/// pinning. Expected results come from the native run, as for random cases.
enum Corpus {
    struct Entry {
        let name: String
        let code: [UInt8]
        /// EAX ECX EDX EBX EBP ESI EDI (ESP is the sandbox middle).
        let regs: [UInt32]
        let eflags: UInt32
    }

    static let entries: [Entry] = [
        // XADD with the same register twice: TEMP ← SRC + DEST; SRC ← DEST; DEST ← TEMP, so the
        // register ends with the sum (SDM Vol. 2B XADD). Found by seed 2 case 488.
        Entry(name: "xadd edi, edi", code: [0x0F, 0xC1, 0xFF],
              regs: [3, 0x1F80_EE29, 0xFFFF, 0xD, 0x7E, 0x0080_7FFF, 0x9AA4_F22F], eflags: 0x256),
        Entry(name: "xadd bl, bl", code: [0x0F, 0xC0, 0xDB],
              regs: [5, 0x1000_8000, 0x80, 0xFFFF_FFF5, 0xFFFF_FFF4, 0xFFFF, 0x1025_E655], eflags: 0xE86),
        Entry(name: "xadd ah, ah", code: [0x0F, 0xC0, 0xE4],
              regs: [0x8552_B3C5, 0xFF, 0, 0xFFFF_FFF7, 0x3BBF_F15F, 6, 0x7FFF], eflags: 0xA42),
        Entry(name: "xadd bp, bp", code: [0x66, 0x0F, 0xC1, 0xED],
              regs: [0xFFFF_FFFA, 0x7FFF, 0x8000_0200, 0x1DBC_AEEA, 0x7F, 0xFF, 8], eflags: 0xA47),
        // AAS subtracts 6 from AX (a borrow out of AL reaches AH) and then 1 from AH (SDM Vol. 2A
        // AAS: AX ← AX – 6; AH ← AH – 1). With AF = 1 and AL = 2: AX = 0xFF0C. Seed 2 case 1699.
        Entry(name: "aas, AF=1, AL=2", code: [0x3F], regs: [0x0000_0102, 0, 0, 0, 0, 0, 0], eflags: 0x10),
        Entry(name: "cmp esi, 0x3f; aas", code: [0x81, 0xFE, 0x3F, 0, 0, 0, 0x3F],
              regs: [2, 0xC107_2296, 0xFFFF_FFF2, 0x10, 0xFFFF_FFF8, 0xA0, 0xFF00], eflags: 0xAD6),
        // AAA adds 0x106 to AX: a carry out of AL reaches AH (SDM Vol. 2A AAA).
        Entry(name: "aaa, AL=0xFA", code: [0x37], regs: [0x0000_00FA, 0, 0, 0, 0, 0, 0], eflags: 0),
        Entry(name: "aaa, AF=1, AL=0xFF", code: [0x37], regs: [0x0000_12FF, 0, 0, 0, 0, 0, 0], eflags: 0x10),
    ]

    static func testCase(_ e: Entry) -> TestCase {
        var c = TestCase()
        c.regs = [e.regs[0], e.regs[1], e.regs[2], e.regs[3], Generator.sandboxMiddle, e.regs[4], e.regs[5], e.regs[6]]
        c.eflags = e.eflags
        c.fillSeed = 1
        c.code = e.code
        c.instructionCount = 1
        return c
    }
}
