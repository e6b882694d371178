import X86Decode

/// Register and ModRM operand access (SDM Vol. 2A §2.1.5, Tables 2-1 and 2-2).
extension CPU {
    // MARK: Registers

    @inline(__always)
    func reg(_ r: Int, size: Int) -> UInt32 {
        switch size {
        case 1: return UInt32(UnsafeRawPointer(gpr).load(fromByteOffset: (r & 3) * 4 + (r >> 2), as: UInt8.self))
        case 2: return gpr[r] & 0xFFFF
        default: return gpr[r]
        }
    }

    @inline(__always)
    func setReg(_ r: Int, size: Int, _ v: UInt32) {
        switch size {
        case 1:
            UnsafeMutableRawPointer(gpr).storeBytes(of: UInt8(truncatingIfNeeded: v),
                                                    toByteOffset: (r & 3) * 4 + (r >> 2), as: UInt8.self)
        case 2:
            UnsafeMutableRawPointer(gpr).storeBytes(of: UInt16(truncatingIfNeeded: v),
                                                    toByteOffset: r * 4, as: UInt16.self)
        default: gpr[r] = v
        }
    }

    // MARK: Effective address

    /// Segment register number and offset of a ModRM memory operand (mod != 3).
    @inline(__always)
    func effectiveAddress(_ d: InstructionRef) -> (seg: Int, offset: UInt32) {
        var seg = SegmentRegister.ds.rawValue
        var offset: UInt32
        let mod = d.modrm >> 6
        let rm = Int(d.modrm & 7)
        if d.addressSize32 {
            if rm == 4 {
                let sib = d.sib
                let base = Int(sib & 7)
                let index = Int((sib >> 3) & 7)
                if base == 5 && mod == 0 {
                    offset = d.displacement
                } else {
                    offset = gpr[base] &+ d.displacement
                    if base == 4 || base == 5 { seg = SegmentRegister.ss.rawValue }
                }
                if index != 4 { offset = offset &+ (gpr[index] << (sib >> 6)) }
            } else if rm == 5 && mod == 0 {
                offset = d.displacement
            } else {
                offset = gpr[rm] &+ d.displacement
                if rm == 5 { seg = SegmentRegister.ss.rawValue }
            }
        } else {
            switch rm {
            case 0: offset = gpr[3] &+ gpr[6]
            case 1: offset = gpr[3] &+ gpr[7]
            case 2: offset = gpr[5] &+ gpr[6]; seg = SegmentRegister.ss.rawValue
            case 3: offset = gpr[5] &+ gpr[7]; seg = SegmentRegister.ss.rawValue
            case 4: offset = gpr[6]
            case 5: offset = gpr[7]
            case 6:
                if mod == 0 { offset = 0 } else { offset = gpr[5]; seg = SegmentRegister.ss.rawValue }
            default: offset = gpr[3]
            }
            offset = (offset &+ d.displacement) & 0xFFFF
        }
        if d.segment != .none { seg = Int(d.segment.rawValue) - 1 }
        return (seg, offset)
    }

    /// The data segment for string sources and moffs: DS unless overridden.
    @inline(__always)
    func dataSegment(_ d: InstructionRef) -> Int {
        d.segment == .none ? SegmentRegister.ds.rawValue : Int(d.segment.rawValue) - 1
    }

    // MARK: E operands

    @inline(__always)
    func readE(_ d: InstructionRef, size: Int) throws(Fault) -> UInt32 {
        if d.modrm >= 0xC0 { return reg(Int(d.modrm & 7), size: size) }
        let (seg, off) = effectiveAddress(d)
        return try read(seg, off, size: size)
    }

    @inline(__always)
    func writeE(_ d: InstructionRef, size: Int, _ v: UInt32) throws(Fault) {
        if d.modrm >= 0xC0 { setReg(Int(d.modrm & 7), size: size, v); return }
        let (seg, off) = effectiveAddress(d)
        try write(seg, off, size: size, v)
    }

    /// For read-modify-write: the linear address of a memory E operand, checked for writing
    /// (segment rights and page write permission, so a read-only page faults with W=1 before
    /// anything is read or any A bit set), or nil for a register operand.
    @inline(__always)
    func rmwAddress(_ d: InstructionRef, size: Int) throws(Fault) -> UInt32 {
        let (seg, off) = effectiveAddress(d)
        let lin = try writeAddress(seg, off, size: size)
        try probeWrite(lin, size: size, user: userMode)
        return lin
    }

    // MARK: Stack (SDM Vol. 1 §6.2: SS.B selects ESP or SP)

    @inline(__always) var stack32: Bool { s.pointee.segments[2].big }

    @inline(__always)
    func push(_ v: UInt32, size: Int) throws(Fault) {
        let esp = gpr[4]
        if stack32 {
            let new = esp &- UInt32(size)
            try write(2, new, size: size, v)
            gpr[4] = new
        } else {
            let new = (esp &- UInt32(size)) & 0xFFFF
            try write(2, new, size: size, v)
            gpr[4] = (esp & 0xFFFF_0000) | new
        }
    }

    /// Reads the value on top of the stack at `depth` bytes below ESP without popping.
    @inline(__always)
    func peekStack(size: Int, depth: UInt32 = 0) throws(Fault) -> UInt32 {
        let esp = gpr[4]
        let off = stack32 ? esp &+ depth : (esp &+ depth) & 0xFFFF
        return try read(2, off, size: size)
    }

    /// Adds `n` to ESP (or SP).
    @inline(__always)
    func adjustStack(_ n: UInt32) {
        let esp = gpr[4]
        gpr[4] = stack32 ? esp &+ n : (esp & 0xFFFF_0000) | ((esp &+ n) & 0xFFFF)
    }

    @inline(__always)
    func pop(size: Int) throws(Fault) -> UInt32 {
        let v = try peekStack(size: size)
        adjustStack(UInt32(size))
        return v
    }
}
