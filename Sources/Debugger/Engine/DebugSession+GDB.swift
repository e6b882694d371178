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
