import ShadowMMU
import X86Core

/// Tracing of the guest's descriptor tables under classic virtualization: the shadow GDT, IDT,
/// LDT and the VMM TSS's ring-1 stack are copies, so a guest store to its GDT, IDT, LDT or
/// current TSS must reach them before the guest's next instruction can use it (an IDT gate
/// written and then raised, ESP0 changed and then a system call). The shadow MMU keeps the
/// pages holding those tables read-only (`ShadowMMU.watch(frames:)`); each store to them is a
/// hidden write-protect fault, emulated, and the tables are copied again at the instruction
/// boundary. What this costs shows in `--stats`: the shadow MMU's write-protect faults and the
/// classic line's table re-syncs.
extension VMM {
    /// The guest-physical pages of the guest's GDT, IDT, LDT and current TSS, as the guest's
    /// tables map them now; watched by the shadow MMU. Called after every sync.
    func traceClassicTables(_ c: ClassicState) {
        guard let s = shadow else { return }
        guard c.emulated == nil else {
            // The emulated modes run on the guest's own tables: nothing to keep in step.
            s.watch(frames: [])
            return
        }
        var frames = Set<UInt32>()
        func add(_ base: UInt32, _ limit: UInt32) {
            guard limit > 0 || base != 0 else { return }
            var page = base & 0xFFFF_F000
            let last = base &+ min(limit, 0xFFFF)
            while true {
                if let p = guestPhysical(page) { frames.insert(p & 0xFFFF_F000) }
                if page >= last & 0xFFFF_F000 || page == 0xFFFF_F000 { break }
                page &+= 0x1000
            }
        }
        add(c.gdtr.base, UInt32(c.gdtr.limit))
        add(c.idtr.base, UInt32(c.idtr.limit))
        if let l = c.ldt { add(l.base, l.limit) }
        if c.tr & ~7 != 0 {
            let d = guestRead64(c.gdtr.base &+ UInt32(c.tr & ~7))
            add(RingCompression.base(d), 0x67)
        }
        s.watch(frames: frames)
    }

    /// A store to a traced page has completed (`ShadowMMU.watchedWrite`, at the instruction
    /// boundary): copy the tables again.
    func classicTablesWritten() {
        guard let c = classic, c.emulated == nil else { return }
        c.tableWriteSyncs &+= 1
        syncClassicTables()
    }
}
