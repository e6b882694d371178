import X86Decode

/// Generates one random test case: initial registers, flags and sandbox patches, and a sequence
/// of user-mode integer instructions encoded here (checked with X86Decode's decoder).
///
/// Invariants every sequence keeps, so the native run and x86v agree on what is defined:
/// - ESP stays in the sandbox (it starts at its middle; no instruction writes it except the
///   stack instructions, each moving it by at most ~80 bytes).
/// - Every memory operand is in the sandbox: base and index registers are loaded by a `mov`
///   just before the instruction (or the operand is `[esp + disp8]`); 16-bit addressing uses FS
///   (based at the sandbox), and ES too in cases with `esSandbox`.
/// - Jumps go forward, inside the sequence; REP counts are small. The code always terminates.
/// - No instruction reads a flag the SDM calls undefined at that point: the generator tracks
///   the flags that may be undefined (from the opcode table's `undefined:` column) and puts a
///   flag-defining CMP before a reader that would see one.
/// - Undefined results (16-bit BSWAP, 16-bit SHLD/SHRD with counts above 16) are not generated.
/// - Exceptions are deliberate and rare: #DE (DIV/IDIV without a prepared dividend, AAM 0,
///   IDIV overflow), #GP(0) (an FS operand just past the sandbox segment's limit), #UD (LOCK on
///   a register destination or CMP). Both sides must raise them at the same instruction.
struct Generator {
    var rng: SplitMix64
    var items: [Item] = []
    var patches: [(UInt16, UInt8)] = []
    /// Flags that may be undefined at the current point (static, conservative).
    var maybeUndefined: UInt32 = 0
    /// Flags that may be undefined when reaching group k through a forward jump.
    var merges: [Int: UInt32] = [:]
    /// Item index where each group (one `emitRandom` call: setup, definer, instruction) starts.
    /// Jumps land only on group starts, so they never skip a setup but not its instruction.
    var groupStarts: [Int] = []
    let table = OpcodeTable.shared
    let decoder = Decoder()

    struct Item {
        var bytes: [UInt8]
        /// For jumps: the group jumped to; the last 1 or 4 bytes are the offset.
        var targetGroup: Int = -1
        var relativeSize = 0
    }

    static let edges: [UInt32] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000,
                                  0xFFFF_FFFF, 2, 0x100, 0xFFFF_FFFE, 0x8000_0001, 0xFF00, 0x7E, 0x81]
    static let counts: [UInt8] = [0, 1, 2, 7, 8, 15, 16, 31, 32]
    /// General registers a random instruction may write (not ESP).
    static let writable: [UInt8] = [0, 1, 2, 3, 5, 6, 7]
    static let sandboxMiddle = Layout.sandboxBase + 0x1000

    /// ES is the sandbox segment in this case: ES-relative addresses are sandbox offsets.
    var esSandbox = false
    /// Mnemonics not to generate (`--exclude`, to look past a known X86Core bug).
    var excluded: Set<String> = []
    /// What the sequence is made of (`--family`).
    var family = Family.int
    /// Percent of FPU states (control word, MXCSR) with unmasked exceptions (`--unmasked`).
    var unmaskedPercent = 15
    /// x87 condition codes C0–C3 that may be undefined at the current point (`FPUFlags`).
    var maybeUndefinedC: UInt16 = 0

    /// The instruction families a case draws from (`--family`).
    enum Family: String, CaseIterable {
        /// The integer families of Generator+Families.swift.
        case int
        /// x87 (Generator+X87.swift), MMX or SSE/SSE2 (Generator+SIMD.swift) alone.
        case x87, mmx, sse
        /// x87, MMX and SSE/SSE2 groups mixed in one sequence.
        case fpu
        /// Integer and FPU groups mixed.
        case all

        var usesFPU: Bool { self != .int }
    }

    init(seed: UInt64, excluding: Set<String> = [], family: Family = .int, unmaskedPercent: Int = 15) {
        rng = SplitMix64(seed: seed)
        excluded = excluding
        self.family = family
        self.unmaskedPercent = unmaskedPercent
    }

    // MARK: Values

    mutating func value() -> UInt32 {
        switch rng.below(10) {
        case 0..<4: return rng.pick(Generator.edges)
        case 4: return UInt32(rng.below(17))
        case 5: return UInt32(bitPattern: -Int32(rng.below(17)))
        case 6: return rng.pick(Generator.edges) ^ (1 << UInt32(rng.below(32)))
        default: return rng.u32()
        }
    }

    mutating func destination() -> UInt8 { rng.pick(Generator.writable) }

    mutating func randomSize() -> Int { rng.pick([8, 16, 32, 32]) }

    // MARK: The case

    mutating func makeCase(maxLength: Int) -> TestCase {
        var c = TestCase()
        for i in 0..<8 { c.regs[i] = value() }
        c.regs[4] = Generator.sandboxMiddle &- (rng.chance(90) ? 0 : UInt32(rng.below(4)))
        c.eflags = rng.u32() & Layout.caseFlags
        esSandbox = rng.chance(25)
        c.esSandbox = esSandbox
        c.fillSeed = rng.u32() | 1
        if family.usesFPU {
            c.fpu = fpuImage(mmxValues: family == .mmx || (family == .fpu && rng.chance(30)))
            // C0–C3 start defined (they are whatever the image says).
        }
        let length = 1 + rng.below(maxLength)
        for _ in 0..<length {
            mergeJumps()
            groupStarts.append(items.count)
            switch family {
            case .int: emitRandom()
            case .x87: x87Group()
            case .mmx: simdGroup(mmx: true)
            case .sse: simdGroup(mmx: false)
            case .fpu:
                switch rng.below(10) {
                case 0..<5: x87Group()
                case 5..<7: simdGroup(mmx: true)
                default: simdGroup(mmx: false)
                }
            case .all:
                switch rng.below(10) {
                case 0..<4: emitRandom()
                case 4..<7: x87Group()
                case 7: simdGroup(mmx: true)
                default: simdGroup(mmx: false)
                }
            }
        }
        groupStarts.append(items.count)
        c.program = Program(items: items, groupStarts: groupStarts)
        c.code = c.program.code()
        c.patches = patches
        c.instructionCount = items.count
        return c
    }

    mutating func mergeJumps() {
        if let m = merges.removeValue(forKey: groupStarts.count) { maybeUndefined |= m }
    }

    /// Lays the items out and fills in the forward jump offsets (shortening a short jump that
    /// would not reach; the flag merges were recorded for every group it could land on).
    func resolve() -> [UInt8] { Program(items: items, groupStarts: groupStarts).code() }

    // MARK: Emission

    /// Appends an instruction that does not touch flags (register setup).
    mutating func setup(_ bytes: [UInt8]) { items.append(Item(bytes: bytes)) }

    mutating func setRegister(_ r: UInt8, _ value: UInt32) {
        setup([0xB8 + r] + le32(value))
    }

    /// Appends a tested instruction, first making sure it reads no possibly-undefined flag.
    /// `cl` is CL's value when the generator set it (shift counts).
    mutating func emit(_ bytes: [UInt8], cl: UInt8? = nil, skip: Int = -1, relativeSize: Int = 0) {
        var instruction = DecodedInstruction()
        let status = bytes.withUnsafeBufferPointer {
            decoder.decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &instruction)
        }
        precondition(status == .ok && Int(instruction.length) == bytes.count,
                     "generator produced a bad encoding: \(bytes.map { hex2($0) }.joined(separator: " "))")
        let mnemonic = table.mnemonic(row: Int(instruction.row), wide: instruction.operandSize32)
        if !excluded.isEmpty && excluded.contains(mnemonic) { return }
        if family.usesFPU {
            // An instruction that stores the status word sees no undefined C0–C3: FXAM first.
            if maybeUndefinedC != 0 && FPUFlags.readers.contains(mnemonic) {
                items.append(Item(bytes: [0xD9, 0xE5]))
                maybeUndefinedC = 0
            }
            let c = FPUFlags.effect(mnemonic)
            maybeUndefinedC = (maybeUndefinedC & ~c.written) | c.undefined | c.disputed
            if FPUFlags.rangeReduced.contains(mnemonic) { maybeUndefinedC |= FSW.c1 }
        }
        var read: UInt32 = 0, written: UInt32 = ~0, undefined: UInt32 = 0
        let rule = table.flagColumns(row: Int(instruction.row)).undefined.rule
        let countFromCL = rule != .none && cl == nil && isCLForm(instruction)
        if countFromCL {
            for count in 0..<32 {
                let e = table.flagEffect(of: instruction, cl: UInt8(count))
                read |= e.read; written &= e.written; undefined |= e.undefined
            }
        } else {
            let e = table.flagEffect(of: instruction, cl: cl ?? 0)
            read = e.read; written = e.written; undefined = e.undefined
        }
        let attributes = table.attributes(row: Int(instruction.row))
        if attributes.contains(.string) && !instruction.prefixes.isDisjoint(with: [.rep, .repne]) {
            written = 0  // a zero count runs nothing
        }
        if read & maybeUndefined != 0 { defineFlags() }
        maybeUndefined = (maybeUndefined & ~written) | undefined
        let group = groupStarts.count - 1
        items.append(Item(bytes: bytes, targetGroup: skip >= 0 ? group + 1 + skip : -1, relativeSize: relativeSize))
        if skip >= 0 {
            for k in (group + 1)...(group + 1 + skip) { merges[k, default: 0] |= maybeUndefined }
        }
    }

    func isCLForm(_ instruction: DecodedInstruction) -> Bool {
        let operands = table.operands(row: Int(instruction.row))
        return operands.contains { $0.kind == .fixedGeneral && $0.register == 1 && $0.width == .byte }
    }

    /// Appends an encoding that must raise #UD (LOCK on a register or a non-lockable form),
    /// bypassing the decoder check.
    mutating func emitInvalid(_ bytes: [UInt8]) {
        var instruction = DecodedInstruction()
        let status = bytes.withUnsafeBufferPointer {
            decoder.decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &instruction)
        }
        precondition(status == .invalid, "expected an invalid encoding")
        items.append(Item(bytes: bytes))
    }

    /// CMP: all six arithmetic flags defined, no register written (it may sit between a
    /// base-register setup and the instruction that uses it).
    mutating func defineFlags() {
        let r = UInt8(rng.below(8))
        switch rng.below(3) {
        case 0: items.append(Item(bytes: [0x39, 0xC0 | UInt8(rng.below(8)) << 3 | r]))
        case 1: items.append(Item(bytes: [0x83, 0xF8 | r, UInt8(truncatingIfNeeded: value())]))
        default: items.append(Item(bytes: [0x81, 0xF8 | r] + le32(value())))
        }
        maybeUndefined = 0
    }

    // MARK: Operands

    /// A ModRM r/m operand: register or memory, with its prefixes and the bytes after ModRM.
    struct RM {
        var prefixes: [UInt8] = []
        var modrm: UInt8 = 0
        var tail: [UInt8] = []
        var isMemory: Bool { modrm < 0xC0 }

        func encode(_ prefixes: [UInt8], _ opcode: [UInt8], reg: UInt8, _ immediate: [UInt8] = []) -> [UInt8] {
            prefixes + self.prefixes + opcode + [modrm | (reg & 7) << 3] + tail + immediate
        }
    }

    static func register(_ r: UInt8) -> RM { RM(modrm: 0xC0 | r) }

    /// A sandbox offset for an operand of `width` bytes (sometimes across the page boundary).
    mutating func sandboxOffset(width: Int) -> UInt32 {
        if rng.chance(10) { return UInt32(0x1000 - rng.below(width + 1)) }
        return UInt32(16 + rng.below(Layout.sandboxSize - width - 32))
    }

    /// Puts an edge value at a memory operand (half the time).
    mutating func patchValue(offset: UInt32, width: Int) {
        guard rng.chance(50) else { return }
        let v = value()
        for k in 0..<width where Int(offset) + k < Layout.sandboxSize {
            patches.append((UInt16(Int(offset) + k), UInt8(truncatingIfNeeded: v >> (8 * UInt32(k % 4)))))
        }
    }

    /// A memory operand at sandbox offset `offset` (random when nil), loading whatever base and
    /// index registers it uses; registers in `avoid` are left alone.
    mutating func memory(width: Int, offset fixed: UInt32? = nil, avoid: Set<UInt8> = [],
                         allow16: Bool = true) -> RM {
        let offset = fixed ?? sandboxOffset(width: width)
        if fixed == nil { patchValue(offset: offset, width: width) }
        let free = Generator.writable.filter { !avoid.contains($0) }
        if allow16 && rng.chance(15) { return memory16(offset: offset, avoid: avoid) }
        var rm = RM()
        if fixed == nil && rng.chance(8) {
            // [esp + disp8]: ESP stays within a few hundred bytes of the sandbox middle.
            rm.modrm = 0x44
            rm.tail = [0x24, UInt8(truncatingIfNeeded: rng.below(256))]
            return rm
        }
        var viaFS = rng.chance(10)
        if viaFS { rm.prefixes.append(0x64) } else if rng.chance(10) {
            let segment: UInt8 = rng.pick([0x26, 0x36, 0x3E])
            rm.prefixes.append(segment)
            viaFS = segment == 0x26 && esSandbox
        }
        var target = viaFS ? offset : Layout.sandboxBase + offset
        if viaFS && fixed == nil && rng.chance(3) {
            // Past the segment limit: #GP(0) on both sides (the sandbox segment is byte granular).
            target = UInt32(Layout.sandboxSize - width + 1 + rng.below(width + 4))
        }
        let form = free.count < 2 ? 0 : rng.below(6)
        switch form {
        case 0:  // [disp32]
            rm.modrm = 0x05
            rm.tail = le32(target)
        case 1:  // [base]
            let base = rng.pick(free.filter { $0 != 5 })
            setRegister(base, target)
            rm.modrm = base
        case 2:  // [base + disp8]
            let base = rng.pick(free)
            let disp = UInt8(truncatingIfNeeded: rng.below(256))
            setRegister(base, target &- sext8(disp))
            rm.modrm = 0x40 | base
            rm.tail = [disp]
        case 3:  // [base + disp32]
            let base = rng.pick(free)
            let disp = rng.chance(50) ? rng.u32() : UInt32(rng.below(0x2000))
            setRegister(base, target &- disp)
            rm.modrm = 0x80 | base
            rm.tail = le32(disp)
        default:  // SIB
            let mod = UInt8(rng.below(3))
            let base = rng.pick(free)
            let noBase = mod == 0 && base == 5
            let indexChoices = free.filter { $0 != base } + [4]
            let index = rng.pick(indexChoices)
            let scale = UInt8(rng.below(4))
            let indexValue = index == 4 ? 0 : (rng.chance(50) ? rng.u32() : UInt32(rng.below(64)))
            var disp: UInt32 = 0
            if mod == 1 { disp = sext8(UInt8(rng.below(256))) }
            if mod == 2 || noBase { disp = rng.chance(50) ? rng.u32() : UInt32(rng.below(0x1000)) }
            if index != 4 { setRegister(index, indexValue) }
            let scaled = indexValue &<< UInt32(scale)
            if noBase {
                disp = target &- scaled
            } else {
                setRegister(base, target &- scaled &- disp)
            }
            rm.modrm = mod << 6 | 0x04
            rm.tail = [scale << 6 | index << 3 | base]
            if mod == 1 { rm.tail.append(UInt8(truncatingIfNeeded: disp)) }
            if mod == 2 || noBase { rm.tail += le32(disp) }
        }
        return rm
    }

    /// 16-bit addressing (67) through FS: the effective address wraps at 64 KiB.
    mutating func memory16(offset: UInt32, avoid: Set<UInt8>) -> RM {
        // rm → (base, index): BX=3 SI=6 DI=7 BP=5.
        let forms: [(UInt8, UInt8?, UInt8?)] = [(0, 3, 6), (1, 3, 7), (2, 5, 6), (3, 5, 7), (4, 6, nil), (5, 7, nil),
                                                (6, 5, nil), (7, 3, nil)]
        let usable = forms.filter { f in
            (f.1.map { !avoid.contains($0) } ?? true) && (f.2.map { !avoid.contains($0) } ?? true)
        }
        var rm = RM(prefixes: [0x67, 0x64])
        var mod = UInt8(rng.below(3))
        guard let form = usable.isEmpty ? nil : rng.pick(usable) else {
            rm.modrm = 0x06
            rm.tail = le16(UInt16(offset))
            return rm
        }
        if form.0 == 6 && mod == 0 { mod = 1 }
        var disp: UInt32 = 0
        if mod == 1 { disp = sext8(UInt8(rng.below(256))) }
        if mod == 2 { disp = UInt32(rng.below(0x10000)) }
        var rest = offset &- disp
        if let index = form.2 {
            let v = rng.u32()
            setRegister(index, v)
            rest = rest &- (v & 0xFFFF)
        }
        if let base = form.1 { setRegister(base, (rng.u32() & 0xFFFF_0000) | (rest & 0xFFFF)) }
        rm.modrm = mod << 6 | form.0
        if mod == 1 { rm.tail = [UInt8(truncatingIfNeeded: disp)] }
        if mod == 2 { rm.tail = le16(UInt16(truncatingIfNeeded: disp)) }
        return rm
    }

    /// A register (not ESP when `writable`) or a memory operand.
    mutating func rmOperand(width: Int, memoryPercent: Int = 40, avoid: Set<UInt8> = []) -> RM {
        if rng.chance(memoryPercent) { return memory(width: width, avoid: avoid) }
        if width == 1 { return Generator.register(UInt8(rng.below(8))) }
        return Generator.register(destination())
    }
}

func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
func sext8(_ b: UInt8) -> UInt32 { UInt32(bitPattern: Int32(Int8(bitPattern: b))) }
func hex2(_ b: UInt8) -> String { let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }

/// A generated sequence as groups of items (setup, flag definer, instruction), so the reducer
/// can drop whole groups and lay the code out again.
struct Program {
    var items: [Generator.Item] = []
    /// Item index of each group's start, then the item count.
    var groupStarts: [Int] = [0]
    var groupCount: Int { groupStarts.count - 1 }

    /// The code with only the groups where `keep` is true (all when nil). A jump to a dropped
    /// group goes to the next kept one.
    func code(keeping keep: [Bool]? = nil) -> [UInt8] {
        var kept: [Generator.Item] = []
        var starts: [Int] = []
        var newGroup: [Int] = []
        for g in 0..<groupCount {
            newGroup.append(starts.count)
            guard keep?[g] ?? true else { continue }
            starts.append(kept.count)
            kept += items[groupStarts[g]..<groupStarts[g + 1]]
        }
        newGroup.append(starts.count)
        starts.append(kept.count)
        var offsets: [Int] = []
        var position = 0
        for item in kept { offsets.append(position); position += item.bytes.count }
        offsets.append(position)
        var code: [UInt8] = []
        for (i, item) in kept.enumerated() {
            var bytes = item.bytes
            if item.targetGroup >= 0 {
                let end = offsets[i] + bytes.count
                var group = newGroup[min(item.targetGroup, groupCount)]
                var rel = offsets[starts[group]] - end
                while item.relativeSize == 1 && rel > 127 { group -= 1; rel = offsets[starts[group]] - end }
                for k in 0..<item.relativeSize {
                    bytes[bytes.count - item.relativeSize + k] = UInt8(truncatingIfNeeded: rel >> (8 * k))
                }
            }
            code += bytes
        }
        return code
    }

    func instructionCount(keeping keep: [Bool]) -> Int {
        (0..<groupCount).filter { keep[$0] }.reduce(0) { $0 + groupStarts[$1 + 1] - groupStarts[$1] }
    }
}
