import X86Decode

/// IN/OUT/INS/OUTS. The CPU checks I/O permission (IOPL, then the TSS I/O bitmap; SDM Vol. 1
/// §19.5) and leaves the loop with `.portIO`; the owner performs the access and calls
/// `completePortIn(value:)` or `completePortOut()`. String forms exit once per element.
extension CPU {
    func portIO(_ d: InstructionRef, sz: Int) throws(Fault) {
        let opc = d.opcode
        let w = opc & 1 == 0 ? 1 : sz
        let port = opc >= 0xEC ? UInt16(truncatingIfNeeded: gpr[2]) : UInt16(d.immediate & 0xFF)
        let isIn = opc == 0xE4 || opc == 0xE5 || opc == 0xEC || opc == 0xED
        try checkIOPermission(port: port, size: w)
        pendingPortInstruction = d.pointee
        pendingExit = .portIO(PortAccess(port: port, size: UInt8(w), isIn: isIn, isString: false,
                                         isRep: false, value: isIn ? 0 : reg(0, size: w)))
        throw Fault.exit
    }

    /// INS (6C/6D) and OUTS (6E/6F).
    func stringIO(_ d: InstructionRef, sz: Int) throws(Fault) {
        let w = d.opcode & 1 == 0 ? 1 : sz
        let isIn = d.opcode <= 0x6D
        let port = UInt16(truncatingIfNeeded: gpr[2])
        let amask: UInt32 = d.addressSize32 ? 0xFFFF_FFFF : 0xFFFF
        let rep = d.prefixes.contains(.rep) || d.prefixes.contains(.repne)
        try checkIOPermission(port: port, size: w)
        if rep && gpr[1] & amask == 0 { return }
        var value: UInt32 = 0
        if isIn {
            // Check the destination now so completing the access cannot fault.
            let lin = try writeAddress(SegmentRegister.es.rawValue, gpr[7] & amask, size: w)
            try probeWrite(lin, size: w, user: userMode)
        } else {
            value = try read(dataSegment(d), gpr[6] & amask, size: w)
        }
        pendingPortInstruction = d.pointee
        pendingExit = .portIO(PortAccess(port: port, size: UInt8(w), isIn: isIn, isString: true,
                                         isRep: rep, value: value))
        throw Fault.exit
    }

    func checkIOPermission(port: UInt16, size: Int) throws(Fault) {
        let st = s.pointee
        guard st.cr0 & CR0.pe != 0 else { return }
        let iopl = (st.flags >> 12) & 3
        // Virtual-8086 mode ignores IOPL for I/O: only the bitmap decides (SDM Vol. 1 §19.5).
        if UInt32(st.cpl) <= iopl && st.flags & EFLAGS.vm == 0 { return }
        // The bitmap exists only in a 32-bit TSS (SDM Vol. 1 §19.5.2).
        let tr = st.tr
        guard tr.type == 0x9 || tr.type == 0xB, tr.limit >= 0x67 else { throw Fault.gp(0) }
        let bitmap = try readSystem(tr.base &+ 0x66, size: 2)
        let first = bitmap &+ UInt32(port >> 3)
        let last = bitmap &+ UInt32((UInt32(port) + UInt32(size) - 1) >> 3)
        if last > tr.limit { throw Fault.gp(0) }
        var bits = try readSystem(tr.base &+ first, size: 1)
        if last != first { bits |= try readSystem(tr.base &+ last, size: 1) << 8 }
        let mask = ((UInt32(1) << UInt32(size)) - 1) << UInt32(port & 7)
        if bits & mask != 0 { throw Fault.gp(0) }
    }

    /// Finishes an IN/INS that left the loop: `value` is what the device returned.
    public func completePortIn(value: UInt32) {
        guard let access = pendingPort else { return }
        let d = pendingPortInstruction
        let w = Int(access.size)
        if access.isString {
            let amask: UInt32 = d.addressSize32 ? 0xFFFF_FFFF : 0xFFFF
            let lin = s.pointee.segments[0].base &+ (gpr[7] & amask)
            // Checked writable before the exit; a failure here would mean the owner remapped it.
            try? writeLinear(lin, size: w, value: value, user: userMode)
            advance(7, stringStep(w), amask)
            finishStringIO(d, amask: amask)
        } else {
            setReg(0, size: w, value)
            retirePortInstruction(d)
        }
        pendingPort = nil
    }

    /// Finishes an OUT/OUTS that left the loop.
    public func completePortOut() {
        let d = pendingPortInstruction
        if d.opcode == 0x6E || d.opcode == 0x6F {
            let sz = d.operandSize32 ? 4 : 2
            let w = d.opcode & 1 == 0 ? 1 : sz
            let amask: UInt32 = d.addressSize32 ? 0xFFFF_FFFF : 0xFFFF
            advance(6, stringStep(w), amask)
            finishStringIO(d, amask: amask)
        } else {
            retirePortInstruction(d)
        }
        pendingPort = nil
    }

    private func finishStringIO(_ d: DecodedInstruction, amask: UInt32) {
        let rep = d.prefixes.contains(.rep) || d.prefixes.contains(.repne)
        if rep {
            gpr[1] = (gpr[1] & ~amask) | ((gpr[1] &- 1) & amask)
            if gpr[1] & amask != 0 {
                s.pointee.instructions &+= 1
                return  // EIP stays on the instruction: the next run repeats it
            }
        }
        retirePortInstruction(d)
    }

    private func retirePortInstruction(_ d: DecodedInstruction) {
        let next = s.pointee.eip &+ UInt32(d.length)
        s.pointee.eip = s.pointee.segments[1].big ? next : next & 0xFFFF
        s.pointee.instructions &+= 1
        s.pointee.interruptShadow = false
        s.pointee.flags &= ~EFLAGS.rf
        if s.pointee.flags & EFLAGS.tf != 0 { ownerCompletedTrap = true; updateAttention() }
    }
}
