/// Linear and segmented memory access. The fast path is one TLB compare and a load from RAM;
/// page crossings, TLB misses, MMIO and unusual segments take `@inline(never)` slow paths that
/// raise the exact fault before any byte is written.
extension CPU {
    @inline(__always) var userMode: Bool { s.pointee.cpl == 3 }

    // MARK: Linear

    @inline(__always)
    func readLinear(_ lin: UInt32, size: Int, user: Bool) throws(Fault) -> UInt32 {
        let slot = tlbSlots[SoftTLB.index(lin, bank: user ? Int(s.pointee.userBank) : 0)]
        if Int(lin & 0xFFF) <= 0x1000 - size && slot.readTag == lin & 0xFFFF_F000 {
            let p = Int(slot.physPage | (lin & 0xFFF))
            switch size {
            case 1: return UInt32(ram.load(fromByteOffset: p, as: UInt8.self))
            case 2: return UInt32(ram.loadUnaligned(fromByteOffset: p, as: UInt16.self))
            default: return ram.loadUnaligned(fromByteOffset: p, as: UInt32.self)
            }
        }
        return try readLinearSlow(lin, size: size, user: user)
    }

    @inline(__always)
    func writeLinear(_ lin: UInt32, size: Int, value: UInt32, user: Bool) throws(Fault) {
        let slot = tlbSlots[SoftTLB.index(lin, bank: user ? Int(s.pointee.userBank) : 0)]
        if Int(lin & 0xFFF) <= 0x1000 - size && slot.writeTag == lin & 0xFFFF_F000 {
            let p = Int(slot.physPage | (lin & 0xFFF))
            switch size {
            case 1: ram.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: p, as: UInt8.self)
            case 2: ram.storeBytes(of: UInt16(truncatingIfNeeded: value), toByteOffset: p, as: UInt16.self)
            default: ram.storeBytes(of: value, toByteOffset: p, as: UInt32.self)
            }
            return
        }
        try writeLinearSlow(lin, size: size, value: value, user: user)
    }

    @inline(never)
    func readLinearSlow(_ lin: UInt32, size: Int, user: Bool) throws(Fault) -> UInt32 {
        if user && s.pointee.userBank == 2 { try alignmentCheck(lin, size: size) }
        if s.pointee.dr[7] & 0xFF != 0 { noteDataBreakpoint(lin, size: size, write: false) }
        if hasOwnerWatches { noteOwnerWatch(lin, size: size, write: false) }
        let inPage = 0x1000 - Int(lin & 0xFFF)
        if size <= inPage {
            let p = try translate(lin, write: false, user: user)
            return memory.read(p, size: size)
        }
        // Crosses a page: translate both before reading.
        let p1 = try translate(lin, write: false, user: user)
        let p2 = try translate(lin &+ UInt32(inPage), write: false, user: user)
        var v: UInt32 = 0
        for i in 0..<size {
            let b = i < inPage ? memory.read8(p1 &+ UInt32(i)) : memory.read8(p2 &+ UInt32(i - inPage))
            v |= UInt32(b) << (8 * i)
        }
        return v
    }

    @inline(never)
    func writeLinearSlow(_ lin: UInt32, size: Int, value: UInt32, user: Bool) throws(Fault) {
        if user && s.pointee.userBank == 2 { try alignmentCheck(lin, size: size) }
        if s.pointee.dr[7] & 0xFF != 0 { noteDataBreakpoint(lin, size: size, write: true) }
        if hasOwnerWatches { noteOwnerWatch(lin, size: size, write: true, value: value) }
        let inPage = 0x1000 - Int(lin & 0xFFF)
        let slot = tlbSlots[SoftTLB.index(lin, bank: user ? Int(s.pointee.userBank) : 0)]
        if size <= inPage && slot.writeTag == (lin & 0xFFFF_F000) | SoftTLB.codeTagBit {
            // A cached translation of a page that holds blocks: the store is as on the fast
            // path, and the blocks it overwrites go (the block engine's write tracking).
            let p = slot.physPage | (lin & 0xFFF)
            memory.noteStore(p, size, by: .guest)
            memory.write(p, size: size, value: value)
            return
        }
        if size <= inPage {
            translatingStore = true
            let p: UInt32
            do { p = try translate(lin, write: true, user: user) } catch {
                translatingStore = false
                throw error
            }
            translatingStore = false
            if traceWrites { noteTracedWrite(lin, p, size: size, value: value) }
            if p < memory.size { memory.noteStore(p, size, by: .guest) }
            memory.write(p, size: size, value: value)
            if emulatedStorePending {
                emulatedStorePending = false
                emulatedStoreHandler?(p, size)
            }
            return
        }
        // Both pages must be writable before any byte is (no partial writes on a fault).
        let p1 = try translate(lin, write: true, user: user)
        let p2 = try translate(lin &+ UInt32(inPage), write: true, user: user)
        if traceWrites { noteTracedWrite(lin, p1, size: size, value: value) }
        if p1 < memory.size { memory.noteStore(p1, inPage, by: .guest) }
        if p2 < memory.size { memory.noteStore(p2, size - inPage, by: .guest) }
        for i in 0..<size {
            let b = UInt8(truncatingIfNeeded: value >> (8 * i))
            if i < inPage { memory.write8(p1 &+ UInt32(i), b) } else { memory.write8(p2 &+ UInt32(i - inPage), b) }
        }
    }

    /// Makes sure `size` bytes at `lin` are writable (translating with write intent, so D is
    /// set) without writing: used before multi-part stores so that none is partial.
    @inline(__always)
    func probeWrite(_ lin: UInt32, size: Int, user: Bool) throws(Fault) {
        let slot = tlbSlots[SoftTLB.index(lin, bank: user ? Int(s.pointee.userBank) : 0)]
        if Int(lin & 0xFFF) <= 0x1000 - size && slot.writeTag & ~SoftTLB.codeTagBit == lin & 0xFFFF_F000 { return }
        let inPage = 0x1000 - Int(lin & 0xFFF)
        _ = try translate(lin, write: true, user: user)
        if size > inPage { _ = try translate(lin &+ UInt32(inPage), write: true, user: user) }
    }

    // MARK: System accesses (descriptor tables, TSS, interrupt stacks are supervisor accesses)

    func readSystem(_ lin: UInt32, size: Int) throws(Fault) -> UInt32 {
        try readLinear(lin, size: size, user: false)
    }
    func writeSystem(_ lin: UInt32, size: Int, value: UInt32) throws(Fault) {
        try writeLinear(lin, size: size, value: value, user: false)
    }

    // MARK: Segmented

    /// Linear address of `size` bytes at `offset` in segment `seg` for a read, or the exact
    /// #GP/#SS when the segment does not allow it (SDM Vol. 3A §5.3, §5.4).
    @inline(__always)
    func readAddress(_ seg: Int, _ offset: UInt32, size: Int) throws(Fault) -> UInt32 {
        try segmentAddress(seg, offset, size: size, write: false)
    }

    @inline(__always)
    func writeAddress(_ seg: Int, _ offset: UInt32, size: Int) throws(Fault) -> UInt32 {
        try segmentAddress(seg, offset, size: size, write: true)
    }

    @inline(__always)
    func segmentAddress(_ seg: Int, _ offset: UInt32, size: Int, write: Bool) throws(Fault) -> UInt32 {
        let sc = s.pointee.segments[seg]
        let last = offset &+ UInt32(size - 1)
        let needed = write ? SegmentAccess.write : SegmentAccess.read
        if sc.access & needed == 0 || last > sc.limit || last < offset {
            try segmentCheckSlow(seg, offset, size: size, write: write)
        }
        return sc.base &+ offset
    }

    @inline(never)
    func segmentCheckSlow(_ seg: Int, _ offset: UInt32, size: Int, write: Bool) throws(Fault) {
        let sc = s.pointee.segments[seg]
        let isStack = seg == SegmentRegister.ss.rawValue
        let fault: Fault = isStack ? .ss(0) : .gp(0)
        if s.pointee.cr0 & CR0.pe == 0 {
            // Real mode: only the limit applies.
            let last = UInt64(offset) + UInt64(size - 1)
            if last > UInt64(sc.limit) { throw fault }
            return
        }
        // A null selector in a data segment register faults on use (SDM Vol. 3A §5.4.1).
        if sc.selector & 0xFFFC == 0 && !isStack && sc.attributes & 0x80 == 0 { throw Fault.gp(0) }
        if sc.attributes & 0x80 == 0 { throw fault }
        let type = sc.type
        if type & 8 != 0 {
            // Code segment: never writable, readable only if R.
            if write || type & 2 == 0 { throw fault }
        } else if write && type & 2 == 0 {
            throw fault
        }
        let last = UInt64(offset) + UInt64(size - 1)
        if type & 8 == 0 && type & 4 != 0 {
            // Expand-down: valid offsets are limit+1 … 0xFFFF or 0xFFFFFFFF (by the B bit).
            let upper: UInt64 = sc.big ? 0xFFFF_FFFF : 0xFFFF
            if UInt64(offset) <= UInt64(sc.limit) || last > upper { throw fault }
        } else if last > UInt64(sc.limit) {
            throw fault
        }
    }

    @inline(__always)
    func read8(_ seg: Int, _ offset: UInt32) throws(Fault) -> UInt32 {
        try readLinear(try readAddress(seg, offset, size: 1), size: 1, user: userMode)
    }
    @inline(__always)
    func read16(_ seg: Int, _ offset: UInt32) throws(Fault) -> UInt32 {
        try readLinear(try readAddress(seg, offset, size: 2), size: 2, user: userMode)
    }
    @inline(__always)
    func read32(_ seg: Int, _ offset: UInt32) throws(Fault) -> UInt32 {
        try readLinear(try readAddress(seg, offset, size: 4), size: 4, user: userMode)
    }
    @inline(__always)
    func read(_ seg: Int, _ offset: UInt32, size: Int) throws(Fault) -> UInt32 {
        try readLinear(try readAddress(seg, offset, size: size), size: size, user: userMode)
    }
    @inline(__always)
    func write(_ seg: Int, _ offset: UInt32, size: Int, _ value: UInt32) throws(Fault) {
        try writeLinear(try writeAddress(seg, offset, size: size), size: size, value: value, user: userMode)
    }
}

/// Data breakpoints (DR0–DR3 with R/W = 01 write or 11 read/write; SDM Vol. 3A §17.2.4–17.2.5).
/// Pages holding an enabled data breakpoint are kept out of the soft TLB, so every access to
/// them reaches the slow path, which records hits; `slowStep` raises the #DB trap afterwards.
extension CPU {
    /// The enabled data breakpoints' (address, length) — or nil if none is enabled.
    @inline(__always)
    func dataBreakpoint(_ i: Int) -> (UInt32, UInt32, Bool)? {
        let dr7 = s.pointee.dr[7]
        guard dr7 & (3 << UInt32(2 * i)) != 0 else { return nil }
        let rw = (dr7 >> (16 + 4 * UInt32(i))) & 3
        guard rw == 1 || rw == 3 else { return nil }
        let lenBits = (dr7 >> (18 + 4 * UInt32(i))) & 3
        let length: UInt32 = lenBits == 0 ? 1 : lenBits == 1 ? 2 : 4
        return (s.pointee.dr[i] & ~(length - 1), length, rw == 3)
    }

    func noteDataBreakpoint(_ lin: UInt32, size: Int, write: Bool) {
        for i in 0..<4 {
            guard let (address, length, readsToo) = dataBreakpoint(i), write || readsToo else { continue }
            let end = UInt64(lin) + UInt64(size)
            if UInt64(address) < end && UInt64(lin) < UInt64(address) + UInt64(length) {
                dataBreakpointHits |= 1 << UInt32(i)
            }
        }
    }

    /// True if the page of `linear` holds an enabled data breakpoint (never cache it).
    func pageHasDataBreakpoint(_ linear: UInt32) -> Bool {
        if hasOwnerWatches && pageHasOwnerWatch(linear) { return true }
        guard s.pointee.dr[7] & 0xFF != 0 else { return false }
        for i in 0..<4 {
            if let (address, _, _) = dataBreakpoint(i), address & 0xFFFF_F000 == linear & 0xFFFF_F000 { return true }
        }
        return false
    }
}

/// Alignment checking (CR0.AM, EFLAGS.AC, CPL 3; SDM Vol. 3A §6.15 interrupt 17). While it is
/// active, CPL-3 accesses use TLB bank 2, which is never filled, so each one reaches the slow
/// path that checks alignment; the fast path pays nothing otherwise.
extension CPU {
    func alignmentCheck(_ lin: UInt32, size: Int) throws(Fault) {
        if size > 1 && lin & UInt32(size - 1) != 0 { throw Fault.exception(Vector.alignmentCheck, errorCode: 0) }
    }

    /// Recomputes which TLB bank CPL-3 accesses use (call after EFLAGS.AC or CR0.AM changes).
    @inline(__always)
    func updateAlignmentCheck() {
        let st = s
        let active = st.pointee.cr0 & CR0.am != 0 && st.pointee.flags & EFLAGS.ac != 0
        st.pointee.userBank = active ? 2 : 1
    }
}
