import X86Core

// The shadow MMU's part of a machine snapshot (section "SHMU"). The shadow tables themselves
// are in private memory, saved with RAM; this is the bookkeeping that says what they are, in
// the order that decides what happens next (which page is allocated next, which root is
// evicted, in which order entries are write-protected):
//
//     pool       pool pages (must match), free list in order, then per pool page what it
//                shadows: 0 free, 1 directory (root key), 2 table (root key, PD index,
//                guest table or none; a shared table's root key is 0xFFFFFFF0 | role)
//     roots      key, shadow page, last use, tables (PD index → page, sorted by index);
//                current root (or none); use clock
//     reverse    guest frame → shadow PTEs, frames sorted, each list in its order
//     tracked    guest frame → (shadow pages in order, writes since use, out of sync),
//                frames sorted; then the out-of-sync frames in the order they went out of sync
//     pending    frames written by the current instruction, each with its 4 KiB snapshot
//     controls   guest CR3, WP, PSE, PGE; guest paging on; out-of-sync tables allowed; the
//                PD slots with a shadow built from a guest 4 MiB page (32 words)
//     stats      every counter of `Stats`
//
// Dictionaries are written in key order, so the bytes do not depend on the process's hash seed.
// Everything read is checked against the pool (a page outside it, a page both free and in use,
// an index past a table) before anything changes.

extension ShadowMMU {
    /// Appends the shadow MMU's bookkeeping (section "SHMU").
    public func saveState(to w: inout StateWriter) {
        w.tag("SHMU")
        w.put(UInt32(poolPages))
        w.put(UInt32(freePages.count))
        for p in freePages { w.put(p) }
        for page in pages {
            switch page {
            case nil:
                w.put(UInt8(0))
            case .directory(let key)?:
                w.put(UInt8(1)); w.put(key)
            case .table(let key, let index, let guestTable)?:
                w.put(UInt8(2)); w.put(key); w.put(index); w.put(guestTable)
            }
        }
        w.put(UInt32(roots.count))
        for root in roots {
            w.put(root.key); w.put(root.page); w.put(root.lastUse)
            w.put(UInt32(root.tables.count))
            for index in root.tables.keys.sorted() { w.put(index); w.put(root.tables[index]!) }
        }
        w.put(current.map { UInt32($0) })
        w.put(useClock)
        // Frames whose lists are empty are kept in memory for reuse; the state has none.
        let mapped = reverseMap.keys.filter { !(reverseMap[$0]?.isEmpty ?? true) }
        w.put(UInt32(mapped.count))
        for frame in mapped {
            let list = reverseMap[frame]!
            w.put(frame)
            w.put(UInt32(list.count))
            for spte in list { w.put(spte) }
        }
        w.put(UInt32(tracked.count))
        for frame in tracked.keys.sorted() {
            let t = tracked[frame]!
            w.put(frame)
            w.put(UInt32(t.shadows.count))
            for s in t.shadows { w.put(s) }
            w.put(UInt64(t.writesSinceUse))
            w.put(t.unsync)
        }
        // Out-of-sync frames in the order they went out of sync (the order CR3 writes resync).
        w.put(UInt32(unsyncFrames.count))
        for frame in unsyncFrames { w.put(frame) }
        w.put(UInt32(pendingFrames.count))
        for (k, frame) in pendingFrames.enumerated() {
            w.put(frame)
            w.put(bytes: UnsafeRawBufferPointer(start: snapshots + k * 4096, count: 4096))
        }
        w.put(controls.cr3); w.put(controls.wp); w.put(controls.pse); w.put(controls.pge)
        w.put(pagingEnabled)
        w.put(allowUnsync)
        for word in largeSlots { w.put(word) }
        w.put(stats.hiddenFaults); w.put(stats.trueFaults)
        w.put(stats.entriesCreated); w.put(stats.entriesZapped)
        w.put(stats.writeProtectFaults); w.put(stats.floodedTables)
        w.put(stats.cr3Switches); w.put(stats.rootCacheHits)
        w.put(stats.invlpg); w.put(stats.resets)
        w.put(stats.pteWrites); w.put(stats.pteUpdated); w.put(stats.prefetched)
        w.put(stats.pagesZapped); w.put(stats.cacheMisses); w.put(stats.recycled)
        w.put(stats.unsynced); w.put(stats.tablesShared)
        w.put(shareTables)
        w.put(UInt32(stats.pagesInUse)); w.put(UInt32(stats.peakPagesInUse))
    }

    /// Reads what `saveState` wrote into this shadow MMU (same pool). On a throw nothing changed.
    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    public func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("SHMU")
        let savedPool = Int(try r.get(UInt32.self))
        guard savedPool == poolPages else {
            throw StateError("snapshot has a shadow pool of \(savedPool) pages, this machine \(poolPages)")
        }
        let poolEnd = UInt64(poolBase) + UInt64(poolPages) * 4096
        func poolPage(_ at: Int) throws(StateError) -> UInt32 {
            let p: UInt32 = try r.get()
            guard p >= poolBase, UInt64(p) < poolEnd, (p - poolBase) % 4096 == 0 else {
                throw StateError("snapshot corrupt: shadow page 0x\(String(p, radix: 16)) outside the pool at byte \(at)")
            }
            return p
        }
        func poolEntry(_ at: Int) throws(StateError) -> UInt32 {
            let e: UInt32 = try r.get()
            guard e >= poolBase, UInt64(e) < poolEnd, e & 3 == 0 else {
                throw StateError("snapshot corrupt: shadow entry 0x\(String(e, radix: 16)) outside the pool at byte \(at)")
            }
            return e
        }
        func corrupt(_ what: String, _ at: Int) -> StateError {
            StateError("snapshot corrupt: \(what) at byte \(at)")
        }

        let freeCount = try r.getCount(limit: poolPages)
        var free: [UInt32] = []
        free.reserveCapacity(poolPages)
        for _ in 0..<freeCount { free.append(try poolPage(r.offset)) }
        var kinds = [ShadowPage?](repeating: nil, count: poolPages)
        var used = 0
        for i in 0..<poolPages {
            let at = r.offset
            switch try r.get(UInt8.self) {
            case 0: break
            case 1: kinds[i] = .directory(rootKey: try r.get()); used += 1
            case 2:
                let key: UInt32 = try r.get()
                let index: UInt16 = try r.get()
                guard index < 1024 else { throw corrupt("shadow table PD index \(index)", at) }
                kinds[i] = .table(rootKey: key, index: index, guestTable: try r.getOptional())
                used += 1
            case let t: throw corrupt("shadow page kind \(t)", at)
            }
        }
        // The free list and the in-use pages must partition the pool.
        var isFree = [Bool](repeating: false, count: poolPages)
        for p in free {
            let i = Int((p - poolBase) / 4096)
            guard !isFree[i], kinds[i] == nil else { throw corrupt("shadow free list (page \(i))", r.offset) }
            isFree[i] = true
        }
        guard free.count + used == poolPages else { throw corrupt("shadow pool accounting", r.offset) }

        let rootCount = try r.getCount(limit: Self.rootCacheSize)
        var newRoots: [Root] = []
        var links = [Int32](repeating: 0, count: poolPages)
        for _ in 0..<rootCount {
            let at = r.offset
            let key: UInt32 = try r.get()
            let page = try poolPage(at)
            guard case .directory(let k)? = kinds[Int((page - poolBase) / 4096)], k == key else {
                throw corrupt("shadow root 0x\(String(key, radix: 16))", at)
            }
            var root = Root(key: key, page: page, lastUse: try r.get())
            let tableCount = try r.getCount(limit: 1024)
            for _ in 0..<tableCount {
                let tat = r.offset
                let index: UInt16 = try r.get()
                let table = try poolPage(tat)
                // A root's own table, or a shared one (several roots link it, same slot).
                guard case .table(let tk, let ti, let tg)? = kinds[Int((table - poolBase) / 4096)],
                      tk == key || (Self.isShared(tk) && tg != nil), ti == index, root.tables[index] == nil,
                      Self.isShared(tk) || links[Int((table - poolBase) / 4096)] == 0
                else { throw corrupt("shadow table \(index) of root 0x\(String(key, radix: 16))", tat) }
                root.tables[index] = table
                links[Int((table - poolBase) / 4096)] += 1
            }
            newRoots.append(root)
        }
        // Every table is linked by some root, and the shared ones are unique per (guest table,
        // slot, role): what the shared-table index is rebuilt from.
        var shared: [UInt64: UInt32] = [:]
        for (i, kind) in kinds.enumerated() {
            guard case .table(let key, let index, let g)? = kind else { continue }
            let page = poolBase + UInt32(i) * 4096
            guard links[i] > 0 else { throw corrupt("shadow table 0x\(String(page, radix: 16)) linked by no root", r.offset) }
            if Self.isShared(key), let g {
                let id = Self.sharedID(guestTable: g, index: index, role: key & 3)
                guard shared[id] == nil else { throw corrupt("shared shadow table 0x\(String(page, radix: 16))", r.offset) }
                shared[id] = page
            }
        }
        let currentAt = r.offset
        let newCurrent = try r.getOptional(UInt32.self).map { Int($0) }
        if let c = newCurrent, c >= newRoots.count { throw corrupt("current shadow root \(c)", currentAt) }
        let clock: UInt64 = try r.get()

        let frames = try r.getCount(limit: poolPages * 1024)
        var reverse: [UInt32: [UInt32]] = [:]
        reverse.reserveCapacity(frames)
        for _ in 0..<frames {
            let frame: UInt32 = try r.get()
            let n = try r.getCount(limit: poolPages * 1024)
            var list: [UInt32] = []
            list.reserveCapacity(n)
            for _ in 0..<n { list.append(try poolEntry(r.offset)) }
            reverse[frame] = list
        }
        let trackedCount = try r.getCount(limit: poolPages)
        var newTracked: [UInt32: Tracked] = [:]
        for _ in 0..<trackedCount {
            let frame: UInt32 = try r.get()
            var t = Tracked()
            let n = try r.getCount(limit: poolPages)
            for _ in 0..<n { t.shadows.append(try poolPage(r.offset)) }
            let writesAt = r.offset
            let writes: UInt64 = try r.get()
            guard writes <= UInt64(Self.floodThreshold) + 1 else { throw corrupt("write count \(writes)", writesAt) }
            t.writesSinceUse = Int(writes)
            t.unsync = try r.getBool()
            newTracked[frame] = t
        }
        let unsyncAt = r.offset
        let unsyncCount = try r.getCount(limit: trackedCount)
        var newUnsync: [UInt32] = []
        for _ in 0..<unsyncCount {
            let frame: UInt32 = try r.get()
            guard newTracked[frame]?.unsync == true, !newUnsync.contains(frame) else {
                throw corrupt("out-of-sync frame 0x\(String(frame, radix: 16))", unsyncAt)
            }
            newUnsync.append(frame)
        }
        guard newUnsync.count == newTracked.values.filter({ $0.unsync }).count else {
            throw corrupt("out-of-sync frame list", unsyncAt)
        }
        let pendingCount = try r.getCount(limit: Self.maxPendingFrames)
        var pending: [UInt32] = []
        var pendingBytes: [ArraySlice<UInt8>] = []
        for _ in 0..<pendingCount {
            let at = r.offset
            let frame: UInt32 = try r.get()
            guard frame & 0xFFF == 0, UInt64(frame) + 4096 <= UInt64(memory.size) else { throw corrupt("pending table frame", at) }
            pending.append(frame)
            let b = try r.getBytes(limit: 4096)
            guard b.count == 4096 else { throw corrupt("pending table snapshot", at) }
            pendingBytes.append(b)
        }
        let newControls = GuestPageWalk.Controls(cr3: try r.get(), wp: try r.getBool(), pse: try r.getBool(),
                                                 pge: try r.getBool())
        let paging = try r.getBool()
        let unsyncAllowed = try r.getBool()
        var large = [UInt32](repeating: 0, count: 32)
        for i in 0..<32 { large[i] = try r.get() }
        var s = Stats()
        s.hiddenFaults = try r.get(); s.trueFaults = try r.get()
        s.entriesCreated = try r.get(); s.entriesZapped = try r.get()
        s.writeProtectFaults = try r.get(); s.floodedTables = try r.get()
        s.cr3Switches = try r.get(); s.rootCacheHits = try r.get()
        s.invlpg = try r.get(); s.resets = try r.get()
        s.pteWrites = try r.get(); s.pteUpdated = try r.get(); s.prefetched = try r.get()
        s.pagesZapped = try r.get(); s.cacheMisses = try r.get(); s.recycled = try r.get()
        s.unsynced = try r.get(); s.tablesShared = try r.get()
        let sharing = try r.getBool()
        s.pagesInUse = Int(try r.get(UInt32.self))
        s.peakPagesInUse = Int(try r.get(UInt32.self))
        guard s.pagesInUse == used, s.peakPagesInUse >= used, s.peakPagesInUse <= poolPages else {
            throw corrupt("shadow page counts", r.offset)
        }

        return {
            self.freePages = free
            self.pages = kinds
            self.roots = newRoots
            self.linkCounts = links
            self.sharedTables = shared
            self.current = newCurrent
            self.useClock = clock
            self.reverseMap.removeAll()
            for (frame, list) in reverse { self.reverseMap[frame] = list }
            self.tracked.removeAll()
            for (frame, t) in newTracked { self.tracked[frame] = t }
            self.unsyncFrames = newUnsync
            self.pendingFrames.removeAll(keepingCapacity: true)
            self.pendingFrames.append(contentsOf: pending)
            for (k, b) in pendingBytes.enumerated() {
                b.withUnsafeBytes { (self.snapshots + k * 4096).copyMemory(from: $0.baseAddress!, byteCount: 4096) }
            }
            self.controls = newControls
            self.pagingEnabled = paging
            self.allowUnsync = unsyncAllowed
            self.largeSlots = large
            self.shareTables = sharing
            self.stats = s
        }
    }
}
