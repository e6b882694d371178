import X86Core

/// The smallest machine that runs the test guests until the full machine lands: a polled
/// serial port (TX only, always ready), the isa-debug-exit port, and nothing else (other ports
/// read all ones). Used by the interpreter's tests and benchmarks.
public final class BareMachine {
    public let cpu: CPU
    public private(set) var serial: [UInt8] = []
    public private(set) var exitCode: Int32? = nil
    public private(set) var portExits: UInt64 = 0
    var lineControl: UInt8 = 0

    public enum Outcome: Equatable {
        /// The guest wrote V to port 0xF4: status (V << 1) | 1, as QEMU's isa-debug-exit.
        case debugExit(Int32)
        case halted
        case shutdown
        case instructionLimit
        case stopped(ExitReason)
    }

    public init(memorySize: Int) {
        cpu = CPU(memorySize: memorySize)
    }

    public func run(maxInstructions: UInt64) -> Outcome {
        let end = cpu.state.instructions &+ maxInstructions
        while true {
            let now = cpu.state.instructions
            if now >= end { return .instructionLimit }
            let exit = cpu.run(maxInstructions: end - now)
            switch exit {
            case .portIO(let access):
                portExits &+= 1
                if access.isIn {
                    var v: UInt32 = 0xFFFF_FFFF
                    if access.port == 0x3FD { v = 0x60 }  // LSR: THR empty, transmitter idle
                    cpu.completePortIn(value: v & (access.size == 4 ? 0xFFFF_FFFF : (1 << (8 * UInt32(access.size))) - 1))
                } else {
                    // With LCR.DLAB set, 0x3F8 is the divisor latch, not the transmitter.
                    if access.port == 0x3FB { lineControl = UInt8(truncatingIfNeeded: access.value) }
                    if access.port == 0x3F8 && lineControl & 0x80 == 0 {
                        serial.append(UInt8(truncatingIfNeeded: access.value))
                    }
                    cpu.completePortOut()
                    if access.port == 0xF4 {
                        let code = (Int32(truncatingIfNeeded: access.value & 0xFF) << 1) | 1
                        exitCode = code
                        return .debugExit(code)
                    }
                }
            case .halted:
                // No interrupt sources on this machine: a halt always ends the run.
                return .halted
            case .shutdown: return .shutdown
            case .instructionLimit: return .instructionLimit
            default: return .stopped(exit)
            }
        }
    }

    public var serialText: String { String(decoding: serial, as: UTF8.self) }
}
