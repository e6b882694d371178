import Machine
import X86Core
import X86Decode

/// Binary translation (`--virt=bt`), the fix VMware shipped before VT-x: the classic VMM, but
/// before a block of guest-kernel code first runs it is scanned (decoder + the opcode table's
/// hole column) and every hole in it is made to trap; each trap is emulated exactly against the
/// virtual CPU. Guest user code (ring 3) runs directly, as in VMware's design.
///
/// Here the "translation" marks the holes in a per-instruction map keyed by guest-physical
/// address, consulted before each kernel instruction (`CPU.instructionObserver`); the guest's
/// code bytes are never changed, so a guest reading its own code sees them, and each entry keeps
/// the bytes it was decoded from: a write to scanned code is noticed and the block rescanned.
/// A block ends at a control transfer, at the end of the page, or after 64 instructions.
///
/// A hole is emulated by executing it once "in the guest's view": CPL 0, the guest's own GDT,
/// CS and SS with RPL 0 — exactly what the guest kernel would have run on — and then putting the
/// compressed state back (CPL 1, RPL 1, the shadow GDT). Frames the VMM delivers to the guest
/// kernel get RPL 0 in their CS, so the guest never sees ring 1.
public final class BinaryTranslator {
    public struct Stats: Sendable {
        public var blocksScanned: UInt64 = 0
        /// Hole instructions found (and marked to trap) by the scans.
        public var holesPatched: UInt64 = 0
        /// Holes that trapped and were emulated.
        public var trapsTaken: UInt64 = 0
        /// Scanned code that changed (self-modifying or reloaded code) and was scanned again.
        public var rescans: UInt64 = 0
    }

    struct Entry {
        var hole: Bool
        var length: UInt8
        var bytesLow: UInt64
        var bytesHigh: UInt64
    }

    public internal(set) var stats = Stats()
    var entries: [UInt32: Entry] = [:]
    /// The hole being emulated must not trap again.
    var passThrough = false
    /// The last code page's translation (linear page → physical page), forgotten at every VM
    /// entry (the guest's tables may have changed behind a trap): one software walk per page of
    /// code instead of per instruction.
    var lastPage: (linear: UInt32, physical: UInt32)? = nil
    let decoder = Decoder()

    init() {}

    func bytes(_ memory: PhysicalMemory, _ p: UInt32, _ n: Int) -> (UInt64, UInt64) {
        if Int(p) + 16 <= Int(memory.guestSize) {
            // Whole words, masked to the instruction's length (the decoded cache's trick).
            let lo = memory.ram.loadUnaligned(fromByteOffset: Int(p), as: UInt64.self)
            let hi = memory.ram.loadUnaligned(fromByteOffset: Int(p) + 8, as: UInt64.self)
            let lm: UInt64 = n >= 8 ? ~0 : (1 << (8 * UInt64(n))) - 1
            let hm: UInt64 = n <= 8 ? 0 : n >= 16 ? ~0 : (1 << (8 * UInt64(n - 8))) - 1
            return (lo & lm, hi & hm)
        }
        var lo: UInt64 = 0, hi: UInt64 = 0
        for i in 0..<n {
            let b = UInt64(memory.read8(p &+ UInt32(i)))
            if i < 8 { lo |= b << (8 * i) } else { hi |= b << (8 * (i - 8)) }
        }
        return (lo, hi)
    }

    /// Before a kernel instruction at guest-physical `phys`: scan if needed; trap if it is a hole.
    func shouldTrap(phys: UInt32, big: Bool, memory: PhysicalMemory, umip: Bool) -> Bool {
        if passThrough { return false }
        if let e = entries[phys] {
            let (lo, hi) = bytes(memory, phys, Int(e.length))
            if lo == e.bytesLow && hi == e.bytesHigh { return e.hole }
            stats.rescans &+= 1
        }
        scan(from: phys, big: big, memory: memory, umip: umip)
        return entries[phys]?.hole ?? false
    }

    func scan(from start: UInt32, big: Bool, memory: PhysicalMemory, umip: Bool) {
        stats.blocksScanned &+= 1
        var p = start
        for _ in 0..<64 {
            let left = Int(0x1000 - (p & 0xFFF))
            guard p < memory.guestSize else { return }
            var buffer = [UInt8](repeating: 0, count: 16)
            let n = min(16, left, Int(memory.guestSize - p))
            for i in 0..<n { buffer[i] = memory.read8(p &+ UInt32(i)) }
            var d = DecodedInstruction()
            let status = buffer.withUnsafeBufferPointer { decoder.decode($0.baseAddress!, count: n, mode: big ? .bits32 : .bits16, into: &d) }
            guard status == .ok else { return }  // the CPU raises what it raises; nothing to mark
            let hole = RingCompression.isHole(d, umip: umip) || Self.loadsSegment(d)
            let (lo, hi) = bytes(memory, p, Int(d.length))
            entries[p] = Entry(hole: hole, length: d.length, bytesLow: lo, bytesHigh: hi)
            if hole { stats.holesPatched &+= 1 }
            if OpcodeTable.shared.attributes(row: Int(d.row)).contains(.controlFlow) { return }
            p &+= UInt32(d.length)
            if p & 0xFFF == 0 { return }
        }
    }

    func noteTrap() { stats.trapsTaken &+= 1 }

    /// Segment loads run in the guest's view too: they read the guest's GDT as it is at that
    /// instant (a descriptor the guest just wrote), which the shadow only catches up with at the
    /// next exit.
    static func loadsSegment(_ d: DecodedInstruction) -> Bool {
        if d.map == 0 { return [0x8E, 0x07, 0x17, 0x1F, 0xC4, 0xC5].contains(d.opcode) }
        return d.map == 1 && [0xA1, 0xA9, 0xB2, 0xB4, 0xB5].contains(d.opcode)
    }

    /// At ring 3 (not compressed) the holes that differ are the ones that read the real tables
    /// and registers: SGDT, SIDT, SLDT, STR, SMSW, and LAR, LSL, VERR, VERW (kernel descriptors'
    /// DPL). Control transfers and flag instructions behave at ring 3 as natively.
    func isUserLeak(atPhysical p: UInt32, memory: PhysicalMemory, big: Bool) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { buffer[i] = memory.read8(p &+ UInt32(i)) }
        var d = DecodedInstruction()
        guard buffer.withUnsafeBufferPointer({ decoder.decode($0.baseAddress!, count: 16, mode: big ? .bits32 : .bits16, into: &d) }) == .ok,
              d.map == 1 else { return false }
        switch d.opcode {
        case 0x00: return d.reg <= 1 || d.reg == 4 || d.reg == 5
        case 0x01: return d.reg <= 1 || d.reg == 4
        case 0x02, 0x03: return true
        default: return false
        }
    }
}
