/// VM-exit reasons, numbered and named as VT-x's basic exit reasons (SDM Vol. 3C Appendix C),
/// so a student can look each one up. x86v uses the subset its policy can produce.
public enum VMExitReason: UInt8, CaseIterable, Sendable, Comparable {
    case exceptionOrNMI = 0
    case externalInterrupt = 1
    case tripleFault = 2
    case interruptWindow = 7
    case nmiWindow = 8
    case taskSwitch = 9
    case cpuid = 10
    case hlt = 12
    case invlpg = 14
    case rdtsc = 16
    case crAccess = 28
    case drAccess = 29
    case ioInstruction = 30
    case rdmsr = 31
    case wrmsr = 32
    case apicAccess = 44
    case gdtrIdtrAccess = 46
    case ldtrTrAccess = 47
    case eptViolation = 48

    /// The SDM's name, as `--stats` and `--trace-exits` print it.
    public var name: String {
        switch self {
        case .exceptionOrNMI: "EXCEPTION_NMI"
        case .externalInterrupt: "EXTERNAL_INTERRUPT"
        case .tripleFault: "TRIPLE_FAULT"
        case .interruptWindow: "INTERRUPT_WINDOW"
        case .nmiWindow: "NMI_WINDOW"
        case .taskSwitch: "TASK_SWITCH"
        case .cpuid: "CPUID"
        case .hlt: "HLT"
        case .invlpg: "INVLPG"
        case .rdtsc: "RDTSC"
        case .crAccess: "CR_ACCESS"
        case .drAccess: "DR_ACCESS"
        case .ioInstruction: "IO_INSTRUCTION"
        case .rdmsr: "RDMSR"
        case .wrmsr: "WRMSR"
        case .apicAccess: "APIC_ACCESS"
        case .gdtrIdtrAccess: "GDTR_IDTR_ACCESS"
        case .ldtrTrAccess: "LDTR_TR_ACCESS"
        case .eptViolation: "MMIO_ACCESS"
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}
