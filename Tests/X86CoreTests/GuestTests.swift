import Foundation
import Testing

/// Runs every test guest that has an expected output (testguests/expected/NAME.out) on X86Core
/// and compares its serial output, from the "x86v-guest: " marker on, with that file (minus its
/// "#" header line). The ELFs come from testguests/build (`make -C testguests`).
/// seglimit's expected output is derived from the SDM rather than QEMU (see its header).
enum GuestFiles {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testguests")

    static var names: [String] {
        let dir = root.appendingPathComponent("expected")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".out") }.map { String($0.dropLast(4)) }.sorted()
    }

    /// alu and alu-paging run 220 M instructions in their timed loop; the rest finish in well under 50 M.
    /// Guests that execute x87/SSE code, which the interpreter does not implement yet (a later
    /// issue): until then they must stop cleanly with a "not implemented" exit naming an x87 or
    /// SSE instruction, never crash or run on with wrong results.
    static let needFloatingPoint: Set<String> = ["corpus"]

    static func budget(_ name: String) -> UInt64 {
        name.hasPrefix("alu") ? 400_000_000 : 50_000_000
    }
}

@Test(arguments: GuestFiles.names)
func guest(_ name: String) throws {
    let elf = GuestFiles.root.appendingPathComponent("build/\(name).elf")
    guard FileManager.default.fileExists(atPath: elf.path) else {
        Issue.record("\(name): \(elf.path) is missing; run `make -C testguests` first")
        return
    }
    let expectedText = try String(contentsOf: GuestFiles.root.appendingPathComponent("expected/\(name).out"),
                                  encoding: .utf8)
    var expectedLines = expectedText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if expectedLines.first?.hasPrefix("#") == true { expectedLines.removeFirst() }
    let expected = expectedLines.joined(separator: "\n")
    let wantExit: UInt32 = expectedLines.contains { $0.hasPrefix("not ok") || $0.hasPrefix("Bail out!") } ? 1 : 0

    let run = try GuestRunner.run(elfPath: elf.path, budget: GuestFiles.budget(name))
    if GuestFiles.needFloatingPoint.contains(name) {
        #expect(run.ending.contains("notImplemented") && (run.ending.contains("\"f") || run.ending.contains("xmm")),
                "\(name): expected a not-implemented exit at the first x87/SSE instruction; got \(run.ending)")
        return
    }
    guard let actual = run.markedOutput else {
        Issue.record("\(name): no \"x86v-guest: \" marker in the serial output (\(run.ending)); serial: \(run.text.debugDescription)")
        return
    }
    let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if actual != expected {
        // The first failing TAP line and the "#   ..." diagnostics a guest prints after it.
        var firstFailing: String?
        if let f = actualLines.firstIndex(where: { $0.hasPrefix("not ok") || $0.hasPrefix("Bail out!") || $0.hasPrefix("# unhandled") }) {
            var j = f + 1
            var text = actualLines[f]
            while j < actualLines.count && actualLines[j].hasPrefix("#   ") { text += " " + actualLines[j]; j += 1 }
            firstFailing = text
        }
        let failingNumbers = actualLines.filter { $0.hasPrefix("not ok ") }
            .map { $0.dropFirst(7).prefix { $0.isNumber } }.joined(separator: ", ")
        var i = 0
        while i < min(actualLines.count, expectedLines.count) && actualLines[i] == expectedLines[i] { i += 1 }
        let got = i < actualLines.count ? actualLines[i].debugDescription : "end of output"
        let want = i < expectedLines.count ? expectedLines[i].debugDescription : "end of output"
        Issue.record("""
            \(name): output differs from expected/\(name).out at line \(i + 1): got \(got), want \(want); \
            first failing line: \(firstFailing ?? "none"); not ok: [\(failingNumbers)]; \
            \(run.ending) after \(run.instructions) instructions
            """)
    }
    #expect(run.exitCode == wantExit, "\(name): \(run.ending)")
}
