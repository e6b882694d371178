/// Write tracking for the block engine (QEMU's TB invalidation, by page): which RAM pages hold
/// predecoded blocks, and a generation per page that every block remembers.
///
/// A block is valid while its page's stamp equals the stamp it was built with. A store that
/// overlaps the bytes blocks were built from (the CPU's, a device's, the VMM's, the page
/// walker's A/D update, a snapshot restore) bumps the generation, so every block of that page
/// dies at once without a list of blocks to visit. The soft TLB never gives the fast store path a
/// code page (`SoftTLB.codeTagBit`), so each CPU store to one reaches `PhysicalMemory` here.
///
/// The interpreter engine never marks a page, so all of this costs it one test per slow-path store.
struct CodePages {
    /// Per RAM page: generation << 1 | 1 while the page holds blocks.
    let stamps: UnsafeMutablePointer<UInt32>
    /// Per RAM page: the byte range blocks were built from, `first | end << 16` (end exclusive),
    /// so stores to data that shares a page with code do not throw the code away.
    let ranges: UnsafeMutablePointer<UInt32>
    /// Set to 1 by anything that may invalidate the block now running or the translation it was
    /// entered with (a code-page store, any soft-TLB change, `attention`): the block engine stops
    /// after the current instruction. Shared with the CPU and its TLB.
    let blockBreak: UnsafeMutablePointer<UInt8>
    let pages: Int
    /// Invalidations by cause (see `CodeInvalidationCounts`).
    let counts: UnsafeMutablePointer<CodeInvalidationCounts>

    init(pages: Int) {
        self.pages = pages
        stamps = .allocate(capacity: max(pages, 1))
        stamps.initialize(repeating: 0, count: max(pages, 1))
        ranges = .allocate(capacity: max(pages, 1))
        ranges.initialize(repeating: 0, count: max(pages, 1))
        blockBreak = .allocate(capacity: 1)
        blockBreak.initialize(to: 0)
        counts = .allocate(capacity: 1)
        counts.initialize(to: CodeInvalidationCounts())
    }

    func deallocate() {
        stamps.deallocate()
        ranges.deallocate()
        blockBreak.deallocate()
        counts.deallocate()
    }

    /// True while `page` (a physical page address in RAM) holds blocks.
    @inline(__always) func holdsCode(_ page: UInt32) -> Bool {
        stamps[Int(page >> 12)] & 1 != 0
    }
}

/// How many times a page's blocks were thrown away, by who wrote to them.
public struct CodeInvalidationCounts: Sendable, Equatable {
    /// A guest store through the CPU (self-modifying code).
    public var guestStores: UInt64 = 0
    /// Any other write through `PhysicalMemory`: devices, the VMM, the shadow MMU, A/D updates.
    public var otherWrites: UInt64 = 0
    /// Whole-page replacements: snapshot restore, guest loading.
    public var restores: UInt64 = 0
    public init() {}
}

/// Who is writing, for the counters.
enum CodeWriter { case guest, other, restore }

extension PhysicalMemory {
    /// A write of `n` bytes at `address` (below `size`) is about to happen: if it overlaps blocks, they
    /// are invalidated. Checks the last byte's page too (a write may cross a page).
    @inline(__always)
    func noteStore(_ address: UInt32, _ n: Int, by writer: CodeWriter = .other) {
        let last = min(Int((address &+ UInt32(n &- 1)) >> 12), code.pages &- 1)
        if code.stamps[Int(address >> 12)] & 1 != 0 || code.stamps[last] & 1 != 0 {
            codeStore(address, n, by: writer)
        }
    }

    @inline(never)
    func codeStore(_ address: UInt32, _ n: Int, by writer: CodeWriter) {
        let end = UInt64(address) + UInt64(n)
        var page = address & 0xFFFF_F000
        while UInt64(page) < end && page < size {
            let i = Int(page >> 12)
            if code.stamps[i] & 1 != 0 {
                let lo = UInt64(page) + UInt64(code.ranges[i] & 0xFFFF)
                let hi = UInt64(page) + UInt64(code.ranges[i] >> 16)
                if UInt64(address) < hi && lo < end { invalidateCode(page: i, by: writer) }
            }
            if page == 0xFFFF_F000 { break }
            page &+= 0x1000
        }
    }

    @usableFromInline @inline(never)
    func codeStoreByOther(_ address: UInt32, _ n: Int) { codeStore(address, n, by: .other) }

    /// Throws away every block of page number `i`.
    func invalidateCode(page i: Int, by writer: CodeWriter) {
        code.stamps[i] = (code.stamps[i] &+ 2) & ~1
        code.ranges[i] = 0
        code.blockBreak.pointee = 1
        switch writer {
        case .guest: code.counts.pointee.guestStores &+= 1
        case .other: code.counts.pointee.otherWrites &+= 1
        case .restore: code.counts.pointee.restores &+= 1
        }
    }

    /// The 4 KiB page at `page` was (or is about to be) overwritten wholesale, bypassing the
    /// access methods (snapshot restore, loaders): its blocks go.
    public func pageReplaced(_ page: UInt32) {
        let i = Int(page >> 12)
        if i < code.pages && code.stamps[i] & 1 != 0 { invalidateCode(page: i, by: .restore) }
    }

    /// `count` bytes at `address` were overwritten directly (tests and tools that poke RAM).
    public func rangeReplaced(_ address: UInt32, count: Int) {
        guard count > 0 else { return }
        let last = min(UInt64(address) + UInt64(count) - 1, UInt64(size) - 1)
        var page = UInt64(address) & ~0xFFF
        while page <= last {
            pageReplaced(UInt32(page))
            page += 0x1000
        }
    }

    /// Every block goes (a loader or a restore that rewrote RAM directly).
    public func allPagesReplaced() {
        for i in 0..<code.pages where code.stamps[i] & 1 != 0 { invalidateCode(page: i, by: .restore) }
    }

    /// Invalidations so far, by cause.
    public var codeInvalidations: CodeInvalidationCounts { code.counts.pointee }

    /// Marks `[first, end)` of page number `i` as holding blocks; returns the page's stamp and
    /// whether the page was not a code page before (the TLB must then stop granting fast writes).
    func markCode(page i: Int, first: UInt32, end: UInt32) -> (stamp: UInt32, newlyCode: Bool) {
        let old = code.stamps[i]
        if old & 1 == 0 {
            code.stamps[i] = old | 1
            code.ranges[i] = first | end << 16
            return (old | 1, true)
        }
        let r = code.ranges[i]
        code.ranges[i] = min(r & 0xFFFF, first) | max(r >> 16, end) << 16
        return (old, false)
    }
}
