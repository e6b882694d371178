import Testing
import X86Core

/// MMX state on the x87 registers (SDM Vol. 3A §12.2, §12.5.1): TOP and the tag word after MMX
/// instructions and EMMS, exponents of written registers, pending x87 exceptions (#MF), and the
/// SSE instructions with MMX operands (issue 16). The host (AMD) agrees on each point.

private let pattern: [UInt8] = (0..<32).map { UInt8($0 + 0x40) }

@Test func mmxInstructionsEnterMMXState() {
    // movq mm1, [0x2000]; movd eax, mm2
    var c = SIMDCase([0x0F, 0x6F, 0x0D, 0x00, 0x20, 0x00, 0x00, 0x0F, 0x7E, 0xD0])
    c.mmx = [0, 0xFFFF_FFFF_FFFF_FFFF, 0x1234_5678_9ABC_DEF0]
    c.data = pattern
    c.fsw = 0x2800 | 0x0020   // TOP = 5, PE
    c.tags = 0xFFFF
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    let fpu = cpu.state.fpu
    #expect(fpu.registers[1] == X87Register(significand: 0x4746_4544_4342_4140, signExponent: 0xFFFF))
    #expect(fpu.registers[2] == X87Register(significand: 0x1234_5678_9ABC_DEF0, signExponent: 0))  // read only
    #expect(cpu.state[.eax] == 0x9ABC_DEF0)
    #expect(fpu.status == 0x0020)  // TOP = 0, the rest kept
    #expect(fpu.tags == 0)
}

@Test func emmsEmptiesTheTagsAndClearsTop() {
    // pxor mm3, mm3; emms
    var c = SIMDCase([0x0F, 0xEF, 0xDB, 0x0F, 0x77])
    c.fsw = 0x3000
    c.tags = 0x5555
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.tags == 0xFFFF)
    #expect(cpu.state.fpu.status == 0)
    #expect(cpu.state.fpu.registers[3] == X87Register(significand: 0, signExponent: 0xFFFF))
}

@Test func aPendingX87ExceptionIsTakenFirst() {
    // ES set (IE unmasked and flagged): pxor mm0, mm0 is #MF and changes nothing.
    var c = SIMDCase([0x0F, 0xEF, 0xC0])
    c.fsw = 0x2881          // TOP = 5, ES, IE
    c.tags = 0x0FFF
    c.mmx = [0x1111]
    let (cpu, exit) = c.run()
    #expect(exit == exceptionMF)
    #expect(cpu.state.eip == 0x1000)
    #expect(cpu.state.fpu.tags == 0x0FFF)
    #expect(cpu.state.fpu.status == 0x2881)
    #expect(cpu.state.fpu.registers[0].significand == 0x1111)
    // EMMS too.
    c.code = [0x0F, 0x77]
    #expect(c.run().1 == exceptionMF)
    // An SSE instruction without MMX operands is not a waiting instruction: addps runs.
    c.code = [0x0F, 0x58, 0xC1]
    #expect(c.run().1 == .halted)
    // CVTPI2PS from an MMX register takes it; from memory it does not, nor enters MMX state.
    c.code = [0x0F, 0x2A, 0xC1]
    #expect(c.run().1 == exceptionMF)
    c.code = [0x0F, 0x2A, 0x05, 0x00, 0x20, 0x00, 0x00]
    let (cpu2, exit2) = c.run()
    #expect(exit2 == .halted)
    #expect(cpu2.state.fpu.tags == 0x0FFF && cpu2.state.fpu.status == 0x2881)
}

@Test func sseConversionsWithMMXRegisters() {
    // cvtpi2ps xmm0, mm1; cvttps2pi mm2, xmm1; movq2dq xmm3, mm1; movdq2q mm4, xmm1
    var c = SIMDCase([0x0F, 0x2A, 0xC1, 0x0F, 0x2C, 0xD1, 0xF3, 0x0F, 0xD6, 0xD9, 0xF2, 0x0F, 0xD6, 0xE1])
    c.mmx = [0, UInt64(UInt32(bitPattern: -3)) << 32 | 7]
    c.xmm = [xmmFloats(9, 9, 9, 9), xmmFloats(2.75, -1e10, 5, 6), XMMRegister(), xmmFloats(1, 1, 1, 1)]
    c.fsw = 0x1800
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    let fpu = cpu.state.fpu
    #expect(fpu.xmm[0] == xmmFloats(7, -3, 9, 9))
    #expect(fpu.registers[2] == X87Register(significand: 0x8000_0000_0000_0002, signExponent: 0xFFFF))
    #expect(fpu.xmm[3] == XMMRegister(low: c.mmx[1], high: 0))
    #expect(fpu.registers[4] == X87Register(significand: c.xmm[1].low, signExponent: 0xFFFF))
    #expect(fpu.tags == 0 && fpu.status == 0)
    #expect(fpu.mxcsr & 0x3F == 0x21)  // IE (−1e10), PE (2.75)
}

@Test func maskmovqAndMovntq() {
    // maskmovq mm0, mm1 (bytes 1 and 6) at EDI = 0x2000; movntq [0x2010], mm0
    var c = SIMDCase([0x0F, 0xF7, 0xC1, 0x0F, 0xE7, 0x05, 0x10, 0x20, 0x00, 0x00])
    c.mmx = [0x8877_6655_4433_2211, 0x0080_0000_0000_FF00]
    c.data = [UInt8](repeating: 0, count: 32)
    c.regs = [.edi: 0x2000]
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.memory.read32(0x2000) == 0x0000_2200)
    #expect(cpu.memory.read32(0x2004) == 0x0077_0000)
    #expect(cpu.memory.read32(0x2010) == 0x4433_2211 && cpu.memory.read32(0x2014) == 0x8877_6655)
}

@Test func mmxMemoryFormsAndInsertExtract() {
    // punpcklbw mm0, dword [0x2000] (m32); pinsrw mm1, word [0x2000], 1; pextrw eax, mm1, 1;
    // pmovmskb ebx, mm0
    var c = SIMDCase([0x0F, 0x60, 0x05, 0x00, 0x20, 0x00, 0x00, 0x0F, 0xC4, 0x0D, 0x00, 0x20, 0x00, 0x00, 0x01,
                      0x0F, 0xC5, 0xC1, 0x01, 0x0F, 0xD7, 0xD8])
    c.mmx = [0x0000_0000_8081_8283, 0xAAAA_BBBB_CCCC_DDDD]
    c.data = pattern
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.registers[0].significand == 0x4380_4281_4182_4083)
    #expect(cpu.state.fpu.registers[1].significand == 0xAAAA_BBBB_4140_DDDD)
    #expect(cpu.state[.eax] == 0x4140)
    #expect(cpu.state[.ebx] == 0b0101_0101)
}
