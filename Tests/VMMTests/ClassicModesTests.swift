import Foundation
import Machine
import Testing
import VMM
import X86Core

// Virtual-8086 mode and hardware task switches under the classic VMM (docs/classic.md "Real
// mode, V86 and task switches"): the ROM test guests (testguests/rom, built by
// `make -C testguests`; skipped when they are not) under --virt=classic and --virt=bt, against
// the output Bochs 2.7 recorded (testguests/expected/rom-NAME.out).

/// A ROM guest powered on at the reset vector under the classic VMM, its 0xE9 output collected.
final class ClassicROMRig {
    let machine: PCMachine
    let vmm: VMM
    var console: [UInt8] = []

    init?(_ name: String, bt: Bool) throws {
        let path = repositoryRoot.appendingPathComponent("testguests/build/\(name).bin").path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let pool = 512
        machine = PCMachine(memorySize: 64 << 20, privateMemory: (pool + ClassicState.Layout.privatePages) * 4096)
        try machine.loadROM(try ROMImage(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))))
        vmm = VMM(machine: machine, mmu: .shadow(pages: pool), classic: true, binaryTranslation: bt)
        machine.debugPorts.onConsole = { [unowned self] in self.console.append($0) }
    }

    func run(to n: UInt64 = 50_000_000) -> StopReason { vmm.run(RunLimits(maxInstructions: n, timeoutSeconds: 120)) }

    var output: String { String(decoding: console, as: UTF8.self) }

    /// What Bochs printed (the header line dropped).
    static func expected(_ name: String) throws -> String {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("testguests/expected/\(name).out"), encoding: .utf8)
        return String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)[1])
    }
}

@Suite struct ClassicModesTests {
    /// Exactly Bochs's output: binary translation everywhere, plain classic for the V86 guests
    /// (their monitors read nothing ring compression changes).
    @Test(arguments: [("rom-v86", false), ("rom-v86", true), ("rom-vme", false), ("rom-vme", true), ("rom-task", true)])
    func romGuestGivesBochsOutput(name: String, bt: Bool) throws {
        guard let rig = try ClassicROMRig(name, bt: bt) else { return }
        let stop = rig.run()
        #expect(stop == .debugExit(1), "\(name) bt=\(bt): \(stop)")
        #expect(rig.output == (try ClassicROMRig.expected(name)), "\(name) bt=\(bt)")
        let c = try #require(rig.vmm.classic)
        // The guest was back in ring compression after each stretch in the emulated mode.
        #expect(c.emulatedReturns > 0 && c.emulated == nil, "\(name) bt=\(bt)")
        if name == "rom-task" {
            // Every switch a TASK_SWITCH exit, as under --virt=hw.
            #expect(c.taskSwitchEntries > 0 && rig.vmm.stats.count(of: .taskSwitch) == rig.machine.cpu.modeCounters.taskSwitches)
        } else {
            #expect(c.v86Entries > 0)
        }
    }

    /// rom-task under plain classic: the switches are right (what the tasks find in their TSSs,
    /// the busy bits, the back links), and what differs is what the guest reads through the
    /// holes ring compression leaves open — STR (0xFFF8: 1, 9, 15, 19, 20, 31, 36, 37; 22 and 23
    /// find their TSS through it), SLDT (0xFFF0: 16, 18), MOV from CS (RPL 1: 25). The task gate
    /// the guest writes into its IDT and raises before any exit (test 19) is seen: the IDT's page
    /// is traced (VMM+ClassicTracing.swift), so the run goes to the end.
    @Test func romTaskUnderClassicDiffersOnlyByItsHoles() throws {
        guard let rig = try ClassicROMRig("rom-task", bt: false) else { return }
        #expect(rig.run() == .debugExit(3), "the guest reports its failed (hole) tests with status 1")
        let lines = rig.output.split(separator: "\n").map(String.init)
        let failed = lines.filter { $0.hasPrefix("not ok ") }.compactMap { Int($0.dropFirst(7).prefix { $0 != " " }) }
        #expect(Set(failed).isSubset(of: [1, 9, 15, 16, 18, 19, 20, 22, 23, 25, 31, 36, 37]), "\(rig.output)")
        #expect(lines.contains { $0.hasPrefix("ok 40 - ") } && !rig.output.contains("Bail out"), "\(rig.output)")
        for n in [2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 17] {
            #expect(lines.contains { $0.hasPrefix("ok \(n) - ") }, "test \(n):\n\(rig.output)")
        }
        #expect(rig.vmm.stats.count(of: .taskSwitch) > 0)
    }

    /// A snapshot taken while the guest runs V86 code in the emulated mode, restored in place:
    /// the rest of the run is the same.
    @Test func snapshotInsideV86Replays() throws {
        guard let rig = try ClassicROMRig("rom-v86", bt: false) else { return }
        var n: UInt64 = 0
        while rig.vmm.classic?.emulated != .v86 || rig.machine.cpu.state.flags & EFLAGS.vm == 0 {
            n += 1  // V86 stretches are a few instructions long
            guard n < 2_000_000, rig.run(to: n) == .instructionLimit else { Issue.record("never in V86"); return }
        }
        let snapshot = MachineSnapshot.capture(machine: rig.machine, vmm: rig.vmm, previous: nil)
        let before = rig.console.count
        let first = rig.run()
        let rest = Array(rig.console[before...])
        try snapshot.restore(into: rig.machine, vmm: rig.vmm)
        #expect(rig.vmm.classic?.emulated == .v86)
        rig.console.removeSubrange(before...)
        let second = rig.run()
        #expect(first == second)
        #expect(Array(rig.console[before...]) == rest)
        #expect(rig.output == (try ClassicROMRig.expected("rom-v86")))
    }
}
