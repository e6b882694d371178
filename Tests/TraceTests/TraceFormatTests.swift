import Foundation
import Trace
import X86Core
import XCTest

/// The two forms of an x86v instruction trace (docs/formats.md, "Instruction traces"): a JSON
/// lines file written by hand reads back into the right steps; `TraceWriter` and `TraceReader`
/// round-trip steps in both forms; a cut, foreign or inconsistent file is a `TraceInputError`,
/// never a crash or a wrong step.
final class TraceFormatTests: XCTestCase {
    private var files: [String] = []

    override func tearDown() {
        for f in files { try? FileManager.default.removeItem(atPath: f) }
        files = []
    }

    private func path(_ suffix: String) -> String {
        let p = NSTemporaryDirectory() + "x86v-trace-\(UUID().uuidString).\(suffix)"
        files.append(p)
        return p
    }

    private func write(_ bytes: [UInt8], _ suffix: String = "trace") -> String {
        let p = path(suffix)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    private func write(_ text: String) -> String { write(Array(text.utf8), "jsonl") }

    private func readAll(_ path: String) throws -> (TraceReader, [TraceStep]) {
        let reader = try TraceReader(path: path)
        var steps: [TraceStep] = []
        while let s = try reader.next() { steps.append(s) }
        return (reader, steps)
    }

    /// The error reading `path` to its end gives ("no error" if none; fails on any other error type).
    private func error(_ path: String) -> String {
        do {
            _ = try readAll(path)
            return "no error"
        } catch let e as TraceInputError {
            return e.description
        } catch {
            return "not a TraceInputError: \(error)"
        }
    }

    // MARK: a JSON lines file written by hand

    /// Header, two steps (a `push ebx` that took a #PF meanwhile, then an `inc eax`), end record.
    private let header = #"{"x86v-trace":1,"guest":"hand.elf","config":"hw-shadow"}"#
    private let state = #""state":{"eax":"0x2badb002","ecx":"0x00000000","edx":"0x00000000","ebx":"0x00009000","esp":"0x00010000","ebp":"0x00000000","esi":"0x00000000","edi":"0x00000000","eip":"0x00100010","eflags":"0x00000002","es":"0x0010","cs":"0x0008","ss":"0x0010","ds":"0x0010","fs":"0x0010","gs":"0x0010","cr0":"0x00000011","cr2":"0x00000000","cr3":"0x00000000","cr4":"0x00000000"}"#
    private var push: String {
        #"{"n":0,"cs":"0x0008","eip":"0x00100010","lin":"0x00100010","phys":"0x00100010","bytes":"53","asm":"push ebx","#
            + state
            + #","changed":{"esp":["0x00010000","0x0000fffc"],"eip":["0x00100010","0x00100011"],"cr2":["0x00000000","0x00400000"]},"#
            + #""writes":[{"lin":"0x0000fffc","phys":"0x0000fffc","size":4,"value":"0x00009000"}],"#
            + #""events":[{"type":"exit","detail":"EXCEPTION_NMI"},{"type":"hidden-fault","error":"0x00000002","addr":"0x0000fffc","detail":"fill"},{"type":"exception","vector":14,"error":"0x00000002","addr":"0x00400000"}]}"#
    }
    private let inc = #"{"n":2,"cs":"0x0008","eip":"0x00100011","lin":"0x00100011","phys":null,"bytes":"40","asm":"inc eax","changed":{"eax":["0x2badb002","0x2badb003"],"eip":["0x00100011","0x00100012"],"eflags":["0x00000002","0x00000006"]}}"#
    private let end = #"{"end":{"steps":2,"stop":"debug-exit"}}"#

    func testHandWrittenJSONLinesReadBack() throws {
        let (reader, steps) = try readAll(write([header, push, inc, end].joined(separator: "\n") + "\n"))
        XCTAssertEqual(reader.format, .jsonl)
        XCTAssertEqual(reader.guest, "hand.elf")
        XCTAssertEqual(reader.config, "hw-shadow")
        XCTAssertEqual(reader.stop, "debug-exit")
        XCTAssertEqual(reader.declaredSteps, 2)
        XCTAssertEqual(steps.count, 2)

        let p = steps[0]
        XCTAssertEqual(p.index, 0)
        XCTAssertEqual(p.linear, 0x100010)
        XCTAssertEqual(p.physical, 0x100010)
        XCTAssertEqual(p.bytes, [0x53])
        XCTAssertEqual(p.before[.eax], 0x2bad_b002)
        XCTAssertEqual(p.before[.ebx], 0x9000)
        XCTAssertEqual(p.before[.esp], 0x10000)
        XCTAssertEqual(p.before[.eip], 0x100010)
        XCTAssertEqual(p.before[.eflags], 2)
        XCTAssertEqual([p.before[.es], p.before[.cs], p.before[.ss], p.before[.ds], p.before[.fs], p.before[.gs]],
                       [0x10, 8, 0x10, 0x10, 0x10, 0x10])
        XCTAssertEqual(p.before[.cr0], 0x11)
        let pa = try XCTUnwrap(p.after)
        XCTAssertEqual(pa[.esp], 0xfffc)
        XCTAssertEqual(pa[.eip], 0x100011)
        XCTAssertEqual(pa[.cr2], 0x40_0000)
        for f in TraceField.allCases where ![.esp, .eip, .cr2].contains(f) {
            XCTAssertEqual(pa[f], p.before[f], "\(f.name) did not change")
        }
        XCTAssertEqual(p.writes, [TraceWrite(linear: 0xfffc, physical: 0xfffc, size: 4, value: 0x9000)])
        XCTAssertEqual(p.events, [
            TraceEvent(kind: .exit, detail: "EXCEPTION_NMI"),
            TraceEvent(kind: .hiddenFault, errorCode: 2, address: 0xfffc, detail: "fill"),
            TraceEvent(kind: .exception, vector: 14, errorCode: 2, address: 0x40_0000),
        ])

        let i = steps[1]
        XCTAssertEqual(i.index, 2, "n jumps where an event delivery counted one")
        XCTAssertEqual(i.before, pa, "a step without \"state\" starts from the previous step's after")
        XCTAssertNil(i.physical)
        XCTAssertEqual(i.bytes, [0x40])
        let ia = try XCTUnwrap(i.after)
        XCTAssertEqual(ia[.eax], 0x2bad_b003)
        XCTAssertEqual(ia[.eflags], 6)
        XCTAssertEqual(ia[.eip], 0x100012)
        XCTAssertTrue(i.writes.isEmpty)
        XCTAssertTrue(i.events.isEmpty)
        XCTAssertEqual(reader.stepsRead, 2)
    }

    func testJSONLinesWithoutTheEndLineIsTruncated() {
        let message = error(write([header, push, inc].joined(separator: "\n") + "\n"))
        XCTAssertTrue(message.contains("truncated"), message)
        XCTAssertTrue(message.contains("after 2 steps"), message)
    }

    func testJSONLinesCutInsideALineIsTruncated() {
        let text = [header, push, inc, end].joined(separator: "\n") + "\n"
        let cut = String(text.prefix(header.count + 1 + push.count + 1 + 40))
        let message = error(write(cut))
        XCTAssertTrue(message.contains("truncated"), message)
    }

    func testJSONLinesWithAWrongOldValueIsRejected() {
        let bad = inc.replacingOccurrences(of: #""eax":["0x2badb002""#, with: #""eax":["0x2badb00f""#)
        XCTAssertNotEqual(bad, inc)
        let message = error(write([header, push, bad, end].joined(separator: "\n") + "\n"))
        XCTAssertTrue(message.contains("eax was 0x2badb002, the step says 0x2badb00f"), message)
        XCTAssertTrue(message.contains(":3:"), "names the line: \(message)")
    }

    func testJSONLinesWithAnEIPThatDoesNotFollowIsRejected() {
        let bad = inc.replacingOccurrences(of: #""eip":"0x00100011""#, with: #""eip":"0x00100013""#)
        let message = error(write([header, push, bad, end].joined(separator: "\n") + "\n"))
        XCTAssertTrue(message.contains("does not follow"), message)
    }

    func testJSONLinesEndRecordCountingOtherStepsIsRejected() {
        let message = error(write([header, push, inc, #"{"end":{"steps":3,"stop":"debug-exit"}}"#].joined(separator: "\n") + "\n"))
        XCTAssertTrue(message.contains("the end record says 3 steps, the file holds 2"), message)
    }

    func testAStepWithoutStateFirstIsRejected() {
        let message = error(write([header, inc, end].joined(separator: "\n") + "\n"))
        XCTAssertTrue(message.contains("without state"), message)
    }

    func testForeignFilesAreRejected() {
        for (text, expected) in [("root:x:0:0:root:/root:/bin/bash\n", "not an x86v trace"),
                                 ("", "not an x86v trace"),
                                 (#"{"x86v-trace":7,"guest":"g","config":"c"}"# + "\n", "version 7")] {
            let message = error(write(text))
            XCTAssertTrue(message.contains(expected), "\(text.debugDescription): \(message)")
        }
        let elf: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 1, 1, 1, 0] + Array(repeating: 0, count: 56)
        XCTAssertTrue(error(write(elf)).contains("not an x86v trace"))
        XCTAssertTrue(error(NSTemporaryDirectory() + "x86v-trace-does-not-exist").contains("No such file"))
    }

    // MARK: TraceWriter → TraceReader

    /// Four steps that follow one another (each `before` is the previous `after`), with a gap in
    /// the indices, an unmapped instruction, writes of every size and events of every kind.
    /// The x87/SSE state too: two steps change it (an FLD into R7 with the status and tag words,
    /// an SSE load and MXCSR, every kind of field), the others share the state before them.
    private func sampleSteps() -> [TraceStep] {
        var r = TraceRegisters()
        r[.eax] = 0x2bad_b002; r[.ebx] = 0x9000; r[.esp] = 0x10a000; r[.eip] = 0x100010; r[.eflags] = 2
        r[.cs] = 8; r[.ss] = 0x10; r[.ds] = 0x10; r[.es] = 0x10; r[.fs] = 0x10; r[.gs] = 0x10; r[.cr0] = 0x11
        var fpu = TraceFPU(FPUState())
        var steps: [TraceStep] = []
        func add(_ index: UInt64, _ bytes: [UInt8], physical: UInt32?, writes: [TraceWrite] = [], events: [TraceEvent] = [],
                 fpuChange: ((inout FPUState) -> Void)? = nil, _ change: (inout TraceRegisters) -> Void) {
            var after = r
            after[.eip] = r.eip &+ UInt32(bytes.count)
            change(&after)
            var fpuAfter = fpu
            if let edit = fpuChange {
                var x = fpu.state
                edit(&x)
                fpuAfter = TraceFPU(x)
            }
            steps.append(TraceStep(index: index, before: r, after: after, linear: r.eip, physical: physical,
                                   bytes: bytes, writes: writes, events: events, fpu: fpu, fpuAfter: fpuAfter))
            r = after
            fpu = fpuAfter
        }
        add(0, [0x53], physical: 0x100010, writes: [TraceWrite(linear: 0x109ffc, physical: 0x109ffc, size: 4, value: 0x9000)]) {
            $0[.esp] = 0x109ffc
        }
        add(1, [0xd9, 0xe8], physical: 0x100011, fpuChange: { f in
            f.control = 0x037F; f.status = 0x3800; f.tags = 0x3FFF; f.lastOpcode = 0x1E8
            f.instructionPointer = 0x100011; f.instructionSelector = 8
            f.registers[7] = X87Register(significand: 0x8000_0000_0000_0000, signExponent: 0x3FFF)
        }) { _ in }
        add(2, [0x66, 0x89, 0x08], physical: 0x100011,
            writes: [TraceWrite(linear: 0x2000, physical: 0x3000, size: 2, value: 0xbeef),
                     TraceWrite(linear: 0x2002, physical: 0x3002, size: 1, value: 0x7f)],
            events: [TraceEvent(kind: .exit, address: 0xfee0_0390, detail: "APIC_ACCESS"),
                     TraceEvent(kind: .hiddenFault, errorCode: 3, address: 0x2000, detail: "write-protect")]) { _ in }
        // A #PF delivered meanwhile, an external interrupt too: the count jumps by two.
        add(3, [0x8b, 0x28], physical: 0x100014,
            events: [TraceEvent(kind: .exception, vector: 14, errorCode: 0, address: 0x4000_0000),
                     TraceEvent(kind: .interrupt, vector: 0x20), TraceEvent(kind: .softwareInterrupt, vector: 0x80)]) {
            $0[.eip] = 0x1000e0; $0[.esp] = 0x109fec; $0[.cr2] = 0x4000_0000; $0[.eflags] = 0x46; $0[.cs] = 8
        }
        add(6, [0x0f, 0x10, 0x00], physical: 0x1000e0, fpuChange: { f in
            f.xmm[2] = XMMRegister(low: 0x0123_4567_89AB_CDEF, high: 0xFEDC_BA98_7654_3210)
            f.mxcsr = 0x9FC0; f.operandPointer = 0xdead_beef; f.operandSelector = 0x10
            f.registers[0] = X87Register(significand: 1, signExponent: 0xFFFF)
        }) { _ in }
        add(7, [], physical: nil) { $0[.eax] = 0xffff_ffff; $0[.cr3] = 0x11_0000; $0[.gs] = 0x2b }
        add(300, [0xe7, 0xf4], physical: 0x1000e0) { _ in }
        return steps
    }

    private func assertSameSteps(_ got: [TraceStep], _ want: [TraceStep], _ what: String,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        for (g, w) in zip(got, want) {
            XCTAssertEqual(g.index, w.index, "\(what) index", file: file, line: line)
            XCTAssertEqual(g.before, w.before, "\(what) before, step \(w.index)", file: file, line: line)
            XCTAssertEqual(g.after, w.after, "\(what) after, step \(w.index)", file: file, line: line)
            XCTAssertEqual(g.linear, w.linear, "\(what) linear, step \(w.index)", file: file, line: line)
            XCTAssertEqual(g.physical, w.physical, "\(what) physical, step \(w.index)", file: file, line: line)
            XCTAssertEqual(g.bytes, w.bytes, "\(what) bytes, step \(w.index)", file: file, line: line)
            XCTAssertEqual(g.writes, w.writes, "\(what) writes, step \(w.index)", file: file, line: line)
            XCTAssertEqual(g.events, w.events, "\(what) events, step \(w.index)", file: file, line: line)
            XCTAssertEqual(g.fpu?.state, w.fpu?.state, "\(what) FPU before, step \(w.index)", file: file, line: line)
            XCTAssertEqual(g.fpuAfter?.state, w.fpuAfter?.state, "\(what) FPU after, step \(w.index)", file: file, line: line)
            XCTAssertEqual(g.changedFPU, w.changedFPU, "\(what) FPU changed, step \(w.index)", file: file, line: line)
        }
    }

    private func writeTrace(_ steps: [TraceStep], _ format: TraceWriter.Format, fullStateAt: Set<Int> = [0]) throws -> String {
        let p = path(format.rawValue)
        let writer = try TraceWriter(path: p, format: format, guest: "guest \"one\".elf", config: "hw-shadow")
        for (i, s) in steps.enumerated() { writer.write(s, fullState: fullStateAt.contains(i)) }
        try writer.finish(steps: UInt64(steps.count), stop: "debug-exit (status 1)")
        return p
    }

    func testRoundTripBothFormats() throws {
        let steps = sampleSteps()
        for format in TraceWriter.Format.allCases {
            let (reader, got) = try readAll(try writeTrace(steps, format))
            XCTAssertEqual(reader.format, format)
            XCTAssertEqual(reader.guest, "guest \"one\".elf")
            XCTAssertEqual(reader.config, "hw-shadow")
            XCTAssertEqual(reader.stop, "debug-exit (status 1)")
            XCTAssertEqual(reader.declaredSteps, UInt64(steps.count))
            assertSameSteps(got, steps, format.rawValue)
        }
    }

    /// A step restating the full state starts a new chain (the first after a filter gap).
    func testRoundTripWithFullStateAfterAGap() throws {
        var steps = sampleSteps()
        // Cut the chain: step 3 does not start where step 2 ended.
        for i in 3..<steps.count {
            steps[i].before[.ebx] = 0x1234
            steps[i].after![.ebx] = 0x1234
        }
        for format in TraceWriter.Format.allCases {
            let (_, got) = try readAll(try writeTrace(steps, format, fullStateAt: [0, 3]))
            assertSameSteps(got, steps, format.rawValue)
        }
    }

    /// The two forms say the same: binary → steps → JSON lines is the JSON lines written directly.
    func testBinaryPrintedIsTheJSONLinesWrittenDirectly() throws {
        let steps = sampleSteps()
        let direct = try writeTrace(steps, .jsonl)
        let (_, fromBinary) = try readAll(try writeTrace(steps, .bin))
        let printed = try writeTrace(fromBinary, .jsonl)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: printed)), try Data(contentsOf: URL(fileURLWithPath: direct)))
    }

    func testBinaryTruncatedAtEveryByteIsAnError() throws {
        let whole = Array(try Data(contentsOf: URL(fileURLWithPath: try writeTrace(sampleSteps(), .bin))))
        XCTAssertGreaterThan(whole.count, 100)
        XCTAssertEqual(error(write(whole)), "no error")
        let p = path("cut")
        for n in 0..<whole.count {
            _ = FileManager.default.createFile(atPath: p, contents: Data(whole[0..<n]))
            let message = error(p)
            XCTAssertFalse(message == "no error" || message.hasPrefix("not a TraceInputError"), "cut at \(n) of \(whole.count): \(message)")
        }
    }

    func testJSONLinesTruncatedAtEveryByteIsAnError() throws {
        let whole = Array(try Data(contentsOf: URL(fileURLWithPath: try writeTrace(sampleSteps(), .jsonl))))
        XCTAssertEqual(error(write(whole)), "no error")
        let p = path("cut")
        for n in 0..<whole.count {
            _ = FileManager.default.createFile(atPath: p, contents: Data(whole[0..<n]))
            let message = error(p)
            XCTAssertFalse(message == "no error" || message.hasPrefix("not a TraceInputError"), "cut at \(n) of \(whole.count): \(message)")
        }
    }

    /// Single bytes changed anywhere in a binary trace: an error or a readable file, never a crash.
    func testBinaryWithCorruptBytesNeverCrashes() throws {
        let whole = Array(try Data(contentsOf: URL(fileURLWithPath: try writeTrace(sampleSteps(), .bin))))
        let p = path("corrupt")
        var errors = 0
        for n in 0..<whole.count {
            for value: UInt8 in [0x00, 0xFF, whole[n] ^ 0x80] where value != whole[n] {
                var bytes = whole
                bytes[n] = value
                _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
                let message = error(p)
                XCTAssertFalse(message.hasPrefix("not a TraceInputError"), "byte \(n) = \(value): \(message)")
                if message != "no error" { errors += 1 }
            }
        }
        XCTAssertGreaterThan(errors, 0)
    }

    func testBinaryEndRecordCountingOtherStepsIsRejected() throws {
        var whole = Array(try Data(contentsOf: URL(fileURLWithPath: try writeTrace(sampleSteps(), .bin))))
        // The end record: tag, u64 steps, u32 length, the stop text.
        let stop = Array("debug-exit (status 1)".utf8)
        let at = whole.count - stop.count - 4 - 8
        XCTAssertEqual(whole[at - 1], 0x7E)
        whole[at] = 9
        let message = error(write(whole))
        XCTAssertTrue(message.contains("the end record says 9 steps, the file holds 7"), message)
    }

    func testBinaryOfAnotherVersionIsRejected() throws {
        var whole = Array(try Data(contentsOf: URL(fileURLWithPath: try writeTrace(sampleSteps(), .bin))))
        XCTAssertEqual(Array(whole[0..<8]), Array("x86vtrc\u{0}".utf8))
        XCTAssertEqual(Array(whole[8..<12]), [2, 0, 0, 0])
        whole[8] = 3
        let message = error(write(whole))
        XCTAssertTrue(message.contains("x86v trace version 3"), message)
        whole[8] = 0
        XCTAssertTrue(error(write(whole)).contains("x86v trace version 0"))
    }

    // MARK: x87/SSE (format version 2)

    /// The FPU fields in JSON lines: changes beside the integer ones (R as sign/exponent then
    /// significand, XMM high quadword first), the whole FPU in "state" only when it is not the
    /// power-on state; a wrong old value is refused like an integer one.
    func testFPUFieldsInJSONLines() throws {
        let p = try writeTrace(sampleSteps(), .jsonl, fullStateAt: [0, 3])
        let lines = String(decoding: try Data(contentsOf: URL(fileURLWithPath: p)), as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix(#"{"x86v-trace":2,"#))
        XCTAssertFalse(lines[1].contains("fcw"), "the power-on FPU is not restated")
        XCTAssertTrue(lines[2].contains(#""changed":{"eip":["0x00100011","0x00100013"],"r7":["0x00000000000000000000","0x3fff8000000000000000"],"fcw":["0x0040","0x037f"],"fsw":["0x0000","0x3800"],"ftw":["0x5555","0x3fff"],"fop":["0x0000","0x01e8"],"fip":["0x00000000","0x00100011"],"fcs":["0x0000","0x0008"]}"#), lines[2])
        XCTAssertFalse(lines[3].contains("fcw"))
        XCTAssertTrue(lines[4].contains(#""fcw":"0x037f","fsw":"0x3800","ftw":"0x3fff""#), "restated after the gap: \(lines[4])")
        XCTAssertTrue(lines[5].contains(#""r0":["0x00000000000000000000","0xffff0000000000000001"]"#), lines[5])
        XCTAssertTrue(lines[5].contains(#""xmm2":["0x00000000000000000000000000000000","0xfedcba98765432100123456789abcdef"],"mxcsr":["0x00001f80","0x00009fc0"]"#), lines[5])
        var bad = lines
        bad[5] = bad[5].replacingOccurrences(of: #""mxcsr":["0x00001f80""#, with: #""mxcsr":["0x00001f81""#)
        XCTAssertTrue(error(write(bad.joined(separator: "\n") + "\n")).contains("mxcsr was 0x00001f80, the step says 0x00001f81"))
        bad = lines
        bad[5] = bad[5].replacingOccurrences(of: #""0xffff0000000000000001""#, with: #""0xffff000000000000001""#)
        XCTAssertTrue(error(write(bad.joined(separator: "\n") + "\n")).contains("bad change 'r0'"))
        bad = lines
        bad[4] = bad[4].replacingOccurrences(of: #","mxcsr":"0x00001f80""#, with: "")
        XCTAssertTrue(error(write(bad.joined(separator: "\n") + "\n")).contains("state without mxcsr"))
    }

    /// A version-1 trace (before the FPU was traced) reads, its steps without FPU state.
    func testVersionOneTracesHaveNoFPU() throws {
        let (reader, steps) = try readAll(write([header, push, inc, end].joined(separator: "\n") + "\n"))
        XCTAssertEqual(reader.version, 1)
        XCTAssertTrue(steps.allSatisfy { $0.fpu == nil && $0.fpuAfter == nil })
        // An FPU field in a version-1 trace is not a field of that version.
        let withFPU = inc.replacingOccurrences(of: #""changed":{"#, with: #""changed":{"fcw":["0x0040","0x037f"],"#)
        XCTAssertTrue(error(write([header, push, withFPU, end].joined(separator: "\n") + "\n")).contains("bad change 'fcw'"))
    }

    /// Steps that change no FPU field share the state box before them (what the diff relies on
    /// to compare the FPU only after it changed).
    func testStepsWithoutFPUChangesShareTheirState() throws {
        for format in TraceWriter.Format.allCases {
            let (_, got) = try readAll(try writeTrace(sampleSteps(), format))
            XCTAssertTrue(got[0].fpu === got[0].fpuAfter)
            XCTAssertFalse(got[1].fpu === got[1].fpuAfter)
            XCTAssertTrue(got[1].fpuAfter === got[2].fpu && got[2].fpu === got[3].fpu)
            XCTAssertEqual(got.map(\.changedFPU), [false, true, false, false, true, false, false])
        }
    }
}
