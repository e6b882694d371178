import X86Decode

/// PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE (SDM Vol. 2B). Multi-part stack operations restore ESP
/// and EBP when a fault interrupts them, so the instruction restarts cleanly.
extension CPU {
    func pusha(sz: Int) throws(Fault) {
        let esp = gpr[4]
        let ebp = gpr[5]
        let values = (gpr[0], gpr[1], gpr[2], gpr[3], esp, ebp, gpr[6], gpr[7])
        do throws(Fault) {
            try push(values.0, size: sz); try push(values.1, size: sz)
            try push(values.2, size: sz); try push(values.3, size: sz)
            try push(values.4, size: sz); try push(values.5, size: sz)
            try push(values.6, size: sz); try push(values.7, size: sz)
        } catch {
            gpr[4] = esp
            throw error
        }
    }

    func popa(sz: Int) throws(Fault) {
        let n = UInt32(sz)
        let edi = try peekStack(size: sz, depth: 0)
        let esi = try peekStack(size: sz, depth: n)
        let ebp = try peekStack(size: sz, depth: 2 * n)
        let ebx = try peekStack(size: sz, depth: 4 * n)
        let edx = try peekStack(size: sz, depth: 5 * n)
        let ecx = try peekStack(size: sz, depth: 6 * n)
        let eax = try peekStack(size: sz, depth: 7 * n)
        setReg(7, size: sz, edi); setReg(6, size: sz, esi); setReg(5, size: sz, ebp)
        setReg(3, size: sz, ebx); setReg(2, size: sz, edx); setReg(1, size: sz, ecx)
        setReg(0, size: sz, eax)
        adjustStack(8 * n)
    }

    /// PUSHF: the image has VM and RF cleared (SDM Vol. 2B PUSHF).
    func pushf(sz: Int) throws(Fault) {
        if v86VirtualFlags(sz: sz) { return try push(virtualFlagsImage(), size: 2) }
        try checkV86IOPL()
        try push(materializedFlags() & ~(EFLAGS.vm | EFLAGS.rf), size: sz)
    }

    /// POPF with the protected-mode rules: IOPL only at CPL 0, IF only when CPL <= IOPL,
    /// VM/VIP/VIF never, RF cleared (SDM Vol. 2B POPF). Silently ignored changes are the classic
    /// Popek–Goldberg hole.
    func popf(sz: Int) throws(Fault) {
        if v86VirtualFlags(sz: sz) {
            try loadVirtualFlags(try peekStack(size: 2))
            adjustStack(2)
            updateAttention()
            return
        }
        try checkV86IOPL()
        let v = try peekStack(size: sz)
        let cpl = UInt32(s.pointee.cpl)
        let current = materializedFlags()
        let iopl = (current >> 12) & 3
        var changeable = EFLAGS.writable & ~(EFLAGS.vm | EFLAGS.vip | EFLAGS.vif | EFLAGS.rf)
        if cpl > 0 { changeable &= ~EFLAGS.iopl }
        if cpl > iopl { changeable &= ~EFLAGS.if }
        if sz == 2 { changeable &= 0xFFFF }
        adjustStack(UInt32(sz))
        var new = (current & ~changeable) | (v & changeable)
        // RF is cleared, except in virtual-8086 mode, where it is left alone (SDM Vol. 2B POPF).
        if sz == 4 && !v86Mode { new &= ~EFLAGS.rf }
        s.pointee.lazy.op = .none
        s.pointee.flags = new | EFLAGS.fixed1
        updateAttention()
    }

    func enter(_ d: InstructionRef, sz: Int) throws(Fault) {
        let alloc = d.immediate & 0xFFFF
        let level = d.immediate2 & 0x1F
        let esp = gpr[4], ebp = gpr[5]
        do throws(Fault) {
            try push(reg(5, size: sz), size: sz)
            let frame = reg(4, size: stack32 ? 4 : 2)
            if level > 0 {
                var bp = ebp
                for _ in 1..<level {
                    bp = stack32 ? bp &- UInt32(sz) : (bp & 0xFFFF_0000) | ((bp &- UInt32(sz)) & 0xFFFF)
                    let off = stack32 ? bp : bp & 0xFFFF
                    try push(try read(2, off, size: sz), size: sz)
                }
                try push(frame, size: sz)
            }
            // The final ESP must be a valid stack location (SDM: #SS if it is not).
            let newESP = stack32 ? gpr[4] &- alloc : (gpr[4] & 0xFFFF_0000) | ((gpr[4] &- alloc) & 0xFFFF)
            if alloc > 0 {
                _ = try writeAddress(2, stack32 ? newESP : newESP & 0xFFFF, size: 1)
            }
            setReg(5, size: sz, frame)
            gpr[4] = newESP
        } catch {
            gpr[4] = esp
            gpr[5] = ebp
            throw error
        }
    }

    func leave(sz: Int) throws(Fault) {
        let newESP = stack32 ? gpr[5] : gpr[5] & 0xFFFF
        let v = try read(2, newESP, size: sz)
        if stack32 { gpr[4] = newESP } else { setReg(4, size: 2, newESP) }
        adjustStack(UInt32(sz))
        setReg(5, size: sz, v)
    }
}
