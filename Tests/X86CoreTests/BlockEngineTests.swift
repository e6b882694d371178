import Testing
import X86Core

/// The block engine's exactness rules on hand-made code: budgets and faults in the middle of a
/// block, stores into the running block, writes by others, and its counters.
struct BlockEngineTests {
    /// A CPU at CPL 0, flat segments, code at 0x1000, stack at 0x8000.
    func machine(_ code: [UInt8], engine: ExecutionEngine = .blocks) -> CPU {
        let cpu = CPU(memorySize: 1 << 20)
        cpu.engine = engine
        cpu.resetFlat(cpl: 0)
        cpu.memory.load(bytes: code, at: 0x1000)
        var st = cpu.state
        st.eip = 0x1000
        st[.esp] = 0x8000
        cpu.state = st
        return cpu
    }

    /// Eight `inc eax` then HLT: one block of nine.
    let incs: [UInt8] = Array(repeating: 0x40, count: 8) + [0xF4]

    @Test func aBudgetStopsInTheMiddleOfABlock() {
        let cpu = machine(incs)
        #expect(cpu.run(maxInstructions: 3) == .instructionLimit)
        #expect(cpu.state[.eax] == 3)
        #expect(cpu.state.eip == 0x1003)
        #expect(cpu.state.instructions == 3)
        #expect(cpu.run(maxInstructions: 100) == .halted)
        #expect(cpu.state[.eax] == 8)
        #expect(cpu.state.instructions == 9)
        #expect(cpu.blockStats.built >= 1)
        #expect(cpu.blockStats.executions >= 2)
    }

    @Test(arguments: ExecutionEngine.allCases)
    func aFaultInTheMiddleOfABlockIsExact(_ engine: ExecutionEngine) {
        // inc eax; inc eax; mov ebx, [0xFFFFF000] (beyond RAM: reads all ones, no fault);
        // xor ecx, ecx; div ecx (#DE); inc eax
        let code: [UInt8] = [0x40, 0x40, 0x8B, 0x1D, 0x00, 0xF0, 0xFF, 0xFF, 0x31, 0xC9, 0xF7, 0xF1, 0x40, 0xF4]
        let cpu = machine(code, engine: engine)
        cpu.exitOnExceptions = 1 << 0
        #expect(cpu.run(maxInstructions: 100) == .exception(vector: 0, errorCode: nil))
        #expect(cpu.state[.eax] == 2)
        #expect(cpu.state[.ebx] == 0xFFFF_FFFF)
        #expect(cpu.state.eip == 0x100A)
        #expect(cpu.state.instructions == 4)
    }

    @Test(arguments: ExecutionEngine.allCases)
    func aStoreIntoTheRunningBlockIsSeenByTheNextInstruction(_ engine: ExecutionEngine) {
        // mov byte [0x1008], 0x48 (inc eax -> dec eax at the 2nd instruction after it); inc eax;
        // inc eax (rewritten); hlt
        let code: [UInt8] = [0xC6, 0x05, 0x08, 0x10, 0x00, 0x00, 0x48, 0x40, 0x40, 0xF4]
        let cpu = machine(code, engine: engine)
        // Run it once unmodified first, so the block exists before the store.
        cpu.memory.write8(0x1006, 0x40)  // the store writes inc eax: no change the first time
        #expect(cpu.run(maxInstructions: 100) == .halted)
        #expect(cpu.state[.eax] == 2)
        // Now the store turns the second inc into dec.
        cpu.memory.write8(0x1006, 0x48)
        var st = cpu.state
        st.eip = 0x1000; st.halted = false; st[.eax] = 0
        cpu.state = st
        #expect(cpu.run(maxInstructions: 100) == .halted)
        #expect(cpu.state[.eax] == 0)
        if engine == .blocks { #expect(cpu.memory.codeInvalidations.guestStores >= 1) }
    }

    @Test func aWriteByAnotherAgentInvalidatesAndIsCounted() {
        let cpu = machine(incs)
        #expect(cpu.run(maxInstructions: 100) == .halted)
        let built = cpu.blockStats.built
        cpu.memory.write32(0x1000, 0x4848_4848)  // four dec eax, written "by a device"
        var st = cpu.state
        st.eip = 0x1000; st.halted = false; st[.eax] = 0
        cpu.state = st
        #expect(cpu.run(maxInstructions: 100) == .halted)
        #expect(cpu.state[.eax] == 0)  // -4 + 4
        #expect(cpu.blockStats.built > built)
        #expect(cpu.memory.codeInvalidations.otherWrites == 1)
    }

    @Test func dataNextToCodeDoesNotInvalidate() {
        // A loop that stores into the same page, past the code: the blocks stay.
        // 0x1000: mov ecx, 100; 1: mov [0x1800], ecx; dec ecx; jnz 1b; hlt
        let code: [UInt8] = [0xB9, 100, 0, 0, 0, 0x89, 0x0D, 0x00, 0x18, 0x00, 0x00, 0x49, 0x75, 0xF7, 0xF4]
        let cpu = machine(code)
        #expect(cpu.run(maxInstructions: 1000) == .halted)
        #expect(cpu.state.instructions == 1 + 300 + 1)
        #expect(cpu.memory.codeInvalidations.guestStores == 0)
        #expect(cpu.blockStats.built <= 4)
        #expect(cpu.blockStats.chained > 90)
    }

    @Test(arguments: ExecutionEngine.allCases)
    func anInstructionAcrossAPageIsCachedAndChecked(_ engine: ExecutionEngine) {
        // mov eax, 0x44332211 at 0x1FFD–0x2001 (three bytes in the first page), then hlt.
        let cpu = machine([], engine: engine)
        cpu.memory.load(bytes: [0xB8, 0x11, 0x22, 0x33, 0x44, 0xF4], at: 0x1FFD)
        func run() -> UInt32 {
            var st = cpu.state
            st.eip = 0x1FFD; st.halted = false; st[.eax] = 0
            cpu.state = st
            #expect(cpu.run(maxInstructions: 10) == .halted)
            return cpu.state[.eax]
        }
        #expect(run() == 0x4433_2211)
        #expect(run() == 0x4433_2211)              // from the crossing cache
        cpu.memory.write8(0x2000, 0x55)            // a byte in the second page
        #expect(run() == 0x4455_2211)
        cpu.memory.write8(0x1FFE, 0x66)            // a byte in the first page
        #expect(run() == 0x4455_2266)
        cpu.memory.load(bytes: [0x90, 0x90, 0x40], at: 0x1FFD)  // now nop; nop; inc eax; (0x33…)
        var st = cpu.state
        st.eip = 0x1FFD; st.halted = false; st[.eax] = 0
        cpu.state = st
        _ = cpu.run(maxInstructions: 3)
        #expect(cpu.state[.eax] == 1)
        #expect(cpu.state.eip == 0x2000)
    }
}
