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
    /// read/write, except the pages below), slot 1 → a 4 MiB page (A and D set) at physical 0.
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
    /// mov [0x105000],eax / mov eax,[0x401000] / mov eax,[0x10000] / hlt
    static let program: [UInt8] = [
        0xA1, 0x00, 0x00, 0x10, 0x00, 0xA3, 0x00, 0x10, 0x10, 0x00, 0xA1, 0x00, 0x10, 0x01, 0x00,
        0xA1, 0x00, 0x40, 0x10, 0x00, 0xA3, 0x00, 0x50, 0x10, 0x00, 0xA1, 0x00, 0x10, 0x40, 0x00,
        0xA1, 0x00, 0x00, 0x01, 0x00, 0xF4,
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

    func testDump() {
        let (m0, vmm0) = Self.shadowMachine()
        m0.memory.write32(Self.pt0 + 0x101 * 4, 0x0010_6063)
        print(PageTableView.walk(machine: m0, vmm: vmm0, linear: 0x101000))
        print(PageTableView.walk(machine: m0, vmm: vmm0, linear: 0x10000))
        let off = PCMachine(memorySize: 4 << 20, privateMemory: 16 * 4096)
        off.cpu.resetFlat(cpl: 0)
        off.cpu.statePointer.pointee.eip = Self.code
        off.memory.load(bytes: [0xA1, 0x00, 0x00, 0x10, 0x00, 0xA1, 0x00, 0x00, 0x50, 0x00, 0xF4], at: Self.code)
        let vo = VMM(machine: off, mmu: .shadow(pages: 16))
        print(vo.run(RunLimits(maxInstructions: 100)))
        for a: UInt32 in [0x100000, 0x500000, 0x102000] { print(PageTableView.walk(machine: off, vmm: vo, linear: a)) }
        print(PageTableView.ranges(machine: off, vmm: vo, shadow: false))
        print(PageTableView.ranges(machine: off, vmm: vo, shadow: true))
        print(PageTableView.dot(machine: off, vmm: vo))
        let dm = Self.pagedMachine(pool: 0)
        let vd = VMM(machine: dm)
        print(PageTableView.walk(machine: dm, vmm: vd, linear: 0x101000))
        print(PageTableView.ranges(machine: dm, vmm: vd, shadow: true))
        dm.cpu.statePointer.pointee.gdtr = TableRegister(base: 0x80_0000, limit: 0x17)
        print(DescriptorView.gdt(machine: dm, vmm: vd))
        print(DescriptorView.idt(machine: dm, vmm: vd))
        print(DescriptorView.ldt(machine: dm, vmm: vd))
        print(DescriptorView.tss(machine: dm, vmm: vd))
        let d = Self.descriptorMachine()
        print(DescriptorView.gdt(machine: d, vmm: nil))
        print(DescriptorView.idt(machine: d, vmm: nil))
        print(DescriptorView.ldt(machine: d, vmm: nil))
        print(DescriptorView.tss(machine: d, vmm: nil))
        print(DescriptorView.segments(cpu: d.cpu))
        let (m, vmm) = Self.shadowMachine()
        for a: UInt32 in [0x100000, 0x101234, 0x102000, 0x103000, 0x11000, 0x104000, 0x105000, 0x401000, 0x10000, 0x800000, 0x5000] {
            print(PageTableView.walk(machine: m, vmm: vmm, linear: a))
            print()
        }
        print(PageTableView.ranges(machine: m, vmm: vmm, shadow: false))
        print()
        print(PageTableView.ranges(machine: m, vmm: vmm, shadow: true))
        print(PageTableView.dot(machine: m, vmm: vmm))
        let bare = Self.pagedMachine(pool: 0)
        print(PageTableView.walk(machine: bare, vmm: nil, linear: 0x101234))
        print(PageTableView.walk(machine: bare, vmm: nil, linear: 0x401234))
        print(PageTableView.walk(machine: bare, vmm: nil, linear: 0x103000))
        print(PageTableView.dot(machine: bare, vmm: nil))
    }
}
