import Trace
import X86Core
import XCTest

/// Steps held in memory, handed out in order.
private final class StepList: TraceStepSource {
    let label: String
    var steps: [TraceStep]
    var position = 0

    init(_ label: String, _ steps: [TraceStep]) {
        self.label = label
        self.steps = steps
    }

    func next() throws(TraceInputError) -> TraceStep? {
        guard position < steps.count else { return nil }
        defer { position += 1 }
        return steps[position]
    }
}

/// `TraceDiff` on in-memory streams: where it reports the first divergence, and what its
/// alignment (REP folding) and rules (undefined flags) let through.
final class TraceDiffTests: XCTestCase {
    /// A flat ring-0 machine at 0x100010 (not the entry state: the first index is not 0, so the
    /// entry-state rule stays out of these tests).
    private func start() -> TraceRegisters {
        var r = TraceRegisters()
        r[.eax] = 0x1234_5678; r[.ebx] = 0x0f0f_0f0f; r[.ecx] = 3; r[.esp] = 0x10a000; r[.esi] = 0x2000; r[.edi] = 0x3000
        r[.eip] = 0x100010; r[.eflags] = 2
        r[.cs] = 8; r[.ss] = 0x10; r[.ds] = 0x10; r[.es] = 0x10; r[.fs] = 0x10; r[.gs] = 0x10; r[.cr0] = 0x11
        return r
    }

    /// A stream built one instruction at a time; each step's `before` is the previous `after`.
    private struct Stream {
        var steps: [TraceStep] = []
        var r: TraceRegisters
        var index: UInt64 = 100
        /// The x87/SSE state, when the stream records it.
        var fpu: TraceFPU? = nil

        init(_ r: TraceRegisters) { self.r = r }

        /// One instruction of `bytes` at the current EIP; `change` edits the state after it
        /// (EIP advances past the bytes unless it sets it), `fpuChange` the FPU state after it.
        mutating func add(_ bytes: [UInt8], events: [TraceEvent] = [], _ change: (inout TraceRegisters) -> Void = { _ in }) {
            add(bytes, events: events, fpuChange: nil, change)
        }

        mutating func add(_ bytes: [UInt8], events: [TraceEvent] = [], fpuChange: ((inout FPUState) -> Void)?,
                          _ change: (inout TraceRegisters) -> Void) {
            var after = r
            after[.eip] = r.eip &+ UInt32(bytes.count)
            change(&after)
            var fpuAfter = fpu
            if let edit = fpuChange, let f = fpu {
                var x = f.state
                edit(&x)
                fpuAfter = TraceFPU(x)
            }
            steps.append(TraceStep(index: index, before: r, after: after, linear: r.eip, physical: r.eip,
                                   bytes: bytes, events: events, fpu: fpu, fpuAfter: fpuAfter))
            r = after
            fpu = fpuAfter
            index += 1
        }

        /// `count` one-byte NOPs.
        mutating func nops(_ count: Int) {
            for _ in 0..<count { add([0x90]) }
        }
    }

    private func diff(_ a: [TraceStep], _ b: [TraceStep], rules: Bool) throws -> TraceDiff.Result {
        var options = TraceDiff.Options()
        options.rules = rules
        options.compareControlRegisters = !rules
        options.context = 4
        return try TraceDiff(StepList("A", a), StepList("B", b), options: options).run()
    }

    private func report(_ r: TraceDiff.Result) -> String {
        DiffReport(result: r, aName: "side a", bName: "side b").render()
    }

    // MARK: identical and divergent

    func testIdenticalStreams() throws {
        var s = Stream(start())
        s.nops(5)
        s.add([0x40]) { $0[.eax] &+= 1 }  // inc eax
        s.nops(5)
        for rules in [false, true] {
            let r = try diff(s.steps, s.steps, rules: rules)
            XCTAssertTrue(r.identical, report(r))
            XCTAssertEqual(r.compared, 11)
            XCTAssertEqual(r.endedFirst, "")
            XCTAssertEqual(r.stepsA, 11)
            XCTAssertEqual(r.stepsB, 11)
            XCTAssertTrue(report(r).hasPrefix("identical: 11 instructions compared (both runs ended together)"), report(r))
        }
    }

    func testTheShorterStreamEndsTheComparison() throws {
        var s = Stream(start())
        s.nops(10)
        let r = try diff(s.steps, Array(s.steps.prefix(6)), rules: false)
        XCTAssertTrue(r.identical)
        XCTAssertEqual(r.compared, 6)
        XCTAssertEqual(r.endedFirst, "B")
    }

    /// One register different before step k (as if the instruction before it computed it
    /// wrong): the divergence is at k, and names that register and nothing else.
    func testOneFlippedRegisterIsFoundAtItsStep() throws {
        for (field, k) in [(TraceField.ebx, 3), (.esi, 7), (.eflags, 5), (.ds, 9), (.cr3, 2)] {
            var s = Stream(start())
            s.nops(12)
            var b = s.steps
            let bit: UInt32 = field == .eflags ? 1 << 6 : field == .ds ? 0x8 : 0x1000
            for i in k..<b.count {
                b[i].before[field] ^= bit
                b[i].after![field] ^= bit
            }
            b[k - 1].after![field] ^= bit
            let r = try diff(s.steps, b, rules: false)
            let d = try XCTUnwrap(r.divergence, "\(field.name) at \(k)")
            XCTAssertEqual(d.a.index, 100 + UInt64(k), field.name)
            XCTAssertEqual(d.b.index, 100 + UInt64(k), field.name)
            XCTAssertEqual(r.compared, UInt64(k), field.name)
            XCTAssertEqual(d.fields.map { $0.0 }, [field], field.name)
            XCTAssertEqual(d.fields.first?.1, s.steps[k].before[field])
            XCTAssertEqual(d.fields.first?.2, s.steps[k].before[field] ^ bit)
            XCTAssertEqual(d.contextA.count, min(k, 4))
            let text = report(r)
            XCTAssertTrue(text.contains("A step n=\(100 + k), B step n=\(100 + k)"), text)
            XCTAssertTrue(text.contains("\n  \(field.name) "), text)
            if field == .eflags { XCTAssertTrue(text.contains("(differ: ZF)"), text) }
        }
    }

    func testADifferentPathIsADivergence() throws {
        var a = Stream(start())
        a.nops(3)
        var b = a
        a.add([0x74, 0x02]) { $0[.eip] &+= 2 }  // je taken
        b.add([0x74, 0x02])  // je not taken
        a.nops(2)
        b.nops(2)
        let r = try diff(a.steps, b.steps, rules: false)
        let d = try XCTUnwrap(r.divergence)
        XCTAssertEqual(d.a.index, 104)
        XCTAssertEqual(d.fields.map { $0.0 }, [.eip])
    }

    func testControlRegistersAreComparedBetweenTwoX86vRunsOnly() throws {
        var s = Stream(start())
        s.nops(4)
        var b = s.steps
        for i in 2..<b.count { b[i].before[.cr2] = 0x4000_0000; b[i].after![.cr2] = 0x4000_0000 }
        b[1].after![.cr2] = 0x4000_0000
        XCTAssertEqual(try diff(s.steps, b, rules: false).divergence?.fields.map { $0.0 }, [.cr2])
        XCTAssertTrue(try diff(s.steps, b, rules: true).identical, "QEMU's CR2 is not compared")
    }

    // MARK: alignment

    func testDifferentFirstInstructionsNeverAlign() {
        var a = Stream(start())
        a.nops(3)
        var other = start()
        other[.eip] = 0x100020
        var b = Stream(other)
        b.nops(3)
        for rules in [false, true] {
            XCTAssertThrowsError(try diff(a.steps, b.steps, rules: rules)) { e in
                XCTAssertTrue((e as? TraceInputError)?.description.contains("never align") ?? false, "\(e)")
            }
        }
        XCTAssertThrowsError(try diff(a.steps, [], rules: false)) { e in
            XCTAssertTrue((e as? TraceInputError)?.description.contains("no steps") ?? false, "\(e)")
        }
    }

    /// QEMU logs every iteration of `rep movsb` at the same EIP; x86v records one step: the
    /// iterations fold into one, compared by the state before the first.
    func testRepIterationsFoldIntoOneStep() throws {
        var a = Stream(start())
        a.nops(2)
        var b = a
        for _ in 0..<3 {  // rep movsb, ECX = 3: three iterations at one EIP
            a.add([0xf3, 0xa4]) { r in
                r[.ecx] -= 1; r[.esi] += 1; r[.edi] += 1
                if r[.ecx] != 0 { r[.eip] -= 2 }
            }
        }
        b.add([0xf3, 0xa4]) { r in r[.ecx] = 0; r[.esi] += 3; r[.edi] += 3 }
        b.index = a.index
        a.nops(3)
        b.nops(3)
        XCTAssertEqual(a.steps.count, 8)
        XCTAssertEqual(b.steps.count, 6)
        for rules in [false, true] {
            let r = try diff(a.steps, b.steps, rules: rules)
            XCTAssertTrue(r.identical, report(r))
            XCTAssertEqual(r.compared, 6)
            XCTAssertEqual(r.collapsedA, 2)
            XCTAssertEqual(r.collapsedB, 0)
            XCTAssertTrue(report(r).contains("REP iterations folded: A 2, B 0"), report(r))
        }
    }

    /// The same EIP twice without a REP prefix is two instructions (a loop on itself), not one.
    func testOnlyRepStringsFold() throws {
        var a = Stream(start())
        a.add([0xe2, 0xfe]) { r in r[.ecx] -= 1; r[.eip] -= 2 }  // loop $: ECX 3 → 2, same EIP
        a.add([0xe2, 0xfe]) { r in r[.ecx] -= 1; r[.eip] -= 2 }
        a.add([0xe2, 0xfe]) { r in r[.ecx] -= 1 }
        a.nops(2)
        var b = Stream(start())
        b.add([0xe2, 0xfe]) { r in r[.ecx] = 0 }
        b.nops(2)
        let r = try diff(a.steps, b.steps, rules: false)
        XCTAssertEqual(r.collapsedA, 0)
        let d = try XCTUnwrap(r.divergence, report(r))
        XCTAssertEqual(d.a.index, 101)
        XCTAssertEqual(d.fields.first?.0, .eip, report(r))
    }

    // MARK: rules

    /// `and eax, ebx` leaves AF undefined: runs that differ only in AF after it are identical
    /// under the rules (counted as undefined-flags), and divergent without them.
    func testUndefinedFlagsAfterAnd() throws {
        var a = Stream(start())
        a.nops(2)
        a.add([0x21, 0xd8]) { r in r[.eax] &= r[.ebx]; r[.eflags] = 0x02 }  // and eax, ebx
        a.nops(3)
        a.add([0x40]) { r in r[.eax] &+= 1; r[.eflags] = 0x02 }  // inc eax: writes AF again (0)
        a.nops(2)
        var b = a.steps
        // B's AND left AF set until the INC.
        b[2].after![.eflags] |= 0x10
        for i in 3...5 { b[i].before[.eflags] |= 0x10; b[i].after![.eflags] |= 0x10 }
        b[6].before[.eflags] |= 0x10

        let ruled = try diff(a.steps, b, rules: true)
        XCTAssertTrue(ruled.identical, report(ruled))
        XCTAssertEqual(ruled.compared, 9)
        XCTAssertEqual(ruled.applied[DiffRules.undefinedFlags.id], 4, "the four steps that started with AF different")
        XCTAssertTrue(report(ruled).contains("rules applied: undefined-flags ×4"), report(ruled))

        let strict = try diff(a.steps, b, rules: false)
        let d = try XCTUnwrap(strict.divergence)
        XCTAssertEqual(d.a.index, 103, "the step after the AND")
        XCTAssertEqual(d.fields.map { $0.0 }, [.eflags])
        XCTAssertTrue(report(strict).contains("(differ: AF)"), report(strict))
    }

    /// A defined flag differing after the same AND is a divergence even under the rules.
    func testDefinedFlagsAfterAndAreCompared() throws {
        var a = Stream(start())
        a.add([0x21, 0xd8]) { r in r[.eax] &= r[.ebx]; r[.eflags] = 0x02 }
        a.nops(3)
        var b = a.steps
        for i in 1..<b.count { b[i].before[.eflags] |= 0x40; b[i].after![.eflags] |= 0x40 }
        b[0].after![.eflags] |= 0x40
        let r = try diff(a.steps, b, rules: true)
        let d = try XCTUnwrap(r.divergence, report(r))
        XCTAssertEqual(d.a.index, 101)
        XCTAssertTrue(report(r).contains("(differ: ZF)"), report(r))
    }

    /// RDTSC's EDX:EAX differ between machines: masked until they agree (rule time-stamp), and so
    /// is what is computed from them.
    func testTimeStampIsMaskedUntilTheRunsAgree() throws {
        var a = Stream(start())
        var b = a
        a.add([0x0f, 0x31]) { r in r[.eax] = 0x1000; r[.edx] = 0 }
        b.add([0x0f, 0x31]) { r in r[.eax] = 0x2222; r[.edx] = 1 }
        for s in [0, 1] {
            var t = s == 0 ? a : b
            t.add([0x89, 0xc1]) { r in r[.ecx] = r[.eax] }  // mov ecx, eax
            t.add([0x31, 0xc0]) { r in r[.eax] = 0; r[.eflags] = 0x46 }  // xor eax, eax
            t.add([0x31, 0xd2]) { r in r[.edx] = 0; r[.eflags] = 0x46 }  // xor edx, edx
            t.add([0x31, 0xc9]) { r in r[.ecx] = 0; r[.eflags] = 0x46 }  // xor ecx, ecx
            t.nops(2)
            if s == 0 { a = t } else { b = t }
        }
        let r = try diff(a.steps, b.steps, rules: true)
        XCTAssertTrue(r.identical, report(r))
        XCTAssertGreaterThan(r.applied[DiffRules.timeStamp.id] ?? 0, 0)
        XCTAssertNotNil(try diff(a.steps, b.steps, rules: false).divergence)
    }

    // MARK: x87/SSE

    /// The FPU after FNINIT and one FLD1 (TOP 7, R7 = 1.0).
    private func fpuAfterFld1() -> TraceFPU {
        var f = FPUState()
        f.control = 0x037F
        f.status = 0x3800
        f.tags = 0x3FFF
        f.registers[7] = X87Register(significand: 0x8000_0000_0000_0000, signExponent: 0x3FFF)
        return TraceFPU(f)
    }

    /// Two x86v runs agree on every FPU field; one that differs is the divergence, named.
    func testFPUDifferencesBetweenTwoX86vRuns() throws {
        var a = Stream(start())
        a.fpu = fpuAfterFld1()
        var b = a
        a.nops(3); b.nops(3)
        a.add([0x0f, 0x10, 0xc1], fpuChange: { $0.xmm[0] = XMMRegister(low: 1, high: 0) }) { _ in }   // movups xmm0, xmm1
        b.add([0x0f, 0x10, 0xc1], fpuChange: { $0.xmm[0] = XMMRegister(low: 1, high: 0) }) { _ in }
        a.nops(2); b.nops(2)
        let same = try diff(a.steps, b.steps, rules: false)
        XCTAssertTrue(same.identical, report(same))
        XCTAssertEqual(same.fpuComparisons, 2, "at the start and after the movups, not at every step")
        a.add([0x0f, 0x10, 0xc1], fpuChange: { $0.xmm[0] = XMMRegister(low: 2, high: 0) }) { _ in }
        b.add([0x0f, 0x10, 0xc1], fpuChange: { $0.xmm[0] = XMMRegister(low: 3, high: 0) }) { _ in }
        a.nops(1); b.nops(1)
        let r = try diff(a.steps, b.steps, rules: false)
        let d = try XCTUnwrap(r.divergence, report(r))
        XCTAssertEqual(d.a.index, 107)
        XCTAssertEqual(d.fields.count, 0)
        XCTAssertEqual(d.fpuFields.map(\.0), [.xmm0])
        let text = report(r)
        XCTAssertTrue(text.contains("  xmm0   A 0x00000000000000000000000000000002  B 0x00000000000000000000000000000003\n"), text)
        XCTAssertTrue(text.contains("movups xmm0, xmm1   ; xmm0=0x00000000000000000000000000000002"), text)
        // FOP, FIP and the status flags count too between two x86v runs.
        var c = Stream(start()); c.fpu = fpuAfterFld1()
        var e = c
        c.add([0xd9, 0xe8], fpuChange: { $0.status |= 0x20 }) { _ in }
        e.add([0xd9, 0xe8], fpuChange: { $0.status |= 0x21 }) { _ in }
        c.nops(1); e.nops(1)
        XCTAssertEqual(try diff(c.steps, e.steps, rules: false).divergence?.fpuFields.map(\.0), [.fsw])
    }

    /// Against a reference machine (QEMU): its status flags, FOP/FIP/FDP, tag classes and empty
    /// registers are not compared (counted under qemu-fpu-status); TOP, values in use, XMM and
    /// MXCSR's controls are.
    func testAgainstAReferenceOnlyTrustedFPUFieldsAreCompared() throws {
        var a = Stream(start()); a.fpu = fpuAfterFld1()
        var b = a
        a.add([0xd8, 0xf1], fpuChange: { $0.status = 0x3881; $0.lastOpcode = 0xF1; $0.tags = 0x3FFF }) { _ in }   // fdiv st(1): IE, ES…
        b.add([0xd8, 0xf1], fpuChange: { $0.status = 0x3800; $0.tags = 0x7FFF; $0.registers[0].significand = 5 }) { _ in }
        a.nops(2); b.nops(2)
        let r = try diff(a.steps, b.steps, rules: true)
        XCTAssertTrue(r.identical, report(r))
        XCTAssertGreaterThan(r.applied[DiffRules.qemuFPUStatus.id] ?? 0, 0)
        // A different TOP is a divergence.
        var c = Stream(start()); c.fpu = fpuAfterFld1()
        var e = c
        c.add([0xd9, 0xe8], fpuChange: { $0.status = 0x3000; $0.tags = 0x0FFF }) { _ in }
        e.add([0xd9, 0xe8], fpuChange: { $0.status = 0x2800; $0.tags = 0x0FFF }) { _ in }
        c.nops(1); e.nops(1)
        XCTAssertEqual(try diff(c.steps, e.steps, rules: true).divergence?.fpuFields.map(\.0), [.fsw])
        // So is another value in a register both use, and MXCSR's rounding control.
        var g = Stream(start()); g.fpu = fpuAfterFld1()
        var h = g
        g.add([0xd9, 0xe8], fpuChange: { $0.registers[7].significand = 0xC000_0000_0000_0000; $0.mxcsr = 0x3F80 }) { _ in }
        h.add([0xd9, 0xe8], fpuChange: { $0.mxcsr = 0x1F81 }) { _ in }
        g.nops(1); h.nops(1)
        XCTAssertEqual(try diff(g.steps, h.steps, rules: true).divergence?.fpuFields.map(\.0), [.r7, .mxcsr])
        // An MMX write: x86v's exponent all ones, QEMU's untouched.
        var m = Stream(start()); m.fpu = fpuAfterFld1()
        var n = m
        m.add([0x0f, 0x6f, 0xf8], fpuChange: { $0.registers[7] = X87Register(significand: 7, signExponent: 0xFFFF) }) { _ in }
        n.add([0x0f, 0x6f, 0xf8], fpuChange: { $0.registers[7] = X87Register(significand: 7, signExponent: 0x3FFF) }) { _ in }
        m.nops(1); n.nops(1)
        let mr = try diff(m.steps, n.steps, rules: true)
        XCTAssertTrue(mr.identical, report(mr))
        XCTAssertGreaterThan(mr.applied[DiffRules.qemuMMXExponent.id] ?? 0, 0)
    }

    /// FSIN: QEMU's result differs in the low bits. Masked until the two agree (here: the
    /// register is popped), counted; a later difference is reported again.
    func testResultsQEMUComputesOtherwiseAreMaskedUntilEqual() throws {
        var a = Stream(start()); a.fpu = fpuAfterFld1()
        var b = a
        a.add([0xd9, 0xfe], fpuChange: { $0.registers[7].significand = 0xD76A_A478_4840_4E0F }) { _ in }  // fsin
        b.add([0xd9, 0xfe], fpuChange: { $0.registers[7].significand = 0xD76A_A478_4840_4E10 }) { _ in }
        a.nops(2); b.nops(2)
        a.add([0xdd, 0xd8], fpuChange: { $0.tags = 0xFFFF; $0.status = 0 }) { _ in }   // fstp st(0): R7 empty
        b.add([0xdd, 0xd8], fpuChange: { $0.tags = 0xFFFF; $0.status = 0 }) { _ in }
        a.nops(1); b.nops(1)
        let r = try diff(a.steps, b.steps, rules: true)
        XCTAssertTrue(r.identical, report(r))
        XCTAssertGreaterThan(r.applied[DiffRules.qemuFPUResults.id] ?? 0, 0)
        // Without the rule (two x86v runs) it is a divergence at the step after FSIN.
        XCTAssertEqual(try diff(a.steps, b.steps, rules: false).divergence?.a.index, 101)
        // The mask was lifted: a difference after it is reported.
        a.add([0xd9, 0xe8], fpuChange: { $0.tags = 0x3FFF; $0.status = 0x3800; $0.registers[7].significand = 1 }) { _ in }
        b.add([0xd9, 0xe8], fpuChange: { $0.tags = 0x3FFF; $0.status = 0x3800; $0.registers[7].significand = 2 }) { _ in }
        a.nops(1); b.nops(1)
        XCTAssertEqual(try diff(a.steps, b.steps, rules: true).divergence?.fpuFields.map(\.0), [.r7])
    }

    /// FUCOMI: x86v clears AF (as hardware), QEMU keeps it: masked until an instruction writes it.
    func testFcomiLeavesAFInQEMU() throws {
        var a = Stream(start()); a.fpu = fpuAfterFld1()
        var b = a
        a.add([0x04, 0x08]) { r in r[.eax] = 0x1234_5680; r[.eflags] = 0x12 }   // add al, 8: AF
        b.add([0x04, 0x08]) { r in r[.eax] = 0x1234_5680; r[.eflags] = 0x12 }
        a.add([0xdb, 0xe9]) { r in r[.eflags] = 0x42 }                            // fucomi st(1): ZF, AF cleared
        b.add([0xdb, 0xe9]) { r in r[.eflags] = 0x52 }                            // QEMU: AF kept
        a.add([0x7a, 0x00])                                                      // jp $+2
        b.add([0x7a, 0x00])
        a.add([0x31, 0xc0]) { r in r[.eax] = 0; r[.eflags] = 0x46 }               // xor eax, eax: AF cleared
        b.add([0x31, 0xc0]) { r in r[.eax] = 0; r[.eflags] = 0x46 }
        a.nops(1); b.nops(1)
        let r = try diff(a.steps, b.steps, rules: true)
        XCTAssertTrue(r.identical, report(r))
        XCTAssertGreaterThan(r.applied[DiffRules.qemuFcomiFlags.id] ?? 0, 0)
        XCTAssertNotNil(try diff(a.steps, b.steps, rules: false).divergence)
    }

    /// At the entry point the two machines' FPUs are each loader's (x86v at power-on, QEMU after
    /// its firmware's FNINIT): masked until they agree, then compared.
    func testEntryStateMasksTheFPUUntilTheRunsAgree() throws {
        var a = Stream(start())
        a.index = 0
        a.fpu = TraceFPU(FPUState())
        var b = a
        var qemu = FPUState()
        qemu.control = 0x037F
        qemu.tags = 0xFFFF
        b.fpu = TraceFPU(qemu)
        a.nops(2); b.nops(2)
        a.add([0xdb, 0xe3], fpuChange: { $0.control = 0x037F; $0.tags = 0xFFFF }) { _ in }   // fninit
        b.add([0xdb, 0xe3])
        a.nops(1); b.nops(1)
        let r = try diff(a.steps, b.steps, rules: true)
        XCTAssertTrue(r.identical, report(r))
        a.add([0xd9, 0x2d, 0, 0, 0x10, 0], fpuChange: { $0.control = 0x027F }) { _ in }   // fldcw
        b.add([0xd9, 0x2d, 0, 0, 0x10, 0], fpuChange: { $0.control = 0x037F }) { _ in }
        a.nops(1); b.nops(1)
        XCTAssertEqual(try diff(a.steps, b.steps, rules: true).divergence?.fpuFields.map(\.0), [.fcw])
    }

    /// A side without FPU state (a QEMU log without -d fpu): the FPU is not compared, and the
    /// report says so.
    func testASideWithoutFPUStateIsNotCompared() throws {
        var a = Stream(start()); a.fpu = fpuAfterFld1()
        var b = Stream(start())
        a.add([0xd9, 0xe8], fpuChange: { $0.status = 0 }) { _ in }
        b.add([0xd9, 0xe8])
        a.nops(1); b.nops(1)
        let r = try diff(a.steps, b.steps, rules: true)
        XCTAssertTrue(r.identical, report(r))
        XCTAssertEqual(r.fpuMissing, "B")
        XCTAssertTrue(report(r).contains("x87/SSE state not compared: B (side b) does not record it"), report(r))
    }

    func testEveryRuleHasAnIdASectionAndASummary() {
        XCTAssertEqual(Set(DiffRules.all.map(\.id)).count, DiffRules.all.count, "ids are unique")
        for r in DiffRules.all {
            XCTAssertFalse(r.id.isEmpty)
            XCTAssertFalse(r.section.isEmpty, r.id)
            XCTAssertFalse(r.summary.isEmpty, r.id)
        }
        XCTAssertTrue(DiffRules.all.contains(DiffRules.undefinedFlags))
        XCTAssertTrue(DiffRules.all.contains(DiffRules.repIterations))
    }
}
