/// The multiboot loader's view of guest RAM: what the E820 map calls RAM, minus what is
/// already taken (kernel segments, the loader's structures, modules, and the IVT and BDA the
/// firmware just wrote). Segments are checked against it; everything else is allocated from it.
struct FreeSpace {
    let ram: [Range<UInt64>]
    let reserved: [(range: Range<UInt64>, name: String)]
    let memorySize: UInt32
    private(set) var used: [Range<UInt64>]

    init(image: FirmwareImage, memorySize: UInt32) {
        self.memorySize = memorySize
        ram = image.e820.ram
        let top = image.layout.topRegion
        reserved = [
            (UInt64(FirmwareLayout.ebda) ..< UInt64(FirmwareLayout.holeStart), "the EBDA at 0x9fc00–0x9ffff"),
            (UInt64(FirmwareLayout.holeStart) ..< UInt64(FirmwareLayout.holeEnd), "the 640 KiB–1 MiB hole"),
            (UInt64(top.lowerBound) ..< UInt64(top.upperBound),
             "the ACPI tables at 0x\(String(top.lowerBound, radix: 16))–0x\(String(top.upperBound &- 1, radix: 16))"),
        ]
        // The IVT and BDA: a kernel may load over them (they are RAM in the map, as under
        // SeaBIOS), but the loader puts nothing of its own there.
        used = [0 ..< UInt64(FirmwareLayout.bda) + UInt64(FirmwareLayout.bdaSize)]
    }

    static func describe(_ at: UInt32, _ size: UInt32) -> String {
        "0x\(String(at, radix: 16)) (\(size) bytes)"
    }

    /// Checks that a kernel segment lies in RAM and overlaps no other segment, and takes it.
    mutating func claimSegment(at address: UInt32, size: UInt32) throws(MultibootLoader.LoadError) {
        let r = UInt64(address) ..< UInt64(address) + UInt64(size)
        let what = "image at " + Self.describe(address, size)
        guard r.upperBound <= UInt64(memorySize) else {
            throw .init(description: "\(what) does not fit in \(memorySize >> 20) MiB of guest memory")
        }
        if let bad = reserved.first(where: { $0.range.overlaps(r) }) {
            throw .init(description: "\(what) overlaps \(bad.name)")
        }
        if let other = used.dropFirst().first(where: { $0.overlaps(r) }) {
            throw .init(description: "\(what) overlaps the segment at 0x\(String(other.lowerBound, radix: 16))")
        }
        used.append(r)
    }

    /// Marks `r` as taken (the loader's structures at QEMU's fixed low addresses).
    mutating func take(_ r: Range<UInt64>) { used.append(r) }

    /// True if `r` is RAM and nothing has been put there.
    func isFree(_ r: Range<UInt64>) -> Bool {
        ram.contains { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound }
            && !used.contains { $0.overlaps(r) }
    }

    /// Takes `size` bytes at the first free page boundary at or after `after` (then anywhere
    /// above 1 MiB, then below), and returns the address.
    mutating func claim(size: UInt64, after: UInt64, what: String) throws(MultibootLoader.LoadError) -> UInt32 {
        for start in [after, 0x10_0000, 0] {
            if let at = firstFit(size: size, from: start) {
                used.append(at ..< at + size)
                return UInt32(at)
            }
        }
        throw .init(description: "\(what) does not fit in \(memorySize >> 20) MiB of guest memory")
    }

    private func firstFit(size: UInt64, from start: UInt64) -> UInt64? {
        let page = MultibootLoader.pageSize
        for r in ram.sorted(by: { $0.lowerBound < $1.lowerBound }) where r.upperBound > start {
            var at = (max(start, r.lowerBound) + page - 1) & ~(page - 1)
            while at + size <= r.upperBound {
                guard let hit = used.first(where: { $0.overlaps(at ..< at + size) }) else { return at }
                at = (hit.upperBound + page - 1) & ~(page - 1)
            }
        }
        return nil
    }
}
