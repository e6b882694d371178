import ShadowMMU
import X86Core
import X86Decode
#if canImport(Glibc)
import Glibc
#endif

/// `--trace-exits FILE`: one JSON object per exit (schema in docs/formats.md). Only virtual
/// quantities (instruction counts, guest state) appear, so two runs give identical files.
public final class ExitTrace {
    private let file: UnsafeMutablePointer<FILE>
    private let disassembler = Disassembler()
    /// The last `seq` written: a run resumed from a snapshot continues the numbering.
    public var sequence: UInt64 = 0

    public init?(path: String) {
        guard let f = fopen(path, "w") else { return nil }
        file = f
    }

    deinit { fclose(file) }

    public func close() { fflush(file) }

    /// `mode`: the guest's operating mode and CS selector when it is not in protected mode
    /// (real-address or virtual-8086 mode, where EIP alone does not say where it is).
    func write(_ exit: VMExit, mode: (name: String, cs: UInt16)? = nil) {
        sequence &+= 1
        var line = "{\"seq\":\(sequence),\"icount\":\(exit.instructionCount),\"reason\":\"\(exit.reason.name)\",\"basic_reason\":\(exit.reason.rawValue),\"eip\":\"\(hex(exit.eip))\""
        if let m = mode { line += ",\"mode\":\"\(m.name)\",\"cs\":\"\(hex(UInt32(m.cs), digits: 4))\"" }
        if let d = exit.instruction, d.length > 0 {
            line += ",\"insn\":\"\(disassembler.text(d, address: exit.eip))\""
        }
        line += ",\"qual\":\(Self.qualification(exit.qualification)),\"action\":\"\(exit.action)\"}\n"
        fputs(line, file)
    }

    static func qualification(_ q: VMExit.Qualification) -> String {
        switch q {
        case .none:
            return "{}"
        case .io(let a):
            var s = "{\"port\":\"\(hex(UInt32(a.port), digits: 4))\",\"size\":\(a.size),\"dir\":\"\(a.isIn ? "in" : "out")\",\"string\":\(a.isString),\"rep\":\(a.isRep)"
            if !a.isIn { s += ",\"value\":\"\(hex(a.value, digits: Int(a.size) * 2))\"" }
            return s + "}"
        case .controlRegister(let n, let access, let reg, let value):
            var s = "{\"cr\":\(n),\"access\":\"\(access.rawValue)\""
            if let r = reg { s += ",\"gpr\":\"\(registerNames[r])\"" }
            return s + ",\"value\":\"\(hex(value))\"}"
        case .exception(let v, let code, let cr2):
            var s = "{\"vector\":\(v),\"name\":\"\(Vector.name(v))\""
            if let c = code { s += ",\"error_code\":\"\(hex(c))\"" }
            if let a = cr2 { s += ",\"cr2\":\"\(hex(a))\"" }
            return s + "}"
        case .timer(let deadline):
            return "{\"timer_deadline_ns\":\(deadline)}"
        case .linearAddress(let a):
            return "{\"linear_address\":\"\(hex(a))\"}"
        case .msr(let index, let value):
            var s = "{\"msr\":\"\(hex(index))\""
            if let v = value { s += ",\"value\":\"0x\(String(v, radix: 16))\"" }
            return s + "}"
        case .cpuid(let leaf, let sub):
            return "{\"leaf\":\"\(hex(leaf))\",\"subleaf\":\"\(hex(sub))\"}"
        case .mmio(let device, let address, let size, let isWrite, let value):
            return "{\"device\":\"\(device)\",\"address\":\"\(hex(address))\",\"size\":\(size),\"dir\":\"\(isWrite ? "write" : "read")\",\"value\":\"\(hex(value))\"}"
        case .taskSwitch(let selector, let source):
            return "{\"selector\":\"\(hex(UInt32(selector), digits: 4))\",\"source\":\"\(source.name)\"}"
        case .vector(let v):
            return "{\"vector\":\(v)}"
        }
    }

    static let registerNames = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
}
