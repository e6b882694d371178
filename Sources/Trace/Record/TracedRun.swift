import Machine
import VMM
import X86Core

/// Runs a guest with a tracer attached from instruction `startAt` on, and (a test-only fault
/// injection for the lockstep diff's own tests) one EFLAGS bit flipped when the instruction count
/// reaches `flip.index`. The run stops at those points and resumes (stopping at an instruction
/// count and resuming is exact: `x86v run --save-at` relies on it), so the untraced prefix runs
/// at full speed.
public struct TracedRun {
    public let machine: PCMachine
    public let vmm: VMM?
    public let recorder: TraceRecorder?
    public var startAt: UInt64 = 0
    public var flip: (index: UInt64, bit: Int)? = nil

    public init(machine: PCMachine, vmm: VMM?, recorder: TraceRecorder?) {
        self.machine = machine
        self.vmm = vmm
        self.recorder = recorder
    }

    func runSegment(_ limits: RunLimits) -> StopReason {
        if let v = vmm { return v.run(limits) }
        return HardwareRunner(machine: machine).run(limits)
    }

    public func run(_ limits: RunLimits) -> StopReason {
        var points: [UInt64] = []
        if recorder != nil && startAt > 0 { points.append(startAt) }
        if let f = flip { points.append(f.index) }
        points.sort()
        if recorder != nil && startAt == 0 { recorder!.attach(vmm: vmm) }
        let cpu = machine.cpu
        for point in points where point < limits.maxInstructions {
            if cpu.statePointer.pointee.instructions < point {
                let stop = runSegment(RunLimits(maxInstructions: point, timeoutSeconds: limits.timeoutSeconds))
                guard case .instructionLimit = stop else { return stop }
            }
            if let r = recorder, point == startAt, startAt > 0, !r.detached { r.attach(vmm: vmm) }
            if let f = flip, point == f.index {
                cpu.eflags = cpu.eflags ^ (1 << UInt32(f.bit))
            }
        }
        return runSegment(limits)
    }
}
