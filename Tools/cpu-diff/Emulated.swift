import X86Core
import X86Decode

/// Where this host's FXSAVE stores something other than what the SDM has an Intel processor
/// store, and x86v's image in guest memory is rewritten to the host's form right after the
/// FXSAVE executes, so the rest of the sequence (which may load those bytes) and the sandbox
/// comparison see the same bytes. Counted per case when the rewrite changed a byte
/// (Tools/cpu-diff/FPUKnownDifferences.md).
enum HostForm: String, CaseIterable {
    case pointers = "FXSAVE with FSW.ES = 0: FOP/FIP/FCS/FDP/FDS stored as 0 (AMD; SDM: saved)"
    case mxcsrMask = "FXSAVE: MXCSR_MASK as the host's (AMD 0x0002FFFF; SDM Pentium 4: 0x0000FFFF or 0x0000FFBF)"
    case reserved = "FXSAVE: reserved bytes 0..287 stored as 0, bytes 288-511 left alone (host; SDM: reserved)"
}

/// Runs test cases on X86Core, one instruction at a time, tracking which EFLAGS bits the SDM
/// leaves undefined along the path actually taken (from the opcode table's flag columns), and
/// for FPU cases which x87 condition codes C0–C3 (`FPUFlags`).
///
/// The machine matches the harness process where the FPU can see it: CR0.NE and MP set (#MF,
/// not FERR#), CR4.OSFXSR and OSXMMEXCPT set (as Linux runs user code: SSE on, #XM not #UD),
/// and the Linux i386 user selectors CS = 0x23 and DS = ES = SS = 0x2B (FS is the sandbox
/// segment 0x07 on both sides), so FCS and FDS in FNSTENV/FNSAVE images compare.
final class Emulated {
    let cpu = CPU(memorySize: 16 << 20)
    let table = OpcodeTable.shared
    let decoder = Decoder()
    let initial = UnsafeMutableRawPointer.allocate(byteCount: Layout.sandboxSize, alignment: 16)
    /// Instructions x86v retired over all cases.
    var executed: UInt64 = 0
    static let stepLimit = 20_000

    /// C0–C3 effects, reader and range-reduction marks by opcode-table row (FPUFlags).
    let fpuEffects: [FPUFlags.Effect]
    let fpuReaders: [Bool]
    let fpuRangeReduced: [Bool]
    let fxsaveRow: Int
    /// FCOMI, FCOMIP, FUCOMI, FUCOMIP.
    let compareToEflagsRows: [Bool]
    /// The host's MXCSR_MASK (its FXSAVE image, `NativeRun.hostMXCSRMask`).
    var hostMXCSRMask: UInt32 = 0x0000_FFFF

    init() {
        let rows = OpcodeTable.rows.indices
        let names = rows.map { OpcodeTable.shared.mnemonic(row: $0, wide: true) }
        fpuEffects = names.map { FPUFlags.effect($0) }
        fpuReaders = names.map { FPUFlags.readers.contains($0) }
        fpuRangeReduced = names.map { FPUFlags.rangeReduced.contains($0) }
        fxsaveRow = names.firstIndex(of: "fxsave") ?? -1
        compareToEflagsRows = names.map { ["fcomi", "fcomip", "fucomi", "fucomip"].contains($0) }
    }

    /// The linear address of a ModRM memory operand, as x86v is about to use it.
    static func linearAddress(_ i: DecodedInstruction, _ st: CPUState) -> UInt32 {
        var offset: UInt32 = 0
        var stackDefault = false
        if i.addressSize32 {
            if i.rm == 4 {
                let base = Int(i.sib & 7), index = Int((i.sib >> 3) & 7), scale = UInt32(i.sib >> 6)
                if index != 4 { offset = st.regs[index] << scale }
                if !(base == 5 && i.mod == 0) {
                    offset &+= st.regs[base]
                    stackDefault = base == 4 || base == 5
                }
            } else if !(i.rm == 5 && i.mod == 0) {
                offset = st.regs[Int(i.rm)]
                stackDefault = i.rm == 5
            }
            offset &+= i.displacement
        } else {
            let bx = st.regs[3], bp = st.regs[5], si = st.regs[6], di = st.regs[7]
            switch i.rm {
            case 0: offset = bx &+ si
            case 1: offset = bx &+ di
            case 2: offset = bp &+ si; stackDefault = true
            case 3: offset = bp &+ di; stackDefault = true
            case 4: offset = si
            case 5: offset = di
            case 6: if i.mod != 0 { offset = bp; stackDefault = true }
            default: offset = bx
            }
            offset = (offset &+ i.displacement) & 0xFFFF
        }
        let segment = i.segment.segmentNumber.map { Int($0) } ?? (stackDefault ? SegmentRegister.ss.rawValue : SegmentRegister.ds.rawValue)
        return st[SegmentRegister(rawValue: segment)!].base &+ offset
    }

    struct Run {
        var outcome = Outcome()
        /// EFLAGS bits undefined at the end (or at the fault).
        var undefined: UInt32 = 0
        /// x87 C0–C3 undefined at the end (or at the fault).
        var undefinedConditions: UInt16 = 0
        /// x87 C0–C3 the host sets otherwise than the SDM (FPUFlags.Effect.disputed) at the end.
        var disputedConditions: UInt16 = 0
        /// An instruction stored the status word while C0–C3 were undefined (a generator bug).
        var readUndefinedConditions = false
        /// EFLAGS bits where the host and the SDM disagree (not compared, counted): ZF PF CF after
        /// an FCOMI-family instruction that raised an unmasked invalid-operation exception (the
        /// SDM leaves them unchanged; this host sets them to 111).
        var sdmFlags: UInt32 = 0
        /// An instruction read one of `sdmFlags` (FCMOVcc after such an FCOMI, when a state load
        /// in between removed the pending exception): the rest of the case may follow either.
        var readSDMFlags = false
        /// The host-form rewrites that changed x86v's bytes (`HostForm`).
        var hostForms: Set<HostForm> = []
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
        st.pointee.cr0 |= CR0.ne | CR0.mp
        st.pointee.cr4 |= CR4.osfxsr | CR4.osxmmexcpt
        for r in SegmentRegister.allCases {
            var segment = st.pointee[r]
            segment.selector = r == .cs ? Layout.linuxCodeSelector : Layout.linuxDataSelector
            st.pointee[r] = segment
        }
        if let image = c.fpu { image.load(into: &st.pointee.fpu) }
        let sandboxSegment = SegmentCache(selector: Layout.fsSelector, base: Layout.sandboxBase,
                                          limit: UInt32(Layout.sandboxSize - 1), attributes: 0x40F3)
        st.pointee[.fs] = sandboxSegment
        if c.esSandbox { st.pointee[.es] = sandboxSegment }
        cpu.flushTLB()
        cpu.eflags = (c.eflags & Layout.caseFlags) | 0x202
        let end = Layout.codeBase &+ UInt32(c.code.count)

        var undefined: UInt32 = 0
        var undefinedConditions: UInt16 = 0
        var disputedConditions: UInt16 = 0
        var sdmFlags: UInt32 = 0
        let fpuCase = c.fpu != nil
        var fxsaveTarget: UInt32?
        var instruction = DecodedInstruction()
        var finished = false
        for _ in 0..<Emulated.stepLimit {
            let eip = st.pointee.eip
            var effect = FlagEffect(read: 0, written: 0, undefined: 0)
            var row = 0
            if eip >= Layout.codeBase && eip < end,
               decoder.decode((ram + Int(eip)).assumingMemoryBound(to: UInt8.self), count: 16, mode: .bits32,
                              into: &instruction) == .ok {
                row = Int(instruction.row)
                if fpuCase && row == fxsaveRow { fxsaveTarget = Emulated.linearAddress(instruction, st.pointee) }
                if fpuCase && fpuReaders[row] && (undefinedConditions | disputedConditions) != 0 {
                    result.readUndefinedConditions = true
                }
                effect = table.flagEffect(of: instruction, cl: UInt8(truncatingIfNeeded: st.pointee.regs[1]))
                if !instruction.prefixes.isDisjoint(with: [.rep, .repne]),
                   table.attributes(row: Int(instruction.row)).contains(.string) {
                    let count = instruction.addressSize32 ? st.pointee.regs[1] : st.pointee.regs[1] & 0xFFFF
                    if count == 0 { effect.written = 0; effect.undefined = 0 }
                }
            }
            if effect.read & undefined != 0 { result.readUndefined = true }
            let readsSDMFlags = effect.read & sdmFlags != 0
            // Bytes 288–511 of an FXSAVE target as they were (the host does not write them).
            var untouched: [UInt8] = []
            if let target = fxsaveTarget, target >= Layout.sandboxBase, target &- Layout.sandboxBase <= UInt32(Layout.sandboxSize - 512) {
                untouched = Array(UnsafeBufferPointer(start: (ram + Int(target) + 288).assumingMemoryBound(to: UInt8.self), count: 224))
            }
            let exit = cpu.run(maxInstructions: 1)
            switch exit {
            case .instructionLimit:
                executed &+= 1
                undefined = (undefined & ~effect.written) | effect.undefined
                if readsSDMFlags { result.readSDMFlags = true }  // (an #MF before the read does not count)
                sdmFlags &= ~effect.written
                if fpuCase && compareToEflagsRows[row] && st.pointee.fpu.status & 1 != 0 && st.pointee.fpu.control & 1 == 0 {
                    sdmFlags |= EFLAGS.zf | EFLAGS.pf | EFLAGS.cf
                }
                if let target = fxsaveTarget {
                    hostForm(fxsaveAt: target, untouched: untouched, into: &result.hostForms)
                    fxsaveTarget = nil
                }
                if fpuCase {
                    let c = fpuEffects[row]
                    undefinedConditions = (undefinedConditions & ~c.written) | c.undefined
                    disputedConditions = (disputedConditions & ~(c.written | c.undefined)) | c.disputed
                    if fpuRangeReduced[row] && st.pointee.fpu.status & FSW.c2 != 0 { undefinedConditions |= FSW.c1 }
                }
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
        result.sdmFlags = sdmFlags
        if fpuCase {
            result.outcome.fpu = FXImage(st.pointee.fpu)
            result.undefinedConditions = undefinedConditions
            result.disputedConditions = disputedConditions & ~undefinedConditions
        }
        result.outcome.sandboxDiff = Emulated.diff(sandbox, initial)
        return result
    }

    /// Rewrites x86v's FXSAVE image at `target` into the host's form (`HostForm`).
    func hostForm(fxsaveAt target: UInt32, untouched: [UInt8], into forms: inout Set<HostForm>) {
        guard target >= Layout.sandboxBase, target &- Layout.sandboxBase <= UInt32(Layout.sandboxSize - 512) else { return }
        let image = (cpu.memory.ram + Int(target)).assumingMemoryBound(to: UInt8.self)
        cpu.memory.rangeReplaced(target, count: 512)
        func set(_ offset: Int, _ value: UInt8, _ form: HostForm) {
            if image[offset] != value { image[offset] = value; forms.insert(form) }
        }
        if image[2] & 0x80 == 0 { for k in 6..<24 { set(k, 0, .pointers) } }
        for k in 0..<4 { set(28 + k, UInt8(truncatingIfNeeded: hostMXCSRMask >> UInt32(8 * k)), .mxcsrMask) }
        var reserved = [5, 14, 15, 22, 23]
        for i in 0..<8 { reserved += Array((32 + 16 * i + 10)..<(32 + 16 * i + 16)) }
        for k in reserved { set(k, 0, .reserved) }
        if untouched.count == 224 { for k in 0..<224 { set(288 + k, untouched[k], .reserved) } }
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
