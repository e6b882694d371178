import X86Core

/// Virtual time, driven by the instruction count rather than the wall clock, so that timer
/// interrupts land on the same instruction in every run. One retired instruction is 10 ns (a
/// 100 MHz virtual CPU, close to the interpreter's real speed, so guest time ≈ wall time); time
/// spent halted is skipped forward to the next timer deadline.
public final class VirtualClock {
    public static let nanosecondsPerInstruction: UInt64 = 10
    let state: UnsafeMutablePointer<CPUState>
    /// Virtual time spent halted (skipped, never executed).
    public internal(set) var idleNanoseconds: UInt64 = 0

    public init(cpu: CPU) { state = cpu.statePointer }

    /// Nanoseconds since power-on.
    public var now: UInt64 {
        state.pointee.instructions &* Self.nanosecondsPerInstruction &+ idleNanoseconds
    }

    /// The CPU is halted: jump to `time` (no-op if it is not in the future), rounded up to a
    /// whole instruction time. The time-stamp counter (one tick per instruction time) keeps
    /// counting while halted, so RDTSC is always `now / 10`.
    public func skipIdle(to time: UInt64) {
        let n = now
        guard time > n else { return }
        let step = Self.nanosecondsPerInstruction
        let ticks = (time - n + step - 1) / step
        idleNanoseconds &+= ticks &* step
        state.pointee.tscOffset &+= ticks
    }

    /// Instructions to run before virtual time reaches `deadline` (at least 1).
    public func instructions(until deadline: UInt64) -> UInt64 {
        let n = now
        guard deadline > n else { return 1 }
        let d = deadline - n
        return (d + Self.nanosecondsPerInstruction - 1) / Self.nanosecondsPerInstruction
    }
}
