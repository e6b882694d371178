import Testing
import X86Core

/// SSE/SSE2 data movement: merging and zeroing forms, alignment #GP, stores that fault leave
/// memory alone, the gating by CR0/CR4, and the no-op instructions (issue 16).

private let a = XMMRegister(low: 0x1111_1111_2222_2222, high: 0x3333_3333_4444_4444)
private let b = XMMRegister(low: 0xAAAA_AAAA_BBBB_BBBB, high: 0xCCCC_CCCC_DDDD_DDDD)
private let pattern: [UInt8] = (0..<48).map { UInt8($0 + 0x40) }

@Test func movssRegisterMergesAndMemoryZeroes() {
    // movss xmm0, xmm1; movss xmm2, dword [0x2000]; movss dword [0x2010], xmm1
    var c = SIMDCase([0xF3, 0x0F, 0x10, 0xC1, 0xF3, 0x0F, 0x10, 0x15, 0x00, 0x20, 0x00, 0x00,
                      0xF3, 0x0F, 0x11, 0x0D, 0x10, 0x20, 0x00, 0x00])
    c.xmm = [a, b, a]
    c.data = pattern
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.xmm[0] == XMMRegister(low: 0x1111_1111_BBBB_BBBB, high: a.high))
    #expect(cpu.state.fpu.xmm[2] == XMMRegister(low: 0x4342_4140, high: 0))
    #expect(cpu.memory.read32(0x2010) == 0xBBBB_BBBB)
    #expect(cpu.memory.read32(0x2014) == 0x5756_5554)  // untouched
}

@Test func movsdRegisterMergesAndMemoryZeroes() {
    // movsd xmm2, xmm3; movsd xmm4, qword [0x2000]; movsd qword [0x2010], xmm3
    var c = SIMDCase([0xF2, 0x0F, 0x10, 0xD3, 0xF2, 0x0F, 0x10, 0x25, 0x00, 0x20, 0x00, 0x00,
                      0xF2, 0x0F, 0x11, 0x1D, 0x10, 0x20, 0x00, 0x00])
    c.xmm = [a, a, a, b, a]
    c.data = pattern
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.xmm[2] == XMMRegister(low: b.low, high: a.high))
    #expect(cpu.state.fpu.xmm[4] == XMMRegister(low: 0x4746_4544_4342_4140, high: 0))
    #expect(cpu.memory.read32(0x2010) == 0xBBBB_BBBB && cpu.memory.read32(0x2014) == 0xAAAA_AAAA)
    #expect(cpu.memory.read32(0x2018) == 0x5B5A_5958)
}

@Test func movapsMisalignedIsGPAndMovupsIsNot() {
    // movaps xmm0, [0x2004]
    var c = SIMDCase([0x0F, 0x28, 0x05, 0x04, 0x20, 0x00, 0x00])
    c.xmm = [a]
    c.data = pattern
    let (cpu, exit) = c.run()
    #expect(exit == exceptionGP0)
    #expect(cpu.state.eip == 0x1000)
    #expect(cpu.state.fpu.xmm[0] == a)
    // movups xmm0, [0x2004]
    c.code = [0x0F, 0x10, 0x05, 0x04, 0x20, 0x00, 0x00]
    let (cpu2, exit2) = c.run()
    #expect(exit2 == .halted)
    #expect(cpu2.state.fpu.xmm[0] == XMMRegister(low: 0x4B4A_4948_4746_4544, high: 0x5352_5150_4F4E_4D4C))
}

@Test func alignedArithmeticOperandsAreChecked() {
    // addps xmm0, [0x2008] (misaligned): #GP even though ADDPS is arithmetic; addss xmm0,
    // [0x2001] (m32: no alignment rule).
    var c = SIMDCase([0x0F, 0x58, 0x05, 0x08, 0x20, 0x00, 0x00])
    #expect(c.run().1 == exceptionGP0)
    c.code = [0xF3, 0x0F, 0x58, 0x05, 0x01, 0x20, 0x00, 0x00]
    #expect(c.run().1 == .halted)
    // pxor xmm0, [0x2008]: the SSE2 integer forms too; movdqu [0x2008], xmm1 is fine.
    c.code = [0x66, 0x0F, 0xEF, 0x05, 0x08, 0x20, 0x00, 0x00]
    #expect(c.run().1 == exceptionGP0)
    c.code = [0xF3, 0x0F, 0x7F, 0x0D, 0x08, 0x20, 0x00, 0x00]
    #expect(c.run().1 == .halted)
}

@Test func aStoreOverTheSegmentLimitWritesNothing() {
    // movups [0x2008], xmm1 with DS.limit = 0x2010: bytes 0x2011–0x2017 are outside.
    let cpu = CPU(memorySize: 1 << 20)
    var c = SIMDCase([0x0F, 0x11, 0x0D, 0x08, 0x20, 0x00, 0x00])
    c.xmm = [a, b]
    c.data = pattern
    // Run once to set the CPU up, then narrow DS and run the store again.
    _ = c.run(on: cpu)
    var st = cpu.state
    st.eip = 0x1000
    st.halted = false
    st[.ds] = SegmentCache(selector: 0x10, base: 0, limit: 0x2010, attributes: 0x4093)
    cpu.state = st
    cpu.memory.load(bytes: pattern, at: 0x2000)
    let exit = cpu.run(maxInstructions: 10)
    #expect(exit == exceptionGP0)
    #expect(cpu.memory.read32(0x2008) == 0x4B4A_4948)
}

@Test func movhlpsMovlhpsMovhpsMovlps() {
    // movhlps xmm0, xmm1; movlhps xmm2, xmm1; movhps xmm3, [0x2000]; movlps xmm4, [0x2008];
    // movhps [0x2010], xmm1
    var c = SIMDCase([0x0F, 0x12, 0xC1, 0x0F, 0x16, 0xD1, 0x0F, 0x16, 0x1D, 0x00, 0x20, 0x00, 0x00,
                      0x0F, 0x12, 0x25, 0x08, 0x20, 0x00, 0x00, 0x0F, 0x17, 0x0D, 0x10, 0x20, 0x00, 0x00])
    c.xmm = [a, b, a, a, a]
    c.data = pattern
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.xmm[0] == XMMRegister(low: b.high, high: a.high))
    #expect(cpu.state.fpu.xmm[2] == XMMRegister(low: a.low, high: b.low))
    #expect(cpu.state.fpu.xmm[3] == XMMRegister(low: a.low, high: 0x4746_4544_4342_4140))
    #expect(cpu.state.fpu.xmm[4] == XMMRegister(low: 0x4F4E_4D4C_4B4A_4948, high: a.high))
    #expect(cpu.memory.read32(0x2010) == 0xDDDD_DDDD && cpu.memory.read32(0x2014) == 0xCCCC_CCCC)
}

@Test func movdAndMovqZeroTheRest() {
    // movd xmm0, eax; movd ebx, xmm1; movq xmm2, xmm1; movq xmm3, [0x2000]; movq [0x2010], xmm1
    var c = SIMDCase([0x66, 0x0F, 0x6E, 0xC0, 0x66, 0x0F, 0x7E, 0xCB, 0xF3, 0x0F, 0x7E, 0xD1,
                      0xF3, 0x0F, 0x7E, 0x1D, 0x00, 0x20, 0x00, 0x00, 0x66, 0x0F, 0xD6, 0x0D, 0x10, 0x20, 0x00, 0x00])
    c.xmm = [a, b, a, a]
    c.regs = [.eax: 0x1234_5678]
    c.data = pattern
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.xmm[0] == XMMRegister(low: 0x1234_5678, high: 0))
    #expect(cpu.state[.ebx] == 0xBBBB_BBBB)
    #expect(cpu.state.fpu.xmm[2] == XMMRegister(low: b.low, high: 0))
    #expect(cpu.state.fpu.xmm[3] == XMMRegister(low: 0x4746_4544_4342_4140, high: 0))
    #expect(cpu.memory.read32(0x2010) == 0xBBBB_BBBB && cpu.memory.read32(0x2018) == 0x5B5A_5958)
}

@Test func movmskpsAndMovmskpd() {
    // movmskps eax, xmm1; movmskpd ebx, xmm1
    var c = SIMDCase([0x0F, 0x50, 0xC1, 0x66, 0x0F, 0x50, 0xD9])
    c.xmm = [a, xmmDwords(0x8000_0000, 1, 0xFFFF_FFFF, 0x7FFF_FFFF)]
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state[.eax] == 0b0101)
    #expect(cpu.state[.ebx] == 0b00)
}

@Test func maskmovdquWritesSelectedBytesAtEDI() {
    // maskmovdqu xmm0, xmm1 (bytes 0, 3 and 15 selected), EDI = 0x2000
    var c = SIMDCase([0x66, 0x0F, 0xF7, 0xC1])
    c.xmm = [XMMRegister(low: 0x0706_0504_0302_0100, high: 0x0F0E_0D0C_0B0A_0908),
             XMMRegister(low: 0x0000_0000_8000_0080, high: 0x8000_0000_0000_0000)]
    c.data = [UInt8](repeating: 0xEE, count: 16)
    c.regs = [.edi: 0x2000]
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.memory.read32(0x2000) == 0x03EE_EE00)
    #expect(cpu.memory.read32(0x200C) == 0x0FEE_EEEE)
}

@Test func ldmxcsrReservedBitsAreGPAndStmxcsrStores() {
    // ldmxcsr [0x2000]; stmxcsr [0x2004]
    var c = SIMDCase([0x0F, 0xAE, 0x15, 0x00, 0x20, 0x00, 0x00, 0x0F, 0xAE, 0x1D, 0x04, 0x20, 0x00, 0x00])
    c.data = bytes32(0xFFC0)  // FTZ, RC, masks, DAZ
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.mxcsr == 0xFFC0)
    #expect(cpu.memory.read32(0x2004) == 0xFFC0)
    c.data = bytes32(0x1_1F80)
    let (cpu2, exit2) = c.run()
    #expect(exit2 == exceptionGP0)
    #expect(cpu2.state.fpu.mxcsr == 0x1F80)
}

@Test func sseNeedsOSFXSRAndNotEMAndTakesNMOnTS() {
    let addps: [UInt8] = [0x0F, 0x58, 0xC1]
    var c = SIMDCase(addps)
    c.cr4 = 0
    #expect(c.run().1 == exceptionUD)
    c.cr4 = CR4.osfxsr
    c.cr0 |= CR0.em
    #expect(c.run().1 == exceptionUD)
    c.cr0 = CR0.pe | CR0.et | CR0.ts
    #expect(c.run().1 == exceptionNM)
    // MMX (pxor mm0, mm0) needs only EM clear: no OSFXSR.
    c = SIMDCase([0x0F, 0xEF, 0xC0])
    c.cr4 = 0
    #expect(c.run().1 == .halted)
    c.cr0 |= CR0.em
    #expect(c.run().1 == exceptionUD)
}

@Test func hintsFencesAndPause() {
    // pause; lfence; mfence; sfence; clflush [0x2000]; prefetchnta [0x2000]; movnti [0x2010], eax
    var c = SIMDCase([0xF3, 0x90, 0x0F, 0xAE, 0xE8, 0x0F, 0xAE, 0xF0, 0x0F, 0xAE, 0xF8,
                      0x0F, 0xAE, 0x3D, 0x00, 0x20, 0x00, 0x00, 0x0F, 0x18, 0x05, 0x00, 0x20, 0x00, 0x00,
                      0x0F, 0xC3, 0x05, 0x10, 0x20, 0x00, 0x00])
    c.regs = [.eax: 0xCAFE_F00D]
    c.cr4 = 0  // none of them needs CR4.OSFXSR
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.memory.read32(0x2010) == 0xCAFE_F00D)
}

@Test func clflushChecksItsAddress() {
    // clflush [0x2000] with DS.limit below it: #GP(0).
    let cpu = CPU(memorySize: 1 << 20)
    let c = SIMDCase([0x0F, 0xAE, 0x3D, 0x00, 0x20, 0x00, 0x00])
    _ = c.run(on: cpu)
    var st = cpu.state
    st.eip = 0x1000
    st.halted = false
    st[.ds] = SegmentCache(selector: 0x10, base: 0, limit: 0x1FFF, attributes: 0x4093)
    cpu.state = st
    #expect(cpu.run(maxInstructions: 10) == exceptionGP0)
}

@Test func shufflesAndUnpacks() {
    // shufps xmm0, xmm1, 0x1B; shufpd xmm2, xmm1, 1; unpcklps xmm3, xmm1; unpckhpd xmm4, xmm1
    var c = SIMDCase([0x0F, 0xC6, 0xC1, 0x1B, 0x66, 0x0F, 0xC6, 0xD1, 0x01, 0x0F, 0x14, 0xD9,
                      0x66, 0x0F, 0x15, 0xE1])
    let x = xmmDwords(0, 1, 2, 3), y = xmmDwords(10, 11, 12, 13)
    c.xmm = [x, y, x, x, x]
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.xmm[0] == xmmDwords(3, 2, 11, 10))
    #expect(cpu.state.fpu.xmm[2] == XMMRegister(low: x.high, high: y.low))
    #expect(cpu.state.fpu.xmm[3] == xmmDwords(0, 10, 1, 11))
    #expect(cpu.state.fpu.xmm[4] == XMMRegister(low: x.high, high: y.high))
}

@Test func logicOperations() {
    // andnps xmm0, xmm1; 66 0F 56 orpd xmm2, xmm1; 0F 57 xorps xmm3, xmm1
    var c = SIMDCase([0x0F, 0x55, 0xC1, 0x66, 0x0F, 0x56, 0xD1, 0x0F, 0x57, 0xD9])
    c.xmm = [a, b, a, a]
    let (cpu, exit) = c.run()
    #expect(exit == .halted)
    #expect(cpu.state.fpu.xmm[0] == XMMRegister(low: ~a.low & b.low, high: ~a.high & b.high))
    #expect(cpu.state.fpu.xmm[2] == XMMRegister(low: a.low | b.low, high: a.high | b.high))
    #expect(cpu.state.fpu.xmm[3] == XMMRegister(low: a.low ^ b.low, high: a.high ^ b.high))
}
