import X86Core

extension DebugSession {
    @discardableResult
    public func addBreakpoint(_ kind: Breakpoint.Kind, text: String) -> Breakpoint {
        let b = Breakpoint(id: nextBreakpointID, kind: kind, text: text)
        nextBreakpointID += 1
        breakpoints.append(b)
        return b
    }

    public func deleteBreakpoint(_ id: Int) throws(DebugError) {
        guard breakpoints.contains(where: { $0.id == id }) else { throw DebugError("no breakpoint \(id)") }
        breakpoints.removeAll { $0.id == id }
    }

    public func deleteAllBreakpoints() { breakpoints.removeAll() }

    public func setCondition(_ id: Int, _ c: Condition?) throws(DebugError) {
        guard let i = breakpoints.firstIndex(where: { $0.id == id }) else { throw DebugError("no breakpoint \(id)") }
        breakpoints[i].condition = c
    }

    /// Remembers the registers at this stop (`regs`, `fpu` and `sse` mark changes against them).
    public func notePreviousRegisters() {
        previousRegisters = RegisterSnapshot(cpu: cpu, vmm: vmm)
        previousFPU = cpu.statePointer.pointee.fpu
    }

    /// Writes a register; the recorded future no longer holds.
    public func setRegister(_ name: String, _ v: UInt32) -> Bool {
        guard registers.set(name, v) else { return false }
        history.truncate(after: icount)
        return true
    }
}

extension DebugSession {
    /// The debugger lets go: no breakpoint or watchpoint stays armed, no observer stops the
    /// guest (the run goes on at full speed).
    public func detach() {
        breakpoints.removeAll()
        clearTargets()
        armCPU()
        cpu.cancelOwnerStop()
    }
}
