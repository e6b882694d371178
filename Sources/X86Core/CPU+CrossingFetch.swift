import X86Decode

/// An instruction that starts in the last 15 bytes of a page, cached with its bytes.
///
///     key      physical address of the first byte | (CS.D << 32); UInt64.max = empty
///     first    how many of its bytes lie in the first page (the rest in the next linear page,
///              wherever that maps)
///     bytes    its bytes (up to 15), compared with memory on every use
struct CrossingInstruction {
    var key: UInt64 = .max
    var first: UInt8 = 0
    var bytes: (UInt64, UInt64) = (0, 0)

    static let slots = 256
}

/// The fetch of an instruction in the last 15 bytes of a page goes through a small cache of its
/// own instead of decoding every time: the decoded cache compares 16 bytes of one physical page,
/// which such an instruction does not have. A hit compares the bytes in the first page and, only
/// when the instruction extends past it, translates the next page (exactly when a fresh decode
/// would: the first page's bytes are the same, so the decoder would ask for more) and compares
/// the bytes there. Self-modifying code is seen as by the decoded cache: by comparing bytes.
extension CPU {
    /// The slot for `phys`; its decoded instruction is at the same index of `crossingDecoded`.
    @inline(__always)
    func crossingSlot(_ phys: UInt32) -> Int {
        Int((phys ^ (phys >> 12)) & UInt32(CrossingInstruction.slots - 1))
    }

    /// The cached instruction at `linear` (first byte at `phys`, plain RAM), or nil to decode.
    func crossingLookup(linear: UInt32, phys: UInt32, big: Bool) throws(Fault) -> UnsafePointer<DecodedInstruction>? {
        let slot = crossingSlot(phys)
        let e = crossing + slot
        guard e.pointee.key == UInt64(phys) | (big ? 1 << 32 : 0) else { return nil }
        let length = Int(crossingDecoded[slot].length)
        let inPage = 0x1000 - Int(linear & 0xFFF)
        guard Int(e.pointee.first) == min(length, inPage) else { return nil }
        let matches: Bool = withUnsafeBytes(of: &e.pointee.bytes) { cached in
            for i in 0..<min(length, inPage) where memory.read8(phys &+ UInt32(i)) != cached[i] { return false }
            return true
        }
        guard matches else { return nil }
        if length > inPage {
            let p2 = try translate(linear &+ UInt32(inPage), write: false, user: s.pointee.cpl == 3, fetch: true)
            guard memory.isPlainRAMPage(p2 & 0xFFFF_F000) else { return nil }
            let rest: Bool = withUnsafeBytes(of: &e.pointee.bytes) { cached in
                for i in inPage..<length where memory.read8(p2 &+ UInt32(i - inPage)) != cached[i] { return false }
                return true
            }
            guard rest else { return nil }
        }
        return UnsafePointer(crossingDecoded + slot)
    }

    /// Keeps `d` (just decoded by `fetchSlow` at `linear`) for the next fetch there.
    func crossingStore(_ d: DecodedInstruction, linear: UInt32, phys: UInt32, big: Bool) -> UnsafePointer<DecodedInstruction> {
        let slot = crossingSlot(phys)
        let length = Int(d.length)
        let inPage = 0x1000 - Int(linear & 0xFFF)
        crossingDecoded[slot] = d
        var entry = CrossingInstruction(key: UInt64(phys) | (big ? 1 << 32 : 0), first: UInt8(min(length, inPage)),
                                        bytes: (0, 0))
        // The bytes as the decoder saw them: the first page here, the rest through the mapping of
        // the next page (translated by `fetchSlow` a moment ago: the walk has no side effect).
        var p2: UInt32? = nil
        if length > inPage {
            p2 = peekTranslation(linear &+ UInt32(inPage), user: s.pointee.cpl == 3)
            // Only plain RAM is compared later; anything else is decoded every time, as before.
            if let p = p2, !memory.isPlainRAMPage(p & 0xFFFF_F000) { p2 = nil }
            if p2 == nil { entry.key = .max }
        }
        withUnsafeMutableBytes(of: &entry.bytes) { b in
            for i in 0..<min(length, 15) {
                if i < inPage { b[i] = memory.read8(phys &+ UInt32(i)) }
                else if let p2 { b[i] = memory.read8(p2 &+ UInt32(i - inPage)) }
            }
        }
        crossing[slot] = entry
        return UnsafePointer(crossingDecoded + slot)
    }
}
