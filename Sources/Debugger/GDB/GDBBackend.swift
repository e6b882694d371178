/// The GDB Remote Serial Protocol stub (`x86v run GUEST --gdb PORT`), independent of the engine:
/// the stub speaks the protocol (GDBPacket, GDBCommands, GDBStub, GDBServer) and asks a
/// `GDBBackend` for everything about the machine. The debugger session conforms to it; the tests
/// use an in-memory fake.
///
/// Protocol reference: GDB manual, appendix E "GDB Remote Serial Protocol" (packets, stop reply
/// packets, target descriptions). The stub is all-stop, single-thread (thread id 1, no
/// multiprocess extensions), addresses are 32-bit guest-linear.

/// What the GDB stub needs from a debugger session. All addresses are guest-linear.
public protocol GDBBackend: AnyObject {
    /// i386 registers in GDB's order: eax ecx edx ebx esp ebp esi edi eip eflags cs ss ds es fs gs,
    /// then (the "org.x86v.sys" feature) cr0 cr2 cr3 cr4 (as the guest sees them), gdtr_base, gdtr_limit, idtr_base, idtr_limit, ldtr, tr, cpl.
    /// Backend indices 0–26 (`GDBRegister`); a shorter array reports the missing ones unavailable.
    func readRegisters() -> [UInt32]
    /// `index` is a backend index as in `readRegisters` (not a GDB register number). False: refused (E01).
    func writeRegister(_ index: Int, _ value: UInt32) -> Bool
    func readMemory(linear: UInt32, count: Int) -> [UInt8]?     // nil if unmapped (reply E14)
    func writeMemory(linear: UInt32, bytes: [UInt8]) -> Bool
    func insertBreakpoint(_ kind: GDBBreakpointKind, address: UInt32, length: Int) -> Bool
    func removeBreakpoint(_ kind: GDBBreakpointKind, address: UInt32, length: Int) -> Bool
    /// Runs until a stop. `interrupted` is polled often (every few thousand instructions); when it returns true, stop with .interrupted.
    func resume(_ action: GDBResumeAction, interrupted: () -> Bool) -> GDBStopEvent
    /// `monitor CMD`: the debugger's command language; returns its text output.
    func monitor(_ command: String) -> String
    func kill()
    /// The x87 and SSE registers, nil when the machine has none (they are then reported
    /// unavailable). The default implementation returns nil.
    func readFloatRegisters() -> GDBFloatRegisters?
    /// Replaces them (GDB's `P`/`G` of st0–7, fctrl…fop, xmm0–7, mxcsr read the current values,
    /// change what GDB sent and write the whole set back). False: refused (E01). Default: false.
    func writeFloatRegisters(_ registers: GDBFloatRegisters) -> Bool
}

extension GDBBackend {
    public func readFloatRegisters() -> GDBFloatRegisters? { nil }
    public func writeFloatRegisters(_ registers: GDBFloatRegisters) -> Bool { false }
}

/// The x87 and SSE registers as GDB's i386 target description has them (`i387-tdep.c`; see
/// `GDBTargetDescription`): the stack by ST(i), not by physical register, and the full tag word.
public struct GDBFloatRegisters: Sendable, Equatable {
    /// One 80-bit x87 register: the 64-bit significand (explicit integer bit), then the sign and
    /// the 15-bit exponent; GDB's `i387_ext` is these 10 bytes little-endian.
    public struct Extended: Sendable, Equatable {
        public var significand: UInt64
        public var signExponent: UInt16
        public init(significand: UInt64, signExponent: UInt16) {
            self.significand = significand
            self.signExponent = signExponent
        }
    }

    /// One 128-bit register; GDB's `vec128` is the low quadword, then the high, little-endian.
    public struct Vector: Sendable, Equatable {
        public var low: UInt64
        public var high: UInt64
        public init(low: UInt64, high: UInt64) {
            self.low = low
            self.high = high
        }
    }

    /// ST(0)–ST(7).
    public var st: [Extended]
    /// fctrl (FCW), fstat (FSW, TOP in bits 13:11), ftag (the full tag word), fiseg (FCS), fioff
    /// (FIP), foseg (FDS), fooff (FDP), fop (11 bits): `GDBTargetDescription.fpuControlNames`.
    public var control: [UInt32]
    /// XMM0–XMM7.
    public var xmm: [Vector]
    public var mxcsr: UInt32

    public init(st: [Extended], control: [UInt32], xmm: [Vector], mxcsr: UInt32) {
        precondition(st.count == 8 && control.count == 8 && xmm.count == 8)
        self.st = st
        self.control = control
        self.xmm = xmm
        self.mxcsr = mxcsr
    }
}

/// Z0/z0 software, Z1 hardware breakpoint; Z2 write, Z3 read, Z4 access watchpoint.
public enum GDBBreakpointKind: Sendable { case software, hardware, writeWatch, readWatch, accessWatch }

/// s / c (and vCont;s / vCont;c), bs / bc.
public enum GDBResumeAction: Sendable { case step, `continue`, reverseStep, reverseContinue }

/// Why `resume` returned; becomes a stop reply (T…, W…).
public enum GDBStopEvent: Sendable, Equatable {
    case breakpoint, stepped, interrupted
    case watchpoint(kind: GDBBreakpointKind, address: UInt32)
    case historyStart        // reverse execution reached the start of history: reply T05replaylog:begin;
    case exited(status: Int) // the guest ended the run: reply Wxx
}

/// How a GDB session ended (`GDBServer.serve`).
public enum GDBServeResult: Sendable, Equatable {
    /// `k` / `vKill`: the backend's `kill()` was called; stop the run.
    case killed
    /// `D`: GDB let go; every breakpoint the stub inserted has been removed. Run the guest to its
    /// end without the debugger.
    case detached
    /// The guest ended (`W` was sent).
    case exited(status: Int)
    /// The client went away (EOF, reset, write failure) without D or k; breakpoints removed as
    /// for `detached`. The caller chooses whether to continue or stop.
    case disconnected
}

/// Backend register indices (`GDBBackend.readRegisters` order).
public enum GDBRegister {
    public static let eax = 0, ecx = 1, edx = 2, ebx = 3, esp = 4, ebp = 5, esi = 6, edi = 7
    public static let eip = 8, eflags = 9, cs = 10, ss = 11, ds = 12, es = 13, fs = 14, gs = 15
    public static let cr0 = 16, cr2 = 17, cr3 = 18, cr4 = 19
    public static let gdtrBase = 20, gdtrLimit = 21, idtrBase = 22, idtrLimit = 23
    public static let ldtr = 24, tr = 25, cpl = 26
    /// Number of backend registers (16 core + 11 system).
    public static let count = 27
}
