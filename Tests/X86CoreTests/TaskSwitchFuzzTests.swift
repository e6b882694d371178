import Testing
import X86Core

/// Random task-switch and V86 situations: GDT entries of random system and segment types,
/// TSSs full of random state (selectors from a small set, so the checks after the commit point
/// see good and bad ones alike, EFLAGS sometimes with VM), IDT task gates, and a first
/// instruction that switches tasks (JMP/CALL far, INT n, IRET with NT, a fault through a task
/// gate). Nothing may crash, and the block engine must end in exactly the interpreter's state.
@Test func randomTaskSwitchesAgreeAcrossEngines() {
    var seed: UInt64 = 0x17
    func next() -> UInt64 {
        seed &+= 0x9E37_79B9_7F4A_7C15
        var z = seed
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    func pick<T>(_ xs: [T]) -> T { xs[Int(next() % UInt64(xs.count))] }
    let selectors: [UInt32] = [0, 0x08, 0x10, 0x13, 0x18, 0x20, 0x23, 0x28, 0x30, 0x38, 0x3B, 0x44, 0x600]
    let targets: [UInt8] = [0x20, 0x28, 0x30, 0x38, 0x40, 0x23, 0x18]
    var switched = 0, v86 = 0
    for n in 0..<3000 {
        let caseSeed = next()
        var states: [CPUState] = []
        var memories: [[UInt8]] = []
        for engine in [ExecutionEngine.interp, .blocks] {
            seed = caseSeed
            let t = TaskSystem()
            t.cpu.engine = engine
            // Random descriptors in 0x20–0x38 and 0x40 (TSS kinds, a task gate, code, data, LDT).
            for sel in stride(from: UInt32(0x20), through: 0x40, by: 8) {
                let base = 0x30000 + UInt32(next() % 8) * 0x1000
                let limit = pick([0x67, 0x2B, 0x50, 0x20FF, 0xFFFF] as [UInt32])
                let access = pick([0x89, 0x8B, 0x81, 0x83, 0x09, 0xE9, 0x9B, 0x93, 0x82] as [UInt32])
                if next() % 6 == 0 {
                    t.put(sel, (pick(selectors) << 16, 0x8500 | UInt32(next() % 4) << 13))   // task gate
                } else {
                    t.put(sel, TaskSystem.segment(base: base, limit: limit, access: access, flags: 0))
                }
            }
            t.put(0x40, TaskSystem.segment(base: 0, limit: 0xFFFFF, access: 0xFB, flags: 0xC))  // (overwritten above sometimes)
            // Random task state in the eight candidate TSS pages.
            for page in 0..<8 {
                let base = 0x30000 + UInt32(page) * 0x1000
                for off in stride(from: UInt32(0), to: 0x68, by: 4) { t.write32(base + off, UInt32(truncatingIfNeeded: next())) }
                for off in stride(from: UInt32(0x48), to: 0x64, by: 4) { t.write32(base + off, pick(selectors)) }
                for off in stride(from: UInt32(0x22), to: 0x2C, by: 2) { t.write16(base + off, pick(selectors)) }
                t.write32(base + 0x20, 0x3000 + UInt32(next() % 4))
                t.write32(base + 0x24, pick([0x2, 0x202, 0x20002, 0x23202, 0x4002, 0x102] as [UInt32]))
                t.write32(base + 0x38, 0x9000)
                t.write32(base + 0x64, UInt32(next() % 2))
            }
            for v in [UInt32(6), 13, 0x40] {
                if next() % 2 == 0 {
                    t.gate(v, selector: pick(selectors), offset: 0, type: 0x5, dpl: UInt32(next() % 4))
                } else {
                    t.gate(v, selector: 0x08, offset: 0x5000, type: 0xE, dpl: 3)
                }
            }
            let first: [UInt8] = pick([
                [0xEA, 0, 0, 0, 0, pick(targets), 0x00],                   // jmp far
                [0x9A, 0, 0, 0, 0, pick(targets), 0x00],                   // call far
                [0xCD, 0x40],                                               // int 0x40
                [0x0F, 0x0B],                                               // ud2 (#UD)
                [0x8E, 0xD8],                                               // mov ds, ax (#GP?)
                [0xCF],                                                     // iretd
            ])
            var st = t.cpu.state
            st[.eax] = pick(selectors)
            if next() % 2 == 0 { st.flags |= EFLAGS.nt }
            t.write16(TaskSystem.tssA, pick(selectors))   // back link for IRET with NT
            t.cpu.state = st
            t.code(first + [0xF4], at: 0x1000)
            t.code([0x40, 0x90, 0xCC, 0xF4, 0xFA, 0xF4, 0x9C, 0xCF], at: 0x3000)   // new tasks' code
            t.code([0xF4], at: 0x5000)
            _ = t.cpu.run(maxInstructions: 200)
            states.append(t.cpu.state)
            memories.append(t.cpu.memory.bytes(at: 0x10000, count: 0x28000))
            if t.cpu.modeCounters.taskSwitches > 0 && engine == .interp { switched += 1 }
            if t.cpu.modeCounters.v86Entries > 0 && engine == .interp { v86 += 1 }
        }
        let (a, b) = (states[0], states[1])
        let same = a.eip == b.eip && a.flags == b.flags && a.cpl == b.cpl && a.cr0 == b.cr0 && a.cr3 == b.cr3
            && (0..<8).allSatisfy { a.regs[$0] == b.regs[$0] } && (0..<6).allSatisfy { a.segments[$0] == b.segments[$0] }
            && a.tr == b.tr && a.ldtr == b.ldtr && a.instructions == b.instructions
        #expect(same, "case \(n): the engines end in different states")
        #expect(memories[0] == memories[1], "case \(n): the engines leave different memory")
        if !same || memories[0] != memories[1] { break }
    }
    // The cases must really switch tasks (and sometimes enter V86), or they test nothing.
    #expect(switched > 250 && v86 > 30, "task switches in \(switched) cases, V86 in \(v86)")
}
