import Machine
import ShadowMMU
import Testing
import X86Core
import VMM

/// The shadow MMU against the direct MMU (the CPU walking the guest's own tables), driven by
/// generated guest programs: random page-table edits (PTEs and PDEs, 4 KiB and 4 MiB pages, a
/// self-mapping directory, tables written through data aliases), random reads, writes and
/// read-modify-writes at random addresses, INVLPG, CR3 switches between two directories, CR0.WP
/// and CR4.PGE toggles. After every step the machines must agree on everything the guest can see:
/// registers, the fault its #PF handler recorded (count, CR2, error code), the page tables with
/// their A/D bits, and the data pages. Every store is followed by a CR3 reload, so no step
/// depends on what a TLB may still hold (architecturally undefined; the shadow is always in sync). One shadow machine has a roomy pool, one a tiny pool (so
/// root eviction and resets happen).
enum Layout {
    static let gdt: UInt32 = 0x1000, idt: UInt32 = 0x2000, handler: UInt32 = 0x3000
    static let record: UInt32 = 0x4000, code: UInt32 = 0x5000, stackTop: UInt32 = 0x8000
    static let directoryA: UInt32 = 0x20_0000, directoryB: UInt32 = 0x20_1000, identityTable: UInt32 = 0x20_2000
    /// Six page tables the steps edit, for PD slots 1–3.
    static let tables: [UInt32] = (0..<6).map { 0x20_3000 + UInt32($0) * 0x1000 }
    static let dataFrames: [UInt32] = (0..<16).map { 0x30_0000 + UInt32($0) * 0x1000 }
    static let largeFrame: UInt32 = 0x40_0000
}

/// Builds the identical starting machine: flat ring 0, GDT/IDT, a #PF handler that records
/// CR2/error code and skips the 6-byte access, paging on with slot 0 identity-mapped.
func propertyMachine(mmu: MMUMode) -> (PCMachine, VMM) {
    let pool: Int
    if case .shadow(let pages) = mmu { pool = pages } else { pool = 0 }
    let m = PCMachine(memorySize: 16 << 20, privateMemory: pool * 4096)
    let mem = m.memory
    m.cpu.resetFlat(cpl: 0)
    func put64(_ a: UInt32, _ v: UInt64) { mem.write32(a, UInt32(truncatingIfNeeded: v)); mem.write32(a + 4, UInt32(v >> 32)) }
    put64(Layout.gdt + 8, 0x00CF_9A00_0000_FFFF)
    put64(Layout.gdt + 16, 0x00CF_9200_0000_FFFF)
    mem.write32(Layout.idt + 14 * 8, (0x08 << 16) | (Layout.handler & 0xFFFF))
    mem.write32(Layout.idt + 14 * 8 + 4, (Layout.handler & 0xFFFF_0000) | 0x8E00)
    let handler: [UInt8] = [
        0x50, 0x0F, 0x20, 0xD0, 0xA3, 0x04, 0x40, 0x00, 0x00, 0x8B, 0x44, 0x24, 0x04,
        0xA3, 0x08, 0x40, 0x00, 0x00, 0xFF, 0x05, 0x00, 0x40, 0x00, 0x00,
        0x83, 0x44, 0x24, 0x08, 0x06, 0x58, 0x83, 0xC4, 0x04, 0xCF,
    ]
    mem.load(bytes: handler, at: Layout.handler)
    for i in 0..<1024 { mem.write32(Layout.identityTable + UInt32(i) * 4, UInt32(i) << 12 | 0x3) }
    mem.write32(Layout.directoryA, Layout.identityTable | 0x3)
    mem.write32(Layout.directoryB, Layout.identityTable | 0x3)
    var st = m.cpu.state
    st.gdtr = TableRegister(base: Layout.gdt, limit: 23)
    st.idtr = TableRegister(base: Layout.idt, limit: 0x7FF)
    st[.esp] = Layout.stackTop
    st.cr0 = CR0.pe | CR0.et | CR0.pg | CR0.wp
    st.cr3 = Layout.directoryA
    st.pagingRoot = Layout.directoryA
    st.cr4 = CR4.pse
    m.cpu.state = st
    return (m, VMM(machine: m, mmu: mmu))
}

/// One random step as machine code (ending in `jmp $`).
func randomStep(_ r: inout SeededRandom) -> [UInt8] {
    func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    func pick<T>(_ a: [T]) -> T { a[Int(r.next() % UInt64(a.count))] }
    var code: [UInt8]
    switch r.next() % 16 {
    case 0, 1, 2:  // PTE edit (through the identity map)
        let table = pick(Layout.tables), index = UInt32(r.next() % 8)
        let frame = r.next() % 8 == 0 ? pick(Layout.tables) : pick(Layout.dataFrames)
        let flags = UInt32(r.next() % 8 == 0 ? 0 : 1) | (UInt32(truncatingIfNeeded: r.next()) & 0x66)
        code = [0xC7, 0x05] + le(table + index * 4) + le(frame | flags)
    case 3, 4:  // PDE edit: a table, a 4 MiB page, or (slot 3) the directory itself
        let directory = pick([Layout.directoryA, Layout.directoryB]), slot = UInt32(1 + r.next() % 3)
        var value: UInt32
        switch r.next() % 4 {
        case 0: value = Layout.largeFrame | 0x81 | (UInt32(truncatingIfNeeded: r.next()) & 0x66)
        case 1 where slot == 3: value = directory | 0x3
        default: value = pick(Layout.tables) | UInt32(r.next() % 6 == 0 ? 0 : 1) | (UInt32(truncatingIfNeeded: r.next()) & 0x26)
        }
        code = [0xC7, 0x05] + le(directory + slot * 4) + le(value)
    case 5, 6, 7, 8, 9, 10, 11:  // access: read, write, or read-modify-write
        let slot = UInt32(1 + r.next() % 3)
        let page = slot == 3 ? UInt32(1 + r.next() % 3) : UInt32(r.next() % 8)
        let address = slot << 22 | page << 12 | (UInt32(truncatingIfNeeded: r.next()) & 0xFFC)
        let opcode = pick([0x8B, 0x89, 0x01] as [UInt8])
        code = [0xB8] + le(UInt32(truncatingIfNeeded: r.next())) + [opcode, 0x05] + le(address)
    case 12:  // INVLPG
        let address = UInt32(1 + r.next() % 3) << 22 | UInt32(r.next() % 8) << 12
        code = [0x0F, 0x01, 0x3D] + le(address)
    case 13:  // CR3 switch or reload
        code = [0xB8] + le(pick([Layout.directoryA, Layout.directoryB])) + [0x0F, 0x22, 0xD8]
    case 14:  // toggle CR0.WP
        code = [0x0F, 0x20, 0xC0, 0x35, 0x00, 0x00, 0x01, 0x00, 0x0F, 0x22, 0xC0]
    default:  // toggle CR4.PGE
        code = [0x0F, 0x20, 0xE0, 0x35, 0x80, 0x00, 0x00, 0x00, 0x0F, 0x22, 0xE0]
    }
    // After a store (an edit, or a write that may land in a table through an alias), reload CR3:
    // until the TLB is flushed, hardware may or may not use a stale translation, and only the
    // architecturally defined outcome is compared. (No entry sets G, so the reload flushes all.)
    let stores = code.count > 2 && (code[0] == 0xC7 || code[5] == 0x89 || code[5] == 0x01)
    if stores { code += [0x0F, 0x20, 0xD8, 0x0F, 0x22, 0xD8] }
    return code + [0xEB, 0xFE]
}

/// What the guest can observe, as bytes.
func observable(_ m: PCMachine) -> [UInt8] {
    let st = m.cpu.state
    var bytes: [UInt8] = []
    for v in [st[.eax], st.eip, m.cpu.eflags, st.cr2] {
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
    }
    bytes += m.memory.bytes(at: Layout.record, count: 12)
    for page in [Layout.directoryA, Layout.directoryB] + Layout.tables + Layout.dataFrames {
        bytes += UnsafeRawBufferPointer(start: m.memory.ram + Int(page), count: 4096)
    }
    return bytes
}

/// Where two observable views first differ, in words.
func describeDifference(_ a: [UInt8], _ b: [UInt8]) -> String {
    guard let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset else { return "length" }
    func word(_ v: [UInt8], _ at: Int) -> String {
        let w = (0..<4).reduce(UInt32(0)) { $0 | UInt32(v[at + $1]) << (8 * UInt32($1)) }
        return "0x" + String(w, radix: 16)
    }
    let aligned = i & ~3
    if i < 16 { return "\(["eax", "eip", "eflags", "cr2"][i / 4]): direct \(word(a, aligned)), shadow \(word(b, aligned))" }
    if i < 28 { return "fault record +\(aligned - 16): direct \(word(a, aligned)), shadow \(word(b, aligned))" }
    let pages = [Layout.directoryA, Layout.directoryB] + Layout.tables + Layout.dataFrames
    let page = pages[(i - 28) / 4096]
    let address = page + UInt32((i - 28) % 4096) & ~3
    return "memory 0x\(String(address, radix: 16)): direct \(word(a, aligned)), shadow \(word(b, aligned))"
}

@Test func shadowAndDirectMMUsAgreeOnRandomPageTableWorkloads() {
    var r = SeededRandom(state: 2026)
    let machines = [propertyMachine(mmu: .direct), propertyMachine(mmu: .shadow(pages: 256)),
                    propertyMachine(mmu: .shadow(pages: 10))]
    var faults = 0
    for step in 0..<12_000 {
        let code = randomStep(&r)
        var views: [[UInt8]] = []
        var stops: [StopReason] = []
        for (m, vmm) in machines {
            m.memory.load(bytes: code, at: Layout.code)
            m.cpu.statePointer.pointee.eip = Layout.code
            let budget = m.cpu.state.instructions + 40
            stops.append(vmm.run(RunLimits(maxInstructions: budget)))
            views.append(observable(m))
        }
        guard stops.allSatisfy({ $0 == stops[0] }), views[1] == views[0], views[2] == views[0] else {
            let which = views[1] != views[0] ? 1 : 2
            Issue.record("step \(step): \(which == 1 ? "roomy" : "tiny") shadow differs from direct at \(describeDifference(views[0], views[which])); stops \(stops); code \(code.map { String($0, radix: 16) })")
            return
        }
        if stops[0] != .instructionLimit {
            Issue.record("step \(step): the program stopped with \(stops[0])")
            return
        }
        faults = Int(machines[0].0.memory.read32(Layout.record))
    }
    let roomyStats = machines[1].1.shadow!.stats, tinyStats = machines[2].1.shadow!.stats
    print("shadow property: 12000 steps, \(faults) faults delivered; roomy pool: \(roomyStats.hiddenFaults) hidden faults, \(roomyStats.writeProtectFaults) table writes, \(roomyStats.entriesZapped) entries zapped, \(roomyStats.floodedTables) flooded; tiny pool: \(tinyStats.resets) resets, peak \(tinyStats.peakPagesInUse) pages")
    // The workload must actually fault and evict, or it proves little.
    #expect(faults > 1000, "only \(faults) page faults delivered")
    let tiny = machines[2].1.shadow!.stats
    #expect(tiny.resets + tiny.rootCacheHits > 0)
    let roomy = machines[1].1.shadow!.stats
    #expect(roomy.writeProtectFaults > 100 && roomy.hiddenFaults > 1000 && roomy.entriesZapped > 100,
            "\(roomy)")
}

/// A guest PTE naming a frame past guest RAM (where the VMM keeps its shadow tables) reaches
/// nothing, as on a machine without memory there: reads give all ones, writes vanish, and the
/// shadow tables are untouched.
@Test func guestMappingsNeverReachTheVMMsPrivateMemory() {
    func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
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
