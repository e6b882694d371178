import X86Core

// Runs one test on a fresh X86Core CPU and compares the result, as
// ../shared/conformance/80386/README.md ("How to run one test") says:
//
// 1. 16 MiB of zeroed RAM on a 24-line bus (`Bus24` folds every higher address onto it), the
//    test's RAM written, its registers loaded in real mode: each segment base = selector × 16,
//    limit 0xFFFF, 16-bit data/code attributes; CPL 0; IVT at 0 (IDTR 0/0x3FF).
// 2. Run from CS:EIP until the HLT has executed (in the IVT handler after an exception or INT:
//    the test put a HLT there). IN reads all ones; OUT goes nowhere. An instruction budget ends
//    a test that never halts, so a broken test cannot hang the run.
// 3. Compare every register (`final` if listed, else `initial`), EFLAGS under the flags mask,
//    every byte of `final.ram`, and after an exception the pushed FLAGS word under the mask.
//
// What the 386EX's register dump holds that an i686 model does not have is left out of the
// compare, never carried through by hand (the README's "details that bite"):
//   EFLAGS bits 18–31  set in the SMM dump (0xFFFC0000); a 386 has no AC, VIF, VIP or ID
//   CR0 bits 5–30      reserved on a 386 (the dump has 0x7FFEFFF0); PG, ET, TS, EM, MP, PE compared
//   segment registers  the upper 16 bits of the 32-bit MOO field (the format says: ignore)

/// How a test differs from the hardware: one register, one byte, or a run that never finished.
public enum Mismatch: Sendable, Equatable, CustomStringConvertible {
    case register(ConformanceRegister, expected: UInt32, got: UInt32, mask: UInt32)
    case memory(address: UInt32, expected: UInt8, got: UInt8, mask: UInt8)
    /// The run did not end at the HLT (budget, triple fault, unsupported state): nothing else is
    /// compared.
    case stopped(String)

    public var description: String {
        switch self {
        case .register(let r, let e, let g, let m):
            let masked = m == 0xFFFF_FFFF ? "" : " (compared under mask \(hex(m, 8)))"
            return "\(r.name): expected \(hex(e, 8)) got \(hex(g, 8))\(masked)"
        case .memory(let a, let e, let g, let m):
            let masked = m == 0xFF ? "" : " (pushed FLAGS byte, compared under mask \(hex(UInt32(m), 2)))"
            return "ram[\(hex(a, 6))]: expected \(hex(UInt32(e), 2)) got \(hex(UInt32(g), 2))\(masked)"
        case .stopped(let why):
            return "did not finish: \(why)"
        }
    }
}

/// "0x" and at least `digits` lower-case hex digits.
func hex(_ v: UInt32, _ digits: Int) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
}

/// Everything a run found wrong; empty when the test passed.
public struct TestOutcome: Sendable {
    public var mismatches: [Mismatch] = []
    public var passed: Bool { mismatches.isEmpty }
}

/// Runs one test on a fresh CPU and compares it with the hardware (see the top of this file).
public struct ConformanceRunner: Sendable {
    /// The engine the CPU runs the instruction with (both must agree with the hardware).
    public var engine: ExecutionEngine
    /// Instructions before a run is declared stuck: a REP string test with CX < 128 needs far
    /// fewer (each iteration may count as one).
    public var instructionBudget: UInt64

    public init(engine: ExecutionEngine = .blocks, instructionBudget: UInt64 = 4096) {
        self.engine = engine
        self.instructionBudget = instructionBudget
    }

    /// EFLAGS bits an 80386 has (0–17); the rest of the dump's word is ignored.
    public static let eflagsBits: UInt32 = 0x0003_FFFF
    /// CR0 bits an 80386 defines: PG, ET, TS, EM, MP, PE (SDM Vol. 3A §2.5).
    public static let cr0Bits: UInt32 = 0x8000_001F
    /// The 16 MiB the capture board's 24 address lines reach.
    public static let ramSize = 16 << 20

    /// The bits of `r` that are compared, before the test's own masks.
    static func architecturalMask(_ r: ConformanceRegister) -> UInt32 {
        switch r {
        case .cr0: cr0Bits
        case .eflags: eflagsBits
        case .cs, .ds, .es, .fs, .gs, .ss: 0xFFFF
        default: 0xFFFF_FFFF
        }
    }

    /// Every difference between X86Core and the hardware on `test`; none when it passed.
    public func run(_ test: ConformanceTest) -> TestOutcome {
        var outcome = TestOutcome()
        let initial = test.initialRegisters
        let cr0 = initial[.cr0] ?? 0
        guard test.mode == "real", cr0 & CR0.pe == 0 else {
            outcome.mismatches.append(.stopped("not a real-mode test (mode \(test.mode), CR0 \(hex(cr0, 8)))"))
            return outcome
        }
        let cpu = CPU(memorySize: Self.ramSize)
        cpu.memory.add(Bus24(memory: cpu.memory))
        cpu.engine = engine
        for b in test.initialRAM { cpu.memory.write8(b.address & Bus24.addressMask, b.value) }
        cpu.state = Self.realModeState(initial)
        cpu.eflags = (initial[.eflags] ?? 0x2) & Self.eflagsBits

        if let why = runToHalt(cpu) {
            outcome.mismatches.append(.stopped(why))
            return outcome
        }
        compareRegisters(test, cpu, into: &outcome)
        compareMemory(test, cpu, into: &outcome)
        return outcome
    }

    /// The state a real-mode test starts in.
    static func realModeState(_ r: RegisterValues) -> CPUState {
        var st = CPUState()
        st[.eax] = r[.eax] ?? 0
        st[.ebx] = r[.ebx] ?? 0
        st[.ecx] = r[.ecx] ?? 0
        st[.edx] = r[.edx] ?? 0
        st[.esi] = r[.esi] ?? 0
        st[.edi] = r[.edi] ?? 0
        st[.ebp] = r[.ebp] ?? 0
        st[.esp] = r[.esp] ?? 0
        let segments: [(SegmentRegister, ConformanceRegister)] = [(.es, .es), (.cs, .cs), (.ss, .ss), (.ds, .ds), (.fs, .fs), (.gs, .gs)]
        for (seg, reg) in segments {
            let selector = UInt16(truncatingIfNeeded: r[reg] ?? 0)
            // Present, accessed, read/write data (0x93) or execute/read code (0x9B); D/B = 0.
            st[seg] = SegmentCache(selector: selector, base: UInt32(selector) << 4, limit: 0xFFFF,
                                   attributes: seg == .cs ? 0x9B : 0x93)
        }
        st.eip = r[.eip] ?? 0
        st.currentEIP = st.eip
        st.cr0 = (r[.cr0] ?? 0) & cr0Bits
        st.cr3 = r[.cr3] ?? 0
        st.pagingRoot = st.cr3 & 0xFFFF_F000
        st.dr[6] = r[.dr6] ?? 0xFFFF_0FF0
        st.dr[7] = r[.dr7] ?? 0
        st.idtr = TableRegister(base: 0, limit: 0x3FF)
        st.cpl = 0
        return st
    }

    /// Runs until the HLT has executed; nil then, else why it stopped.
    func runToHalt(_ cpu: CPU) -> String? {
        var portAccesses = 0
        let stuck = "no HLT within \(instructionBudget) instructions"
        while true {
            let used = cpu.statePointer.pointee.instructions
            guard used < instructionBudget else { return "\(stuck) (EIP \(hex(cpu.statePointer.pointee.eip, 4)))" }
            switch cpu.run(maxInstructions: instructionBudget - used) {
            case .halted:
                return nil
            case .portIO(let access):
                portAccesses += 1
                guard portAccesses <= 1024 else { return "more than 1024 port accesses" }
                // Nothing answers on the capture board's bus: every IN reads all ones.
                if access.isIn {
                    cpu.completePortIn(value: access.size == 1 ? 0xFF : access.size == 2 ? 0xFFFF : 0xFFFF_FFFF)
                } else {
                    cpu.completePortOut()
                }
            case .instructionLimit:
                return "\(stuck) (EIP \(hex(cpu.statePointer.pointee.eip, 4)))"
            case .shutdown:
                return "triple fault (shutdown) at EIP \(hex(cpu.statePointer.pointee.eip, 4))"
            case .notImplemented(let eip, let what):
                return "not implemented at EIP \(hex(eip, 4)): \(what)"
            case let other:
                return "unexpected exit \(other)"
            }
        }
    }

    /// The value X86Core holds for `r`.
    static func value(_ r: ConformanceRegister, _ cpu: CPU) -> UInt32 {
        let st = cpu.statePointer.pointee
        switch r {
        case .cr0: return st.cr0
        case .cr3: return st.cr3
        case .eax: return st[.eax]
        case .ebx: return st[.ebx]
        case .ecx: return st[.ecx]
        case .edx: return st[.edx]
        case .esi: return st[.esi]
        case .edi: return st[.edi]
        case .ebp: return st[.ebp]
        case .esp: return st[.esp]
        case .cs: return UInt32(st[.cs].selector)
        case .ds: return UInt32(st[.ds].selector)
        case .es: return UInt32(st[.es].selector)
        case .fs: return UInt32(st[.fs].selector)
        case .gs: return UInt32(st[.gs].selector)
        case .ss: return UInt32(st[.ss].selector)
        case .eip: return st.eip
        case .eflags: return cpu.eflags
        case .dr6: return st.dr[6]
        case .dr7: return st.dr[7]
        }
    }

    func compareRegisters(_ test: ConformanceTest, _ cpu: CPU, into outcome: inout TestOutcome) {
        for r in ConformanceRegister.allCases {
            guard let expected = test.finalRegisters[r] ?? test.initialRegisters[r] else { continue }
            var mask = Self.architecturalMask(r) & (test.registerMasks[r] ?? 0xFFFF_FFFF)
            if r == .eflags { mask &= test.flagsMask ?? 0xFFFF_FFFF }
            let got = Self.value(r, cpu)
            if got & mask != expected & mask {
                outcome.mismatches.append(.register(r, expected: expected, got: got, mask: mask))
            }
        }
    }

    func compareMemory(_ test: ConformanceTest, _ cpu: CPU, into outcome: inout TestOutcome) {
        let flagsMask = (test.flagsMask ?? 0xFFFF_FFFF) & Self.eflagsBits
        /// The compare mask of a byte: the pushed FLAGS word's bytes are compared under the mask.
        func byteMask(_ address: UInt32) -> UInt8 {
            guard let e = test.exception else { return 0xFF }
            if address == e.flagAddress { return UInt8(truncatingIfNeeded: flagsMask) }
            if address == e.flagAddress &+ 1 { return UInt8(truncatingIfNeeded: flagsMask >> 8) }
            return 0xFF
        }
        func check(_ address: UInt32, _ expected: UInt8) {
            let mask = byteMask(address)
            let got = cpu.memory.read8(address & Bus24.addressMask)
            if got & mask != expected & mask {
                outcome.mismatches.append(.memory(address: address, expected: expected, got: got, mask: mask))
            }
        }
        for b in test.finalRAM { check(b.address, b.value) }
        // A pushed FLAGS byte equal to what was there before is not in `final.ram`, but it was
        // still written: it must still equal the initial byte (under the mask).
        if let e = test.exception {
            for address in [e.flagAddress, e.flagAddress &+ 1] where !test.finalRAM.contains(where: { $0.address == address }) {
                if let before = test.initialRAM.last(where: { $0.address == address }) { check(address, before.value) }
            }
        }
    }
}

/// The capture board's bus: 24 address lines, so physical addresses at and above 16 MiB fold
/// back onto RAM (the CPU's own RAM is exactly the 16 MiB below). Real mode reaches at most
/// 0x10FFEF, so this only matters if a test ever puts an address above it.
public final class Bus24: MMIORegion {
    public static let addressMask: UInt32 = 0x00FF_FFFF
    unowned let memory: PhysicalMemory

    public init(memory: PhysicalMemory) {
        self.memory = memory
        super.init(base: 0x0100_0000, size: 0xFF00_0000)
    }

    public override func read(offset: UInt32, size: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<size { v |= UInt32(memory.read8((base &+ offset &+ UInt32(i)) & Self.addressMask)) << (8 * i) }
        return v
    }

    public override func write(offset: UInt32, size: Int, value: UInt32) {
        for i in 0..<size {
            memory.write8((base &+ offset &+ UInt32(i)) & Self.addressMask, UInt8(truncatingIfNeeded: value >> (8 * i)))
        }
    }
}
