/// Exception vectors 0–19 (SDM Vol. 3A §6.3, Table 6-1).
public enum Vector {
    public static let divideError: UInt8 = 0
    public static let debug: UInt8 = 1
    public static let nmi: UInt8 = 2
    public static let breakpoint: UInt8 = 3
    public static let overflow: UInt8 = 4
    public static let boundRange: UInt8 = 5
    public static let invalidOpcode: UInt8 = 6
    public static let deviceNotAvailable: UInt8 = 7
    public static let doubleFault: UInt8 = 8
    public static let invalidTSS: UInt8 = 10
    public static let segmentNotPresent: UInt8 = 11
    public static let stackFault: UInt8 = 12
    public static let generalProtection: UInt8 = 13
    public static let pageFault: UInt8 = 14
    public static let x87Error: UInt8 = 16
    public static let alignmentCheck: UInt8 = 17
    public static let machineCheck: UInt8 = 18
    public static let simdError: UInt8 = 19

    /// Vectors that push an error code (SDM Vol. 3A Table 6-1).
    static func hasErrorCode(_ v: UInt8) -> Bool {
        v == 8 || (v >= 10 && v <= 14) || v == 17
    }
    /// Fault-class exceptions whose pushed EFLAGS image has RF = 1 (SDM Vol. 3A §17.3.1.1,
    /// Table 6-1): all faults but #DB (an instruction breakpoint's handler sets RF itself).
    public static func setsRF(_ v: UInt8) -> Bool {
        v == 0 || v == 5 || v == 6 || v == 7 || (v >= 10 && v <= 14) || v == 16 || v == 17 || v == 19
    }
    /// Contributory exceptions for the double-fault rules (SDM Vol. 3A Table 6-4).
    static func isContributory(_ v: UInt8) -> Bool {
        v == 0 || (v >= 10 && v <= 13)
    }

    public static func name(_ v: UInt8) -> String {
        let names = ["#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
                     "#NP", "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM"]
        return Int(v) < names.count ? names[Int(v)] : "INT \(v)"
    }
}

/// What interrupts the execution of one instruction. Thrown with typed throws, so nothing is
/// boxed: a 12-byte value on the fault path, nothing on the normal path.
public struct Fault: Error, Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        /// An architectural exception: deliver through the IDT (or exit, if the owner asked).
        case exception
        /// The instruction needs the owner (port I/O, HLT, a controlled exit): `CPU.pendingExit` says which.
        case exit
        /// INT n / INT3 / INTO / INT1 retired and asks for delivery as a trap (EIP after it).
        /// `errorCode` bit 0: INT3/INTO (an exception for `exitOnExceptions`); bit 1: INT1.
        case softwareInterrupt
    }
    public var kind: Kind
    public var vector: UInt8
    public var hasErrorCode: Bool
    public var errorCode: UInt32

    @inline(__always) init(kind: Kind, vector: UInt8, hasErrorCode: Bool, errorCode: UInt32) {
        self.kind = kind
        self.vector = vector
        self.hasErrorCode = hasErrorCode
        self.errorCode = errorCode
    }

    public static func exception(_ vector: UInt8) -> Fault {
        Fault(kind: .exception, vector: vector, hasErrorCode: false, errorCode: 0)
    }
    public static func exception(_ vector: UInt8, errorCode: UInt32) -> Fault {
        Fault(kind: .exception, vector: vector, hasErrorCode: true, errorCode: errorCode)
    }
    static let ud = Fault.exception(Vector.invalidOpcode)
    static let de = Fault.exception(Vector.divideError)
    static let nm = Fault.exception(Vector.deviceNotAvailable)
    static func gp(_ code: UInt32 = 0) -> Fault { .exception(Vector.generalProtection, errorCode: code) }
    static func ss(_ code: UInt32 = 0) -> Fault { .exception(Vector.stackFault, errorCode: code) }
    static func np(_ code: UInt32) -> Fault { .exception(Vector.segmentNotPresent, errorCode: code) }
    static func ts(_ code: UInt32) -> Fault { .exception(Vector.invalidTSS, errorCode: code) }
    static let exit = Fault(kind: .exit, vector: 0, hasErrorCode: false, errorCode: 0)
}

/// A port I/O access that the owner must perform (SDM Vol. 3C Table 27-5 "Exit Qualification for
/// I/O Instructions"). For OUT/OUTS `value` holds the data; complete the access with
/// `CPU.completePortIn(value:)` or `CPU.completePortOut()`.
public struct PortAccess: Sendable, Equatable {
    public var port: UInt16
    /// 1, 2 or 4 bytes.
    public var size: UInt8
    public var isIn: Bool
    public var isString: Bool
    public var isRep: Bool
    public var value: UInt32

    public init(port: UInt16, size: UInt8, isIn: Bool, isString: Bool, isRep: Bool, value: UInt32) {
        self.port = port
        self.size = size
        self.isIn = isIn
        self.isString = isString
        self.isRep = isRep
        self.value = value
    }
}

/// Why `CPU.run` returned (a VM exit, from the hardware's side; named after SDM Vol. 3C
/// Appendix C where one fits).
public enum ExitReason: Sendable, Equatable {
    /// The instruction budget ran out; the next instruction has not started.
    case instructionLimit
    /// HLT executed at CPL 0 (EIP is after the HLT). `run` again resumes at the next instruction
    /// only after an interrupt is delivered; with IF = 0 the CPU stays halted.
    case halted
    /// Port I/O to be performed by the owner (EIP still at the instruction).
    case portIO(PortAccess)
    /// An exception whose bit is set in `CPU.exitOnExceptions` (state as the fault left it).
    case exception(vector: UInt8, errorCode: UInt32?)
    /// Triple fault: the CPU shut down (SDM Vol. 3A §6.15, interrupt 8).
    case shutdown
    /// IF became 1 with an interrupt requested (`CPU.interruptRequested`): call `deliverInterrupt`.
    case interruptWindow
    /// An instruction the owner asked to intercept (`CPU.intercepts`); EIP at the instruction.
    case intercepted(Intercept)
    /// An instruction this CPU does not implement yet (x87/MMX/SSE execution, task switches).
    case notImplemented(eip: UInt32, what: String)
    /// An instruction breakpoint the owner set (`CPU.breakpoints`) was reached (EIP at it), an
    /// owner watchpoint was hit (`CPU.watchHits`, EIP after the instruction), or the owner asked
    /// for a stop (`CPU.requestOwnerStop`).
    case breakpoint
}

/// Instructions an owner (the VMM) can ask to see before they execute, like VM-execution
/// controls (SDM Vol. 3C §24.6.2).
public struct Intercept: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let cpuid = Intercept(rawValue: 1 << 0)
    /// MOV from CR3 (CR3-store exiting). CR0/CR4 reads never exit: they read
    /// `CPU.cr0ReadShadow`/`cr4ReadShadow` for the bits the owner masks (SDM Vol. 3C §25.3).
    public static let cr3Read = Intercept(rawValue: 1 << 1)
    /// MOV to CR3 (CR3-load exiting).
    public static let cr3Write = Intercept(rawValue: 1 << 2)
    /// MOV to CR0, CLTS, LMSW.
    public static let cr0Write = Intercept(rawValue: 1 << 9)
    /// MOV to CR4.
    public static let cr4Write = Intercept(rawValue: 1 << 10)
    public static let invlpg = Intercept(rawValue: 1 << 3)
    public static let msr = Intercept(rawValue: 1 << 4)
    public static let rdtsc = Intercept(rawValue: 1 << 5)
    public static let hlt = Intercept(rawValue: 1 << 6)
    public static let drAccess = Intercept(rawValue: 1 << 7)
    public static let descriptorTable = Intercept(rawValue: 1 << 8)
    /// Task switches (VT-x exits on every one, SDM Vol. 3C §26.4.2; here the policy decides).
    /// The CPU exits after the new TSS descriptor's checks; `CPU.taskSwitchRequest` says which.
    public static let taskSwitch = Intercept(rawValue: 1 << 11)
    /// Not an execution control: the owner's instruction observer made this instruction trap
    /// (binary translation: a hole the scan marked).
    public static let translated = Intercept(rawValue: 1 << 20)
}

/// What the owner's page-fault handler decided (`CPU.pageFaultHandler`).
public enum PageFaultVerdict: Sendable, Equatable {
    /// The owner fixed the tables the walker reads: walk again.
    case retry
    /// The guest takes a #PF with this error code (CR2 = the address).
    case deliver(errorCode: UInt32)
    /// Only when `CPU.translatingStore` is set: the owner emulates this store (a guest write to
    /// a write-protected page table, KVM's pte-write path). The CPU stores at this guest-physical
    /// address without caching the translation, then calls `emulatedStoreHandler`.
    case emulateStore(physical: UInt32)
}
