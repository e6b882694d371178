import Machine
import X86Core

/// Hardware task switches under the VMM. VT-x never lets a guest switch tasks itself: each one
/// is a TASK_SWITCH exit (basic reason 9, SDM Vol. 3C §26.4.2) that the VMM performs on the
/// guest's TSSs. Here the interpreter checks the gate and the new TSS descriptor, exits, and the
/// VMM lets that one switch run with the intercept lifted: the guest's own GDT and TSSs are what
/// the CPU reads under `--virt=hw`. CR0.TS and the new task's CR3 are the VMM's to apply (the
/// guest-visible CR0 and, under the shadow MMU, the shadow root), through `CPU.taskSwitchHook`,
/// also when a policy without `task` lets switches happen "in hardware".
extension VMM {
    func emulateTaskSwitch(_ exit: inout VMExit) -> StopReason? {
        guard let r = cpu.taskSwitchRequest else {
            return .notImplemented(eip: exit.eip, what: "a task-switch exit without its request")
        }
        exit.reason = .taskSwitch
        exit.qualification = .taskSwitch(selector: r.selector, source: r.source)
        if r.source == .taskGate {
            exit.action = "switched tasks to deliver \(Vector.name(r.vector))"
            record(exit)
            return cpu.completeTaskGateDelivery().flatMap { handle($0, deadline: nil) }
        }
        exit.action = "switched tasks"
        record(exit)
        return executeNatively(without: .taskSwitch)
    }

    /// The guest's mode for the exit trace when it is not protected mode (nil then): the guest's
    /// own CR0.PE (the VMM's virtual CR0) and EFLAGS.VM, with CS.
    func guestModeForTrace() -> (name: String, cs: UInt16)? {
        let st = cpu.statePointer.pointee
        if virtualCPU.cr0 & CR0.pe == 0 { return ("real-address", st.segments[1].selector) }
        if st.flags & EFLAGS.vm != 0 { return ("virtual-8086", st.segments[1].selector) }
        return nil
    }

    /// The commit point of a task switch (`CPU.taskSwitchHook`).
    func taskSwitchCommitted(newCR3: UInt32?) {
        virtualCPU.cr0 |= CR0.ts
        syncReadShadows()
        guard let cr3 = newCR3 else { return }
        if let s = shadow {
            if cr3 != virtualCPU.cr3 {
                virtualCPU.cr3 = cr3
                s.guestCR3Changed(cr3)
            }
        } else {
            virtualCPU.cr3 = cr3
            cpu.writeCR3(cr3)
        }
    }
}
