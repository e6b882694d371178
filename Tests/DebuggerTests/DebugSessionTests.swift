import Debugger
import ELF
import Foundation
import Machine
import ShadowMMU
import VMM
import X86Core
import XCTest

/// The engine on real guests (testguests/build; skipped when not built): stepping and reverse
/// execution land on exactly the state a straight run reaches, watchpoints see every kind of
/// access, breakpoints in unmapped memory are harmless, and random command lines never crash.
final class DebugSessionTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    enum Config { case none, direct, shadow, classic, bt }

    func session(_ name: String, _ config: Config = .shadow, interval: UInt64 = 5_000) throws -> (DebugSession, () -> [UInt8]) {
        let path = Self.root.appendingPathComponent("testguests/build/\(name).elf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not built (make -C testguests)") }
        let elf = try ELF32File(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
        let classic = config == .classic || config == .bt
        let pages = config == .shadow ? 512 : classic ? 512 + ClassicState.Layout.privatePages : 0
        let m = PCMachine(memorySize: 64 << 20, privateMemory: pages * 4096)
        try MultibootLoader.load(elf, into: m.cpu)
        var serial: [UInt8] = []
        m.serialOutput = { serial.append($0) }
        let vmm: VMM? = config == .none ? nil
            : VMM(machine: m, mmu: config == .direct ? .direct : .shadow(pages: 512), classic: classic, binaryTranslation: config == .bt)
        let s = DebugSession(machine: m, vmm: vmm, elf: elf, guestName: name, maxInstructions: 50_000_000,
                             snapshotInterval: interval)
        return (s, { serial })
    }

    /// Everything that tells two machines apart: the architectural registers and a hash of RAM.
    func fingerprint(_ s: DebugSession) -> [UInt64] {
        let st = s.cpu.statePointer.pointee
        var v: [UInt64] = (0..<8).map { UInt64(st.regs[$0]) }
        v += [UInt64(st.eip), UInt64(s.cpu.eflags), st.instructions, UInt64(st.cr3), UInt64(st.cr2), UInt64(st.cpl)]
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let ram = s.machine.memory.ram.assumingMemoryBound(to: UInt64.self)
        for i in 0..<Int(s.machine.memory.guestSize / 8) { h = (h ^ ram[i]) &* 0x100_0000_01b3 }
        v.append(h)
        if let vmm = s.vmm { v += [vmm.stats.total, UInt64(vmm.virtualCPU.cr3)] }
        return v
    }

    func testReverseStepLandsOnTheStraightRunState() throws {
        for config in [Config.none, .direct, .shadow, .classic, .bt] {
            let (a, _) = try session("demo", config)
            let (b, _) = try session("demo", config)
            _ = a.resume(.step(23_456))
            let target = fingerprint(a)
            _ = a.resume(.step(40_000))
            XCTAssertEqual(try a.reverseStep(40_000), .stepped)
            XCTAssertEqual(fingerprint(a), target, "reverse-step in \(config)")
            _ = b.resume(.step(23_456))
            XCTAssertEqual(fingerprint(b), target, "straight run in \(config)")
            // And forward again from the restored state is the same future.
            _ = a.resume(.step(40_000)); _ = b.resume(.step(40_000))
            XCTAssertEqual(fingerprint(a), fingerprint(b), "replayed future in \(config)")
        }
    }

    func testSteppingOneByOneEqualsOneBigStep() throws {
        let (a, _) = try session("paging")
        let (b, _) = try session("paging")
        for _ in 0..<3_000 { _ = a.resume(.step(1)) }
        _ = b.resume(.step(3_000))
        XCTAssertEqual(fingerprint(a), fingerprint(b))
    }

    func testReverseContinueFindsThePreviousBreakpointHit() throws {
        let (s, _) = try session("demo")
        guard let puts = s.symbols.address(of: "puts") else { throw XCTSkip("no puts symbol") }
        s.addBreakpoint(.address(puts), text: "puts")
        var hits: [UInt64] = []
        for _ in 0..<4 {
            guard case .breakpoint = s.resume(.continue) else { return XCTFail("no breakpoint hit") }
            hits.append(s.icount)
        }
        XCTAssertEqual(try s.reverseContinue(), .breakpoint(1))
        XCTAssertEqual(s.icount, hits[2])
        XCTAssertEqual(try s.reverseContinue(), .breakpoint(1))
        XCTAssertEqual(s.icount, hits[1])
        XCTAssertEqual(s.resume(.continue), .breakpoint(1))
        XCTAssertEqual(s.icount, hits[2])
    }

    func testWatchpointSeesStoresAndInterruptPushes() throws {
        let (s, _) = try session("demo")
        // The demo stores 0x00c0ffee to 0x00401010 through a freshly mapped page.
        s.addBreakpoint(.watch(OwnerWatch(address: 0x0040_1010, length: 4, reads: false, writes: true)), text: "")
        guard case .watch(_, let hit) = s.resume(.continue) else { return XCTFail("watchpoint never hit") }
        XCTAssertTrue(hit.isWrite)
        XCTAssertEqual(hit.value, 0x00c0_ffee)
        XCTAssertEqual(s.guestMemory.read32(0x0040_1010), 0x00c0_ffee)
    }

    func testBreakpointsInUnmappedMemoryAreHarmless() throws {
        let (s, serial) = try session("demo")
        s.addBreakpoint(.address(0xDEAD_0000), text: "")
        s.addBreakpoint(.watch(OwnerWatch(address: 0xFFFF_FFFE, length: 4, reads: true, writes: true)), text: "")
        guard case .ended(.debugExit(1)) = s.resume(.continue) else { return XCTFail("the guest did not finish") }
        XCTAssertTrue(String(decoding: serial(), as: UTF8.self).contains("5 of 5 checks passed"))
    }

    func testExitAndFaultBreakpoints() throws {
        let (s, _) = try session("paging")
        s.addBreakpoint(.exit(.invlpg), text: "")
        guard case .breakpoint = s.resume(.continue) else { return XCTFail() }
        XCTAssertEqual(s.log.exits.last?.exit.reason, .invlpg)
        s.deleteAllBreakpoints()
        XCTAssertEqual(s.resume(.runTo(.fault)).isEvent, true)
        XCTAssertEqual(s.log.faults.last?.vector, 14)
    }

    /// Random command lines (real commands with random arguments, and noise) on a live guest.
    func testRandomCommandLinesNeverCrash() throws {
        for config in [Config.shadow, .none] {
            let (s, _) = try session("demo", config, interval: 20_000)
            let c = CommandInterpreter(session: s)
            var rng = GDBFuzzRandom(seed: config == .none ? 7 : 11)
            let words = ["step", "s", "next", "finish", "until", "run-to", "break", "watch", "delete", "condition", "info",
                         "regs", "set", "disas", "x", "x/4x", "x/8i", "x/3bd", "x/2a", "gdt", "idt", "ldt", "tss", "pt",
                         "exits", "faults", "explain", "snapshot", "restore", "reverse-step", "rs", "reverse-continue",
                         "stats", "help", "frob", "", "#"]
            let args = ["", "1", "0", "-1", "100", "0x100000", "puts", "puts+4", "nosuch", "esp", "eax == 1", "exit", "fault",
                        "ring3", "cr3", "interrupt", "--shadow", "phys:0x1000", "0x8:0x100", "zz", "w 0x401010 4", "r esp 2",
                        "io 0x3f8", "fault 14", "exit CR_ACCESS", "a", "1 eax != 0", "breakpoints", "snapshots", "eax 5",
                        String(repeating: "9", count: 40), "\u{1}\u{7f}"]
            for i in 0..<1_500 {
                var line = words[Int(rng.next() % UInt64(words.count))]
                for _ in 0..<Int(rng.next() % 3) { line += " " + args[Int(rng.next() % UInt64(args.count))] }
                if line.hasPrefix("step") || line.hasPrefix("s ") { line = "step \(rng.next() % 5000 + 1)" }
                if line == "continue" { continue }
                _ = c.execute(line)
                if i % 100 == 0 { _ = c.execute("delete") }
            }
            // Still a working session afterwards.
            _ = c.execute("delete")
            XCTAssertFalse(c.execute("regs").text.isEmpty)
        }
    }
}

extension StopCause {
    var isEvent: Bool { if case .event = self { return true } else { return false } }
}


extension DebugSessionTests {
    /// A debugger write into a guest page table takes effect at once under the shadow MMU (the
    /// shadow is dropped and refilled from the guest's tables), as it does on the direct MMU.
    func testDebuggerWritesToPageTablesReachTheShadow() throws {
        var seen: [UInt32?] = []
        for config in [Config.direct, .shadow] {
            let (s, _) = try session("demo", config)
            s.addBreakpoint(.watch(OwnerWatch(address: 0x0040_1010, length: 4, reads: false, writes: true)), text: "")
            guard case .watch = s.resume(.continue) else { return XCTFail("watchpoint never hit") }
            s.deleteAllBreakpoints()
            // Point the PTE of 0x401000 at the frame of 0x400000 (the guest's PT at 0x117000).
            let ptePhys = try XCTUnwrap(s.guestMemory.translate(0x0040_0000)) & 0xFFFF_F000
            let pte = try XCTUnwrap(s.guestMemory.read32(0x117000, physical: true))
            XCTAssertTrue(s.guestMemory.write(0x117004, bytes: withUnsafeBytes(of: (ptePhys | (pte & 0xFFF)).littleEndian, Array.init), physical: true))
            seen.append(s.guestMemory.read32(0x0040_1010))
            // What the CPU's walker sees (the shadow, or the guest's own tables): never the old
            // frame 0x115000 any more.
            let st = s.cpu.statePointer.pointee
            let real = GuestPageWalk.walk(s.machine.memory, GuestPageWalk.Controls(cr0: st.cr0, cr3: st.cr3, cr4: st.cr4),
                                          linear: 0x0040_1010, write: false, user: false, guestTables: false)
            if real.faultCode == nil { XCTAssertEqual(real.frame, ptePhys, "stale translation in \(config)") }
        }
        XCTAssertEqual(seen[0], seen[1])
    }
}
