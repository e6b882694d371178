/// QEMU's isa-debug-exit at 0xF4 (a write of V ends the run with host status (V << 1) | 1, so a
/// guest can never produce 0), the Bochs/QEMU 0xE9 debug console (a byte written is printed;
/// reading 0xE9 returns 0xE9, the "port present" signature) and, when the machine attaches it
/// (`PCMachine.attachPOSTPort`, `--post`), the PC's POST-code port 0x80 (a byte written is a
/// firmware progress code, handed to `onPOST`; reads return 0xFF, as QEMU's ioport80; nothing is
/// kept, so it has no snapshot state).
public final class DebugPorts: PortDevice {
    /// Set by a write to 0xF4: the status x86v exits with.
    public internal(set) var exitStatus: Int32? = nil
    public var onConsole: (UInt8) -> Void = { _ in }
    /// Bytes written to port 0x80 (`x86v run --post FILE`); dropped by default.
    public var onPOST: (UInt8) -> Void = { _ in }

    public init() {}

    public func read(port: UInt16, size: Int) -> UInt32 {
        port == 0xE9 ? 0xE9 : 0xFFFF_FFFF  // 0x80 too: all ones
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        switch port {
        case 0xF4...0xF7:
            // QEMU's device (iosize=4) takes the whole written value; the host status is 8 bits.
            exitStatus = Int32(truncatingIfNeeded: ((value << 1) | 1) & 0xFF)
        case 0xE9:
            onConsole(UInt8(truncatingIfNeeded: value))
        case 0x80:
            onPOST(UInt8(truncatingIfNeeded: value))
        default:
            break
        }
    }
}
