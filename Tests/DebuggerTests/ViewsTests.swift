import Debugger
import Foundation
import Machine
import VMM
import X86Core
import XCTest

/// The page-table and descriptor views on small machines built by hand: tables written with
/// `memory.write32`, CPU state set directly, and for the shadow cases a short flat program run
/// under `VMM(mmu: .shadow)` so the shadow holds entries of every kind the views explain.
final class ViewsTests: XCTestCase {
    // Guest layout (4 MiB of RAM; the shadow pool follows at 0x400000).
    static let pd: UInt32 = 0x10000, pt0: UInt32 = 0x11000, code: UInt32 = 0x5000

    /// A flat ring-0 machine with paging on and CR0.WP = 0. PD slot 0 → PT0 (identity, supervisor
    /// read/write, except the pages below), slot 1 → a 4 MiB page (A and D set) at physical 0,
    /// slot 2 → the same 4 MiB page with D clear.
    ///
    ///     0x00011000  PT0 itself, D set            0x00100000  read by the program (D clear)
    ///     0x00101000  written by the program       0x00102000  never touched
    ///     0x00103000  not present                  0x00104000  frame 0x500000 (beyond RAM)
    ///     0x00105000  read-only user page, written by ring 0 (allowed: CR0.WP = 0)
    static func pagedMachine(pool: Int) -> PCMachine {
        let m = PCMachine(memorySize: 4 << 20, privateMemory: pool * 4096)
        let mem = m.memory
        m.cpu.resetFlat(cpl: 0)
        mem.write32(pd, pt0 | 0x07)
        mem.write32(pd + 4, 0x0000_00E3)
        mem.write32(pd + 8, 0x0000_0083)
        for i in UInt32(0)..<1024 { mem.write32(pt0 + i * 4, i << 12 | 0x03) }
        mem.write32(pt0 + 0x11 * 4, pt0 | 0x63)
        mem.write32(pt0 + 0x103 * 4, 0)
        mem.write32(pt0 + 0x104 * 4, 0x0050_0003)
        mem.write32(pt0 + 0x105 * 4, 0x0010_5005)
        var st = m.cpu.state
        st.cr0 = CR0.pe | CR0.et | CR0.pg
        st.cr3 = pd
        st.pagingRoot = pd
        st.cr4 = CR4.pse
        st.eip = code
        m.cpu.state = st
        return m
    }

    /// mov eax,[0x100000] / mov [0x101000],eax / mov eax,[0x11000] / mov eax,[0x104000] /
    /// mov [0x105000],eax / mov eax,[0x401000] / mov eax,[0x10000] / mov eax,[0x802000] /
    /// mov [0x803000],eax / hlt
    static let program: [UInt8] = [
        0xA1, 0x00, 0x00, 0x10, 0x00, 0xA3, 0x00, 0x10, 0x10, 0x00, 0xA1, 0x00, 0x10, 0x01, 0x00,
        0xA1, 0x00, 0x40, 0x10, 0x00, 0xA3, 0x00, 0x50, 0x10, 0x00, 0xA1, 0x00, 0x10, 0x40, 0x00,
        0xA1, 0x00, 0x00, 0x01, 0x00, 0xA1, 0x00, 0x20, 0x80, 0x00, 0xA3, 0x00, 0x30, 0x80, 0x00, 0xF4,
    ]

    static func shadowMachine() -> (PCMachine, VMM) {
        let m = pagedMachine(pool: 64)
        m.memory.load(bytes: program, at: code)
        let vmm = VMM(machine: m, mmu: .shadow(pages: 64))
        let stop = vmm.run(RunLimits(maxInstructions: 1000))
        XCTAssertEqual(stop, .haltedWithInterruptsOff)
        return (m, vmm)
    }

    /// Paging off, flat ring 0, a GDT/IDT/TSS/LDT written by hand and the segment caches set to
    /// what loading those selectors would give.
    static func descriptorMachine() -> PCMachine {
        let m = PCMachine(memorySize: 4 << 20)
        let mem = m.memory
        m.cpu.resetFlat(cpl: 0)
        func put64(_ a: UInt32, _ v: UInt64) { mem.write32(a, UInt32(truncatingIfNeeded: v)); mem.write32(a + 4, UInt32(v >> 32)) }
        let gdt: UInt32 = 0x1000, idt: UInt32 = 0x2000, tss: UInt32 = 0x3000, ldt: UInt32 = 0x3800
        put64(gdt + 1 * 8, 0x00CF_9A00_0000_FFFF)   // ring-0 code
        put64(gdt + 2 * 8, 0x00CF_9300_0000_FFFF)   // ring-0 data, accessed
        put64(gdt + 3 * 8, 0x00CF_FA00_0000_FFFF)   // ring-3 code
        put64(gdt + 4 * 8, 0x0000_F600_0000_0FFF)   // ring-3 16-bit expand-down data
        put64(gdt + 5 * 8, 0x0000_8B00_3000_0067)   // busy 32-bit TSS at 0x3000
        put64(gdt + 6 * 8, 0x0000_8200_3800_0017)   // LDT at 0x3800, 3 entries
        put64(gdt + 7 * 8, 0x0012_EC02_0008_3456)   // 32-bit call gate, DPL 3, 2 parameters
        put64(gdt + 10 * 8, 0x0040_9F12_3456_FFFF)  // 32-bit conforming code, base 0x123456, limit 0xFFFF bytes
        put64(idt + 0 * 8, 0x0000_8E00_0008_1100)   // #DE: interrupt gate 0x08:0x1100
        put64(idt + 3 * 8, 0x0000_EF00_0008_1200)   // #BP: trap gate, DPL 3
        put64(idt + 8 * 8, 0x0000_8500_0028_0000)   // #DF: task gate → TSS 0x28
        put64(idt + 14 * 8, 0x0020_8E00_0008_3000)  // #PF: interrupt gate 0x08:0x203000
        put64(idt + 32 * 8, 0x0000_8600_0008_1234)  // 16-bit interrupt gate
        put64(idt + 33 * 8, 0x0000_0E00_0008_1300)  // not present
        let tssWords: [(UInt32, UInt32)] = [(0x04, 0x9000), (0x08, 0x10), (0x1C, 0x10000), (0x20, 0x5000), (0x24, 0x202),
                                            (0x28, 0xA), (0x2C, 0xC), (0x30, 0xD), (0x34, 0xB), (0x38, 0x8FF0), (0x3C, 0x8FF8),
                                            (0x40, 0x51), (0x44, 0xD1), (0x48, 0x10), (0x4C, 0x08), (0x50, 0x10), (0x54, 0x10),
                                            (0x60, 0x30), (0x64, 0x0068_0000)]
        for (o, v) in tssWords { mem.write32(tss + o, v) }
        put64(ldt + 0 * 8, 0x00CF_F300_0000_FFFF)  // ring-3 data
        put64(ldt + 2 * 8, 0x00CF_FB00_0000_FFFF)  // ring-3 code, accessed
        var st = m.cpu.state
        st.gdtr = TableRegister(base: gdt, limit: 11 * 8 - 1)
        st.idtr = TableRegister(base: idt, limit: 0x7FF)
        st[.fs] = SegmentCache(selector: 0x23, base: 0, limit: 0xFFF, attributes: 0xF6)
        st[.gs] = SegmentCache(selector: 0x07, base: 0, limit: 0xFFFF_FFFF, attributes: 0xC0F3)
        st.tr = SegmentCache(selector: 0x28, base: tss, limit: 0x67, attributes: 0x8B)
        st.ldtr = SegmentCache(selector: 0x30, base: ldt, limit: 0x17, attributes: 0x82)
        m.cpu.state = st
        return m
    }

    /// The lines from the verdict on ("agree: …" or "differ: …").
    static func verdict(_ text: String) -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let i = lines.firstIndex(where: { $0.hasPrefix("agree") || $0.hasPrefix("differ") }) else { return lines }
        return Array(lines[i...])
    }

    // MARK: walk

    func testWalkShowsBothTreesAndWhyTheShadowIsReadOnly() {
        let (m, vmm) = Self.shadowMachine()
        XCTAssertEqual(PageTableView.walk(machine: m, vmm: vmm, linear: 0x10_0000), """
            linear 0x00100000: PD slot 0, PT slot 256, offset 0x000
            guest   paging on: CR3 0x00010000  WP 0  PSE 1  PGE 0
            shadow  root 0x00400000 (VMM private memory; the shadow of guest CR3 0x00010000)
            PDE  guest   @0x00010000 = 0x00011027  P RW US --- --- A - -- -   → PT 0x00011000
                 shadow  @0x00400000 = 0x00401027  P RW US --- --- A - -- -   → shadow PT 0x00401000
            PTE  guest   @0x00011400 = 0x00100023  P RW -- --- --- A - --- -  → frame 0x00100000
                 shadow  @0x00401400 = 0x00100021  P -- -- --- --- A - --- -  → frame 0x00100000
            differ: guest maps 0x00100000 rw- super, shadow 0x00100000 r-- super
              - shadow read-only: the guest D bit is clear, the first write will set it
            """)
        XCTAssertEqual(PageTableView.walk(machine: m, vmm: vmm, linear: 0x40_1000), """
            linear 0x00401000: PD slot 1, PT slot 1, offset 0x000
            guest   paging on: CR3 0x00010000  WP 0  PSE 1  PGE 0
            shadow  root 0x00400000 (VMM private memory; the shadow of guest CR3 0x00010000)
            PDE  guest   @0x00010004 = 0x000000e3  P RW -- --- --- A D PS -   → 4 MiB page 0x00000000
                 shadow  @0x00400004 = 0x00402027  P RW US --- --- A - -- -   → shadow PT 0x00402000
            PTE  guest   none: the 4 MiB PDE is the leaf
                 shadow  @0x00402004 = 0x00001063  P RW -- --- --- A D --- -  → frame 0x00001000
            agree: both map 0x00001000 rw- super
              - guest 4 MiB page shown as a 4 KiB shadow PTE (the real CR4.PSE is off; each 4 KiB piece is filled on first use)
            """)
    }

    func testWalkNamesEveryShadowRule() {
        let (m, vmm) = Self.shadowMachine()
        func why(_ a: UInt32) -> [String] { Self.verdict(PageTableView.walk(machine: m, vmm: vmm, linear: a)) }
        XCTAssertEqual(why(0x10_1234), ["agree: both map 0x00101234 rw- super"])
        XCTAssertEqual(why(0x10_2000), [
            "differ: guest maps 0x00102000 rw- super, the shadow has no entry yet",
            "  - not yet shadowed: the first access will take a hidden fault and fill it",
        ])
        XCTAssertEqual(why(0x10_3000), ["agree: not mapped in either: an access is a true fault, the VMM gives the guest its #PF"])
        XCTAssertEqual(why(0xC0_0000), ["agree: not mapped in either: an access is a true fault, the VMM gives the guest its #PF"])
        // One D bit for 1024 shadow PTEs: the piece read before the write elsewhere set it stays read-only.
        XCTAssertEqual(why(0x80_2000), [
            "differ: guest maps 0x00002000 rw- super, shadow 0x00002000 r-- super",
            "  - shadow read-only: this 4 KiB piece was filled while the 4 MiB page's D bit was clear (a write to another piece has set it since) or while guest frame 0x00002000 was a page table; the first write takes a hidden fault and makes it writable",
            "  - guest 4 MiB page shown as a 4 KiB shadow PTE (the real CR4.PSE is off; each 4 KiB piece is filled on first use)",
        ])
        XCTAssertEqual(why(0x80_3000), [
            "agree: both map 0x00003000 rw- super",
            "  - guest 4 MiB page shown as a 4 KiB shadow PTE (the real CR4.PSE is off; each 4 KiB piece is filled on first use)",
        ])
        XCTAssertEqual(why(0x1_1000), [
            "differ: guest maps 0x00011000 rw- super, shadow 0x00011000 r-- super",
            "  - shadow read-only: guest frame 0x00011000 holds a page table the VMM write-protects (the page table of PD slot 0, 0x00000000-0x003fffff; the VMM does a guest store to it and updates the shadow entries built from what changed, or, for a leaf table, lets the table go out of sync at its first write)",
        ])
        XCTAssertEqual(why(0x1_0000), [
            "differ: guest maps 0x00010000 rw- super, shadow 0x00010000 r-- super",
            "  - shadow read-only: the guest D bit is clear, the first write will set it",
            "  - shadow read-only: guest frame 0x00010000 holds a page table the VMM write-protects (the guest's page directory; the VMM does a guest store to it and updates the shadow entries built from what changed, or, for a leaf table, lets the table go out of sync at its first write)",
        ])
        XCTAssertEqual(why(0x10_4000), [
            "differ: guest maps 0x00500000 rw- super, shadow hole r-- super",
            "  - shadow read-only: the guest D bit is clear, the first write will set it",
            "  - frame beyond guest RAM: the shadow maps guest frame 0x00500000 to the hole frame 0xfffff000 (reads give all ones, writes vanish)",
        ])
        XCTAssertEqual(why(0x10_5000), [
            "differ: guest maps 0x00105000 r-- user, shadow 0x00105000 rw- super",
            "  - shadow supervisor-writable: guest CR0.WP=0 lets ring 0 write a read-only page (user code is kept out: a user access takes a hidden fault and refills it read-only)",
        ])
        // A PTE changed behind the VMM's back (as a debugger write would): the shadow is stale.
        m.memory.write32(Self.pt0 + 0x101 * 4, 0x0010_6063)
        XCTAssertEqual(why(0x10_1000), [
            "differ: guest maps 0x00106000 rw- super, shadow 0x00101000 rw- super",
            "  - shadow stale: it maps frame 0x00101000, the guest's entry now gives 0x00106000 (a guest write to a tracked table is synced at the next instruction boundary; a write the VMM never saw, such as the debugger's, stays until INVLPG or a shadow reset)",
        ])
    }

    /// The views read and never write: no A/D bit, no shadow fill, no statistics change.
    func testViewsHaveNoSideEffects() {
        let (m, vmm) = Self.shadowMachine()
        let before = (0..<UInt32(0x44_0000 / 4)).map { m.memory.read32($0 * 4) }
        let stats = vmm.shadow!.stats
        for a: UInt32 in [0x10_2000, 0x10_3000, 0x40_2000, 0x80_0000] { _ = PageTableView.walk(machine: m, vmm: vmm, linear: a) }
        _ = PageTableView.ranges(machine: m, vmm: vmm, shadow: false)
        _ = PageTableView.ranges(machine: m, vmm: vmm, shadow: true)
        _ = PageTableView.dot(machine: m, vmm: vmm)
        _ = DescriptorView.gdt(machine: m, vmm: vmm)
        _ = DescriptorView.tss(machine: m, vmm: vmm)
        XCTAssertEqual((0..<UInt32(0x44_0000 / 4)).map { m.memory.read32($0 * 4) }, before)
        XCTAssertEqual(vmm.shadow!.stats.hiddenFaults, stats.hiddenFaults)
        XCTAssertEqual(vmm.shadow!.stats.entriesCreated, stats.entriesCreated)
    }

    func testWalkWithGuestPagingOffExplainsTheIdentityRoot() {
        let m = PCMachine(memorySize: 4 << 20, privateMemory: 16 * 4096)
        m.cpu.resetFlat(cpl: 0)
        m.cpu.statePointer.pointee.eip = Self.code
        // mov eax,[0x100000] / mov eax,[0x500000] / hlt
        m.memory.load(bytes: [0xA1, 0x00, 0x00, 0x10, 0x00, 0xA1, 0x00, 0x00, 0x50, 0x00, 0xF4], at: Self.code)
        let vmm = VMM(machine: m, mmu: .shadow(pages: 16))
        XCTAssertEqual(vmm.run(RunLimits(maxInstructions: 100)), .haltedWithInterruptsOff)
        XCTAssertEqual(PageTableView.walk(machine: m, vmm: vmm, linear: 0x50_0000), """
            linear 0x00500000: PD slot 1, PT slot 256, offset 0x000
            guest   paging off: linear = guest-physical
            shadow  root 0x00400000 (VMM private memory; the identity root: guest paging off)
            PDE  guest   none: paging off
                 shadow  @0x00400004 = 0x00402027  P RW US --- --- A - -- -   → shadow PT 0x00402000
            PTE  shadow  @0x00402400 = 0xfffff067  P RW US --- --- A D --- -  → hole frame 0xfffff000
            agree: linear = guest-physical 0x00500000, shadow hole rw- user
              - guest paging off: the identity shadow maps it 1:1
              - frame beyond guest RAM: the shadow maps guest frame 0x00500000 to the hole frame 0xfffff000 (reads give all ones, writes vanish)
            """)
        XCTAssertEqual(Self.verdict(PageTableView.walk(machine: m, vmm: vmm, linear: 0x10_0000)), [
            "agree: linear = guest-physical 0x00100000, shadow 0x00100000 rw- user",
            "  - guest paging off: the identity shadow maps it 1:1",
        ])
        XCTAssertEqual(Self.verdict(PageTableView.walk(machine: m, vmm: vmm, linear: 0x10_2000)), [
            "differ: linear = guest-physical 0x00102000, the shadow has no entry yet",
            "  - not yet shadowed: the first access will take a hidden fault and fill it 1:1 (guest paging off: the identity root)",
        ])
        XCTAssertEqual(PageTableView.ranges(machine: m, vmm: vmm, shadow: false), "paging off: linear = physical")
        XCTAssertEqual(PageTableView.ranges(machine: m, vmm: vmm, shadow: true), """
            0x00005000-0x00005fff → 0x00005000-0x00005fff  rw- user  4K
            0x00100000-0x00100fff → 0x00100000-0x00100fff  rw- user  4K
            0x00500000-0x00500fff → hole                   rw- user  4K
            """)
        try? Self.checkDotRenders(PageTableView.dot(machine: m, vmm: vmm))
    }

    func testWalkWithoutAShadowShowsTheHardwaresOwnWalk() {
        let bare = Self.pagedMachine(pool: 0)
        XCTAssertEqual(PageTableView.walk(machine: bare, vmm: nil, linear: 0x40_1234), """
            linear 0x00401234: PD slot 1, PT slot 1, offset 0x234
            guest   paging on: CR3 0x00010000  WP 0  PSE 1  PGE 0
            real    no shadow (--virt=none): the hardware walks the guest's tables directly
            PDE  guest   @0x00010004 = 0x000000e3  P RW -- --- --- A D PS -   → 4 MiB page 0x00000000
            PTE  guest   none: the 4 MiB PDE is the leaf
            result: 0x00001234 rw- super (the hardware's own walk)
            """)
        XCTAssertEqual(PageTableView.walk(machine: bare, vmm: nil, linear: 0x10_3000), """
            linear 0x00103000: PD slot 0, PT slot 259, offset 0x000
            guest   paging on: CR3 0x00010000  WP 0  PSE 1  PGE 0
            real    no shadow (--virt=none): the hardware walks the guest's tables directly
            PDE  guest   @0x00010000 = 0x00011007  P RW US --- --- - - -- -   → PT 0x00011000
            PTE  guest   @0x0001140c = 0x00000000  - -- -- --- --- - - --- -  → not present
            result: not mapped: an access raises #PF
            """)
        let m = Self.pagedMachine(pool: 0)
        let direct = VMM(machine: m)
        XCTAssertEqual(PageTableView.walk(machine: m, vmm: direct, linear: 0x10_1000), """
            linear 0x00101000: PD slot 0, PT slot 257, offset 0x000
            guest   paging on: CR3 0x00010000  WP 0  PSE 1  PGE 0
            real    no shadow (--mmu=direct): the hardware walks the guest's tables directly
            PDE  guest   @0x00010000 = 0x00011007  P RW US --- --- - - -- -   → PT 0x00011000
            PTE  guest   @0x00011404 = 0x00101003  P RW -- --- --- - - --- -  → frame 0x00101000
            result: 0x00101000 rw- super (the hardware's own walk)
            """)
        XCTAssertEqual(PageTableView.ranges(machine: m, vmm: direct, shadow: true),
                       "no shadow tables (--mmu=direct): the CPU walks the guest's tables")
        let off = PCMachine(memorySize: 1 << 20)
        off.cpu.resetFlat(cpl: 0)
        XCTAssertEqual(PageTableView.walk(machine: off, vmm: nil, linear: 0x1234), """
            linear 0x00001234: PD slot 0, PT slot 1, offset 0x234
            guest   paging off: linear = guest-physical
            real    no shadow (--virt=none): the hardware walks the guest's tables directly
            result: 0x00001234 (no paging)
            """)
    }

    // MARK: ranges

    func testRangesMergeRunsWithEqualRights() {
        let (m, vmm) = Self.shadowMachine()
        XCTAssertEqual(PageTableView.ranges(machine: m, vmm: vmm, shadow: false), """
            0x00000000-0x00102fff → 0x00000000-0x00102fff  rw- super 4K
            0x00104000-0x00104fff → 0x00500000-0x00500fff  rw- super 4K
            0x00105000-0x00105fff → 0x00105000-0x00105fff  r-- user  4K
            0x00106000-0x003fffff → 0x00106000-0x003fffff  rw- super 4K
            0x00400000-0x007fffff → 0x00000000-0x003fffff  rw- super 4M
            0x00800000-0x00bfffff → 0x00000000-0x003fffff  rw- super 4M
            """)
        XCTAssertEqual(PageTableView.ranges(machine: m, vmm: vmm, shadow: true), """
            0x00005000-0x00005fff → 0x00005000-0x00005fff  r-- super 4K
            0x00010000-0x00011fff → 0x00010000-0x00011fff  r-- super 4K
            0x00100000-0x00100fff → 0x00100000-0x00100fff  r-- super 4K
            0x00101000-0x00101fff → 0x00101000-0x00101fff  rw- super 4K
            0x00104000-0x00104fff → hole                   r-- super 4K
            0x00105000-0x00105fff → 0x00105000-0x00105fff  rw- super 4K
            0x00401000-0x00401fff → 0x00001000-0x00001fff  rw- super 4K
            0x00802000-0x00802fff → 0x00002000-0x00002fff  r-- super 4K
            0x00803000-0x00803fff → 0x00003000-0x00003fff  rw- super 4K
            """)
        // Global user pages merge separately from the rest, and a run is cut where the frames jump.
        let g = Self.pagedMachine(pool: 0)
        g.cpu.statePointer.pointee.cr4 |= CR4.pge
        g.memory.write32(Self.pd + 4, 0)
        g.memory.write32(Self.pd + 8, 0)
        for i in UInt32(0)..<4 { g.memory.write32(Self.pt0 + (0x200 + i) * 4, (0x300 + i) << 12 | 0x107) }
        g.memory.write32(Self.pt0 + 0x204 * 4, 0x0020_0107)
        XCTAssertEqual(PageTableView.ranges(machine: g, vmm: nil, shadow: false), """
            0x00000000-0x00102fff → 0x00000000-0x00102fff  rw- super 4K
            0x00104000-0x00104fff → 0x00500000-0x00500fff  rw- super 4K
            0x00105000-0x00105fff → 0x00105000-0x00105fff  r-- user  4K
            0x00106000-0x001fffff → 0x00106000-0x001fffff  rw- super 4K
            0x00200000-0x00203fff → 0x00300000-0x00303fff  rwg user  4K
            0x00204000-0x00204fff → 0x00200000-0x00200fff  rwg user  4K
            0x00205000-0x003fffff → 0x00205000-0x003fffff  rw- super 4K
            """)
        XCTAssertEqual(PageTableView.ranges(machine: g, vmm: nil, shadow: true),
                       "no shadow tables (--virt=none): the CPU walks the guest's tables")
    }

    // MARK: dot

    /// Runs `dot -Tsvg` on the text; skips when Graphviz is not installed.
    static func checkDotRenders(_ text: String) throws {
        let candidates = ["/usr/bin/dot", "/usr/local/bin/dot", "/opt/homebrew/bin/dot"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("graphviz `dot` is not installed")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["-Tsvg"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = errors
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let svg = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: err, as: UTF8.self))
        XCTAssertTrue(String(decoding: svg, as: UTF8.self).contains("<svg"))
    }

    func testDotDrawsBothTreesAndRendersWithGraphviz() throws {
        let (m, vmm) = Self.shadowMachine()
        let text = PageTableView.dot(machine: m, vmm: vmm)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for expected in [
            "subgraph cluster_guest {",
            "subgraph cluster_shadow {",
            #"g_pt_0_r0 [shape=note, label="PTE 0-258\n0x00000000-0x00102fff\n-> 0x00000000-0x00102fff\nrw- super"];"#,
            #"g_big_1 [shape=note, label="PDE 1: 4 MiB page\n0x00400000-0x007fffff\n-> 0x00000000-0x003fffff\nrw- super"];"#,
            #"s_root [label="shadow root 0x00400000\nfor guest CR3 0x00010000"];"#,
            #"s_pt_0_r4 [shape=note, label="PTE 260\n0x00104000-0x00104fff\n-> hole\nr-- super"];"#,
            #"s_root -> g_root [style=dashed, color=gray40, constraint=false, label="shadows"];"#,
            #"s_pt_0 -> g_pt_0 [style=dashed, color=gray40, constraint=false, label="shadows"];"#,
            #"s_pt_1 -> g_big_1 [style=dashed, color=gray40, constraint=false, label="splits"];"#,
            #"s_pt_2 -> g_big_2 [style=dashed, color=gray40, constraint=false, label="splits"];"#,
        ] {
            XCTAssertTrue(lines.contains(expected), "missing: \(expected)\n\(text)")
        }
        XCTAssertEqual(lines.first, "digraph pagetables {")
        XCTAssertEqual(lines.last, "}")
        try Self.checkDotRenders(text)
        try Self.checkDotRenders(PageTableView.dot(machine: Self.pagedMachine(pool: 0), vmm: nil))
    }

    /// A page table with more runs than the picture shows: the rest is one summary node (44
    /// runs: 0-258, 260, 261, 262-511, the 39 odd PTEs 513…589, 591-1023; 16 drawn).
    func testDotCutsLongListsOfRuns() throws {
        let m = Self.pagedMachine(pool: 0)
        for i in UInt32(0)..<40 { m.memory.write32(Self.pt0 + (0x200 + 2 * i) * 4, 0) }
        let text = PageTableView.dot(machine: m, vmm: nil)
        XCTAssertTrue(text.contains(#"g_pt_0_more [shape=plaintext, label="... 28 more runs (460 pages)"];"#), text)
        try Self.checkDotRenders(text)
    }

    // MARK: Descriptor tables

    func testGDTOneEntryPerLine() {
        let d = Self.descriptorMachine()
        XCTAssertEqual(DescriptorView.gdt(machine: d, vmm: nil), """
            GDT base 0x00001000 limit 0x0057 (11 entries)
                 0  0x0000  null descriptor
                 1  0x0008  32-bit code execute/read                        base 0x00000000  limit 0xffffffff  DPL 0  P 1  D/B 1  G 1  ← CS
                 2  0x0010  32-bit data read/write, accessed                base 0x00000000  limit 0xffffffff  DPL 0  P 1  D/B 1  G 1  ← ES SS DS
                 3  0x0018  32-bit code execute/read                        base 0x00000000  limit 0xffffffff  DPL 3  P 1  D/B 1  G 1
                 4  0x0020  16-bit data read/write, expand-down             base 0x00000000  limit 0x00000fff  DPL 3  P 1  D/B 0  G 0  ← FS
                 5  0x0028  32-bit TSS (busy)                               base 0x00003000  limit 0x00000067  DPL 0  P 1  D/B 0  G 0  ← TR
                 6  0x0030  LDT                                             base 0x00003800  limit 0x00000017  DPL 0  P 1  D/B 0  G 0  ← LDTR
                 7  0x0038  32-bit call gate                                0x0008:0x00123456  DPL 3  P 1  params 2
                 8  0x0040  zero (entries 8-9)
                10  0x0050  32-bit code execute/read, conforming, accessed  base 0x00123456  limit 0x0000ffff  DPL 0  P 1  D/B 1  G 0
            """)
    }

    func testIDTAndLDT() {
        let d = Self.descriptorMachine()
        XCTAssertEqual(DescriptorView.idt(machine: d, vmm: nil), """
            IDT base 0x00002000 limit 0x07ff (256 entries)
                0 #DE  32-bit interrupt gate  0x0008:0x00001100  DPL 0  P 1
                1      zero (vectors 1-2)
                3 #BP  32-bit trap gate       0x0008:0x00001200  DPL 3  P 1
                4      zero (vectors 4-7)
                8 #DF  task gate              TSS 0x0028  DPL 0  P 1
                9      zero (vectors 9-13)
               14 #PF  32-bit interrupt gate  0x0008:0x00203000  DPL 0  P 1
               15      zero (vectors 15-31)
               32      16-bit interrupt gate  0x0008:0x1234  DPL 0  P 1
               33      32-bit interrupt gate  0x0008:0x00001300  DPL 0  P 0
               34      zero (vectors 34-255)
            """)
        XCTAssertEqual(DescriptorView.ldt(machine: d, vmm: nil), """
            LDT 0x0030 base 0x00003800 limit 0x0017 (3 entries)
                 0  0x0004  32-bit data read/write, accessed                base 0x00000000  limit 0xffffffff  DPL 3  P 1  D/B 1  G 1  ← GS
                 1  0x000c  zero
                 2  0x0014  32-bit code execute/read, accessed              base 0x00000000  limit 0xffffffff  DPL 3  P 1  D/B 1  G 1
            """)
        // Real mode: the interrupt vector table.
        let r = PCMachine(memorySize: 1 << 20)
        r.memory.write32(0x20, 0xF000_FEA5)
        r.cpu.statePointer.pointee.idtr = TableRegister(base: 0, limit: 0x27)
        XCTAssertEqual(DescriptorView.idt(machine: r, vmm: nil), """
            IVT (real mode) base 0x00000000 limit 0x0027 (10 entries)
                0      zero (vectors 0-7)
                8 #DF  0xf000:0xfea5
                9      zero
            """)
    }

    func testTSSAndSegmentCaches() {
        let d = Self.descriptorMachine()
        XCTAssertEqual(DescriptorView.tss(machine: d, vmm: nil), """
            TSS TR 0x0028  base 0x00003000  limit 0x00000067  32-bit TSS (busy)
              link 0x0000
              ESP0 0x00009000  SS0 0x0010   ESP1 0x00000000  SS1 0x0000   ESP2 0x00000000  SS2 0x0000
              CR3 0x00010000  EIP 0x00005000  EFLAGS 0x00000202
              EAX 0x0000000a  ECX 0x0000000c  EDX 0x0000000d  EBX 0x0000000b
              ESP 0x00008ff0  EBP 0x00008ff8  ESI 0x00000051  EDI 0x000000d1
              ES 0x0010  CS 0x0008  SS 0x0010  DS 0x0010  FS 0x0000  GS 0x0000
              LDT 0x0030  T 0  I/O map base 0x0068 (no I/O bitmap: beyond the limit)
            """)
        XCTAssertEqual(DescriptorView.segments(cpu: d.cpu), """
            ES    0x0010  base 0x00000000  limit 0xffffffff  DPL 0  32-bit data read/write, accessed
            CS    0x0008  base 0x00000000  limit 0xffffffff  DPL 0  32-bit code execute/read, accessed
            SS    0x0010  base 0x00000000  limit 0xffffffff  DPL 0  32-bit data read/write, accessed
            DS    0x0010  base 0x00000000  limit 0xffffffff  DPL 0  32-bit data read/write, accessed
            FS    0x0023  base 0x00000000  limit 0x00000fff  DPL 3  16-bit data read/write, expand-down
            GS    0x0007  base 0x00000000  limit 0xffffffff  DPL 3  32-bit data read/write, accessed
            LDTR  0x0030  base 0x00003800  limit 0x00000017  DPL 0  LDT
            TR    0x0028  base 0x00003000  limit 0x00000067  DPL 0  32-bit TSS (busy)
            """)
        var st = d.cpu.state
        st[.gs] = SegmentCache()
        st.ldtr = SegmentCache()
        d.cpu.state = st
        let lines = DescriptorView.segments(cpu: d.cpu).split(separator: "\n")
        XCTAssertEqual(lines[5], "GS    0x0000  null (unusable)")
        XCTAssertEqual(lines[6], "LDTR  0x0000  null (unusable)")
    }

    /// Empty, absent and unmapped tables are one line each.
    func testEmptyAndUnreadableTables() {
        let m = Self.pagedMachine(pool: 0)
        m.cpu.statePointer.pointee.gdtr = TableRegister(base: 0xC0_0000, limit: 0x17)
        m.cpu.statePointer.pointee.tr = SegmentCache(selector: 0x28, base: 0xC0_1000, limit: 0x67, attributes: 0x8B)
        XCTAssertEqual(DescriptorView.gdt(machine: m, vmm: nil),
                       "GDT base 0x00c00000 limit 0x0017 (3 entries): not mapped (linear 0x00c00000 unreadable)")
        XCTAssertEqual(DescriptorView.idt(machine: m, vmm: nil), "IDT: empty (IDTR base 0x00000000 limit 0x0000)")
        XCTAssertEqual(DescriptorView.ldt(machine: m, vmm: nil), "LDT: none (LDTR 0x0000 is null)")
        XCTAssertEqual(DescriptorView.tss(machine: m, vmm: nil),
                       "TSS TR 0x0028  base 0x00c01000  limit 0x00000067  32-bit TSS (busy): not mapped (linear 0x00c01000 unreadable)")
        m.cpu.statePointer.pointee.tr = SegmentCache()
        XCTAssertEqual(DescriptorView.tss(machine: m, vmm: nil), "TSS: none (TR 0x0000 holds no TSS)")
        // The GDT read through the guest's tables: a page the guest does not map ends the readable part.
        m.cpu.statePointer.pointee.gdtr = TableRegister(base: 0x10_2FF8, limit: 0x17)
        m.memory.write32(0x10_2FF8 + 0, 0)
        XCTAssertEqual(DescriptorView.gdt(machine: m, vmm: nil), """
            GDT base 0x00102ff8 limit 0x0017 (3 entries)
                 0  0x0000  null descriptor
                 1  0x0008  not mapped (linear 0x00103000) (entries 1-2)
            """)
    }
}
