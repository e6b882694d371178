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
        }
    }
}
