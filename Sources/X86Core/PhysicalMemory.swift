#if canImport(Glibc)
import Glibc
#endif

/// A device that owns a range of physical addresses (the local APIC, the I/O APIC…). Called only
/// from the MMU's slow path: pages that hold MMIO are never entered into the soft TLB.
open class MMIORegion {
    public let base: UInt32
    public let size: UInt32
    public init(base: UInt32, size: UInt32) { self.base = base; self.size = size }
    /// Read `size` (1, 2 or 4) bytes at `offset` from `base`.
    open func read(offset: UInt32, size: Int) -> UInt32 { 0xFFFF_FFFF }
    open func write(offset: UInt32, size: Int, value: UInt32) {}
}

/// Guest-physical memory: one flat RAM buffer from address 0, plus MMIO regions. Reads outside
/// RAM and MMIO return all ones and writes there are dropped, as on a PC bus with nothing
/// decoding the address; nothing the guest does reaches host memory outside the buffer.
public final class PhysicalMemory {
    /// Host address of guest-physical 0. The buffer has `guardBytes` of slack after `size` so
    /// that a 16-byte instruction compare at the last byte stays inside the allocation.
    public let ram: UnsafeMutableRawPointer
    /// All RAM: the guest's and the owner's private part after it.
    public let size: UInt32
    /// The RAM the guest is told about (multiboot, CMOS); private memory starts here.
    public let guestSize: UInt32
    public private(set) var regions: [MMIORegion] = []
    static let guardBytes = 64
    /// Which pages hold the block engine's blocks (see CodePages.swift).
    let code: CodePages
    /// `code.stamps`, for the inlinable `write32` (bit 0: the page holds blocks).
    @usableFromInline let codeStamps: UnsafeMutablePointer<UInt32>

    /// `size` bytes of guest RAM, followed by `privateBytes` that only the owner uses (the shadow
    /// MMU keeps its page tables there: the CPU's walker can read them, and the owner never maps
    /// them into the guest).
    public init(size: Int, privateBytes: Int = 0) {
        precondition(size > 0 && size <= 0xC000_0000 && size % 4096 == 0,
                     "guest RAM must be a positive multiple of 4 KiB up to 3 GiB")
        precondition(privateBytes >= 0 && privateBytes % 4096 == 0 && size + privateBytes <= 0xF000_0000)
        self.size = UInt32(size + privateBytes)
        guestSize = UInt32(size)
        // Anonymous mmap: page-aligned and zero-filled lazily, so a 3 GiB guest costs only the
        // pages it touches.
        mappedBytes = size + privateBytes + Self.guardBytes
        guard let p = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else {
            fatalError("cannot reserve \(size >> 20) MiB of guest memory")
        }
        ram = p
        code = CodePages(pages: (size + privateBytes) >> 12)
        codeStamps = code.stamps
    }

    private let mappedBytes: Int

    deinit {
        munmap(ram, mappedBytes)
        code.deallocate()
    }

    public func add(_ region: MMIORegion) {
        regions.append(region)
        regions.sort { $0.base < $1.base }
    }

    /// The MMIO region containing `address`, if any.
    @inline(never)
    public func region(at address: UInt32) -> MMIORegion? {
        for r in regions where address >= r.base && address &- r.base < r.size { return r }
        return nil
    }

    /// True when the whole 4 KiB page at `page` is plain RAM (it may enter the soft TLB).
    @inline(__always)
    func isPlainRAMPage(_ page: UInt32) -> Bool {
        guard page < size else { return false }
        if regions.isEmpty { return true }
        return !regions.contains { page &+ 0xFFF >= $0.base && page < $0.base &+ $0.size }
    }

    // MARK: Byte-granular access by physical address (slow path and tools)

    public func read8(_ address: UInt32) -> UInt8 {
        if address < size { return ram.load(fromByteOffset: Int(address), as: UInt8.self) }
        if let r = region(at: address) { return UInt8(truncatingIfNeeded: r.read(offset: address &- r.base, size: 1)) }
        return 0xFF
    }

    public func write8(_ address: UInt32, _ value: UInt8) {
        if address < size {
            noteStore(address, 1)
            ram.storeBytes(of: value, toByteOffset: Int(address), as: UInt8.self)
            return
        }
        if let r = region(at: address) { r.write(offset: address &- r.base, size: 1, value: UInt32(value)) }
    }

    /// Reads `size` bytes (1, 2, 4) at a physical address that does not cross a page.
    public func read(_ address: UInt32, size n: Int) -> UInt32 {
        if address < size && Int(address) + n <= Int(size) {
            switch n {
            case 1: return UInt32(ram.load(fromByteOffset: Int(address), as: UInt8.self))
            case 2: return UInt32(ram.loadUnaligned(fromByteOffset: Int(address), as: UInt16.self))
            default: return ram.loadUnaligned(fromByteOffset: Int(address), as: UInt32.self)
            }
        }
        if let r = region(at: address) { return r.read(offset: address &- r.base, size: n) & maskFor(UInt8(n >> 1)) }
        var v: UInt32 = 0
        for i in 0..<n { v |= UInt32(read8(address &+ UInt32(i))) << (8 * i) }
        return v
    }

    public func write(_ address: UInt32, size n: Int, value: UInt32) {
        if address < size && Int(address) + n <= Int(size) {
            noteStore(address, n)
            switch n {
            case 1: ram.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: Int(address), as: UInt8.self)
            case 2: ram.storeBytes(of: UInt16(truncatingIfNeeded: value), toByteOffset: Int(address), as: UInt16.self)
            default: ram.storeBytes(of: value, toByteOffset: Int(address), as: UInt32.self)
            }
            return
        }
        if let r = region(at: address) {
            // Only the bytes written: a device (and the exit trace) must not see whatever the
            // engine left above a 1- or 2-byte store's value.
            let v = n >= 4 ? value : value & ((1 << (UInt32(n) * 8)) &- 1)
            r.write(offset: address &- r.base, size: n, value: v)
            return
        }
        for i in 0..<n { write8(address &+ UInt32(i), UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }

    /// Inlinable for the shadow MMU, which reads and writes table entries on every fault: the
    /// RAM case is one load or store in the caller; the rest goes through `read`/`write`.
    @inlinable
    public func read32(_ address: UInt32) -> UInt32 {
        if address < size && size &- address >= 4 { return ram.loadUnaligned(fromByteOffset: Int(address), as: UInt32.self) }
        return read(address, size: 4)
    }

    @inlinable
    public func write32(_ address: UInt32, _ value: UInt32) {
        if address < size && size &- address >= 4 {
            if codeStamps[Int(address >> 12)] & 1 != 0 || codeStamps[Int((address &+ 3) >> 12)] & 1 != 0 {
                codeStoreByOther(address, 4)
            }
            ram.storeBytes(of: value, toByteOffset: Int(address), as: UInt32.self)
            return
        }
        write(address, size: 4, value: value)
    }

    /// Copies bytes in (a loader or DMA). Bytes beyond RAM are dropped.
    public func load(bytes: [UInt8], at address: UInt32) {
        for (i, b) in bytes.enumerated() { write8(address &+ UInt32(truncatingIfNeeded: i), b) }
    }

    /// Copies bytes out (tools, tests).
    public func bytes(at address: UInt32, count: Int) -> [UInt8] {
        (0..<count).map { read8(address &+ UInt32(truncatingIfNeeded: $0)) }
    }
}
