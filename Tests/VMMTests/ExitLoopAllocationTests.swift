import CMallocCounter
import ELF
import Foundation
import Machine
import Testing
import XCTest
import X86Core
import VMM

/// The VMM's loop adds no allocation to a guest that runs without exits: 10 M instructions of
/// the alu guest's loop under `--virt=hw` (trace off) with a per-thread malloc counter.
@Test(arguments: ExecutionEngine.allCases)
func exitLoopDoesNotAllocateWhileTheGuestComputes(_ engine: ExecutionEngine) throws {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: guestPath("alu"))))
    let machine = PCMachine(memorySize: 64 << 20)
    machine.cpu.engine = engine
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

/// The page-table-heavy guests under both MMUs: after a warm-up (the first fills, new tables,
/// reverse-map lists reaching their size), the steady state allocates nothing. This covers the
/// hidden-fault path, true faults injected, the emulated table store, out-of-sync tables and
/// their resync at INVLPG and CR3 writes, prefetch, and the INVLPG / CR3 exits.
///
/// XCTest, not Swift Testing: Swift Testing hooks `swift_willThrowTyped` to capture a backtrace
/// (which allocates) for every error thrown in its process, and the interpreter signals each
/// fault and exit with a typed throw. XCTest runs in a process of its own without that hook.
final class FaultPathAllocationTests: XCTestCase {
    func testFaultPathDoesNotAllocate() throws {
        for guest in ["bench-churn", "bench-fault", "bench-demand", "bench-spaces"] {
            for mmu in [MMUMode.shadow(pages: 512), .direct] { for engine in ExecutionEngine.allCases {
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: guestPath(guest))))
                let machine = PCMachine(memorySize: 64 << 20, privateMemory: 512 * 4096)
                machine.cpu.engine = engine
                try MultibootLoader.load(try ELF32File(bytes: bytes), into: machine.cpu)
                var serial: [UInt8] = []
                serial.reserveCapacity(1 << 16)
                machine.serialOutput = { serial.append($0) }
                let vmm = VMM(machine: machine, mmu: mmu)
                // bench-demand's first round maps 8,192 new frames (1.4 M instructions).
                XCTAssertEqual(vmm.run(RunLimits(maxInstructions: 2_000_000)), .instructionLimit)
                let faultsBefore = vmm.shadow.map { $0.stats.hiddenFaults + $0.stats.trueFaults + $0.stats.cr3Switches } ?? 0
                let before = x86v_malloc_count()
                let stop = vmm.run(RunLimits(maxInstructions: 4_000_000))
                let after = x86v_malloc_count()
                XCTAssertEqual(stop, .instructionLimit)
                XCTAssertEqual(after - before, 0, "\(guest) \(mmu) \(engine): \(after - before) allocations in 2 M instructions")
                // Under the shadow MMU the workload must really take the paths named above (faults, or
                // CR3 switches for bench-spaces).
                if let sh = vmm.shadow {
                    XCTAssertGreaterThan(sh.stats.hiddenFaults + sh.stats.trueFaults + sh.stats.cr3Switches - faultsBefore, 1_000, "\(guest) \(mmu)")
                }
            } }
        }
    }
}
