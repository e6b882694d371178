import Machine
import VMM
import X86Core
import X86Decode

/// Moving the guest forward: step, next, continue, until, finish, run-to.
extension DebugSession {
    public enum Motion: Sendable, Equatable {
        case step(UInt64)
        /// Step over CALL and INT n.
        case next
        case `continue`
        case until(UInt32)
        /// To the return of the current function.
        case finish
        case runTo(RunTarget)
    }

    public enum RunTarget: String, Sendable, CaseIterable {
        case exit, fault, ring3, ring0, cr3, interrupt
    }

    /// Runs the guest as `motion` says and reports why it stopped. `interrupted` (the GDB stub's
    /// Ctrl-C) is polled every 64 K instructions.
    public func resume(_ motion: Motion, interrupted: (() -> Bool)? = nil) -> StopCause {
        defer { clearTargets() }
        switch motion {
        case .step(let n):
            return advance(to: icount &+ max(1, n), interrupted: interrupted)
        case .continue:
            return advance(to: UInt64.max, interrupted: interrupted)
        case .until(let address):
            temporaryBreakpoint = address
            return advance(to: UInt64.max, interrupted: interrupted)
        case .next:
            guard let (d, lin) = currentInstruction() else { return advance(to: icount &+ 1, interrupted: interrupted) }
            let isCall = (d.map == 0 && (d.opcode == 0xE8 || d.opcode == 0x9A || d.opcode == 0xCC || d.opcode == 0xCD
                                         || d.opcode == 0xCE || (d.opcode == 0xFF && (d.reg == 2 || d.reg == 3))))
            guard isCall else { return advance(to: icount &+ 1, interrupted: interrupted) }
            temporaryBreakpoint = lin &+ UInt32(d.length)
            nextStackFloor = cpu.statePointer.pointee.regs[4]
            return advance(to: UInt64.max, interrupted: interrupted)
        case .finish:
            let floor = cpu.statePointer.pointee.regs[4]
            var returning = false
            perInstruction = { s in
                if returning { return .event("returned from the function (esp \(hex8(s.cpu.statePointer.pointee.regs[4])))") }
                if let (d, _) = s.currentInstruction(), d.map == 0,
                   [0xC3, 0xC2, 0xCB, 0xCA, 0xCF].contains(d.opcode), s.cpu.statePointer.pointee.regs[4] >= floor {
                    returning = true
                }
                return nil
            }
            _ = perInstruction!(self)
            return advance(to: UInt64.max, interrupted: interrupted)
        case .runTo(let target):
            switch target {
            case .exit:
                guard vmm != nil else { return .event("no VM exits under --virt=none (no VMM)") }
                runToExit = true
            case .fault: runToFault = true
            case .interrupt: runToInterrupt = true
            case .ring3, .ring0:
                let want: UInt8 = target == .ring3 ? 3 : 0
                if cpu.statePointer.pointee.cpl == want { return .event("already at CPL \(want)") }
                perInstruction = { s in
                    s.cpu.statePointer.pointee.cpl == want ? .event("now at CPL \(want)") : nil
                }
            case .cr3:
                if vmm != nil && cpu.intercepts.contains(.cr3Write) {
                    runToCR3 = true
                } else {
                    let start = registers.value("cr3")
                    perInstruction = { s in
                        let now = s.registers.value("cr3")
                        return now != start ? .event("the guest loaded CR3 = \(hex8(now ?? 0))") : nil
                    }
                }
            }
            return advance(to: UInt64.max, interrupted: interrupted)
        }
    }

    func clearTargets() {
        temporaryBreakpoint = nil
        nextStackFloor = nil
        perInstruction = nil
        runToExit = false
        runToFault = false
        runToCR3 = false
        runToInterrupt = nil
    }

    /// The instruction at CS:EIP (decoded through the guest's tables, no side effects) and its
    /// linear address.
    func currentInstruction() -> (DecodedInstruction, UInt32)? {
        let st = cpu.statePointer.pointee
        let lin = st.segments[1].base &+ st.eip
        guard let bytes = guestMemory.read(lin, count: 16) ?? guestMemory.read(lin, count: 1).map({ $0 + [UInt8](repeating: 0, count: 15) }) else { return nil }
        var d = DecodedInstruction()
        let ok = bytes.withUnsafeBufferPointer {
            Decoder().decode($0.baseAddress!, count: 16, mode: st.segments[1].big ? .bits32 : .bits16, into: &d)
        }
        return ok == .ok ? (d, lin) : nil
    }

    /// Hands the breakpoints and watchpoints to the CPU for the next run.
    func armCPU() {
        var addresses: [UInt32] = []
        var watches: [OwnerWatch] = []
        if !replaying {
            for b in breakpoints {
                switch b.kind {
                case .address(let a): addresses.append(a)
                case .watch(let w): watches.append(w)
                default: break
                }
            }
            if let t = temporaryBreakpoint { addresses.append(t) }
        }
        if cpu.breakpoints != addresses { cpu.breakpoints = addresses }
        if cpu.watchpoints != watches { cpu.watchpoints = watches }
    }

    /// Runs until the instruction count reaches `target` or something stops the guest first.
    func advance(to target: UInt64, interrupted: (() -> Bool)?) -> StopCause {
        if let e = ended { return .ended(e) }
        armCPU()
        // Resuming from a breakpoint steps over it.
        cpu.skipBreakpointAtCurrentInstruction()
        pendingStop = nil
        while true {
            let now = icount
            if now >= target { return .stepped }
            if now >= maxInstructions {
                ended = .instructionLimit
                return .ended(.instructionLimit)
            }
            var end = min(target, maxInstructions)
            if !replaying { end = min(end, history.nextDue(after: now)) }
            if perInstruction != nil { end = now &+ 1 }
            if interrupted != nil { end = min(end, now &+ 65_536) }
            let stop = runMachine(until: end)
            switch stop {
            case .instructionLimit:
                if !replaying { history.record(self) }
                if let cause = pendingStop { pendingStop = nil; return cause }
                if let p = perInstruction, let cause = p(self) { return cause }
                if let i = interrupted, i() { return .interrupted }
            case .breakpoint:
                if let cause = pendingStop {
                    pendingStop = nil
                    return cause
                }
                if let cause = breakpointStop() { return cause }
                // A condition was false: go on (past this breakpoint).
                cpu.skipBreakpointAtCurrentInstruction()
            default:
                pendingStop = nil
                ended = stop
                return .ended(stop)
            }
        }
    }

    func runMachine(until end: UInt64) -> StopReason {
        let limits = RunLimits(maxInstructions: end)
        if let v = vmm { return v.run(limits) }
        return HardwareRunner(machine: machine).run(limits)
    }

    /// The CPU stopped on an address breakpoint or a watchpoint: which, and does its condition
    /// hold? nil to keep going.
    func breakpointStop() -> StopCause? {
        let st = cpu.statePointer.pointee
        if !cpu.watchHits.isEmpty {
            let hits = cpu.watchHits
            var watchIndex = 0
            for (i, b) in breakpoints.enumerated() {
                guard case .watch = b.kind else { continue }
                defer { watchIndex += 1 }
                guard let hit = hits.first(where: { $0.watch == watchIndex }) else { continue }
                if let c = b.condition, !c.holds(registers.value) { continue }
                breakpoints[i].hits += 1
                return .watch(b.id, hit)
            }
            return nil
        }
        let lin = st.segments[1].base &+ st.eip
        var stop: StopCause? = nil
        for (i, b) in breakpoints.enumerated() {
            guard case .address(let a) = b.kind, a == lin else { continue }
            if let c = b.condition, !c.holds(registers.value) { continue }
            breakpoints[i].hits += 1
            if stop == nil { stop = .breakpoint(b.id) }
        }
        if stop == nil, let t = temporaryBreakpoint, t == lin {
            if let floor = nextStackFloor, st.regs[4] < floor { return nil }  // a deeper call (recursion)
            return .event(nextStackFloor != nil ? "returned to \(hex8(t))" : "reached \(hex8(t))")
        }
        return stop
    }
}
