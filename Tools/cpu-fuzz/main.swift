// cpu-fuzz: robustness fuzzing of the interpreter. Random bytes run as code in random CPU
// states (CPL 0 or 3, paging on or off over random page tables, random descriptor tables and
// IDT, random registers and flags). Every run has an instruction budget. The host must survive
// any byte stream: the process never crashes, hangs or grows without bound. Prints one summary
// line with the number of instructions executed and how the runs ended.
//
//   cpu-fuzz [--instructions N] [--seed S] [--engine blocks|interp]
import CX87Host
import X86Core
#if canImport(Glibc)
import Glibc
#endif

struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
    mutating func below(_ n: UInt32) -> UInt32 { UInt32(next() % UInt64(n)) }
}

var total: UInt64 = 1_000_000
var seed: UInt64 = 1
var engine = ExecutionEngine.blocks
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--instructions": total = args.popFirst().flatMap { UInt64($0) } ?? total
    case "--seed": seed = args.popFirst().flatMap { UInt64($0) } ?? seed
    case "--engine" where args.first.flatMap(ExecutionEngine.init(rawValue:)) != nil:
        engine = ExecutionEngine(rawValue: args.popFirst()!)!
    default:
        let message = Array("cpu-fuzz: bad argument '\(a)' (use --instructions N --seed S --engine blocks|interp)\n".utf8)
        _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(2)
    }
}

let memorySize = 4 << 20
let cpu = CPU(memorySize: memorySize)
cpu.engine = engine
var rng = SplitMix64(state: seed)
var executed: UInt64 = 0
var runs = 0
var outcomes: [String: Int] = [:]
/// FNV-1a over every run's final registers, EIP, EFLAGS and count: the two engines must print
/// the same digest for the same seed (make test compares them).
var digest: UInt64 = 0xCBF2_9CE4_8422_2325
@MainActor func mix(_ v: UInt64) { digest = (digest ^ v) &* 0x100_0000_01B3 }
let interesting: [UInt32] = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1000, 0x3FF000]

/// A random x87/SSE state (issue 16): any control word (unmasked exceptions included), flags
/// and ES that may disagree with the masks, any tags, TOP, registers from the edge classes or
/// random bits (unsupported encodings included), any valid MXCSR, random XMM registers.
func randomFPU(_ f: inout FPUState, _ rng: inout SplitMix64) {
    let edges: [(UInt64, UInt16)] = [
        (0, 0), (0, 0x8000), (1, 0), (0x8000_0000_0000_0000, 0x3FFF), (0x8000_0000_0000_0000, 0x7FFF),
        (0xC000_0000_0000_0000, 0x7FFF), (0x8000_0000_0000_0001, 0x7FFF), (0xFFFF_FFFF_FFFF_FFFF, 0x7FFE),
        (0x8000_0000_0000_0000, 0x0001), (0x4000_0000_0000_0000, 0x3FFF), (0x8000_0000_0000_0000, 0),
        (0xFFFF_FFFF_FFFF_FFFF, 0x403E), (0x8000_0000_0000_0000, 0x401E),
    ]
    for i in 0..<8 {
        if rng.below(2) == 0 {
            let e = edges[Int(rng.below(UInt32(edges.count)))]
            f.registers[i] = X87Register(significand: e.0, signExponent: e.1 | (rng.below(2) == 0 ? 0x8000 : 0))
        } else {
            f.registers[i] = X87Register(significand: rng.next(), signExponent: UInt16(truncatingIfNeeded: rng.u32()))
        }
        f.xmm[i] = XMMRegister(low: rng.next(), high: rng.next())
    }
    f.control = UInt16(truncatingIfNeeded: rng.u32()) & 0x1F7F | 0x40
    if rng.below(2) == 0 { f.control |= 0x3F }
    f.status = UInt16(truncatingIfNeeded: rng.u32()) & (rng.below(2) == 0 ? 0x3800 : 0xFFFF)
    f.tags = UInt16(truncatingIfNeeded: rng.u32())
    f.mxcsr = rng.u32() & 0xFFFF
    if rng.below(2) == 0 { f.mxcsr |= 0x1F80 }
}

/// The host's FPU environment before any guest runs: every run must leave it so (issue 16).
func hostEnvironment() -> (UInt16, UInt16, UInt32) {
    var cw: UInt16 = 0, sw: UInt16 = 0, mxcsr: UInt32 = 0
    cx87_host_environment(&cw, &sw, &mxcsr)
    return (cw, sw & 0x80, mxcsr & ~0x3F)
}
let hostBefore = hostEnvironment()

while executed < total {
    runs += 1
    cpu.resetFlat(cpl: rng.below(4) == 0 ? 3 : 0)
    // Random memory: random bytes once, then each run re-randomizes a few pages and zeroes a
    // few (so page tables and descriptors see both garbage and not-present entries).
    let ram = cpu.memory.ram.assumingMemoryBound(to: UInt64.self)
    // (Written directly, so the block engine is told which pages changed.)
    if runs == 1 { for i in 0..<(memorySize / 8) { ram[i] = rng.next() } }
    for _ in 0..<8 {
        let page = Int(rng.below(UInt32(memorySize / 4096)))
        cpu.memory.pageReplaced(UInt32(page * 4096))
        for i in 0..<512 { ram[page * 512 + i] = rng.next() }
    }
    for _ in 0..<4 {
        let page = Int(rng.below(UInt32(memorySize / 4096)))
        cpu.memory.pageReplaced(UInt32(page * 4096))
        (cpu.memory.ram + page * 4096).initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    }
    var st = cpu.state
    for r in 0..<8 {
        st.regs[r] = rng.below(3) == 0 ? interesting[Int(rng.below(UInt32(interesting.count)))] : rng.below(UInt32(memorySize))
    }
    st.eip = rng.below(UInt32(memorySize - 64))
    st.flags = (rng.u32() & 0x0025_4FD5) | 2
    st.gdtr = TableRegister(base: rng.below(UInt32(memorySize)), limit: UInt16(truncatingIfNeeded: rng.u32()))
    st.idtr = TableRegister(base: rng.below(UInt32(memorySize)), limit: UInt16(truncatingIfNeeded: rng.u32()))
    st.tr = SegmentCache(selector: 0x28, base: rng.below(UInt32(memorySize)), limit: 0x67 + rng.below(0x2000), attributes: 0x8B)
    if rng.below(2) == 0 {
        st.cr0 |= CR0.pg | (rng.below(2) == 0 ? CR0.wp : 0)
        st.cr3 = rng.below(UInt32(memorySize)) & ~0xFFF
        st.pagingRoot = st.cr3
        st.cr4 = rng.below(2) == 0 ? CR4.pse | CR4.pge : 0
    }
    if rng.below(4) == 0 { st.cr0 |= CR0.ts | CR0.em }
    if rng.below(2) == 0 { st.cr0 |= CR0.ne; st.cr0 &= ~(rng.below(2) == 0 ? CR0.ts | CR0.em : 0) }
    if rng.below(2) == 0 { st.cr4 |= CR4.osfxsr | (rng.below(2) == 0 ? CR4.osxmmexcpt : 0) }
    if rng.below(2) == 0 { randomFPU(&st.fpu, &rng) }
    if rng.below(8) == 0 { st.dr[7] = rng.u32() & 0xFFFF_03FF; st.dr[0] = st.eip &+ rng.below(16) }
    cpu.state = st
    cpu.exitOnExceptions = rng.below(2) == 0 ? 0 : rng.u32()
    let budget = UInt64(1 + rng.below(2000))
    var left = budget
    var exits = 0
    while left > 0 && exits < 64 {
        let before = cpu.state.instructions
        let exit = cpu.run(maxInstructions: left)
        let done = cpu.state.instructions - before
        executed += done
        left -= min(left, max(done, 1))
        exits += 1
        var key: String
        switch exit {
        case .portIO(let a):
            key = "port I/O"
            if a.isIn { cpu.completePortIn(value: rng.u32()) } else { cpu.completePortOut() }
            continue
        case .instructionLimit: key = "instruction limit"
        case .halted: key = "halt"
        case .shutdown: key = "triple fault"
        case .exception: key = "exception exit"
        case .notImplemented: key = "not implemented"
        case .interruptWindow: key = "interrupt window"
        case .intercepted: key = "intercepted"
        case .breakpoint: key = "breakpoint"
        }
        outcomes[key, default: 0] += 1
        break
    }
    let host = hostEnvironment()
    if host != hostBefore {
        print("cpu-fuzz: run \(runs) (seed \(seed)) changed the host's FPU environment: control/ES/MXCSR \(host), was \(hostBefore)")
        exit(1)
    }
    let end = cpu.statePointer.pointee
    for r in 0..<8 { mix(UInt64(end.regs[r])) }
    mix(UInt64(end.eip)); mix(UInt64(cpu.eflags)); mix(end.instructions); mix(UInt64(end.cr2))
    mix(UInt64(end.fpu.control) | UInt64(end.fpu.status) << 16 | UInt64(end.fpu.tags) << 32); mix(UInt64(end.fpu.mxcsr))
    for i in 0..<8 {
        mix(end.fpu.registers[i].significand ^ UInt64(end.fpu.registers[i].signExponent) << 48)
        mix(end.fpu.xmm[i].low ^ end.fpu.xmm[i].high.byteSwapped)
    }
}

let summary = outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
print("cpu-fuzz: \(executed) random instructions in \(runs) runs (seed \(seed)); runs ended by: \(summary); state digest \(String(digest, radix: 16)) (engine \(engine.rawValue))")
