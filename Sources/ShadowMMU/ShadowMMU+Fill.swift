import X86Core

/// The page-fault hook: hidden fills, true faults, A/D bits, write-protect faults.
extension ShadowMMU {
    /// Installed as `CPU.pageFaultHandler`.
    public func pageFault(linear: UInt32, code: UInt32) -> PageFaultVerdict {
        let write = code & 2 != 0
        let user = code & 4 != 0
        guard current != nil else {
            activateRoot()
            return .retry
        }
        if let r = reservedSlot, linear >> 22 == UInt32(r.index) {
            // The VMM's own slot: whatever the guest meant here, it reaches the VMM's tables
            // (read-only) or nothing. The owner decides (classic virtualization refuses it).
            observer?(FaultEvent(linear: linear, shadowCode: code, guestCode: code, walk: nil, action: "reserved"))
            return .deliver(errorCode: code)
        }
        guard pagingEnabled else {
            // Guest paging off: the shadow is an identity map of guest-physical memory.
            stats.hiddenFaults += 1
            guard install(linear, frame: linear & 0xFFFF_F000, writable: true, user: true, global: false,
                          guestTable: nil) else { return .retry }
            observer?(FaultEvent(linear: linear, shadowCode: code, guestCode: nil, walk: nil, action: "identity"))
            return .retry
        }
        let w = GuestPageWalk.walk(memory, controls, linear: linear, write: write, user: user)
        if let guestCode = w.faultCode {
            stats.trueFaults += 1
            observer?(FaultEvent(linear: linear, shadowCode: code, guestCode: guestCode, walk: w, action: "deliver"))
            return .deliver(errorCode: guestCode)
        }
        stats.hiddenFaults += 1
        w.setAccessedDirty(memory, write: write)
        noteUse(w)
        let frame = w.frame
        var writable = w.writable && (w.dirty || write)
        var userAccess = w.user
        if write && !user && !w.writable && !controls.wp {
            // CR0.WP = 0: the supervisor may write a read-only page. The shadow lets it, and
            // keeps user code out until a user access refills the entry read-only.
            writable = true
            userAccess = false
        }
        let isTable = tracked.contains(frame)
        var action = write && !w.dirty ? "dirty" : "fill"
        if isTable && write {
            // The guest writes one of its page tables: let this instruction through, compare
            // the page at the next boundary.
            stats.writeProtectFaults += 1
            beginTableWrite(frame, linear: linear)
            action = "write-protect"
        } else if isTable {
            writable = false
        }
        guard install(linear, frame: frame, writable: writable, user: userAccess, global: w.global,
                      guestTable: w.large ? nil : w.pde & 0xFFFF_F000) else { return .retry }
        observer?(FaultEvent(linear: linear, shadowCode: code, guestCode: nil, walk: w, action: action))
        return .retry
    }

    /// A fill through these guest tables: they are in use, not being flooded.
    func noteUse(_ w: GuestPageWalk) {
        let pd = controls.cr3
        tracked.modify(pd) { $0.writesSinceUse = 0 }
        if !w.large {
            tracked.modify(w.pde & 0xFFFF_F000) { $0.writesSinceUse = 0 }
        }
    }

    /// Where a guest frame goes in the shadow: guest RAM and device MMIO as themselves, anything
    /// else (the VMM's private memory above all) to an address nothing decodes.
    func hostFrame(_ frame: UInt32) -> UInt32 {
        frame < guestTop || frame >= Self.mmioStart ? frame : Self.holeFrame
    }

    /// Writes the shadow PTE for `linear` in the current root, creating its shadow table.
    /// Returns false when the pool ran dry and everything was dropped (the caller retries).
    func install(_ linear: UInt32, frame: UInt32, writable: Bool, user: Bool, global: Bool,
                 guestTable: UInt32?) -> Bool {
        guard let ci = current else { return false }
        let index = UInt16(linear >> 22)
        var table = roots[ci].tables[index]
        if table == nil {
            table = createTable(root: ci, index: index, guestTable: guestTable)
            guard table != nil, current != nil else { return false }
        }
        let spte = table! + ((linear >> 10) & 0xFFC)
        let old = memory.read32(spte)
        if old & 1 != 0 { unmapReverse(old & 0xFFFF_F000, spte: spte) }
        let target = hostFrame(frame)
        // A tracked table page stays read-only (the table may have been tracked just now, by
        // `createTable`, when a page directory maps itself), unless this instruction writes it.
        let protect = tracked.contains(frame) && !pendingFrames.contains(frame)
        var value = target | 0x21 | (writable && !protect ? 0x42 : 0) | (user ? 4 : 0)
        if global { value |= 0x100 }
        memory.write32(spte, value)
        if target < guestTop {
            if !reverseMap.contains(target) { reverseMap[target] = [spte] } else { reverseMap.modify(target) { $0.append(spte) } }
        }
        stats.entriesCreated += 1
        cpu.invalidateTLB(page: linear)
        return true
    }

    /// A shadow page table for PD slot `index` of root `ci`.
    func createTable(root ci: Int, index: UInt16, guestTable: UInt32?) -> UInt32? {
        let key = roots[ci].key
        let what = ShadowPage.table(rootKey: key, index: index, guestTable: guestTable)
        var page = allocate(what)
        if page == nil {
            dropLeastRecentlyUsedRoot(keeping: ci)
            guard let c = roots.firstIndex(where: { $0.key == key }) else { return nil }
            current = c
            page = allocate(what)
        }
        guard let table = page, let c = current else {
            // Nothing left to evict: start over (the access faults again into a fresh root).
            reset()
            activateRoot()
            return nil
        }
        // The shadow PDE allows everything; the PTEs carry the combined rights.
        memory.write32(roots[c].page + UInt32(index) * 4, table | 0x27)
        roots[c].tables[index] = table
        if let g = guestTable { track(frame: g, shadow: table) }
        return table
    }

    func unmapReverse(_ frame: UInt32, spte: UInt32) {
        // An emptied list stays (with its capacity): a frame unmapped here is usually mapped
        // again soon (PTE churn), and re-creating the array was a malloc/free per fill.
        reverseMap.modify(frame) { list in
            if let i = list.firstIndex(of: spte) { list.swapAt(i, list.count - 1); list.removeLast() }
        }
    }

    /// The linear address a shadow PTE translates.
    func linearAddress(ofShadowEntry spte: UInt32) -> UInt32? {
        guard case .table(_, let index, _)? = info(spte & 0xFFFF_F000) else { return nil }
        return UInt32(index) << 22 | ((spte & 0xFFF) >> 2) << 12
    }
}
