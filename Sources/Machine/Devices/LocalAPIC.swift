import X86Core

/// 256 interrupt vectors as a bitmap, laid out as the APIC's ISR/TMR/IRR register files:
/// word n (at register offset base + 0x10·n) holds vectors 32n…32n+31, bit i = vector 32n+i.
struct VectorBitmap {
    var words: InlineArray<8, UInt32> = .init(repeating: 0)

    func contains(_ v: UInt8) -> Bool { words[Int(v >> 5)] & (1 << UInt32(v & 31)) != 0 }
    mutating func insert(_ v: UInt8) { words[Int(v >> 5)] |= 1 << UInt32(v & 31) }
    mutating func remove(_ v: UInt8) { words[Int(v >> 5)] &= ~(1 << UInt32(v & 31)) }

    /// No vector present (one pass over the words, no branch per word).
    var isEmpty: Bool {
        (words[0] | words[1] | words[2] | words[3] | words[4] | words[5] | words[6] | words[7]) == 0
    }

    /// The highest vector present, or nil.
    var highest: UInt8? {
        for i in stride(from: 7, through: 0, by: -1) where words[i] != 0 {
            return UInt8(i * 32 + 31 - words[i].leadingZeroBitCount)
        }
        return nil
    }
}

/// The local APIC of our one CPU, an xAPIC at 0xFEE00000 (Intel SDM Vol. 3A ch. 10).
///
/// Registers sit on 16-byte boundaries and are meant for aligned 32-bit accesses. A narrower or
/// unaligned read returns the bytes of the dword that contains it (the 12 bytes after each
/// register read 0); any write that is not a 32-bit write to a register's offset 0 is ignored
/// (the SDM leaves both undefined).
///
/// State after `init` is what SeaBIOS leaves under QEMU, because guests here start after the
/// firmware would have run (SeaBIOS `smp_setup`): SVR = 0x1FF (software enabled, spurious
/// vector 0xFF), LVT LINT0 = 0x8700 (ExtINT, level: the 8259's INTR passes as virtual wire),
/// LVT LINT1 = 0x8400 (NMI), every other LVT masked. `powerOnReset()` gives the SDM §10.4.7.1
/// hardware-reset state instead.
///
/// The timer counts bus clocks at 100 MHz: one tick is 10 ns, one instruction of virtual time.
/// Fixed interrupts and NMIs reach the CPU: an NMI comes from the ICR (delivery mode NMI to
/// ourselves), from LINT1 (the chipset's NMI line, `assertLINT1`) when its LVT entry says NMI,
/// or from an I/O APIC entry with delivery mode NMI, and is latched in `nmiPending` until the
/// CPU takes it (edge-triggered, one latch: NMIs arriving while one waits merge, as on the
/// pin). SMI/INIT/SIPI IPIs go nowhere (there is no other CPU and no SMM).
public final class LocalAPIC: MMIORegion, ClockedDevice {
    /// EOI of a vector whose TMR bit was set (level-triggered): the EOI message the I/O APIC
    /// sees (it clears Remote IRR). `IOAPIC.init(lapic:)` installs this.
    public var onEOI: (UInt8) -> Void = { _ in }

    let clock: VirtualClock

    /// Version register: version 0x14 (xAPIC), max LVT entry 5 (timer, thermal, performance,
    /// LINT0, LINT1, error), no EOI-broadcast suppression — SDM §10.4.8.
    public static let versionRegister: UInt32 = 0x0005_0014
    /// Nanoseconds per bus-clock tick (100 MHz).
    public static let busTickNanoseconds: UInt64 = 10

    // ESR bits — SDM §10.5.3, Figure 10-9.
    static let errorSendIllegalVector: UInt32 = 1 << 5
    static let errorReceiveIllegalVector: UInt32 = 1 << 6
    static let errorIllegalRegister: UInt32 = 1 << 7

    // LVT fields — SDM §10.5.1, Figure 10-8.
    static let lvtMask: UInt32 = 1 << 16
    static let lvtTimerPeriodic: UInt32 = 1 << 17

    var idRegister: UInt32 = 0
    var tpr: UInt32 = 0
    var ldr: UInt32 = 0
    var dfr: UInt32 = 0xFFFF_FFFF
    var svr: UInt32 = 0xFF
    var irr = VectorBitmap()
    var isr = VectorBitmap()
    var tmr = VectorBitmap()
    /// The ESR as last loaded by a write, and the errors seen since.
    var esr: UInt32 = 0
    var pendingErrors: UInt32 = 0
    var icrLow: UInt32 = 0
    var icrHigh: UInt32 = 0
    var lvtTimer: UInt32 = lvtMask
    var lvtThermal: UInt32 = lvtMask
    var lvtPerformance: UInt32 = lvtMask
    var lvtLINT0: UInt32 = lvtMask
    var lvtLINT1: UInt32 = lvtMask
    var lvtError: UInt32 = lvtMask
    /// An NMI is waiting for the CPU (`InterruptController.nmiPending`).
    public internal(set) var nmiPending = false
    /// NMIs this APIC passed to the CPU's NMI input (`--stats`).
    public internal(set) var nmisSignalled: UInt64 = 0

    // Timer: the counter held `timerAnchorCount` at time `timerAnchor` and has counted down one
    // per `timerTickNanoseconds` since; 0 = stopped (one-shot expired or initial count 0).
    var timerInitial: UInt32 = 0
    var timerDivide: UInt32 = 0
    var timerAnchor: UInt64 = 0
    var timerAnchorCount: UInt32 = 0

    public init(clock: VirtualClock, base: UInt32 = 0xFEE0_0000) {
        self.clock = clock
        super.init(base: base, size: 0x1000)
        powerOnReset()
        svr = 0x1FF
        lvtLINT0 = 0x8700
        lvtLINT1 = 0x8400
    }

    /// The state after power-up or RESET — SDM §10.4.7.1: IRR/ISR/TMR/ICR/LDR/TPR, the timer
    /// and divide registers 0, DFR all ones, every LVT masked, SVR 0xFF (software disabled).
    public func powerOnReset() {
        tpr = 0; ldr = 0; dfr = 0xFFFF_FFFF; svr = 0xFF
        irr = VectorBitmap(); isr = VectorBitmap(); tmr = VectorBitmap()
        esr = 0; pendingErrors = 0; icrLow = 0; icrHigh = 0
        lvtTimer = Self.lvtMask; lvtThermal = Self.lvtMask; lvtPerformance = Self.lvtMask
        lvtLINT0 = Self.lvtMask; lvtLINT1 = Self.lvtMask; lvtError = Self.lvtMask
        timerInitial = 0; timerDivide = 0; timerAnchor = 0; timerAnchorCount = 0
    }

    override public func read(offset: UInt32, size: Int) -> UInt32 {
        let dword = offset & 0xF < 4 ? readRegister(offset & 0xFF0) : 0
        let shifted = dword >> (8 * (offset & 3))
        return size >= 4 ? shifted : shifted & ((1 << (8 * UInt32(size))) - 1)
    }

    override public func write(offset: UInt32, size: Int, value: UInt32) {
        guard size == 4 && offset & 0xF == 0 else { return }
        writeRegister(offset & 0xFF0, value)
    }

    /// APIC ID (ID register bits 24–31).
    public var id: UInt8 { UInt8(truncatingIfNeeded: idRegister >> 24) }
    /// SVR bit 8, APIC software enable — SDM §10.9.
    public var isSoftwareEnabled: Bool { svr & 0x100 != 0 }
    /// SVR bits 0–7: the vector an INTA receives when the request went away — SDM §10.9.
    public var spuriousVector: UInt8 { UInt8(truncatingIfNeeded: svr) }

    // MARK: Interrupt acceptance and priority (SDM §10.8)

    /// A fixed interrupt message from the I/O APIC or an IPI. Dropped while the APIC is software
    /// disabled (it then answers only INIT, NMI, SMI and SIPI — SDM §10.4.7.2). Vectors 0–15 are
    /// illegal: ESR bit 6, and the message is dropped — SDM §10.5.2.
    public func accept(vector: UInt8, levelTriggered: Bool) {
        guard isSoftwareEnabled else { return }
        setRequest(vector: vector, levelTriggered: levelTriggered)
    }

    func setRequest(vector: UInt8, levelTriggered: Bool) {
        guard vector >= 16 else {
            signalError(Self.errorReceiveIllegalVector)
            return
        }
        irr.insert(vector)
        if levelTriggered { tmr.insert(vector) } else { tmr.remove(vector) }
    }

    /// Physical: our ID or the broadcast 0xFF. Logical: flat model (DFR 0xF…) matches when
    /// LDR bits 24–31 AND `destination` is non-zero; cluster model (DFR 0x0…) when the cluster
    /// nibble matches (or is 0xF) and the member bits intersect — SDM §10.6.2.
    public func matchesDestination(_ destination: UInt8, logical: Bool) -> Bool {
        guard logical else { return destination == id || destination == 0xFF }
        let logicalID = UInt8(truncatingIfNeeded: ldr >> 24)
        if dfr >> 28 == 0xF { return logicalID & destination != 0 }
        let cluster = destination >> 4
        return (cluster == 0xF || cluster == logicalID >> 4) && destination & logicalID & 0xF != 0
    }

    /// PPR — SDM §10.8.3.1: TPR if its class is at least the highest in-service class, else the
    /// in-service class.
    var processorPriority: UInt32 {
        let isrv = UInt32(isr.highest ?? 0)
        return tpr >> 4 >= isrv >> 4 ? tpr & 0xFF : isrv & 0xF0
    }

    /// APR — SDM §10.8.3 (P6/Pentium 4 arbitration priority).
    var arbitrationPriority: UInt32 {
        let isrv = UInt32(isr.highest ?? 0), irrv = UInt32(irr.highest ?? 0)
        if tpr >> 4 >= irrv >> 4 && tpr >> 4 > isrv >> 4 { return tpr & 0xFF }
        return max(tpr >> 4, isrv >> 4, irrv >> 4) << 4
    }

    /// An IRR vector whose priority class is above the processor priority class.
    public var hasDeliverable: Bool {
        // Polled before every VM entry; almost always nothing is requested.
        if irr.isEmpty { return false }
        guard let v = irr.highest else { return false }
        return UInt32(v >> 4) > processorPriority >> 4
    }

    /// INTA: the highest deliverable vector moves from IRR to ISR. Nil if nothing is deliverable
    /// (the caller then delivers the spurious vector — SDM §10.9).
    public func acknowledge() -> UInt8? {
        guard hasDeliverable, let v = irr.highest else { return nil }
        irr.remove(v)
        isr.insert(v)
        return v
    }

    /// Whether LINT0 passes the 8259's INTR: virtual-wire ExtINT (LINT0 unmasked, delivery mode
    /// 111), or the APIC software-disabled (treated like QEMU's hardware-disabled APIC, so a guest
    /// that never touches the APIC keeps its 8259).
    public var acceptsExtINT: Bool {
        !isSoftwareEnabled || (lvtLINT0 & Self.lvtMask == 0 && (lvtLINT0 >> 8) & 7 == 7)
    }

    func endOfInterrupt() {
        guard let v = isr.highest else { return }
        isr.remove(v)
        if tmr.contains(v) { onEOI(v) }
    }

    /// Records an error for the next ESR write and raises the LVT error interrupt once per new
    /// error bit (so an illegal error vector cannot recurse) — SDM §10.5.3.
    func signalError(_ bit: UInt32) {
        let new = pendingErrors & bit == 0
        pendingErrors |= bit
        if new && lvtError & Self.lvtMask == 0 {
            setRequest(vector: UInt8(truncatingIfNeeded: lvtError), levelTriggered: false)
        }
    }

    /// ICR write — SDM §10.6.1. Fixed (and lowest-priority, without the self shorthand) IPIs
    /// that reach this APIC land in our IRR; nothing else has a receiver.
    func sendIPI() {
        let vector = UInt8(truncatingIfNeeded: icrLow)
        let mode = (icrLow >> 8) & 7
        let shorthand = (icrLow >> 18) & 3
        let toSelf: Bool
        switch shorthand {
        case 0: toSelf = matchesDestination(UInt8(truncatingIfNeeded: icrHigh >> 24), logical: icrLow & 0x800 != 0)
        case 1, 2: toSelf = true
        default: toSelf = false
        }
        if mode == 4 {
            // NMI: the vector field is ignored (SDM §10.6.1, delivery mode 100).
            if toSelf { signalNMI() }
            return
        }
        guard mode == 0 || (mode == 1 && shorthand != 1) else { return }
        if vector < 16 { signalError(Self.errorSendIllegalVector) }
        if toSelf { accept(vector: vector, levelTriggered: false) }
    }

    /// The CPU's NMI input sees an edge.
    public func signalNMI() {
        nmiPending = true
        nmisSignalled &+= 1
        onNMI()
    }

    /// Told of every NMI edge (the VMM: an NMI raised while the guest blocks NMIs waits for an
    /// NMI-window exit). Wiring, not state.
    public var onNMI: () -> Void = {}

    /// The CPU took the NMI (`InterruptController.acknowledgeNMI`).
    public func nmiTaken() { nmiPending = false }

    /// The LINT1 pin saw a rising edge (on a PC: the chipset's NMI, after the NMI mask in port
    /// 0x70). What happens follows the LVT LINT1 entry (SDM §10.5.1): masked — nothing; NMI — an
    /// NMI; fixed — its vector. SMI, INIT and ExtINT on LINT1 have no receiver here. With the
    /// APIC software-disabled, LINT1 is the CPU's NMI pin, as `acceptsExtINT` makes LINT0 its
    /// INTR pin (QEMU's disabled APIC): a guest that never touched its APIC still gets NMIs.
    public func assertLINT1() {
        guard isSoftwareEnabled else {
            signalNMI()
            return
        }
        guard lvtLINT1 & Self.lvtMask == 0 else { return }
        switch (lvtLINT1 >> 8) & 7 {
        case 4: signalNMI()
        case 0: accept(vector: UInt8(truncatingIfNeeded: lvtLINT1), levelTriggered: false)
        default: break
        }
    }
}

// MARK: Registers (SDM §10.4.1, Table 10-1)

extension LocalAPIC {
    func readRegister(_ register: UInt32) -> UInt32 {
        switch register {
        case 0x020: return idRegister
        case 0x030: return Self.versionRegister
        case 0x080: return tpr
        case 0x090: return arbitrationPriority
        case 0x0A0: return processorPriority
        case 0x0B0: return 0  // EOI is write-only
        case 0x0D0: return ldr
        case 0x0E0: return dfr
        case 0x0F0: return svr
        case 0x100...0x170: return isr.words[Int((register - 0x100) >> 4)]
        case 0x180...0x1F0: return tmr.words[Int((register - 0x180) >> 4)]
        case 0x200...0x270: return irr.words[Int((register - 0x200) >> 4)]
        case 0x280: return esr
        case 0x300: return icrLow  // bit 12, delivery status: always idle
        case 0x310: return icrHigh
        case 0x320: return lvtTimer
        case 0x330: return lvtThermal
        case 0x340: return lvtPerformance
        case 0x350: return lvtLINT0
        case 0x360: return lvtLINT1
        case 0x370: return lvtError
        case 0x380: return timerInitial
        case 0x390: return currentCount(at: clock.now)
        case 0x3E0: return timerDivide
        default:
            signalError(Self.errorIllegalRegister)
            return 0
        }
    }

    func writeRegister(_ register: UInt32, _ value: UInt32) {
        // While software-disabled the LVT mask bits stay set — SDM §10.4.7.2.
        let forcedMask = isSoftwareEnabled ? 0 : Self.lvtMask
        switch register {
        case 0x020: idRegister = value & 0xFF00_0000
        case 0x080: tpr = value & 0xFF
        case 0x0B0: endOfInterrupt()
        case 0x0D0: ldr = value & 0xFF00_0000
        case 0x0E0: dfr = value | 0x0FFF_FFFF
        case 0x0F0:
            // Bits 0–7 vector, 8 enable, 9 focus checking; EOI-broadcast suppression is absent.
            svr = value & 0x3FF
            if !isSoftwareEnabled {
                for reg in [0x320, 0x330, 0x340, 0x350, 0x360, 0x370] as [UInt32] {
                    writeRegister(reg, readRegister(reg))
                }
            }
        case 0x280:
            esr = pendingErrors
            pendingErrors = 0
        case 0x300:
            icrLow = value & 0x000C_CFFF
            sendIPI()
        case 0x310: icrHigh = value & 0xFF00_0000
        case 0x320:
            // Mode bit 18 (TSC deadline) is reserved: CPUID does not offer that mode.
            catchUpTimer()
            lvtTimer = value & 0x0003_00FF | forcedMask
        case 0x330: lvtThermal = value & 0x0001_07FF | forcedMask
        case 0x340: lvtPerformance = value & 0x0001_07FF | forcedMask
        case 0x350: lvtLINT0 = (value & 0x0001_A7FF | forcedMask) | lvtLINT0 & 0x4000
        case 0x360: lvtLINT1 = (value & 0x0001_A7FF | forcedMask) | lvtLINT1 & 0x4000
        case 0x370: lvtError = value & 0x0001_00FF | forcedMask
        case 0x380:
            catchUpTimer()
            timerInitial = value
            timerAnchor = clock.now
            timerAnchorCount = value
        case 0x3E0:
            catchUpTimer()
            let now = clock.now
            timerAnchorCount = currentCount(at: now)
            timerAnchor = now
            timerDivide = value & 0xB
        case 0x030, 0x090, 0x0A0, 0x100...0x270, 0x390: break  // read-only
        default: signalError(Self.errorIllegalRegister)
        }
    }
}

// MARK: Timer (SDM §10.5.4)

extension LocalAPIC {
    /// Divide configuration bits 0, 1, 3: 000 → 2, 001 → 4, … 110 → 128, 111 → 1.
    var timerDivisor: UInt64 {
        let code = (timerDivide & 3) | (timerDivide >> 1) & 4
        return code == 7 ? 1 : 2 << UInt64(code)
    }

    var timerTickNanoseconds: UInt64 { Self.busTickNanoseconds * timerDivisor }

    var timerPeriodic: Bool { lvtTimer & Self.lvtTimerPeriodic != 0 }

    /// The current-count register at time `now`, including periods a periodic timer has run
    /// through but `tick` has not yet seen.
    func currentCount(at now: UInt64) -> UInt32 {
        guard timerAnchorCount != 0, now > timerAnchor else { return timerAnchorCount }
        let ticks = (now - timerAnchor) / timerTickNanoseconds
        if ticks < UInt64(timerAnchorCount) { return timerAnchorCount - UInt32(ticks) }
        guard timerPeriodic && timerInitial != 0 else { return 0 }
        let intoPeriod = (ticks - UInt64(timerAnchorCount)) % UInt64(timerInitial)
        return timerInitial - UInt32(intoPeriod)
    }

    /// The current-count register now.
    public var timerCurrentCount: UInt32 { currentCount(at: clock.now) }

    /// Fires anything overdue before a register write changes how the timer counts.
    func catchUpTimer() { tick(now: clock.now) }

    /// When the counter next reaches zero, or nil if it is stopped.
    var timerExpiry: UInt64? {
        guard timerAnchorCount != 0 else { return nil }
        return timerAnchor &+ UInt64(timerAnchorCount) &* timerTickNanoseconds
    }

    /// Nil while the LVT timer is masked: the count is computed from the clock when read, and
    /// an LVT write catches up first, so a masked periodic timer costs the run loop nothing.
    public func nextDeadline() -> UInt64? {
        lvtTimer & Self.lvtMask == 0 ? timerExpiry : nil
    }

    /// Reaching zero puts the LVT timer vector into IRR unless the entry is masked (it counts
    /// either way). Periodic mode reloads; if several periods went by, it fires once and stays
    /// aligned to the original period.
    public func tick(now: UInt64) {
        guard let deadline = timerExpiry, now >= deadline else { return }
        if lvtTimer & Self.lvtMask == 0 {
            setRequest(vector: UInt8(truncatingIfNeeded: lvtTimer), levelTriggered: false)
        }
        if timerPeriodic && timerInitial != 0 {
            let period = UInt64(timerInitial) * timerTickNanoseconds
            timerAnchor = deadline + (now - deadline) / period * period
            timerAnchorCount = timerInitial
        } else {
            timerAnchor = deadline
            timerAnchorCount = 0
        }
    }
}
