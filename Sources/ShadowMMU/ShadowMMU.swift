import X86Core

/// Shadow page tables (the VMM's, before EPT): the CPU's walker reads only tables this class
/// builds in the VMM's private memory, filled lazily from the guest's tables and kept in sync
/// with them, so the guest cannot tell it from a CPU walking its own tables.
///
/// - A walk that fails in the shadow reaches `pageFault(linear:code:)` (the CPU's page-fault
///   hook, at the point of the fault): the guest tables are walked in software; if they allow the
///   access the shadow entry is filled (a hidden fault, with the guest's A/D bits set as hardware
///   sets them), else the guest takes #PF with the error code hardware would give (a true fault).
/// - Shadow PTEs stay read-only until the guest's D bit is set, so the first write is seen.
/// - Guest frames that hold shadowed page tables are tracked: every shadow mapping of them is
///   read-only (`ShadowMMU+Sync.swift`). A guest store to one is done by the CPU for the VMM
///   (`.emulateStore`) and the shadow entries built from what changed are updated or zapped;
///   a store the CPU cannot hand over is compared with a page snapshot at the next boundary. A
///   leaf table goes out of sync at its first write instead (the guest then writes it freely;
///   INVLPG and CR3 writes resync it). A table written too often without being used is dropped
///   (write flooding), and shadowed again on its next use.
/// - A hidden fill prefetches neighbouring entries the guest has already accessed.
/// - Roots are cached by guest CR3 (`rootCacheSize`), and shadow tables are shared between
///   roots that map the same guest table at the same slot with the same rights, so switching
///   among address spaces keeps their shadows. Shadow memory is a fixed pool; when it runs out
///   the least recently used roots are dropped, and in the end everything (`reset`), which only
///   costs refills.
public final class ShadowMMU {
    let cpu: CPU
    let memory: PhysicalMemory
    /// First byte of the pool (the VMM's private memory) and its size in pages.
    let poolBase: UInt32
    public let poolPages: Int
    var freePages: [UInt32] = []
    /// Per pool page: what it shadows (nil = free).
    var pages: [ShadowPage?]
    var roots: [Root] = []
    var current: Int? = nil
    var useClock: UInt64 = 0
    public static let rootCacheSize = 8
    /// Guest frame → the shadow PTEs (physical addresses) that map it.
    var reverseMap: FrameTable<[UInt32]>
    /// Guest frames holding shadowed tables → their bookkeeping.
    var tracked: FrameTable<Tracked>
    /// Page-table pages the guest is writing in the current instruction; their old contents are
    /// in `snapshots` (page k at k * 4096), compared at the next instruction boundary.
    var pendingFrames: [UInt32] = []
    /// Guest frames the owner traces writes to (`watch(frames:)`): kept read-only in every
    /// shadow, each store emulated, `watchedWrite` called at the next instruction boundary.
    public internal(set) var watchedFrames: Set<UInt32> = []
    /// Called at the instruction boundary after a store to a watched frame.
    public var watchedWrite: (() -> Void)? = nil
    var watchedDirty = false
    /// The frames `finishTableWrites` is working through (swapped with `pendingFrames`).
    var finishingFrames: [UInt32] = []
    static let maxPendingFrames = 8
    let snapshots = UnsafeMutableRawPointer.allocate(byteCount: 4096 * ShadowMMU.maxPendingFrames, alignment: 64)
    /// Guest frames now out of sync, in the order they went out of sync.
    var unsyncFrames: [UInt32] = []
    /// Let written leaf tables go out of sync (`--shadow-unsync`, on by default).
    public var allowUnsync = true
    /// One bit per PD slot: some shadow table for that slot was built from a guest 4 MiB page
    /// since the last reset. The real CR4.PSE is off, so the TLB holds such a page as 4 KiB
    /// pieces, and an INVLPG there must drop them all (SDM Vol. 3A §4.10.4.1), even pieces
    /// cached (global) from another address space's tables.
    var largeSlots = [UInt32](repeating: 0, count: 32)
    /// Shared shadow tables by `sharedID` (looked up only when an address space links a slot).
    var sharedTables: [UInt64: UInt32] = [:]
    /// Per pool page: how many roots link this shadow table (1 unless shared).
    var linkCounts: [Int32]
    /// Share shadow tables between address spaces (on by default).
    public var shareTables = true
    /// Set while shadow pages are freed because the pool ran dry (counted as recycled).
    var recycling = false
    /// The two guest entries an emulated store can change, as they were before it.
    var emulatedOld: (UInt32, UInt32) = (0, 0)
    /// The shadow table the last `install` wrote into (prefetch fills its neighbours).
    var lastInstalledTable: UInt32 = 0
    /// Shadow PTEs a hidden fill looks at for prefetch: its aligned group (KVM uses 8).
    static let prefetchGroup = 8
    /// Writes to a tracked table without a fill through it before it is dropped.
    public static let floodThreshold = 8
    public internal(set) var controls = GuestPageWalk.Controls(cr3: 0, wp: false, pse: false, pge: false)
    public internal(set) var pagingEnabled = false
    public internal(set) var stats = Stats()
    /// Guest-physical addresses at or above this are not guest RAM: shadows send them to
    /// `holeFrame` unless they are device MMIO (above `mmioStart`).
    let guestTop: UInt32
    /// A frame nothing decodes: 0xFFFFF000, or, when a firmware ROM covers that page (`--bios`),
    /// the first frame past all RAM (below 0xF0000000, where no device lives).
    public let holeFrame: UInt32
    static let defaultHoleFrame: UInt32 = 0xFFFF_F000
    static let mmioStart: UInt32 = 0xF000_0000
    /// Called for every fault the hook sees (the VMM counts and traces them).
    public var observer: ((FaultEvent) -> Void)? = nil
    /// A page-directory slot the VMM keeps for itself in every address space (classic
    /// virtualization maps its shadow descriptor tables there), and the PDE it holds. The guest's
    /// own entry for that slot is never shadowed: its accesses there fault with action "reserved".
    public var reservedSlot: (index: UInt16, pde: UInt32)? = nil {
        didSet { reset() }
    }

    struct Root {
        /// Guest CR3 (page-aligned), or `identityKey` for guest paging off.
        var key: UInt32
        var page: UInt32
        var tables = SlotTable()
        var lastUse: UInt64
    }
    static let identityKey: UInt32 = 0xFFFF_FFFF
    /// The `rootKey` of a shared shadow table: `sharedKeyBase | role` (no guest CR3 or the
    /// identity key looks like it: CR3 keys are page-aligned).
    static let sharedKeyBase: UInt32 = 0xFFFF_FFF0
    static func sharedKey(role: UInt32) -> UInt32 { sharedKeyBase | role }
    static func isShared(_ key: UInt32) -> Bool { key & ~3 == sharedKeyBase }
    /// What a shadow PT's entries depend on besides the guest PTEs: the PDE's R/W (bit 0) and
    /// U/S (bit 1). (CR0.WP, CR4.PSE/PGE are global: a change drops every shadow.)
    static func role(pde: UInt32) -> UInt32 { (pde >> 1) & 3 }
    static func sharedID(guestTable: UInt32, index: UInt16, role: UInt32) -> UInt64 {
        UInt64(guestTable) << 16 | UInt64(index) << 2 | UInt64(role)
    }

    enum ShadowPage {
        case directory(rootKey: UInt32)
        /// A shadow PT: for PD slot `index` of the root with `rootKey`, shadowing guest PT
        /// `guestTable` (nil for a 4 MiB guest page or the identity map).
        case table(rootKey: UInt32, index: UInt16, guestTable: UInt32?)
    }

    struct Tracked {
        /// Shadow pages built from this guest frame (a PD's root page, PTs' table pages), in
        /// ascending order (a handful: an array beats a set, and the order is deterministic).
        var shadows: [UInt32] = []
        var writesSinceUse = 0
        /// Out of sync (KVM's unsync pages): a leaf table the guest writes directly, without
        /// write protection; its shadow entries are brought back in line at INVLPG and CR3 writes,
        /// the points where hardware must stop using stale translations.
        var unsync = false
    }

    public struct Stats: Sendable {
        public var hiddenFaults: UInt64 = 0
        public var trueFaults: UInt64 = 0
        public var entriesCreated: UInt64 = 0
        public var entriesZapped: UInt64 = 0
        public var writeProtectFaults: UInt64 = 0
        public var floodedTables: UInt64 = 0
        public var cr3Switches: UInt64 = 0
        public var rootCacheHits: UInt64 = 0
        public var invlpg: UInt64 = 0
        public var resets: UInt64 = 0
        /// Stores to shadowed tables that were synced entry by entry (KVM's mmu_pte_write).
        public var pteWrites: UInt64 = 0
        /// Shadow PTEs rebuilt from a written guest PTE instead of zapped (mmu_pte_updated).
        public var pteUpdated: UInt64 = 0
        /// Shadow PTEs filled next to a hidden fault's, from guest PTEs already accessed (prefetch).
        public var prefetched: UInt64 = 0
        /// Shadow pages (directories and tables) freed (mmu_shadow_zapped).
        public var pagesZapped: UInt64 = 0
        /// Links of an address space's PD slot to a shadow table another one built.
        public var tablesShared: UInt64 = 0
        /// Leaf tables let out of sync instead of write-protected (mmu_unsync).
        public var unsynced: UInt64 = 0
        /// Shadow pages built because none was cached for that guest table (mmu_cache_miss).
        public var cacheMisses: UInt64 = 0
        /// Shadow pages freed to make room when the pool ran dry (mmu_recycled).
        public var recycled: UInt64 = 0
        public var pagesInUse = 0
        public var peakPagesInUse = 0
    }

    /// One page fault as the hook saw it.
    public struct FaultEvent: Sendable {
        public var linear: UInt32
        /// The shadow walker's error code, and the guest's when delivered.
        public var shadowCode: UInt32
        public var guestCode: UInt32?
        public var walk: GuestPageWalk?
        /// "fill", "dirty", "write-protect", "identity", "deliver", "evict".
        public var action: String
    }

    /// `pool`: the VMM's private memory (after guest RAM), in pages.
    public init(cpu: CPU, poolPages: Int) {
        self.cpu = cpu
        memory = cpu.memory
        poolBase = memory.guestSize
        guestTop = memory.guestSize
        holeFrame = memory.region(at: Self.defaultHoleFrame) == nil ? Self.defaultHoleFrame : memory.size
        let available = Int((memory.size - memory.guestSize) / 4096)
        precondition(poolPages >= 8 && poolPages <= available, "the shadow pool needs 8+ pages of private memory")
        self.poolPages = poolPages
        pages = [ShadowPage?](repeating: nil, count: poolPages)
        linkCounts = [Int32](repeating: 0, count: poolPages)
        reverseMap = FrameTable(frames: Int(memory.guestSize >> 12))
        tracked = FrameTable(frames: Int(memory.guestSize >> 12))
        pendingFrames.reserveCapacity(Self.maxPendingFrames)
        finishingFrames.reserveCapacity(Self.maxPendingFrames)
        freePages = (0..<UInt32(poolPages)).reversed().map { poolBase + $0 * 4096 }
    }

    deinit { snapshots.deallocate() }

    // MARK: Pool

    func allocate(_ what: ShadowPage) -> UInt32? {
        guard let page = freePages.popLast() else { return nil }
        memory.ram.advanced(by: Int(page)).initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        pages[Int((page - poolBase) / 4096)] = what
        stats.cacheMisses += 1
        stats.pagesInUse += 1
        stats.peakPagesInUse = max(stats.peakPagesInUse, stats.pagesInUse)
        return page
    }

    func release(_ page: UInt32) {
        pages[Int((page - poolBase) / 4096)] = nil
        freePages.append(page)
        stats.pagesZapped += 1
        if recycling { stats.recycled += 1 }
        stats.pagesInUse -= 1
    }

    func info(_ page: UInt32) -> ShadowPage? { pages[Int((page - poolBase) / 4096)] }

    // MARK: Guest control registers

    /// The guest's CR0/CR3/CR4 changed (a VMM exit): reload the shadow for them. A change of
    /// PG, WP, PSE or PGE drops every shadow (they encode those bits); a CR3 change switches root.
    public func guestControlRegistersChanged(cr0: UInt32, cr3: UInt32, cr4: UInt32) {
        let paging = cr0 & CR0.pg != 0 && cr0 & CR0.pe != 0
        let c = GuestPageWalk.Controls(cr0: cr0, cr3: cr3, cr4: cr4)
        // Every MOV to CR3 (and CR0/CR4 write) flushes the TLB: out-of-sync tables catch up.
        if !unsyncFrames.isEmpty { syncUnsyncFrames() }
        if paging != pagingEnabled || c.wp != controls.wp || c.pse != controls.pse || c.pge != controls.pge {
            reset()
        } else if c.cr3 != controls.cr3 {
            stats.cr3Switches += 1
        }
        pagingEnabled = paging
        controls = c
        activateRoot()
    }

    /// A guest MOV to CR3 with CR0 and CR4 unchanged (the common case, an address-space
    /// switch): what `guestControlRegistersChanged` does for it, without re-deriving the rest.
    public func guestCR3Changed(_ cr3: UInt32) {
        if !unsyncFrames.isEmpty { syncUnsyncFrames() }
        let key = cr3 & 0xFFFF_F000
        if key != controls.cr3 {
            stats.cr3Switches += 1
            controls.cr3 = key
        }
        activateRoot()
    }

    /// Makes the root for the current guest CR3 (or the identity root) the walker's root.
    func activateRoot() {
        let key = pagingEnabled ? controls.cr3 : Self.identityKey
        useClock += 1
        if let c = current, roots[c].key == key {
            // A reload of the same CR3 (flushes the TLB, keeps the shadow): no search.
            roots[c].lastUse = useClock
            stats.rootCacheHits += 1
        } else if let i = rootIndex(key) {
            roots[i].lastUse = useClock
            current = i
            stats.rootCacheHits += 1
        } else {
            if roots.count >= Self.rootCacheSize { dropLeastRecentlyUsedRoot(keeping: nil) }
            var page = allocate(.directory(rootKey: key))
            if page == nil {
                recycling = true
                reset()
                recycling = false
                page = allocate(.directory(rootKey: key))
            }
            if let r = reservedSlot { memory.write32(page! + UInt32(r.index) * 4, r.pde) }
            roots.append(Root(key: key, page: page!, lastUse: useClock))
            current = roots.count - 1
            if key != Self.identityKey { track(frame: key, shadow: page!) }
        }
        cpu.writeCR3(roots[current!].page)
    }

    /// Whether guest frame `frame` is a leaf table out of sync (the guest writes it directly;
    /// its shadow entries catch up at INVLPG and CR3 writes). For the debugger's views.
    public func isOutOfSync(frame: UInt32) -> Bool { tracked.isUnsync(frame & 0xFFFF_F000) }

    /// The cached root for `key` (at most `rootCacheSize`: a plain scan of the keys).
    func rootIndex(_ key: UInt32) -> Int? {
        var i = 0
        while i < roots.count {
            if roots[i].key == key { return i }
            i += 1
        }
        return nil
    }

    /// Drops every shadow (a paging-mode change, or the pool ran dry).
    public func reset() {
        for r in roots { freeRoot(r) }
        roots.removeAll()
        current = nil
        reverseMap.removeAll()
        tracked.removeAll()
        unsyncFrames.removeAll(keepingCapacity: true)
        sharedTables.removeAll()  // already empty: the last unlink of each freed it
        for i in 0..<32 { largeSlots[i] = 0 }
        pendingFrames.removeAll(keepingCapacity: true)
        stats.resets += 1
        cpu.flushTLB()
    }

    func freeRoot(_ r: Root) {
        // In slot order: the pool's free list (and so every later allocation) must not depend on
        // the hash seed.
        for slot in r.tables.keys.sorted() { unlinkTable(r.tables[slot]!) }
        if r.key != Self.identityKey { untrack(frame: r.key, shadow: r.page) }
        release(r.page)
    }

    func dropLeastRecentlyUsedRoot(keeping keep: Int?) {
        var victim: Int? = nil
        for (i, r) in roots.enumerated() where i != keep {
            if victim == nil || r.lastUse < roots[victim!].lastUse { victim = i }
        }
        guard let v = victim else { return }
        freeRoot(roots[v])
        roots.remove(at: v)
        if let c = current { current = c > v ? c - 1 : (c == v ? nil : c) }
        cpu.flushTLB()
    }
}
