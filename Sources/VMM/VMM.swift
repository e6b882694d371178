import Machine
import ShadowMMU
import X86Core
import X86Decode

/// How the guest's linear addresses are translated under the VMM.
public enum MMUMode: Sendable, Equatable {
    /// The CPU walks the guest's own tables (the nested-paging reference).
    case direct
    /// The CPU walks shadow tables the VMM builds (`ShadowMMU`), `pages` of private memory.
    case shadow(pages: Int)
}

/// The trap-and-emulate engine (`--virt=hw`). The guest runs on the interpreter in "guest
/// mode": the interpreter stops on every event the `ExitPolicy` names, the VMM emulates it
/// against the guest's virtual state and resumes, or injects an event as VT-x's VM entry does.
///
/// Who owns what: the CPU's real CR0/CR3/CR4 belong to the VMM; the guest's values live in
/// `virtualCPU` and the guest reads them back through the CPU's read shadows or CR3 exits.
/// (With the direct MMU the VMM loads the guest's values into the real registers; the shadow
/// MMU of the next issue will load its own.)
public final class VMM: MMIOSink {
    public let machine: PCMachine
    public let policy: ExitPolicy
    public internal(set) var stats = ExitStats()
    public internal(set) var virtualCPU: VirtualCPU
    /// `--trace-exits`.
    public var trace: ExitTrace? = nil
    /// `--trace-faults`.
    public var faultTrace: FaultTrace? = nil
    /// Sees every exit as it is recorded, with what the VMM did (the debugger's exit log and
    /// exit breakpoints). Exit path only: the loop never calls it.
    public var exitObserver: ((VMExit) -> Void)? = nil
    /// Sees every page fault the shadow MMU handles, hidden or delivered, with the guest walk.
    public var faultObserver: ((ShadowMMU.FaultEvent) -> Void)? = nil
    /// The shadow MMU (`--mmu=shadow`), nil with the direct MMU.
    public let shadow: ShadowMMU?
    /// The guest executed HLT (activity state "HLT" in VT-x terms): it sleeps until an event.
    public internal(set) var guestHalted = false
    /// An NMI waits while the guest blocks NMIs: its end is an NMI_WINDOW exit (VT-x's NMI-window
    /// exiting control), not an EXCEPTION_NMI.
    var nmiWindowRequested = false
    /// `machine.cpu`, stored: a computed property was a retain/release of the CPU per use on
    /// the exit path.
    let cpu: CPU

    /// Classic trap-and-emulate (`--virt=classic`): the guest kernel deprivileged at ring 1,
    /// nil under hardware-assisted virtualization (`--virt=hw`).
    public let classic: ClassicState?

    /// `classic`: run as a pre-VT VMM (ring compression, shadow descriptor tables, every
    /// exception exits); needs the shadow MMU and `ClassicState.Layout.privatePages` of private
    /// memory after its pool. `umip`: the real CPU has CR4.UMIP set (classic only).
    public init(machine: PCMachine, policy: ExitPolicy = .default, mmu: MMUMode = .direct,
                classic classicMode: Bool = false, umip: Bool = false, binaryTranslation: Bool = false) {
        self.machine = machine
        self.cpu = machine.cpu
        self.policy = policy
        let st = machine.cpu.state
        virtualCPU = VirtualCPU(cr0: st.cr0, cr3: st.cr3, cr4: st.cr4)
        let cpu = machine.cpu
        cpu.intercepts = policy.intercepts
        cpu.exitOnExceptions = policy.exceptions
        if classicMode, case .shadow(let pages) = mmu {
            let base = machine.memory.guestSize + UInt32(pages) * 4096
            precondition(Int(machine.memory.size - base) >= ClassicState.Layout.privatePages * 4096,
                         "classic virtualization needs its private pages after the shadow pool")
            classic = ClassicState(base: base, gdtr: st.gdtr, idtr: st.idtr, umip: umip, translate: binaryTranslation)
        } else {
            classic = nil
        }
        if case .shadow(let pages) = mmu {
            // The shadow must see every change of the guest's paging controls.
            cpu.intercepts.formUnion([.cr0Write, .cr3Write, .cr3Read, .cr4Write, .invlpg])
            let s = ShadowMMU(cpu: cpu, poolPages: pages)
            shadow = s
            // unowned(unsafe): these run on every hidden fault and table write, and checked
            // `unowned` costs an atomic retain/release per call. Safe because `deinit` takes the
            // hooks back before the shadow MMU (owned by this VMM alone) can go away.
            cpu.pageFaultHandler = { [unowned(unsafe) s] linear, code in s.pageFault(linear: linear, code: code) }
            cpu.boundaryCallback = { [unowned(unsafe) s] in s.finishTableWrites() }
            cpu.emulatedStoreHandler = { [unowned(unsafe) s] physical, size in s.emulatedStore(physical: physical, size: size) }
        } else {
            shadow = nil
        }
        // The VMM owns every CR0/CR4 bit: the guest reads its own values from the shadows.
        cpu.cr0GuestHostMask = 0xFFFF_FFFF
        cpu.cr4GuestHostMask = 0xFFFF_FFFF
        syncReadShadows()
        if policy.mmio {
            // Unretained, as the CPU hooks (deinit clears it): this runs on every MMIO access.
            machine.mmioSink = self
        }
        // CR0.TS and the new task's CR3 are the VMM's (VMM+TaskSwitch.swift); cleared in deinit.
        cpu.taskSwitchHook = { [unowned(unsafe) self] cr3 in self.taskSwitchCommitted(newCR3: cr3) }
        // An NMI the guest's own APIC write (or a device) raises while the guest blocks NMIs is
        // seen at that exit: the VMM asks for an NMI-window exit (cleared in deinit).
        machine.lapic.onNMI = { [unowned(unsafe) self] in
            let st = self.cpu.statePointer.pointee
            if st.nmiBlocked || st.interruptShadow { self.nmiWindowRequested = true }
        }
        if let s = shadow {
            // unowned(unsafe) for the same reason as the hooks; `deinit` clears it.
            s.observer = { [unowned(unsafe) self] event in self.pageFaultExit(event) }
            if let c = classic {
                cpu.umipSupported = umip
                prepareClassic(c, shadow: s)
                // A guest in protected mode is ring-compressed now; one at the reset vector
                // (`--bios`) runs real mode at CPL 0 until it sets CR0.PE.
                if st.cr0 & CR0.pe != 0 {
                    enterRingCompression(c)
                } else {
                    enterClassicEmulatedMode(c, .realMode, tablesLoaded: true)
                }
                if c.translator != nil {
                    cpu.instructionObserver = { [unowned self] in translatorObserves() }
                }
            }
            loadControlRegisters()
        }
    }

    /// Loads the real control registers for the guest's virtual ones. Direct MMU: the guest's
    /// values themselves (already loaded by the emulation). Shadow MMU: paging and CR0.WP always
    /// on (the shadow enforces the guest's WP), CR4.PSE off (shadows use 4 KiB pages only), CR3
    /// = the shadow root for the guest's CR3.
    ///
    /// Real mode (guest CR0.PE = 0) cannot run on shadow tables (paging needs PE), so the real
    /// CR0 is the guest's own, paging off; the CPU's non-paged walk keeps the VMM's private
    /// memory after guest RAM out of the guest's reach (it reads as an address nothing decodes:
    /// `CPU.walk`), whatever its segment bases and limits ("unreal" mode included). Under
    /// classic virtualization a change of PE switches between ring compression and real mode
    /// (`followClassicGuestMode`).
    func loadControlRegisters() {
        guard let s = shadow else { return }
        let v = virtualCPU
        if v.cr0 & CR0.pe != 0 {
            try? cpu.writeCR0(v.cr0 | CR0.pg | CR0.wp)
        } else if cpu.statePointer.pointee.cr0 != v.cr0 {
            try? cpu.writeCR0(v.cr0)
        }
        try? cpu.writeCR4(v.cr4 & ~CR4.pse | (classic?.umip == true && classic?.emulated == nil ? CR4.umip : 0))
        s.guestControlRegistersChanged(cr0: v.cr0, cr3: v.cr3, cr4: v.cr4)
        if classic != nil { followClassicGuestMode() }
    }

    /// A page fault the shadow MMU resolved (hidden) or handed to the guest (true): an
    /// EXCEPTION_NMI exit for #PF, handled at the point of the fault.
    deinit {
        cpu.taskSwitchHook = nil
        machine.lapic.onNMI = {}
        machine.mmioSink = nil
        // The shadow MMU's hooks (see init) must not outlive it.
        if let s = shadow {
            s.observer = nil
            s.watchedWrite = nil
            cpu.pageFaultHandler = nil
            cpu.boundaryCallback = nil
            cpu.emulatedStoreHandler = nil
        }
    }

    func pageFaultExit(_ e: ShadowMMU.FaultEvent) {
        if trace == nil && exitObserver == nil && faultTrace == nil && faultObserver == nil {
            // Nobody looks at this exit but the counters: skip building its record.
            stats.count(.exceptionOrNMI)
            return
        }
        let hidden = e.guestCode == nil
        record(.exceptionOrNMI, .exception(vector: Vector.pageFault, errorCode: e.guestCode ?? e.shadowCode, cr2: e.linear),
               action: hidden ? e.action : "injected #PF(\(e.guestCode!))")
        faultTrace?.record(cpu: cpu, linear: e.linear, errorCode: e.guestCode ?? e.shadowCode, walk: e.walk,
                           hidden: hidden, action: e.action)
        faultObserver?(e)
    }

    func syncReadShadows() {
        cpu.cr0ReadShadow = virtualCPU.cr0
        cpu.cr4ReadShadow = virtualCPU.cr4
    }

    // MARK: The exit loop

    public func run(_ limits: RunLimits) -> StopReason {
        var gate = RunGate(machine: machine, limits: limits)
        while true {
            if let stop = gate.check() { return stop }
            if cpu.ownerStopPending {
                // The debugger asked to stop after the exit just handled: before any injection.
                cpu.cancelOwnerStop()
                return .breakpoint
            }
            if let c = classic {
                resumeRingCompression(c)
                syncClassicTables()
                if let p = c.problem { return .notImplemented(eip: cpu.statePointer.pointee.eip, what: p) }
            }
            if let stop = prepareEntry() { return stop }
            if guestHalted {
                if let stop = machine.sleep(interruptsEnabled: cpu.eflags & EFLAGS.if != 0) { return stop }
                continue
            }
            // VM entry: run until an exit or the next timer deadline (a host timer interrupt).
            let (budget, deadline) = gate.budget()
            let exit = cpu.run(maxInstructions: budget)
            if let stop = handle(exit, deadline: deadline) { return stop }
        }
    }

    /// Event injection before VM entry, one event per entry as VT-x's: a pending NMI goes in
    /// first if the guest is not blocking NMIs (else ask for an NMI-window exit), then a pending
    /// external interrupt if the guest can take it (IF = 1, no STI/MOV SS shadow; else ask for
    /// an interrupt-window exit).
    func prepareEntry() -> StopReason? {
        if machine.interrupts.nmiPending {
            let st = cpu.statePointer.pointee
            if !st.nmiBlocked && !st.interruptShadow {
                cpu.nmiRequested = false
                nmiWindowRequested = false
                if let stop = injectNMI() { return stop }
                // A maskable interrupt waits for the next boundary (its window exit).
                cpu.interruptRequested = machine.interrupts.pending
                return nil
            }
            // Blocked until the guest's IRET (or the shadow's end): NMI-window exiting.
            nmiWindowRequested = true
            cpu.nmiRequested = true
        } else {
            cpu.nmiRequested = false
        }
        guard machine.interrupts.pending else {
            cpu.interruptRequested = false
            return nil
        }
        let st = cpu.statePointer.pointee
        if st.flags & EFLAGS.if != 0 && !st.interruptShadow {
            cpu.interruptRequested = false
            return injectExternalInterrupt()
        }
        cpu.interruptRequested = true
        return nil
    }

    func injectExternalInterrupt() -> StopReason? {
        guard let vector = machine.interrupts.acknowledge() else { return nil }
        stats.injectedEvents &+= 1
        machine.noteInterruptDelivered()
        guestHalted = false
        // Classic: through a task gate of the guest's IDT, in the emulated mode.
        if classicDeliveryNeedsTask(vector) { enterEmulatedForDelivery(vector, external: true) }
        let fromKernel = cpu.statePointer.pointee.cpl == 1
        if let exit = cpu.deliverInterrupt(vector: vector) {
            return handleDeliveryExit(exit, what: "interrupt \(vector)")
        }
        if fromKernel { fixDeliveredFrame(errorCode: false) }
        return nil
    }

    /// NMI injection (VT-x event injection with interruption type NMI): vector 2 through the
    /// guest's IDT whatever its IF, and the guest blocks further NMIs until its IRET.
    func injectNMI() -> StopReason? {
        machine.interrupts.acknowledgeNMI()
        stats.injectedEvents &+= 1
        machine.noteInterruptDelivered()
        guestHalted = false
        if classicDeliveryNeedsTask(Vector.nmi) { enterEmulatedForDelivery(Vector.nmi, external: true) }
        let fromKernel = cpu.statePointer.pointee.cpl == 1
        if let exit = cpu.deliverNMI() { return handleDeliveryExit(exit, what: "an NMI") }
        if fromKernel { fixDeliveredFrame(errorCode: false) }
        return nil
    }

    /// An exit the delivery of an injected event itself made: a TASK_SWITCH (a task gate in the
    /// IDT), or an exception the bitmap takes out of the guest, raised by the delivery and not
    /// by the instruction at EIP: reflected as it is.
    func handleDeliveryExit(_ exit: ExitReason, what: String) -> StopReason? {
        switch exit {
        case .shutdown:
            return tripleFault()
        case .exception(let v, let code):
            let cr2: UInt32? = v == Vector.pageFault ? cpu.pageFaultAddress : nil
            if let a = cr2 { cpu.statePointer.pointee.cr2 = a }
            record(.exceptionOrNMI, eip: cpu.statePointer.pointee.eip, .exception(vector: v, errorCode: code, cr2: cr2),
                   action: "reflected to the guest (raised delivering \(what))")
            return reflect(vector: v, errorCode: code)
        default:
            return handle(exit, deadline: nil)
        }
    }

    func handle(_ exit: ExitReason, deadline: UInt64?) -> StopReason? {
        switch exit {
        case .instructionLimit:
            if let d = deadline, machine.clock.now >= d {
                record(.externalInterrupt, eip: cpu.statePointer.pointee.eip, .timer(deadline: d), action: "timer tick")
            }
            return nil
        case .portIO(let access):
            if policy.ioPorts.contains(access.port) {
                record(.ioInstruction, instruction: cpu.exitInstruction, .io(access))
            }
            machine.completePortIO(access)
            return nil
        case .intercepted(let what):
            return emulate(what)
        case .interruptWindow:
            if machine.interrupts.nmiPending && cpu.nmiDeliverable {
                // The guest's NMI blocking ended (NMI_WINDOW, which the VMM asked for), or the
                // guest's own APIC write raised an NMI while it ran (an EXCEPTION_NMI exit, as
                // an NMI arriving in VMX non-root operation with NMI exiting on).
                let eip = cpu.statePointer.pointee.eip
                if nmiWindowRequested {
                    record(.nmiWindow, eip: eip, .none, action: "inject NMI")
                } else {
                    record(.exceptionOrNMI, eip: eip, .exception(vector: Vector.nmi, errorCode: nil, cr2: nil),
                           action: "inject NMI")
                }
                nmiWindowRequested = false
                cpu.nmiRequested = false
                return injectNMI()
            }
            record(.interruptWindow, eip: cpu.statePointer.pointee.eip, .none, action: "inject")
            cpu.interruptRequested = false
            return injectExternalInterrupt()
        case .exception(let vector, let code):
            let cr2: UInt32? = vector == Vector.pageFault ? cpu.pageFaultAddress : nil
            // VT-x leaves CR2 alone on a #PF exit; the guest sees it when the fault is reflected.
            if let a = cr2 { cpu.statePointer.pointee.cr2 = a }
            if let c = classic, c.emulated == nil, !c.inEmulation, (Vector.invalidTSS...Vector.generalProtection).contains(vector) {
                // Classic: the faulting instruction of the deprivileged guest, decoded once.
                let d = cpu.captureInstructionAtEIP()
                // A task switch or an entry into V86 that ring compression made fault.
                if let d, let mode = classicModeSwitchFault(d, vector: vector, errorCode: code) {
                    return reexecuteEmulated(c, mode, d, vector: vector, errorCode: code)
                }
                if vector == Vector.generalProtection { return classicGeneralProtection(d, errorCode: code) }
            }
            if classic != nil && vector == Vector.pageFault, let a = cr2, a >> 22 == UInt32(ClassicState.Layout.slot) {
                leaveRingZero()
                classic?.problem = "cannot virtualize classically: the guest touched 0x\(String(a, radix: 16)), in the VMM's reserved area (the top 4 MiB)"
                return .notImplemented(eip: cpu.statePointer.pointee.eip, what: classic!.problem!)
            }
            record(.exceptionOrNMI, eip: cpu.statePointer.pointee.eip,
                   .exception(vector: vector, errorCode: code, cr2: cr2), action: "reflected to the guest")
            return reflect(vector: vector, errorCode: code)
        case .halted:
            // Only when the policy lets HLT run natively: the CPU itself sleeps.
            guestHalted = true
            cpu.statePointer.pointee.halted = false
            return nil
        case .shutdown:
            return tripleFault()
        case .notImplemented(let eip, let what):
            return .notImplemented(eip: eip, what: what)
        case .breakpoint:
            return .breakpoint
        }
    }

    func tripleFault() -> StopReason {
        record(.tripleFault, eip: cpu.statePointer.pointee.eip, .none, action: "stop")
        return .tripleFault
    }

    /// Delivers an exception the exception bitmap took out of the guest, as the guest would have
    /// seen it (KVM "reflects" exceptions it does not handle itself).
    func reflect(vector: UInt8, errorCode: UInt32?) -> StopReason? {
        // A fault of an instruction being emulated at real CPL 0 is the deprivileged guest's.
        leaveRingZero()
        // Deliver through the guest's tables as they are now, not as at the last VM entry.
        if classic != nil {
            syncClassicTables()
            // Through a task gate of the guest's IDT: in the emulated mode.
            if classicDeliveryNeedsTask(vector) { enterEmulatedForDelivery(vector, external: false) }
        }
        let saved = cpu.exitOnExceptions
        cpu.exitOnExceptions = 0
        stats.injectedEvents &+= 1
        let fromKernel = cpu.statePointer.pointee.cpl == 1
        let exit = cpu.injectException(vector: vector, errorCode: errorCode)
        cpu.exitOnExceptions = saved
        if let exit {
            // Shutdown, or a TASK_SWITCH exit (a task gate in the IDT).
            return exit == .shutdown ? tripleFault() : handle(exit, deadline: nil)
        }
        if fromKernel { fixDeliveredFrame(errorCode: errorCode != nil) }
        return nil
    }

    /// Injects a fault raised by an emulated instruction (its EIP is still the instruction's).
    func inject(_ fault: Fault, into exit: inout VMExit) -> StopReason? {
        exit.action = "injected \(Vector.name(fault.vector))" + (fault.hasErrorCode ? "(\(fault.errorCode))" : "")
        return reflect(vector: fault.vector, errorCode: fault.hasErrorCode ? fault.errorCode : nil)
    }

    // MARK: Recording

    func record(_ reason: VMExitReason, instruction: DecodedInstruction? = nil, eip: UInt32? = nil,
                _ qualification: VMExit.Qualification, action: String = "emulated") {
        stats.count(reason)
        guard trace != nil || exitObserver != nil else { return }
        let exit = VMExit(reason: reason, eip: eip ?? cpu.statePointer.pointee.currentEIP,
                          instructionCount: cpu.statePointer.pointee.instructions, instruction: instruction,
                          qualification: qualification, action: action)
        trace?.write(exit, mode: guestModeForTrace())
        exitObserver?(exit)
    }

    func record(_ exit: VMExit) {
        stats.count(exit.reason)
        trace?.write(exit, mode: guestModeForTrace())
        exitObserver?(exit)
    }

    /// An access to the APIC pages or another device's MMIO (counted as it happens; the access
    /// itself completes inside the instruction).
    public func mmioAccess(_ a: PCMachine.MMIOAccess) { mmioExit(a) }

    func mmioExit(_ a: PCMachine.MMIOAccess) {
        record(a.device == "lapic" ? .apicAccess : .eptViolation,
               .mmio(device: a.device, address: a.address, size: a.size, isWrite: a.isWrite, value: a.value))
    }
}

/// The guest-visible control registers (the VMM's copies; the CPU's are the VMM's own).
public struct VirtualCPU: Sendable, Equatable {
    public var cr0: UInt32
    public var cr3: UInt32
    public var cr4: UInt32
}
