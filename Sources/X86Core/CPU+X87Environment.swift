import X86Decode

/// FLDENV, FNSTENV, FRSTOR, FNSAVE (SDM Vol. 1 §8.1.10, Figures 8-9 to 8-12) and FXSAVE,
/// FXRSTOR (Vol. 1 §10.5.1, Table 10-2). The environment's layout depends on the operand size
/// (14 or 28 bytes) and on the mode: in real and virtual-8086 mode the pointers are stored as
/// linear addresses with FOP beside them; in protected mode as offset and selector.
extension CPU {
    /// The full tag (00 valid, 01 zero, 10 special, 11 empty) a non-empty register's contents
    /// give (SDM Vol. 1 §8.1.7): FSTENV, FSAVE and FXRSTOR recompute tags this way.
    static func x87Tag(_ r: X87Register) -> UInt16 {
        let exponent = r.signExponent & 0x7FFF
        if exponent == 0x7FFF { return 2 }
        if exponent == 0 { return r.significand == 0 ? 1 : 2 }
        return r.significand >> 63 == 0 ? 2 : 0
    }

    /// The tag word with every non-empty register's tag recomputed from its contents.
    func x87FullTags(nonEmpty: (Int) -> Bool) -> UInt16 {
        var tags: UInt16 = 0
        for i in 0..<8 {
            let tag = nonEmpty(i) ? CPU.x87Tag(s.pointee.fpu.registers[i]) : 3
            tags |= tag << UInt16(2 * i)
        }
        return tags
    }

    private var x87RealFormat: Bool {
        s.pointee.cr0 & CR0.pe == 0 || s.pointee.flags & EFLAGS.vm != 0
    }

    /// FNSTENV (and the first part of FNSAVE).
    func x87StoreEnvironment(_ d: InstructionRef, withRegisters: Bool) throws(Fault) {
        let st = s
        let (seg, offset) = effectiveAddress(d)
        let wide = d.operandSize32
        let envSize = wide ? 28 : 14
        let total = envSize + (withRegisters ? 80 : 0)
        let user = userMode
        let linear = try writeAddress(seg, offset, size: total)
        try probeWrite(linear, size: total, user: user)
        let fpu = st.pointee.fpu
        let tags = x87FullTags { (fpu.tags >> UInt16(2 * $0)) & 3 != 3 }
        let real = x87RealFormat
        let ip = real ? (UInt32(fpu.instructionSelector) << 4) &+ fpu.instructionPointer : fpu.instructionPointer
        let dp = real ? (UInt32(fpu.operandSelector) << 4) &+ fpu.operandPointer : fpu.operandPointer
        let opcode = fpu.lastOpcode & 0x7FF
        let status = x87StatusWord()
        // Seven fields either way: dwords in the 28-byte layouts (the reserved halves 0xFFFF, as
        // the host stores them), words in the 14-byte ones. No array: this runs on every
        // context switch of a kernel that saves FPU state eagerly.
        if wide {
            var fields = InlineArray<7, UInt32>(repeating: 0)
            fields[0] = 0xFFFF_0000 | UInt32(fpu.control)
            fields[1] = 0xFFFF_0000 | UInt32(status)
            fields[2] = 0xFFFF_0000 | UInt32(tags)
            if real {
                // Figure 8-10: bits 27:12 of the second and fourth pointer dwords hold the
                // pointers' bits 31:16, FOP beside the first.
                fields[3] = 0xFFFF_0000 | (ip & 0xFFFF)
                fields[4] = ((ip >> 16) << 12) | UInt32(opcode)
                fields[5] = 0xFFFF_0000 | (dp & 0xFFFF)
                fields[6] = (dp >> 16) << 12
            } else {
                fields[3] = ip
                fields[4] = UInt32(fpu.instructionSelector) | UInt32(opcode) << 16
                fields[5] = dp
                fields[6] = 0xFFFF_0000 | UInt32(fpu.operandSelector)
            }
            for i in 0..<7 { try writeLinear(linear &+ UInt32(4 * i), size: 4, value: fields[i], user: user) }
        } else {
            var fields = InlineArray<7, UInt16>(repeating: 0)
            fields[0] = fpu.control
            fields[1] = status
            fields[2] = tags
            fields[3] = UInt16(truncatingIfNeeded: ip)
            fields[5] = UInt16(truncatingIfNeeded: dp)
            if real {
                fields[4] = UInt16(truncatingIfNeeded: ((ip >> 16) & 0xF) << 12) | opcode
                fields[6] = UInt16(truncatingIfNeeded: ((dp >> 16) & 0xF) << 12)
            } else {
                fields[4] = fpu.instructionSelector
                fields[6] = fpu.operandSelector
            }
            for i in 0..<7 { try writeLinear(linear &+ UInt32(2 * i), size: 2, value: UInt32(fields[i]), user: user) }
        }
        if withRegisters {
            let top = Int(fpu.status >> 11) & 7
            for i in 0..<8 {
                let r = fpu.registers[(top + i) & 7]
                let base = linear &+ UInt32(envSize + 10 * i)
                try writeLinear(base, size: 4, value: UInt32(truncatingIfNeeded: r.significand), user: user)
                try writeLinear(base &+ 4, size: 4, value: UInt32(truncatingIfNeeded: r.significand >> 32), user: user)
                try writeLinear(base &+ 8, size: 2, value: UInt32(r.signExponent), user: user)
            }
            // FNSAVE ends with FNINIT.
            x87Initialize()
        } else {
            // FNSTENV masks every exception after storing (SDM Vol. 2A FSTENV): nothing is
            // pending any more (the host recomputes ES and B too).
            let wasPending = st.pointee.fpu.status & FSW.errorSummary != 0
            st.pointee.fpu.control |= 0x3F
            st.pointee.fpu.status = CPU.x87Summarized(status: st.pointee.fpu.status, control: st.pointee.fpu.control)
            x87ErrorChanged(wasPending: wasPending)
        }
    }

    /// FLDENV (and the first part of FRSTOR).
    func x87LoadEnvironment(_ d: InstructionRef, withRegisters: Bool) throws(Fault) {
        let st = s
        let (seg, offset) = effectiveAddress(d)
        let wide = d.operandSize32
        let envSize = wide ? 28 : 14
        let total = envSize + (withRegisters ? 80 : 0)
        let user = userMode
        let linear = try readAddress(seg, offset, size: total)
        let step: UInt32 = wide ? 4 : 2
        func field(_ i: UInt32) throws(Fault) -> UInt32 {
            try readLinear(linear &+ i * step, size: Int(step), user: user)
        }
        let control = UInt16(truncatingIfNeeded: try field(0))
        let status = UInt16(truncatingIfNeeded: try field(1))
        let tagWord = UInt16(truncatingIfNeeded: try field(2))
        let f3 = try field(3), f4 = try field(4), f5 = try field(5), f6 = try field(6)
        var registers: InlineArray<8, X87Register> = .init(repeating: X87Register())
        if withRegisters {
            for i in 0..<8 {
                let base = linear &+ UInt32(envSize + 10 * i)
                let low = try readLinear(base, size: 4, user: user)
                let high = try readLinear(base &+ 4, size: 4, user: user)
                let top = try readLinear(base &+ 8, size: 2, user: user)
                registers[i] = X87Register(significand: UInt64(high) << 32 | UInt64(low), signExponent: UInt16(top))
            }
        }
        var ip: UInt32, cs: UInt16, opcode: UInt16, dp: UInt32, ds: UInt16
        if x87RealFormat {
            if wide {
                ip = (f3 & 0xFFFF) | ((f4 >> 12) & 0xFFFF) << 16
                opcode = UInt16(f4 & 0x7FF)
                dp = (f5 & 0xFFFF) | ((f6 >> 12) & 0xFFFF) << 16
            } else {
                ip = (f3 & 0xFFFF) | ((f4 >> 12) & 0xF) << 16
                opcode = UInt16(f4 & 0x7FF)
                dp = (f5 & 0xFFFF) | ((f6 >> 12) & 0xF) << 16
            }
            cs = 0
            ds = 0
        } else if wide {
            ip = f3
            cs = UInt16(truncatingIfNeeded: f4)
            opcode = UInt16(truncatingIfNeeded: f4 >> 16) & 0x7FF
            dp = f5
            ds = UInt16(truncatingIfNeeded: f6)
        } else {
            ip = f3
            cs = UInt16(truncatingIfNeeded: f4)
            opcode = 0
            dp = f5
            ds = UInt16(truncatingIfNeeded: f6)
        }
        let newControl = CPU.x87ControlWord(control)
        let wasPending = st.pointee.fpu.status & FSW.errorSummary != 0
        defer { x87ErrorChanged(wasPending: wasPending) }
        st.pointee.fpu.control = newControl
        st.pointee.fpu.status = CPU.x87Summarized(status: status, control: newControl)
        st.pointee.fpu.instructionPointer = ip
        st.pointee.fpu.instructionSelector = cs
        st.pointee.fpu.lastOpcode = opcode
        st.pointee.fpu.operandPointer = dp
        st.pointee.fpu.operandSelector = ds
        if withRegisters {
            let top = Int(status >> 11) & 7
            for i in 0..<8 { st.pointee.fpu.registers[(top + i) & 7] = registers[i] }
        }
        // Only empty / not empty is taken from the image; the rest comes from the contents.
        st.pointee.fpu.tags = x87FullTags { (tagWord >> UInt16(2 * $0)) & 3 != 3 }
    }

    // MARK: FXSAVE / FXRSTOR

    /// The MXCSR bits this CPU implements (DAZ included), stored as MXCSR_MASK.
    static let mxcsrMask: UInt32 = 0x0000_FFFF

    /// 0F AE /0 and /1. Neither waits for a pending x87 exception (SDM Vol. 2A FXSAVE).
    func fxsaveOrRestore(_ d: InstructionRef) throws(Fault) {
        if d.modrm >= 0xC0 { throw Fault.ud }
        let st = s
        if st.pointee.cr0 & (CR0.ts | CR0.em) != 0 { throw Fault.nm }
        let (seg, offset) = effectiveAddress(d)
        let user = userMode
        let save = d.reg == 0
        let linear = save ? try writeAddress(seg, offset, size: 512) : try readAddress(seg, offset, size: 512)
        // A misaligned image is #GP(0), checked on the offset's linear address (SDM Vol. 2A).
        if linear & 15 != 0 { throw Fault.gp(0) }
        let withSSE = st.pointee.cr4 & CR4.osfxsr != 0
        if save {
            try probeWrite(linear, size: 512, user: user)
            let fpu = st.pointee.fpu
            var abridged: UInt32 = 0
            for i in 0..<8 where (fpu.tags >> UInt16(2 * i)) & 3 != 3 { abridged |= 1 << UInt32(i) }
            var fields = InlineArray<6, UInt32>(repeating: 0)
            fields[0] = UInt32(fpu.control) | UInt32(x87StatusWord()) << 16
            fields[1] = abridged | UInt32(fpu.lastOpcode & 0x7FF) << 16
            fields[2] = fpu.instructionPointer
            fields[3] = UInt32(fpu.instructionSelector)
            fields[4] = fpu.operandPointer
            fields[5] = UInt32(fpu.operandSelector)
            for i in 0..<6 { try writeLinear(linear &+ UInt32(4 * i), size: 4, value: fields[i], user: user) }
            if withSSE {
                try writeLinear(linear &+ 24, size: 4, value: fpu.mxcsr, user: user)
                try writeLinear(linear &+ 28, size: 4, value: CPU.mxcsrMask, user: user)
            }
            let top = Int(fpu.status >> 11) & 7
            for i in 0..<8 {
                let r = fpu.registers[(top + i) & 7]
                let base = linear &+ UInt32(32 + 16 * i)
                try writeLinear(base, size: 4, value: UInt32(truncatingIfNeeded: r.significand), user: user)
                try writeLinear(base &+ 4, size: 4, value: UInt32(truncatingIfNeeded: r.significand >> 32), user: user)
                try writeLinear(base &+ 8, size: 4, value: UInt32(r.signExponent), user: user)
                try writeLinear(base &+ 12, size: 4, value: 0, user: user)
            }
            if withSSE {
                for i in 0..<8 {
                    let x = fpu.xmm[i]
                    let base = linear &+ UInt32(160 + 16 * i)
                    try writeLinear(base, size: 4, value: UInt32(truncatingIfNeeded: x.low), user: user)
                    try writeLinear(base &+ 4, size: 4, value: UInt32(truncatingIfNeeded: x.low >> 32), user: user)
                    try writeLinear(base &+ 8, size: 4, value: UInt32(truncatingIfNeeded: x.high), user: user)
                    try writeLinear(base &+ 12, size: 4, value: UInt32(truncatingIfNeeded: x.high >> 32), user: user)
                }
            }
            return
        }
        func dword(_ at: UInt32) throws(Fault) -> UInt32 { try readLinear(linear &+ at, size: 4, user: user) }
        let mxcsr = withSSE ? try dword(24) : st.pointee.fpu.mxcsr
        if mxcsr & ~CPU.mxcsrMask != 0 { throw Fault.gp(0) }
        let d0 = try dword(0), d1 = try dword(4)
        let ip = try dword(8), cs = try dword(12), dp = try dword(16), ds = try dword(20)
        var registers: InlineArray<8, X87Register> = .init(repeating: X87Register())
        for i in 0..<8 {
            let base = UInt32(32 + 16 * i)
            let low = try dword(base), high = try dword(base + 4), top = try dword(base + 8)
            registers[i] = X87Register(significand: UInt64(high) << 32 | UInt64(low), signExponent: UInt16(truncatingIfNeeded: top))
        }
        var xmm: InlineArray<8, XMMRegister> = st.pointee.fpu.xmm
        if withSSE {
            for i in 0..<8 {
                let base = UInt32(160 + 16 * i)
                let a = try dword(base), b = try dword(base + 4), c = try dword(base + 8), e = try dword(base + 12)
                xmm[i] = XMMRegister(low: UInt64(b) << 32 | UInt64(a), high: UInt64(e) << 32 | UInt64(c))
            }
        }
        let control = CPU.x87ControlWord(UInt16(truncatingIfNeeded: d0))
        let status = UInt16(truncatingIfNeeded: d0 >> 16)
        let wasPending = st.pointee.fpu.status & FSW.errorSummary != 0
        defer { x87ErrorChanged(wasPending: wasPending) }
        st.pointee.fpu.control = control
        st.pointee.fpu.status = CPU.x87Summarized(status: status, control: control)
        st.pointee.fpu.lastOpcode = UInt16(truncatingIfNeeded: d1 >> 16) & 0x7FF
        st.pointee.fpu.instructionPointer = ip
        st.pointee.fpu.instructionSelector = UInt16(truncatingIfNeeded: cs)
        st.pointee.fpu.operandPointer = dp
        st.pointee.fpu.operandSelector = UInt16(truncatingIfNeeded: ds)
        let top = Int(status >> 11) & 7
        for i in 0..<8 { st.pointee.fpu.registers[(top + i) & 7] = registers[i] }
        st.pointee.fpu.tags = x87FullTags { d1 & (1 << UInt32($0)) != 0 }
        st.pointee.fpu.xmm = xmm
        st.pointee.fpu.mxcsr = mxcsr
    }
}
