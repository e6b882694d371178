import Debugger
import ELF
import Foundation
import Machine
import VMM
import X86Core
import XCTest

/// The page-table views on real guests (testguests/build, skipped when not built): stopped at
/// several points under the shadow MMU, every page the shadow maps must be explained by a shadow
/// rule — never "stale" (the shadow is kept in sync) and never unexplained — and the Graphviz
/// picture must render.
final class ViewsGuestTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func machine(_ name: String) throws -> (PCMachine, VMM) {
        let path = Self.root.appendingPathComponent("testguests/build/\(name).elf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not built (make -C testguests)") }
        let m = PCMachine(memorySize: 64 << 20, privateMemory: 512 * 4096)
        try MultibootLoader.load(try ELF32File(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))), into: m.cpu)
        m.serialOutput = { _ in }
        return (m, VMM(machine: m, mmu: .shadow(pages: 512)))
    }

    /// Every shadow-mapped page of the current address space, explained.
    func checkEveryShadowPage(_ m: PCMachine, _ vmm: VMM, at point: UInt64) throws {
        let ranges = PageTableView.ranges(machine: m, vmm: vmm, shadow: true)
        var pages = 0
        for line in ranges.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard let range = parts.first, range.hasPrefix("0x") else { continue }
            let bounds = range.split(separator: "-").map { UInt32($0.dropFirst(2), radix: 16)! }
            var a = bounds[0]
            while true {
                let text = PageTableView.walk(machine: m, vmm: vmm, linear: a)
                let verdict = text.split(separator: "\n").drop { !$0.hasPrefix("agree") && !$0.hasPrefix("differ") }
                XCTAssertFalse(verdict.isEmpty, "no verdict at \(point): \(text)")
                XCTAssertFalse(text.contains("stale") || text.contains("not RAM"), "at \(point):\n\(text)")
                if verdict.first?.hasPrefix("differ") == true {
                    XCTAssertGreaterThan(verdict.count, 1, "a difference without a reason at \(point):\n\(text)")
                }
                pages += 1
                if a >= bounds[1] & ~0xFFF { break }
                a += 0x1000
            }
        }
        XCTAssertGreaterThan(pages, 0, "the shadow maps nothing at \(point)")
        try ViewsTests.checkDotRenders(PageTableView.dot(machine: m, vmm: vmm))
    }

    func testEveryShadowPageOfPagingGuestsIsExplained() throws {
        for name in ["paging", "bench-spaces", "pf-cow"] {
            let (m, vmm) = try machine(name)
            for point: UInt64 in [200_000, 1_000_000, 3_000_000] {
                let stop = vmm.run(RunLimits(maxInstructions: point))
                try checkEveryShadowPage(m, vmm, at: point)
                if stop != .instructionLimit { break }
            }
        }
    }
}
