import ELF
import Foundation
import Machine
import ShadowMMU
import Testing
import VMM
import X86Core

// Machine snapshots (Sources/VMM/State, docs/formats.md "Machine snapshots"): a run captured at
// an instruction boundary and restored — in place, or from a file into a fresh machine — goes on
// exactly as the uninterrupted run: same serial output, stop, instruction count, statistics.

/// A test guest on a machine built from a `SnapshotConfig` (as `x86v run --resume` builds it),
/// its COM1 output collected.
final class SnapshotRig {
    let config: SnapshotConfig
    let machine: PCMachine
    let vmm: VMM?
    var serial: [UInt8] = []

    init(config: SnapshotConfig, guest: String?) throws {
        self.config = config
        if let guest {
            // As `x86v run` does: load, then put the VMM over the loaded CPU.
            machine = PCMachine(memorySize: config.memoryBytes, rtcStart: config.rtcStart,
                                privateMemory: config.privateMemoryBytes)
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: guestPath(guest))))
            try MultibootLoader.load(try ELF32File(bytes: bytes), into: machine.cpu)
            vmm = config.virt == .none ? nil : VMM(machine: machine, policy: try config.policy(),
                                                   mmu: config.mmu == .shadow ? .shadow(pages: config.shadowPages) : .direct)
        } else {
            (machine, vmm) = try config.makeMachine()
        }
        machine.serialOutput = { [unowned self] in self.serial.append($0) }
    }

    convenience init(_ guest: String, _ virt: Virt, memory: Int = 64 << 20) throws {
        try self.init(config: snapshotConfig(virt, memory: memory, guest: guest), guest: guest)
    }

    /// Runs until the instruction count reaches `n` (or the guest stops).
    func run(to n: UInt64) -> StopReason {
        let limits = RunLimits(maxInstructions: n, timeoutSeconds: 120)
        if let vmm { return vmm.run(limits) }
        return HardwareRunner(machine: machine).run(limits)
    }

    func capture(previous: MachineSnapshot? = nil) -> MachineSnapshot {
        MachineSnapshot.capture(machine: machine, vmm: vmm, previous: previous)
    }

    var instructions: UInt64 { machine.cpu.state.instructions }

    /// Everything `--stats-json` prints, as one comparable string.
    var statistics: String {
        var s = "\(instructions) \(machine.clock.now) \(machine.clock.idleNanoseconds) \(machine.portAccesses) "
        s += "\(machine.interruptsDelivered) \(machine.bus.unknownAccesses.sorted { $0.key < $1.key })"
        if let vmm { s += " \(vmm.stats.counts) \(vmm.stats.injectedEvents)" }
        if let sh = vmm?.shadow { s += " \(sh.stats)" }
        return s
    }
}

func snapshotConfig(_ virt: Virt, memory: Int = 64 << 20, guest: String = "") -> SnapshotConfig {
    let pool = virt == .hwShadow ? 512 : 0
    return SnapshotConfig(memoryBytes: memory, privateMemoryBytes: pool * 4096, shadowPages: pool,
                          virt: virt == .none ? .none : .hw, mmu: virt == .hwShadow ? .shadow : .direct,
                          exits: "", strictIO: false, rtcStart: .defaultStart, guestPath: guest,
                          maxInstructions: 400_000_000)
}

let snapshotBudget: UInt64 = 400_000_000

/// The guests that exercise the most state: page faults (hidden and delivered, REP strings
/// interrupted by #PF), timer and PIC interrupts, string instructions, the LAPIC.
let snapshotGuests = ["pf-demand", "pf-cow", "pic", "apic", "strings"]

/// Capture, run on, restore in place, run again: the second run is the first one replayed.
@Test(arguments: snapshotGuests, Virt.allCases)
func restoringInPlaceReplaysTheRest(guest: String, virt: Virt) throws {
    guard FileManager.default.fileExists(atPath: guestPath(guest)) else { return }
    let total = try SnapshotRig(guest, virt)
    #expect(total.run(to: snapshotBudget) == .debugExit(1), "\(guest) \(virt) should pass")
    let rig = try SnapshotRig(guest, virt)
    for point in [1, total.instructions / 3, total.instructions * 2 / 3] {
        _ = rig.run(to: point)
        let snapshot = rig.capture()
        #expect(snapshot.instructionCount == rig.instructions)
        let mark = rig.serial.count
        let stop = rig.run(to: snapshotBudget)
        let first = (stop, Array(rig.serial[mark...]), rig.statistics)
        try snapshot.restore(into: rig.machine, vmm: rig.vmm)
        #expect(rig.capture().differences(from: snapshot).isEmpty, "\(guest) \(virt): restore is not the captured state")
        rig.serial.removeSubrange(mark...)
        let again = rig.run(to: snapshotBudget)
        #expect(again == first.0, "\(guest) \(virt) from \(point): stop \(again), first time \(first.0)")
        #expect(Array(rig.serial[mark...]) == first.1, "\(guest) \(virt) from \(point): serial output differs")
        #expect(rig.statistics == first.2, "\(guest) \(virt) from \(point): statistics differ")
        // Back to the snapshot for the next point.
        try snapshot.restore(into: rig.machine, vmm: rig.vmm)
        rig.serial.removeSubrange(mark...)
    }
}

/// Capture → file → read → restore into a freshly built machine (no guest loaded): the rest of
/// the run is the uninterrupted run's rest.
@Test(arguments: snapshotGuests, Virt.allCases)
func aSnapshotFileResumesInAFreshMachine(guest: String, virt: Virt) throws {
    guard FileManager.default.fileExists(atPath: guestPath(guest)) else { return }
    let whole = try SnapshotRig(guest, virt)
    let wholeStop = whole.run(to: snapshotBudget)
    #expect(wholeStop == .debugExit(1), "\(guest) \(virt) should pass")
    let first = try SnapshotRig(guest, virt)
    _ = first.run(to: whole.instructions / 2)
    let bytes = first.capture().fileBytes(config: first.config)
    let (config, snapshot) = try MachineSnapshot.read(fileBytes: bytes)
    #expect(config == first.config)
    #expect(snapshot.instructionCount == first.instructions)
    let second = try SnapshotRig(config: config, guest: nil)
    try snapshot.restore(into: second.machine, vmm: second.vmm)
    let stop = second.run(to: snapshotBudget)
    #expect(stop == wholeStop)
    #expect(first.serial + second.serial == whole.serial, "\(guest) \(virt): serial output differs")
    #expect(second.statistics == whole.statistics, "\(guest) \(virt): statistics differ")
    // The fresh machine's snapshot file is byte for byte the original's.
    #expect(snapshot.fileBytes(config: config) == bytes)
}

/// Snapshots taken one after another share the pages that did not change; restoring an older
/// one brings every page back (the debugger's history).
@Test func aSeriesOfSnapshotsSharesUnchangedPages() throws {
    let rig = try SnapshotRig("pf-demand", .hwShadow)
    var history: [MachineSnapshot] = []
    var previous: MachineSnapshot? = nil
    for step in 1...6 {
        _ = rig.run(to: UInt64(step) * 200_000)
        let s = rig.capture(previous: previous)
        history.append(s)
        previous = s
    }
    let first = history[0]
    #expect(first.ram.newPages == first.ram.nonZeroPages)
    for (s, p) in zip(history.dropFirst(), history) {
        // Only the pages written since the previous snapshot are new (the guest demand-pages a
        // few hundred): its code, stack and tables are shared.
        let shared = zip(s.ram.pages, p.ram.pages).filter { $0 != nil && $0 === $1 }.count
        #expect(shared > 0 && shared + s.ram.newPages == s.ram.nonZeroPages,
                "new \(s.ram.newPages), shared \(shared), of \(s.ram.nonZeroPages)")
        #expect(s.byteSize < s.ram.nonZeroPages * 4096 + s.ram.pageCount * 8 + 64 << 10)
    }
    let unchanged = rig.capture(previous: history.last)
    #expect(unchanged.ram.newPages == 0)
    try history[1].restore(into: rig.machine, vmm: rig.vmm)
    #expect(rig.capture().differences(from: history[1]).isEmpty)
    #expect(history[1].ram.matches(rig.machine.memory))
}

/// The CPU section names every `CPUState` field. A new field changes the layout: add it to
/// CPU+State.swift (and bump `MachineSnapshot.formatVersion`), then update this number.
@Test func everyCPUStateFieldIsSaved() {
    #expect(MemoryLayout<CPUState>.size == 605, "CPUState changed: save the new field in CPU+State.swift")
    #expect(MemoryLayout<ShadowMMU.Stats>.size == 160, "ShadowMMU.Stats changed: save it in ShadowMMU+State.swift")
}

/// Pages written by the instruction in flight (a guest write to one of its page tables, compared
/// at the next boundary) are saved with their old contents and compared after the restore. A run
/// never stops between such a write and its comparison, so the write is made by calling the
/// page-fault hook directly, as the CPU would for a write to the guest's page directory.
@Test func pendingPageTableWritesSurviveASnapshot() throws {
    let rig = try SnapshotRig("pf-demand", .hwShadow)
    let early = rig.run(to: 1_000_000)
    #expect(early == .instructionLimit, "\(early)")
    let vmm = try #require(rig.vmm)
    let shadow = try #require(vmm.shadow)
    var actions: [String] = []
    vmm.faultObserver = { actions.append($0.action) }
    // pf-demand identity-maps its low memory, page directory included.
    let directory = shadow.controls.cr3
    let before = shadow.stats.writeProtectFaults
    _ = shadow.pageFault(linear: directory, code: 2)
    vmm.faultObserver = nil
    #expect(actions == ["write-protect"] && shadow.stats.writeProtectFaults == before + 1)
    // The guest's write itself (it clears the A bit of a PDE in use), which the comparison at
    // the next boundary must see.
    let pdes = (0..<1024).map { rig.machine.memory.read32(directory + UInt32($0) * 4) }
    let slot = try #require(pdes.firstIndex { $0 & 0x21 == 0x21 })
    rig.machine.memory.write32(directory + UInt32(slot) * 4, pdes[slot] & ~0x20)
    let snapshot = rig.capture()
    let copy = try SnapshotRig(config: rig.config, guest: nil)
    try snapshot.restore(into: copy.machine, vmm: copy.vmm)
    #expect(copy.capture().differences(from: snapshot).isEmpty)
    // Both compare the page at the next boundary and drop the shadow table built from it.
    let zapped = shadow.stats.entriesZapped
    let next = rig.instructions + 1_000
    _ = rig.run(to: next)
    _ = copy.run(to: next)
    #expect(copy.capture().differences(from: rig.capture()).isEmpty)
    #expect(copy.statistics == rig.statistics)
    #expect(shadow.stats.entriesZapped > zapped, "the comparison should have dropped shadow entries")
}

// MARK: Bad files

/// The file checksum: FNV-1a 64 over little-endian 64-bit words, a partial last word bytewise.
func fnv1a64(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    var i = bytes.startIndex
    while i + 8 <= bytes.endIndex {
        var w: UInt64 = 0
        for k in 0..<8 { w |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
        h = (h ^ w) &* 0x100_0000_01B3
        i += 8
    }
    for b in bytes[i...] { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}

/// Rewrites the trailing checksum after an edit (what a file from another build has: a valid one).
func resealed(_ file: [UInt8]) -> [UInt8] {
    var f = file
    let h = fnv1a64(f[0..<(f.count - 8)])
    for i in 0..<8 { f[f.count - 8 + i] = UInt8(truncatingIfNeeded: h >> (8 * UInt64(i))) }
    return f
}

func readError(_ bytes: [UInt8]) -> String? {
    do {
        _ = try MachineSnapshot.read(fileBytes: bytes)
        return nil
    } catch {
        return error.description
    }
}

@Test func truncatedCorruptedAndForeignFilesAreRefused() throws {
    let rig = try SnapshotRig("hello", .hwShadow, memory: 4 << 20)
    _ = rig.run(to: 5_000)
    let file = rig.capture().fileBytes(config: rig.config)

    // Every kind of truncation: one line saying so.
    for length in Set([0, 3, 8, 11, 12, 19, 20, 40, 200, file.count / 2, file.count - 9, file.count - 1]) {
        let e = try #require(readError(Array(file.prefix(length))), "truncated to \(length) read")
        #expect(e.contains("truncated"), "\(length): \(e)")
    }
    // A flipped bit anywhere after the header: the checksum catches it.
    for offset in stride(from: 20, to: file.count, by: max(1, file.count / 97)) {
        var f = file
        f[offset] ^= 0x10
        let e = try #require(readError(f))
        #expect(e.contains("corrupt"), "byte \(offset): \(e)")
    }
    #expect(readError(Array("not a snapshot at all".utf8))?.contains("not an x86v snapshot") == true)
    // Another format version.
    var version = file
    version[8] = 99
    #expect(readError(version)?.contains("format version 99") == true)
    // Another x86v build, checksum intact.
    var other = file
    let identity = Array(MachineSnapshot.buildIdentity.utf8)
    let at = try #require((0..<(file.count - identity.count)).first { Array(file[$0..<($0 + identity.count)]) == identity })
    other[at + identity.count - 2] ^= 1
    let e = try #require(readError(resealed(other)))
    #expect(e.contains("another x86v build"), "\(e)")
}

/// A resealed file with any one byte changed is read and restored into a fresh machine or
/// refused with a StateError; never a trap (every field is range-checked).
@Test func mutatedFilesNeverTrap() throws {
    let rig = try SnapshotRig("pf-demand", .hwShadow, memory: 4 << 20)
    _ = rig.run(to: 300_000)
    let file = rig.capture().fileBytes(config: rig.config)
    var generator = SystemRandomNumberGenerator()
    var refused = 0, accepted = 0
    // The state sections sit before the RAM pages: mutate mostly there.
    let ramTag = try #require((0..<(file.count - 4)).first { file[$0..<($0 + 4)] == ArraySlice("RAM ".utf8) })
    for _ in 0..<400 {
        var f = file
        let offset = Int.random(in: 20..<ramTag + 64, using: &generator)
        f[offset] = UInt8.random(in: 0...255, using: &generator)
        do {
            let (config, snapshot) = try MachineSnapshot.read(fileBytes: resealed(f))
            // Only plausible machines: a mutated size could ask for gigabytes.
            guard config.memoryBytes <= 64 << 20, config.privateMemoryBytes <= 64 << 20 else { refused += 1; continue }
            let (machine, vmm) = try config.makeMachine()
            try snapshot.restore(into: machine, vmm: vmm)
            accepted += 1
        } catch {
            refused += 1
        }
    }
    #expect(refused + accepted == 400)
}

// MARK: Costs (printed; the report in docs/formats.md quotes them)

@Test func snapshotCostsForA128MiBGuest() throws {
    func ms(_ t: Double) -> String { String(format: "%.1f ms", t * 1000) }
    let rig = try SnapshotRig("pf-demand", .hwShadow, memory: 128 << 20)
    _ = rig.run(to: snapshotBudget)
    var t = monotonicSeconds()
    let a = rig.capture()
    let captureFirst = monotonicSeconds() - t
    t = monotonicSeconds()
    let b = rig.capture(previous: a)
    let captureAgain = monotonicSeconds() - t
    t = monotonicSeconds()
    let file = b.fileBytes(config: rig.config)
    let write = monotonicSeconds() - t
    t = monotonicSeconds()
    let (config, read) = try MachineSnapshot.read(fileBytes: file)
    let parse = monotonicSeconds() - t
    let fresh = try SnapshotRig(config: config, guest: nil)
    t = monotonicSeconds()
    try read.restore(into: fresh.machine, vmm: fresh.vmm)
    let restoreFresh = monotonicSeconds() - t
    t = monotonicSeconds()
    try a.restore(into: rig.machine, vmm: rig.vmm)
    let restoreInPlace = monotonicSeconds() - t
    print("snapshot of pf-demand, 128 MiB + \(rig.config.privateMemoryBytes >> 10) KiB private: \(a.ram.nonZeroPages) non-zero pages, byteSize \(a.byteSize) B; capture \(ms(captureFirst)), again (all shared) \(ms(captureAgain)), byteSize \(b.byteSize) B; file \(file.count) B written in \(ms(write)), read in \(ms(parse)); restore into a fresh machine \(ms(restoreFresh)), in place \(ms(restoreInPlace))")

    // Worst case: every page of guest RAM non-zero.
    let ram = rig.machine.memory.ram
    for i in stride(from: 0, to: Int(rig.machine.memory.guestSize), by: 4096) { ram.storeBytes(of: UInt32(i | 1), toByteOffset: i, as: UInt32.self) }
    t = monotonicSeconds()
    let full = rig.capture(previous: a)
    let captureFull = monotonicSeconds() - t
    t = monotonicSeconds()
    let fullAgain = rig.capture(previous: full)
    let captureFullAgain = monotonicSeconds() - t
    t = monotonicSeconds()
    try a.restore(into: rig.machine, vmm: rig.vmm)
    let restoreBack = monotonicSeconds() - t
    t = monotonicSeconds()
    let fullFile = full.fileBytes(config: rig.config)
    let writeFull = monotonicSeconds() - t
    t = monotonicSeconds()
    _ = try MachineSnapshot.read(fileBytes: fullFile)
    let readFull = monotonicSeconds() - t
    print("snapshot with all 128 MiB non-zero: capture \(ms(captureFull)) (byteSize \(full.byteSize >> 20) MiB), again unchanged \(ms(captureFullAgain)) (byteSize \(fullAgain.byteSize) B), restore of the sparse one over it \(ms(restoreBack)); file \(fullFile.count >> 20) MiB written in \(ms(writeFull)), read in \(ms(readFull))")
    #expect(fullAgain.ram.newPages == 0)
}
