import ELF
import Foundation
import Machine
import ShadowMMU
import X86Core
import VMM

/// Runs a test guest from testguests/build on the PC machine, bare or under the VMM, the way
/// `x86v run --memory 64M` does (QEMU's expected outputs were recorded with -m 64).
struct GuestOutcome {
    var serial: [UInt8] = []
    var stop: StopReason
    var instructions: UInt64
    var exits: ExitStats?
    var trace: String?

    /// The serial output from the "x86v-guest: " marker on (what expected/*.out holds).
    var markedOutput: String? {
        let text = String(decoding: serial, as: UTF8.self)
        guard let r = text.range(of: "x86v-guest: ") else { return nil }
        return String(text[r.lowerBound...])
    }
}

/// The three configurations every guest runs in: bare, VMM with the direct MMU, VMM with the
/// shadow MMU.
enum Virt: String, CaseIterable, Sendable { case none, hwDirect = "hw-direct", hwShadow = "hw-shadow" }

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func guestPath(_ name: String) -> String {
    repositoryRoot.appendingPathComponent("testguests/build/\(name).elf").path
}

func runGuest(_ name: String, virt: Virt, maxInstructions: UInt64 = 400_000_000,
              tracePath: String? = nil, faultTracePath: String? = nil, shadowPages: Int = 512) throws -> GuestOutcome {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: guestPath(name))))
    let machine = PCMachine(memorySize: 64 << 20, privateMemory: virt == .hwShadow ? shadowPages * 4096 : 0)
    try MultibootLoader.load(try ELF32File(bytes: bytes), into: machine.cpu)
    var serial: [UInt8] = []
    machine.serialOutput = { serial.append($0) }
    let limits = RunLimits(maxInstructions: maxInstructions, timeoutSeconds: 120)
    let faults = faultTracePath.flatMap { FaultTrace(path: $0) }
    defer { faults?.close() }
    switch virt {
    case .none:
        faults?.attach(to: machine.cpu)
        let stop = HardwareRunner(machine: machine).run(limits)
        return GuestOutcome(serial: serial, stop: stop, instructions: machine.cpu.state.instructions)
    case .hwDirect, .hwShadow:
        let vmm = VMM(machine: machine, mmu: virt == .hwShadow ? .shadow(pages: shadowPages) : .direct)
        if let p = tracePath { vmm.trace = ExitTrace(path: p) }
        if virt == .hwShadow { vmm.faultTrace = faults } else { faults?.attach(to: machine.cpu) }
        let stop = vmm.run(limits)
        vmm.trace?.close()
        vmm.trace = nil
        return GuestOutcome(serial: serial, stop: stop, instructions: machine.cpu.state.instructions,
                            exits: vmm.stats, trace: tracePath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) })
    }
}

/// Every guest with an expected output file, and that output (header line dropped).
func expectedOutputs() -> [(name: String, expected: String)] {
    let dir = repositoryRoot.appendingPathComponent("testguests/expected")
    let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    // ROM guests (rom-*.out, booted with --bios) are run by `x86v test` and check-cli, not here;
    // so are guests whose spec file gives run flags (a disk, typed keys, a device: ide, kbd,
    // testdev, fwcfg), which this harness's plain machine does not have.
    let withFlags = Set(files.filter { $0.hasSuffix(".spec") }.compactMap { file -> String? in
        let text = (try? String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)) ?? ""
        let hasFlags = text.split(separator: "\n").contains { $0.hasPrefix("flags:") }
        return hasFlags ? String(file.dropLast(5)) : nil
    })
    return files.filter { $0.hasSuffix(".out") && !$0.hasPrefix("rom-") && !withFlags.contains(String($0.dropLast(4))) }
        .sorted().compactMap { file in
        guard let text = try? String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8) else { return nil }
        let body = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(file.dropLast(4)), body.count > 1 ? String(body[1]) : "")
    }
}
