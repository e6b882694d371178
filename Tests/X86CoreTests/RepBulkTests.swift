import Testing
import X86Core

/// REP MOVS/STOS done a page at a time (`CPU.repBulk`) must leave exactly what the iterations
/// one by one leave. Each case runs twice from the same state: as usual, and with `traceWrites`
/// on, which keeps every write out of the soft TLB and so forces the one-by-one path. Registers,
/// flags, the instruction count and the memory must be equal, and the first run must have used
/// the bulk path (the second never).
struct RepBulkTests {
    static let mov = (esi: UInt8(0xBE), edi: UInt8(0xBF), ecx: UInt8(0xB9), eax: UInt8(0xB8))

    static func imm(_ op: UInt8, _ v: UInt32) -> [UInt8] {
        [op, UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
    }

    /// mov esi, SRC; mov edi, DST; mov ecx, N; mov eax, 0x8badf00d; cld/std; the string op; hlt.
    static func program(_ string: [UInt8], src: UInt32, dst: UInt32, count: UInt32, backward: Bool = false) -> [UInt8] {
        imm(mov.esi, src) + imm(mov.edi, dst) + imm(mov.ecx, count) + imm(mov.eax, 0x8BAD_F00D)
            + [backward ? 0xFD : 0xFC] + string + [0xF4]
    }

    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var code: [UInt8]
        var budget: UInt64 = 1_000_000
        var description: String { name }
    }

    static let movsd: [UInt8] = [0xF3, 0xA5], movsw: [UInt8] = [0x66, 0xF3, 0xA5], movsb: [UInt8] = [0xF3, 0xA4]
    static let stosd: [UInt8] = [0xF3, 0xAB], stosw: [UInt8] = [0x66, 0xF3, 0xAB], stosb: [UInt8] = [0xF3, 0xAA]

    static let cases: [Case] = [
        Case(name: "movsd over several pages", code: program(movsd, src: 0x10000, dst: 0x14000, count: 3000)),
        Case(name: "movsd, destination 4 bytes ahead (a pattern fill)", code: program(movsd, src: 0x10000, dst: 0x10004, count: 2000)),
        Case(name: "movsb, destination 1 byte ahead", code: program(movsb, src: 0x10000, dst: 0x10001, count: 5000)),
        Case(name: "movsd, destination behind the source", code: program(movsd, src: 0x10004, dst: 0x10000, count: 2000)),
        Case(name: "movsw, elements straddling pages", code: program(movsw, src: 0x10FFF, dst: 0x15FFD, count: 3000)),
        Case(name: "movsb, unaligned", code: program(movsb, src: 0x10123, dst: 0x17FF9, count: 9000)),
        Case(name: "stosd straddling a page", code: program(stosd, src: 0, dst: 0x13FFE, count: 4000)),
        Case(name: "stosb", code: program(stosb, src: 0, dst: 0x12345, count: 10000)),
        Case(name: "stosw", code: program(stosw, src: 0, dst: 0x12001, count: 3000)),
        Case(name: "movsd backward (DF = 1)", code: program(movsd, src: 0x18000, dst: 0x1C000, count: 1000, backward: true)),
        Case(name: "ecx = 0", code: program(movsd, src: 0x10000, dst: 0x14000, count: 0)),
        Case(name: "movsd stopped by the budget mid-page", code: program(movsd, src: 0x10000, dst: 0x30000, count: 100_000), budget: 5_003),
        Case(name: "stosd stopped by the budget", code: program(stosd, src: 0, dst: 0x30000, count: 100_000), budget: 12_345),
        Case(name: "movsd into RAM's end (reads past it as all ones)", code: program(movsd, src: 0xFF000, dst: 0xFE000, count: 2048)),
    ]

    func run(_ c: Case, engine: ExecutionEngine, traced: Bool) -> (CPUState, [UInt8], UInt64) {
        let cpu = CPU(memorySize: 1 << 20)
        cpu.engine = engine
        cpu.resetFlat(cpl: 0)
        var pattern = [UInt8](repeating: 0, count: 0x20000)
        for i in pattern.indices { pattern[i] = UInt8(truncatingIfNeeded: i &* 131 &+ i >> 8) }
        cpu.memory.load(bytes: pattern, at: 0x10000)
        cpu.memory.load(bytes: c.code, at: 0x1000)
        var st = cpu.state
        st.eip = 0x1000
        st[.esp] = 0x8000
        cpu.state = st
        cpu.traceWrites = traced
        _ = cpu.run(maxInstructions: c.budget)
        return (cpu.state, cpu.memory.bytes(at: 0x10000, count: 0x30000), cpu.bulkStringIterations)
    }

    @Test(arguments: cases, ExecutionEngine.allCases)
    func bulkEqualsOneByOne(_ c: Case, _ engine: ExecutionEngine) {
        let (fast, fastMemory, bulk) = run(c, engine: engine, traced: false)
        let (slow, slowMemory, none) = run(c, engine: engine, traced: true)
        #expect(none == 0)
        if c.name != "ecx = 0" && !c.name.contains("DF = 1") && !c.name.contains("ahead") { #expect(bulk > 0) }
        #expect(fast.eip == slow.eip && fast.instructions == slow.instructions)
        for r in [Register.eax, .ecx, .edx, .ebx, .esp, .ebp, .esi, .edi] {
            #expect(fast[r] == slow[r], "\(r)")
        }
        #expect(fast.flags == slow.flags)
        #expect(fastMemory == slowMemory)
    }
}
