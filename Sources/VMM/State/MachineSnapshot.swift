import Machine
import ShadowMMU
import X86Core

/// The whole machine at one instruction boundary: the CPU, RAM (guest and private), every
/// device, the clock, the VMM and its shadow MMU, and the numbering of the traces, so that a run
/// restored from it continues exactly as the original run did (`x86v run --save/--resume`, the
/// debugger's snapshots and reverse execution).
///
/// In memory, each component's state is the bytes of its section (`saveState(to:)`: a few KiB)
/// and RAM is a `RAMImage` whose unchanged pages are shared with the `previous` snapshot, so a
/// history of snapshots costs the pages that changed between them (`byteSize`). A snapshot is
/// restored into a machine built the same way (`SnapshotConfig.makeMachine`); what is wiring or
/// configuration (callbacks, trace files, the debugger's breakpoints, the exit policy) is never
/// part of it. The file form is in MachineSnapshot+File.swift.
///
/// Take snapshots between runs (after `VMM.run` or `HardwareRunner.run` returned), never from
/// inside a callback.
public final class MachineSnapshot: Sendable {
    /// Section "CPU ".
    let cpuState: [UInt8]
    /// Sections "MACH" … "IOBS" (`PCMachine.saveState`).
    let machineState: [UInt8]
    /// Section "VMM " (and "SHMU"); nil for a machine without a VMM (`--virt=none`).
    let vmmState: [UInt8]?
    /// The fault trace's last `seq` and delivered count, if a trace was attached.
    let faultCounters: FaultCounters?
    /// The CPU's mode-switch counters (`--stats`; not architectural, so not in "CPU ").
    let modeCounters: ModeCounters
    public let ram: RAMImage
    /// The CPU's instruction count when the snapshot was taken.
    public let instructionCount: UInt64

    struct FaultCounters: Sendable, Equatable {
        var sequence: UInt64
        var delivered: UInt64
    }

    init(cpuState: [UInt8], machineState: [UInt8], vmmState: [UInt8]?, faultCounters: FaultCounters?,
         modeCounters: ModeCounters, ram: RAMImage, instructionCount: UInt64) {
        self.cpuState = cpuState
        self.machineState = machineState
        self.vmmState = vmmState
        self.faultCounters = faultCounters
        self.modeCounters = modeCounters
        self.ram = ram
        self.instructionCount = instructionCount
    }

    /// Captures `machine` (and `vmm`, which must be the machine's, if it runs under one).
    /// `previous`: an earlier snapshot of the same machine, whose unchanged RAM pages are shared.
    /// `faultTrace`: the `--trace-faults` trace when it is not the VMM's (`--virt=none` and
    /// `--mmu=direct` attach it to the CPU); by default the VMM's.
    public static func capture(machine: PCMachine, vmm: VMM?, previous: MachineSnapshot?,
                               faultTrace: FaultTrace? = nil) -> MachineSnapshot {
        precondition(vmm == nil || vmm!.machine === machine, "the VMM must be the machine's")
        var c = StateWriter(reserving: 1 << 12)
        machine.cpu.saveState(to: &c)
        var m = StateWriter(reserving: 1 << 12)
        machine.saveState(to: &m)
        var v: [UInt8]? = nil
        if let vmm {
            var w = StateWriter(reserving: 1 << 12)
            vmm.saveState(to: &w)
            v = w.finish()
        }
        let trace = faultTrace ?? vmm?.faultTrace
        return MachineSnapshot(
            cpuState: c.finish(), machineState: m.finish(), vmmState: v,
            faultCounters: trace.map { FaultCounters(sequence: $0.sequence, delivered: $0.delivered) },
            modeCounters: machine.cpu.modeCounters,
            ram: RAMImage.capture(machine.memory, previous: previous?.ram),
            instructionCount: machine.cpu.statePointer.pointee.instructions)
    }

    /// Puts `machine` (and `vmm`) back in the captured state. They must be built as the captured
    /// ones were (same memory, private memory, VMM or not, MMU, exit policy). Everything is
    /// checked before the machine changes; RAM is written last, page by page where it differs.
    /// `faultTrace` as for `capture`: its numbering is set back (when the snapshot has one).
    public func restore(into machine: PCMachine, vmm: VMM?, faultTrace: FaultTrace? = nil) throws(StateError) {
        let pages = Int(machine.memory.size) / RAMImage.pageSize
        guard pages == ram.pageCount else {
            throw StateError("the snapshot has \(ram.pageCount * 4) KiB of memory, this machine \(pages * 4) KiB")
        }
        guard (vmm != nil) == (vmmState != nil) else {
            throw StateError(vmm == nil ? "the snapshot was taken under the VMM (--virt=hw), this machine has none"
                                        : "the snapshot was taken without the VMM (--virt=none)")
        }
        precondition(vmm == nil || vmm!.machine === machine, "the VMM must be the machine's")
        var cr = StateReader(cpuState)
        let cpuCommit = try machine.cpu.readState(from: &cr)
        try Self.expectEnd(cr, "CPU")
        var vmmCommit: (() -> Void)? = nil
        if let vmm, let vmmState {
            var vr = StateReader(vmmState)
            vmmCommit = try vmm.readState(from: &vr)
            try Self.expectEnd(vr, "VMM")
        }
        var mr = StateReader(machineState)
        try machine.restoreState(from: &mr)
        try Self.expectEnd(mr, "machine")
        cpuCommit()
        machine.cpu.restoreModeCounters(modeCounters)
        vmmCommit?()
        if let f = faultCounters, let t = faultTrace ?? vmm?.faultTrace {
            t.sequence = f.sequence
            t.delivered = f.delivered
        }
        ram.restore(into: machine.memory)
    }

    static func expectEnd(_ r: borrowing StateReader, _ what: String) throws(StateError) {
        guard r.remaining == 0 else { throw StateError("snapshot corrupt: \(r.remaining) stray bytes after the \(what) state") }
    }

    /// The parts in which two snapshots differ ("cpu", "machine", "vmm", "fault trace", "mode
    /// counters", "ram"):
    /// empty when they hold the same state, bit for bit.
    public func differences(from other: MachineSnapshot) -> [String] {
        var d: [String] = []
        if cpuState != other.cpuState { d.append("cpu") }
        if machineState != other.machineState { d.append("machine") }
        if vmmState != other.vmmState { d.append("vmm") }
        if faultCounters != other.faultCounters { d.append("fault trace") }
        if modeCounters != other.modeCounters { d.append("mode counters") }
        if !ram.hasSameContents(as: other.ram) { d.append("ram") }
        return d
    }

    /// True when the snapshot carries the fault trace's numbering (a trace was attached).
    public var hasFaultTraceCounters: Bool { faultCounters != nil }

    /// Approximate memory this snapshot holds that the `previous` one it was captured against
    /// does not: new RAM pages, the page list, the component states.
    public var byteSize: Int {
        ram.unsharedBytes + cpuState.count + machineState.count + (vmmState?.count ?? 0) + 128
    }
}
