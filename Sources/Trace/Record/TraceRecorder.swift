import ShadowMMU
import VMM
import X86Core
import X86Decode

/// Records a run instruction by instruction into a `TraceWriter`.
///
/// The CPU calls `boundary()` before every instruction (`CPU.traceObserver`). A step is opened
/// there with the state before the instruction, and closed at the next boundary with the state
/// after: so a step's changes are everything between the start of its instruction and the start
/// of the next one — the instruction's own effects, and those of any event delivered meanwhile
/// (a fault it raised, an interrupt injected after it), which the step lists in `events`. An
/// instruction that exits to the VMM and is emulated there is one step like any other.
public final class TraceRecorder {
    /// Which steps are written (all of them are still followed, so the first one written after a
    /// gap carries the full state).
    public struct Filter: Sendable {
        public var from: UInt64 = 0
        public var to: UInt64 = .max
        public var eipRange: ClosedRange<UInt32>? = nil
        public var ring: UInt8? = nil
        public init() {}

        func admits(index: UInt64, eip: UInt32, cpl: UInt8) -> Bool {
            index >= from && index <= to && (eipRange?.contains(eip) ?? true) && (ring.map { $0 == cpl } ?? true)
        }
    }

    let cpu: CPU
    let view: GuestView
    let writer: TraceWriter
    let filter: Filter
    let decoder = Decoder()

    // The open step.
    var isOpen = false
    var openIndex: UInt64 = 0
    var openBefore = TraceRegisters()
    var openLinear: UInt32 = 0
    var openPhysical: UInt32? = nil
    var openBytes: InlineArray<16, UInt8> = .init(repeating: 0)
    var openLength = 0
    var openInstruction = DecodedInstruction()
    var events: [TraceEvent] = []
    /// The step before the open one was written (else the next one written restates everything).
    var previousWritten = false
    /// Steps written so far.
    public private(set) var written: UInt64 = 0
    /// Past `filter.to`: the recorder has let go of the CPU.
    public private(set) var detached = false
    /// The x87/SSE state as the trace has told it so far: the state at the open step's start.
    /// Only x87, MMX and SSE instructions change it (the opcode table's attributes), so only
    /// their steps compare it with the CPU's; every other step costs one attribute test.
    var fpuKnown = FPUState.traceDefault
    let table = OpcodeTable.shared

    public init(cpu: CPU, view: GuestView, writer: TraceWriter, filter: Filter = Filter()) {
        self.cpu = cpu
        self.view = view
        self.writer = writer
        self.filter = filter
        events.reserveCapacity(8)
    }

    /// Starts recording: the CPU's boundary hook, its write log and delivery observer, and the
    /// VMM's exit and fault observers (nil `vmm`: the bare machine has neither).
    public func attach(vmm: VMM?) {
        // unowned(unsafe): no reference counting per instruction; deinit detaches first.
        cpu.traceObserver = { [unowned(unsafe) self] in boundary() }
        cpu.traceWrites = true
        fpuKnown = cpu.statePointer.pointee.fpu.traced
        cpu.deliveryObserver = { [unowned self] vector, code, software in noteDelivery(vector, code, software) }
        if let v = vmm {
            v.exitObserver = { [unowned self] exit in noteExit(exit) }
            v.faultObserver = { [unowned self] event in noteFault(event) }
        }
        self.vmm = vmm
    }
    var vmm: VMM?

    deinit {
        if !detached { detach() }
    }

    func detach() {
        cpu.traceObserver = nil
        cpu.traceWrites = false
        cpu.deliveryObserver = nil
        vmm?.exitObserver = nil
        vmm?.faultObserver = nil
        cpu.clearTracedWrites()
        detached = true
    }

    /// The end of the run: the open step closes with the state now, and the writer its stream.
    public func finish(stop: String) throws(TraceInputError) {
        if isOpen && !detached {
            close(after: view.registers())
        }
        isOpen = false
        if !detached { detach() }
        try writer.finish(steps: written, stop: stop)
    }

    // MARK: Boundaries

    func boundary() {
        let now = view.registers()
        let count = cpu.statePointer.pointee.instructions
        if isOpen {
            // The same instruction again with nothing retired or delivered (an exit the VMM
            // answered by restarting it): still the same step.
            if count == openIndex && now == openBefore && !events.contains(where: { $0.isDelivery }) { return }
            close(after: now)
        }
        if count > filter.to {
            isOpen = false
            detach()
            return
        }
        open(index: count, before: now)
    }

    func open(index: UInt64, before: TraceRegisters) {
        isOpen = true
        openIndex = index
        openBefore = before
        let cs = cpu.statePointer.pointee.segments[1]
        openLinear = cs.base &+ before.eip
        openPhysical = view.physical(openLinear, cr0: before[.cr0], cr3: before[.cr3], cr4: before[.cr4])
        openLength = 0
        guard let phys = openPhysical else { return }
        // Up to 16 bytes, through the guest's tables for a second page.
        let first = min(16, 0x1000 - Int(openLinear & 0xFFF))
        var have = 0
        let memory = cpu.memory
        withUnsafeMutablePointer(to: &openBytes) { p in
            p.withMemoryRebound(to: UInt8.self, capacity: 16) { b in
                if first == 16 && UInt64(phys) + 16 <= UInt64(memory.guestSize) {
                    // Plain RAM: one copy (MMIO and holes go byte by byte through the bus below).
                    UnsafeMutableRawPointer(b).copyMemory(from: memory.ram + Int(phys), byteCount: 16)
                    have = 16
                } else {
                    for i in 0..<first { b[i] = memory.read8(phys &+ UInt32(i)) }
                    have = first
                }
                if have < 16, let p2 = view.physical(openLinear &+ UInt32(first), cr0: before[.cr0], cr3: before[.cr3], cr4: before[.cr4]) {
                    for i in first..<16 { b[i] = memory.read8(p2 &+ UInt32(i - first)) }
                    have = 16
                }
                var d = DecodedInstruction()
                if decoder.decode(b, count: have, mode: cs.big ? .bits32 : .bits16, into: &d) == .ok {
                    openInstruction = d
                    openLength = Int(d.length)
                } else {
                    // Not an instruction (it will raise #UD) or cut by an unmapped page: keep the
                    // bytes that are there, at most 15.
                    openLength = min(have, 15)
                    openInstruction = DecodedInstruction()
                }
            }
        }
    }

    func close(after: TraceRegisters) {
        let cpl = UInt8(openBefore[.cs] & 3)
        var fpuAfter: FPUState? = nil
        if openLength > 0 && openInstruction.length > 0
            && !table.attributes(row: Int(openInstruction.row)).isDisjoint(with: [.x87, .mmx, .sse]) {
            let now = cpu.statePointer.pointee.fpu.traced
            if now != fpuKnown { fpuAfter = now }
        }
        if filter.admits(index: openIndex, eip: openBefore.eip, cpl: cpl) {
            let full = !previousWritten
            withUnsafeBytes(of: &openBytes) { raw in
                writer.step(index: openIndex, before: openBefore, after: after, linear: openLinear,
                            physical: openPhysical, bytes: UnsafeRawBufferPointer(rebasing: raw[0..<openLength]),
                            instruction: openLength > 0 && openInstruction.length > 0 ? openInstruction : nil,
                            writes: cpu.tracedWrites, events: events, fullState: full,
                            fpu: full || fpuAfter != nil ? fpuKnown : nil, fpuAfter: fpuAfter)
            }
            written &+= 1
            previousWritten = true
        } else {
            previousWritten = false
        }
        if let f = fpuAfter { fpuKnown = f }
        cpu.clearTracedWrites()
        if !events.isEmpty { events.removeAll(keepingCapacity: true) }
    }

    // MARK: Events

    func noteDelivery(_ vector: UInt8, _ code: UInt32?, _ software: Bool) {
        let kind: TraceEvent.Kind = software ? .softwareInterrupt : cpu.deliveringExternalInterrupt ? .interrupt : .exception
        events.append(TraceEvent(kind: kind, vector: vector, errorCode: code,
                                 address: kind == .exception && vector == 14 ? cpu.statePointer.pointee.cr2 : nil))
    }

    func noteExit(_ exit: VMExit) {
        var address: UInt32? = nil
        switch exit.qualification {
        case .mmio(_, let a, _, _, _): address = a
        case .linearAddress(let a): address = a
        default: break
        }
        events.append(TraceEvent(kind: .exit, address: address, detail: exit.reason.name))
    }

    func noteFault(_ e: ShadowMMU.FaultEvent) {
        guard e.guestCode == nil else { return }  // delivered: the CPU's delivery event says so
        events.append(TraceEvent(kind: .hiddenFault, errorCode: e.shadowCode, address: e.linear, detail: e.action))
    }
}
