import VMM
import X86Core

/// One breakpoint of the session: what stops the guest, and an optional condition.
public struct Breakpoint: Sendable {
    public enum Kind: Sendable, Equatable {
        /// Before the instruction at this linear address executes.
        case address(UInt32)
        /// After a VM exit with this basic reason (nil: any exit).
        case exit(VMExitReason?)
        /// After an exception with this vector is delivered or a page fault is handled
        /// (hidden or delivered); nil: any fault.
        case fault(UInt8?)
        /// After an IN/OUT to this port.
        case io(UInt16)
        /// After the guest's CR3 changes.
        case cr3
        /// After an access to the watched range.
        case watch(OwnerWatch)
    }

    public let id: Int
    public var kind: Kind
    public var condition: Condition? = nil
    public var hits = 0
    /// The text the user typed (for `info breakpoints`).
    public var text: String

    var description: String {
        var s = "\(id)  "
        switch kind {
        case .address(let a): s += "break  \(hex8(a))"
        case .exit(let r): s += "exit   \(r?.name ?? "any")"
        case .fault(let v): s += "fault  \(v.map { Vector.name($0) } ?? "any")"
        case .io(let p): s += "io     port 0x\(String(p, radix: 16))"
        case .cr3: s += "cr3    any change of the guest's CR3"
        case .watch(let w): s += "watch  \(w.reads && w.writes ? "rw" : w.writes ? "w " : "r ") \(hex8(w.address)) len \(w.length)"
        }
        if text != "" { s += "  (\(text))" }
        if let c = condition { s += "  if \(c.text)" }
        s += "  hits \(hits)"
        return s
    }
}

/// `condition N EXPR`: a register (or `icount`, `cpl`) compared with a number.
public struct Condition: Sendable {
    public let text: String
    let operand: String
    let op: String
    let value: UInt32

    public init(_ text: String) throws(DebugError) {
        let t = text.trimmingCharacters(in: " ")
        let chars = Array(t)
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            let o = Array(op)
            if let at = (0...max(0, chars.count - o.count)).first(where: { chars.count >= o.count && Array(chars[$0..<$0 + o.count]) == o }) {
                let lhs = String(chars[..<at]).trimmingCharacters(in: " ").lowercased()
                let rhs = String(chars[(at + o.count)...]).trimmingCharacters(in: " ")
                guard RegisterFile.names.contains(lhs.hasPrefix("$") ? String(lhs.dropFirst()) : lhs) else {
                    throw DebugError("bad condition '\(text)': '\(lhs)' is not a register (eax…edi, eip, eflags, cs…gs, cr0…cr4, cpl, icount)")
                }
                guard let v = AddressParser.number(rhs) else { throw DebugError("bad condition '\(text)': '\(rhs)' is not a number") }
                self.text = t
                operand = lhs.hasPrefix("$") ? String(lhs.dropFirst()) : lhs
                self.op = op
                value = v
                return
            }
        }
        throw DebugError("bad condition '\(text)' (use e.g. 'eax == 0x10')")
    }

    func holds(_ registers: (String) -> UInt32?) -> Bool {
        guard let v = registers(operand) else { return false }
        switch op {
        case "==": return v == value
        case "!=": return v != value
        case "<": return v < value
        case ">": return v > value
        case "<=": return v <= value
        default: return v >= value
        }
    }
}

func hex8(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
