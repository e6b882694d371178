import X86Decode

/// XMM and MMX operands: registers, and memory through the segment and paging accessors.
///
/// 8- and 16-byte operands are moved as 4-byte pieces after the whole operand's segment check
/// (and, for a store, a write probe of every byte), so a fault leaves memory and registers as
/// they were. The aligned forms raise #GP(0) when the linear address is not a multiple of 16,
/// in any segment (SDM Vol. 1 §11.6.8, Vol. 3A §6.15 Interrupt 17: #GP, not #SS or #AC), after
/// the segment check (Bochs's order). Alignment checking (#AC) beyond the 4-byte pieces': an
/// 8-byte operand must be 8-byte aligned; 16-byte unaligned forms are checked only piecewise
/// (the SDM leaves them implementation-specific).
extension CPU {
    // MARK: Registers

    @inline(__always) func xmm(_ i: Int) -> XMMRegister { s.pointee.fpu.xmm[i] }
    @inline(__always) func setXMM(_ i: Int, _ v: XMMRegister) { s.pointee.fpu.xmm[i] = v }

    /// MMn is the significand of physical x87 register Rn (SDM Vol. 1 §9.5).
    @inline(__always) func mmx(_ i: Int) -> UInt64 { s.pointee.fpu.registers[i].significand }

    /// An MMX write also sets Rn's sign and exponent to all ones (SDM Vol. 3A §12.2).
    @inline(__always) func setMMX(_ i: Int, _ v: UInt64) {
        s.pointee.fpu.registers[i] = X87Register(significand: v, signExponent: 0xFFFF)
    }

    // MARK: Memory

    /// The linear address of the ModRM memory operand, `size` bytes, checked for the access.
    /// A store is probed whole here, so the pieces written after cannot fault.
    func simdAddress(_ d: InstructionRef, size: Int, write: Bool, aligned: Bool) throws(Fault) -> UInt32 {
        let (seg, offset) = effectiveAddress(d)
        let linear = try segmentAddress(seg, offset, size: size, write: write)
        if aligned && linear & UInt32(size - 1) != 0 { throw Fault.gp(0) }
        let user = userMode
        if size == 8 && user && s.pointee.userBank == 2 { try alignmentCheck(linear, size: 8) }
        if write { try probeWrite(linear, size: size, user: user) }
        return linear
    }

    func readLinear64(_ linear: UInt32) throws(Fault) -> UInt64 {
        let user = userMode
        let low = try readLinear(linear, size: 4, user: user)
        let high = try readLinear(linear &+ 4, size: 4, user: user)
        return UInt64(low) | UInt64(high) << 32
    }

    func writeLinear64(_ linear: UInt32, _ v: UInt64) throws(Fault) {
        let user = userMode
        try writeLinear(linear, size: 4, value: UInt32(truncatingIfNeeded: v), user: user)
        try writeLinear(linear &+ 4, size: 4, value: UInt32(truncatingIfNeeded: v >> 32), user: user)
    }

    /// Reads `size` (4, 8 or 16) bytes of the memory operand, zero-extended.
    func readSIMDMemory(_ d: InstructionRef, size: Int, aligned: Bool = false) throws(Fault) -> XMMRegister {
        let linear = try simdAddress(d, size: size, write: false, aligned: aligned)
        switch size {
        case 4: return XMMRegister(low: UInt64(try readLinear(linear, size: 4, user: userMode)))
        case 8: return XMMRegister(low: try readLinear64(linear))
        default:
            let low = try readLinear64(linear)
            return XMMRegister(low: low, high: try readLinear64(linear &+ 8))
        }
    }

    /// Writes the low `size` (4, 8 or 16) bytes of `v` to the memory operand.
    func writeSIMDMemory(_ d: InstructionRef, size: Int, aligned: Bool = false, _ v: XMMRegister) throws(Fault) {
        let linear = try simdAddress(d, size: size, write: true, aligned: aligned)
        switch size {
        case 4: try writeLinear(linear, size: 4, value: UInt32(truncatingIfNeeded: v.low), user: userMode)
        case 8: try writeLinear64(linear, v.low)
        default:
            try writeLinear64(linear, v.low)
            try writeLinear64(linear &+ 8, v.high)
        }
    }

    // MARK: ModRM operands

    /// W: XMM register rm, or `size` bytes of memory zero-extended (16-byte reads aligned
    /// unless `unaligned`).
    func xmmSource(_ d: InstructionRef, size: Int, unaligned: Bool = false) throws(Fault) -> XMMRegister {
        if d.modrm >= 0xC0 { return xmm(Int(d.modrm & 7)) }
        return try readSIMDMemory(d, size: size, aligned: size == 16 && !unaligned)
    }

    /// Q: MMX register rm, or `size` (4 or 8) bytes of memory zero-extended.
    func mmxSource(_ d: InstructionRef, size: Int = 8) throws(Fault) -> UInt64 {
        if d.modrm >= 0xC0 { return mmx(Int(d.modrm & 7)) }
        return try readSIMDMemory(d, size: size).low
    }

    /// E (doubleword): general register rm or m32.
    func dwordSource(_ d: InstructionRef) throws(Fault) -> UInt32 {
        if d.modrm >= 0xC0 { return gpr[Int(d.modrm & 7)] }
        let (seg, offset) = effectiveAddress(d)
        return try read(seg, offset, size: 4)
    }
}
