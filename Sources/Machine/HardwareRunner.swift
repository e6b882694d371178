import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// Limits every runner honours: an instruction budget (deterministic) and a wall-clock timeout
/// (not deterministic, a safety net), checked between bursts of at most `burst` instructions.
public struct RunLimits: Sendable {
    public var maxInstructions: UInt64
    public var timeoutSeconds: Double?
    public static let burst: UInt64 = 1 << 22

    public init(maxInstructions: UInt64, timeoutSeconds: Double? = nil) {
        self.maxInstructions = maxInstructions
        self.timeoutSeconds = timeoutSeconds
    }
}

/// The part of every run loop that comes before running the CPU: stop if a device asked, the
/// budget is spent or the wall-clock timeout passed; tick the timers that are due; take host
/// input. `budget()` is how far the CPU may run: to the budget, the burst cap or the next timer.
public struct RunGate {
    let machine: PCMachine
    let limits: RunLimits
    let start = monotonicSeconds()
    var iterations: UInt32 = 0

    public init(machine: PCMachine, limits: RunLimits) {
        self.machine = machine
        self.limits = limits
        machine.skipScheduledNMIs(before: machine.cpu.statePointer.pointee.instructions)
    }

    public mutating func check() -> StopReason? {
        if let stop = machine.stopRequest { return stop }
        if machine.cpu.statePointer.pointee.instructions >= limits.maxInstructions { return .instructionLimit }
        iterations &+= 1
        if let t = limits.timeoutSeconds, iterations & 63 == 0, monotonicSeconds() - start > t {
            return .timeout
        }
        machine.runDueTimers()
        if let at = machine.nextScheduledNMI, machine.cpu.statePointer.pointee.instructions >= at {
            machine.fireScheduledNMI()
        }
        machine.pollInput(waitMilliseconds: 0)
        return nil
    }

    /// Instructions to run next, and the timer deadline that bounds them (if it does).
    public func budget() -> (instructions: UInt64, deadline: UInt64?) {
        let left = limits.maxInstructions - machine.cpu.statePointer.pointee.instructions
        var n = min(left, RunLimits.burst)
        if let at = machine.nextScheduledNMI {
            // Stop exactly there: the NMI button is pressed between two instructions.
            let now = machine.cpu.statePointer.pointee.instructions
            if at > now { n = min(n, at - now) }
        }
        let deadline = machine.nextDeadline()
        if let d = deadline { n = min(n, machine.clock.instructions(until: d)) }
        return (n, deadline)
    }
}

/// Monotonic wall time in seconds (for timeouts and statistics only, never for guest time).
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// `--virt=none`: the guest on the bare machine, with no VMM. The CPU's events are the
/// hardware's own: port I/O reaches the bus, the interrupt controller drives INTR, HLT sleeps
/// until the next timer interrupt. The reference that every guest must also pass under the VMM.
public final class HardwareRunner {
    public let machine: PCMachine

    public init(machine: PCMachine) { self.machine = machine }

    public func run(_ limits: RunLimits) -> StopReason {
        let cpu = machine.cpu
        var gate = RunGate(machine: machine, limits: limits)
        while true {
            if let stop = gate.check() { return stop }
            cpu.interruptRequested = machine.interrupts.pending
            cpu.nmiRequested = machine.interrupts.nmiPending
            if cpu.statePointer.pointee.halted && !(cpu.interruptRequested && cpu.eflags & EFLAGS.if != 0)
                && !cpu.nmiDeliverable {
                if let stop = machine.sleep(interruptsEnabled: cpu.eflags & EFLAGS.if != 0) { return stop }
                continue
            }
            if cpu.ownerStopPending {
                cpu.cancelOwnerStop()
                return .breakpoint
            }
            switch cpu.run(maxInstructions: gate.budget().instructions) {
            case .instructionLimit, .halted:
                continue
            case .portIO(let access):
                machine.completePortIO(access)
            case .interruptWindow:
                // An NMI comes before a maskable interrupt (SDM Vol. 3A §6.9).
                if machine.interrupts.nmiPending && cpu.nmiDeliverable {
                    machine.interrupts.acknowledgeNMI()
                    machine.noteInterruptDelivered()
                    if cpu.deliverNMI() == .shutdown { return .tripleFault }
                    cpu.interruptRequested = machine.interrupts.pending
                    continue
                }
                // INTA: the controller names the vector (or the request vanished).
                if let vector = machine.interrupts.acknowledge() {
                    machine.noteInterruptDelivered()
                    if cpu.deliverInterrupt(vector: vector) == .shutdown { return .tripleFault }
                }
                cpu.interruptRequested = machine.interrupts.pending
            case .shutdown:
                return .tripleFault
            case .notImplemented(let eip, let what):
                return .notImplemented(eip: eip, what: what)
            case .breakpoint:
                return .breakpoint
            case .exception, .intercepted:
                // Nothing asked for these on bare hardware.
                return .notImplemented(eip: cpu.state.eip, what: "unexpected CPU exit")
            }
        }
    }
}
