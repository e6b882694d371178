import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// Keeping shadows in sync with the guest's tables: tracking (write protection), the
/// compare-after-write of a table page, zapping, write flooding, INVLPG.
extension ShadowMMU {
    /// `frame` holds a guest table that `shadow` was built from: map it read-only everywhere.
    func track(frame: UInt32, shadow: UInt32) {
        if !tracked.contains(frame) {
            tracked[frame] = Tracked()
            writeProtect(frame)
        } else if tracked.isUnsync(frame), case .directory? = info(shadow) {
            // Now also a page directory: only leaf tables may be out of sync.
            resync(frame)
            markSync(frame)
            writeProtect(frame)
        }
        tracked.modify(frame) { t in
            let i = t.shadows.firstIndex { $0 >= shadow } ?? t.shadows.count
            if i == t.shadows.count || t.shadows[i] != shadow { t.shadows.insert(shadow, at: i) }
        }
    }

    func untrack(frame: UInt32, shadow: UInt32) {
        var empty = false
        tracked.modify(frame) { t in
            t.shadows.removeAll { $0 == shadow }
            empty = t.shadows.isEmpty
        }
        if empty {
            if tracked.isUnsync(frame) { unsyncFrames.removeAll { $0 == frame } }
            tracked[frame] = nil
        }
    }

    // MARK: Out-of-sync leaf tables (KVM's unsync pages)

    /// A write to tracked `frame` may turn it out of sync: only leaf tables (no shadow directory
    /// built from it), and not in the middle of a compare-at-the-boundary write.
    func canUnsync(_ frame: UInt32) -> Bool {
        guard allowUnsync, !pendingFrames.contains(frame), let t = tracked[frame] else { return false }
        for shadow in t.shadows {
            guard case .table? = info(shadow) else { return false }
        }
        return true
    }

    /// The guest writes leaf table `frame` directly from now on: its mappings become writable as
    /// the guest's rights allow (each at its next fault), and nothing is compared per write.
    func makeUnsync(_ frame: UInt32) {
        tracked.modify(frame) { $0.unsync = true; $0.writesSinceUse = 0 }
        unsyncFrames.append(frame)
        stats.unsynced += 1
    }

    func markSync(_ frame: UInt32) {
        tracked.modify(frame) { $0.unsync = false }
        unsyncFrames.removeAll { $0 == frame }
    }

    /// A CR3 write flushes the TLB: every out-of-sync table catches up with what the guest wrote
    /// (and stays out of sync, so its next writes are free again).
    func syncUnsyncFrames() {
        for frame in unsyncFrames { resync(frame) }
    }

    /// Brings every shadow PTE built from out-of-sync `frame` in line with its guest PTE.
    func resync(_ frame: UInt32) {
        guard let t = tracked[frame] else { return }
        for shadow in t.shadows {
            guard case .table(let key, let pdIndex, _)? = info(shadow) else { continue }
            let entries = (memory.ram + Int(shadow)).assumingMemoryBound(to: UInt32.self)
            for i in 0..<1024 where entries[i] & 1 != 0 {
                resyncEntry(shadow, rootKey: key, pdIndex: pdIndex, table: frame, index: i)
            }
        }
    }

    /// Shadow PTE `index` of `shadow` (built from guest table `table`) made what the guest PTE
    /// gives now: kept if equal, else rebuilt when hardware could cache it (present, accessed),
    /// else zapped (the next access walks the guest's tables and sets A/D as hardware would).
    func resyncEntry(_ shadow: UInt32, rootKey: UInt32, pdIndex: UInt16, table: UInt32, index: Int) {
        let spte = shadow + UInt32(index) * 4
        let v = memory.read32(spte)
        guard v & 1 != 0 else { return }
        let now = prefetchValue(rootKey: rootKey, pdIndex: pdIndex, table: table,
                                pte: memory.read32(table + UInt32(index) * 4)) ?? 0
        guard now != v else { return }
        let linear = UInt32(pdIndex) << 22 | UInt32(index) << 12
        zapEntry(spte, linear: linear)
        if now != 0 {
            setEntry(spte, now, linear: linear)
            stats.pteUpdated += 1
        }
    }

    func writeProtect(_ frame: UInt32) {
        for spte in reverseMap[frame] ?? [] {
            let v = memory.read32(spte)
            guard v & 2 != 0 else { continue }
            memory.write32(spte, v & ~2)
            if let linear = linearAddress(ofShadowEntry: spte) { cpu.invalidateTLB(page: linear) }
        }
    }

    /// The guest is about to write table page `frame` in a way the CPU cannot hand over as one
    /// store (`.emulateStore`): a page-crossing store or part of a multi-part one. Remember the
    /// page; the comparison happens at the next instruction boundary.
    func beginTableWrite(_ frame: UInt32) {
        guard !pendingFrames.contains(frame) else { return }
        if pendingFrames.count == Self.maxPendingFrames {
            // An instruction writing this many tables at once: stop shadowing this one instead.
            unshadow(frame)
            return
        }
        (snapshots + pendingFrames.count * 4096).copyMemory(from: memory.ram + Int(frame), byteCount: 4096)
        pendingFrames.append(frame)
        cpu.requestBoundaryCallback()
    }

    /// Installed as `CPU.boundaryCallback`: what the last instruction changed in guest tables.
    public func finishTableWrites() {
        // The owner's traced pages last: what it rebuilds from them sees this instruction's
        // table updates too.
        defer {
            if watchedDirty {
                watchedDirty = false
                watchedWrite?()
            }
        }
        guard !pendingFrames.isEmpty else { return }
        // Work on the other buffer (syncing may reset everything and clear the list); swapping
        // the two reused arrays copies nothing.
        swap(&pendingFrames, &finishingFrames)
        defer { finishingFrames.removeAll(keepingCapacity: true) }
        for (k, frame) in finishingFrames.enumerated() {
            stats.pteWrites += 1
            let old = snapshots + k * 4096
            let now = memory.ram + Int(frame)
            // memcmp finds the 256-byte blocks that changed; only those are compared entry by entry.
            for block in 0..<16 where memcmp(old + block * 256, now + block * 256, 256) != 0 {
                for i in (block * 64)..<(block * 64 + 64)
                where old.load(fromByteOffset: i * 4, as: UInt32.self) != now.load(fromByteOffset: i * 4, as: UInt32.self) {
                    syncEntry(frame: frame, index: i)
                }
            }
            if isWatched(frame) {
                noteWatchedWrite()
                writeProtect(frame)
            }
            guard tracked.contains(frame) else { continue }
            var writes = 0
            tracked.modify(frame) { t in t.writesSinceUse += 1; writes = t.writesSinceUse }
            if writes > Self.floodThreshold {
                unshadow(frame)
            } else {
                writeProtect(frame)
            }
        }
    }

    /// The page-fault hook is handing a store to a tracked table to the CPU (`.emulateStore`):
    /// keep the two entries it can touch (a store is at most 4 bytes and may straddle two), so
    /// `emulatedStore` updates only what really changed.
    func beginEmulatedStore(_ physical: UInt32) {
        let at = physical & ~3
        emulatedOld.0 = memory.read32(at)
        emulatedOld.1 = at & 0xFFF == 0xFFC ? 0 : memory.read32(at + 4)
    }

    /// Installed as `CPU.emulatedStoreHandler`: the guest stored `size` bytes at `physical`, in a
    /// tracked table page. Each entry that changed updates (or zaps) the shadow entries built from
    /// it; a table written too often without being used is dropped (flooding), as in the
    /// compare-at-the-boundary path.
    public func emulatedStore(physical: UInt32, size: Int) {
        let frame = physical & 0xFFFF_F000
        if isWatched(frame) { noteWatchedWrite() }
        guard tracked.contains(frame) else { return }
        stats.pteWrites += 1
        let at = physical & ~3
        let now0 = memory.read32(at)
        if now0 != emulatedOld.0 { syncEntry(frame: frame, index: Int(at & 0xFFF) >> 2, update: true) }
        if (physical & 3) + UInt32(size) > 4 && at & 0xFFF != 0xFFC && memory.read32(at + 4) != emulatedOld.1 {
            syncEntry(frame: frame, index: Int(at & 0xFFF) >> 2 + 1, update: true)
        }
        guard tracked.contains(frame) else { return }
        var writes = 0
        tracked.modify(frame) { t in t.writesSinceUse += 1; writes = t.writesSinceUse }
        if writes > Self.floodThreshold { unshadow(frame) }
    }

    /// Entry `index` of guest table page `frame` changed: drop what was built from it, or, with
    /// `update`, rebuild the shadow PTEs from the new guest PTE when hardware could have cached
    /// it (present and accessed: KVM's mmu_pte_updated), so the next access does not fault.
    func syncEntry(frame: UInt32, index: Int, update: Bool = false) {
        guard let t = tracked[frame] else { return }
        for shadow in t.shadows {
            switch info(shadow) {
            case .directory(let key)?:
                if let r = rootIndex(key) { zapTable(root: r, index: UInt16(index)) }
            case .table(let key, let pdIndex, _)?:
                let spte = shadow + UInt32(index) * 4
                let linear = UInt32(pdIndex) << 22 | UInt32(index) << 12
                zapEntry(spte, linear: linear)
                if update, let value = prefetchValue(rootKey: key, pdIndex: pdIndex, table: frame,
                                                      pte: memory.read32(frame + UInt32(index) * 4)) {
                    setEntry(spte, value, linear: linear)
                    stats.pteUpdated += 1
                }
            case nil:
                break
            }
        }
    }

    func zapEntry(_ spte: UInt32, linear: UInt32) {
        let v = memory.read32(spte)
        guard v & 1 != 0 else { return }
        unmapReverse(v & 0xFFFF_F000, spte: spte)
        memory.write32(spte, 0)
        stats.entriesZapped += 1
        cpu.invalidateTLB(page: linear)
    }

    /// Drops the shadow table of PD slot `index` in root `r`.
    func zapTable(root r: Int, index: UInt16) {
        if let reserved = reservedSlot, reserved.index == index { return }
        guard let table = roots[r].tables.removeValue(forKey: index) else { return }
        memory.write32(roots[r].page + UInt32(index) * 4, 0)
        unlinkTable(table)
        cpu.flushTLB()
    }

    /// One address space stops using shadow table `table`; the last one frees it.
    func unlinkTable(_ table: UInt32) {
        let i = Int((table - poolBase) / 4096)
        linkCounts[i] -= 1
        guard linkCounts[i] <= 0 else { return }
        linkCounts[i] = 0
        if case .table(let key, let index, let g?)? = info(table), Self.isShared(key) {
            sharedTables[Self.sharedID(guestTable: g, index: index, role: key & 3)] = nil
        }
        freeTable(table)
    }

    func freeTable(_ table: UInt32) {
        for i in 0..<1024 {
            let spte = table + UInt32(i) * 4
            let v = memory.read32(spte)
            if v & 1 != 0 {
                unmapReverse(v & 0xFFFF_F000, spte: spte)
                stats.entriesZapped += 1
            }
        }
        if case .table(_, _, let g?)? = info(table) { untrack(frame: g, shadow: table) }
        release(table)
    }

    /// Write flooding: the guest keeps writing a page it no longer uses as a table. Drop every
    /// shadow built from it; it is shadowed again if it is ever used as a table.
    func unshadow(_ frame: UInt32) {
        guard let t = tracked[frame] else { return }
        stats.floodedTables += 1
        var rebuildCurrent = false
        for shadow in t.shadows {
            switch info(shadow) {
            case .directory(let key)?:
                guard let r = rootIndex(key) else { continue }
                if r == current { rebuildCurrent = true }
                freeRoot(roots[r])
                roots.remove(at: r)
                if let c = current { current = c > r ? c - 1 : (c == r ? nil : c) }
            case .table(_, let index, _)?:
                // Every address space linking it (one, unless shared).
                var r = 0
                while r < roots.count {
                    if roots[r].tables[index] == shadow { zapTable(root: r, index: index) }
                    r += 1
                }
            case nil:
                break
            }
        }
        tracked[frame] = nil
        cpu.flushTLB()
        if rebuildCurrent || current == nil { activateRoot() }
    }

    /// INVLPG: hardware drops the TLB entry; the shadow drops its entry too, so the next access
    /// walks the guest tables again (this is also what resyncs a table no longer write-protected).
    public func invalidatePage(_ linear: UInt32) {
        stats.invlpg += 1
        let slot = UInt16(linear >> 22)
        if largeSlots[Int(slot >> 5)] & (1 << UInt32(slot & 31)) != 0 {
            // The address may be in a guest 4 MiB page (now, or cached from before): all its
            // 4 KiB pieces leave the TLB (a full flush: rare), and a shadow of this address
            // space built from one goes. A shadow built from a page table is handled below.
            cpu.flushTLB()
            if let c = current, let table = roots[c].tables[slot], case .table(_, _, nil)? = info(table) {
                zapTable(root: c, index: slot)
                return
            }
        }
        if let c = current, let table = roots[c].tables[slot] {
            let index = Int((linear >> 12) & 0x3FF)
            if !unsyncFrames.isEmpty, case .table(let key, let pdIndex, let g?)? = info(table), tracked.isUnsync(g) {
                // An out-of-sync table: this entry catches up now (the others at their own
                // INVLPG or the next CR3 write, as a TLB would keep them).
                resyncEntry(table, rootKey: key, pdIndex: pdIndex, table: g, index: index)
            } else {
                zapEntry(table + UInt32(index) * 4, linear: linear)
            }
        }
        cpu.invalidateTLB(page: linear)
    }
}
