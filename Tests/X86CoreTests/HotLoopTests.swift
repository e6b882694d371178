import CMallocCounter
import ELF
import Foundation
import Machine
import Testing
import X86Core

/// The execute loop must not allocate: 10 M instructions of the alu guest's timed loop (paging
/// off and on) run with a per-thread malloc counter around `CPU.run`, in both engines.
@Test(arguments: ["alu", "alu-paging"], ExecutionEngine.allCases)
func hotLoopDoesNotAllocate(_ name: String, _ engine: ExecutionEngine) throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("testguests/build/\(name).elf")
    let bytes = try [UInt8](Data(contentsOf: root))
    let machine = PCMachine(memorySize: 64 << 20)
    machine.cpu.engine = engine
    try MultibootLoader.load(try ELF32File(bytes: bytes), into: machine.cpu)
    // Boot and print the banner (serial output allocates in the machine, not the CPU).
    #expect(HardwareRunner(machine: machine).run(RunLimits(maxInstructions: 2_000_000)) == .instructionLimit)
    let before = x86v_malloc_count()
    let exit = machine.cpu.run(maxInstructions: 10_000_000)
    let after = x86v_malloc_count()
    #expect(exit == .instructionLimit)
    #expect(after - before == 0, "\(name) \(engine): the loop allocated \(after - before) times in 10 M instructions")
}

/// Code written behind the CPU's back (a loader, DMA, the VMM) is seen on the next fetch: the
/// decoded-instruction cache compares bytes; the block engine's write tracking sees the store.
@Test(arguments: ExecutionEngine.allCases)
func codeWrittenExternallyIsSeen(_ engine: ExecutionEngine) {
    let cpu = CPU(memorySize: 1 << 20)
    cpu.engine = engine
    cpu.resetFlat(cpl: 0)
    cpu.memory.load(bytes: [0xB8, 1, 0, 0, 0, 0xF4], at: 0x1000)  // mov eax, 1; hlt
    var st = cpu.state
    st.eip = 0x1000; st[.esp] = 0x8000
    cpu.state = st
    #expect(cpu.run(maxInstructions: 10) == .halted)
    #expect(cpu.state[.eax] == 1)
    cpu.memory.load(bytes: [0xB8, 2, 0, 0, 0], at: 0x1000)  // now mov eax, 2
    st = cpu.state
    st.eip = 0x1000; st.halted = false
    cpu.state = st
    #expect(cpu.run(maxInstructions: 10) == .halted)
    #expect(cpu.state[.eax] == 2)
}
