import Machine
import VMM
import X86Core

/// `x86v lockstep GUEST --engines`: the block engine against the interpreter, in one process,
/// on two machines built from the same flags. The block side runs one block at a time (its
/// budget is the length of the block at its EIP, so it stops where a free run would cross a
/// block boundary); the interpreter side then runs to the same instruction count, and the two
/// CPUs are compared: registers, EFLAGS, EIP, segments, control and debug registers, CPL, the
/// interrupt shadow, the halt state and the count. Every `wholeEvery` instructions and at the end
/// the whole machines are compared as snapshots (CPU, devices, VMM and shadow MMU, RAM).
public struct EngineLockstep {
    /// One side: its machine, its VMM (nil under `--virt=none`) and how to run it to a count.
    public struct Side {
        public let machine: PCMachine
        public let vmm: VMM?
        public let run: (RunLimits) -> StopReason
        public init(machine: PCMachine, vmm: VMM?, run: @escaping (RunLimits) -> StopReason) {
            self.machine = machine
            self.vmm = vmm
            self.run = run
        }
        var cpu: CPU { machine.cpu }
    }

    public let blocks: Side
    public let interp: Side
    public var maxInstructions: UInt64
    /// Whole-machine comparison period in instructions.
    public var wholeEvery: UInt64 = 1 << 20
    /// Testing the comparison: flip EFLAGS bit `bit` on the block side once its count reaches
    /// `index` (the report must then name that point).
    public var flip: (index: UInt64, bit: Int)? = nil

    public init(blocks: Side, interp: Side, maxInstructions: UInt64) {
        self.blocks = blocks
        self.interp = interp
        self.maxInstructions = maxInstructions
    }

    public struct Outcome: Sendable {
        /// Instructions both sides ran, identical.
        public var instructions: UInt64 = 0
        /// Points compared (block boundaries and stops).
        public var points: UInt64 = 0
        /// Whole-machine comparisons.
        public var wholeComparisons = 0
        /// The first difference: where and what; nil when identical.
        public var divergence: String? = nil
        /// How the runs ended.
        public var stop = ""

        public var report: String {
            if let d = divergence { return "engines differ: \(d)\n" }
            return "identical: \(instructions) instructions, \(points) block boundaries compared, "
                + "\(wholeComparisons) whole-machine comparisons (stop: \(stop))\n"
        }
    }

    public func run() -> Outcome {
        var out = Outcome()
        var nextWhole = wholeEvery
        while true {
            let at = blocks.cpu.statePointer.pointee.instructions
            let length = UInt64(max(1, blocks.cpu.blockLengthAtEIP()))
            var target = min(at &+ length, maxInstructions)
            if let f = flip, at < f.index { target = min(target, f.index) }
            let stopA = blocks.run(RunLimits(maxInstructions: target))
            let reached = blocks.cpu.statePointer.pointee.instructions
            if let f = flip, at < f.index, reached >= f.index { blocks.cpu.eflags ^= 1 << UInt32(f.bit) }
            // The same limit: a stop before it (an exit to the user, a debug-exit) must come at the same point.
            let stopB = interp.run(RunLimits(maxInstructions: target))
            out.points &+= 1
            if let d = Self.cpuDifference(blocks.cpu, interp.cpu) {
                out.divergence = "at instruction \(reached) (the block side ran \(at)–\(reached), last eip 0x"
                    + "\(String(blocks.cpu.statePointer.pointee.currentEIP, radix: 16))): \(d)"
                return out
            }
            if stopA != stopB {
                out.divergence = "after \(reached) instructions: the block engine stopped with \(stopA.name), the interpreter with \(stopB.name)"
                return out
            }
            out.instructions = reached
            let final = stopA != .instructionLimit || reached >= maxInstructions
            if final || reached >= nextWhole {
                nextWhole = reached &+ wholeEvery
                out.wholeComparisons += 1
                let a = MachineSnapshot.capture(machine: blocks.machine, vmm: blocks.vmm, previous: nil)
                let b = MachineSnapshot.capture(machine: interp.machine, vmm: interp.vmm, previous: nil)
                let parts = a.differences(from: b)
                if !parts.isEmpty {
                    out.divergence = "after \(reached) instructions the machines differ in: \(parts.joined(separator: ", "))"
                    return out
                }
            }
            if final {
                out.stop = stopA.name
                return out
            }
        }
    }

    /// The first architectural difference between two CPUs, named, or nil.
    static func cpuDifference(_ a: CPU, _ b: CPU) -> String? {
        let x = a.statePointer.pointee, y = b.statePointer.pointee
        func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
        let names = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
        for i in 0..<8 where x.regs[i] != y.regs[i] {
            return "\(names[i]) \(hex(x.regs[i])) vs \(hex(y.regs[i]))"
        }
        if x.instructions != y.instructions { return "instruction count \(x.instructions) vs \(y.instructions)" }
        if x.eip != y.eip { return "eip \(hex(x.eip)) vs \(hex(y.eip))" }
        if a.eflags != b.eflags { return "eflags \(hex(a.eflags)) vs \(hex(b.eflags))" }
        let segs = ["es", "cs", "ss", "ds", "fs", "gs"]
        for i in 0..<6 where x.segments[i] != y.segments[i] { return "\(segs[i]) descriptor cache differs" }
        if x.ldtr != y.ldtr || x.tr != y.tr { return "ldtr/tr differ" }
        if x.gdtr.base != y.gdtr.base || x.gdtr.limit != y.gdtr.limit || x.idtr.base != y.idtr.base
            || x.idtr.limit != y.idtr.limit { return "gdtr/idtr differ" }
        if x.cr0 != y.cr0 { return "cr0 \(hex(x.cr0)) vs \(hex(y.cr0))" }
        if x.cr2 != y.cr2 { return "cr2 \(hex(x.cr2)) vs \(hex(y.cr2))" }
        if x.cr3 != y.cr3 { return "cr3 \(hex(x.cr3)) vs \(hex(y.cr3))" }
        if x.cr4 != y.cr4 { return "cr4 \(hex(x.cr4)) vs \(hex(y.cr4))" }
        for i in 0..<8 where x.dr[i] != y.dr[i] { return "dr\(i) \(hex(x.dr[i])) vs \(hex(y.dr[i]))" }
        if x.cpl != y.cpl { return "cpl \(x.cpl) vs \(y.cpl)" }
        if x.interruptShadow != y.interruptShadow { return "interrupt shadow \(x.interruptShadow) vs \(y.interruptShadow)" }
        if x.halted != y.halted { return "halted \(x.halted) vs \(y.halted)" }
        if x.fpu != y.fpu { return "x87/SSE state differs" }
        return nil
    }
}
