import CMallocCounter
import Testing
import X86Core

/// Hand-checked x87 cases (issue 16): results, status word, #MF timing, the environment and
/// FXSAVE images. The broad bit-for-bit check against the host CPU is cpu-diff's FPU families.

/// Runs `code` at 0x1000 (flat, CPL 0, CR0.NE set) with `data` at 0x2000; exceptions exit.
private func runX87(_ code: [UInt8], data: [UInt8] = [], cr0Extra: UInt32 = CR0.ne, cr4: UInt32 = 0,
                    budget: UInt64 = 1_000) -> (CPU, ExitReason) {
    let cpu = CPU(memorySize: 1 << 20)
    cpu.resetFlat(cpl: 0)
    cpu.memory.load(bytes: code + [0xF4], at: 0x1000)
    if !data.isEmpty { cpu.memory.load(bytes: data, at: 0x2000) }
    var st = cpu.state
    st.eip = 0x1000
    st[.esp] = 0x8000
    st.cr0 |= cr0Extra
    st.cr4 |= cr4
    cpu.state = st
    cpu.exitOnExceptions = 0xFFFF_FFFF
    return (cpu, cpu.run(maxInstructions: budget))
}

private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
private func read32(_ cpu: CPU, _ a: UInt32) -> UInt32 { cpu.memory.read32(a) }
private func read16(_ cpu: CPU, _ a: UInt32) -> UInt16 { UInt16(cpu.memory.read32(a) & 0xFFFF) }

@Test func x87AddsAndStores() {
    // fninit; fld1; fld1; faddp; fstp dword [0x2000]; fnstsw ax
    let (cpu, exit) = runX87([0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xE8, 0xDE, 0xC1,
                              0xD9, 0x1D, 0x00, 0x20, 0x00, 0x00, 0xDF, 0xE0])
    #expect(exit == .halted)
    #expect(read32(cpu, 0x2000) == 0x4000_0000)
    #expect(cpu.state[.eax] & 0xFFFF == 0)  // TOP back to 0, no flags
    #expect(cpu.state.fpu.tags == 0xFFFF)
    #expect(cpu.state.fpu.lastOpcode == 0x11D)  // D9 1D: the last non-control instruction
    #expect(cpu.state.fpu.operandPointer == 0x2000)
}

@Test func x87ControlWordKeepsOnlyItsBits() {
    // fldcw [0x2000] (0xFFFF); fnstcw [0x2004]
    let (cpu, exit) = runX87([0xD9, 0x2D, 0x00, 0x20, 0x00, 0x00, 0xD9, 0x3D, 0x04, 0x20, 0x00, 0x00],
                             data: le16(0xFFFF))
    #expect(exit == .halted)
    #expect(read16(cpu, 0x2004) == 0x1F7F)  // the host CPU's value
}

@Test func unmaskedZeroDivideFaultsAtTheNextWaitingInstruction() {
    // fninit; fldcw [0x2000] (0x037B: ZM clear); fld1; fldz; fdivp st(1) (ZE, pending);
    // fnstsw ax (no wait: runs); fwait (#MF here)
    let code: [UInt8] = [0xDB, 0xE3, 0xD9, 0x2D, 0x00, 0x20, 0x00, 0x00, 0xD9, 0xE8, 0xD9, 0xEE,
                         0xDE, 0xF9, 0xDF, 0xE0, 0x9B]
    let (cpu, exit) = runX87(code, data: le16(0x037B))
    #expect(exit == .exception(vector: 16, errorCode: nil))
    #expect(cpu.state.eip == 0x1010)  // the FWAIT
    // B, ES, ZE, TOP 6: the unmasked response leaves the operands alone and does not pop
    // (SDM Vol. 1 §8.5.3; the host CPU agrees).
    #expect(cpu.state[.eax] & 0xFFFF == 0xB084)
    #expect(cpu.state.fpu.tags >> 12 == 0b0001)  // R7 = 1.0 valid, R6 = 0.0 zero
}

@Test func withoutNEThePendingErrorIsNotAnMF() {
    let code: [UInt8] = [0xDB, 0xE3, 0xD9, 0x2D, 0x00, 0x20, 0x00, 0x00, 0xD9, 0xE8, 0xD9, 0xEE,
                         0xDE, 0xF9, 0x9B]
    let (_, exit) = runX87(code, data: le16(0x037B), cr0Extra: 0)
    #expect(exit != .exception(vector: 16, errorCode: nil))
}

@Test func unmaskedOverflowOnAStoreLeavesMemoryAndStack() {
    // fninit; fldcw (0x0377: OM clear); fld tbyte [0x2010] (1e4000); fstp dword [0x2020]
    var data = le16(0x0377) + [UInt8](repeating: 0, count: 14)
    data += [0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF, 0x7F - 0x10]  // a huge normal
    data += [UInt8](repeating: 0, count: 6) + [0x11, 0x22, 0x33, 0x44]
    let code: [UInt8] = [0xDB, 0xE3, 0xD9, 0x2D, 0x00, 0x20, 0x00, 0x00, 0xDB, 0x2D, 0x10, 0x20, 0x00, 0x00,
                         0xD9, 0x1D, 0x20, 0x20, 0x00, 0x00, 0xDF, 0xE0]
    let (cpu, exit) = runX87(code, data: data)
    #expect(exit == .halted)
    #expect(read32(cpu, 0x2020) == 0x4433_2211)
    #expect(cpu.state[.eax] & 0x3800 == 0x3800)  // TOP still 7: not popped
    #expect(cpu.state[.eax] & 0x08 == 0x08)  // OE
}

@Test func fcomiSetsEflags() {
    // fninit; fld1; fldz; fcomi st(1): 0 < 1 → CF=1, ZF=0, PF=0
    let (cpu, exit) = runX87([0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xEE, 0xDB, 0xF1])
    #expect(exit == .halted)
    #expect(cpu.eflags & 0x45 == 0x01)
}

@Test func fnstenvProtected32Layout() {
    // fninit; fld1; fldz; fnstenv [0x2000]; fnstcw [0x2040]
    let (cpu, exit) = runX87([0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xEE, 0xD9, 0x35, 0x00, 0x20, 0x00, 0x00,
                              0xD9, 0x3D, 0x40, 0x20, 0x00, 0x00])
    #expect(exit == .halted)
    #expect(read32(cpu, 0x2000) == 0xFFFF_037F)
    #expect(read32(cpu, 0x2004) == 0xFFFF_3000)
    #expect(read32(cpu, 0x2008) == 0xFFFF_1FFF)  // R7 valid, R6 zero, the rest empty
    #expect(read32(cpu, 0x200C) == 0x1004)  // FIP: the FLDZ
    #expect(read32(cpu, 0x2010) == 0x01EE_0000 | UInt32(cpu.state.segments[1].selector))
    #expect(read16(cpu, 0x2040) == 0x037F)  // FNSTENV masked everything (already masked here)
}

@Test func fxsaveLayoutAndRoundTrip() {
    // fninit; fld1; fxsave [0x2000]; fninit; fxrstor [0x2000]; fstp dword [0x2400]
    let (cpu, exit) = runX87([0xDB, 0xE3, 0xD9, 0xE8, 0x0F, 0xAE, 0x05, 0x00, 0x20, 0x00, 0x00, 0xDB, 0xE3,
                              0x0F, 0xAE, 0x0D, 0x00, 0x20, 0x00, 0x00, 0xD9, 0x1D, 0x00, 0x24, 0x00, 0x00],
                             cr4: CR4.osfxsr)
    #expect(exit == .halted)
    #expect(read32(cpu, 0x2000) == 0x3800_037F)  // FCW, FSW with TOP 7
    #expect(read32(cpu, 0x2004) & 0xFF == 0x80)  // abridged tags: R7
    #expect(read32(cpu, 0x2018) == 0x1F80)  // MXCSR
    #expect(read32(cpu, 0x201C) == 0xFFFF)  // MXCSR_MASK
    #expect(read32(cpu, 0x2024) == 0x8000_0000 && read32(cpu, 0x2028) == 0x3FFF)  // ST0 = 1.0
    #expect(read32(cpu, 0x2400) == 0x3F80_0000)
}

@Test func fxsaveMisalignedIsGP() {
    let (_, exit) = runX87([0x0F, 0xAE, 0x05, 0x08, 0x20, 0x00, 0x00], cr4: CR4.osfxsr)
    #expect(exit == .exception(vector: 13, errorCode: 0))
}

@Test func x87WithEMOrTSIsNM() {
    let (_, a) = runX87([0xD9, 0xE8], cr0Extra: CR0.em)
    #expect(a == .exception(vector: 7, errorCode: nil))
    let (_, b) = runX87([0xD9, 0xE8], cr0Extra: CR0.ts)
    #expect(b == .exception(vector: 7, errorCode: nil))
    // WAIT: #NM only with MP and TS.
    let (_, c) = runX87([0x9B], cr0Extra: CR0.ts)
    #expect(c == .halted)
    let (_, e) = runX87([0x9B], cr0Extra: CR0.ts | CR0.mp)
    #expect(e == .exception(vector: 7, errorCode: nil))
}

@Test func x87RegisterLayoutIsWhatTheHostCodeExpects() {
    // cx87_fast_state loads and stores R0–R7 in place: 16-byte slots, the 80-bit real first.
    #expect(MemoryLayout<X87Register>.stride == 16)
    #expect(MemoryLayout<X87Register>.offset(of: \.significand) == 0)
    #expect(MemoryLayout<X87Register>.offset(of: \.signExponent) == 8)
    #expect(MemoryLayout<InlineArray<8, X87Register>>.stride == 128)
}

@Test func fastAndFullPathsAgree() {
    // The same arithmetic with every exception masked (the fast path) and with ZM clear (the
    // full path; nothing here divides by zero, so nothing is pending):
    // fninit; fldcw; fld1; fld tbyte [0x2010]; fdiv st(1); fsqrt; fxch; fmul st(0), st(1); fnstsw ax
    let code: [UInt8] = [0xDB, 0xE3, 0xD9, 0x2D, 0x00, 0x20, 0x00, 0x00, 0xD9, 0xE8, 0xDB, 0x2D, 0x10, 0x20, 0x00, 0x00,
                         0xD8, 0xF1, 0xD9, 0xFA, 0xD9, 0xC9, 0xD8, 0xC9, 0xDF, 0xE0]
    let three: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0xC0, 0x00, 0x40]
    var data = [UInt8](repeating: 0, count: 16) + three
    data[0] = 0x7F; data[1] = 0x03
    let (fast, e1) = runX87(code, data: data)
    data[0] = 0x7B  // 0x037B: ZM clear
    let (full, e2) = runX87(code, data: data)
    #expect(e1 == .halted && e2 == .halted)
    for i in 0..<8 { #expect(fast.state.fpu.registers[i] == full.state.fpu.registers[i], "R\(i)") }
    #expect(fast.state.fpu.tags == full.state.fpu.tags)
    #expect(fast.state[.eax] & 0x3FFF == full.state[.eax] & 0x3FFF)  // flags, C1, TOP (not ES/B)
}

/// x87 execution does not allocate: a loop of fast-path instructions, a full-path one (FSIN),
/// and the environment and state saves (FNSTENV/FLDENV, FNSAVE/FRSTOR, FXSAVE/FXRSTOR), under a
/// per-thread malloc counter, in both engines.
@Test(arguments: ExecutionEngine.allCases)
func x87LoopDoesNotAllocate(_ engine: ExecutionEngine) {
    // fninit; l: fld1; fldpi; faddp st(1); fsin; fstp qword [0x2080]; fnstenv [0x2000];
    // fldenv [0x2000]; fnsave [0x2100]; frstor [0x2100]; fxsave [0x2400]; fxrstor [0x2400]; jmp l
    let code: [UInt8] = [0xDB, 0xE3,
                         0xD9, 0xE8, 0xD9, 0xEB, 0xDE, 0xC1, 0xD9, 0xFE, 0xDD, 0x1D, 0x80, 0x20, 0x00, 0x00,
                         0xD9, 0x35, 0x00, 0x20, 0x00, 0x00, 0xD9, 0x25, 0x00, 0x20, 0x00, 0x00,
                         0xDD, 0x35, 0x00, 0x21, 0x00, 0x00, 0xDD, 0x25, 0x00, 0x21, 0x00, 0x00,
                         0x0F, 0xAE, 0x05, 0x00, 0x24, 0x00, 0x00, 0x0F, 0xAE, 0x0D, 0x00, 0x24, 0x00, 0x00,
                         0xEB, 0xCA]
    let cpu = CPU(memorySize: 1 << 20)
    cpu.engine = engine
    cpu.resetFlat(cpl: 0)
    cpu.memory.load(bytes: code, at: 0x1000)
    var st = cpu.state
    st.eip = 0x1000
    st[.esp] = 0x8000
    st.cr0 |= CR0.ne
    cpu.state = st
    #expect(cpu.run(maxInstructions: 1_000) == .instructionLimit)  // one-time tables are built here
    let before = x86v_malloc_count()
    let exit = cpu.run(maxInstructions: 120_000)
    let after = x86v_malloc_count()
    #expect(exit == .instructionLimit)
    #expect(after - before == 0, "\(engine): \(after - before) allocations in 120,000 x87 instructions")
    // 9 of every 12 instructions are counted as x87 (FXSAVE/FXRSTOR and the jump are not).
    #expect(cpu.fpuCounters.x87 >= 90_000, "\(cpu.fpuCounters.x87) x87 instructions")
}
