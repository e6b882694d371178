import X86Core

/// Fixed cases run before the random ones on every run: reduced reproductions of mismatches
/// cpu-diff found (kept as regression inputs, WasmKit `FailCases` style) and edge cases worth
/// pinning. Expected results come from the native run, as for random cases. Entries with an
/// FPU state run only with the FPU families.
enum Corpus {
    struct Entry {
        let name: String
        let code: [UInt8]
        /// EAX ECX EDX EBX EBP ESI EDI (ESP is the sandbox middle).
        let regs: [UInt32]
        let eflags: UInt32
        /// The starting FPU state of an FPU entry (run only by the FPU families).
        var fpu: FXImage? = nil
    }

    /// An FXSAVE image from the fields an FPU entry sets (the rest as after FNINIT, MXCSR 0x1F80).
    static func fpu(fcw: UInt16 = 0x037F, fsw: UInt16 = 0, ftw: UInt8 = 0, st: [X87Register] = [], mxcsr: UInt32 = 0x1F80,
                    xmm: [XMMRegister] = []) -> FXImage {
        var image = FXImage()
        image.fcw = fcw
        image.fsw = fsw
        image.ftw = ftw
        image.mxcsr = mxcsr
        for (i, r) in st.enumerated() { image.setST(i, r) }
        for (i, x) in xmm.enumerated() { image.setXMM(i, x) }
        return image
    }

    static let none: [UInt32] = [0, 0, 0, 0, 0, 0, 0]

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

        // FPU entries (issue 16). FNSTENV masks every exception after storing the environment,
        // so an exception pending before it is no longer pending: ES and B clear (the host
        // recomputes ES from the flags and masks) and the next waiting instruction runs. x86v
        // (first run) kept ES and raised #MF at the FNOP. fpu --seed 1 case 22943.
        Entry(name: "fnstenv; fnop with IE pending", code: [0xD9, 0x35, 0x00, 0x01, 0x50, 0x00, 0xD9, 0xD0],
              regs: none, eflags: 0, fpu: fpu(fcw: 0x037E, fsw: 0x8081)),
        // FCOMI/FCOMIP/FUCOMI/FUCOMIP set OF, SF and AF to 0 "regardless of whether an
        // invalid-operation exception is detected" (SDM Vol. 2A FCOMI); here ST(1) is empty and
        // IE unmasked. x86v (first run) left OF set. x87 --seed 1 case 994.
        Entry(name: "fcomi st(1), st(1) empty, IE unmasked", code: [0xDB, 0xF1], regs: none, eflags: 0x8D5,
              fpu: fpu(fcw: 0x037E, fsw: 7 << 11, ftw: 0x80, st: [X87Register(significand: 1 << 63, signExponent: 0x3FFF)])),
        // CVTPI2PS (and CVT(T)PS2PI, CVT(T)PD2PI) switch the x87 state to MMX (TOP = 0, all tags
        // valid) even when the conversion then raises an unmasked #XM (here PE: 16777217 is not
        // a single). x86v (first run) raised #XM without the switch. sse --seed 1 case 498.
        Entry(name: "cvtpi2ps xmm0, mm0 with #XM (PE unmasked)", code: [0x0F, 0x2A, 0xC0], regs: none, eflags: 0,
              fpu: fpu(fsw: 3 << 11, ftw: 0x08, st: Array(repeating: X87Register(significand: 0x0100_0001, signExponent: 0xFFFF), count: 8),
                       mxcsr: 0x0F80)),
        // An unmasked SSE overflow (#XM) sets PE as well when the result, rounded with an
        // unbounded exponent, is inexact (max × 1.0000001; max × 2 sets OE alone). x86v (first
        // run) set OE alone. sse --seed 1 case 493.
        Entry(name: "mulss overflow with OM unmasked (OE and PE)", code: [0xF3, 0x0F, 0x59, 0xC1], regs: none, eflags: 0,
              fpu: fpu(mxcsr: 0x1B80, xmm: [XMMRegister(low: 0x7F7F_FFFF), XMMRegister(low: 0x3F80_0001)])),
        // A full stack: eight valid registers (1.0), FADD ST(0), ST(7). x87 --seed 3 case 658.
        Entry(name: "fadd st(7) with all eight registers valid", code: [0xD8, 0xC7], regs: none, eflags: 0,
              fpu: fpu(ftw: 0xFF, st: Array(repeating: X87Register(significand: 1 << 63, signExponent: 0x3FFF), count: 8))),
        // FMULP ST(0), ST(0): the product goes to ST(0), then ST(0) is popped; the register keeps
        // the product (4.0), visible in FXSAVE/FNSAVE images though empty. x87 --seed 3 case 112.
        Entry(name: "fmulp st(0): the popped register holds the result", code: [0xDE, 0xC8], regs: none, eflags: 0,
              fpu: fpu(ftw: 0x03, st: [X87Register(significand: 1 << 63, signExponent: 0x4000),
                                       X87Register(significand: 0xC000_0000_0000_0000, signExponent: 0x4000)])),
        // 66 0F 12 and 66 0F 16 (MOVLPD/MOVHPD) take a memory operand only, and F2 0F 16 is no
        // instruction: #UD on the host (SDM Vol. 2 MOVLPD, MOVHPD; Table A-3). The decoder
        // (first run) read them as MOVHLPS/MOVLHPS/MOVHPS. sse --seed 1 case 19.
        Entry(name: "66 0f 16 c1 (#UD)", code: [0x66, 0x0F, 0x16, 0xC1], regs: none, eflags: 0, fpu: fpu()),
        Entry(name: "66 0f 12 c1 (#UD)", code: [0x66, 0x0F, 0x12, 0xC1], regs: none, eflags: 0, fpu: fpu()),
        Entry(name: "f2 0f 16 c1 (#UD)", code: [0xF2, 0x0F, 0x16, 0xC1], regs: none, eflags: 0, fpu: fpu()),
        Entry(name: "f2 0f 16 /m (#UD)", code: [0xF2, 0x0F, 0x16, 0x05, 0x00, 0x01, 0x50, 0x00], regs: none, eflags: 0, fpu: fpu()),
    ]

    static func testCase(_ e: Entry) -> TestCase {
        var c = TestCase()
        c.regs = [e.regs[0], e.regs[1], e.regs[2], e.regs[3], Generator.sandboxMiddle, e.regs[4], e.regs[5], e.regs[6]]
        c.eflags = e.eflags
        c.fillSeed = 1
        c.code = e.code
        c.instructionCount = 1
        c.fpu = e.fpu
        return c
    }
}
