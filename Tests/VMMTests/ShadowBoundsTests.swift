import Machine
import ShadowMMU
import Testing
import X86Core
import VMM

/// A guest page table that points past guest RAM must not reach the VMM's private memory (the
/// shadow pool follows guest RAM): the shadow MMU's software walk reads it as nothing decodes it
/// (all ones), as the direct MMU does, and never sets an A/D bit there.
@Test func guestTablesPastGuestRAMNeverReachThePool() {
    var outcomes: [[UInt32]] = []
    for mmu in [MMUMode.direct, .shadow(pages: 64)] {
        let (m, vmm) = propertyMachine(mmu: mmu)
        let mem = m.memory
        // PD slot 1 points at a page table past guest RAM: under the shadow MMU that is the
        // pool's last page (not used yet: all zeros, so "not present" if it were read).
        mem.write32(Layout.directoryA + 4, (mem.guestSize + 63 * 4096) | 0x3)
        // A 4 MiB-page PDE in slot 2 whose frame is past guest RAM too.
        mem.write32(Layout.directoryA + 8, 0x3 | 0x80 | (mem.guestSize & 0xFFC0_0000))
        // mov eax, [0x400000]; mov [0x400010], eax; mov eax, [0x800000]; jmp $
        let code: [UInt8] = [0xA1, 0x00, 0x00, 0x40, 0x00, 0x90, 0xA3, 0x10, 0x00, 0x40, 0x00, 0x90,
                             0xA1, 0x00, 0x00, 0x80, 0x00, 0x90, 0xEB, 0xFE]
        mem.load(bytes: code, at: Layout.code)
        m.cpu.statePointer.pointee.eip = Layout.code
        _ = vmm.run(RunLimits(maxInstructions: 200))
        let st = m.cpu.state
        outcomes.append([st.regs[0], mem.read32(Layout.record), mem.read32(Layout.record + 4),
                         mem.read32(Layout.record + 8), mem.read32(Layout.directoryA + 4), mem.read32(Layout.directoryA + 8)])
    }
    #expect(outcomes[0] == outcomes[1], "direct \(outcomes[0]) vs shadow \(outcomes[1])")
}
