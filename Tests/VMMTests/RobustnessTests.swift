import Machine
import Testing
import X86Core
import VMM

/// SplitMix64: a seeded generator, so a failure names a reproducible case.
struct SeededRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}

/// Garbage to every port and every APIC register: hardware behaviour, never a host crash, and
/// the machine still runs its timers afterwards.
@Test func garbageToEveryPortAndMMIORegisterIsSurvived() {
    let m = PCMachine(memorySize: 4 << 20)
    var r = SeededRandom(state: 5)
    for round in 0..<3 {
        for port in 0...0xFFFF where !(0xF4...0xF7).contains(port) && port != 0x92 && port != 0x64 {
            let size = [1, 2, 4][Int(r.next() % 3)]
            let access = PortAccess(port: UInt16(port), size: UInt8(size), isIn: round == 1, isString: false,
                                    isRep: false, value: UInt32(truncatingIfNeeded: r.next()))
            _ = m.performPortIO(access)
        }
        for base: UInt32 in [0xFEE0_0000, 0xFEC0_0000] {
            for offset in stride(from: UInt32(0), to: 0x1000, by: 4) {
                m.memory.write(base + offset, size: 4, value: UInt32(truncatingIfNeeded: r.next()))
                _ = m.memory.read(base + offset, size: 4)
            }
        }
        m.cpu.statePointer.pointee.instructions &+= 1_000_000
        if let d = m.nextDeadline() { m.clock.skipIdle(to: d) }
        m.runDueTimers()
        _ = m.interrupts.pending
        _ = m.interrupts.acknowledge()
    }
    #expect(m.stopRequest == nil || m.stopRequest == .resetRequested)
}

/// Random code under the VMM (ring 0, so every privileged and I/O instruction reaches the exit
/// handlers and the devices): every run ends with a stop reason within its budget.
@Test func randomCodeUnderTheVMMAlwaysStopsCleanly() throws {
    var r = SeededRandom(state: 42)
    var stops: [String: Int] = [:]
    for _ in 0..<300 {
        let code = (0..<4096).map { _ in r.byte() }
        let m = try machine(code)
        let stop = VMM(machine: m).run(RunLimits(maxInstructions: 20_000, timeoutSeconds: 10))
        stops["\(stop)".prefix(while: { $0 != "(" }).description, default: 0] += 1
        #expect(stop != .timeout)
    }
    #expect(stops.values.reduce(0, +) == 300)
}
