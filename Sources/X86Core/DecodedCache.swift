import X86Decode

/// One decoded-instruction cache slot, keyed by physical address and code size.
///
/// A hit is validated by comparing the instruction's bytes (up to 15, as two masked 64-bit words)
/// with guest RAM now, so code rewritten by the guest, by DMA or by the VMM is always decoded
/// afresh without tracking writes (blink's approach; see docs/interpreter.md).
struct CachedInstruction {
    /// Physical address of the first byte, with bit 0 of `key`'s upper half holding the mode:
    /// `UInt64(phys) | mode32 << 32`. `UInt64.max` = empty.
    var key: UInt64 = .max
    var bytesLow: UInt64 = 0
    var bytesHigh: UInt64 = 0
    var maskLow: UInt64 = 0
    var maskHigh: UInt64 = 0
    var instruction = DecodedInstruction()

    /// Byte offset of `instruction` (a constant, so the hot path does no lazy-global check;
    /// a test compares it with `MemoryLayout.offset(of:)`).
    static var instructionOffset: Int { 40 }
}

/// The cache proper: direct-mapped, power-of-two size, allocated once.
struct DecodedCache {
    static let slots = 1 << 15
    static let indexMask = UInt32(slots - 1)
    let entries: UnsafeMutablePointer<CachedInstruction>

    init() {
        entries = .allocate(capacity: Self.slots)
        entries.initialize(repeating: CachedInstruction(), count: Self.slots)
    }

    func deallocate() { entries.deallocate() }

    @inline(__always) static func index(_ phys: UInt32) -> Int {
        Int((phys ^ (phys >> 15)) & indexMask)
    }

    /// Masks selecting the first `length` bytes of a 16-byte window.
    @inline(__always) static func masks(length: Int) -> (UInt64, UInt64) {
        if length >= 16 { return (.max, .max) }
        if length > 8 { return (.max, (1 << UInt64(8 * (length - 8))) &- 1) }
        if length == 8 { return (.max, 0) }
        return ((1 << UInt64(8 * length)) &- 1, 0)
    }

    func clear() {
        for i in 0..<Self.slots { entries[i].key = .max }
    }
}

extension CPU {
    /// For the layout test: the hard-coded offset matches the compiler's.
    public static var cachedInstructionOffsetIsConsistent: Bool {
        MemoryLayout<CachedInstruction>.offset(of: \CachedInstruction.instruction) == CachedInstruction.instructionOffset
    }
}
