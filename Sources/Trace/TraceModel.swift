import X86Core

/// The one model every trace source reduces to: a stream of `TraceStep`s, each the state *before*
/// an instruction started, what that instruction was, and what happened until the next one
/// started (its register changes, memory writes, and the events delivered or taken meanwhile).
///
/// x86v traces (JSON lines or the binary form) and QEMU's `-d cpu,exec` logs are read into this
/// model, so `TraceDiff` compares any two of them the same way.

/// The registers a trace follows, by index: the eight GPRs, EIP, EFLAGS, the six selectors, the
/// four guest-visible control registers. (Descriptor caches are not compared: QEMU's log prints
/// them, x86v's trace leaves them to the debugger.)
public enum TraceField: Int, CaseIterable, Sendable {
    case eax = 0, ecx, edx, ebx, esp, ebp, esi, edi
    case eip, eflags
    case es, cs, ss, ds, fs, gs
    case cr0, cr2, cr3, cr4

    public static let count = 20

    /// The JSON and diff name ("eax", "eflags", "cs"…).
    public var name: String { String(describing: self) }

    public static func named(_ text: String) -> TraceField? {
        allCases.first { $0.name == text }
    }

    public var isGPR: Bool { rawValue < 8 }
    public var isSelector: Bool { rawValue >= TraceField.es.rawValue && rawValue <= TraceField.gs.rawValue }
    public var isControl: Bool { rawValue >= TraceField.cr0.rawValue }
    /// Selectors are 16 bits wide.
    public var width: Int { isSelector ? 16 : 32 }
}

/// One full register file, indexed by `TraceField`. Plain data (no allocation per copy).
public struct TraceRegisters: Equatable, Sendable {
    public var values: InlineArray<20, UInt32> = .init(repeating: 0)

    public init() {}

    @inline(__always) public subscript(_ f: TraceField) -> UInt32 {
        get { values[f.rawValue] }
        set { values[f.rawValue] = newValue }
    }

    public var eip: UInt32 { values[TraceField.eip.rawValue] }
    public var cs: UInt16 { UInt16(truncatingIfNeeded: values[TraceField.cs.rawValue]) }
    public var cpl: UInt8 { UInt8(values[TraceField.cs.rawValue] & 3) }

    public static func == (a: TraceRegisters, b: TraceRegisters) -> Bool {
        for i in 0..<TraceField.count where a.values[i] != b.values[i] { return false }
        return true
    }
}

/// A data write the instruction made (guest-linear and guest-physical address of its first
/// byte, size, value): the CPU's own write-log record, so the recorder passes it on as it is.
public typealias TraceWrite = TracedWrite

/// Something that happened between an instruction's start and the next one's.
public struct TraceEvent: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// An exception delivered through the guest's IDT (vector, error code if any).
        case exception = 1
        /// An external (hardware) interrupt delivered through the guest's IDT.
        case interrupt = 2
        /// INT n / INT3 / INTO delivered.
        case softwareInterrupt = 3
        /// A VM exit the VMM took (detail: the VT-x reason name and the action).
        case exit = 4
        /// A page fault the shadow MMU resolved without the guest seeing it (address: CR2 value).
        case hiddenFault = 5

        public var name: String {
            switch self {
            case .exception: "exception"
            case .interrupt: "interrupt"
            case .softwareInterrupt: "int"
            case .exit: "exit"
            case .hiddenFault: "hidden-fault"
            }
        }

        public static func named(_ s: String) -> Kind? {
            [Kind.exception, .interrupt, .softwareInterrupt, .exit, .hiddenFault].first { $0.name == s }
        }
    }

    public var kind: Kind
    public var vector: UInt8 = 0
    public var errorCode: UInt32? = nil
    /// Faulting or accessed address where one applies (CR2 for #PF, the MMIO address of an
    /// APIC-access exit).
    public var address: UInt32? = nil
    /// Exits: the reason name (CR_ACCESS…); hidden faults: the shadow MMU's action.
    public var detail: String = ""

    public init(kind: Kind, vector: UInt8 = 0, errorCode: UInt32? = nil, address: UInt32? = nil, detail: String = "") {
        self.kind = kind; self.vector = vector; self.errorCode = errorCode; self.address = address; self.detail = detail
    }

    /// An exception, interrupt or INT n that went through the IDT (control moved to a handler).
    public var isDelivery: Bool { kind == .exception || kind == .interrupt || kind == .softwareInterrupt }
}

/// One instruction of a trace.
public struct TraceStep: Sendable {
    /// x86v: the CPU's instruction count when the instruction started (REP iterations and event
    /// deliveries each count one, as on the virtual clock). QEMU: the record's ordinal from the
    /// guest's entry point.
    public var index: UInt64
    /// The state before the instruction.
    public var before: TraceRegisters
    /// The state when the next instruction started (nil when unknown: QEMU logs, or the last step
    /// of a run that stopped before it finished).
    public var after: TraceRegisters?
    public var linear: UInt32
    /// Guest-physical address of the first byte (nil: not mapped, or not known).
    public var physical: UInt32?
    /// The instruction's bytes (empty when the source does not have them: QEMU logs).
    public var bytes: [UInt8]
    public var writes: [TraceWrite]
    public var events: [TraceEvent]
    /// The x87/SSE state before the instruction (nil when the source does not record it: a QEMU
    /// log without `-d fpu`). Steps that change nothing share one box with their neighbours.
    public var fpu: TraceFPU?
    /// The x87/SSE state when the next instruction started: the same box as `fpu` when the step
    /// changed none of it, nil when unknown (QEMU logs).
    public var fpuAfter: TraceFPU?

    public init(index: UInt64, before: TraceRegisters, after: TraceRegisters? = nil, linear: UInt32,
                physical: UInt32? = nil, bytes: [UInt8] = [], writes: [TraceWrite] = [], events: [TraceEvent] = [],
                fpu: TraceFPU? = nil, fpuAfter: TraceFPU? = nil) {
        self.index = index; self.before = before; self.after = after; self.linear = linear
        self.physical = physical; self.bytes = bytes; self.writes = writes; self.events = events
        self.fpu = fpu; self.fpuAfter = fpuAfter
    }

    /// The step changed the x87/SSE state.
    public var changedFPU: Bool {
        guard let a = fpuAfter, let b = fpu else { return false }
        return a !== b && a.state.traceChanges(from: b.state) != 0
    }
}

/// A source of steps, read front to back without holding the whole stream (a QEMU log of a
/// multiboot guest is gigabytes of firmware before the guest's first instruction).
public protocol TraceStepSource: AnyObject {
    /// The next step, nil at the end of the stream. Throws `TraceInputError` on malformed input.
    func next() throws(TraceInputError) -> TraceStep?
    /// What the source is, for messages ("x86v trace a.bin", "QEMU log q.log").
    var label: String { get }
}

/// A trace file that cannot be read: truncated, foreign, or inconsistent. Exit status 2.
public struct TraceInputError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
