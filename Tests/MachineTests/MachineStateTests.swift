import Testing
import X86Core
import Machine

// Snapshots of the machine's devices: each device is driven into a busy state, the machine is
// saved and restored into a fresh one, and then both are driven identically and must agree on
// every port read, IRQ line, interrupt vector and deadline. Two stronger checks back this up:
// every stored property of every device (found by reflection, so a field added later and not
// saved fails here) is equal after the restore, and saving the restored machine gives the
// same bytes.

// MARK: Reflection

/// Every stored property reachable from `object` that is state rather than wiring: references
/// to other objects, closures and raw pointers are left out (the other objects are compared on
/// their own). The port-ownership map of the bus is wiring too (rebuilt by `init`).
private func stateFingerprint(_ object: AnyObject) -> String {
    describeState(object, top: true) ?? ""
}

private func describeState(_ value: Any, top: Bool = false) -> String? {
    let typeName = String(describing: type(of: value))
    if typeName.contains("->") || typeName.hasPrefix("Unsafe") { return nil }
    // Mirror sees no elements in an InlineArray: the one the devices use is spelled out.
    if let a = value as? InlineArray<8, UInt32> {
        return "[" + (0..<8).map { String(a[$0]) }.joined(separator: ",") + "]"
    }
    if typeName.hasPrefix("InlineArray") {
        Issue.record("stateFingerprint cannot see into \(typeName): add it to describeState")
        return "?"
    }
    let mirror = Mirror(reflecting: value)
    switch mirror.displayStyle {
    case .class? where !top:
        return nil
    case .optional?:
        guard let some = mirror.children.first else { return "nil" }
        return describeState(some.value).map { "some(\($0))" } ?? "some(wiring)"
    case .enum?, nil:
        return String(describing: value)
    case .dictionary?:
        // Hashing order differs between instances: sort.
        return "[" + mirror.children.compactMap { describeState($0.value) }.sorted().joined(separator: ", ") + "]"
    default:
        var parts: [String] = []
        var m: Mirror? = mirror
        while let level = m {
            for child in level.children where child.label != "owner" {
                if let d = describeState(child.value) { parts.append("\(child.label ?? "_")=\(d)") }
            }
            m = level.superclassMirror
        }
        return typeName + "(" + parts.joined(separator: ", ") + ")"
    }
}

/// The stateful objects of a machine (all but the CPU and RAM).
private func stateObjects(_ m: PCMachine) -> [(String, AnyObject)] {
    [("machine", m), ("clock", m.clock), ("lines", m.lines), ("interrupts", m.interrupts),
     ("pic", m.pic), ("pit", m.pit), ("cmos", m.cmos), ("systemControl", m.systemControl),
     ("uart", m.uart), ("lapic", m.lapic), ("ioapic", m.ioapic), ("debugPorts", m.debugPorts),
     ("bus", m.bus)]
}

// MARK: Driving a machine

private let stateTestStart = RTCDateTime(year: 2024, month: 2, day: 28, hour: 23, minute: 59, second: 30)

private func makeStateTestMachine() -> PCMachine { PCMachine(memorySize: 1 << 21, rtcStart: stateTestStart) }

private extension PCMachine {
    func outb(_ port: UInt16, _ value: UInt32) {
        _ = performPortIO(PortAccess(port: port, size: 1, isIn: false, isString: false, isRep: false, value: value))
    }
    func inb(_ port: UInt16) -> UInt32 {
        performPortIO(PortAccess(port: port, size: 1, isIn: true, isString: false, isRep: false, value: 0)) ?? 0xDEAD
    }
    var instructionCount: UInt64 {
        get { cpu.statePointer.pointee.instructions }
        set { cpu.statePointer.pointee.instructions = newValue }
    }
    func advance(ns: UInt64) { instructionCount += ns / VirtualClock.nanosecondsPerInstruction }
    func apicWrite(_ register: UInt32, _ value: UInt32) { lapic.write(offset: register, size: 4, value: value) }
    func apicRead(_ register: UInt32) -> UInt32 { lapic.read(offset: register, size: 4) }
    func ioapicWrite(_ index: UInt32, _ value: UInt32) {
        ioapic.write(offset: 0, size: 4, value: index)
        ioapic.write(offset: 0x10, size: 4, value: value)
    }
    func ioapicRead(_ index: UInt32) -> UInt32 {
        ioapic.write(offset: 0, size: 4, value: index)
        return ioapic.read(offset: 0x10, size: 4)
    }

    var stateBytes: [UInt8] {
        var w = StateWriter()
        saveState(to: &w)
        return w.finish()
    }
}

/// A fresh machine holding `m`'s snapshot. The CPU's part of a snapshot is another module's, so
/// only the two CPU fields the devices read (the instruction count and the TSC offset the clock
/// moves) are copied by hand.
private func restoredCopy(of m: PCMachine) throws -> PCMachine {
    let bytes = m.stateBytes
    let copy = makeStateTestMachine()
    copy.cpu.statePointer.pointee.instructions = m.cpu.statePointer.pointee.instructions
    copy.cpu.statePointer.pointee.tscOffset = m.cpu.statePointer.pointee.tscOffset
    var r = StateReader(bytes)
    try copy.restoreState(from: &r)
    #expect(r.remaining == 0)
    return copy
}

/// One step of a run, as the runners do it, with a look at every device: moves virtual time
/// (to the next deadline, through a HLT, or by a few instructions), ticks what is due, takes and
/// sometimes ends an interrupt, reads the registers of every device. Returns what it saw.
private func driveStep(_ m: PCMachine, _ step: Int) -> [String] {
    // What the port accesses below would change, first.
    var t: [String] = [
        "stop \(String(describing: m.stopRequest)) ports \(m.portAccesses) irqs \(m.interruptsDelivered)",
        "unknown \(m.bus.unknownAccesses.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" })",
        "nmi \(m.cmos.nmiMasked) exit \(String(describing: m.debugPorts.exitStatus)) input \(m.uart.wantsInput)",
        "idle \(m.clock.idleNanoseconds)",
    ]
    switch step % 3 {
    case 0:
        if let d = m.nextDeadline() { m.instructionCount += m.clock.instructions(until: d) }
    case 1:
        t.append("sleep \(String(describing: m.sleep(interruptsEnabled: true)))")
    default:
        m.instructionCount += UInt64(1237 * (step % 7 + 1))
    }
    t.append("now \(m.clock.now) tsc \(m.cpu.timeStampCounter)")
    t.append("timers \(m.runDueTimers()) next \(String(describing: m.nextDeadline()))")
    t.append("deadlines \([m.pit.nextDeadline(), m.cmos.nextDeadline(), m.lapic.nextDeadline()])")
    t.append("lines \((0..<16).map { m.lines.isHigh($0) ? "1" : "0" }.joined())")
    t.append("pending \(m.interrupts.pending)")
    if m.interrupts.pending {
        let fromPIC = m.lapic.acceptsExtINT && m.pic.interruptOutput
        let vector = m.interrupts.acknowledge()
        t.append("INTA \(String(describing: vector)) pic \(fromPIC)")
        if vector != nil { m.noteInterruptDelivered() }
    }
    // Every other step, end what is in service (on both controllers).
    if step % 2 == 0 {
        if m.pic.isr >> 8 != 0 { m.outb(0xA0, 0x20) }
        if m.pic.isr != 0 { m.outb(0x20, 0x20) }
        if (0..<8).contains(where: { m.apicRead(0x100 + UInt32($0) << 4) != 0 }) { m.apicWrite(0xB0, 0) }
    }
    t.append("pic irr \(m.pic.irr) isr \(m.pic.isr) imr \(m.pic.imr) elcr \(m.pic.elcr) out \(m.pic.interruptOutput)")
    // Port reads that change state (polls, latches, FIFO pops, register C) are the same in both.
    var reads: [UInt32] = [m.inb(0x71)]  // the CMOS index as the last step (or the snapshot) left it
    m.outb(0x43, 0x00)  // latch channel 0
    reads += [m.inb(0x40), m.inb(0x40), m.inb(0x61)]
    if step % 4 == 1 { reads += [m.inb(0x41), m.inb(0x42), m.inb(0x42)] }
    if step % 5 == 3 {
        m.outb(0x43, 0xEE)  // read-back: the status of every counter
        reads += [m.inb(0x40), m.inb(0x41), m.inb(0x42)]
    }
    if step % 6 == 5 { m.outb(0x61, UInt32(step / 6 % 2)) }  // channel 2's gate
    for index: UInt32 in [0x0A, 0x00, 0x02, 0x04, 0x07, 0x09, 0x32, 0x0B, 0x40] {
        m.outb(0x70, index)
        reads.append(m.inb(0x71))
    }
    if step % 4 == 3 {
        m.outb(0x70, 0x0C)
        reads.append(m.inb(0x71))
    }
    reads += [m.inb(0x3FA), m.inb(0x3FD), m.inb(0x3FE), m.inb(0x3FC), m.inb(0x3F9), m.inb(0x3FB), m.inb(0x3FF)]
    if step % 3 == 2 {
        let lcr = m.inb(0x3FB)
        m.outb(0x3FB, lcr | 0x80)
        reads += [m.inb(0x3F8), m.inb(0x3F9)]  // the divisor latch
        m.outb(0x3FB, lcr)
    }
    if step % 2 == 1 { reads += [m.inb(0x3F8), m.inb(0x3FA)] }
    reads += [m.inb(0x20), m.inb(0xA0), m.inb(0x21), m.inb(0xA1), m.inb(0x4D0), m.inb(0x4D1)]
    reads += [m.inb(0x64), m.inb(0x92)]
    if step % 5 == 0 { reads.append(m.inb(0x60)) }
    if step % 10 == 7 { m.outb(0x64, 0x20); reads.append(m.inb(0x60)) }  // command byte
    if step % 10 == 9 { m.outb(0x64, 0xD0); reads.append(m.inb(0x60)) }  // output port
    reads += [m.inb(0xE9), m.inb(0x80)]
    t.append("ports \(reads)")
    var apic: [UInt32] = []
    for r: UInt32 in [0x20, 0x80, 0x90, 0xA0, 0xD0, 0xE0, 0xF0, 0x280, 0x300, 0x310, 0x320, 0x330,
                      0x340, 0x350, 0x360, 0x370, 0x380, 0x390, 0x3E0] {
        apic.append(m.apicRead(r))
    }
    for word: UInt32 in 0..<8 {
        apic += [m.apicRead(0x100 + word << 4), m.apicRead(0x180 + word << 4), m.apicRead(0x200 + word << 4)]
    }
    t.append("lapic \(apic)")
    if step % 7 == 3 { m.apicWrite(0x280, 0) }  // ESR takes the errors seen since
    var ioapic: [UInt32] = [m.ioapic.read(offset: 0, size: 4), m.ioapicRead(0), m.ioapicRead(2)]
    for index: UInt32 in 0x10..<0x40 { ioapic.append(m.ioapicRead(index)) }
    t.append("ioapic \(ioapic)")
    // A level line that never fell would starve every lower vector.
    if step % 8 == 4 { m.lines.set(5, high: !m.lines.isHigh(5)) }
    return t
}

/// Saves `a`, restores a fresh machine from it and checks the two are the same machine: every
/// stored property, the bytes saved again, then `steps` identical steps of `driveStep` (and the
/// properties and bytes after them). Also checks that the state matters: a machine that was not
/// restored behaves differently. Then does it all again from where `a` got to (states the
/// scenario does not build directly: output buffers read, latches consumed, IRQs serviced).
private func checkRoundTrip(_ a: PCMachine, steps: Int = 150, sourceLocation: SourceLocation = #_sourceLocation) throws {
    try checkRoundTripOnce(a, steps: steps, sourceLocation: sourceLocation)
    try checkRoundTripOnce(a, steps: steps, sourceLocation: sourceLocation)
}

private func checkRoundTripOnce(_ a: PCMachine, steps: Int, sourceLocation: SourceLocation) throws {
    let b = try restoredCopy(of: a)
    let fresh = makeStateTestMachine()
    fresh.instructionCount = a.instructionCount
    compareMachines(a, b, when: "after the restore", sourceLocation: sourceLocation)
    var diverged = false, freshDiffers = false
    for step in 0..<steps {
        let ta = driveStep(a, step), tb = driveStep(b, step)
        if !freshDiffers { freshDiffers = driveStep(fresh, step) != ta }
        if ta != tb {
            let i = zip(ta, tb).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? 0
            Issue.record("step \(step) differs:\n  original: \(ta[i])\n  restored: \(tb[i])", sourceLocation: sourceLocation)
            diverged = true
            break
        }
    }
    #expect(freshDiffers, "the scenario leaves nothing a fresh machine would not show", sourceLocation: sourceLocation)
    if !diverged { compareMachines(a, b, when: "after \(steps) steps", sourceLocation: sourceLocation) }
}

private func compareMachines(_ a: PCMachine, _ b: PCMachine, when: String, sourceLocation: SourceLocation) {
    for ((name, x), (_, y)) in zip(stateObjects(a), stateObjects(b)) {
        let d = fingerprintDifference(stateFingerprint(x), stateFingerprint(y))
        #expect(d == nil, "\(name) \(when)", sourceLocation: sourceLocation)
    }
    #expect(byteDifference(a.stateBytes, b.stateBytes) == nil, "saved bytes \(when)", sourceLocation: sourceLocation)
}

/// Where two fingerprints part, with some context (nil if equal).
private func fingerprintDifference(_ x: String, _ y: String) -> String? {
    guard x != y else { return nil }
    let a = Array(x), b = Array(y)
    var i = 0
    while i < a.count && i < b.count && a[i] == b[i] { i += 1 }
    let from = max(0, i - 60)
    return "…\(String(a[from..<min(a.count, i + 40)])) ≠ …\(String(b[from..<min(b.count, i + 40)]))"
}

/// The first byte at which two snapshots differ, named by the section it is in (nil if equal).
private func byteDifference(_ x: [UInt8], _ y: [UInt8]) -> String? {
    guard x != y else { return nil }
    var i = 0
    while i < x.count && i < y.count && x[i] == y[i] { i += 1 }
    // The last tag (four capital letters) before the difference.
    var section = "?", at = 0
    var j = min(i, x.count - 4)
    while j >= 0 {
        if x[j..<j + 4].allSatisfy({ (65...90).contains($0) }) { section = String(decoding: x[j..<j + 4], as: UTF8.self); at = j; break }
        j -= 1
    }
    return "lengths \(x.count)/\(y.count), first difference at byte \(i) (section \(section) + \(i - at)): "
        + "\(i < x.count ? String(x[i]) : "end") vs \(i < y.count ? String(y[i]) : "end")"
}

/// One device's section alone: save it, restore it into that device of a fresh machine, and the
/// device must be equal property for property and save the same bytes.
private func checkSection(
    _ a: PCMachine, _ device: (PCMachine) -> AnyObject,
    save: (PCMachine, inout StateWriter) -> Void,
    restore: (PCMachine, inout StateReader) throws(StateError) -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    var w = StateWriter()
    save(a, &w)
    let bytes = w.finish()
    let b = makeStateTestMachine()
    var r = StateReader(bytes)
    try restore(b, &r)
    #expect(r.remaining == 0, sourceLocation: sourceLocation)
    let d = fingerprintDifference(stateFingerprint(device(a)), stateFingerprint(device(b)))
    #expect(d == nil, sourceLocation: sourceLocation)
    var w2 = StateWriter()
    save(b, &w2)
    #expect(byteDifference(w2.finish(), bytes) == nil, sourceLocation: sourceLocation)
}

// MARK: Scenarios

/// Both 8259s reprogrammed (vectors 0x20/0x28), level and edge requests pending and in service,
/// priority rotated, rotate-on-AEOI, read-ISR, special mask mode and a pending poll.
private func programPICs(_ m: PCMachine) {
    for (cmd, data, base, cascade): (UInt16, UInt16, UInt32, UInt32) in [(0x20, 0x21, 0x20, 0x04), (0xA0, 0xA1, 0x28, 0x02)] {
        m.outb(cmd, 0x11); m.outb(data, base); m.outb(data, cascade); m.outb(data, 0x01)
    }
    m.outb(0x21, 0x01)  // IRQ0 masked: the PIT would flood
    m.outb(0xA1, 0x00)
    m.outb(0x4D0, 0x20)  // IRQ5 level
    m.outb(0x4D1, 0x04)  // IRQ10 level
    m.lines.set(3, high: true)
    m.lines.set(5, high: true)
    m.lines.set(10, high: true)
    m.lines.pulse(7)
    _ = m.pic.acknowledge()  // IR2 → slave IRQ10 in service on both chips
    m.outb(0x20, 0xC4)  // set priority: IRQ4 lowest, IRQ5 highest
    _ = m.pic.acknowledge()  // IRQ5
    m.outb(0xA0, 0x80)  // rotate in automatic EOI mode
    m.outb(0x20, 0x0B)  // master reads ISR
    m.outb(0xA0, 0x68)  // slave special mask mode
    m.outb(0xA0, 0x0C)  // slave poll on the next read
}

/// Channel 0 periodic (IRQ0), channel 1 in mode 0 with only its LSB written, channel 2 in mode 0
/// paused by a low gate with a status latched; all mid-count.
private func programPITPausedAndHalfWritten(_ m: PCMachine) {
    m.outb(0x43, 0x34); m.outb(0x40, 0x88); m.outb(0x40, 0x13)  // ch0 mode 2, 5000
    m.advance(ns: 1_234_567)
    m.outb(0x43, 0x71); m.outb(0x41, 0x10)  // ch1 mode 0, BCD, LSB only so far
    m.outb(0x61, 0x01)  // gate 2 high
    m.outb(0x43, 0xB0); m.outb(0x42, 0x30); m.outb(0x42, 0x75)  // ch2 mode 0, 30000
    m.advance(ns: 3_000_017)
    m.outb(0x61, 0x00)  // gate low: ch2 pauses
    m.outb(0x43, 0xE8)  // read-back: status of ch2
    m.advance(ns: 777_777)
}

/// Channel 1 in mode 3 programmed LSB-only, channel 2 in mode 1 triggered by its gate with a
/// latched count half read, channel 0 in mode 4 (one-shot strobe).
private func programPITLatchedAndTriggered(_ m: PCMachine) {
    m.outb(0x43, 0x38); m.outb(0x40, 0x00); m.outb(0x40, 0x40)  // ch0 mode 4, 16384
    m.outb(0x43, 0x56); m.outb(0x41, 0xC7)  // ch1 mode 3, LSB only, 199
    m.outb(0x43, 0xB2); m.outb(0x42, 0x00); m.outb(0x42, 0x20)  // ch2 mode 1, 8192
    m.advance(ns: 500_003)
    m.outb(0x61, 0x01)  // gate rises: ch2 triggers
    m.advance(ns: 400_009)
    m.outb(0x43, 0x80)  // latch ch2
    _ = m.inb(0x42)  // its LSB: the MSB comes next
    m.advance(ns: 123_457)
}

/// The time set while frozen, then running with update, alarm and periodic interrupts; some
/// flags raised and IRQ8 high; a RAM byte; NMI masked with another index selected.
private func programRTC(_ m: PCMachine) {
    m.outb(0x70, 0x0B); m.outb(0x71, 0x82)  // SET, 24-hour BCD
    for (index, value): (UInt32, UInt32) in [(0, 0x55), (2, 0x59), (4, 0x23), (7, 0x31), (8, 0x12), (9, 0x99), (0x32, 0x19)] {
        m.outb(0x70, index); m.outb(0x71, value)
    }
    m.outb(0x70, 0x01); m.outb(0x71, 0x05)  // alarm at second 5 of every minute
    m.outb(0x70, 0x03); m.outb(0x71, 0xC0)
    m.outb(0x70, 0x05); m.outb(0x71, 0xC0)
    m.outb(0x70, 0x0A); m.outb(0x71, 0x2E)  // periodic rate 14: 250 ms
    m.advance(ns: 300_000_000)
    m.outb(0x70, 0x0B); m.outb(0x71, 0x72)  // PIE | AIE | UIE, running again
    m.outb(0x70, 0x40); m.outb(0x71, 0x5A)
    m.advance(ns: 1_300_000_000)
    m.runDueTimers()
    m.outb(0x70, 0x8C)  // NMI masked, register C selected
}

/// The UART with FIFOs (trigger 8), every interrupt enabled, a loopback overrun pending in LSR,
/// modem-status deltas, a full RX FIFO and host bytes waiting behind it, some already taken.
private func programUART(_ m: PCMachine) {
    m.outb(0x3FB, 0x80); m.outb(0x3F8, 0x01); m.outb(0x3F9, 0x02); m.outb(0x3FB, 0x03)
    m.outb(0x3FA, 0x81)
    m.outb(0x3F9, 0x0F)
    m.outb(0x3FF, 0x42)
    m.outb(0x3FC, 0x18)  // loopback, OUT2
    for i: UInt32 in 0..<17 { m.outb(0x3F8, 0x30 + i) }  // the 17th overruns
    m.outb(0x3FC, 0x0B)  // DTR, RTS, OUT2: the modem lines change
    // Host input reaches the receiver from 100 ms of virtual time on (`UART16550.inputStart`).
    m.advance(ns: UART16550.inputStart)
    m.uart.receive(Array(0x61...0x74))
    m.runDueTimers()
    for _ in 0..<3 { _ = m.inb(0x3F8) }
}

/// The local APIC timer periodic (divide 16), TPR class 2, two self-IPIs (one in service),
/// illegal-register errors signalled through an unmasked LVT error entry (one in ESR, one
/// pending), cluster logical ID, other LVT entries and the spurious vector changed.
private func programLAPIC(_ m: PCMachine) {
    m.apicWrite(0x0F0, 0x1EF)  // spurious vector 0xEF
    m.apicWrite(0x330, 0xD0)
    m.apicWrite(0x340, 0x4D1)
    m.apicWrite(0x360, 0x0400)  // LINT1: NMI, unmasked
    m.apicWrite(0x370, 0xE0)  // LVT error vector 0xE0
    m.apicWrite(0x3E0, 0x3)
    m.apicWrite(0x320, 0x2_0040)
    m.apicWrite(0x380, 50_000)
    m.apicWrite(0x080, 0x20)
    m.apicWrite(0x0D0, 0x1200_0000)
    m.apicWrite(0x0E0, 0x0FFF_FFFF)
    m.apicWrite(0x310, 0x0300_0000)
    m.apicWrite(0x300, 0x4_0061)
    _ = m.lapic.acknowledge()
    m.apicWrite(0x300, 0x4_0051)
    _ = m.apicRead(0x3F0)  // illegal register
    m.apicWrite(0x280, 0)  // ESR latches it
    _ = m.apicRead(0x3F0)  // and another, pending
    m.advance(ns: 3_000_000)
}

/// I/O APIC entries: edge, level (asserted: Remote IRR set), masked, active-low level (asserted
/// with the pin low), logical destination; an ID; IOREGSEL left on an entry.
private func programIOAPIC(_ m: PCMachine) {
    m.ioapicWrite(0x00, 0x0500_0000)
    m.ioapicWrite(0x10 + 2 * 1, 0x31)
    m.ioapicWrite(0x10 + 2 * 5, 0x8035)
    m.ioapicWrite(0x10 + 2 * 2, 0x1_0032)
    m.ioapicWrite(0x10 + 2 * 9, 0xA02A)
    m.ioapicWrite(0x10 + 2 * 12 + 1, 0x0100_0000)
    m.ioapicWrite(0x10 + 2 * 12, 0x083C)
    m.apicWrite(0x0D0, 0x0100_0000)  // flat logical ID 1
    m.lines.set(5, high: true)
    m.lines.pulse(1)
    m.lines.pulse(12)
    m.ioapic.write(offset: 0, size: 4, value: 0x1B)
}

/// The 8042 with a command byte changed, a byte in its output buffer and a command waiting for
/// its data byte; port 0x92 written; a debug exit requested.
private func programSystemPorts(_ m: PCMachine) {
    m.outb(0x64, 0xAD)  // disable keyboard
    m.outb(0x64, 0x20)  // read command byte → output buffer
    m.outb(0x64, 0xD1)  // write output port: data byte pending
    m.outb(0x92, 0x06)
    m.outb(0xF4, 0x21)
}

// MARK: Tests

@Suite struct MachineStateTests {
    @Test func pitPausedAndHalfWrittenRoundTrips() throws {
        let m = makeStateTestMachine()
        programPITPausedAndHalfWritten(m)
        try checkSection(m, { $0.pit }, save: { $0.pit.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.pit.restoreState(from: &r) })
        try checkRoundTrip(m)
    }

    @Test func pitLatchedAndTriggeredRoundTrips() throws {
        let m = makeStateTestMachine()
        programPITLatchedAndTriggered(m)
        try checkSection(m, { $0.pit }, save: { $0.pit.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.pit.restoreState(from: &r) })
        try checkRoundTrip(m)
    }

    @Test func picRoundTrips() throws {
        let m = makeStateTestMachine()
        programPICs(m)
        try checkSection(m, { $0.pic }, save: { $0.pic.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.pic.restoreState(from: &r) })
        try checkRoundTrip(m)
    }

    @Test func picInTheMiddleOfInitializationRoundTrips() throws {
        let m = makeStateTestMachine()
        m.lines.pulse(3)
        m.outb(0x20, 0x11)
        m.outb(0x21, 0x40)  // ICW2 written: ICW3 and ICW4 still expected
        let b = try restoredCopy(of: m)
        for x in [m, b] {
            x.outb(0x21, 0x04)
            x.outb(0x21, 0x03)  // ICW4: automatic EOI
            x.outb(0x21, 0x00)
            x.lines.pulse(4)
        }
        #expect(m.pic.acknowledge() == b.pic.acknowledge())
        #expect(m.pic.acknowledge() == b.pic.acknowledge())
        #expect(m.pic.isr == b.pic.isr && m.pic.irr == b.pic.irr)
        try checkRoundTrip(m)
    }

    @Test func rtcRoundTrips() throws {
        let m = makeStateTestMachine()
        programRTC(m)
        try checkSection(m, { $0.cmos }, save: { $0.cmos.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.cmos.restoreState(from: &r) })
        try checkRoundTrip(m, steps: 200)
        // Flags just read: none may come back at once (the events up to now were seen).
        m.outb(0x70, 0x0C)
        _ = m.inb(0x71)
        let b = try restoredCopy(of: m)
        b.outb(0x70, 0x0C)
        m.outb(0x70, 0x0C)
        #expect(b.inb(0x71) == m.inb(0x71))
        #expect(b.cmos.nextDeadline() == m.cmos.nextDeadline())
    }

    @Test func rtcFrozenBySetRoundTrips() throws {
        let m = makeStateTestMachine()
        m.advance(ns: 2_500_000_000)
        m.outb(0x70, 0x0B); m.outb(0x71, 0x86)  // SET, binary
        m.outb(0x70, 0x00); m.outb(0x71, 17)
        m.advance(ns: 3_100_000_000)
        let b = try restoredCopy(of: m)
        for x in [m, b] {
            x.outb(0x70, 0x0B); x.outb(0x71, 0x06)  // resume
            x.advance(ns: 2_000_000_000)
        }
        m.outb(0x70, 0x00); b.outb(0x70, 0x00)
        #expect(m.inb(0x71) == 19)
        #expect(b.inb(0x71) == 19)
        try checkRoundTrip(m)
    }

    @Test func uartRoundTrips() throws {
        let m = makeStateTestMachine()
        programUART(m)
        try checkSection(m, { $0.uart }, save: { $0.uart.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.uart.restoreState(from: &r) })
        let b = try restoredCopy(of: m)
        // Everything still queued comes out of both, in order, with the same status on the way.
        var seenA: [UInt32] = [], seenB: [UInt32] = []
        for _ in 0..<36 {
            seenA += [m.inb(0x3FD), m.inb(0x3FA), m.inb(0x3F8)]
            seenB += [b.inb(0x3FD), b.inb(0x3FA), b.inb(0x3F8)]
        }
        #expect(seenA == seenB)
        #expect(seenA.contains(0x74))
        try checkRoundTrip(m)
    }

    @Test func localAPICRoundTrips() throws {
        let m = makeStateTestMachine()
        programLAPIC(m)
        m.apicWrite(0x020, 0x0700_0000)  // APIC ID 7
        m.apicWrite(0x350, 0x1_8700)  // LINT0 masked: the 8259 no longer reaches the CPU
        try checkSection(m, { $0.lapic }, save: { $0.lapic.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.lapic.restoreState(from: &r) })
        try checkRoundTrip(m)
    }

    @Test func ioAPICRoundTrips() throws {
        let m = makeStateTestMachine()
        programIOAPIC(m)
        #expect(m.ioapic.entry(5) & (1 << 14) != 0, "Remote IRR set before the snapshot")
        try checkSection(m, { $0.ioapic }, save: { $0.ioapic.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.ioapic.restoreState(from: &r) })
        try checkRoundTrip(m)
    }

    @Test func systemControlAndDebugPortsRoundTrip() throws {
        let m = makeStateTestMachine()
        programSystemPorts(m)
        try checkSection(m, { $0.systemControl }, save: { $0.systemControl.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.systemControl.restoreState(from: &r) })
        try checkSection(m, { $0.keyboard }, save: { $0.keyboard.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.keyboard.restoreState(from: &r) })
        try checkSection(m, { $0.debugPorts }, save: { $0.debugPorts.saveState(to: &$1) }, restore: { m, r throws(StateError) in try m.debugPorts.restoreState(from: &r) })
        let b = try restoredCopy(of: m)
        var resets = 0
        b.keyboard.onReset = { resets += 1 }  // the 8042 (0x60/0x64) is its own device
        b.outb(0x60, 0x00)  // the pending 0xD1's data byte: bit 0 clear pulses reset
        #expect(resets == 1)
        #expect(b.debugPorts.exitStatus == 0x43)
        try checkRoundTrip(m)
        m.outb(0x64, 0xD1)
        m.outb(0x60, 0xDF)  // output port (reset line high): the status says "data" last
        try checkRoundTrip(m)
    }

    @Test func wholeMachineRoundTrips() throws {
        let m = makeStateTestMachine()
        programPICs(m)
        programPITLatchedAndTriggered(m)
        programRTC(m)
        programUART(m)
        programLAPIC(m)
        programIOAPIC(m)
        programSystemPorts(m)
        _ = m.inb(0x80); _ = m.inb(0x80); m.outb(0x3F0, 1)  // unowned ports
        m.noteInterruptDelivered()
        for _ in 0..<5 { _ = m.sleep(interruptsEnabled: true) }  // idle time, fruitless wakeups
        #expect(m.clock.idleNanoseconds > 0)
        try checkRoundTrip(m, steps: 300)
    }

    /// A CPU asleep with every interrupt masked is declared idle forever after the same number of
    /// timer events whether or not it was snapshotted on the way.
    @Test func fruitlessWakeupsCarryOver() throws {
        let m = makeStateTestMachine()
        m.outb(0x21, 0xFF)
        func sleepsUntilIdle(_ x: PCMachine) -> Int {
            var n = 0
            while x.sleep(interruptsEnabled: true) == nil { x.runDueTimers(); n += 1 }
            return n
        }
        for _ in 0..<60_000 { _ = m.sleep(interruptsEnabled: true); m.runDueTimers() }
        let b = try restoredCopy(of: m)
        let n = sleepsUntilIdle(m)
        #expect(n == PCMachine.fruitlessWakeupLimit - 60_000)
        #expect(sleepsUntilIdle(b) == n)
        #expect(b.clock.now == m.clock.now)
    }

    @Test func savingTheRestoredMachineGivesTheSameBytes() throws {
        let m = makeStateTestMachine()
        programPICs(m)
        programPITPausedAndHalfWritten(m)
        programRTC(m)
        programUART(m)
        programLAPIC(m)
        programIOAPIC(m)
        programSystemPorts(m)
        let bytes = m.stateBytes
        let b = try restoredCopy(of: m)
        #expect(byteDifference(b.stateBytes, bytes) == nil)
        #expect(byteDifference(try restoredCopy(of: b).stateBytes, bytes) == nil)
        #expect(m.stateBytes == bytes, "saving changes nothing")
    }

    @Test(arguments: [
        nil, StopReason.debugExit(0x43), .haltedWithInterruptsOff, .idleForever, .tripleFault,
        .instructionLimit, .timeout, .notImplemented(eip: 0xC010_2030, what: "fsin"),
        .resetRequested, .unknownPort(port: 0x3F0, isIn: true), .breakpoint, .powerOff,
    ])
    func everyStopRequestRoundTrips(_ reason: StopReason?) throws {
        let m = makeStateTestMachine()
        m.stopRequest = reason
        let b = try restoredCopy(of: m)
        #expect(b.stopRequest == reason)
        #expect(byteDifference(b.stateBytes, m.stateBytes) == nil)
    }

    /// A snapshot cut at any length fails with "truncated", and the machine it was being
    /// restored into is left exactly as it was.
    @Test func truncatedSnapshotsThrowAndChangeNothing() {
        let m = makeStateTestMachine()
        programPICs(m)
        programPITPausedAndHalfWritten(m)
        programRTC(m)
        programUART(m)
        programLAPIC(m)
        programIOAPIC(m)
        programSystemPorts(m)
        _ = m.inb(0x80)
        let bytes = m.stateBytes
        let target = makeStateTestMachine()
        let before = stateObjects(target).map { stateFingerprint($0.1) }
        for n in 0..<bytes.count {
            var r = StateReader(Array(bytes[0..<n]))
            do {
                try target.restoreState(from: &r)
                Issue.record("a snapshot cut at \(n) of \(bytes.count) bytes was accepted")
            } catch {
                #expect(error.description.contains("truncated"), "cut at \(n): \(error)")
            }
        }
        #expect(stateObjects(target).map { stateFingerprint($0.1) } == before)
    }

    /// Random byte changes either throw or give a machine that saves exactly those bytes again
    /// (every accepted stream is canonical); nothing traps.
    @Test func corruptedSnapshotsThrowOrRoundTripExactly() throws {
        let m = makeStateTestMachine()
        programPICs(m)
        programPITLatchedAndTriggered(m)
        programRTC(m)
        programUART(m)
        programLAPIC(m)
        programIOAPIC(m)
        programSystemPorts(m)
        m.stopRequest = .notImplemented(eip: 0x1234, what: "x87")
        let bytes = m.stateBytes
        var rng = SplitMix64(seed: 0x5EED_0001)
        var rejected = 0, accepted = 0
        let target = makeStateTestMachine()
        for trial in 0..<3000 {
            var corrupt = bytes
            for _ in 0...(trial % 3) {
                let i = Int(rng.next() % UInt64(corrupt.count))
                corrupt[i] = trial % 4 == 0 ? corrupt[i] ^ (1 << UInt8(rng.next() % 8)) : UInt8(truncatingIfNeeded: rng.next())
            }
            var r = StateReader(corrupt)
            do {
                try target.restoreState(from: &r)
                accepted += 1
                #expect(byteDifference(target.stateBytes, Array(corrupt[0..<r.offset])) == nil, "trial \(trial)")
            } catch {
                rejected += 1
                #expect(error.description.hasPrefix("snapshot"), "\(error)")
            }
        }
        #expect(rejected > 500 && accepted > 500, "rejected \(rejected), accepted \(accepted)")
    }

    /// Values no device can hold are refused with the field's name.
    @Test func impossibleFieldValuesAreRefusedByName() throws {
        let m = makeStateTestMachine()
        var w = StateWriter()
        m.pit.saveState(to: &w)
        let pit = w.finish()
        // "PITS", then channel 0: access (4), mode (5), BCD (6), count (7–10).
        func refused(_ bytes: [UInt8], _ restore: (inout StateReader) throws(StateError) -> Void) -> String {
            var r = StateReader(bytes)
            do throws(StateError) {
                try restore(&r)
                return "accepted"
            } catch {
                return error.description
            }
        }
        var bad = pit
        bad[7...10] = [0, 0, 0, 0]
        #expect(refused(bad) { (r: inout StateReader) throws(StateError) in try m.pit.restoreState(from: &r) }.contains("PIT channel 0 count = 0"))
        bad = pit
        bad[5] = 7
        #expect(refused(bad) { (r: inout StateReader) throws(StateError) in try m.pit.restoreState(from: &r) }.contains("PIT channel 0 mode = 7"))
        bad = pit
        bad[4] = 0
        #expect(refused(bad) { (r: inout StateReader) throws(StateError) in try m.pit.restoreState(from: &r) }.contains("access mode = 0"))
        bad = pit
        bad[0] = UInt8(ascii: "X")
        #expect(refused(bad) { (r: inout StateReader) throws(StateError) in try m.pit.restoreState(from: &r) }.contains("expected section 'PITS'"))

        var machine = m.stateBytes
        machine[4] = 42  // the stop-request tag
        #expect(refused(machine) { (r: inout StateReader) throws(StateError) in try m.restoreState(from: &r) }.contains("stop reason 42"))
        machine = m.stateBytes
        machine[4 + 1 + 16] = 0xFF  // fruitless wakeups far over the limit
        machine[4 + 1 + 16 + 3] = 0xFF
        #expect(refused(machine) { (r: inout StateReader) throws(StateError) in try m.restoreState(from: &r) }.contains("fruitless wakeups"))
    }
}

/// A small deterministic generator (SplitMix64) so the corruption test is the same every run.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
