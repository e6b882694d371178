/// Port 0x92 (System Control Port A: fast reset and A20) and the 8042 keyboard controller's
/// 0x60/0x64 without a keyboard: enough for guests to reset the machine the usual ways and to
/// find a controller with nothing attached (IBM PS/2 technical reference; Intel 8042 as the
/// PC/AT uses it).
///
/// A20 is never masked: guest physical address bit 20 always passes, as on every machine since
/// the 486's A20M# stopped mattering to protected-mode software. Port 0x92 bit 1 and 8042 output
/// port bit 1 read back as 1 whatever is written, so a guest's "enable A20" check succeeds at
/// once and "disable A20" has no effect.
public final class SystemControl: PortDevice {
    /// Called when the guest asks for a CPU reset.
    public var onReset: () -> Void = {}

    /// The ports this device answers.
    public static let portRanges: [ClosedRange<UInt16>] = [0x60...0x60, 0x64...0x64, 0x92...0x92]

    /// 8042 status register bits.
    static let outputFull: UInt8 = 0x01, systemFlag: UInt8 = 0x04, lastWasCommand: UInt8 = 0x08
    static let unlocked: UInt8 = 0x10

    /// Port 0x92 as last written (bit 0 = fast reset, bit 1 = A20).
    var port92: UInt8 = 0x02
    /// Status: self-test passed (system flag), keyboard not inhibited, last write a command.
    var status: UInt8 = 0x1C
    /// A byte the controller answered with, waiting to be read at 0x60.
    var outputBuffer: UInt8? = nil
    /// What 0x60 reads when the buffer is empty (the last byte the buffer held).
    var lastOutput: UInt8 = 0x00
    /// The controller command whose data byte the next write to 0x60 is (0x60 or 0xD1).
    var pendingCommand: UInt8? = nil
    /// Controller command byte as a PC/AT BIOS leaves it: scan-code translation, system flag,
    /// keyboard interrupt on; the (absent) auxiliary port disabled.
    var commandByte: UInt8 = 0x65
    /// Output port: bit 0 = CPU not in reset, bit 1 = A20.
    var outputPort: UInt8 = 0x03

    public init() {}

    public func read(port: UInt16, size: Int) -> UInt32 {
        switch port {
        case 0x92: return UInt32(port92 | 0x02)
        case 0x64: return UInt32(status | (outputBuffer != nil ? Self.outputFull : 0))
        case 0x60:
            if let b = outputBuffer {
                lastOutput = b
                outputBuffer = nil
            }
            return UInt32(lastOutput)
        default: return 0xFF
        }
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        let v = UInt8(truncatingIfNeeded: value)
        switch port {
        case 0x92:
            let old = port92
            port92 = v
            if v & 1 != 0 && old & 1 == 0 { onReset() }
        case 0x64:
            status |= Self.lastWasCommand
            command(v)
        case 0x60:
            status &= ~Self.lastWasCommand
            let pending = pendingCommand
            pendingCommand = nil
            switch pending {
            case 0x60: commandByte = v
            case 0xD1:
                outputPort = v | 0x02
                if v & 1 == 0 { onReset() }
            default: break  // bytes for the keyboard: there is none to answer
            }
        default: return
        }
    }

    private func command(_ c: UInt8) {
        pendingCommand = nil
        switch c {
        case 0x20: outputBuffer = commandByte
        case 0x60, 0xD1: pendingCommand = c
        case 0xA7: commandByte |= 0x20  // disable auxiliary port
        case 0xA8: commandByte &= ~0x20
        case 0xAA: outputBuffer = 0x55  // self-test passed
        case 0xAB: outputBuffer = 0x00  // keyboard interface test passed
        case 0xAD: commandByte |= 0x10  // disable keyboard
        case 0xAE: commandByte &= ~0x10
        case 0xD0: outputBuffer = outputPort
        case 0xF0...0xFF:
            // Pulse output-port lines for 6 µs; a 0 in bit 0 pulses the reset line (0xFE).
            if c & 1 == 0 { onReset() }
        default: break
        }
    }
}
