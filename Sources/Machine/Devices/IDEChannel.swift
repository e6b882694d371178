/// One IDE (ATA) channel: the command block registers at `base`…`base`+7, the control block
/// register at `control` (Alternate Status / Device Control), two device positions and one
/// interrupt line. ATA/ATAPI-6 §7 (registers), §9 (protocols).
///
/// ```
/// base+0  Data (16/32-bit PIO)       base+4  LBA Mid / cylinder low
/// base+1  Error (r) / Features (w)   base+5  LBA High / cylinder high
/// base+2  Sector Count               base+6  Device/Head (bit 4 DEV selects the slave)
/// base+3  LBA Low / sector number    base+7  Status (r, clears INTRQ) / Command (w)
/// control Alternate Status (r, leaves INTRQ alone) / Device Control (w: bit 1 nIEN,
///         bit 2 SRST, bit 7 HOB)
/// ```
///
/// Model choices:
/// - A channel with no disk at all reads 0 from every register (QEMU 7.2's PIIX IDE, whose
///   controller is always there; xv6 tells "no disk 1" from a status of 0). An absent slave
///   beside a present master reads 0 from Status, Alternate Status and Error (ATA-6 §9, device 0
///   answering for a missing device 1 with 00h), and commands to it are ignored.
/// - An absent master beside a present slave answers as QEMU's does: its registers read back,
///   every command aborts (ERR, ABRT, an interrupt), and at power-on its status is DRDY | ERR
///   with ABRT, as SeaBIOS's probe leaves it. (xv6 with only `--drive fs.img,index=1` waits for
///   DRDY with device 0 selected.)
/// - Power-on is the state SeaBIOS leaves: device 1 selected, nIEN clear, registers 0.
/// - INTRQ is one pending flag per channel (only the selected device can be interrupting: the
///   other one's command finished before it was deselected, or has none). The pin is the flag
///   gated by nIEN (ATA-6 §7, Device Control): setting nIEN lowers the line, clearing it with an interrupt
///   pending raises it again (QEMU forgets an interrupt raised while nIEN was set). Reading
///   Status or writing Command clears the flag; reading Alternate Status does not.
/// - A software reset (SRST 1 → 0) puts both devices back to the signature with DRDY, error 01h,
///   device 0 selected, and does not interrupt (ATA-6 §9, software reset protocol; QEMU interrupts). Multiple mode and
///   the CHS translation survive it.
/// - A command written while DRQ is set (a transfer not finished) is ignored, as QEMU does (ATA-6
///   leaves it undefined).
final class IDEChannel: PortDevice {
    let base: UInt16
    let control: UInt16
    let irq: Int
    let lines: InterruptLines
    let devices: [IDEDevice]

    /// Device Control bits.
    static let nIEN: UInt8 = 0x02
    static let srst: UInt8 = 0x04
    static let hob: UInt8 = 0x80

    /// DEV bit of the last Device register write.
    var selected = 0
    var deviceControl: UInt8 = 0
    /// The selected device's INTRQ condition.
    var interruptPending = false

    init(base: UInt16, control: UInt16, irq: Int, firstIndex: Int, lines: InterruptLines) {
        self.base = base
        self.control = control
        self.irq = irq
        self.lines = lines
        devices = [IDEDevice(index: firstIndex), IDEDevice(index: firstIndex + 1)]
    }

    var hasDisks: Bool { devices[0].isPresent || devices[1].isPresent }
    var current: IDEDevice { devices[selected] }

    /// Power-on state (also after a drive is attached).
    func powerOn() {
        selected = 1
        deviceControl = 0
        interruptPending = false
        for d in devices { d.powerOn() }
        if !devices[0].isPresent && devices[1].isPresent {
            devices[0].status = IDEDevice.drdy | IDEDevice.err
            devices[0].error = IDEDevice.abrt
        }
        updateLine()
    }

    /// Whether position `i` answers register reads and commands: a disk is there, or it is the
    /// master of a channel whose slave has one.
    func answers(_ i: Int) -> Bool { devices[i].isPresent || (i == 0 && devices[1].isPresent) }

    func updateLine() {
        lines.set(irq, high: interruptPending && deviceControl & Self.nIEN == 0)
    }

    func interrupt(_ yes: Bool) {
        guard yes else { return }
        interruptPending = true
        updateLine()
    }

    /// The Status register as the host sees it (0 for an absent device).
    var visibleStatus: UInt8 { answers(selected) ? current.status : 0 }

    // MARK: PortDevice

    func read(port: UInt16, size: Int) -> UInt32 {
        if port == control { return UInt32(visibleStatus) }
        let offset = port &- base
        guard hasDisks else {
            if offset == 7 { clearInterrupt() }
            return 0
        }
        let hob = deviceControl & Self.hob != 0
        switch offset {
        case 0:
            let (v, irq) = current.readData(size: size)
            interrupt(irq)
            return size == 1 ? v & 0xFF : v
        case 1:
            guard answers(selected) else { return 0 }
            return UInt32(hob ? current.hobFeatures : current.error)
        case 2, 3, 4, 5: return UInt32(current.readRegister(offset, hob: hob))
        case 6: return UInt32(current.device)
        case 7:
            clearInterrupt()
            return UInt32(visibleStatus)
        default: return 0
        }
    }

    func write(port: UInt16, size: Int, value: UInt32) {
        let v = UInt8(truncatingIfNeeded: value)
        if port == control { writeDeviceControl(v); return }
        let offset = port &- base
        if offset != 0 { deviceControl &= ~Self.hob }  // any command block write clears HOB
        switch offset {
        case 0: interrupt(current.writeData(size: size == 1 ? 2 : size, value: value))
        case 1, 2, 3, 4, 5: for d in devices { d.writeRegister(offset, v) }
        case 6:
            for d in devices { d.device = v | 0xA0 }
            selected = Int(v >> 4) & 1
        case 7:
            clearInterrupt()
            let d = current
            guard answers(selected), d.status & (IDEDevice.bsy | IDEDevice.drq) == 0 else { return }
            interrupt(d.execute(v))
        default: break
        }
    }

    func clearInterrupt() {
        guard interruptPending else { return }
        interruptPending = false
        updateLine()
    }

    /// Device Control (ATA-6 §7, Device Control): nIEN gates the line, SRST resets both devices on its falling
    /// edge (BSY while it is held).
    func writeDeviceControl(_ v: UInt8) {
        let was = deviceControl
        deviceControl = v & (Self.nIEN | Self.srst | Self.hob)
        if v & Self.srst != 0 && was & Self.srst == 0 {
            for (i, d) in devices.enumerated() where answers(i) {
                d.transfer = .none
                d.dataPosition = 0
                d.dataEnd = 0
                d.status = IDEDevice.bsy | IDEDevice.dsc
            }
            interruptPending = false
        } else if v & Self.srst == 0 && was & Self.srst != 0 {
            for (i, d) in devices.enumerated() {
                d.setSignature()
                d.error = 0x01
                d.status = answers(i) ? IDEDevice.drdy | IDEDevice.dsc : 0
            }
            selected = 0
        }
        updateLine()
    }
}
