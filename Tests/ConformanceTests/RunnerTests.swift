import Testing
import X86Core
import Conformance

/// Test 457 of the suite's 00.MOO (../shared/conformance/80386/00.jsonl, line 1), as captured.
let addMemoryLine = """
    {"file":"00","idx":457,"hash":"002231b769c947f891f09cefc03be26cdb12da66","name":"add [ss:bp+si+6142h],al",\
    "bytes":[0,130,66,97,244],"mode":"real","initial":{"regs":{"cr0":2147418096,"cr3":0,"eax":452516073,\
    "ebx":3290007340,"ecx":2153173944,"edx":0,"esi":2110561088,"edi":2903557885,"ebp":1299546924,"esp":61680,\
    "cs":0,"ds":54490,"es":0,"fs":37446,"gs":32835,"ss":42,"eip":19360,"eflags":4294706247,"dr6":4294905840,\
    "dr7":0},"ram":[[19360,0],[19361,130],[19362,66],[19363,97],[19364,244],[19365,81],[19366,45],[19367,105],\
    [19368,3],[19369,82],[33358,148],[19370,100],[19371,107],[19372,116],[19373,230],[19374,1],[19375,212]]},\
    "final":{"regs":{"eip":19365,"eflags":4294708231},"ram":[[33358,125]]},"flags_mask":4294967295,\
    "flags_mask_src":"none"}
    """

@Test(arguments: ExecutionEngine.allCases)
func aCapturedTestPasses(_ engine: ExecutionEngine) throws {
    let t = try JSONLinesReader.test(line: addMemoryLine)
    let outcome = ConformanceRunner(engine: engine).run(t)
    #expect(outcome.passed, "\(outcome.mismatches)")
}

@Test func aWrongExpectationIsReportedRegisterByRegisterAndByteByByte() throws {
    var t = try JSONLinesReader.test(line: addMemoryLine)
    t.finalRegisters[.eflags] = 0xFFFC_0C06  // CF clear instead of set
    t.finalRegisters[.ebx] = 0x1234_5678     // a register the instruction does not write
    t.finalRAM = [RAMByte(33358, 0x7E)]
    let outcome = ConformanceRunner().run(t)
    #expect(outcome.mismatches == [
        .register(.ebx, expected: 0x1234_5678, got: 3_290_007_340, mask: 0xFFFF_FFFF),
        .register(.eflags, expected: 0xFFFC_0C06, got: 0x0000_0C07, mask: 0x0003_FFFF),
        .memory(address: 33358, expected: 0x7E, got: 0x7D, mask: 0xFF),
    ])
    let report = ConformanceSession.report(t, outcome, source: "00.jsonl")
    #expect(report.hasPrefix("FAIL 00.jsonl idx 457 \"add [ss:bp+si+6142h],al\" hash 002231b769c947f891f09cefc03be26cdb12da66 bytes 00 82 42 61 f4\n"))
    #expect(report.contains("  ebx: expected 0x12345678 got 0xc419872c\n"))
    #expect(report.contains("  eflags: expected 0xfffc0c06 got 0x00000c07 (compared under mask 0x0003ffff)\n"))
    #expect(report.hasSuffix("\n  (flags mask 0xffffffff from none)"))
    #expect(report.contains("  ram[0x00824e]: expected 0x7e got 0x7d"))
    // A flags mask that calls CF undefined hides the flag difference, and only it.
    t.flagsMask = 0xFFFF_FFFE
    #expect(ConformanceRunner().run(t).mismatches.count == 2)
}

/// A hand-made INT 3 test (SDM Vol. 3A §20.1.4): FLAGS, CS, IP pushed on SS:SP, IF and TF cleared,
/// CS:IP from IVT entry 3 (0x0C), where a HLT ends the test.
func int3Test() -> ConformanceTest {
    var t = ConformanceTest(file: "CC", index: 0, hash: "", name: "int3", bytes: [0xCC, 0xF4], mode: "real")
    let initial: [(ConformanceRegister, UInt32)] = [
        (.cr0, 0x7FFE_FFF0), (.cr3, 0), (.eax, 0), (.ebx, 0), (.ecx, 0), (.edx, 0), (.esi, 0), (.edi, 0),
        (.ebp, 0), (.esp, 0x100), (.cs, 0x100), (.ds, 0), (.es, 0), (.fs, 0), (.gs, 0), (.ss, 0x200),
        (.eip, 0x10), (.eflags, 0xFFFC_0203), (.dr6, 0xFFFF_0FF0), (.dr7, 0)]
    for (r, v) in initial { t.initialRegisters[r] = v }
    t.initialRAM = [RAMByte(0x1010, 0xCC), RAMByte(0x1011, 0xF4),
                    RAMByte(0x0C, 0x05), RAMByte(0x0D, 0x00), RAMByte(0x0E, 0x00), RAMByte(0x0F, 0x30),
                    RAMByte(0x30005, 0xF4)]
    t.finalRegisters[.cs] = 0x3000
    t.finalRegisters[.eip] = 0x0006
    t.finalRegisters[.esp] = 0x00FA
    t.finalRegisters[.eflags] = 0xFFFC_0003
    t.finalRAM = [RAMByte(0x20FA, 0x11), RAMByte(0x20FD, 0x01), RAMByte(0x20FE, 0x03), RAMByte(0x20FF, 0x02)]
    t.exception = TestException(vector: 3, flagAddress: 0x20FE)
    return t
}

@Test func aSoftwareInterruptGoesThroughTheIVTAndItsPushedFlagsAreMasked() {
    var t = int3Test()
    #expect(ConformanceRunner().run(t).passed, "\(ConformanceRunner().run(t).mismatches)")
    // A pushed FLAGS byte that differs only in an undefined bit passes; in a defined bit it fails.
    t.finalRAM[2] = RAMByte(0x20FE, 0x02)
    t.flagsMask = 0xFFFF_FFFE
    #expect(ConformanceRunner().run(t).passed)
    t.finalRAM[2] = RAMByte(0x20FE, 0x43)
    #expect(ConformanceRunner().run(t).mismatches == [.memory(address: 0x20FE, expected: 0x43, got: 0x03, mask: 0xFE)])
}

@Test func inReadsAllOnes() {
    var t = int3Test()
    t.bytes = [0xE4, 0x60, 0x66, 0xED, 0xF4]  // in al, 0x60; in eax, dx; hlt
    t.initialRAM = [RAMByte(0x1010, 0xE4), RAMByte(0x1011, 0x60), RAMByte(0x1012, 0x66), RAMByte(0x1013, 0xED), RAMByte(0x1014, 0xF4)]
    t.finalRegisters = RegisterValues()
    t.finalRegisters[.eax] = 0xFFFF_FFFF
    t.finalRegisters[.eip] = 0x15
    t.finalRAM = []
    t.exception = nil
    #expect(ConformanceRunner().run(t).passed, "\(ConformanceRunner().run(t).mismatches)")
}

@Test func aTestThatNeverHaltsStopsAtTheBudget() {
    var t = int3Test()
    t.initialRAM = [RAMByte(0x1010, 0xEB), RAMByte(0x1011, 0xFE)]  // jmp $
    let outcome = ConformanceRunner(instructionBudget: 100).run(t)
    #expect(outcome.mismatches == [.stopped("no HLT within 100 instructions (EIP 0x0010)")])
}

@Test func theBusHas24AddressLines() {
    let cpu = CPU(memorySize: ConformanceRunner.ramSize)
    cpu.memory.add(Bus24(memory: cpu.memory))
    cpu.memory.write8(0x0100_0005, 0x5A)
    #expect(cpu.memory.read8(5) == 0x5A)
    #expect(cpu.memory.read(0x0300_0004, size: 2) == 0x5A00)
    cpu.memory.write(0xFEFF_FFFF, size: 2, value: 0x1234)
    #expect(cpu.memory.read8(0xFF_FFFF) == 0x34 && cpu.memory.read8(0) == 0x12)
}

@Test func lockOnARegisterFormIsAnInvalidOpcodeFaultAtTheFirstPrefix() {
    // es lock add bl, cl: #UD (SDM Vol. 2A LOCK), a fault, so the pushed IP is the instruction's
    // first byte (0x10); IVT entry 6 (0x18) points at 3000:0005, which holds the HLT.
    var t = int3Test()
    t.name = "lock add bl,cl"
    t.bytes = [0x26, 0xF0, 0x00, 0xCB, 0xF4]
    t.initialRAM = [RAMByte(0x1010, 0x26), RAMByte(0x1011, 0xF0), RAMByte(0x1012, 0x00), RAMByte(0x1013, 0xCB),
                    RAMByte(0x1014, 0xF4), RAMByte(0x18, 0x05), RAMByte(0x19, 0x00), RAMByte(0x1A, 0x00),
                    RAMByte(0x1B, 0x30), RAMByte(0x30005, 0xF4)]
    t.finalRAM = [RAMByte(0x20FA, 0x10), RAMByte(0x20FD, 0x01), RAMByte(0x20FE, 0x03), RAMByte(0x20FF, 0x02)]
    t.exception = TestException(vector: 6, flagAddress: 0x20FE)
    for engine in ExecutionEngine.allCases {
        let outcome = ConformanceRunner(engine: engine).run(t)
        #expect(outcome.passed, "\(engine): \(outcome.mismatches)")
    }
}
