import Debugger

/// A toy machine behind the GDB stub in the tests: 27 registers (and, when `float` is set, the
/// x87/SSE ones), 64 KiB of memory at linear 0
/// (everything above is unmapped), and one-byte "instructions" so stepping is easy to predict:
///
///     F4        exit with status AL
///     EB        spin (EIP stays: a loop only an interrupt ends)
///     AA        store AL at [EDI], EDI += 1 (what the watchpoints watch)
///     anything  no operation
///
/// Every instruction advances EIP by one (except EB). A history of undo records makes reverse
/// stepping work; `spinLimit` bounds a run so a test that forgets to interrupt still ends.
/// Unchecked Sendable: a test hands it to the server thread and looks at it only after the
/// request it is checking has been answered.
final class GDBFakeBackend: GDBBackend, @unchecked Sendable {
    var registers = [UInt32](repeating: 0, count: GDBRegister.count)
    var memory = [UInt8](repeating: 0x90, count: 0x10000)
    var breakpoints: [(GDBBreakpointKind, UInt32, Int)] = []
    var history: [(eip: UInt32, edi: UInt32, address: UInt32?, old: UInt8)] = []
    var killed = false
    var monitorLog: [String] = []
    var interruptPolls = 0
    var spinLimit = 50_000_000
    /// Registers GDB may not write (e.g. the system ones), to check E01.
    var readOnly: Set<Int> = [GDBRegister.cpl]
    /// The x87/SSE registers: nil (the default) is a machine without them (reported unavailable).
    var float: GDBFloatRegisters? = nil
    /// Float writes are refused when this is set (E01).
    var floatReadOnly = false
    var floatWrites = 0

    init() {
        registers[GDBRegister.eip] = 0x1000
        registers[GDBRegister.esp] = 0x8000
        registers[GDBRegister.ebp] = 0x8010
        registers[GDBRegister.eflags] = 0x202
        registers[GDBRegister.cs] = 0x08
        registers[GDBRegister.cr0] = 0x11
    }

    func readRegisters() -> [UInt32] { registers }

    func writeRegister(_ index: Int, _ value: UInt32) -> Bool {
        guard index >= 0, index < registers.count, !readOnly.contains(index) else { return false }
        registers[index] = value
        return true
    }

    func readMemory(linear: UInt32, count: Int) -> [UInt8]? {
        let end = Int(linear) + count
        guard end <= memory.count else { return nil }
        return Array(memory[Int(linear)..<end])
    }

    func writeMemory(linear: UInt32, bytes: [UInt8]) -> Bool {
        let end = Int(linear) + bytes.count
        guard end <= memory.count else { return false }
        memory.replaceSubrange(Int(linear)..<end, with: bytes)
        return true
    }

    func insertBreakpoint(_ kind: GDBBreakpointKind, address: UInt32, length: Int) -> Bool {
        guard address < 0x10000 else { return false }
        breakpoints.append((kind, address, length))
        return true
    }

    func removeBreakpoint(_ kind: GDBBreakpointKind, address: UInt32, length: Int) -> Bool {
        guard let i = breakpoints.firstIndex(where: { $0.0 == kind && $0.1 == address && $0.2 == length }) else { return false }
        breakpoints.remove(at: i)
        return true
    }

    /// One instruction; a stop event if it ended the run or hit a watchpoint.
    func step() -> GDBStopEvent? {
        let eip = registers[GDBRegister.eip]
        guard eip < 0x10000 else { return .exited(status: 0x7f) }
        let edi = registers[GDBRegister.edi]
        switch memory[Int(eip)] {
        case 0xF4:
            return .exited(status: Int(registers[GDBRegister.eax] & 0xFF))
        case 0xEB:
            history.append((eip, edi, nil, 0))
            return nil
        case 0xAA:
            let a = edi & 0xFFFF
            history.append((eip, edi, a, memory[Int(a)]))
            memory[Int(a)] = UInt8(truncatingIfNeeded: registers[GDBRegister.eax])
            registers[GDBRegister.edi] = edi &+ 1
            registers[GDBRegister.eip] = eip &+ 1
            for (kind, address, length) in breakpoints where kind == .writeWatch || kind == .accessWatch {
                if a >= address && a < address &+ UInt32(length) { return .watchpoint(kind: kind, address: a) }
            }
            return nil
        default:
            history.append((eip, edi, nil, 0))
            registers[GDBRegister.eip] = eip &+ 1
            return nil
        }
    }

    func atBreakpoint() -> Bool {
        let eip = registers[GDBRegister.eip]
        return breakpoints.contains { ($0.0 == .software || $0.0 == .hardware) && $0.1 == eip }
    }

    func resume(_ action: GDBResumeAction, interrupted: () -> Bool) -> GDBStopEvent {
        switch action {
        case .step:
            return step() ?? .stepped
        case .continue:
            var n = 0
            while n < spinLimit {
                if let event = step() { return event }
                if atBreakpoint() { return .breakpoint }
                n += 1
                if n % 1000 == 0 {
                    interruptPolls += 1
                    if interrupted() { return .interrupted }
                }
            }
            return .interrupted
        case .reverseStep:
            return unstep() ? .stepped : .historyStart
        case .reverseContinue:
            while unstep() {
                if atBreakpoint() { return .breakpoint }
            }
            return .historyStart
        }
    }

    func unstep() -> Bool {
        guard let last = history.popLast() else { return false }
        registers[GDBRegister.eip] = last.eip
        registers[GDBRegister.edi] = last.edi
        if let a = last.address { memory[Int(a)] = last.old }
        return true
    }

    func monitor(_ command: String) -> String {
        monitorLog.append(command)
        if command == "regs" { return "eip=\(String(registers[GDBRegister.eip], radix: 16))\n" }
        if command == "big" { return String(repeating: "0123456789", count: 500) + "\n" }
        return "unknown command: \(command)\n"
    }

    func kill() { killed = true }

    /// An FPU after FNINIT and one FLD1, XMM0 = {1, 2, 3, 4} as floats.
    static let sampleFloat = GDBFloatRegisters(
        st: [.init(significand: 1 << 63, signExponent: 0x3FFF)] + Array(repeating: .init(significand: 0, signExponent: 0), count: 7),
        control: [0x037F, 0x3800, 0x3FFF, 0, 0, 0, 0, 0x1E8],
        xmm: [.init(low: 0x4000_0000_3F80_0000, high: 0x4080_0000_4040_0000)] + Array(repeating: .init(low: 0, high: 0), count: 7),
        mxcsr: 0x1F80)

    func readFloatRegisters() -> GDBFloatRegisters? { float }

    func writeFloatRegisters(_ registers: GDBFloatRegisters) -> Bool {
        guard float != nil, !floatReadOnly else { return false }
        float = registers
        floatWrites += 1
        return true
    }
}
