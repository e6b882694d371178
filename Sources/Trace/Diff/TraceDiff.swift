import X86Decode
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// Finds the first instruction where two traces disagree.
///
/// Both streams are read step by step (REP iterations collapsed); at each aligned pair the
/// states before the instruction are compared: CS:EIP, the GPRs, EFLAGS and the selectors (and
/// the guest's control registers when both sides are x86v). With `rules` on (a reference machine
/// on one side), the differences `DiffRules` allow are masked or resynchronised, each counted.
public final class TraceDiff {
    public struct Options: Sendable {
        /// Apply `DiffRules` (a different machine on side B). Off: two x86v configurations, which
        /// must agree exactly.
        public var rules = true
        /// Compare the control registers too (both sides record the guest's own).
        public var compareControlRegisters = false
        /// Steps of context in the report.
        public var context = 10
        /// Resynchronisation windows (steps each side).
        public var window = 4096
        /// The guest image's bytes at a linear address, for QEMU steps at code x86v has not run
        /// (where an interrupt handler only QEMU ran stores).
        public var imageBytes: (@Sendable (UInt32) -> [UInt8]?)? = nil
        public init() {}
    }

    public struct Divergence: Sendable {
        public var a: TraceStep
        public var b: TraceStep
        public var aPosition: UInt64
        public var bPosition: UInt64
        /// Fields that differ (unmasked): field, A's value, B's value.
        public var fields: [(TraceField, UInt32, UInt32)]
        public var contextA: [TraceStep]
        public var contextB: [TraceStep]
        /// Why comparison could not go on past a rule, when that is the case.
        public var rule: DiffRule? = nil
        /// Registers masked at that point, and by which rule.
        public var masked: [(TraceField, DiffRule)] = []
        public var note: String? = nil
        /// x87/SSE fields that differ (unmasked): field, A's value, B's value.
        public var fpuFields: [(TraceFPUField, TraceFPUValue, TraceFPUValue)] = []
    }

    public struct Result: Sendable {
        /// Steps compared (pairs).
        public var compared: UInt64 = 0
        public var divergence: Divergence? = nil
        /// How many times each rule hid a difference (rule id → count).
        public var applied: [String: UInt64] = [:]
        /// Steps one side ran that the other did not (skipped by resynchronisation), per side.
        public var skippedA: UInt64 = 0
        public var skippedB: UInt64 = 0
        /// REP iterations folded into one step, per side.
        public var collapsedA: UInt64 = 0
        public var collapsedB: UInt64 = 0
        /// Which side ended first: "A", "B", or "" if both did together.
        public var endedFirst = ""
        public var stepsA: UInt64 = 0
        public var stepsB: UInt64 = 0
        /// Comparison ended at a rule that allows the runs to differ from there on.
        public var stoppedBy: DiffRule? = nil
        /// Times the x87/SSE states were compared (only after one side's changed).
        public var fpuComparisons: UInt64 = 0
        /// The side whose trace records no x87/SSE state while the other's does ("A", "B"):
        /// the FPU was not compared.
        public var fpuMissing = ""
        public var identical: Bool { divergence == nil }
    }

    let a: StepCursor
    let b: StepCursor
    let options: Options
    var result = Result()
    let table = OpcodeTable.shared
    let decoder = Decoder()

    /// Fields masked until the two sides agree (bits, for EFLAGS), and the rule that masked each.
    var untilEqual: InlineArray<20, UInt32> = .init(repeating: 0)
    var maskedBy: [DiffRule?] = Array(repeating: nil, count: TraceField.count)
    /// EFLAGS bits left undefined by an earlier instruction and not written since.
    var flagTaint: UInt32 = 0
    /// An interrupt resynchronisation happened: a later EIP mismatch may be its return point.
    var resyncArmed: UInt64? = nil
    /// The two runs' entry values of each register the loader left open, where they differ: a
    /// register holding A's value on side A and B's on side B is a copy of it (rule entry-state).
    var entryPairs: [(UInt32, UInt32)] = []
    /// Memory bytes (x86v's linear addresses) written from masked values, with the rule.
    var memoryTaint: [UInt32: DiffRule] = [:]
    /// The instruction just compared read a masked value: whatever now differs came from it.
    var pendingPropagation: DiffRule? = nil
    /// The instruction just compared was a conditional one that read a masked value.
    var branchRule: DiffRule? = nil
    let compared: [TraceField]
    /// Incremented per step compared (a watchdog reads it).
    var progress: UnsafeMutablePointer<Int>? = nil {
        didSet { a.progress = progress; b.progress = progress }
    }

    /// EFLAGS bits compared: the architectural ones (bit 1 is always 1; RF is compared).
    static let eflagsCompared: UInt32 = 0x0037_7FD5
    /// OF SF ZF AF PF CF: the only flags a value-dependent rule may mask (IF, DF, TF, IOPL, NT,
    /// AC are control state: a difference there is always a divergence).
    static let arithmeticFlags: UInt32 = 0x8D5

    public init(_ a: TraceStepSource, _ b: TraceStepSource, options: Options = Options()) {
        self.a = StepCursor(a, history: options.context)
        self.b = StepCursor(b, history: options.context)
        self.options = options
        compared = TraceField.allCases.filter { !$0.isControl || options.compareControlRegisters }
    }

    public func run() throws(TraceInputError) -> Result {
        guard let first = try a.peek() else { throw TraceInputError("\(a.label): no steps") }
        guard let firstB = try b.peek() else { throw TraceInputError("\(b.label): no steps") }
        if first.linear != firstB.linear || first.before.cs != firstB.before.cs {
            throw TraceInputError("the traces never align: \(a.label) starts at \(location(first)), \(b.label) at \(location(firstB))")
        }
        if options.rules && first.index == 0 { maskEntryState(first.before, firstB.before) }
        while true {
            // Side A first: when it has ended, B is not read again (it may be a machine that
            // sleeps forever and never closes its stream).
            guard let sa = try a.peek() else {
                result.endedFirst = try b.peekIfEnded() ? "" : "A"
                break
            }
            guard let sb = try b.peek() else {
                result.endedFirst = "B"
                break
            }
            if options.rules, try resynchroniseInterrupts() { continue }
            if let rule = pendingPropagation {
                propagate(rule, sa.before, sb.before)
                pendingPropagation = nil
            }
            let diffs = differences(sa.before, sb.before, sameLocation: sa.linear == sb.linear && sa.before.cs == sb.before.cs)
            if diffs.isEmpty {
                let fpuDiffs = fpuDifferences(sa, sb)
                if !fpuDiffs.isEmpty {
                    result.divergence = divergence(sa, sb, [], rule: nil)
                    result.divergence!.fpuFields = fpuDiffs
                    break
                }
                noteAgreement(sa.before, sb.before)
                applyInstructionRules(sa, sb)
                seen.insert(UInt64(sa.before.cs) << 32 | UInt64(sa.linear))
                if !sa.bytes.isEmpty && code.count < 1 << 20 { code[UInt64(sa.before.cs) << 32 | UInt64(sa.linear)] = sa.bytes }
                recent[Int(result.compared % 64)] = UInt64(sa.before.cs) << 32 | UInt64(sa.linear)
                try a.advance()
                try b.advance()
                result.compared += 1
                continue
            }
            if options.rules {
                if let rule = departureRule() {
                    if try converge(rule: rule) { continue }
                    result.stoppedBy = rule
                    result.divergence = divergence(sa, sb, diffs, rule: rule)
                    break
                }
                if let rule = branchRule {
                    branchRule = nil
                    if try converge(rule: rule) { note("branch converge \(rule.id)"); continue }
                    if try followLoop(rule: rule, sa, sb) { note("follow loop \(rule.id)"); continue }
                }
                if let armed = resyncArmed, result.compared &- armed < 1_000_000, try converge(rule: DiffRules.interruptTiming) {
                    note("interrupt converge")
                    continue
                }
            }
            result.divergence = divergence(sa, sb, diffs, rule: nil)
            break
        }
        result.collapsedA = a.collapsed
        result.collapsedB = b.collapsed
        result.stepsA = a.position
        result.stepsB = b.position
        return result
    }

    func location(_ s: TraceStep) -> String {
        "\(hex4(s.before.cs)):\(hex8(s.before.eip))"
    }

    // MARK: Comparing

    func differences(_ x: TraceRegisters, _ y: TraceRegisters, sameLocation: Bool) -> [(TraceField, UInt32, UInt32)] {
        var out: [(TraceField, UInt32, UInt32)] = []
        if !sameLocation {
            out.append((.eip, x.eip, y.eip))
        }
        for f in compared {
            var bits = x[f] ^ y[f]
            if f == .eflags { bits &= TraceDiff.eflagsCompared & ~flagTaint }
            bits &= ~untilEqual[f.rawValue]
            if bits != 0 && f.isGPR && valueRule(x[f], y[f]) != nil { continue }
            if bits != 0 && !(f == .eip && !sameLocation) { out.append((f, x[f], y[f])) }
        }
        return out
    }

    /// The sides agree on everything unmasked: count what the masks hid, and lift each mask the
    /// two values now agree on.
    func noteAgreement(_ x: TraceRegisters, _ y: TraceRegisters) {
        if (x[.eflags] ^ y[.eflags]) & TraceDiff.eflagsCompared & flagTaint != 0 {
            count(DiffRules.undefinedFlags)
        }
        for f in compared where f.isGPR && untilEqual[f.rawValue] == 0 && x[f] != y[f] {
            if let r = valueRule(x[f], y[f]) { count(r) }
        }
        for f in compared where untilEqual[f.rawValue] != 0 {
            let bits = x[f] ^ y[f]
            if bits & untilEqual[f.rawValue] != 0, let r = maskedBy[f.rawValue] { count(r) }
            if f == .eflags { untilEqual[f.rawValue] &= bits } else if bits == 0 { untilEqual[f.rawValue] = 0 }
            if untilEqual[f.rawValue] == 0 { maskedBy[f.rawValue] = nil }
        }
    }

    /// The rule under which two values of a GPR may differ by what they are, wherever they are.
    func valueRule(_ x: UInt32, _ y: UInt32) -> DiffRule? {
        guard options.rules else { return nil }
        if isEntryPair(x, y) { return DiffRules.entryState }
        // The second dword of a present code-segment descriptor, x86v's with the accessed bit
        // set and QEMU's without.
        if x ^ y == 0x100 && x & 0x100 != 0 && x & 0x9800 == 0x9800 { return DiffRules.qemuAccessedBit }
        // A present paging-structure entry, QEMU's with the accessed flag and x86v's without.
        if x ^ y == 0x20 && y & 0x20 != 0 && x & 1 != 0 { return DiffRules.accessedOnFault }
        return nil
    }

    /// x and y differ only where a pair of entry values differs, each side showing its own
    /// entry value there (a copy of the value, or of part of it after a partial write).
    func isEntryPair(_ x: UInt32, _ y: UInt32) -> Bool {
        let d = x ^ y
        return entryPairs.contains { p in
            let pd = p.0 ^ p.1
            return d == pd && x & d == p.0 & d && y & d == p.1 & d
        }
    }

    /// X86V_DIFF_DEBUG=1: every resynchronisation on stderr (for working on the rules).
    let debug = getenv("X86V_DIFF_DEBUG") != nil
    func note(_ what: @autoclosure () -> String) {
        guard debug else { return }
        let a = (try? self.a.peek()).flatMap { $0 }, b = (try? self.b.peek()).flatMap { $0 }
        let text = "diff: \(what()) -> A n=\(a?.index ?? 0) \(hex8(a?.linear ?? 0)) B n=\(b?.index ?? 0) \(hex8(b?.linear ?? 0))\n"
        var bytes = Array(text.utf8)
        _ = write(2, &bytes, bytes.count)
    }

    func count(_ rule: DiffRule) {
        result.applied[rule.id, default: 0] += 1
    }

    func mask(_ f: TraceField, _ bits: UInt32 = 0xFFFF_FFFF, by rule: DiffRule) {
        untilEqual[f.rawValue] |= bits
        maskedBy[f.rawValue] = rule
    }

    // MARK: x87/SSE

    /// FPU fields masked until the two sides agree, with the rule of each.
    var fpuMaskedBy: [DiffRule?] = Array(repeating: nil, count: TraceFPUField.count)
    /// The FPU states compared last: while both sides still hold the same boxes (no x87/SSE
    /// instruction changed anything), there is nothing new to compare.
    var lastFPUA: TraceFPU? = nil
    var lastFPUB: TraceFPU? = nil
    /// FPU fields that differ at the next comparison are masked by this rule (the entry state;
    /// a result QEMU computes differently; an instruction that read a masked value).
    var pendingFPURule: DiffRule? = nil

    /// The x87/SSE fields that differ before this pair of steps, unmasked. Two x86v runs must
    /// agree on every field; against a reference machine only what `DiffRules.qemuFPUStatus`
    /// names is compared.
    func fpuDifferences(_ sa: TraceStep, _ sb: TraceStep) -> [(TraceFPUField, TraceFPUValue, TraceFPUValue)] {
        guard let fa = sa.fpu, let fb = sb.fpu else {
            if result.fpuMissing.isEmpty && (sa.fpu == nil) != (sb.fpu == nil) { result.fpuMissing = sa.fpu == nil ? "A" : "B" }
            return []
        }
        let rule = pendingFPURule
        pendingFPURule = nil
        if fa === lastFPUA && fb === lastFPUB { return [] }
        result.fpuComparisons += 1
        let x = fa.state, y = fb.state
        var out: [(TraceFPUField, TraceFPUValue, TraceFPUValue)] = []
        var hidden: [DiffRule] = []
        func hide(_ r: DiffRule) { if !hidden.contains(r) { hidden.append(r) } }
        for f in TraceFPUField.allCases {
            let vx = x[trace: f], vy = y[trace: f]
            var same = vx == vy
            if !same && options.rules {
                switch f {
                case .fop, .fip, .fcs, .fdp, .fds: continue   // not in QEMU's dump at all
                case .fcw: same = (vx.low ^ vy.low) & 0x1F3F == 0
                case .fsw: same = (vx.low ^ vy.low) & 0x3800 == 0
                case .ftw: same = Self.inUse(x.tags) == Self.inUse(y.tags)
                case .mxcsr: same = (vx.low ^ vy.low) & 0xFFC0 == 0
                case .r0, .r1, .r2, .r3, .r4, .r5, .r6, .r7:
                    let r = f.rawValue
                    if (x.tags >> (2 * UInt16(r))) & 3 == 3 || (y.tags >> (2 * UInt16(r))) & 3 == 3 {
                        same = true
                    } else if vx.low == vy.low && vx.high == 0xFFFF {
                        same = true
                        hide(DiffRules.qemuMMXExponent)
                    }
                default: break
                }
                if same { hide(DiffRules.qemuFPUStatus) }
            }
            if same {
                fpuMaskedBy[f.rawValue] = nil
                continue
            }
            if let r = fpuMaskedBy[f.rawValue] { hide(r); continue }
            if let r = rule {
                fpuMaskedBy[f.rawValue] = r
                hide(r)
                continue
            }
            out.append((f, vx, vy))
        }
        for r in hidden { count(r) }
        if out.isEmpty {
            lastFPUA = fa
            lastFPUB = fb
        }
        return out
    }

    /// Bit i set when R(i) is not empty.
    static func inUse(_ tags: UInt16) -> UInt8 {
        var a: UInt8 = 0
        for i in 0..<8 where (tags >> (2 * UInt16(i))) & 3 != 3 { a |= 1 << UInt8(i) }
        return a
    }

    /// The x87 compares that write EFLAGS (`DiffRules.qemuFcomiFlags`).
    static let comparesIntoEFLAGS: Set<String> = ["fcomi", "fcomip", "fucomi", "fucomip"]

    /// QEMU computes these another way than hardware (`DiffRules.qemuFPUResults`).
    static let qemuComputesOtherwise: Set<String> = ["fsin", "fcos", "fsincos", "fptan", "rcpss", "rcpps", "rsqrtss", "rsqrtps"]

    /// After an x87/MMX/SSE instruction against a reference machine: a result the reference
    /// computes otherwise, or one computed from a masked FPU field, is masked at the next
    /// comparison; what the instruction stored and the general registers it set follow.
    func applyFPURules(_ d: DecodedInstruction, _ sa: TraceStep) {
        guard !table.attributes(row: Int(d.row)).isDisjoint(with: [.x87, .mmx, .sse]) else { return }
        let mnemonic = table.mnemonic(row: Int(d.row), wide: true)
        if Self.comparesIntoEFLAGS.contains(mnemonic) {
            mask(.eflags, 0x0000_0890, by: DiffRules.qemuFcomiFlags)   // OF SF AF
        }
        var rule: DiffRule? = nil
        if Self.qemuComputesOtherwise.contains(mnemonic) {
            rule = DiffRules.qemuFPUResults
        } else if let masked = fpuMaskedBy.first(where: { $0 != nil }) {
            rule = masked
        }
        guard let r = rule else { return }
        pendingFPURule = r
        if pendingPropagation == nil { pendingPropagation = r }
        for w in sa.writes {
            for k in 0..<UInt32(w.size) { memoryTaint[w.linear &+ k] = r }
        }
    }

    // MARK: Rules

    func maskEntryState(_ x: TraceRegisters, _ y: TraceRegisters) {
        for f in [TraceField.ecx, .edx, .ebx, .esp, .ebp, .esi, .edi, .es, .cs, .ss, .ds, .fs, .gs] {
            mask(f, by: DiffRules.entryState)
            if f.isGPR && x[f] != y[f] && !isEntryPair(x[f], y[f]) { entryPairs.append((x[f], y[f])) }
        }
        // The info block and what it points to (x86v's copy, where side A reads it): its
        // contents are the loader's too (QEMU's firmware keeps the top of RAM for itself, so even
        // mem_upper differs).
        if x[.eax] == 0x2BAD_B002 {
            for k in 0..<UInt32(0x7000) { memoryTaint[x[.ebx] &+ k] = DiffRules.entryState }
        }
        // EFLAGS: all but IF (bit 9) and VM (bit 17).
        mask(.eflags, ~(UInt32(1) << 9 | UInt32(1) << 17), by: DiffRules.entryState)
        // The x87/SSE state: the loader's (QEMU's firmware ran FNINIT; x86v is at power-on).
        pendingFPURule = DiffRules.entryState
    }

    /// The same fault in both runs: x86v's pushed EFLAGS image has RF (SDM), QEMU's not
    /// (qemu-fault-rf). Applied after the step's data flow, which would clear the taint of
    /// bytes it writes.
    func applyFaultRFRule(_ sa: TraceStep) {
        let rf: UInt32 = 1 << 16
        // Only x86v's side is looked at: QEMU's log may attach a fetch fault to another step
        // than x86v's trace, and a fault only one side took diverges anyway.
        for ea in sa.events where ea.kind == .exception && Vector.setsRF(ea.vector) {
            let image = sa.before[.eflags] | rf
            for w in sa.writes where w.size == 4 && w.value == image && sa.before[.eflags] & rf == 0 {
                for k in 0..<UInt32(4) { memoryTaint[w.linear &+ k] = DiffRules.qemuFaultRF }
                count(DiffRules.qemuFaultRF)
            }
        }
    }

    func applyInstructionRules(_ sa: TraceStep, _ sb: TraceStep) {
        let bytes = sa.bytes.isEmpty ? sb.bytes : sa.bytes
        guard !bytes.isEmpty else {
            // A fetch fault: no instruction to decode, but its frame has RF.
            if options.rules { applyFaultRFRule(sa) }
            return
        }
        var d = DecodedInstruction()
        let ok = bytes.withUnsafeBufferPointer { decoder.decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &d) == .ok }
        guard ok else {
            // A #UD's bytes do not decode: no data flow to follow, but its frame has RF.
            if options.rules { applyFaultRFRule(sa) }
            return
        }
        let faulted = sa.events.contains { $0.kind == .exception } || sb.events.contains { $0.kind == .exception }
        if options.rules && !faulted {
            let e = table.flagEffect(of: d, cl: UInt8(truncatingIfNeeded: sa.before[.ecx]))
            flagTaint = (flagTaint & ~(e.written & ~e.undefined)) | e.undefined
        }
        guard options.rules else { return }
        followDataFlow(d, sa, sb)
        applyFPURules(d, sa)
        applyFaultRFRule(sa)
        // The same exception with error codes differing only in EXT (bit 0): the pushed error
        // code is QEMU's known departure; mask it where the guest will read it.
        for ea in sa.events where ea.kind == .exception {
            guard let ca = ea.errorCode,
                  let cb = sb.events.first(where: { $0.kind == .exception && $0.vector == ea.vector })?.errorCode,
                  ca ^ cb == 1 else { continue }
            for w in sa.writes where w.value == ca && w.size == 4 {
                for k in 0..<UInt32(4) { memoryTaint[w.linear &+ k] = DiffRules.qemuExtBit }
            }
            count(DiffRules.qemuExtBit)
        }
        // The I/O APIC's version register (index 1 through the window at FEC00010h).
        for w in sa.writes where w.linear == 0xFEC0_0000 { ioapicSelect = w.value & 0xFF }
        if ioapicSelect == 1, sa.events.contains(where: { $0.kind == .exit && $0.address == 0xFEC0_0010 }), let after = sa.after {
            for f in TraceField.allCases where f.isGPR && after[f] != sa.before[f] { mask(f, by: DiffRules.modelIdentity) }
        }
        // Reads of the local APIC's version register (offset 30h) describe the model.
        if sa.events.contains(where: { $0.kind == .exit && $0.detail == "APIC_ACCESS" && ($0.address ?? 0) & 0xFFF == 0x030 }),
           let after = sa.after {
            for f in TraceField.allCases where f.isGPR && after[f] != sa.before[f] { mask(f, by: DiffRules.modelIdentity) }
        }
        if d.map == 1 && d.opcode == 0xA2 {
            for f in [TraceField.eax, .ebx, .ecx, .edx] { mask(f, by: DiffRules.modelIdentity) }
        } else if d.map == 1 && d.opcode == 0x31 {
            mask(.eax, by: DiffRules.timeStamp)
            mask(.edx, by: DiffRules.timeStamp)
        } else if d.map == 1 && d.opcode == 0x32 {
            // RDMSR: IA32_TIME_STAMP_COUNTER is the clock; the others describe the model.
            let rule = sa.before[.ecx] == 0x10 ? DiffRules.timeStamp : DiffRules.modelIdentity
            mask(.eax, by: rule)
            mask(.edx, by: rule)
        } else if d.map == 0 && (0xE4...0xE5 ~= d.opcode || 0xEC...0xED ~= d.opcode) {
            let port = d.opcode >= 0xEC ? sa.before[.edx] & 0xFFFF : d.immediate & 0xFF
            if (0x40...0x43).contains(port) || port == 0x61 || port == 0x71 || port == 0x20 || port == 0xA0 {
                mask(.eax, by: DiffRules.deviceTiming)
            }
            if port == 0x3FE || port == 0x2FE { mask(.eax, by: DiffRules.qemuModemStatus) }
        }
        // A read of the local APIC timer's current count (x86v reports the APIC access).
        if sa.events.contains(where: { $0.kind == .exit && $0.detail == "APIC_ACCESS" && ($0.address ?? 0) & 0xFFF == 0x390 }),
           let after = sa.after {
            for f in TraceField.allCases where f.isGPR && after[f] != sa.before[f] { mask(f, by: DiffRules.deviceTiming) }
        }
    }

    /// Masked values spread: what an instruction computes from a masked register, a masked flag
    /// or memory written from one is masked by the same rule (the rule that allowed the first
    /// difference allows what follows from it, and nothing else).
    func followDataFlow(_ d: DecodedInstruction, _ sa: TraceStep, _ sb: TraceStep) {
        let inputs = InstructionInputs(d, sa.before)
        var source: DiffRule? = nil
        for i in 0..<8 where inputs.registers & (1 << UInt8(i)) != 0 && untilEqual[i] != 0 {
            source = maskedBy[i]
            break
        }
        // An event delivered meanwhile pushed EFLAGS (PUSHF does too): read it as an input.
        let pushesFlags = sa.events.contains { $0.isDelivery } || sb.events.contains { $0.isDelivery }
        if source == nil && (inputs.flags || pushesFlags) {
            let differing = (sa.before[.eflags] ^ sb.before[.eflags]) & TraceDiff.eflagsCompared
            if differing & untilEqual[TraceField.eflags.rawValue] != 0 {
                source = maskedBy[TraceField.eflags.rawValue]
            } else if differing & flagTaint != 0 {
                source = DiffRules.undefinedFlags
            }
        }
        if source == nil && !memoryTaint.isEmpty {
            outer: for m in inputs.memory {
                for k in 0..<min(m.size, 64) {
                    if let r = memoryTaint[m.address &+ k] { source = r; break outer }
                }
            }
        }
        if let rule = source {
            pendingPropagation = rule
            branchRule = inputs.conditional ? rule : nil
            // IRET or POPF reloading a fault's EFLAGS image: RF differs until the restarted
            // instruction completes (qemu-fault-rf).
            if rule.id == DiffRules.qemuFaultRF.id && d.map == 0 && (d.opcode == 0xCF || d.opcode == 0x9D) {
                mask(.eflags, 1 << 16, by: rule)
            }
            for w in sa.writes {
                for k in 0..<UInt32(w.size) { memoryTaint[w.linear &+ k] = rule }
            }
        } else {
            branchRule = nil
            if !memoryTaint.isEmpty {
                for w in sa.writes {
                    for k in 0..<UInt32(w.size) { memoryTaint.removeValue(forKey: w.linear &+ k) }
                }
            }
        }
    }

    /// After an instruction that read a masked value: mask what now differs.
    func propagate(_ rule: DiffRule, _ x: TraceRegisters, _ y: TraceRegisters) {
        var any = false
        for f in compared where f.isGPR || f == .eflags {
            var bits = x[f] ^ y[f]
            if f == .eflags { bits &= TraceDiff.eflagsCompared & ~flagTaint }
            bits &= ~untilEqual[f.rawValue]
            if bits != 0 {
                mask(f, f == .eflags ? bits & TraceDiff.arithmeticFlags : 0xFFFF_FFFF, by: rule)
                any = true
            }
        }
        if any { count(rule) }
    }

    func lastInterrupt(_ s: TraceStep?) -> UInt8? {
        s?.events.last(where: { $0.kind == .interrupt })?.vector
    }

    /// Every CS:EIP compared so far, and the last 64.
    var seen: Set<UInt64> = []
    var recent: [UInt64] = Array(repeating: UInt64.max, count: 64)

    /// After a conditional instruction decided by a masked value (a loop polling a timer until
    /// it moves), one run left the loop and the other goes on: follow the one still looping, as
    /// long as it only runs code both have run, until it reaches where the other is. Registers
    /// that then differ were computed under the masked condition (a loop counter) and are masked
    /// by the same rule.
    func followLoop(rule: DiffRule, _ sa: TraceStep, _ sb: TraceStep) throws(TraceInputError) -> Bool {
        let keyA = UInt64(sa.before.cs) << 32 | UInt64(sa.linear)
        let keyB = UInt64(sb.before.cs) << 32 | UInt64(sb.linear)
        // One run is still in the loop (its instruction ran within the last 64 compared) and
        // the other has left it: follow the looping one, however long it polls.
        let side: StepCursor, target: UInt64
        let loopA = try loopiness(a), loopB = try loopiness(b)
        if recent.contains(keyA) && !recent.contains(keyB) {
            (side, target) = (a, keyB)
        } else if recent.contains(keyB) && !recent.contains(keyA) {
            (side, target) = (b, keyA)
        } else if loopA > 0.9 && loopB < 0.5 {
            (side, target) = (a, keyB)
        } else if loopB > 0.9 && loopA < 0.5 {
            (side, target) = (b, keyA)
        } else {
            // Both look like loops: look ahead (up to 2^20 steps, without consuming) on each
            // side for where the other is.
            for (side, target) in [(a, keyB), (b, keyA)] {
                let floor = (try side.peek())?.before[.esp] ?? 0
                for i in 1..<(1 << 20) {
                    guard let s = try side.peek(i), s.before[.esp] <= floor else { break }
                    if UInt64(s.before.cs) << 32 | UInt64(s.linear) == target {
                        for _ in 0..<i { try skipOne(side, rule: rule) }
                        if side === a { result.skippedA += UInt64(i) } else { result.skippedB += UInt64(i) }
                        maskControlDependent(rule)
                        return true
                    }
                }
            }
            return false
        }
        var skipped: UInt64 = 0
        // A loop body may call code not compared yet (a helper it runs every 64th pass); a run
        // that goes on to hundreds of new instructions is doing something else.
        var unseen: Set<UInt64> = []
        // The loop is inside the current function: a run that returns from it (ESP above where
        // it was) has left the loop without reaching the other's place.
        let floor = (try side.peek())?.before[.esp] ?? 0
        while let s = try side.peek() {
            let key = UInt64(s.before.cs) << 32 | UInt64(s.linear)
            if key == target { break }
            guard s.before[.esp] <= floor else {
                missedInterrupt = "following \(side === a ? "A" : "B")'s loop (rule \(rule.id)) for \(skipped) steps, it returned from the loop's function without reaching the other run's place"
                return false
            }
            if !seen.contains(key) { unseen.insert(key) }
            guard unseen.count <= 512, skipped < 100_000_000 else {
                missedInterrupt = "following \(side === a ? "A" : "B")'s loop (rule \(rule.id)) for \(skipped) steps, it ran more than 512 instructions the comparison had not seen"
                return false
            }
            try skipOne(side, rule: rule)
            skipped += 1
        }
        if side === a { result.skippedA += skipped } else { result.skippedB += skipped }
        guard try a.peek() != nil, try b.peek() != nil else { return false }
        maskControlDependent(rule)
        return true
    }

    /// The share of `side`'s next 256 steps that run code of the last 64 compared: near 1 for
    /// a run going round the loop it was in, low for one that has left it.
    func loopiness(_ side: StepCursor) throws(TraceInputError) -> Double {
        let window = Set(recent)
        var inside = 0, total = 0
        for i in 0..<256 {
            guard let s = try side.peek(i) else { break }
            total += 1
            if window.contains(UInt64(s.before.cs) << 32 | UInt64(s.linear)) { inside += 1 }
        }
        return total == 0 ? 0 : Double(inside) / Double(total)
    }

    /// Masks what differs now between the two current steps (values computed under a condition
    /// the rule allowed to differ).
    func maskControlDependent(_ rule: DiffRule) {
        guard let na = try? a.peek(), let nb = try? b.peek() else { return }
        for f in compared where f.isGPR || f == .eflags {
            var bits = na.before[f] ^ nb.before[f]
            if f == .eflags { bits &= TraceDiff.eflagsCompared }
            if bits != 0 { mask(f, f == .eflags ? bits & TraceDiff.arithmeticFlags : 0xFFFF_FFFF, by: rule) }
        }
        count(rule)
    }

    /// Set when one side took an interrupt the other never did (the report says so).
    var missedInterrupt: String? = nil

    /// One side took an external interrupt after the last step compared and the other did not:
    /// follow the other until it takes the same vector (rule interrupt-timing). True if the
    /// heads moved.
    func resynchroniseInterrupts() throws(TraceInputError) -> Bool {
        let ia = lastInterrupt(a.history.last), ib = lastInterrupt(b.history.last)
        if ia == ib { return false }
        // Both took an interrupt, different ones (two sources racing, each machine's timing
        // picking another winner): skip both handlers back to the interrupted instruction, whose
        // place x86v's interrupt frame tells (the EIP it pushed, ESP above the frame).
        if ia != nil && ib != nil, let last = a.history.last,
           let pushed = last.writes.last(where: { $0.size == 4 }) {
            var target = TraceStep(index: 0, before: last.before, linear: 0)
            target.before[.eip] = pushed.value
            target.before[.esp] = pushed.linear &+ 12
            target.linear = (last.linear &- last.before.eip) &+ pushed.value
            if try skipExcursion(a, returningTo: target), try skipExcursion(b, returningTo: target) {
                note("both excursions skipped")
                return true
            }
            return false
        }
        // One run took an interrupt the other has not: skip its handler if it returns to where
        // the other run is (the other may take the interrupt later, or never: QEMU's firmware
        // leaves the PIT running, x86v has no firmware).
        if ib == nil, let here = try b.peek(), try skipExcursion(a, returningTo: here) { note("A excursion skipped"); return true }
        if ia == nil, let here = try a.peek(), try skipExcursion(b, returningTo: here) { note("B excursion skipped"); return true }
        if let va = ia, ib == nil, let target = try a.peek() {
            guard try catchUp(b, vector: va, handler: target) else {
                missedInterrupt = "A took external interrupt \(va) after its step n=\(a.history.last!.index); B never took it"
                return false
            }
        } else if let vb = ib, ia == nil, let target = try b.peek() {
            guard try catchUp(a, vector: vb, handler: target) else {
                missedInterrupt = "B took external interrupt \(vb) after its step n=\(b.history.last!.index); A never took it"
                return false
            }
        } else {
            return false  // different vectors: a divergence, reported as such
        }
        if let sa = try a.peek(), let sb = try b.peek() {
            for f in compared where f.isGPR || f == .eflags {
                let bits = sa.before[f] ^ sb.before[f]
                if bits != 0 { mask(f, f == .eflags ? bits & TraceDiff.arithmeticFlags : 0xFFFF_FFFF, by: DiffRules.interruptTiming) }
            }
        }
        count(DiffRules.interruptTiming)
        resyncArmed = result.compared
        note("caught up to interrupt")
        return true
    }

    /// `side` is at the first instruction of an interrupt handler: if, within 200,000 steps, it
    /// comes back to `target`'s CS:EIP with `target`'s ESP (the handler returned to the
    /// interrupted instruction), skip it all, tainting what it wrote.
    func skipExcursion(_ side: StepCursor, returningTo target: TraceStep) throws(TraceInputError) -> Bool {
        for i in 1..<200_000 {
            guard let s = try side.peek(i) else { return false }
            if s.linear == target.linear && s.before.cs == target.before.cs && s.before[.esp] == target.before[.esp] {
                // The interrupt frame was pushed by the step before (compared, but the push is
                // this side's alone): x86v lists it; for QEMU it is at the handler's ESP.
                if let last = side.history.last, !last.writes.isEmpty {
                    for w in last.writes { for k in 0..<UInt32(w.size) { memoryTaint[w.linear &+ k] = DiffRules.interruptTiming } }
                } else if let entry = try side.peek() {
                    for k in 0..<UInt32(20) { memoryTaint[entry.before[.esp] &+ k] = DiffRules.interruptTiming }
                }
                for _ in 0..<i { try skipOne(side, rule: DiffRules.interruptTiming) }
                if side === a { result.skippedA += UInt64(i) } else { result.skippedB += UInt64(i) }
                count(DiffRules.interruptTiming)
                return true
            }
        }
        return false
    }

    /// Consumes one step without comparing it; what it wrote is masked by `rule` from now on
    /// (x86v steps list their writes; for QEMU's, the instruction's bytes, known from x86v's
    /// steps at the same address, tell where it stores).
    func skipOne(_ side: StepCursor, rule: DiffRule) throws(TraceInputError) {
        if let s = try side.peek() {
            if !s.bytes.isEmpty { code[UInt64(s.before.cs) << 32 | UInt64(s.linear)] = s.bytes }
            if !s.writes.isEmpty {
                for w in s.writes { for k in 0..<UInt32(w.size) { memoryTaint[w.linear &+ k] = rule } }
            } else if let bytes = code[UInt64(s.before.cs) << 32 | UInt64(s.linear)] ?? options.imageBytes?(s.linear) {
                var d = DecodedInstruction()
                let ok = bytes.withUnsafeBufferPointer { decoder.decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &d) == .ok }
                if ok {
                    for (address, size) in InstructionOutputs.memory(d, s.before) {
                        for k in 0..<size { memoryTaint[address &+ k] = rule }
                    }
                }
            }
        }
        try side.advance()
    }

    /// The I/O APIC register the guest selected last (x86v's write to FEC00000h).
    var ioapicSelect: UInt32 = 0

    /// Instruction bytes by CS:EIP, from x86v's steps (QEMU's logs have none).
    var code: [UInt64: [UInt8]] = [:]

    /// Consumes `side` until the step it just consumed delivered interrupt `vector` (or, for a
    /// log without interrupt records, until it reaches the handler's first instruction).
    func catchUp(_ side: StepCursor, vector: UInt8, handler: TraceStep) throws(TraceInputError) -> Bool {
        var skipped: UInt64 = 0
        while let s = try side.peek() {
            if lastInterrupt(side.history.last) == vector { break }
            if s.linear == handler.linear && s.before.cs == handler.before.cs
                && !(side.history.last?.events.contains { $0.isDelivery } ?? false) && skipped > 0 { break }
            try skipOne(side, rule: DiffRules.interruptTiming)
            skipped += 1
        }
        if side === a { result.skippedA += skipped } else { result.skippedB += skipped }
        return try side.peek() != nil && lastInterrupt(side.history.last) == vector
    }

    /// A difference right after x86v raised an exception that the reference machine is known not
    /// to raise.
    func departureRule() -> DiffRule? {
        guard let last = a.history.last, let other = b.history.last else { return nil }
        guard !other.events.contains(where: { $0.kind == .exception }) else { return nil }
        for e in last.events where e.kind == .exception {
            if e.vector == 12 || e.vector == 13 { return DiffRules.qemuSegmentChecks }
            if e.vector == 17 { return DiffRules.qemuAlignmentCheck }
        }
        return nil
    }

    /// Looks ahead on both sides for the first pair of steps (fewest steps skipped in all) at the
    /// same CS:EIP whose states agree under the masks; skips to it. False if there is none
    /// within the window.
    func converge(rule: DiffRule) throws(TraceInputError) -> Bool {
        let w = options.window
        var bIndex: [UInt64: [Int]] = [:]
        var bSteps: [TraceStep] = []
        for j in 0..<w {
            guard let s = try b.peek(j) else { break }
            bSteps.append(s)
            bIndex[UInt64(s.before.cs) << 32 | UInt64(s.linear), default: []].append(j)
        }
        var best: (Int, Int)? = nil
        for i in 0..<w {
            if let (bi, bj) = best, i >= bi + bj { break }
            guard let s = try a.peek(i) else { break }
            for j in bIndex[UInt64(s.before.cs) << 32 | UInt64(s.linear)] ?? [] {
                if let (bi, bj) = best, i + j >= bi + bj { break }
                if i == 0 && j == 0 { continue }
                if differences(s.before, bSteps[j].before, sameLocation: true).isEmpty, try staysAligned(i, j) {
                    best = (i, j)
                    break
                }
            }
        }
        guard let (i, j) = best else { return false }
        for _ in 0..<i { try skipOne(a, rule: rule) }
        for _ in 0..<j { try skipOne(b, rule: rule) }
        result.skippedA += UInt64(i)
        result.skippedB += UInt64(j)
        count(rule)
        return true
    }

    /// The two runs go the same way for 32 steps from (i, j): a real meeting point, not two
    /// calls of one helper from different places.
    func staysAligned(_ i: Int, _ j: Int) throws(TraceInputError) -> Bool {
        for k in 1...32 {
            let x = try a.peek(i + k), y = try b.peek(j + k)
            guard let x, let y else { return x == nil && y == nil }
            if x.linear != y.linear || x.before.cs != y.before.cs { return false }
        }
        return true
    }

    func divergence(_ sa: TraceStep, _ sb: TraceStep, _ diffs: [(TraceField, UInt32, UInt32)], rule: DiffRule?) -> Divergence {
        var masked: [(TraceField, DiffRule)] = []
        for f in compared where untilEqual[f.rawValue] != 0 { if let r = maskedBy[f.rawValue] { masked.append((f, r)) } }
        return Divergence(a: sa, b: sb, aPosition: a.position, bPosition: b.position, fields: diffs,
                          contextA: a.history, contextB: b.history, rule: rule, masked: masked, note: missedInterrupt)
    }
}

func hex4(_ v: UInt16) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 4 - s.count)) + s
}
