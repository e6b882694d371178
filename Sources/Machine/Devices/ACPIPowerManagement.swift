/// The ACPI power-management registers of QEMU's pc machine (the PIIX4's function 3, Intel
/// 82371AB datasheet §11 "Power Management Registers"; ACPI 6.4 §4.8 "ACPI Hardware Model"),
/// the APM control port and the PIIX3 reset control register: what a kernel's ACPI code reads
/// from the FADT (whose PM1a_EVT_BLK, PM1a_CNT_BLK, PM_TMR_BLK, GPE0_BLK, SMI_CMD and
/// RESET_REG point here) to power the machine off, reset it or measure time.
///
///     0x600 PM1_STS  16  write 1 to clear: TMR_STS (0), BM (4), GBL (5), PWRBTN (8), RTC (10), WAK (15)
///     0x602 PM1_EN   16  read/write, stored as written (as QEMU): TMR_EN (0) lets TMR_STS raise the SCI
///     0x604 PM1_CNT  16  SCI_EN (0), BM_RLD (1), GBL_RLS (2), SLP_TYP (12:10), SLP_EN (13, write-only)
///     0x608 PM_TMR   32  read-only: a 24-bit count at 3.579545 MHz (bits 31:24 read 0)
///     0xAFE0 GPE0_STS/0xAFE2 GPE0_EN  16 each: no event sources (status stays 0), enable read/write
///     0xB2  APMC      8  SMI_CMD: 0xF1 sets SCI_EN, 0xF0 clears it (ACPI enable/disable), read back
///     0xB3  APMS      8  scratch
///     0xCF9 RCR       8  bit 2 written = reset (bits 1–2 as 0x06 in the FADT's RESET_VALUE); reads bit 1
///
/// Writing SLP_EN with SLP_TYP = `softOffType` (0, the S5 value QEMU's PIIX4 DSDT declares in
/// `\_S5` and its etc/system-states file reports) powers the machine off: `onPowerOff`, a
/// `.powerOff` stop. Other sleep types do nothing: x86v has no S1–S4 (QEMU suspends on type 1
/// and powers off on its S4 type 2; the firmware tables here declare S5 only).
///
/// TMR_STS follows QEMU (hw/acpi/core.c): it is set whenever bit 23 of the timer changes, also
/// with TMR_EN clear, and reads set at power-on (QEMU's first overflow time is 0, so a guest
/// finds it set after SeaBIOS). With TMR_EN set, the SCI (ISA IRQ 9, a level) is high while
/// PM1_STS & PM1_EN has TMR, GBL, PWRBTN or RTC set; like QEMU, SCI_EN does not gate it.
///
/// The block's base is fixed at 0x600, where SeaBIOS puts it under QEMU (PIIX4 PMBA): x86v has
/// no PCI configuration space in which a guest could move it. Byte and word accesses to each
/// half of PM1_STS/EN/CNT are taken as the ACPI specification allows (§4.8.3); QEMU 7.2 reads 0
/// for a byte or dword read of PM1 and takes a byte write to 0x605 as a write of the whole
/// register, so the test guests use word accesses only.
public final class ACPIPowerManagement: PortDevice, ClockedDevice {
    /// The port ranges the device answers.
    public static let portRanges: [ClosedRange<UInt16>] = [
        0x600...0x605, 0x608...0x60B, 0xAFE0...0xAFE3, 0xB2...0xB3, 0xCF9...0xCF9,
    ]
    /// The PM1 event, PM1 control and PM timer blocks (FADT PM1a_EVT_BLK, PM1a_CNT_BLK, PM_TMR_BLK).
    public static let pm1EventBlock: UInt16 = 0x600, pm1ControlBlock: UInt16 = 0x604, timerBlock: UInt16 = 0x608
    /// FADT GPE0_BLK (QEMU's PIIX4 GPE block, 4 bytes).
    public static let gpe0Block: UInt16 = 0xAFE0
    /// FADT SMI_CMD and its ACPI_ENABLE / ACPI_DISABLE values.
    public static let smiCommand: UInt16 = 0xB2, acpiEnable: UInt8 = 0xF1, acpiDisable: UInt8 = 0xF0
    /// FADT RESET_REG (system I/O, 8 bits) and RESET_VALUE.
    public static let resetRegister: UInt16 = 0xCF9, resetValue: UInt8 = 0x06
    /// The SCI's ISA IRQ (FADT SCI_INT).
    public static let sciIRQ = 9
    /// The PM timer's rate (ACPI §4.8.3.3).
    public static let timerFrequency: UInt64 = 3_579_545
    /// SLP_TYP for S5 (soft off), as QEMU's PIIX4 DSDT declares it in `\_S5`.
    public static let softOffType: UInt16 = 0

    /// PM1 status bits (ACPI Table 4.16).
    public static let timerStatus: UInt16 = 0x0001, globalStatus: UInt16 = 0x0020
    public static let powerButtonStatus: UInt16 = 0x0100, rtcStatus: UInt16 = 0x0400
    /// PM1 control bits (ACPI Table 4.18).
    public static let sciEnable: UInt16 = 0x0001, sleepEnable: UInt16 = 0x2000
    /// The events that raise the SCI when enabled (QEMU's set: timer, global lock, power button, RTC).
    static let sciEvents: UInt16 = timerStatus | globalStatus | powerButtonStatus | rtcStatus

    let clock: VirtualClock
    let lines: InterruptLines
    /// The guest asked for S5.
    public var onPowerOff: () -> Void = {}
    /// The guest wrote the reset bit of 0xCF9.
    public var onReset: () -> Void = {}

    /// PM1_STS, except TMR_STS while `timerOverflow` has not been reached (it is computed).
    var status: UInt16 = 0
    var enable: UInt16 = 0
    /// PM1_CNT without SLP_EN.
    var control: UInt16 = 0
    /// Virtual time (ns) at which TMR_STS next becomes set: the next change of timer bit 23 after
    /// the guest last cleared it; 0 at power-on (set from the start, as QEMU).
    var timerOverflow: UInt64 = 0
    var gpeStatus: UInt16 = 0
    var gpeEnable: UInt16 = 0
    /// 0xB2 as last written: 0xB5 at power-on, the last SMI command SeaBIOS issued under QEMU
    /// (its 32-bit call through SMM); x86v has no SMM, so writes only touch SCI_EN.
    var apmControl: UInt8 = 0xB5
    var apmStatus: UInt8 = 0
    /// 0xCF9 bit 1 (system reset type), the only bit that is kept.
    var resetControl: UInt8 = 0

    public init(clock: VirtualClock, lines: InterruptLines) {
        self.clock = clock
        self.lines = lines
    }

    // MARK: The timer

    /// The PM timer's count now (all bits; the register shows the low 24).
    var ticks: UInt64 { TickMath.ticks(atNanoseconds: clock.now, hz: Self.timerFrequency) }

    /// PM1_STS as the guest reads it now.
    var currentStatus: UInt16 {
        clock.now >= timerOverflow ? status | Self.timerStatus : status
    }

    public func nextDeadline() -> UInt64? {
        guard enable & Self.timerStatus != 0, status & Self.timerStatus == 0 else { return nil }
        return timerOverflow
    }

    public func tick(now: UInt64) {
        if now >= timerOverflow { status |= Self.timerStatus }
        updateSCI()
    }

    /// The SCI is a level: high while an enabled event's status bit is set.
    func updateSCI() {
        if clock.now >= timerOverflow { status |= Self.timerStatus }
        let high = status & enable & Self.sciEvents != 0 || gpeStatus & gpeEnable != 0
        lines.set(Self.sciIRQ, high: high)
    }

    // MARK: Port I/O

    public func read(port: UInt16, size: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<size { v |= UInt32(readByte(port &+ UInt16(i))) << (8 * UInt32(i)) }
        return v
    }

    /// One byte of the register file; bytes the access runs into that are not ours read as the
    /// floating bus does.
    func readByte(_ port: UInt16) -> UInt8 {
        func byte(_ r: UInt16, _ base: UInt16) -> UInt8 { UInt8(truncatingIfNeeded: r >> (8 * (port - base))) }
        switch port {
        case 0x600...0x601: return byte(currentStatus, 0x600)
        case 0x602...0x603: return byte(enable, 0x602)
        case 0x604...0x605: return byte(control, 0x604)
        case 0x608...0x60B: return UInt8(truncatingIfNeeded: (ticks & 0xFF_FFFF) >> (8 * UInt64(port - 0x608)))
        case 0xAFE0...0xAFE1: return byte(gpeStatus, 0xAFE0)
        case 0xAFE2...0xAFE3: return byte(gpeEnable, 0xAFE2)
        case 0xB2: return apmControl
        case 0xB3: return apmStatus
        case 0xCF9: return resetControl
        default: return 0xFF
        }
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        switch port {
        case 0xB2:
            apmControl = UInt8(truncatingIfNeeded: value)
            if apmControl == Self.acpiEnable { control |= Self.sciEnable }
            if apmControl == Self.acpiDisable { control &= ~Self.sciEnable }
        case 0xB3:
            apmStatus = UInt8(truncatingIfNeeded: value)
        case 0xCF9:
            let v = UInt8(truncatingIfNeeded: value)
            if v & 0x04 != 0 { onReset(); return }
            resetControl = v & 0x02
        default:
            writeRegisters(port: port, size: size, value: value)
        }
    }

    /// The part of an access at `port` that falls on the 16-bit register at `base`: which bits
    /// it writes and their new values.
    static func part(port: UInt16, size: Int, value: UInt32, base: UInt16) -> (mask: UInt16, bits: UInt16)? {
        var mask: UInt16 = 0, bits: UInt16 = 0
        for i in 0..<size {
            let p = Int(port) + i
            guard p == Int(base) || p == Int(base) + 1 else { continue }
            let shift = UInt16(p - Int(base)) * 8
            mask |= 0xFF << shift
            bits |= (UInt16(truncatingIfNeeded: value >> (8 * UInt32(i))) & 0xFF) << shift
        }
        return mask == 0 ? nil : (mask, bits)
    }

    func writeRegisters(port: UInt16, size: Int, value: UInt32) {
        if let (mask, bits) = Self.part(port: port, size: size, value: value, base: 0x600) {
            let cleared = bits & mask
            if cleared & Self.timerStatus != 0 && currentStatus & Self.timerStatus != 0 {
                // A new overflow time: the next change of bit 23 from now.
                let next = (ticks + 0x80_0000) & ~0x7F_FFFF
                timerOverflow = TickMath.nanoseconds(atTick: next, hz: Self.timerFrequency)
            }
            status = currentStatus & ~cleared
        }
        if let (mask, bits) = Self.part(port: port, size: size, value: value, base: 0x602) {
            enable = (enable & ~mask) | bits
        }
        if let (mask, bits) = Self.part(port: port, size: size, value: value, base: 0x604) {
            let written = (control & ~mask) | bits
            control = written & ~Self.sleepEnable
            if written & Self.sleepEnable != 0 && (written >> 10) & 7 == Self.softOffType { onPowerOff() }
        }
        if let (mask, bits) = Self.part(port: port, size: size, value: value, base: 0xAFE0) {
            gpeStatus &= ~(bits & mask)
        }
        if let (mask, bits) = Self.part(port: port, size: size, value: value, base: 0xAFE2) {
            gpeEnable = (gpeEnable & ~mask) | bits
        }
        updateSCI()
    }
}
