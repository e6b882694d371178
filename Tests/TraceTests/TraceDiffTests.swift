import Trace
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

        init(_ r: TraceRegisters) { self.r = r }

        /// One instruction of `bytes` at the current EIP; `change` edits the state after it
        /// (EIP advances past the bytes unless it sets it).
        mutating func add(_ bytes: [UInt8], events: [TraceEvent] = [], _ change: (inout TraceRegisters) -> Void = { _ in }) {
            var after = r
            after[.eip] = r.eip &+ UInt32(bytes.count)
            change(&after)
            steps.append(TraceStep(index: index, before: r, after: after, linear: r.eip, physical: r.eip,
                                   bytes: bytes, events: events))
            r = after
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
