import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// `--trace-faults FILE`: one JSON line per page fault (schema in docs/formats.md): when (retired
/// instructions), where (EIP, CR2), the error code, the guest PDE/PTE the walk saw, whether the
/// guest saw it ("delivered") or only the shadow MMU did ("hidden"), and what was done.
/// Deterministic: guest-visible quantities only.
public final class FaultTrace {
    private let file: UnsafeMutablePointer<FILE>
    /// The last `seq` written and the delivered faults among them: a run resumed from a
    /// snapshot continues the numbering.
    public var sequence: UInt64 = 0
    public var delivered: UInt64 = 0

    public init?(path: String) {
        guard let f = fopen(path, "w") else { return nil }
        file = f
    }

    deinit { fclose(file) }

    public func close() { fflush(file) }

    public func record(cpu: CPU, linear: UInt32, errorCode: UInt32, walk: GuestPageWalk?, hidden: Bool,
                       action: String) {
        sequence &+= 1
        if !hidden { delivered &+= 1 }
        let st = cpu.statePointer.pointee
        var line = "{\"seq\":\(sequence),\"icount\":\(st.instructions),\"eip\":\"\(hex(st.currentEIP))\",\"cr2\":\"\(hex(linear))\",\"error_code\":\"\(hex(errorCode, digits: 1))\""
        if let w = walk {
            line += ",\"pde\":\"\(hex(w.pde))\""
            if let pte = w.pte { line += ",\"pte\":\"\(hex(pte))\"" }
        }
        line += ",\"kind\":\"\(hidden ? "hidden" : "delivered")\",\"action\":\"\(action)\"}\n"
        fputs(line, file)
    }

    /// Without a VMM (or with the direct MMU): every fault the CPU's walker raises is the
    /// guest's; record it and let it be delivered unchanged.
    public func attach(to cpu: CPU) {
        cpu.pageFaultHandler = { [unowned self, unowned cpu] linear, code in
            let walk = GuestPageWalk.Controls(cpu: cpu).map {
                GuestPageWalk.walk(cpu.memory, $0, linear: linear, write: code & 2 != 0, user: code & 4 != 0)
            }
            self.record(cpu: cpu, linear: linear, errorCode: code, walk: walk, hidden: false, action: "deliver")
            return .deliver(errorCode: code)
        }
    }
}

/// "0x" and `digits` hex digits (at least), as the JSON traces write addresses.
package func hex(_ v: UInt32, digits: Int = 8) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
}
