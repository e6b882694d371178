import CX87Host
import X86Decode

/// The x87 FPU (SDM Vol. 1 ch. 8, Vol. 2 D8–DF; issue 16, docs/x87.md).
///
/// Data instructions run on the host's own x87 (`cx87_exec`): the guest's state is loaded into
/// the host FPU, the instruction runs as its own bytes, and the state comes back. That makes
/// every result, flag, tag, C0–C3, stack fault and unmasked-exception response the host
/// CPU's, bit for bit, for every rounding and precision control. What the host cannot do for us
/// stays here: the memory operand (read through the guest's segments and paging, a store probed
/// before anything changes), FIP/FCS/FOP/FDP/FDS, pending exceptions (#MF, FERR#), #NM, and the
/// control instructions whose memory images depend on the guest's mode (FLDENV, FSTENV, FSAVE,
/// FRSTOR in their 16/32-bit, real/protected forms; FXSAVE, FXRSTOR).
extension CPU {
    /// FSW bits.
    enum FSW {
        static let exceptionFlags: UInt16 = 0x3F
        static let stackFault: UInt16 = 0x40
        static let errorSummary: UInt16 = 0x80
        static let busy: UInt16 = 0x8000
        /// C0–C3 and TOP: what an instruction's result is, not its sticky flags.
        static let codesAndTop: UInt16 = 0x7F00
    }

    /// One D8–DF instruction (`execute`'s escape cases).
    func x87(_ d: InstructionRef) throws(Fault) {
        if s.pointee.cr0 & (CR0.em | CR0.ts) != 0 { throw Fault.nm }
        fpuCounters.x87 &+= 1
        let opcode = d.opcode
        let modrm = d.modrm
        if modrm >= 0xC0 {
            switch UInt16(opcode) << 8 | UInt16(modrm) {
            case 0xDBE2: x87ClearExceptions(); return
            case 0xDBE3: x87Initialize(); return
            case 0xDFE0: setReg(0, size: 2, UInt32(x87StatusWord())); return
            // FENI, FDISI, FSETPM: 8087/287 control, no-ops since the 387 (no wait, no FIP).
            case 0xDBE0, 0xDBE1, 0xDBE4: return
            default: break
            }
        } else {
            switch (opcode, d.reg) {
            case (0xD9, 4): try x87PendingCheck(); try x87LoadEnvironment(d, withRegisters: false); return
            case (0xD9, 5): try x87PendingCheck(); try x87LoadControl(d); return
            case (0xD9, 6): try x87StoreEnvironment(d, withRegisters: false); return
            case (0xD9, 7): try x87Store16(d, s.pointee.fpu.control); return
            case (0xDD, 4): try x87PendingCheck(); try x87LoadEnvironment(d, withRegisters: true); return
            case (0xDD, 6): try x87StoreEnvironment(d, withRegisters: true); return
            case (0xDD, 7): try x87Store16(d, x87StatusWord()); return
            default: break
            }
        }
        try x87PendingCheck()
        try x87OnHost(d)
    }

    /// A waiting instruction's check (FWAIT, every x87 instruction but the FN- control forms,
    /// MMX): an unmasked exception pending from an earlier instruction is taken now, before
    /// this one does anything (SDM Vol. 1 §8.6). CR0.NE = 1: #MF. NE = 0: the PC's FERR# path.
    @inline(__always)
    func x87PendingCheck() throws(Fault) {
        if s.pointee.fpu.status & FSW.errorSummary == 0 { return }
        try x87PendingError()
    }

    @inline(never)
    func x87PendingError() throws(Fault) {
        if s.pointee.cr0 & CR0.ne != 0 { throw Fault.exception(Vector.x87Error) }
        try x87ExternalError()
    }

    /// The status word as FNSTSW stores it: B mirrors ES (SDM Vol. 1 §8.1.3.6).
    func x87StatusWord() -> UInt16 {
        let status = s.pointee.fpu.status
        return status & FSW.errorSummary != 0 ? status | FSW.busy : status & ~FSW.busy
    }

    /// ES and B from the flags and the masks: set while any flag is unmasked.
    static func x87Summarized(status: UInt16, control: UInt16) -> UInt16 {
        let pending = status & ~control & FSW.exceptionFlags != 0
        let cleared = status & ~(FSW.errorSummary | FSW.busy)
        return pending ? cleared | FSW.errorSummary | FSW.busy : cleared
    }

    // MARK: Control instructions (no host)

    /// FNINIT (SDM Vol. 2A FINIT): FCW 0x037F, FSW 0, every register empty, pointers cleared.
    func x87Initialize() {
        let st = s
        let wasPending = st.pointee.fpu.status & FSW.errorSummary != 0
        defer { x87ErrorChanged(wasPending: wasPending) }
        st.pointee.fpu.control = 0x037F
        st.pointee.fpu.status = 0
        st.pointee.fpu.tags = 0xFFFF
        st.pointee.fpu.lastOpcode = 0
        st.pointee.fpu.instructionPointer = 0
        st.pointee.fpu.instructionSelector = 0
        st.pointee.fpu.operandPointer = 0
        st.pointee.fpu.operandSelector = 0
    }

    /// FNCLEX: the exception flags, SF, ES and B clear.
    func x87ClearExceptions() {
        let wasPending = s.pointee.fpu.status & FSW.errorSummary != 0
        s.pointee.fpu.status &= ~(FSW.exceptionFlags | FSW.stackFault | FSW.errorSummary | FSW.busy)
        x87ErrorChanged(wasPending: wasPending)
    }

    /// The control word as the FPU keeps it: bit 6 reads as 1, bits 15:13 as 0 (the host's
    /// FNSTCW after FLDCW, checked by X87Tests).
    static func x87ControlWord(_ value: UInt16) -> UInt16 { (value & 0x1F3F) | 0x0040 }

    func x87LoadControl(_ d: InstructionRef) throws(Fault) {
        let (seg, offset) = effectiveAddress(d)
        let value = UInt16(truncatingIfNeeded: try read16(seg, offset))
        let st = s
        let wasPending = st.pointee.fpu.status & FSW.errorSummary != 0
        st.pointee.fpu.control = CPU.x87ControlWord(value)
        // Unmasking a flag already set makes it pending (SDM Vol. 1 §8.1.5).
        st.pointee.fpu.status = CPU.x87Summarized(status: st.pointee.fpu.status, control: st.pointee.fpu.control)
        x87ErrorChanged(wasPending: wasPending)
    }

    func x87Store16(_ d: InstructionRef, _ value: UInt16) throws(Fault) {
        let (seg, offset) = effectiveAddress(d)
        try write(seg, offset, size: 2, UInt32(value))
    }

    // MARK: Data instructions (the host FPU)

    /// Size in bytes and direction of the memory forms the host runs (0: not a host form).
    static func x87MemoryOperand(_ opcode: UInt8, _ reg: UInt8) -> (size: Int, store: Bool) {
        switch opcode {
        case 0xD8, 0xDA: return (4, false)
        case 0xDC: return (8, false)
        case 0xDE: return (2, false)
        case 0xD9: return reg == 0 ? (4, false) : reg == 2 || reg == 3 ? (4, true) : (0, false)
        case 0xDB:
            switch reg {
            case 0: return (4, false)
            case 2, 3: return (4, true)
            case 5: return (10, false)
            case 7: return (10, true)
            default: return (0, false)
            }
        case 0xDD: return reg == 0 ? (8, false) : reg == 2 || reg == 3 ? (8, true) : (0, false)
        default:  // DF
            switch reg {
            case 0: return (2, false)
            case 2, 3: return (2, true)
            case 4: return (10, false)
            case 5: return (8, false)
            case 6: return (10, true)
            case 7: return (8, true)
            default: return (0, false)
            }
        }
    }

    /// Offsets in `cx87_frame`.
    enum X87Frame {
        static let image = 0
        static let memory = 108
        static let flags = 124
        /// In the FNSAVE image (32-bit protected mode).
        static let control = 0, status = 4, tags = 8, registers = 28
    }

    func x87OnHost(_ d: InstructionRef) throws(Fault) {
        let st = s
        let opcode = d.opcode
        let modrm = d.modrm
        var key = UInt16(opcode) << 8
        var size = 0
        var store = false
        var linear: UInt32 = 0
        var segment = 0
        var offset: UInt32 = 0
        var words: (UInt32, UInt32, UInt32) = (0, 0, 0)
        let user = userMode
        if modrm >= 0xC0 {
            key |= UInt16(modrm)
        } else {
            key |= UInt16(d.reg) << 3
            (size, store) = CPU.x87MemoryOperand(opcode, d.reg)
            if size == 0 { throw Fault.ud }
            (segment, offset) = effectiveAddress(d)
            if store {
                linear = try writeAddress(segment, offset, size: size)
                try probeWrite(linear, size: size, user: user)
            } else {
                linear = try readAddress(segment, offset, size: size)
                words.0 = try readLinear(linear, size: min(size, 4), user: user)
                if size > 4 { words.1 = try readLinear(linear &+ 4, size: 4, user: user) }
                if size > 8 { words.2 = try readLinear(linear &+ 8, size: 2, user: user) }
            }
        }
        let control = st.pointee.fpu.control
        let oldStatus = st.pointee.fpu.status
        if control & FSW.exceptionFlags == FSW.exceptionFlags, let shape = x87Shape(opcode, modrm),
           x87FastReady(shape, status: oldStatus) {
            try x87Fast(d, key: key, shape: shape, words: words,
                        store: store, size: size, linear: linear, segment: segment, offset: offset)
            return
        }
        let flagsIn = UInt8(truncatingIfNeeded: materializedFlags())
        var frame = cx87_frame()
        withUnsafeMutableBytes(of: &frame) { raw in
            raw.storeBytes(of: control, toByteOffset: X87Frame.control, as: UInt16.self)
            // No flag in: nothing is pending on the host, and what the instruction raises is
            // what comes back.
            raw.storeBytes(of: oldStatus & FSW.codesAndTop, toByteOffset: X87Frame.status, as: UInt16.self)
            raw.storeBytes(of: st.pointee.fpu.tags, toByteOffset: X87Frame.tags, as: UInt16.self)
            let top = Int(oldStatus >> 11) & 7
            for i in 0..<8 {
                let r = st.pointee.fpu.registers[(top + i) & 7]
                raw.storeBytes(of: r.significand, toByteOffset: X87Frame.registers + 10 * i, as: UInt64.self)
                raw.storeBytes(of: r.signExponent, toByteOffset: X87Frame.registers + 10 * i + 8, as: UInt16.self)
            }
            raw.storeBytes(of: words.0, toByteOffset: X87Frame.memory, as: UInt32.self)
            raw.storeBytes(of: words.1, toByteOffset: X87Frame.memory + 4, as: UInt32.self)
            raw.storeBytes(of: words.2, toByteOffset: X87Frame.memory + 8, as: UInt32.self)
            raw.storeBytes(of: flagsIn, toByteOffset: X87Frame.flags, as: UInt8.self)
        }
        guard cx87_exec(key, &frame) != 0 else {
            try notImplemented(d)
            return
        }
        var hostStatus: UInt16 = 0
        var flagsOut: UInt8 = 0
        withUnsafeBytes(of: &frame) { raw in
            hostStatus = raw.load(fromByteOffset: X87Frame.status, as: UInt16.self)
            st.pointee.fpu.tags = raw.load(fromByteOffset: X87Frame.tags, as: UInt16.self)
            let top = Int(hostStatus >> 11) & 7
            for i in 0..<8 {
                let base = X87Frame.registers + 10 * i
                st.pointee.fpu.registers[(top + i) & 7] = X87Register(
                    significand: raw.loadUnaligned(fromByteOffset: base, as: UInt64.self),
                    signExponent: raw.loadUnaligned(fromByteOffset: base + 8, as: UInt16.self))
            }
            words.0 = raw.load(fromByteOffset: X87Frame.memory, as: UInt32.self)
            words.1 = raw.load(fromByteOffset: X87Frame.memory + 4, as: UInt32.self)
            words.2 = raw.load(fromByteOffset: X87Frame.memory + 8, as: UInt32.self)
            flagsOut = raw.load(fromByteOffset: X87Frame.flags, as: UInt8.self)
        }
        let raised = hostStatus & FSW.exceptionFlags
        let unmasked = raised & ~control
        st.pointee.fpu.status = CPU.x87Summarized(
            status: (hostStatus & FSW.codesAndTop) | ((oldStatus | hostStatus) & (FSW.exceptionFlags | FSW.stackFault)),
            control: control)
        x87ErrorChanged(wasPending: oldStatus & FSW.errorSummary != 0)
        // FCOMI, FUCOMI and their popping forms report in ZF, PF, CF (as the host left them, an
        // unmasked invalid operand included) and clear OF, SF and AF regardless (SDM Vol. 2A).
        if (opcode == 0xDB || opcode == 0xDF) && modrm >= 0xE8 && modrm < 0xF8 {
            setFlags(UInt32(flagsOut) & (EFLAGS.zf | EFLAGS.pf | EFLAGS.cf),
                     mask: EFLAGS.zf | EFLAGS.pf | EFLAGS.cf | EFLAGS.sf | EFLAGS.af | EFLAGS.of)
        }
        // A store with an unmasked exception other than precision leaves memory alone (SDM Vol. 1
        // §8.5: the result is not stored and the stack is not popped).
        if store && unmasked & ~0x20 == 0 {
            try writeLinear(linear, size: min(size, 4), value: words.0, user: user)
            if size > 4 { try writeLinear(linear &+ 4, size: 4, value: words.1, user: user) }
            if size > 8 { try writeLinear(linear &+ 8, size: 2, value: words.2, user: user) }
        }
        x87NoteInstruction(opcode, modrm, segment: segment, offset: offset)
    }

    /// The last non-control instruction and its operand (SDM Vol. 1 §8.1.8, §8.1.9).
    @inline(__always)
    func x87NoteInstruction(_ opcode: UInt8, _ modrm: UInt8, segment: Int, offset: UInt32) {
        let st = s
        st.pointee.fpu.lastOpcode = UInt16(opcode & 7) << 8 | UInt16(modrm)
        st.pointee.fpu.instructionPointer = st.pointee.currentEIP
        st.pointee.fpu.instructionSelector = st.pointee.segments[SegmentRegister.cs.rawValue].selector
        if modrm < 0xC0 {
            st.pointee.fpu.operandPointer = offset
            st.pointee.fpu.operandSelector = st.pointee.segments[segment].selector
        }
    }

    // MARK: FERR# and IGNNE# (CR0.NE = 0)

    /// Call after anything that may change FSW.ES (`wasPending`: ES before). Clearing ES
    /// deasserts FERR# and ends IGNNE#.
    func x87ErrorChanged(wasPending: Bool) {
        if !wasPending || s.pointee.fpu.status & FSW.errorSummary != 0 { return }
        s.pointee.fpu.ignoreNumericError = false
        numericErrorSignal?(false)
    }

    /// The PC's DOS-compatible path (CR0.NE = 0) at a waiting instruction with an error
    /// pending: FERR# is asserted now (the SDM allows this, deferred, or at once, Vol. 1
    /// §8.7; QEMU defers too) and, unless IGNNE# is asserted (the owner's `ignoreNumericError()`,
    /// a write to port 0xF0), the CPU freezes before the instruction: a halt with EIP at it, so
    /// the IRQ13 FERR# raises returns to it once its handler has cleared the error.
    func x87ExternalError() throws(Fault) {
        if s.pointee.fpu.ignoreNumericError { return }
        numericErrorSignal?(true)
        frozenOnNumericError = true
        pendingExit = .halted
        throw Fault.exit
    }

    /// IGNNE#: the owner's answer to FERR# (the PC asserts it on a write to port 0xF0 while
    /// FERR# is asserted). Waiting instructions run past the pending error until ES clears.
    public func ignoreNumericError() {
        if s.pointee.fpu.status & FSW.errorSummary != 0 { s.pointee.fpu.ignoreNumericError = true }
    }

    // MARK: The fast path (every exception masked)

    /// What the fast path needs to know of an instruction: how many stack registers it reads
    /// (ST(0)…ST(depth − 1), all of which must be non-empty), whether it pushes (ST(7) must be
    /// empty), and whether it sets C0, C2 and C3 (compares; the others leave them to the
    /// full path's rules, so the fast path keeps the guest's). Nil: the full path only
    /// (transcendentals, FPREM, FXTRACT, FSCALE, BCD, FFREE, FDECSTP/FINCSTP, FNOP).
    struct X87Shape {
        var depth: Int
        var push: Bool
        var compare: Bool
    }

    /// `x87FastShape` of every escape byte and ModRM, packed one byte each (bit 7: has a fast
    /// form, bits 3:0 depth, bit 4 push, bit 5 compare); `CPU.x87Shapes` keeps the pointer, read
    /// on every x87 instruction instead of walking the switches.
    nonisolated(unsafe) static let x87ShapeTable: UnsafeMutablePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 8 * 256)
        for opcode in 0..<8 {
            for modrm in 0..<256 {
                var v: UInt8 = 0
                if let shape = x87FastShape(UInt8(0xD8 + opcode), UInt8(modrm)) {
                    v = 0x80 | UInt8(shape.depth) | (shape.push ? 0x10 : 0) | (shape.compare ? 0x20 : 0)
                }
                (table + opcode * 256 + modrm).initialize(to: v)
            }
        }
        return table
    }()

    @inline(__always)
    func x87Shape(_ opcode: UInt8, _ modrm: UInt8) -> X87Shape? {
        let v = x87Shapes[Int(opcode & 7) << 8 | Int(modrm)]
        if v == 0 { return nil }
        return X87Shape(depth: Int(v & 0x0F), push: v & 0x10 != 0, compare: v & 0x20 != 0)
    }

    static func x87FastShape(_ opcode: UInt8, _ modrm: UInt8) -> X87Shape? {
        guard let shape = x87FastShapeOf(opcode, modrm) else { return nil }
        // The host stack holds at most 8, and 8 values leave TOP at 0, which reads as none
        // left: keep one slot free. A popping instruction whose destination is ST(0) (DE C0,
        // C8, E0, E8, F0, F8) writes the register it then pops, which only an FNSAVE sees.
        if shape.depth + (shape.push ? 1 : 0) > 7 { return nil }
        if opcode == 0xDE && modrm >= 0xC0 && modrm & 7 == 0 && modrm != 0xD8 && modrm != 0xD0 { return nil }
        return shape
    }

    static func x87FastShapeOf(_ opcode: UInt8, _ modrm: UInt8) -> X87Shape? {
        let i = Int(modrm & 7)
        if modrm < 0xC0 {
            let reg = (modrm >> 3) & 7
            switch opcode {
            case 0xD8, 0xDA, 0xDC, 0xDE: return X87Shape(depth: 1, push: false, compare: reg == 2 || reg == 3)
            case 0xD9, 0xDD: return reg == 0 ? X87Shape(depth: 0, push: true, compare: false) : X87Shape(depth: 1, push: false, compare: false)
            case 0xDB: return reg == 0 || reg == 5 ? X87Shape(depth: 0, push: true, compare: false) : X87Shape(depth: 1, push: false, compare: false)
            default:  // DF
                if reg == 4 || reg == 6 { return nil }
                return reg == 0 || reg == 5 ? X87Shape(depth: 0, push: true, compare: false) : X87Shape(depth: 1, push: false, compare: false)
            }
        }
        let row = modrm & 0xF8
        switch opcode {
        case 0xD8, 0xDC: return X87Shape(depth: i + 1, push: false, compare: row == 0xD0 || row == 0xD8)
        case 0xD9:
            switch modrm {
            case 0xC0...0xC7: return X87Shape(depth: i + 1, push: true, compare: false)
            case 0xC8...0xCF: return X87Shape(depth: i + 1, push: false, compare: false)
            case 0xE0, 0xE1, 0xFA, 0xFC: return X87Shape(depth: 1, push: false, compare: false)
            case 0xE4: return X87Shape(depth: 1, push: false, compare: true)
            case 0xE8...0xEE: return X87Shape(depth: 0, push: true, compare: false)
            default: return nil
            }
        case 0xDA:
            if modrm == 0xE9 { return X87Shape(depth: 2, push: false, compare: true) }
            return modrm < 0xE0 ? X87Shape(depth: i + 1, push: false, compare: false) : nil
        case 0xDB:
            return modrm < 0xE0 || (modrm >= 0xE8 && modrm < 0xF8) ? X87Shape(depth: i + 1, push: false, compare: false) : nil
        case 0xDD:
            if row == 0xC0 { return nil }
            return X87Shape(depth: i + 1, push: false, compare: row == 0xE0 || row == 0xE8)
        case 0xDE:
            if modrm == 0xD9 { return X87Shape(depth: 2, push: false, compare: true) }
            return X87Shape(depth: i + 1, push: false, compare: row == 0xD0)
        default:  // DF
            if row == 0xC0 || modrm == 0xE0 || modrm >= 0xF8 || (modrm > 0xE0 && modrm < 0xE8) { return nil }
            return X87Shape(depth: i + 1, push: false, compare: false)
        }
    }

    /// The stack holds what the instruction reads and has room for what it pushes: nothing
    /// can underflow or overflow, which is all the fast path leaves out.
    @inline(__always)
    func x87FastReady(_ shape: X87Shape, status: UInt16) -> Bool {
        let tags = s.pointee.fpu.tags
        let top = Int(status >> 11) & 7
        for i in 0..<shape.depth where (tags >> UInt16(2 * ((top + i) & 7))) & 3 == 3 { return false }
        if shape.push && (tags >> UInt16(2 * ((top + 7) & 7))) & 3 != 3 { return false }
        return true
    }

    /// Where R0–R7 sit in `CPUState` (16-byte slots, each an 80-bit real in its first 10
    /// bytes: `X87Register`'s layout), for `cx87_fast_state` to load and store in place.
    static let x87RegistersOffset = MemoryLayout<CPUState>.offset(of: \CPUState.fpu)!
        + MemoryLayout<FPUState>.offset(of: \FPUState.registers)!

    func x87Fast(_ d: InstructionRef, key: UInt16, shape: X87Shape, words: (UInt32, UInt32, UInt32),
                 store: Bool, size: Int, linear: UInt32, segment: Int, offset: UInt32) throws(Fault) {
        let st = s
        let opcode = d.opcode
        let modrm = d.modrm
        // EFLAGS in only for FCMOVcc.
        var flags: UInt8 = 0
        if (opcode == 0xDA || opcode == 0xDB) && modrm >= 0xC0 && modrm < 0xE0 {
            flags = UInt8(truncatingIfNeeded: materializedFlags())
        }
        var memory: (UInt32, UInt32, UInt32, UInt32) = (words.0, words.1, words.2, 0)
        var g = cx87_state(registers: (UnsafeMutableRawPointer(st) + CPU.x87RegistersOffset).assumingMemoryBound(to: UInt8.self),
                           control: st.pointee.fpu.control, status: st.pointee.fpu.status, tags: st.pointee.fpu.tags)
        let ran = withUnsafeMutableBytes(of: &memory) { raw in
            cx87_fast_state(key, &g, Int32(shape.depth), shape.compare ? 1 : 0,
                            raw.baseAddress!.assumingMemoryBound(to: UInt8.self), &flags)
        }
        guard ran != 0 else {
            try notImplemented(d)
            return
        }
        st.pointee.fpu.status = g.status
        st.pointee.fpu.tags = g.tags
        if (opcode == 0xDB || opcode == 0xDF) && modrm >= 0xE8 && modrm < 0xF8 {
            setFlags(UInt32(flags) & (EFLAGS.zf | EFLAGS.pf | EFLAGS.cf),
                     mask: EFLAGS.zf | EFLAGS.pf | EFLAGS.cf | EFLAGS.sf | EFLAGS.af | EFLAGS.of)
        }
        if store {
            try writeLinear(linear, size: min(size, 4), value: memory.0, user: userMode)
            if size > 4 { try writeLinear(linear &+ 4, size: 4, value: memory.1, user: userMode) }
            if size > 8 { try writeLinear(linear &+ 8, size: 2, value: memory.2, user: userMode) }
        }
        x87NoteInstruction(opcode, modrm, segment: segment, offset: offset)
    }
}
