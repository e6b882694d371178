/// One 8259A programmable interrupt controller (Intel 8259A datasheet, order 231468).
///
/// Only the 8086 mode of ICW4 is modelled (an x86 guest has no use for the MCS-80/85 mode), and
/// the buffered and special-fully-nested bits of ICW4 are stored but have no effect. ICW1's LTIM
/// bit is ignored: on a PIIX-style board the ELCR decides edge or level per line.
package struct PIC8259Chip {
    /// Interrupt request register: requests waiting for an INTA cycle.
    package var irr: UInt8 = 0
    /// In-service register: requests acknowledged and not yet ended by an EOI.
    var isr: UInt8 = 0
    /// Interrupt mask register (OCW1); a set bit masks that input.
    var imr: UInt8 = 0xFF
    /// Edge/level control (ELCR); a set bit makes that input level-triggered.
    var elcr: UInt8 = 0
    /// ELCR bits the board lets software set (IRQ0/1/2 on the master, IRQ8/13 on the slave are
    /// always edge).
    let elcrWritable: UInt8
    /// Current level of each input pin.
    var lines: UInt8 = 0
    /// ICW2 & 0xF8: the vector of input 0.
    var vectorBase: UInt8 = 0
    /// ICW3 as written (the master's slave mask, or the slave's ID).
    var icw3: UInt8 = 0
    /// Which initialization word the data port expects next: 0 = none (OCW1), 2, 3 or 4.
    var initStep = 0
    var needICW4 = false
    var singleMode = false
    var autoEOI = false
    var specialFullyNested = false
    /// OCW2 "rotate in automatic EOI mode".
    var rotateOnAutoEOI = false
    /// The input with the highest priority; fixed priority is 0 (IRQ0 highest, IR7 lowest).
    var highestPriority: UInt8 = 0
    /// OCW3 RIS: the command port reads ISR (true) or IRR (false).
    var readISR = false
    /// OCW3 P: the next read of either port is a poll.
    var pollPending = false
    /// OCW3 SMM: in-service inputs that are masked do not block lower priorities.
    var specialMask = false

    init(elcrWritable: UInt8) { self.elcrWritable = elcrWritable }

    /// The input with the highest priority among `bits`, or nil.
    func highest(_ bits: UInt8) -> UInt8? {
        guard bits != 0 else { return nil }
        for i: UInt8 in 0..<8 {
            let irq = (i &+ highestPriority) & 7
            if bits & (1 << irq) != 0 { return irq }
        }
        return nil
    }

    /// Priority rank of `irq`: 0 is served first.
    func rank(_ irq: UInt8) -> UInt8 { (irq &- highestPriority) & 7 }

    /// The request that would be delivered now: the highest unmasked IRR bit whose priority is
    /// above every in-service input (masked in-service inputs are ignored in special mask mode).
    var pending: UInt8? {
        guard let irq = highest(irr & ~imr) else { return nil }
        let blocking = specialMask ? isr & ~imr : isr
        if let busy = highest(blocking), rank(busy) <= rank(irq) { return nil }
        return irq
    }

    /// An input pin changed level. Edge inputs latch IRR on the rising edge and keep it until
    /// INTA; a falling edge does not withdraw it (InterruptLines.pulse drops the line at once).
    /// Level inputs have IRR follow the pin.
    mutating func setLine(_ irq: UInt8, _ level: Bool) {
        let bit: UInt8 = 1 << irq
        let was = lines & bit != 0
        if level { lines |= bit } else { lines &= ~bit }
        if elcr & bit != 0 {
            if level { irr |= bit } else { irr &= ~bit }
        } else if level && !was {
            irr |= bit
        }
    }

    /// The INTA (or poll) cycle for `irq`: edge requests leave IRR, ISR is set unless auto-EOI.
    mutating func accept(_ irq: UInt8) {
        let bit: UInt8 = 1 << irq
        if elcr & bit == 0 { irr &= ~bit }
        if autoEOI {
            if rotateOnAutoEOI { highestPriority = (irq &+ 1) & 7 }
        } else {
            isr |= bit
        }
    }

    mutating func writeCommand(_ value: UInt8) {
        if value & 0x10 != 0 {
            // ICW1. The edge-sense latches reset: only level inputs keep their requests.
            irr &= elcr & lines
            isr = 0
            imr = 0
            highestPriority = 0
            readISR = false
            pollPending = false
            specialMask = false
            rotateOnAutoEOI = false
            autoEOI = false
            specialFullyNested = false
            needICW4 = value & 0x01 != 0
            singleMode = value & 0x02 != 0
            initStep = 2
        } else if value & 0x08 != 0 {
            // OCW3.
            if value & 0x04 != 0 { pollPending = true }
            if value & 0x02 != 0 { readISR = value & 0x01 != 0 }
            if value & 0x40 != 0 { specialMask = value & 0x20 != 0 }
        } else {
            // OCW2: R SL EOI in bits 7–5, the level in bits 2–0.
            let level = value & 7
            switch value >> 5 {
            case 0b000: rotateOnAutoEOI = false
            case 0b100: rotateOnAutoEOI = true
            case 0b001, 0b101:  // non-specific EOI, rotate on non-specific EOI
                if let irq = highest(isr) {
                    isr &= ~(1 << irq)
                    if value >> 5 == 0b101 { highestPriority = (irq &+ 1) & 7 }
                }
            case 0b011: isr &= ~(1 << level)  // specific EOI
            case 0b111:  // rotate on specific EOI
                isr &= ~(1 << level)
                highestPriority = (level &+ 1) & 7
            case 0b110: highestPriority = (level &+ 1) & 7  // set priority: `level` lowest
            default: break  // 0b010: no operation
            }
        }
    }

    mutating func writeData(_ value: UInt8) {
        switch initStep {
        case 2:
            vectorBase = value & 0xF8
            initStep = singleMode ? (needICW4 ? 4 : 0) : 3
        case 3:
            icw3 = value
            initStep = needICW4 ? 4 : 0
        case 4:
            autoEOI = value & 0x02 != 0
            specialFullyNested = value & 0x10 != 0
            initStep = 0
        default:
            imr = value
        }
    }
}

/// The master/slave 8259A pair of a PC: master at 0x20–0x21, slave at 0xA0–0xA1, the slave's INT
/// on the master's IR2, and the PIIX edge/level control registers (ELCR) at 0x4D0–0x4D1.
///
/// Power-on state is what SeaBIOS leaves on QEMU's PC, since a Multiboot guest started by QEMU
/// (`-kernel`) sees the PIC after the BIOS ran (SeaBIOS `pic_reset`, `enable_hwirq`):
/// - ICW1 0x11, ICW2 0x08 (master) / 0x70 (slave), ICW3 0x04 / 0x02, ICW4 0x01 (8086, normal EOI);
/// - IMR 0xFFFB (`PIC_IRQMASK_DEFAULT`), then unmasked by the BIOS's own handlers: IRQ0 timer,
///   IRQ1 keyboard, IRQ6 floppy, IRQ8 RTC, IRQ12 mouse, IRQ13 FPU, IRQ14 disk → master 0xB8,
///   slave 0x8E (what `info pic` shows on QEMU after boot);
/// - ELCR 0: x86v has no PCI devices, so no ISA line is level-triggered until the guest says so.
/// A guest that enables interrupts without programming the PIC therefore gets IRQ0 as vector 8,
/// exactly as on QEMU.
public final class DualPIC: PortDevice {
    package var master = PIC8259Chip(elcrWritable: 0xF8)
    var slave = PIC8259Chip(elcrWritable: 0xDE)

    /// The ports this device answers.
    public static let portRanges: [ClosedRange<UInt16>] = [0x20...0x21, 0xA0...0xA1, 0x4D0...0x4D1]

    public init() {
        master.vectorBase = 0x08
        master.icw3 = 0x04
        master.imr = 0xB8
        slave.vectorBase = 0x70
        slave.icw3 = 0x02
        slave.imr = 0x8E
    }

    /// Input line `irq` (0–15) changed level.
    public func setIRQ(_ irq: Int, level: Bool) {
        guard irq >= 0 && irq < 16 else { return }
        if irq < 8 {
            master.setLine(UInt8(irq), level)
        } else {
            slave.setLine(UInt8(irq - 8), level)
            updateCascade()
        }
    }

    /// The slave's INT output drives the master's IR2. It is held until INTA, so the master
    /// sees it as a level: IRR2 drops again when the slave's request goes away (masked, or a
    /// level line fell) instead of turning into a spurious slave IRQ15, as on QEMU.
    private func updateCascade() {
        if slave.pending != nil {
            master.lines |= 0x04
            master.irr |= 0x04
        } else {
            master.lines &= ~0x04
            master.irr &= ~0x04
        }
    }

    /// The master's INT output (an unmasked request with priority over everything in service).
    public var interruptOutput: Bool {
        // Polled before every VM entry: the common case (no unmasked request) must not copy the
        // master's state or rank priorities.
        master.irr & ~master.imr != 0 && master.pending != nil
    }

    /// INTA cycle: the vector the CPU receives (spurious IRQ7/IRQ15 vector if the request went away).
    ///
    /// A spurious master request returns base+7 and sets no ISR bit. If the master grants IR2
    /// but the slave has nothing left, the slave answers its own base+7 and the master's ISR
    /// bit 2 stays set (the guest must EOI the master), as the real cascade does. (With the
    /// cascade followed as a level this needs the slave to change between the two, which the
    /// single-threaded machine never does; the path is kept for fidelity.)
    public func acknowledge() -> UInt8 {
        guard let irq = master.pending else { return master.vectorBase | 7 }
        master.accept(irq)
        var vector = master.vectorBase | irq
        if irq == 2 && !master.singleMode {
            if let s = slave.pending {
                slave.accept(s)
                vector = slave.vectorBase | s
            } else {
                vector = slave.vectorBase | 7
            }
        }
        updateCascade()
        return vector
    }

    /// Both chips' registers, IRQ n at bit n (for debuggers and tests).
    public var irr: UInt16 { UInt16(master.irr) | UInt16(slave.irr) << 8 }
    public var isr: UInt16 { UInt16(master.isr) | UInt16(slave.isr) << 8 }
    public var imr: UInt16 { UInt16(master.imr) | UInt16(slave.imr) << 8 }
    public var elcr: UInt16 { UInt16(master.elcr) | UInt16(slave.elcr) << 8 }

    /// OCW3 poll: acknowledges the highest request as an INTA would and returns 0x80 | level,
    /// or 0 if nothing is pending.
    private func poll(slaveChip: Bool) -> UInt8 {
        if slaveChip {
            slave.pollPending = false
            guard let irq = slave.pending else { return 0 }
            slave.accept(irq)
            updateCascade()
            return 0x80 | irq
        }
        master.pollPending = false
        guard let irq = master.pending else { return 0 }
        master.accept(irq)
        return 0x80 | irq
    }

    public func read(port: UInt16, size: Int) -> UInt32 {
        switch port {
        case 0x20, 0xA0:
            let isSlave = port == 0xA0
            let chip = isSlave ? slave : master
            if chip.pollPending { return UInt32(poll(slaveChip: isSlave)) }
            return UInt32(chip.readISR ? chip.isr : chip.irr)
        case 0x21, 0xA1:
            let isSlave = port == 0xA1
            let chip = isSlave ? slave : master
            if chip.pollPending { return UInt32(poll(slaveChip: isSlave)) }
            return UInt32(chip.imr)
        case 0x4D0: return UInt32(master.elcr)
        case 0x4D1: return UInt32(slave.elcr)
        default: return 0xFF
        }
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        let v = UInt8(truncatingIfNeeded: value)
        switch port {
        case 0x20: master.writeCommand(v)
        case 0x21: master.writeData(v)
        case 0xA0: slave.writeCommand(v)
        case 0xA1: slave.writeData(v)
        case 0x4D0: writeELCR(&master, v)
        case 0x4D1: writeELCR(&slave, v)
        default: return
        }
        updateCascade()
    }

    private func writeELCR(_ chip: inout PIC8259Chip, _ value: UInt8) {
        chip.elcr = value & chip.elcrWritable
        // Level inputs: IRR now mirrors the pin.
        chip.irr = (chip.irr & ~chip.elcr) | (chip.lines & chip.elcr)
    }
}
