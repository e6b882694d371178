import X86Core
import X86Decode

/// Runs test cases on X86Core, one instruction at a time, tracking which EFLAGS bits the SDM
/// leaves undefined along the path actually taken (from the opcode table's flag columns).
final class Emulated {
    let cpu = CPU(memorySize: 16 << 20)
    let table = OpcodeTable.shared
    let decoder = Decoder()
    let initial = UnsafeMutableRawPointer.allocate(byteCount: Layout.sandboxSize, alignment: 16)
    /// Instructions x86v retired over all cases.
    var executed: UInt64 = 0
    static let stepLimit = 20_000

    struct Run {
        var outcome = Outcome()
        /// EFLAGS bits undefined at the end (or at the fault).
        var undefined: UInt32 = 0
        /// An instruction read a flag that was undefined (the generator should never allow it).
        var readUndefined = false
        /// An exit other than the end marker or an exception (not implemented, runaway…).
        var otherExit: String?
    }

    deinit { initial.deallocate() }

    func run(_ c: TestCase) -> Run {
        var result = Run()
        cpu.resetFlat(cpl: 3)
        cpu.exitOnExceptions = 0xFFFF_FFFF
        let ram = cpu.memory.ram
        let code = ram + Int(Layout.codeBase)
        // Written directly: the block engine is told which bytes changed.
        cpu.memory.rangeReplaced(Layout.codeBase, count: c.code.count + 1)
        c.code.withUnsafeBytes { code.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        code.storeBytes(of: 0xCC, toByteOffset: c.code.count, as: UInt8.self)  // INT3: the end marker
        c.initialSandbox(into: initial)
        let sandbox = ram + Int(Layout.sandboxBase)
        cpu.memory.rangeReplaced(Layout.sandboxBase, count: Layout.sandboxSize)
        sandbox.copyMemory(from: initial, byteCount: Layout.sandboxSize)
        let st = cpu.statePointer
        for i in 0..<8 { st.pointee.regs[i] = c.regs[i] }
        st.pointee.eip = Layout.codeBase
        let sandboxSegment = SegmentCache(selector: Layout.fsSelector, base: Layout.sandboxBase,
                                          limit: UInt32(Layout.sandboxSize - 1), attributes: 0x40F3)
        st.pointee[.fs] = sandboxSegment
        if c.esSandbox { st.pointee[.es] = sandboxSegment }
        cpu.flushTLB()
        cpu.eflags = (c.eflags & Layout.caseFlags) | 0x202
        let end = Layout.codeBase &+ UInt32(c.code.count)

        var undefined: UInt32 = 0
        var instruction = DecodedInstruction()
        var finished = false
        for _ in 0..<Emulated.stepLimit {
            let eip = st.pointee.eip
            var effect = FlagEffect(read: 0, written: 0, undefined: 0)
            if eip >= Layout.codeBase && eip < end,
               decoder.decode((ram + Int(eip)).assumingMemoryBound(to: UInt8.self), count: 16, mode: .bits32,
                              into: &instruction) == .ok {
                effect = table.flagEffect(of: instruction, cl: UInt8(truncatingIfNeeded: st.pointee.regs[1]))
                if !instruction.prefixes.isDisjoint(with: [.rep, .repne]),
                   table.attributes(row: Int(instruction.row)).contains(.string) {
                    let count = instruction.addressSize32 ? st.pointee.regs[1] : st.pointee.regs[1] & 0xFFFF
                    if count == 0 { effect.written = 0; effect.undefined = 0 }
                }
            }
            if effect.read & undefined != 0 { result.readUndefined = true }
            let exit = cpu.run(maxInstructions: 1)
            switch exit {
            case .instructionLimit:
                executed &+= 1
                undefined = (undefined & ~effect.written) | effect.undefined
                continue
            case .exception(let vector, let errorCode):
                if vector == 3 && st.pointee.eip == end &+ 1 {
                    result.outcome.vector = nil
                    result.outcome.eip = UInt32(c.code.count)
                } else {
                    result.outcome.vector = vector
                    result.outcome.errorCode = errorCode ?? 0
                    result.outcome.eip = st.pointee.eip &- Layout.codeBase
                }
            default:
                result.otherExit = "\(exit)"
                result.outcome.eip = st.pointee.eip &- Layout.codeBase
            }
            finished = true
            break
        }
        if !finished {
            result.otherExit = "no end after \(Emulated.stepLimit) steps"
            result.outcome.eip = st.pointee.eip &- Layout.codeBase
        }
        for i in 0..<8 { result.outcome.regs[i] = st.pointee.regs[i] }
        result.outcome.eflags = cpu.eflags & ~0x10000
        result.undefined = undefined
        result.outcome.sandboxDiff = Emulated.diff(sandbox, initial)
        return result
    }

    /// Bytes of `now` that differ from `before`, as offset << 8 | value, in offset order.
    static func diff(_ now: UnsafeMutableRawPointer, _ before: UnsafeMutableRawPointer) -> [UInt32] {
        var out: [UInt32] = []
        let a = now.assumingMemoryBound(to: UInt64.self)
        let b = before.assumingMemoryBound(to: UInt64.self)
        for w in 0..<(Layout.sandboxSize / 8) where a[w] != b[w] {
            for k in 0..<8 {
                let x = UInt8(truncatingIfNeeded: a[w] >> (8 * UInt64(k)))
                if x != UInt8(truncatingIfNeeded: b[w] >> (8 * UInt64(k))) {
                    out.append(UInt32(w * 8 + k) << 8 | UInt32(x))
                }
            }
        }
        return out
    }
}
