/// The exit status of a run that stopped this way (docs/formats.md): the guest's debug-exit
/// status (odd), 0 for a halt with interrupts off, or x86v's own even statuses.
extension StopReason {
    public var exitStatus: Int32 {
        switch self {
        case .debugExit(let status): status
        case .haltedWithInterruptsOff: 0
        case .instructionLimit: 4
        case .notImplemented: 6
        case .tripleFault: 8
        case .timeout: 10
        case .idleForever: 12
        case .unknownPort: 14
        case .resetRequested: 16
        case .breakpoint: 20
        case .powerOff: 22
        case .userQuit: 24
        case .guestPanic: 26
        }
    }
}

extension StopReason {
    /// The short name `--stats` and `--stats-json` print.
    public var name: String {
        switch self {
        case .debugExit: "debug-exit"
        case .haltedWithInterruptsOff: "halted"
        case .instructionLimit: "instruction-limit"
        case .notImplemented: "not-implemented"
        case .tripleFault: "triple-fault"
        case .timeout: "timeout"
        case .idleForever: "idle-forever"
        case .unknownPort: "unknown-port"
        case .resetRequested: "reset"
        case .breakpoint: "debugger-stop"
        case .userQuit: "user-quit"
        case .powerOff: "power-off"
        case .guestPanic: "guest-panic"
        }
    }
}
