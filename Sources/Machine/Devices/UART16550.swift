/// A 16550A UART (COM1 at 0x3F8–0x3FF, IRQ4), per the National/TI PC16550D datasheet.
///
/// ```
/// offset  read                    write             with LCR.DLAB = 1
///   0     RBR receive buffer      THR transmit      DLL divisor low
///   1     IER interrupt enable    IER               DLM divisor high
///   2     IIR interrupt ident.    FCR FIFO control
///   3     LCR line control        LCR
///   4     MCR modem control       MCR
///   5     LSR line status         (ignored)
///   6     MSR modem status        (ignored)
///   7     SCR scratch             SCR
/// ```
///
/// Model choices:
/// - The transmitter is infinitely fast: THR and the shift register are always empty
///   (LSR.THRE | TEMT), each THR write reaches `onTransmit` at once and re-arms the THRE
///   interrupt (as the real chip does when the byte moves on to the shift register).
/// - Received bytes wait in an unbounded host-side queue that feeds the 16-byte RX FIFO (one
///   byte holding register with FIFOs off), so host input is never lost; only loopback can
///   overrun (see `transmit`). An RX FIFO reset discards just the bytes in the FIFO.
/// - Character timeout (IIR 0xC) is approximated as "data below the trigger level is present":
///   there is no line timing, and host bytes all arrive at once.
/// - With no modem attached MSR reads CTS | DSR | DCD (0xB0) and MCR resets to OUT2 (0x08), as
///   QEMU's serial port after reset; loopback maps RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
/// - The IRQ line follows INTR whatever MCR.OUT2 says, as QEMU's pc machine wires it: kernels
///   written for QEMU depend on it (xv6 clears MCR and takes its console input on IRQ4). On a
///   PC/AT serial adapter OUT2 enables the board's IRQ buffer; `out2GatesIRQ` models that
///   wiring. Loopback forces the OUT2 pin inactive and cuts the line either way (16550A
///   datasheet, MCR bit 4). The line is re-evaluated after every access.
/// - Accesses wider than a byte act on the addressed register only.
public final class UART16550: PortDevice {
    /// Each transmitted byte.
    public var onTransmit: (UInt8) -> Void = { _ in }
    let lines: InterruptLines
    let irq: Int

    // IER bits.
    static let ierReceivedData: UInt8 = 1 << 0
    static let ierTransmitterEmpty: UInt8 = 1 << 1
    static let ierLineStatus: UInt8 = 1 << 2
    static let ierModemStatus: UInt8 = 1 << 3
    // LSR bits.
    static let lsrDataReady: UInt8 = 1 << 0
    static let lsrOverrun: UInt8 = 1 << 1
    static let lsrErrors: UInt8 = 0x1E  // OE, PE, FE, BI
    static let lsrTransmitterEmpty: UInt8 = 0x60  // THRE | TEMT
    // MCR bits.
    static let mcrOut2: UInt8 = 1 << 3
    static let mcrLoopback: UInt8 = 1 << 4

    /// Host bytes not yet in the FIFO; `hostHead` indexes the next one.
    var hostQueue: [UInt8] = []
    var hostHead = 0
    var fifo: [UInt8] = []
    var rbr: UInt8 = 0
    var ier: UInt8 = 0
    var lcr: UInt8 = 0
    var mcr: UInt8 = mcrOut2
    /// The PC/AT adapter's wiring: IRQ4 driven only while MCR.OUT2 is set (off: QEMU's wiring,
    /// the default). Configuration, not state.
    public var out2GatesIRQ = false
    var scr: UInt8 = 0
    var dll: UInt8 = 0x0C  // 9600 baud, as QEMU
    var dlm: UInt8 = 0
    var fifoEnabled = false
    var triggerLevel = 1
    /// LSR bits 1–4, cleared by reading LSR.
    var lineErrors: UInt8 = 0
    /// MSR bits 0–3 (DCTS, DDSR, TERI, DDCD), cleared by reading MSR.
    var modemDeltas: UInt8 = 0
    /// The THRE interrupt condition: set when THR empties or ETBEI is enabled with THR empty;
    /// cleared by an IIR read that reports it, by writing THR (which at once re-sets it here).
    var transmitterInterrupt = false

    public init(lines: InterruptLines, irq: Int = 4) {
        self.lines = lines
        self.irq = irq
    }

    /// The machine's clock, when the UART is part of one: host bytes then wait until
    /// `inputStart`. Wiring, not state.
    public unowned(unsafe) var clock: VirtualClock? = nil

    /// Host input (`--serial-in`, the terminal) reaches the receiver from 100 ms of virtual time
    /// on, as keys typed with `--keys-in` do (`Keyboard8042.typingStart`): a kernel sets up its
    /// UART and interrupt controllers first. xv6's `uartinit` discards RBR and only then unmasks
    /// IRQ4 at the I/O APIC, so a byte there from power-on would raise the line while the pin is
    /// masked (the edge is lost) and its console would never see input.
    public static let inputStart: UInt64 = Keyboard8042.typingStart

    /// Set at the first deadline at or after `inputStart` with input waiting: from then on host
    /// bytes flow as the receiver takes them.
    var inputReleased = false

    /// When held host input is due (a timer deadline, so a sleeping guest wakes for it).
    public func nextDeadline() -> UInt64? {
        guard !inputReleased, clock != nil, hostHead < hostQueue.count else { return nil }
        return Self.inputStart
    }

    /// The held input is due: it enters the receiver.
    public func tick(now: UInt64) {
        inputReleased = true
        refill()
        updateIRQ()
    }

    /// Bytes arriving on the receive line (from --serial-in or a TTY).
    public func receive(_ bytes: [UInt8]) {
        hostQueue.append(contentsOf: bytes)
        refill()
        updateIRQ()
    }

    /// True when the host-side queue is empty (the guest has taken all input into its FIFO or
    /// read it), so more input may be offered.
    public var wantsInput: Bool { hostHead == hostQueue.count }

    var loopback: Bool { mcr & Self.mcrLoopback != 0 }
    var fifoCapacity: Int { fifoEnabled ? 16 : 1 }

    func refill() {
        guard !loopback else { return }  // the serial input is disconnected in loopback
        if clock != nil && !inputReleased { return }
        while fifo.count < fifoCapacity && hostHead < hostQueue.count {
            fifo.append(hostQueue[hostHead])
            hostHead += 1
        }
        if hostHead == hostQueue.count {
            hostQueue.removeAll(keepingCapacity: true)
            hostHead = 0
        }
    }

    /// MSR bits 4–7: CTS, DSR, RI, DCD.
    var modemLines: UInt8 {
        guard loopback else { return 0xB0 }
        return (mcr & 2) << 3 | (mcr & 1) << 5 | (mcr & 4) << 4 | (mcr & 8) << 4
    }

    // MARK: Interrupts

    /// IIR bits 0–3 of the highest-priority enabled source (0x01 = none).
    var interruptIdentification: UInt8 {
        if ier & Self.ierLineStatus != 0 && lineErrors != 0 { return 0x06 }
        if ier & Self.ierReceivedData != 0 && !fifo.isEmpty {
            if !fifoEnabled || fifo.count >= triggerLevel { return 0x04 }
            return 0x0C
        }
        if ier & Self.ierTransmitterEmpty != 0 && transmitterInterrupt { return 0x02 }
        if ier & Self.ierModemStatus != 0 && modemDeltas != 0 { return 0x00 }
        return 0x01
    }

    func updateIRQ() {
        let pin = loopback ? false : !out2GatesIRQ || mcr & Self.mcrOut2 != 0
        lines.set(irq, high: interruptIdentification & 1 == 0 && pin)
    }

    // MARK: Registers

    public func read(port: UInt16, size: Int) -> UInt32 {
        let value: UInt8
        let dlab = lcr & 0x80 != 0
        switch port & 7 {
        case 0 where dlab: value = dll
        case 0:
            if !fifo.isEmpty {
                rbr = fifo.removeFirst()
                refill()
            }
            value = rbr
        case 1 where dlab: value = dlm
        case 1: value = ier
        case 2:
            let id = interruptIdentification
            if id == 0x02 { transmitterInterrupt = false }
            value = id | (fifoEnabled ? 0xC0 : 0)
        case 3: value = lcr
        case 4: value = mcr
        case 5:
            value = (fifo.isEmpty ? 0 : Self.lsrDataReady) | lineErrors | Self.lsrTransmitterEmpty
            lineErrors = 0
        case 6:
            value = modemLines | modemDeltas
            modemDeltas = 0
        default: value = scr
        }
        updateIRQ()
        return UInt32(value)
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        let v = UInt8(truncatingIfNeeded: value)
        let dlab = lcr & 0x80 != 0
        switch port & 7 {
        case 0 where dlab: dll = v
        case 0: transmit(v)
        case 1 where dlab: dlm = v
        case 1:
            let enabled = v & ~ier & Self.ierTransmitterEmpty != 0
            ier = v & 0x0F
            if enabled { transmitterInterrupt = true }  // THR is always empty
            if ier & Self.ierTransmitterEmpty == 0 { transmitterInterrupt = false }
        case 2: writeFIFOControl(v)
        case 3: lcr = v
        case 4: writeModemControl(v)
        case 7: scr = v
        default: break  // LSR and MSR writes are for factory test
        }
        updateIRQ()
    }

    func transmit(_ byte: UInt8) {
        if loopback {
            // Overrun: without FIFOs the new byte overwrites RBR; a full FIFO keeps its
            // contents and loses the new byte (PC16550D, LSR bit 1).
            if fifo.count >= fifoCapacity {
                lineErrors |= Self.lsrOverrun
                if !fifoEnabled { fifo[0] = byte }
            } else {
                fifo.append(byte)
            }
        } else {
            onTransmit(byte)
        }
        transmitterInterrupt = true
    }

    /// FCR: bit 0 enables the FIFOs (changing it empties them), bit 1 resets the RX FIFO, bits
    /// 6–7 set the RX trigger level 1/4/8/14. Bits 1–7 take effect only with bit 0 set.
    func writeFIFOControl(_ v: UInt8) {
        let enable = v & 1 != 0
        if enable != fifoEnabled || (enable && v & 2 != 0) { fifo.removeAll() }
        fifoEnabled = enable
        if enable { triggerLevel = [1, 4, 8, 14][Int(v >> 6)] }
        refill()
    }

    func writeModemControl(_ v: UInt8) {
        let before = modemLines
        mcr = v & 0x1F
        let after = modemLines
        let changed = before ^ after
        if changed & 0x10 != 0 { modemDeltas |= 0x01 }  // DCTS
        if changed & 0x20 != 0 { modemDeltas |= 0x02 }  // DDSR
        if before & ~after & 0x40 != 0 { modemDeltas |= 0x04 }  // TERI: RI went low
        if changed & 0x80 != 0 { modemDeltas |= 0x08 }  // DDCD
        refill()
    }
}
