#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One 4 KiB page of a `RAMImage`: immutable once captured, so images share it freely.
public final class RAMPage: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer

    init(copying source: UnsafeRawPointer) {
        bytes = .allocate(byteCount: RAMImage.pageSize, alignment: 64)
        bytes.copyMemory(from: source, byteCount: RAMImage.pageSize)
    }

    deinit { bytes.deallocate() }

    /// The page's bytes (read-only: other images may share them).
    public var contents: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes, count: RAMImage.pageSize) }
}

/// The contents of a `PhysicalMemory` (guest RAM and the owner's private memory after it, where
/// the shadow MMU keeps its tables) as a list of 4 KiB pages: nil for an all-zero page, else a
/// shared, immutable `RAMPage`.
///
/// Capturing against a `previous` image compares each page with the previous image's page
/// (memcmp) and reuses that object when they are equal, so a series of snapshots (the debugger's
/// history) costs only the pages that changed between them; zero pages cost nothing. Restoring
/// compares before it copies, so only pages that differ are written (and untouched zero pages of
/// a fresh machine stay unmapped). In a file an image is sparse: the non-zero pages, each with its
/// index (docs/formats.md, "Machine snapshots").
public struct RAMImage: Sendable {
    public static let pageSize = 4096
    /// Page n holds bytes n × 4096 … n × 4096 + 4095; nil = all zero.
    public private(set) var pages: [RAMPage?]
    /// Pages this image allocated when it was captured or read (the ones it does not share with
    /// the `previous` image).
    public private(set) var newPages: Int

    public var pageCount: Int { pages.count }
    public var nonZeroPages: Int { pages.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }
    /// Bytes this image holds that the previous one did not (page data and the page list).
    public var unsharedBytes: Int { newPages * Self.pageSize + pages.count * MemoryLayout<RAMPage?>.stride }

    nonisolated(unsafe) static let zeroPage: UnsafeRawPointer = {
        let p = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: pageSize)
        return UnsafeRawPointer(p)
    }()

    @inline(__always) static func isZero(_ p: UnsafeRawPointer) -> Bool {
        memcmp(p, zeroPage, pageSize) == 0
    }

    /// Which pages of `memory` the host has never backed (Linux `/proc/self/pagemap`: neither
    /// present nor swapped). Such a page of the anonymous mapping reads as zeros, and skipping
    /// it saves the page fault a read would take (1.5 µs each here: 50 ms for 128 MiB). nil when
    /// the map cannot be read; then every page is read.
    static func untouchedPages(_ memory: PhysicalMemory) -> [Bool]? {
        guard pagemapWorks else { return nil }
        return pagemapEntries(memory.ram, count: Int(memory.size) / pageSize)?.map { $0 >> 62 == 0 }
    }

    /// Linux's pagemap entries (bit 63: present in RAM, bit 62: in swap) of `count` pages at `start`.
    static func pagemapEntries(_ start: UnsafeMutableRawPointer, count: Int) -> [UInt64]? {
        #if os(Linux)
        guard count > 0, Int(getpagesize()) == pageSize else { return nil }
        let fd = open("/proc/self/pagemap", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var entries = [UInt64](repeating: 0, count: count)
        let want = count * 8
        let got = entries.withUnsafeMutableBytes { buffer -> Int in
            var done = 0
            let base = off_t(UInt(bitPattern: start) / UInt(pageSize) * 8)
            while done < want {
                let n = pread(fd, buffer.baseAddress! + done, want - done, base + off_t(done))
                if n <= 0 { break }
                done += n
            }
            return done
        }
        return got == want ? entries : nil
        #else
        return nil
        #endif
    }

    /// The map says what it should about two fresh pages, one written and one not (a kernel that
    /// hides the flags would make every page look untouched).
    static let pagemapWorks: Bool = {
        #if os(Linux)
        guard let p = mmap(nil, 2 * pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else { return false }
        defer { munmap(p, 2 * pageSize) }
        p.storeBytes(of: 1, as: UInt8.self)
        guard let e = pagemapEntries(p, count: 2) else { return false }
        return e[0] >> 63 == 1 && e[1] >> 62 == 0
        #else
        return false
        #endif
    }()

    /// Copies `memory` (all of it: guest RAM and private memory), sharing every page that is
    /// unchanged since `previous` (an image of the same memory).
    public static func capture(_ memory: PhysicalMemory, previous: RAMImage? = nil) -> RAMImage {
        let count = Int(memory.size) / pageSize
        let prior = previous.flatMap { $0.pages.count == count ? $0.pages : nil }
        let untouched = untouchedPages(memory)
        var pages = [RAMPage?](repeating: nil, count: count)
        var fresh = 0
        for i in 0..<count {
            if let untouched, untouched[i] { continue }
            let p = UnsafeRawPointer(memory.ram + i * pageSize)
            if let prior, let old = prior[i], memcmp(old.bytes, p, pageSize) == 0 {
                pages[i] = old
            } else if !isZero(p) {
                pages[i] = RAMPage(copying: p)
                fresh += 1
            }
        }
        return RAMImage(pages: pages, newPages: fresh)
    }

    /// Writes the image back into `memory` (of the same size), touching only pages that differ.
    public func restore(into memory: PhysicalMemory) {
        precondition(Int(memory.size) / Self.pageSize == pages.count, "a RAM image restores into memory of its own size")
        let untouched = Self.untouchedPages(memory)
        for (i, page) in pages.enumerated() {
            let p = memory.ram + i * Self.pageSize
            if page == nil, let untouched, untouched[i] { continue }
            if let page {
                if memcmp(p, page.bytes, Self.pageSize) != 0 {
                    memory.pageReplaced(UInt32(i * Self.pageSize))
                    p.copyMemory(from: page.bytes, byteCount: Self.pageSize)
                }
            } else if !Self.isZero(p) {
                memory.pageReplaced(UInt32(i * Self.pageSize))
                p.initializeMemory(as: UInt8.self, repeating: 0, count: Self.pageSize)
            }
        }
    }

    /// True when `memory` holds exactly this image.
    public func matches(_ memory: PhysicalMemory) -> Bool {
        guard Int(memory.size) / Self.pageSize == pages.count else { return false }
        for (i, page) in pages.enumerated() {
            let p = memory.ram + i * Self.pageSize
            if !(page.map { memcmp(p, $0.bytes, Self.pageSize) == 0 } ?? Self.isZero(p)) { return false }
        }
        return true
    }

    /// True when both images hold the same bytes (shared pages are not compared).
    public func hasSameContents(as other: RAMImage) -> Bool {
        guard pages.count == other.pages.count else { return false }
        for (a, b) in zip(pages, other.pages) where a !== b {
            guard let a, let b, memcmp(a.bytes, b.bytes, Self.pageSize) == 0 else { return false }
        }
        return true
    }

    /// Section "RAM ": the page count, the number of non-zero pages, then each non-zero page as
    /// its index (u32) and its 4096 bytes (length-prefixed).
    public func write(to w: inout StateWriter) {
        w.tag("RAM ")
        w.put(UInt32(pages.count))
        w.put(UInt32(nonZeroPages))
        for (i, page) in pages.enumerated() {
            guard let page else { continue }
            w.put(UInt32(i))
            w.put(bytes: page.contents)
        }
    }

    /// Reads a "RAM " section for a memory of `pageCount` pages. Pages must come in ascending
    /// order, each at most once.
    public static func read(from r: inout StateReader, pageCount: Int) throws(StateError) -> RAMImage {
        try r.expect("RAM ")
        let count = Int(try r.get(UInt32.self))
        guard count == pageCount else {
            throw StateError("snapshot corrupt: RAM image of \(count) pages for a memory of \(pageCount)")
        }
        let present = try r.getCount(limit: pageCount)
        var pages = [RAMPage?](repeating: nil, count: pageCount)
        var next = 0
        for _ in 0..<present {
            let at = r.offset
            let index = Int(try r.get(UInt32.self))
            guard index >= next, index < pageCount else {
                throw StateError("snapshot corrupt: RAM page \(index) out of order at byte \(at)")
            }
            let bytes = try r.getBytes(limit: pageSize)
            guard bytes.count == pageSize else { throw StateError("snapshot corrupt: RAM page \(index) of \(bytes.count) bytes") }
            let page = bytes.withUnsafeBytes { RAMPage(copying: $0.baseAddress!) }
            if !isZero(page.bytes) { pages[index] = page }
            next = index + 1
        }
        return RAMImage(pages: pages, newPages: pages.reduce(0) { $0 + ($1 == nil ? 0 : 1) })
    }
}
