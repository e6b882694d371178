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
            let frame = linear & 0xFFFF_F000
            if write && isWatched(frame) {
                // A traced page (see the paged case below): the store is emulated.
                stats.writeProtectFaults += 1
                if cpu.translatingStore {
                    if code & 1 == 0 {
                        guard install(linear, frame: frame, writable: false, user: true, global: false,
                                      guestTable: nil) else { return .retry }
                    }
                    beginEmulatedStore(linear)
                    observer?(FaultEvent(linear: linear, shadowCode: code, guestCode: nil, walk: nil, action: "write-protect"))
                    return .emulateStore(physical: linear)
                }
                beginTableWrite(frame)
            }
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
        var isTable = tracked.contains(frame) && !tracked.isUnsync(frame)
        // A page the owner traces (the classic VMM's view of the guest's descriptor tables) is
        // written like a table page: each store emulated, never mapped writable.
        let watched = !watchedFrames.isEmpty && watchedFrames.contains(frame)
        var action = write && !w.dirty ? "dirty" : "fill"
        if isTable && write && !watched && canUnsync(frame) {
            // KVM's unsync pages: a leaf table the guest writes goes out of sync instead of
            // taking a write-protect exit per store; this fault maps it writable.
            stats.writeProtectFaults += 1
            makeUnsync(frame)
            isTable = false
            action = "unsync"
        }
        if (isTable || watched) && write {
            stats.writeProtectFaults += 1
            if cpu.translatingStore {
                // KVM's pte-write path: the CPU does this one store without a mapping, then
                // `emulatedStore` brings the shadow entries built from it up to date. The page
                // stays write-protected; nothing to snapshot, re-protect or compare.
                if code & 1 == 0 {
                    // Nothing mapped here yet: map it read-only, so reads of the table don't fault.
                    guard install(linear, frame: frame, writable: false, user: userAccess, global: w.global,
                                  guestTable: w.large ? nil : w.pde & 0xFFFF_F000, role: Self.role(pde: w.pde)) else { return .retry }
                }
                let physical = frame | (linear & 0xFFF)
                beginEmulatedStore(physical)
                observer?(FaultEvent(linear: linear, shadowCode: code, guestCode: nil, walk: w, action: "write-protect"))
                return .emulateStore(physical: physical)
            }
            // A store the CPU cannot hand over (part of a multi-part or page-crossing write):
            // let this instruction through, compare the page at the next boundary.
            beginTableWrite(frame)
            action = "write-protect"
        } else if isTable || watched {
            writable = false
        }
        guard install(linear, frame: frame, writable: writable, user: userAccess, global: w.global,
                      guestTable: w.large ? nil : w.pde & 0xFFFF_F000, role: Self.role(pde: w.pde)) else { return .retry }
        if !w.large && code & 1 == 0 {
            prefetch(around: linear, table: w.pde & 0xFFFF_F000, pde: w.pde, shadowTable: lastInstalledTable)
        }
        observer?(FaultEvent(linear: linear, shadowCode: code, guestCode: nil, walk: w, action: action))
        return .retry
    }

    /// A fill through these guest tables: they are in use, not being flooded.
    func noteUse(_ w: GuestPageWalk) {
        // Read before writing: a write through the table array costs a uniqueness check, and
        // the counts are usually 0 already.
        let pd = controls.cr3
        if tracked.writesSinceUse(pd) != 0 { tracked.modify(pd) { $0.writesSinceUse = 0 } }
        if !w.large {
            let pt = w.pde & 0xFFFF_F000
            if tracked.writesSinceUse(pt) != 0 { tracked.modify(pt) { $0.writesSinceUse = 0 } }
        }
    }

    /// Where a guest frame goes in the shadow: guest RAM and device MMIO as themselves, anything
    /// else (the VMM's private memory above all) to an address nothing decodes.
    func hostFrame(_ frame: UInt32) -> UInt32 {
        frame < guestTop || frame >= Self.mmioStart ? frame : holeFrame
    }

    /// Writes the shadow PTE for `linear` in the current root, creating its shadow table.
    /// Returns false when the pool ran dry and everything was dropped (the caller retries).
    func install(_ linear: UInt32, frame: UInt32, writable: Bool, user: Bool, global: Bool,
                 guestTable: UInt32?, role: UInt32 = 0) -> Bool {
        guard let ci = current else { return false }
        let index = UInt16(linear >> 22)
        var table = roots[ci].tables[index]
        if table == nil {
            table = createTable(root: ci, index: index, guestTable: guestTable, role: role)
            guard table != nil, current != nil else { return false }
        }
        let spte = table! + ((linear >> 10) & 0xFFC)
        lastInstalledTable = table!
        let old = memory.read32(spte)
        if old & 1 != 0 { unmapReverse(old & 0xFFFF_F000, spte: spte) }
        let target = hostFrame(frame)
        // A tracked table page stays read-only (the table may have been tracked just now, by
        // `createTable`, when a page directory maps itself), unless this instruction writes it.
        let protect = (tracked.contains(frame) && !tracked.isUnsync(frame) || isWatched(frame)) && !pendingFrames.contains(frame)
        var value = target | 0x21 | (writable && !protect ? 0x42 : 0) | (user ? 4 : 0)
        if global { value |= 0x100 }
        setEntry(spte, value, linear: linear)
        return true
    }

    /// A shadow page table for PD slot `index` of root `ci`: the shared one for this guest table,
    /// slot and role when another address space has it (KVM's role keys: address spaces that map
    /// the same guest table at the same place with the same PDE rights share its shadow, so a
    /// new address space refills nothing there), else a new one.
    func createTable(root ci: Int, index: UInt16, guestTable: UInt32?, role: UInt32) -> UInt32? {
        let rootKey = roots[ci].key
        let shared = shareTables && guestTable != nil
        let sharedID = guestTable.map { Self.sharedID(guestTable: $0, index: index, role: role) } ?? 0
        if shared, let table = sharedTables[sharedID] {
            // An out-of-sync table may hold entries stale since the guest's last write: fine for
            // the address spaces that cached them, not for this one, whose slot was empty (as a
            // TLB with nothing cached there must walk the table as it is now).
            if let g = guestTable, tracked.isUnsync(g) { resync(g) }
            memory.write32(roots[ci].page + UInt32(index) * 4, table | 0x27)
            roots[ci].tables[index] = table
            linkCounts[Int((table - poolBase) / 4096)] += 1
            stats.tablesShared += 1
            return table
        }
        let what = ShadowPage.table(rootKey: shared ? Self.sharedKey(role: role) : rootKey, index: index,
                                    guestTable: guestTable)
        var page = allocate(what)
        if page == nil {
            recycling = true
            dropLeastRecentlyUsedRoot(keeping: ci)
            recycling = false
            guard let c = rootIndex(rootKey) else { return nil }
            current = c
            page = allocate(what)
        }
        guard let table = page, let c = current else {
            // Nothing left to evict: start over (the access faults again into a fresh root).
            recycling = true
            reset()
            recycling = false
            activateRoot()
            return nil
        }
        if guestTable == nil && pagingEnabled { largeSlots[Int(index >> 5)] |= 1 << UInt32(index & 31) }
        // The shadow PDE allows everything; the PTEs carry the combined rights.
        memory.write32(roots[c].page + UInt32(index) * 4, table | 0x27)
        roots[c].tables[index] = table
        linkCounts[Int((table - poolBase) / 4096)] = 1
        if shared { sharedTables[sharedID] = table }
        if let g = guestTable { track(frame: g, shadow: table) }
        return table
    }

    /// The shadow PTE that guest PTE `pte` (entry of guest table `table`, which PD slot `pdIndex`
    /// of the guest directory `rootKey` points to) gives without a fault, or nil where hardware
    /// would still have to walk: the PTE or PDE not present or not accessed (the walk sets A, the
    /// guest must see it), the PDE no longer pointing at `table`. Writable only once D is set, as
    /// a fill makes it; global only with CR4.PGE.
    func prefetchValue(rootKey: UInt32, pdIndex: UInt16, table: UInt32, pte: UInt32) -> UInt32? {
        guard pte & 0x21 == 0x21, pagingEnabled, rootKey != Self.identityKey else { return nil }
        if let r = reservedSlot, r.index == pdIndex { return nil }
        let pde: UInt32
        if Self.isShared(rootKey) {
            // A shared table: every PDE linking it points here with these rights and has A set
            // (a PDE that changes unlinks its address space).
            pde = table | 0x21 | (rootKey & 3) << 1
        } else {
            guard UInt64(rootKey) + 4096 <= UInt64(guestTop) else { return nil }
            pde = memory.read32(rootKey + UInt32(pdIndex) * 4)
        }
        guard pde & 0x21 == 0x21, pde & 0x80 == 0 || !controls.pse, pde & 0xFFFF_F000 == table else { return nil }
        let frame = pte & 0xFFFF_F000
        let writable = pde & pte & 2 != 0 && pte & 0x40 != 0
        let protect = (tracked.contains(frame) && !tracked.isUnsync(frame) || isWatched(frame)) && !pendingFrames.contains(frame)
        var value = hostFrame(frame) | 0x21 | (writable && !protect ? 0x42 : 0) | (pde & pte & 4)
        if pte & 0x100 != 0 && controls.pge { value |= 0x100 }
        return value
    }

    /// Writes shadow PTE `spte` (now empty, or its old frame unmapped) with `value`, keeping the
    /// reverse map and the TLB.
    func setEntry(_ spte: UInt32, _ value: UInt32, linear: UInt32) {
        memory.write32(spte, value)
        let target = value & 0xFFFF_F000
        if target < guestTop {
            if !reverseMap.contains(target) { reverseMap[target] = [spte] } else { reverseMap.modify(target) { $0.append(spte) } }
        }
        stats.entriesCreated += 1
        cpu.invalidateTLB(page: linear)
    }

    /// KVM's pte prefetch: after a hidden fill through guest table `table`, fill the empty shadow
    /// PTEs of the same aligned group of `prefetchGroup` whose guest PTEs are present and already
    /// accessed, so sequential accesses do not fault one by one. Nothing the guest can see changes:
    /// no A or D bit is set that hardware would not have set.
    func prefetch(around linear: UInt32, table: UInt32, pde: UInt32, shadowTable: UInt32) {
        // One pass of plain loads finds the candidates (most groups have none); prefetchValue
        // then checks each against the guest's PDE as it is now (the fill just set its A bit).
        guard pde & 1 != 0, UInt64(table) + 4096 <= UInt64(guestTop), shadowTable != 0 else { return }
        let first = Int((linear >> 12) & 0x3FF) & ~(Self.prefetchGroup - 1)
        let guest = (memory.ram + Int(table)).assumingMemoryBound(to: UInt32.self)
        let shadow = (memory.ram + Int(shadowTable)).assumingMemoryBound(to: UInt32.self)
        var candidates: UInt32 = 0
        for i in first..<(first + Self.prefetchGroup) where guest[i] & 0x21 == 0x21 && shadow[i] & 1 == 0 {
            candidates |= 1 << UInt32(i - first)
        }
        guard candidates != 0, let ci = current else { return }
        let pdIndex = UInt16(linear >> 22)
        for i in first..<(first + Self.prefetchGroup) where candidates & (1 << UInt32(i - first)) != 0 {
            guard let value = prefetchValue(rootKey: roots[ci].key, pdIndex: pdIndex, table: table,
                                            pte: guest[i]) else { continue }
            setEntry(shadowTable + UInt32(i) * 4, value, linear: UInt32(pdIndex) << 22 | UInt32(i) << 12)
            stats.prefetched += 1
        }
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
