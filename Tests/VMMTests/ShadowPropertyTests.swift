#if canImport(Glibc)
import Glibc
#endif
import Machine
import ShadowMMU
import Testing
import X86Core
import VMM

/// The shadow MMU against the direct MMU (the CPU walking the guest's own tables), driven by
/// generated guest programs (`ShadowWorkload`): page-table stores of every shape a kernel makes
/// (whole entries with every A/D combination, 1/2/4-byte stores inside and across entries, a
/// store across the end of a table page, read-modify-writes, REP STOSD/MOVSD, pushes, an
/// interrupt frame and SGDT/SIDT with the stack or operand in a table), PDE edits (4 KiB tables,
/// 4 MiB pages, self maps), accesses from ring 0 and ring 3 alone or in runs of neighbouring
/// pages, INVLPG, CR3 reloads and switches, CR0.WP and CR4.PGE toggles. After every step the
/// machines must agree on everything the guest can see: registers, the fault its #PF handler
/// recorded, the page tables with their A/D bits, and every page the guest can reach.
///
/// No step relies on a stale TLB entry (architecturally undefined): the workload invalidates
/// what each step's stores require, and no more, so the shadow's own updates and prefetches are
/// what later steps run on. Four shadow configurations run side by side
/// (`shadowConfigurations`): roomy and tiny pools, with and without out-of-sync tables.
enum Layout {
    static let gdt: UInt32 = 0x1000, idt: UInt32 = 0x2000, handler: UInt32 = 0x3000
    static let record: UInt32 = 0x4000, code: UInt32 = 0x5000, stackTop: UInt32 = 0x8000
    /// The 32-bit TSS: ESP0 = `stackTop` for faults and INT 0x80 from ring 3.
    static let tss: UInt32 = 0x9000
    /// INT 0x80 (a DPL-3 gate): ring 3's way back. It reloads DS/ES/FS/GS with the ring-0 data
    /// selector (IRET to ring 3 nulled them), drops the frame and ends the step (`jmp $`).
    static let ringZeroReturn: UInt32 = 0x3100
    static let ringZeroReturnCode: [UInt8] = [
        0x66, 0xB9, 0x10, 0x00, 0x8E, 0xD9, 0x8E, 0xC1, 0x8E, 0xE1, 0x8E, 0xE9, 0x83, 0xC4, 0x14, 0xEB, 0xFE,
    ]
    static let ringZeroReturnInstructions = 6
    static let ringZeroReturnEnd: UInt32 = ringZeroReturn + 15
    static let directoryA: UInt32 = 0x20_0000, directoryB: UInt32 = 0x20_1000, identityTable: UInt32 = 0x20_2000
    /// Four address spaces: more than a tiny pool holds, so switching among them recycles.
    static let directories = [directoryA, directoryB, 0x20_9000, 0x20_A000]
    /// Six page tables the steps edit, for PD slots 1–3; adjacent, so a store can cross from one
    /// into the next.
    static let tables: [UInt32] = (0..<6).map { 0x20_3000 + UInt32($0) * 0x1000 }
    static let dataFrames: [UInt32] = (0..<16).map { 0x30_0000 + UInt32($0) * 0x1000 }
    static let largeFrame: UInt32 = 0x40_0000
    /// Frames that are or can become paging structures (a PDE may point at a data frame): every
    /// store to them is checked by the workload, and their changes diffed after each step.
    static let paging = directories + tables + dataFrames
    /// Page indices of slots 1–3 the steps use: two aligned groups of 8 (prefetch works on
    /// those) and the last page (reached by a store across a table page's end).
    static let pages: [UInt32] = Array(0..<16) + [1023]
    /// What the guest can see besides registers: the paging structures, the identity table (its
    /// A/D bits), the GDT (accessed bits), the fault record, the stack, frame 0 (error codes
    /// left in tables map it) and the 4 MiB page's reachable frames.
    static let observed = paging + [identityTable, 0, gdt, record, stackTop - 0x1000]
        + pages.map { largeFrame + $0 << 12 }

    /// Frames no guest entry may map: the test's own machinery.
    static func isCritical(_ frame: UInt32) -> Bool { (0x1000...tss).contains(frame) || frame == identityTable }
}

/// Builds the identical starting machine: flat ring 0 with ring-3 segments and a TSS, a #PF
/// handler that records CR2/error code and skips the 6-byte access, INT 0x80 back from ring 3,
/// paging on with slot 0 identity-mapped (the code page user-executable).
func propertyMachine(mmu: MMUMode) -> (PCMachine, VMM) {
    let pool: Int
    if case .shadow(let pages) = mmu { pool = pages } else { pool = 0 }
    let m = PCMachine(memorySize: 16 << 20, privateMemory: pool * 4096)
    let mem = m.memory
    m.cpu.resetFlat(cpl: 0)
    func put64(_ a: UInt32, _ v: UInt64) { mem.write32(a, UInt32(truncatingIfNeeded: v)); mem.write32(a + 4, UInt32(v >> 32)) }
    put64(Layout.gdt + 8, 0x00CF_9A00_0000_FFFF)
    put64(Layout.gdt + 16, 0x00CF_9200_0000_FFFF)
    put64(Layout.gdt + 24, 0x00CF_FA00_0000_FFFF)
    put64(Layout.gdt + 32, 0x00CF_F200_0000_FFFF)
    put64(Layout.gdt + 40, 0x0000_8B00_0000_0067 | UInt64(Layout.tss) << 16)
    func gate(_ vector: UInt32, _ target: UInt32, dpl: UInt32) {
        mem.write32(Layout.idt + vector * 8, (0x08 << 16) | (target & 0xFFFF))
        mem.write32(Layout.idt + vector * 8 + 4, (target & 0xFFFF_0000) | 0x8E00 | dpl << 13)
    }
    gate(14, Layout.handler, dpl: 0)
    gate(0x80, Layout.ringZeroReturn, dpl: 3)
    let handler: [UInt8] = [
        0x50, 0x0F, 0x20, 0xD0, 0xA3, 0x04, 0x40, 0x00, 0x00, 0x8B, 0x44, 0x24, 0x04,
        0xA3, 0x08, 0x40, 0x00, 0x00, 0xFF, 0x05, 0x00, 0x40, 0x00, 0x00,
        0x83, 0x44, 0x24, 0x08, 0x06, 0x58, 0x83, 0xC4, 0x04, 0xCF,
    ]
    mem.load(bytes: handler, at: Layout.handler)
    mem.load(bytes: Layout.ringZeroReturnCode, at: Layout.ringZeroReturn)
    mem.write32(Layout.tss + 4, Layout.stackTop)
    mem.write32(Layout.tss + 8, 0x10)
    for i in 0..<1024 { mem.write32(Layout.identityTable + UInt32(i) * 4, UInt32(i) << 12 | 0x3) }
    mem.write32(Layout.identityTable + (Layout.code >> 10), Layout.code | 0x7)
    for d in Layout.directories { mem.write32(d, Layout.identityTable | 0x7) }
    var st = m.cpu.state
    st.gdtr = TableRegister(base: Layout.gdt, limit: 47)
    st.idtr = TableRegister(base: Layout.idt, limit: 0x7FF)
    st.tr = SegmentCache(selector: 0x28, base: Layout.tss, limit: 0x67, attributes: 0x8B)
    st[.esp] = Layout.stackTop
    st.cr0 = CR0.pe | CR0.et | CR0.pg | CR0.wp
    st.cr3 = Layout.directoryA
    st.pagingRoot = Layout.directoryA
    st.cr4 = CR4.pse
    m.cpu.state = st
    return (m, VMM(machine: m, mmu: mmu))
}

func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

/// The first thing the guest can see that differs between `a` (the direct MMU) and `b`, in words.
func guestVisibleDifference(_ a: (PCMachine, VMM), _ b: (PCMachine, VMM)) -> String? {
    let sa = a.0.cpu.statePointer.pointee, sb = b.0.cpu.statePointer.pointee
    let names = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
    for i in 0..<8 where sa.regs[i] != sb.regs[i] { return "\(names[i]): direct \(hex(sa.regs[i])), shadow \(hex(sb.regs[i]))" }
    let va = a.1.virtualCPU, vb = b.1.virtualCPU
    let words: [(String, UInt32, UInt32)] = [
        ("eip", sa.eip, sb.eip), ("eflags", a.0.cpu.eflags, b.0.cpu.eflags), ("cr2", sa.cr2, sb.cr2),
        ("cpl", UInt32(sa.cpl), UInt32(sb.cpl)), ("guest cr0", va.cr0, vb.cr0), ("guest cr3", va.cr3, vb.cr3),
        ("guest cr4", va.cr4, vb.cr4),
    ]
    for (name, x, y) in words where x != y { return "\(name): direct \(hex(x)), shadow \(hex(y))" }
    for i in 0..<6 where sa.segments[i].selector != sb.segments[i].selector {
        return "segment \(i): direct \(sa.segments[i].selector), shadow \(sb.segments[i].selector)"
    }
    for page in Layout.observed where memcmp(a.0.memory.ram + Int(page), b.0.memory.ram + Int(page), 4096) != 0 {
        for at in stride(from: page, to: page + 4096, by: 4) where a.0.memory.read32(at) != b.0.memory.read32(at) {
            return "memory \(hex(at)): direct \(hex(a.0.memory.read32(at))), shadow \(hex(b.0.memory.read32(at)))"
        }
    }
    return nil
}

/// Counts stores the CPU did for the shadow MMU without a mapping (`.emulateStore`) that reached
/// a tracked table: the rest of `pteWrites` went through the compare at the instruction boundary.
final class EmulatedStores { var count: UInt64 = 0 }

/// The shadow MMUs the direct one is compared with: a roomy pool and a tiny one (8 pages, less
/// than four address spaces need: roots are evicted, pages recycled, everything reset), each with
/// out-of-sync leaf tables (the default) and without (every table store then takes the
/// write-protect paths: the emulated store with its pte update, the boundary compare, flooding).
let shadowConfigurations: [(name: String, pages: Int, unsync: Bool)] = [
    ("roomy", 256, true), ("tiny", 8, true), ("roomy, protected", 256, false), ("tiny, protected", 8, false),
]

/// 4 seeds × 50,000 steps, run in parallel; two flush by CR3 reloads, which let a missed table
/// store show (mutation runs: a shadow that left a table page writable was caught only so), one
/// by exact INVLPGs as kernels do, one by either.
@Test(arguments: [(2026, .invlpg), (7, .reload), (1999, .mixed), (31337, .reload)] as [(UInt64, ShadowWorkload.FlushPolicy)])
func shadowAndDirectMMUsAgreeOnRandomPageTableWorkloads(seed: UInt64, flushes: ShadowWorkload.FlushPolicy) {
    let steps = 50_000
    let clock = ContinuousClock(), started = clock.now
    let machines = [propertyMachine(mmu: .direct)]
        + shadowConfigurations.map { propertyMachine(mmu: .shadow(pages: $0.pages)) }
    let emulated = shadowConfigurations.map { _ in EmulatedStores() }
    for (k, (m, vmm)) in machines.dropFirst().enumerated() {
        let s = vmm.shadow!, box = emulated[k]
        s.allowUnsync = shadowConfigurations[k].unsync
        m.cpu.emulatedStoreHandler = { [unowned s] physical, size in
            let before = s.stats.pteWrites
            s.emulatedStore(physical: physical, size: size)
            if s.stats.pteWrites != before { box.count += 1 }
        }
    }
    let reference = machines[0].0
    var workload = ShadowWorkload(seed: seed, flushes: flushes, reference: reference)
    let before = UnsafeMutableRawPointer.allocate(byteCount: Layout.paging.count * 4096, alignment: 64)
    defer { before.deallocate() }
    for step in 0..<steps {
        let code = workload.next()
        for (k, frame) in Layout.paging.enumerated() {
            (before + k * 4096).copyMemory(from: reference.memory.ram + Int(frame), byteCount: 4096)
        }
        var stops: [StopReason] = []
        for (m, vmm) in machines {
            m.memory.load(bytes: code.bytes, at: Layout.code)
            m.cpu.statePointer.pointee.eip = Layout.code
            stops.append(vmm.run(RunLimits(maxInstructions: m.cpu.state.instructions + code.budget)))
        }
        let what = "seed \(seed) step \(step); code \(code.bytes.map { String($0, radix: 16) })"
        for k in 1..<machines.count {
            if let difference = guestVisibleDifference(machines[0], machines[k]) {
                Issue.record("shadow (\(shadowConfigurations[k - 1].name)) differs from direct at \(difference); \(what)")
                return
            }
        }
        guard stops.allSatisfy({ $0 == .instructionLimit }) else {
            Issue.record("stopped with \(stops); \(what)")
            return
        }
        // The workload's own invariants: each step ends back in ring 0 on the handler's stack,
        // at its `jmp $`, with every paging entry safe.
        let st = reference.cpu.statePointer.pointee
        guard st.cpl == 0, st[.esp] == Layout.stackTop, st.eip == code.end else {
            Issue.record("the step ended at cpl \(st.cpl), esp \(hex(st[.esp])), eip \(hex(st.eip)); \(what)")
            return
        }
        if let problem = workload.afterStep(before: before) {
            Issue.record("\(problem); \(what)")
            return
        }
    }
    let elapsed = (clock.now - started).components
    let seconds = ((Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18) * 10).rounded() / 10
    let delivered = reference.memory.read32(Layout.record)
    let stats = machines.dropFirst().map { $0.1.shadow!.stats }
    let w = workload.counts
    var summary = "shadow property seed \(seed), \(flushes) flushes: \(steps) steps in \(seconds) s, \(delivered) faults delivered; "
        + "workload: \(w.entriesChanged) entries changed, \(w.entriesInvalidated) needing invalidation "
        + "(\(w.invlpgFlushes) INVLPG, \(w.reloadFlushes) CR3-reload flushes)"
    for (k, s) in stats.enumerated() {
        summary += "; \(shadowConfigurations[k].name): \(s.hiddenFaults) hidden, \(s.trueFaults) true faults, "
            + "\(s.pteWrites) table writes (\(emulated[k].count) emulated, \(s.pteWrites - emulated[k].count) compared), "
            + "\(s.pteUpdated) updated, \(s.prefetched) prefetched, \(s.unsynced) unsynced, \(s.entriesZapped) zapped, "
            + "\(s.floodedTables) flooded, \(s.writeProtectFaults) wp faults, \(s.pagesZapped) pages zapped, "
            + "\(s.cacheMisses) cache misses, \(s.recycled) recycled, \(s.resets) resets, \(s.rootCacheHits) root hits, "
            + "\(s.tablesShared) tables shared, "
            + "peak \(s.peakPagesInUse) pages"
    }
    print(summary)
    // Every path must actually have run, or the agreement proves little about it. (Bounds are
    // about 40% of what a 50,000-step run gives.)
    #expect(delivered > 10_000, "only \(delivered) page faults delivered")
    #expect(w.invlpgFlushes + w.reloadFlushes > 3000, "\(w)")
    for s in stats {
        #expect(s.hiddenFaults > 10_000 && s.trueFaults > 10_000 && s.prefetched > 15_000, "\(s)")
    }
    let (roomy, tiny, roomyProtected, tinyProtected) = (stats[0], stats[1], stats[2], stats[3])
    // The four directories share tables at the same slots: shadow tables shared between them.
    for s in stats { #expect(s.tablesShared > 500, "\(s)") }
    #expect(roomy.unsynced > 800 && tiny.unsynced > 800, "\(roomy)")
    // The pte-write path (emulated stores, updated entries), the boundary compare, flooding.
    #expect(emulated[2].count > 5000 && roomyProtected.pteWrites - emulated[2].count > 1300, "\(roomyProtected)")
    #expect(roomyProtected.pteUpdated > 2500 && roomyProtected.writeProtectFaults > 6000, "\(roomyProtected)")
    #expect(roomyProtected.floodedTables > 200, "\(roomyProtected)")
    // The tiny pools ran dry: pages recycled, and resets beyond those of the CR0/CR4 toggles
    // (which reset the roomy pools as often).
    #expect(tiny.recycled > 700 && tinyProtected.recycled > 600 && tinyProtected.pteUpdated > 2300, "\(tinyProtected)")
    #expect(tiny.resets > roomy.resets + 30 && tinyProtected.resets > roomyProtected.resets + 30, "\(tiny)")
}

/// A guest PTE naming a frame past guest RAM (where the VMM keeps its shadow tables) reaches
/// nothing, as on a machine without memory there: reads give all ones, writes vanish, and the
/// shadow tables are untouched.
@Test func guestMappingsNeverReachTheVMMsPrivateMemory() {
    let beyondRAM: UInt32 = 16 << 20  // the first frame after guest RAM: the shadow pool
    let steps: [[UInt8]] = [
        [0xC7, 0x05] + le(Layout.tables[0]) + le(beyondRAM | 0x3),        // PTE 0 → the pool
        [0xC7, 0x05] + le(Layout.directoryA + 4) + le(Layout.tables[0] | 0x3),  // slot 1 → that table
        [0x0F, 0x20, 0xD8, 0x0F, 0x22, 0xD8],                                // reload CR3
        [0xB8] + le(0xDEAD_BEEF) + [0x89, 0x05] + le(1 << 22),               // write through it
        [0x8B, 0x05] + le(1 << 22),                                          // read it back
    ]
    let machines = [propertyMachine(mmu: .direct), propertyMachine(mmu: .shadow(pages: 64))]
    for code in steps {
        for (m, vmm) in machines {
            m.memory.load(bytes: code + [0xEB, 0xFE], at: Layout.code)
            m.cpu.statePointer.pointee.eip = Layout.code
            #expect(vmm.run(RunLimits(maxInstructions: m.cpu.state.instructions + 20)) == .instructionLimit)
        }
    }
    for (m, _) in machines { #expect(m.cpu.state[.eax] == 0xFFFF_FFFF) }
    let (shadowMachine, vmm) = machines[1]
    #expect(shadowMachine.memory.read32(beyondRAM) != 0xDEAD_BEEF, "the guest wrote into the shadow pool")
    #expect(vmm.shadow!.stats.hiddenFaults > 0)
}
