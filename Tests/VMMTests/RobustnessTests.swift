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
/// handlers and the devices), with the direct and the shadow MMU (random CR0/CR3/CR4 values
/// mean random page tables). Every IDT gate leads back into the random bytes, so an exception
/// does not end the run: it goes on until the budget, a triple fault or a stop. Every run must
/// end with a stop reason within its budget. (It found two ways to run unbounded: a REP string
/// instruction counted once per 64 K iterations, and an exception loop that never retires an
/// instruction; both now advance the count.)
@Test(arguments: [false, true])
func randomCodeUnderTheVMMAlwaysStopsCleanly(shadow: Bool) throws {
    var r = SeededRandom(state: shadow ? 43 : 42)
    var stops: [String: Int] = [:]
    var executed: UInt64 = 0
    for _ in 0..<1000 {
        let code = (0..<4096).map { _ in r.byte() }
        let m = try machine(code, privateMemory: shadow ? 16 * 4096 : 0)
        let mem = m.memory
        mem.write32(0x1008, 0x0000_FFFF); mem.write32(0x100C, 0x00CF_9A00)  // code, ring 0
        mem.write32(0x1010, 0x0000_FFFF); mem.write32(0x1014, 0x00CF_9200)  // data, ring 0
        for v in 0..<256 {
            let target = 0x10_0000 + UInt32(truncatingIfNeeded: r.next() & 0xFFF)
            mem.write32(0x2000 + UInt32(v) * 8, (0x08 << 16) | (target & 0xFFFF))
            mem.write32(0x2004 + UInt32(v) * 8, (target & 0xFFFF_0000) | 0x8E00)
        }
        var st = m.cpu.state
        st.gdtr = TableRegister(base: 0x1000, limit: 23)
        st.idtr = TableRegister(base: 0x2000, limit: 0x7FF)
        m.cpu.state = st
        let stop = VMM(machine: m, mmu: shadow ? .shadow(pages: 16) : .direct)
            .run(RunLimits(maxInstructions: 20_000, timeoutSeconds: 10))
        executed += m.cpu.state.instructions
        stops["\(stop)".prefix(while: { $0 != "(" }).description, default: 0] += 1
        #expect(stop != .timeout)
    }
    print("random code under the VMM (\(shadow ? "shadow" : "direct") MMU): \(executed) instructions in 1000 runs, stops: \(stops.sorted { $0.key < $1.key })")
    #expect(stops.values.reduce(0, +) == 1000)
    #expect(executed > 1_000_000, "the random runs should execute more than a few instructions each")
}
