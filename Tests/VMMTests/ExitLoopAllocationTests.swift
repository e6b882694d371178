import CMallocCounter
import ELF
import Foundation
import Machine
import Testing
import X86Core
import VMM

/// The VMM's loop adds no allocation to a guest that runs without exits: 10 M instructions of
/// the alu guest's loop under `--virt=hw` (trace off) with a per-thread malloc counter.
@Test func exitLoopDoesNotAllocateWhileTheGuestComputes() throws {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: guestPath("alu"))))
    let machine = PCMachine(memorySize: 64 << 20)
    try MultibootLoader.load(try ELF32File(bytes: bytes), into: machine.cpu)
    var serial: [UInt8] = []
    serial.reserveCapacity(1 << 16)
    machine.serialOutput = { serial.append($0) }
    let vmm = VMM(machine: machine)
    #expect(vmm.run(RunLimits(maxInstructions: 2_000_000)) == .instructionLimit)
    let before = x86v_malloc_count()
    let stop = vmm.run(RunLimits(maxInstructions: 12_000_000))
    let after = x86v_malloc_count()
    #expect(stop == .instructionLimit)
    #expect(after - before == 0, "the exit loop allocated \(after - before) times in 10 M instructions")
}
