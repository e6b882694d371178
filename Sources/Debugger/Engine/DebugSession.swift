import ELF
import Machine
import ShadowMMU
import VMM
import X86Core
import X86Decode

/// The debugger engine: one guest (a `PCMachine`, under the VMM or bare), its symbols, the
/// breakpoints, the event log and the history of snapshots. The REPL, scripts and the GDB stub
/// all drive the guest through this class; it never prints (commands return text).
///
/// Execution goes through the same run loops as `x86v run` (the VMM's or the bare runner), with
/// an instruction budget: the debugger adds nothing to the interpreter's fast path. Breakpoints
/// are the CPU's owner breakpoints and watchpoints (slow path only while any is set); exit, fault,
/// I/O and CR3 breakpoints are observers on the VMM's exit path that ask the CPU to stop at the
/// next boundary. Runs are deterministic, so going back in time is: restore the nearest earlier
/// snapshot and run forward to the wanted instruction count (`History`).
public final class DebugSession {
    public let machine: PCMachine
    public let vmm: VMM?
    public let symbols: SymbolTable
    /// The run flags' instruction limit (the guest stops there, as under `x86v run`).
    public let maxInstructions: UInt64
    public let guestName: String
    public internal(set) var breakpoints: [Breakpoint] = []
    var nextBreakpointID = 1
    public internal(set) var log = EventLog()
    /// Named snapshots (`snapshot NAME`).
    var named: [(name: String, snapshot: SessionSnapshot)] = []
    /// Automatic snapshots for reverse execution.
    public internal(set) var history: History
    /// How the guest ended, once it has (further forward execution is refused until a restore).
    public internal(set) var ended: StopReason? = nil
    /// Registers at the previous stop (`regs` marks what changed).
    var previousRegisters: RegisterSnapshot
    /// The x87/MMX/SSE state at the previous stop (`fpu`, `sse` and `regs` mark changes).
    var previousFPU: FPUState
    /// Set by observers when a breakpoint other than an address or a watchpoint fires.
    var pendingStop: StopCause? = nil
    /// While replaying history, breakpoints and output are off.
    var replaying = false
    /// Guest output ordering across time travel: bytes already shown are not shown again.
    var serialPosition: UInt64 = 0
    var serialShown: UInt64 = 0
    /// The guest's last shown serial byte did not end a line (the REPL starts its own line).
    public var serialMidLine = false
    var consolePosition: UInt64 = 0
    var consoleShown: UInt64 = 0
    /// Per-instruction predicate of the current `run-to`/`finish` (nil: run in big chunks).
    var perInstruction: ((DebugSession) -> StopCause?)? = nil

    public var cpu: CPU { machine.cpu }
    public var registers: RegisterFile { RegisterFile(cpu: cpu, vmm: vmm) }
    public var icount: UInt64 { cpu.statePointer.pointee.instructions }
    public var guestMemory: GuestMemory { GuestMemory(machine: machine, vmm: vmm) }

    public init(machine: PCMachine, vmm: VMM?, elf: ELF32File?, guestName: String,
                maxInstructions: UInt64 = 10_000_000_000, snapshotInterval: UInt64 = History.defaultInterval,
                historyBytes: Int = History.defaultBudget) {
        self.machine = machine
        self.vmm = vmm
        self.guestName = guestName
        self.maxInstructions = maxInstructions
        symbols = SymbolTable(elf: elf)
        history = History(interval: snapshotInterval, budgetBytes: historyBytes)
        previousRegisters = RegisterSnapshot(cpu: machine.cpu, vmm: vmm)
        previousFPU = machine.cpu.statePointer.pointee.fpu
        installObservers()
        history.record(self)
    }

    // MARK: Observers (exit path only)

    func installObservers() {
        let originalSerial = machine.serialOutput
        machine.serialOutput = { [unowned self] b in
            serialPosition &+= 1
            if serialPosition > serialShown {
                serialShown = serialPosition
                serialMidLine = b != 10
                originalSerial(b)
            }
        }
        let originalConsole = machine.debugPorts.onConsole
        machine.debugPorts.onConsole = { [unowned self] b in
            consolePosition &+= 1
            if consolePosition > consoleShown { consoleShown = consolePosition; originalConsole(b) }
        }
        vmm?.exitObserver = { [unowned self] e in noteExit(e) }
        vmm?.faultObserver = { [unowned self] e in noteShadowFault(e) }
        cpu.deliveryObserver = { [unowned self] v, code, soft in noteDelivery(v, code, soft) }
    }

    func noteExit(_ e: VMExit) {
        log.add(.init(exit: e))
        guard !replaying else { return }
        for i in breakpoints.indices {
            var hit = false
            switch breakpoints[i].kind {
            case .exit(let r): hit = r == nil || r == e.reason
            case .io(let port):
                if case .io(let a) = e.qualification, a.port == port { hit = true }
            case .cr3:
                if case .controlRegister(3, .movTo, _, _) = e.qualification { hit = true }
            default: break
            }
            if hit { requestStop(.breakpoint(breakpoints[i].id)) }
        }
        if runToExit { requestStop(.event("VM exit \(e.reason.name) at icount \(e.instructionCount)")) }
        if runToCR3, case .controlRegister(3, .movTo, _, let v) = e.qualification {
            requestStop(.event("the guest loaded CR3 = \(hex8(v))"))
        }
    }

    func noteShadowFault(_ e: ShadowMMU.FaultEvent) {
        let st = cpu.statePointer.pointee
        let guestCR0 = vmm?.virtualCPU.cr0 ?? st.cr0
        var entry: (UInt32, UInt32)? = nil
        if e.guestCode == nil, let sh = vmm?.shadow {
            let real = GuestPageWalk.Controls(cr0: st.cr0, cr3: st.cr3, cr4: st.cr4)
            let w = GuestPageWalk.walk(machine.memory, real, linear: e.linear, write: false, user: false, guestTables: false)
            if let a = w.pteAddress, let v = w.pte { entry = (a, v) }
            _ = sh
        }
        log.add(EventLog.Fault(icount: st.instructions, eip: st.currentEIP, vector: Vector.pageFault, linear: e.linear,
                               errorCode: e.guestCode ?? e.shadowCode, walk: e.walk, hidden: e.guestCode == nil,
                               action: e.action, shadowEntry: entry, wp: guestCR0 & CR0.wp != 0,
                               zappedBefore: vmm?.shadow?.stats.entriesZapped ?? 0))
        if !replaying { checkFaultBreakpoints(Vector.pageFault) }
    }

    func noteDelivery(_ vector: UInt8, _ code: UInt32?, _ software: Bool) {
        let st = cpu.statePointer.pointee
        log.add(EventLog.Delivery(icount: st.instructions, vector: vector, errorCode: code, software: software))
        // Page faults under the shadow MMU are logged by `noteShadowFault`; the others here.
        if vector < 32 && !software && !(vector == Vector.pageFault && vmm?.shadow != nil) {
            var walk: GuestPageWalk? = nil
            if vector == Vector.pageFault, let c = guestMemory.controls {
                walk = GuestPageWalk.walk(machine.memory, c, linear: st.cr2, write: (code ?? 0) & 2 != 0, user: (code ?? 0) & 4 != 0)
            }
            log.add(EventLog.Fault(icount: st.instructions, eip: st.currentEIP, vector: vector,
                                   linear: vector == Vector.pageFault ? st.cr2 : 0, errorCode: code, walk: walk,
                                   hidden: false, action: "deliver", shadowEntry: nil, wp: st.cr0 & CR0.wp != 0, zappedBefore: 0))
            if !replaying { checkFaultBreakpoints(vector) }
        }
        if !replaying, let want = runToInterrupt, vector >= 32, !software, want {
            requestStop(.event("interrupt vector \(vector) delivered"))
        }
    }

    var runToInterrupt: Bool? = nil

    func checkFaultBreakpoints(_ vector: UInt8) {
        for b in breakpoints {
            if case .fault(let v) = b.kind, v == nil || v == vector { requestStop(.breakpoint(b.id)) }
        }
        if runToFault, let f = log.faults.last {
            let what = f.vector == Vector.pageFault
                ? "#PF at \(hex8(f.linear)), \(f.hidden ? "hidden" : "delivered to the guest"): \(f.action)"
                : "\(Vector.name(vector)) delivered to the guest"
            requestStop(.event(what))
        }
    }

    var runToFault = false
    var runToExit = false
    var runToCR3 = false
    var temporaryBreakpoint: UInt32? = nil
    var nextStackFloor: UInt32? = nil
    /// GDB sent `k`: the run ends.
    public internal(set) var killed = false

    func requestStop(_ cause: StopCause) {
        if pendingStop == nil { pendingStop = cause }
        cpu.requestOwnerStop()
    }
}

/// Why the guest stopped, as the debugger reports it.
public enum StopCause: Equatable, Sendable {
    /// The requested number of instructions ran.
    case stepped
    case breakpoint(Int)
    case watch(Int, WatchHit)
    /// A `run-to`, `until`, `next` or `finish` target was reached (with what happened).
    case event(String)
    /// The guest ended the run (debug exit, halt, triple fault, limit…).
    case ended(StopReason)
    /// Reverse execution reached the oldest state the history still holds.
    case historyStart
    /// The GDB client interrupted.
    case interrupted
}

/// The registers at one stop, to mark what changed at the next.
struct RegisterSnapshot: Equatable {
    var values: [UInt32]

    init(cpu: CPU, vmm: VMM?) {
        let r = RegisterFile(cpu: cpu, vmm: vmm)
        values = RegisterSnapshot.order.map { r.value($0) ?? 0 }
    }

    static let order = RegisterFile.gprNames + ["eip", "eflags"] + RegisterFile.segmentNames + ["cr0", "cr2", "cr3", "cr4", "cpl"]

    func value(_ name: String) -> UInt32 { values[Self.order.firstIndex(of: name)!] }
}
