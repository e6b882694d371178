import ShadowMMU
import X86Core

/// What the guest sees of the CPU, as a trace records it: its own control registers (under the
/// VMM the real CR0/CR3/CR4 are the VMM's: the guest's live in `VMM.virtualCPU`), and the
/// translation of its linear addresses through its own page tables (not the shadow's, which may
/// not hold a page yet). Reading never changes anything: no accessed bits, no TLB fills.
public struct GuestView {
    let cpu: CPU
    /// The guest's CR0, CR3, CR4.
    let controlRegisters: () -> (cr0: UInt32, cr3: UInt32, cr4: UInt32)

    public init(cpu: CPU, controlRegisters: @escaping () -> (cr0: UInt32, cr3: UInt32, cr4: UInt32)) {
        self.cpu = cpu
        self.controlRegisters = controlRegisters
    }

    /// The bare machine: the CPU's registers are the guest's.
    public init(cpu: CPU) {
        self.init(cpu: cpu) { [unowned cpu] in
            let st = cpu.statePointer.pointee
            return (st.cr0, st.cr3, st.cr4)
        }
    }

    /// The register file now.
    @inline(__always)
    func registers() -> TraceRegisters {
        let st = cpu.statePointer
        var r = TraceRegisters()
        for i in 0..<8 { r.values[i] = st.pointee.regs[i] }
        r[.eip] = st.pointee.eip
        r[.eflags] = cpu.eflags
        // TraceField order is ES CS SS DS FS GS, the encoding order of SegmentRegister.
        for i in 0..<6 { r.values[TraceField.es.rawValue + i] = UInt32(st.pointee.segments[i].selector) }
        let (cr0, cr3, cr4) = controlRegisters()
        r[.cr0] = cr0
        r[.cr2] = st.pointee.cr2
        r[.cr3] = cr3
        r[.cr4] = cr4
        return r
    }

    /// The guest-physical address of `linear` through the guest's tables, nil if not present
    /// (the shadow MMU's software walk: it reads nothing past guest RAM as a table).
    func physical(_ linear: UInt32, cr0: UInt32, cr3: UInt32, cr4: UInt32) -> UInt32? {
        guard cr0 & CR0.pg != 0 && cr0 & CR0.pe != 0 else { return linear }
        let w = GuestPageWalk.walk(cpu.memory, .init(cr0: cr0, cr3: cr3, cr4: cr4), linear: linear, write: false, user: false)
        return w.faultCode == nil ? w.frame | (linear & 0xFFF) : nil
    }
}
