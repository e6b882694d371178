import X86Decode

/// SSE2's 128-bit forms of the MMX integer instructions (66 0F 60–7F, C4, C5, D1–FE), and
/// PSHUFD/PSHUFHW/PSHUFLW, PUNPCKLQDQ/PUNPCKHQDQ, PSLLDQ/PSRLDQ. Lane-local operations run on
/// each 64-bit half with the MMX code (PackedInteger); memory operands are aligned m128.
extension CPU {
    func sse2Integer(_ d: InstructionRef) throws(Fault) {
        let opcode = d.opcode
        let r = Int(d.reg)
        let rm = Int(d.modrm & 7)
        switch opcode {
        case 0x71, 0x72, 0x73:
            let v = xmm(rm)
            let count = UInt64(d.immediate & 0xFF)
            if opcode == 0x73 && (d.reg == 3 || d.reg == 7) {
                setXMM(rm, CPU.byteShift(v, bytes: Int(count), left: d.reg == 7))
                return
            }
            guard let k = PackedInteger.immediateShiftKind(opcode, reg: d.reg) else { throw Fault.ud }
            setXMM(rm, XMMRegister(
                low: PackedInteger.shift(v.low, width: k.width, count: count, right: k.right, arithmetic: k.arithmetic),
                high: PackedInteger.shift(v.high, width: k.width, count: count, right: k.right, arithmetic: k.arithmetic)))
        case 0x70:
            let v = try xmmSource(d, size: 16)
            let order = d.immediate
            switch simdRowClasses[Int(d.pointer.pointee.row)] & SIMDRowClass.formMask {
            case SIMDRowClass.rep:    // PSHUFHW
                setXMM(r, XMMRegister(low: v.low, high: PackedInteger.shuffleWords(v.high, order)))
            case SIMDRowClass.repne:  // PSHUFLW
                setXMM(r, XMMRegister(low: PackedInteger.shuffleWords(v.low, order), high: v.high))
            default:                  // PSHUFD
                func pick(_ i: UInt32) -> UInt64 { SSELaneBits.get(v, Int((order >> (2 * i)) & 3), width: 4) }
                setXMM(r, XMMRegister(low: pick(0) | pick(1) << 32, high: pick(2) | pick(3) << 32))
            }
        case 0xC4:
            // PINSRW xmm, r32/m16, imm8: word imm8[2:0].
            let value: UInt32
            if d.modrm >= 0xC0 { value = gpr[rm] } else {
                let (seg, offset) = effectiveAddress(d)
                value = try read(seg, offset, size: 2)
            }
            let word = Int(d.immediate & 7)
            var v = xmm(r)
            let shift = UInt64(word & 3) * 16
            let field: UInt64 = 0xFFFF << shift
            if word < 4 { v.low = (v.low & ~field) | UInt64(value & 0xFFFF) << shift }
            else { v.high = (v.high & ~field) | UInt64(value & 0xFFFF) << shift }
            setXMM(r, v)
        case 0xC5:
            let word = Int(d.immediate & 7)
            let v = xmm(rm)
            gpr[r] = UInt32(truncatingIfNeeded: (word < 4 ? v.low : v.high) >> (UInt64(word & 3) * 16)) & 0xFFFF
        case 0xD7:
            let v = xmm(rm)
            gpr[r] = PackedInteger.byteSigns(v.low) | PackedInteger.byteSigns(v.high) << 8
        default:
            let b = try xmmSource(d, size: 16)
            let a = xmm(r)
            let result: XMMRegister
            switch opcode {
            case 0x60...0x62:
                let width = PackedInteger.unpackWidth(opcode)
                result = XMMRegister(
                    low: PackedInteger.interleave(UInt32(truncatingIfNeeded: a.low), UInt32(truncatingIfNeeded: b.low), width: width),
                    high: PackedInteger.interleave(UInt32(truncatingIfNeeded: a.low >> 32), UInt32(truncatingIfNeeded: b.low >> 32), width: width))
            case 0x68...0x6A:
                let width = PackedInteger.unpackWidth(opcode)
                result = XMMRegister(
                    low: PackedInteger.interleave(UInt32(truncatingIfNeeded: a.high), UInt32(truncatingIfNeeded: b.high), width: width),
                    high: PackedInteger.interleave(UInt32(truncatingIfNeeded: a.high >> 32), UInt32(truncatingIfNeeded: b.high >> 32), width: width))
            case 0x6C: result = XMMRegister(low: a.low, high: b.low)
            case 0x6D: result = XMMRegister(low: a.high, high: b.high)
            case 0x63, 0x67, 0x6B:
                result = XMMRegister(
                    low: UInt64(PackedInteger.pack(opcode, a.low)) | UInt64(PackedInteger.pack(opcode, a.high)) << 32,
                    high: UInt64(PackedInteger.pack(opcode, b.low)) | UInt64(PackedInteger.pack(opcode, b.high)) << 32)
            default:
                if let k = PackedInteger.shiftKind(opcode) {
                    // The count is the source's low quadword, for both halves.
                    result = XMMRegister(
                        low: PackedInteger.shift(a.low, width: k.width, count: b.low, right: k.right, arithmetic: k.arithmetic),
                        high: PackedInteger.shift(a.high, width: k.width, count: b.low, right: k.right, arithmetic: k.arithmetic))
                } else if let low = PackedInteger.laneLocal(opcode, a.low, b.low),
                          let high = PackedInteger.laneLocal(opcode, a.high, b.high) {
                    result = XMMRegister(low: low, high: high)
                } else {
                    try notImplemented(d)
                    return
                }
            }
            setXMM(r, result)
        }
    }

    /// PSLLDQ/PSRLDQ: the 128-bit value shifted by whole bytes; 16 or more clears it.
    static func byteShift(_ v: XMMRegister, bytes: Int, left: Bool) -> XMMRegister {
        if bytes >= 16 { return XMMRegister() }
        if bytes == 0 { return v }
        let bits = UInt64(bytes * 8)
        if left {
            if bits >= 64 { return XMMRegister(low: 0, high: v.low << (bits - 64)) }
            return XMMRegister(low: v.low << bits, high: v.high << bits | v.low >> (64 - bits))
        }
        if bits >= 64 { return XMMRegister(low: v.high >> (bits - 64), high: 0) }
        return XMMRegister(low: v.low >> bits | v.high << (64 - bits), high: v.high >> bits)
    }
}
