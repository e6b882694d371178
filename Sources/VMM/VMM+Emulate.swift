import Machine
import X86Core
import X86Decode

/// Emulation of the instructions the policy intercepts. Each handler reads the exiting
/// instruction (`cpu.exitInstruction`), applies it to the virtual state, and retires it with
/// `completeEmulatedInstruction()`; a fault it raises is injected as the hardware would raise it.
extension VMM {
    func emulate(_ what: Intercept) -> StopReason? {
        if what == .invlpg && trace == nil && exitObserver == nil {
            // The most frequent exit of page-table-heavy guests, when nobody records exits:
            // the same work as the general case below, without building its VMExit record.
            stats.count(.invlpg)
            let address = cpu.exitOperandLinearAddress()
            if let sh = shadow { sh.invalidatePage(address) } else { cpu.invalidateTLB(page: address) }
            cpu.completeEmulatedInstruction()
            return nil
        }
        let d = cpu.exitInstruction
        if what == .cr3Write && d.map == 1 && d.opcode == 0x22 && d.reg == 3 && trace == nil && exitObserver == nil {
            // MOV CR3, r32 (an address-space switch) when nobody records exits: what
            // emulateControlRegister does for it, without building the VMExit record.
            stats.count(.crAccess)
            let value = cpu.register(Int(d.modrm & 7))
            virtualCPU.cr3 = value
            if let s = shadow { s.guestCR3Changed(value) } else { cpu.writeCR3(value) }
            cpu.completeEmulatedInstruction()
            return nil
        }
        var exit = VMExit(reason: .hlt, eip: cpu.statePointer.pointee.currentEIP, instructionCount: cpu.statePointer.pointee.instructions,
                          instruction: d, qualification: .none)
        var stop: StopReason? = nil
        switch what {
        case .hlt:
            exit.reason = .hlt
            exit.action = "guest sleeps"
            cpu.completeEmulatedInstruction()
            guestHalted = true
        case .cpuid:
            exit.reason = .cpuid
            let leaf = cpu.register(0), sub = cpu.register(1)
            exit.qualification = .cpuid(leaf: leaf, subleaf: sub)
            let (a, b, c, dx) = cpu.cpuidLeaf(leaf, subleaf: sub)
            cpu.setRegister(0, a); cpu.setRegister(3, b); cpu.setRegister(1, c); cpu.setRegister(2, dx)
            cpu.completeEmulatedInstruction()
        case .rdtsc:
            exit.reason = .rdtsc
            let t = cpu.timeStampCounter
            cpu.setRegister(0, UInt32(truncatingIfNeeded: t))
            cpu.setRegister(2, UInt32(truncatingIfNeeded: t >> 32))
            cpu.completeEmulatedInstruction()
        case .msr:
            stop = emulateMSR(d, &exit)
        case .invlpg:
            exit.reason = .invlpg
            let address = cpu.exitOperandLinearAddress()
            exit.qualification = .linearAddress(address)
            if let sh = shadow { sh.invalidatePage(address) } else { cpu.invalidateTLB(page: address) }
            cpu.completeEmulatedInstruction()
        case .cr0Write, .cr3Write, .cr3Read, .cr4Write:
            stop = emulateControlRegister(d, &exit)
        case .drAccess:
            exit.reason = .drAccess
            exit.action = "executed with the intercept off"
            stop = executeNatively(without: .drAccess)
        case .translated:
            return executeHoleInGuestView()
        case .taskSwitch:
            return emulateTaskSwitch(&exit)
        case .descriptorTable where classic != nil:
            stop = emulateClassicDescriptorTable(d, &exit)
        case .descriptorTable:
            // 0F 00 /0–3 (SLDT, STR, LLDT, LTR) or 0F 01 /0–3 (SGDT, SIDT, LGDT, LIDT).
            exit.reason = d.opcode == 0x00 ? .ldtrTrAccess : .gdtrIdtrAccess
            exit.action = "executed with the intercept off"
            stop = executeNatively(without: .descriptorTable)
        default:
            return .notImplemented(eip: exit.eip, what: "intercept \(what.rawValue) without a handler")
        }
        record(exit)
        return stop
    }

    /// RDMSR (0F 32) / WRMSR (0F 30) against the CPU's MSR model; an unknown MSR or a reserved
    /// bit is #GP(0), as on hardware.
    func emulateMSR(_ d: DecodedInstruction, _ exit: inout VMExit) -> StopReason? {
        let index = cpu.register(1)
        if d.opcode == 0x32 {
            exit.reason = .rdmsr
            guard let v = cpu.readMSR(index) else {
                exit.qualification = .msr(index: index, value: nil)
                return inject(.exception(Vector.generalProtection, errorCode: 0), into: &exit)
            }
            exit.qualification = .msr(index: index, value: v)
            cpu.setRegister(0, UInt32(truncatingIfNeeded: v))
            cpu.setRegister(2, UInt32(truncatingIfNeeded: v >> 32))
        } else {
            exit.reason = .wrmsr
            let v = UInt64(cpu.register(2)) << 32 | UInt64(cpu.register(0))
            exit.qualification = .msr(index: index, value: v)
            guard cpu.writeMSR(index, v) else {
                return inject(.exception(Vector.generalProtection, errorCode: 0), into: &exit)
            }
        }
        cpu.completeEmulatedInstruction()
        return nil
    }

    /// MOV to/from CR0/CR3/CR4, CLTS and LMSW (SDM Vol. 3C Table 27-3 describes the
    /// qualification). The new value is checked as MOV CR checks it, becomes the guest's virtual
    /// value, and is loaded into the real register (direct MMU: the guest's own paging).
    func emulateControlRegister(_ d: DecodedInstruction, _ exit: inout VMExit) -> StopReason? {
        exit.reason = .crAccess
        let gpr = Int(d.modrm & 7)
        let number: Int
        let access: VMExit.CRAccess
        var value: UInt32
        switch (d.opcode, d.reg) {
        case (0x20, _):  // MOV r32, CRn: only CR3 reads exit
            number = Int(d.reg); access = .movFrom
            value = virtualCPU.cr3
            cpu.setRegister(gpr, value)
            exit.qualification = .controlRegister(number: number, access: access, register: gpr, value: value)
            cpu.completeEmulatedInstruction()
            return nil
        case (0x22, _):
            number = Int(d.reg); access = .movTo
            value = cpu.register(gpr)
        case (0x06, _):
            number = 0; access = .clts
            value = virtualCPU.cr0 & ~CR0.ts
        case (0x01, 6):
            number = 0; access = .lmsw
            let source: UInt32
            do throws(Fault) { source = try cpu.readExitOperand(size: 2) } catch {
                exit.qualification = .controlRegister(number: 0, access: access, register: nil, value: 0)
                return inject(error, into: &exit)
            }
            // LMSW loads PE (set only), MP, EM, TS.
            let cr0 = virtualCPU.cr0
            value = (cr0 & ~0xE) | (source & 0xE) | (cr0 & 1) | (source & 1)
        default:
            return .notImplemented(eip: exit.eip, what: "control-register exit for an unexpected instruction")
        }
        exit.qualification = .controlRegister(number: number, access: access,
                                              register: access == .movTo ? gpr : nil, value: value)
        do throws(Fault) {
            switch number {
            case 0:
                try cpu.writeCR0(value)
                virtualCPU.cr0 = cpu.statePointer.pointee.cr0
            case 3 where shadow != nil:
                // Shadow paging: CR0 and CR4 are unchanged, so the real registers already hold
                // what loadControlRegisters would load; only the root changes (one TLB flush,
                // not one for the guest's value and another for the shadow root).
                virtualCPU.cr3 = value
                shadow!.guestCR3Changed(value)
                cpu.completeEmulatedInstruction()
                return nil
            case 3:
                cpu.writeCR3(value)
                virtualCPU.cr3 = value
            case 4:
                try cpu.writeCR4(value)
                virtualCPU.cr4 = value
            default:
                return .notImplemented(eip: exit.eip, what: "exit on CR\(number)")
            }
        } catch {
            loadControlRegisters()
            return inject(error, into: &exit)
        }
        loadControlRegisters()
        syncReadShadows()
        cpu.completeEmulatedInstruction()
        return nil
    }

    /// Runs the exiting instruction once on the interpreter with its intercept lifted: for exits
    /// the VMM only observes (debug registers, descriptor tables).
    func executeNatively(without intercept: Intercept) -> StopReason? {
        let saved = cpu.intercepts
        let savedRequest = cpu.interruptRequested
        // A debugger breakpoint on this instruction has already stopped on it once.
        let savedBreakpoints = cpu.breakpoints
        cpu.intercepts.remove(intercept)
        cpu.interruptRequested = false
        if !savedBreakpoints.isEmpty { cpu.breakpoints = [] }
        defer {
            cpu.intercepts = saved
            cpu.interruptRequested = savedRequest
            if !savedBreakpoints.isEmpty { cpu.breakpoints = savedBreakpoints }
        }
        return handle(cpu.run(maxInstructions: 1), deadline: nil)
    }
}
