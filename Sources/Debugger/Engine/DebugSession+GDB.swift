import Machine
import X86Core

/// The debugger session as the GDB stub's backend: GDB's breakpoints and watchpoints become the
/// session's (so `info breakpoints` and `monitor` see them), its step/continue/reverse requests
/// become the session's motions, and `monitor CMD` runs the debugger's command language.
extension DebugSession: GDBBackend {
    public func readRegisters() -> [UInt32] {
        let st = cpu.statePointer.pointee
        let r = registers
        var v = (0..<8).map { st.regs[$0] }
        v += [st.eip, cpu.eflags]
        // GDB's segment order: cs ss ds es fs gs.
        for s in [SegmentRegister.cs, .ss, .ds, .es, .fs, .gs] { v.append(UInt32(st[s].selector)) }
        v += ["cr0", "cr2", "cr3", "cr4"].map { r.value($0) ?? 0 }
        v += [st.gdtr.base, UInt32(st.gdtr.limit), st.idtr.base, UInt32(st.idtr.limit),
              UInt32(st.ldtr.selector), UInt32(st.tr.selector), UInt32(st.cpl)]
        return v
    }

    public func writeRegister(_ index: Int, _ value: UInt32) -> Bool {
        let names = RegisterFile.gprNames + ["eip", "eflags"]
        guard index >= 0 && index < names.count else { return false }
        return setRegister(names[index], value)
    }

    /// GDB's i387 view of the FPU: ST(i) = R((TOP + i) mod 8), the full tag word, FCS:FIP and
    /// FDS:FDP as separate registers (`GDBTargetDescription`).
    public func readFloatRegisters() -> GDBFloatRegisters? {
        let f = cpu.statePointer.pointee.fpu
        let top = Int(f.status >> 11) & 7
        return GDBFloatRegisters(
            st: (0..<8).map { i in
                let r = f.registers[(top + i) & 7]
                return .init(significand: r.significand, signExponent: r.signExponent)
            },
            control: [UInt32(f.control), UInt32(f.status), UInt32(f.tags), UInt32(f.instructionSelector),
                      f.instructionPointer, UInt32(f.operandSelector), f.operandPointer, UInt32(f.lastOpcode)],
            xmm: (0..<8).map { .init(low: f.xmm[$0].low, high: f.xmm[$0].high) },
            mxcsr: f.mxcsr)
    }

    /// Writes what GDB changed, with the rules the instructions that load these registers
    /// follow: fctrl as FLDCW stores it (bits 15:13 and 7 clear, bit 6 set), fop's 11 bits,
    /// 16-bit selectors, MXCSR's reserved bits 31:16 refused (LDMXCSR's #GP); the tag of every
    /// non-empty register recomputed from its contents (as FLDENV and FXRSTOR do), so a value
    /// written into ST(i) gets the tag it needs and writing ftag can empty or fill registers.
    /// The registers are written at the TOP GDB sent (fstat is applied first).
    public func writeFloatRegisters(_ g: GDBFloatRegisters) -> Bool {
        guard g.mxcsr >> 16 == 0, g.control[1] >> 16 == 0, g.control[2] >> 16 == 0,
              g.control[3] >> 16 == 0, g.control[5] >> 16 == 0 else { return false }
        var f = cpu.statePointer.pointee.fpu
        f.control = UInt16(truncatingIfNeeded: g.control[0]) & 0x1F7F | 0x40
        f.status = UInt16(g.control[1])
        f.instructionSelector = UInt16(g.control[3])
        f.instructionPointer = g.control[4]
        f.operandSelector = UInt16(g.control[5])
        f.operandPointer = g.control[6]
        f.lastOpcode = UInt16(truncatingIfNeeded: g.control[7]) & 0x7FF
        let top = Int(f.status >> 11) & 7
        for i in 0..<8 {
            f.registers[(top + i) & 7] = X87Register(significand: g.st[i].significand, signExponent: g.st[i].signExponent)
        }
        var tags = UInt16(g.control[2])
        for r in 0..<8 where (tags >> (2 * UInt16(r))) & 3 != 3 {
            tags = tags & ~(3 << (2 * UInt16(r))) | X87Value.kind(f.registers[r]).tag << (2 * UInt16(r))
        }
        f.tags = tags
        for i in 0..<8 { f.xmm[i] = XMMRegister(low: g.xmm[i].low, high: g.xmm[i].high) }
        f.mxcsr = g.mxcsr
        guard f != cpu.statePointer.pointee.fpu else { return true }
        cpu.statePointer.pointee.fpu = f
        history.truncate(after: icount)
        return true
    }

    public func readMemory(linear: UInt32, count: Int) -> [UInt8]? {
        guestMemory.read(linear, count: count)
    }

    public func writeMemory(linear: UInt32, bytes: [UInt8]) -> Bool {
        guard guestMemory.write(linear, bytes: bytes) else { return false }
        history.truncate(after: icount)
        return true
    }

    func gdbKind(_ kind: GDBBreakpointKind, _ address: UInt32, _ length: Int) -> Breakpoint.Kind {
        switch kind {
        case .software, .hardware: .address(address)
        case .writeWatch: .watch(OwnerWatch(address: address, length: UInt32(max(1, length)), reads: false, writes: true))
        case .readWatch: .watch(OwnerWatch(address: address, length: UInt32(max(1, length)), reads: true, writes: false))
        case .accessWatch: .watch(OwnerWatch(address: address, length: UInt32(max(1, length)), reads: true, writes: true))
        }
    }

    public func insertBreakpoint(_ kind: GDBBreakpointKind, address: UInt32, length: Int) -> Bool {
        guard length >= 0 && length <= 1 << 20 else { return false }
        addBreakpoint(gdbKind(kind, address, length), text: "gdb")
        return true
    }

    public func removeBreakpoint(_ kind: GDBBreakpointKind, address: UInt32, length: Int) -> Bool {
        let k = gdbKind(kind, address, length)
        guard let i = breakpoints.firstIndex(where: { $0.kind == k && $0.text == "gdb" }) else { return false }
        breakpoints.remove(at: i)
        return true
    }

    public func resume(_ action: GDBResumeAction, interrupted: () -> Bool) -> GDBStopEvent {
        // `monitor regs`, `monitor fpu`: changes are marked against the previous stop.
        notePreviousRegisters()
        let cause: StopCause
        do {
            switch action {
            case .step: cause = withoutActuallyEscaping(interrupted) { resume(.step(1), interrupted: $0) }
            case .continue: cause = withoutActuallyEscaping(interrupted) { resume(.continue, interrupted: $0) }
            case .reverseStep: cause = try reverseStep(1)
            case .reverseContinue: cause = try reverseContinue()
            }
        } catch {
            return .historyStart
        }
        switch cause {
        case .stepped: return .stepped
        case .breakpoint, .event: return .breakpoint
        case .watch(let id, let hit):
            if case .watch(let w) = breakpoints.first(where: { $0.id == id })?.kind {
                return .watchpoint(kind: w.reads && w.writes ? .accessWatch : w.writes ? .writeWatch : .readWatch, address: hit.linear)
            }
            return .watchpoint(kind: .writeWatch, address: hit.linear)
        case .ended(let stop): return .exited(status: Int(stop.exitStatus))
        case .historyStart: return .historyStart
        case .interrupted: return .interrupted
        }
    }

    public func monitor(_ command: String) -> String {
        CommandInterpreter(session: self).execute(command).text
    }

    public func kill() {
        killed = true
    }
}
