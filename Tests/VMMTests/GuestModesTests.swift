import Foundation
import Machine
import Testing
import VMM

/// Every test guest, in every configuration, against its expected output (QEMU's, or the SDM's
/// where the file says so): same serial output, same exit status.
@Test(arguments: expectedOutputs().map(\.name), Virt.allCases)
func guestMatchesItsExpectedOutput(name: String, virt: Virt) throws {
    let expected = expectedOutputs().first { $0.name == name }!.expected
    let run = try runGuest(name, virt: virt)
    #expect(run.stop == .debugExit(1), "\(name) (\(virt)) stopped with \(run.stop)")
    let actual = run.markedOutput ?? ""
    if actual != expected {
        let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
        var i = 0
        while i < min(a.count, e.count) && a[i] == e[i] { i += 1 }
        let got = i < a.count ? String(a[i]).debugDescription : "end of output"
        let want = i < e.count ? String(e[i]).debugDescription : "end of output"
        Issue.record("\(name) (\(virt)): differs from expected/\(name).out at line \(i + 1): got \(got), want \(want)")
    }
}

/// The page faults a guest sees (delivered ones) are the same in every configuration, fault for
/// fault: instruction count, EIP, CR2, error code. Hidden faults exist only under the shadow MMU.
@Test(arguments: ["hello", "paging", "pf-demand", "pf-perm", "pf-ad", "pf-cow", "pf-live", "pf-cr3"])
func deliveredPageFaultsAreTheSameInEveryConfiguration(name: String) throws {
    guard FileManager.default.fileExists(atPath: guestPath(name)) else { return }
    let dir = FileManager.default.temporaryDirectory.path
    var traces: [Virt: [String]] = [:]
    for virt in Virt.allCases {
        let path = "\(dir)/x86v-faults-\(name)-\(virt.rawValue).jsonl"
        let run = try runGuest(name, virt: virt, faultTracePath: path)
        #expect(run.stop == .debugExit(1), "\(name) (\(virt)) stopped with \(run.stop)")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        // seq numbers count hidden faults too; pde/pte are compared by the property test.
        let keys = ["\"icount\"", "\"eip\"", "\"cr2\"", "\"error_code\""]
        traces[virt] = lines.filter { $0.contains("\"kind\":\"delivered\"") }.map { line in
            line.dropFirst().dropLast().split(separator: ",").filter { f in keys.contains { f.hasPrefix($0) } }
                .joined(separator: ",")
        }
    }
    #expect(traces[.hwDirect] == traces[.none], "\(name): delivered faults differ between none and hw-direct")
    #expect(traces[.hwShadow] == traces[.none], "\(name): delivered faults differ between none and hw-shadow")
}

/// Running out of shadow memory never breaks a guest: with a pool of 8 pages (a directory and a
/// few tables) roots are evicted and everything is dropped again and again, and the output is
/// still the expected one.
@Test(arguments: ["paging", "pf-demand", "pf-perm", "pf-ad", "pf-cow", "pf-live", "pf-cr3", "demo"])
func aTinyShadowPoolNeverBreaksTheGuest(name: String) throws {
    guard let expected = expectedOutputs().first(where: { $0.name == name })?.expected else { return }
    let run = try runGuest(name, virt: .hwShadow, shadowPages: 8)
    #expect(run.stop == .debugExit(1), "\(name) stopped with \(run.stop)")
    #expect(run.markedOutput == expected, "\(name): output differs with a tiny shadow pool")
}

/// The same guest and flags give the same serial output, statistics and exit trace, bit for
/// bit: the demo guest takes timer interrupts, so this checks that they land on the same
/// instruction in every run.
@Test func timerDrivenRunsAreDeterministic() throws {
    let dir = FileManager.default.temporaryDirectory.path
    let a = try runGuest("demo", virt: .hwShadow, tracePath: dir + "/x86v-determinism-a.jsonl")
    let b = try runGuest("demo", virt: .hwShadow, tracePath: dir + "/x86v-determinism-b.jsonl")
    #expect(a.stop == .debugExit(1))
    #expect(a.serial == b.serial)
    #expect(a.instructions == b.instructions)
    #expect(a.exits?.counts == b.exits?.counts)
    #expect(a.trace != nil && a.trace == b.trace)
    #expect((a.exits?.injectedEvents ?? 0) >= 10, "the demo guest should take timer interrupts")
    let bare = try runGuest("demo", virt: .none)
    #expect(bare.serial == a.serial, "the bare machine and the VMM must print the same")
}

/// The device guests drive every interrupt path of the VMM: timer deadlines while the guest runs
/// (EXTERNAL_INTERRUPT), interrupts held while IF = 0 (INTERRUPT_WINDOW), injection at entry, and
/// APIC / I/O APIC MMIO exits.
@Test func deviceGuestsExerciseEveryInterruptPath() throws {
    let pic = try runGuest("pic", virt: .hwShadow)
    let apic = try runGuest("apic", virt: .hwShadow)
    #expect(pic.stop == .debugExit(1) && apic.stop == .debugExit(1))
    for run in [pic, apic] {
        let exits = try #require(run.exits)
        #expect(exits.count(of: .externalInterrupt) > 0)
        #expect(exits.count(of: .interruptWindow) > 0)
        #expect(exits.injectedEvents >= exits.count(of: .interruptWindow))
    }
    #expect(apic.exits!.count(of: .apicAccess) > 0 && apic.exits!.count(of: .eptViolation) > 0)
}
