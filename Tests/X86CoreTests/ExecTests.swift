import Testing
import X86Core

/// Runs `code` at 0x1000 in flat 32-bit CPL-0 protected mode until HLT (or the budget).
func runFlat(_ code: [UInt8], regs: [Register: UInt32] = [:], flags: UInt32 = 0x2,
             budget: UInt64 = 10_000) -> (CPU, ExitReason) {
    let cpu = CPU(memorySize: 1 << 20)
    cpu.resetFlat(cpl: 0)
    cpu.memory.load(bytes: code + [0xF4], at: 0x1000)
    var st = cpu.state
    st.eip = 0x1000
    st[.esp] = 0x8000
    for (r, v) in regs { st[r] = v }
    cpu.state = st
    cpu.eflags = flags
    let exit = cpu.run(maxInstructions: budget)
    return (cpu, exit)
}

/// A Unicorn-style case: bytes (with the assembly in the name), inputs, expected outputs.
struct ExecCase: CustomStringConvertible, Sendable {
    let name: String
    let code: [UInt8]
    let input: [Register: UInt32]
    let output: [Register: UInt32]
    let flagsOut: UInt32?
    init(_ name: String, _ code: [UInt8], in input: [Register: UInt32] = [:],
         out output: [Register: UInt32], flags: UInt32? = nil) {
        self.name = name; self.code = code; self.input = input; self.output = output; self.flagsOut = flags
    }
    var description: String { name }
}

let execCases: [ExecCase] = [
    ExecCase("inc ecx; dec edx", [0x41, 0x4A], in: [.ecx: 0x1234, .edx: 0], out: [.ecx: 0x1235, .edx: 0xFFFF_FFFF]),
    ExecCase("add eax, ebx (carry)", [0x01, 0xD8], in: [.eax: 0xFFFF_FFFF, .ebx: 1], out: [.eax: 0], flags: 0x57),
    ExecCase("sub al, 1 (borrow)", [0x2C, 0x01], in: [.eax: 0], out: [.eax: 0xFF], flags: 0x97),
    ExecCase("mov ecx, 5; l: inc eax; loop l", [0xB9, 5, 0, 0, 0, 0x40, 0xE2, 0xFD], out: [.eax: 5, .ecx: 0]),
    ExecCase("push 0x1234; pop ebx", [0x68, 0x34, 0x12, 0, 0, 0x5B], out: [.ebx: 0x1234, .esp: 0x8000]),
    ExecCase("call +1; nop; pop eax", [0xE8, 0x01, 0, 0, 0, 0x90, 0x58], out: [.eax: 0x1005]),
    ExecCase("mov eax, 7; mul ebx", [0xB8, 7, 0, 0, 0, 0xF7, 0xE3], in: [.ebx: 0x8000_0000], out: [.eax: 0x8000_0000, .edx: 3]),
    ExecCase("cdq; idiv ecx", [0x99, 0xF7, 0xF9], in: [.eax: 0xFFFF_FFF9, .ecx: 2], out: [.eax: 0xFFFF_FFFD, .edx: 0xFFFF_FFFF]),
    ExecCase("shl eax, 1", [0xD1, 0xE0], in: [.eax: 0x8000_0001], out: [.eax: 0x2], flags: 0x801),
    ExecCase("rcl al, 1 with CF", [0xF9, 0xD0, 0xD0], in: [.eax: 0x80], out: [.eax: 0x01], flags: 0x801),
    ExecCase("bsf eax, ebx", [0x0F, 0xBC, 0xC3], in: [.ebx: 0x100], out: [.eax: 8]),
    ExecCase("xchg; bswap", [0x87, 0xD8, 0x0F, 0xC8], in: [.eax: 0x11223344, .ebx: 0xAABBCCDD], out: [.eax: 0xDDCCBBAA, .ebx: 0x11223344]),
    ExecCase("cmp eax, ebx; setl cl", [0x39, 0xD8, 0x0F, 0x9C, 0xC1], in: [.eax: 0xFFFF_FFFF, .ebx: 1], out: [.ecx: 1]),
    ExecCase("das after sub", [0xB0, 0x35, 0x2C, 0x47, 0x2F], out: [.eax: 0x88]),
]

@Test(arguments: execCases)
func exec(_ c: ExecCase) {
    let (cpu, exit) = runFlat(c.code, regs: c.input)
    #expect(exit == .halted, "\(c.name): \(exit)")
    for (r, v) in c.output {
        #expect(cpu.state[r] == v, "\(c.name): \(r) = 0x\(String(cpu.state[r], radix: 16)), want 0x\(String(v, radix: 16))")
    }
    if let f = c.flagsOut {
        #expect(cpu.eflags & 0x8D5 == f & 0x8D5, "\(c.name): flags 0x\(String(cpu.eflags, radix: 16))")
    }
}

@Test func divideByZeroIsAFaultAtTheInstruction() {
    let cpu = CPU(memorySize: 1 << 20)
    cpu.resetFlat(cpl: 0)
    cpu.memory.load(bytes: [0x90, 0xF7, 0xF3, 0xF4], at: 0x1000)  // nop; div ebx
    var st = cpu.state
    st.eip = 0x1000; st[.esp] = 0x8000; st[.eax] = 5
    cpu.state = st
    cpu.exitOnExceptions = 1 << 0
    let exit = cpu.run(maxInstructions: 100)
    #expect(exit == .exception(vector: 0, errorCode: nil))
    #expect(cpu.state.eip == 0x1001)
    #expect(cpu.state[.eax] == 5)
}

@Test func selfModifyingCodeIsSeen() {
    // mov byte [0x1010], 0x43 (turns the later "inc ebx" at 0x1010 into... itself), a loop that
    // rewrites an immediate it has already executed.
    //   0x1000: mov eax, 1           B8 01 00 00 00
    //   0x1005: add ecx, eax         01 C1
    //   0x1007: mov byte [0x1001], 5 C6 05 01 10 00 00 05
    //   0x100E: cmp ecx, 10          83 F9 0A
    //   0x1011: jb 0x1000            72 ED
    let code: [UInt8] = [0xB8, 1, 0, 0, 0, 0x01, 0xC1, 0xC6, 0x05, 0x01, 0x10, 0, 0, 5, 0x83, 0xF9, 0x0A, 0x72, 0xED]
    let (cpu, exit) = runFlat(code)
    #expect(exit == .halted)
    // First pass adds 1, then 5 each time: 1, 6, 11.
    #expect(cpu.state[.ecx] == 11)
}

@Test func decodedCacheLayoutConstantIsRight() {
    #expect(CPU.cachedInstructionOffsetIsConsistent)
}
