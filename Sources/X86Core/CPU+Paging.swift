/// The hardware page walker (SDM Vol. 3A §4.3, 32-bit paging) and TLB refill.
///
/// It walks the table at `CPUState.pagingRoot`, never `cr3` directly: on bare hardware the two
/// are equal; under the VMM the root is a shadow page directory.
extension CPU {
    /// Page-fault error code bits (SDM Vol. 3A §4.7).
    enum PFCode {
        static let present: UInt32 = 1
        static let write: UInt32 = 2
        static let user: UInt32 = 4
    }

    /// Translates a linear address for one access, setting A/D bits and filling the TLB.
    /// Throws #PF (with CR2 set) when the walk fails; A and D are then left untouched.
    ///
    /// With a `pageFaultHandler` (the shadow MMU), a failed walk first goes to the owner, at the
    /// point of the fault: it may fill the table the walker reads and ask for a retry (a fault the
    /// guest never sees), or have the fault delivered with its own error code.
    @inline(never)
    func translate(_ linear: UInt32, write: Bool, user: Bool, fetch: Bool = false) throws(Fault) -> UInt32 {
        do {
            return try walk(linear, write: write, user: user)
        } catch {
            guard let handler = pageFaultHandler else {
                if exitOnExceptions & (1 << UInt32(Vector.pageFault)) == 0 { s.pointee.cr2 = linear }
                throw error
            }
            var code = error.errorCode
            for _ in 0..<8 {
                switch handler(linear, code) {
                case .deliver(let guestCode):
                    s.pointee.cr2 = linear
                    throw Fault.exception(Vector.pageFault, errorCode: guestCode)
                case .emulateStore(let physical):
                    emulatedStorePending = true
                    return physical
                case .retry:
                    do {
                        return try walk(linear, write: write, user: user)
                    } catch let again {
                        code = again.errorCode
                    }
                }
            }
            // The owner kept asking for retries that could not succeed: give the guest the fault.
            s.pointee.cr2 = linear
            throw Fault.exception(Vector.pageFault, errorCode: code)
        }
    }

    /// One walk of the table at `pagingRoot`.
    @inline(__always)
    func walk(_ linear: UInt32, write: Bool, user: Bool) throws(Fault) -> UInt32 {
        let st = s
        guard st.pointee.cr0 & CR0.pg != 0 else {
            let page = linear & 0xFFFF_F000
            // The owner's private memory after guest RAM (shadow page tables, the classic VMM's
            // descriptor tables) is not on the guest's bus: a real-mode guest under the VMM
            // (paging off for real) that reaches it, with unreal segments or past 1 MiB, gets
            // the first address past all RAM instead, which nothing decodes (reads all ones,
            // writes dropped). Without private memory the two bounds are equal.
            if page >= memory.guestSize && page < memory.size { return memory.size | (linear & 0xFFF) }
            if memory.isPlainRAMPage(page) && !pageHasDataBreakpoint(linear) {
                tlb.fill(linear: linear, user: user, physPage: page, writable: !traceWrites, global: false)
            }
            return linear
        }
        let root = st.pointee.pagingRoot & 0xFFFF_F000
        let pdeAddress = root | ((linear >> 20) & 0xFFC)
        let pde = memory.read32(pdeAddress)
        let userBit: UInt32 = user ? PFCode.user : 0
        let writeBit: UInt32 = write ? PFCode.write : 0
        guard pde & 1 != 0 else {
            throw pageFault(linear, code: userBit | writeBit)
        }
        let wp = st.pointee.cr0 & CR0.wp != 0
        let pge = st.pointee.cr4 & CR4.pge != 0
        if pde & 0x80 != 0 && st.pointee.cr4 & CR4.pse != 0 {
            // 4 MiB page: the PDE is the leaf.
            try checkPermission(linear, rw: pde & 2 != 0, us: pde & 4 != 0, write: write, user: user, wp: wp)
            var updated = pde | 0x20
            if write { updated |= 0x40 }
            if updated != pde { memory.write32(pdeAddress, updated) }
            let phys = (pde & 0xFFC0_0000) | (linear & 0x003F_FFFF)
            let page = phys & 0xFFFF_F000
            if memory.isPlainRAMPage(page) && !pageHasDataBreakpoint(linear) {
                let writable = updated & 0x40 != 0 && writeAllowed(rw: pde & 2 != 0, user: user, wp: wp) && !traceWrites
                tlb.noteLargePage(linear)
                tlb.fill(linear: linear, user: user, physPage: page, writable: writable,
                         global: pge && pde & 0x100 != 0)
            }
            return phys
        }
        let pteAddress = (pde & 0xFFFF_F000) | ((linear >> 10) & 0xFFC)
        let pte = memory.read32(pteAddress)
        guard pte & 1 != 0 else {
            throw pageFault(linear, code: userBit | writeBit)
        }
        // Both levels must allow the access (SDM Vol. 3A §4.6.1: the combined rights).
        let rw = pde & 2 != 0 && pte & 2 != 0
        let us = pde & 4 != 0 && pte & 4 != 0
        try checkPermission(linear, rw: rw, us: us, write: write, user: user, wp: wp)
        if pde & 0x20 == 0 { memory.write32(pdeAddress, pde | 0x20) }
        var updated = pte | 0x20
        if write { updated |= 0x40 }
        if updated != pte { memory.write32(pteAddress, updated) }
        let page = pte & 0xFFFF_F000
        if memory.isPlainRAMPage(page) && !pageHasDataBreakpoint(linear) {
            let writable = updated & 0x40 != 0 && writeAllowed(rw: rw, user: user, wp: wp) && !traceWrites
            tlb.fill(linear: linear, user: user, physPage: page, writable: writable,
                     global: pge && pte & 0x100 != 0)
        }
        return page | (linear & 0xFFF)
    }

    @inline(__always)
    func writeAllowed(rw: Bool, user: Bool, wp: Bool) -> Bool {
        rw || (!user && !wp)
    }

    @inline(__always)
    func checkPermission(_ linear: UInt32, rw: Bool, us: Bool, write: Bool, user: Bool, wp: Bool) throws(Fault) {
        if user && !us {
            throw pageFault(linear, code: PFCode.present | PFCode.user | (write ? PFCode.write : 0))
        }
        if write && !writeAllowed(rw: rw, user: user, wp: wp) {
            throw pageFault(linear, code: PFCode.present | PFCode.write | (user ? PFCode.user : 0))
        }
    }

    /// A #PF from the walker. `translate` decides about CR2: set for a fault the guest takes, left
    /// alone when the owner takes #PF as an exit (VT-x reports the address as the exit
    /// qualification instead: `pageFaultAddress`) or resolves it.
    func pageFault(_ linear: UInt32, code: UInt32) -> Fault {
        pageFaultAddress = linear
        return .exception(Vector.pageFault, errorCode: code)
    }

    /// Walks without side effects (no A/D, no TLB fill, no CR2): for debuggers and tools.
    /// Returns nil when the access would fault.
    public func peekTranslation(_ linear: UInt32, write: Bool = false, user: Bool = false) -> UInt32? {
        let st = s.pointee
        guard st.cr0 & CR0.pg != 0 else {
            // The owner's private memory is not the guest's (see `walk`).
            return linear >= memory.guestSize && linear < memory.size ? nil : linear
        }
        let pde = memory.read32((st.pagingRoot & 0xFFFF_F000) | ((linear >> 20) & 0xFFC))
        guard pde & 1 != 0 else { return nil }
        let wp = st.cr0 & CR0.wp != 0
        if pde & 0x80 != 0 && st.cr4 & CR4.pse != 0 {
            if user && pde & 4 == 0 { return nil }
            if write && !writeAllowed(rw: pde & 2 != 0, user: user, wp: wp) { return nil }
            return (pde & 0xFFC0_0000) | (linear & 0x003F_FFFF)
        }
        let pte = memory.read32((pde & 0xFFFF_F000) | ((linear >> 10) & 0xFFC))
        guard pte & 1 != 0 else { return nil }
        if user && (pde & pte & 4) == 0 { return nil }
        if write && !writeAllowed(rw: pde & pte & 2 != 0, user: user, wp: wp) { return nil }
        return (pte & 0xFFFF_F000) | (linear & 0xFFF)
    }
}
