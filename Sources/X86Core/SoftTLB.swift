/// One soft-TLB slot. A tag is a linear page address (low 12 bits zero); `invalidTag` (odd)
/// never matches, so "valid and permitted" is one compare.
///
///     readTag   page | 0   when reads (and instruction fetches) may use `physPage`
///     writeTag  page | 0   when writes may: the page is writable for this privilege
///                          and its PTE's D bit is already set
///     physPage  physical page address (plain RAM only: MMIO pages are never entered)
struct TLBEntry {
    var readTag: UInt32 = SoftTLB.invalidTag
    var writeTag: UInt32 = SoftTLB.invalidTag
    var physPage: UInt32 = 0
    /// The translation came from a global PTE/PDE (survives CR3 writes while CR4.PGE = 1).
    var global: Bool = false
}

/// A direct-mapped translation cache in front of the page walker, two banks (supervisor, user)
/// so a privilege change does not flush. Architectural behaviour: filled only from successful
/// walks, flushed by CR3 writes (except global entries), INVLPG and CR0/CR4 paging-mode changes.
/// It caches whatever the walk of `pagingRoot` produced — shadow translations under the VMM.
struct SoftTLB {
    static let entries = 4096
    static let indexMask: UInt32 = UInt32(entries - 1)
    static let invalidTag: UInt32 = 1
    /// Set in a write tag whose page holds the block engine's blocks: the store is allowed (the
    /// translation is cached, exactly as without blocks) but never on the fast path, whose
    /// compare fails, so `writeLinearSlow` sees it and invalidates the blocks it overwrites.
    static let codeTagBit: UInt32 = 2
    static let fillLogCapacity = 1024

    /// `entries` supervisor slots, `entries` user slots, then `entries` never-filled slots used
    /// by CPL-3 accesses while alignment checking is on.
    let slots: UnsafeMutablePointer<TLBEntry>
    /// Slots filled since the last full flush, so a CR3 write touches only those (v86's idea).
    let filled: UnsafeMutablePointer<Int32>
    var filledCount = 0
    /// More fills than `fillLogCapacity`: the next flush walks every slot.
    var overflowed = false

    /// One bit per 4 MiB region of the linear space (1,024 regions): set when a slot of that
    /// region was filled from a 4 MiB page, so INVLPG scans a region only where one can be.
    let largeRegions: UnsafeMutablePointer<UInt32>
    /// The block engine's code pages and its stop flag (see CodePages.swift): every change to
    /// the TLB ends the running block, whose code translation was checked once at its entry.
    let codeStamps: UnsafeMutablePointer<UInt32>
    let blockBreak: UnsafeMutablePointer<UInt8>

    init(code: CodePages) {
        codeStamps = code.stamps
        blockBreak = code.blockBreak
        slots = .allocate(capacity: Self.entries * 3)
        slots.initialize(repeating: TLBEntry(), count: Self.entries * 3)
        filled = .allocate(capacity: Self.fillLogCapacity)
        filled.initialize(repeating: 0, count: Self.fillLogCapacity)
        largeRegions = .allocate(capacity: 32)
        largeRegions.initialize(repeating: 0, count: 32)
    }

    func deallocate() {
        slots.deallocate()
        filled.deallocate()
        largeRegions.deallocate()
    }

    @inline(__always) static func index(_ linear: UInt32, user: Bool) -> Int {
        Int((linear >> 12) & indexMask) | (user ? entries : 0)
    }

    /// Bank 0 supervisor, 1 user, 2 user with alignment checking (always empty).
    @inline(__always) static func index(_ linear: UInt32, bank: Int) -> Int {
        Int((linear >> 12) & indexMask) | (bank &* entries)
    }

    mutating func fill(linear: UInt32, user: Bool, physPage: UInt32, writable: Bool, global: Bool) {
        let i = Self.index(linear, user: user)
        let page = linear & 0xFFFF_F000
        let writeTag = !writable ? Self.invalidTag
            : codeStamps[Int(physPage >> 12)] & 1 != 0 ? page | Self.codeTagBit : page
        slots[i] = TLBEntry(readTag: page, writeTag: writeTag, physPage: physPage, global: global)
        blockBreak.pointee = 1
        if filledCount < Self.fillLogCapacity {
            filled[filledCount] = Int32(i)
            filledCount += 1
        } else {
            overflowed = true
        }
    }

    /// INVLPG: drop both banks' slot for this page (whatever its global bit).
    /// Some entry came from a 4 MiB page since the last full flush: INVLPG must then drop every
    /// 4 KiB slot of the large page around the address (SDM Vol. 3A §4.10.4.1).
    var holdsLargePages = false {
        // Restored as "some large page, region unknown": every region may hold one.
        didSet { if holdsLargePages && !oldValue { largeRegions.update(repeating: ~0, count: 32) } }
    }

    /// A slot at `linear` is being filled from a 4 MiB page.
    mutating func noteLargePage(_ linear: UInt32) {
        if !holdsLargePages {
            holdsLargePages = true
            largeRegions.update(repeating: 0, count: 32)  // the first since a full flush
        }
        largeRegions[Int(linear >> 27)] |= 1 << ((linear >> 22) & 31)
    }

    mutating func invalidate(page linear: UInt32) {
        blockBreak.pointee = 1
        if holdsLargePages && largeRegions[Int(linear >> 27)] & (1 << ((linear >> 22) & 31)) != 0 {
            let base = linear & 0xFFC0_0000
            for i in 0..<UInt32(1024) { invalidateOne(base | i << 12) }
        } else {
            invalidateOne(linear)
        }
    }

    private mutating func invalidateOne(_ linear: UInt32) {
        let page = linear & 0xFFFF_F000
        let i = Self.index(linear, user: false)
        if slots[i].readTag == page || slots[i].writeTag & ~Self.codeTagBit == page { slots[i] = TLBEntry() }
        let u = Self.index(linear, user: true)
        if slots[u].readTag == page || slots[u].writeTag & ~Self.codeTagBit == page { slots[u] = TLBEntry() }
    }

    /// CR3 write: drop everything but global entries (when `keepGlobal`).
    mutating func flush(keepGlobal: Bool) {
        blockBreak.pointee = 1
        if !keepGlobal { holdsLargePages = false }
        if overflowed {
            for i in 0..<(Self.entries * 2) where !(keepGlobal && slots[i].global) { slots[i] = TLBEntry() }
            overflowed = false
            filledCount = 0
            if keepGlobal { relogGlobals() }
            return
        }
        var kept = 0
        for k in 0..<filledCount {
            let i = Int(filled[k])
            if keepGlobal && slots[i].global && slots[i].readTag != Self.invalidTag {
                filled[kept] = Int32(i)
                kept += 1
            } else {
                slots[i] = TLBEntry()
            }
        }
        filledCount = kept
    }

    /// The physical page `physPage` just got its first block: writes to it leave the fast path
    /// (their tags get `codeTagBit`; the translations themselves stay cached).
    func revokeFastWrites(physPage: UInt32) {
        @inline(__always) func revoke(_ i: Int) {
            if slots[i].physPage == physPage && slots[i].writeTag & Self.codeTagBit == 0
                && slots[i].writeTag != Self.invalidTag {
                slots[i].writeTag |= Self.codeTagBit
            }
        }
        if overflowed {
            for i in 0..<(Self.entries * 2) { revoke(i) }
        } else {
            for k in 0..<filledCount { revoke(Int(filled[k])) }
        }
    }

    private mutating func relogGlobals() {
        for i in 0..<(Self.entries * 2) where slots[i].global && slots[i].readTag != Self.invalidTag {
            if filledCount < Self.fillLogCapacity {
                filled[filledCount] = Int32(i)
                filledCount += 1
            } else {
                overflowed = true
            }
        }
    }
}
