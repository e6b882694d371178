import ELF

/// The guest's symbols and the debugger's address expressions.
///
/// An address is a number (linear; `0x` hex or decimal), `SEL:OFFSET` (a selector and an offset,
/// resolved through the current descriptor caches when the selector is loaded), `phys:ADDR`, or
/// a symbol, each with optional `+N`/`-N` terms (`stack_top-16`, `check+0x10`).
public struct SymbolTable: Sendable {
    public let symbols: [ELF32File.Symbol]
    let byName: [String: UInt32]

    public init(elf: ELF32File?) {
        let list = elf?.symbols ?? []
        symbols = list
        var names: [String: UInt32] = [:]
        // The first definition wins, in address order (deterministic).
        for s in list where names[s.name] == nil { names[s.name] = s.address }
        byName = names
    }

    public func address(of name: String) -> UInt32? { byName[name] }

    /// "name+0x12" for an address inside (or just after) a symbol; functions preferred. nil when
    /// no symbol at or below the address is within 64 KiB.
    public func label(for address: UInt32) -> String? {
        var lo = 0, hi = symbols.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if symbols[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        var i = lo - 1
        guard i >= 0 else { return nil }
        // Among symbols at the same address, the function (or the first name) wins.
        let at = symbols[i].address
        var best = i
        while i >= 0 && symbols[i].address == at {
            if symbols[i].isFunction { best = i }
            i -= 1
        }
        let s = symbols[best]
        let offset = address - s.address
        if s.size > 0 ? offset >= max(s.size, 1) && offset > 0x10000 : offset > 0x10000 { return nil }
        return offset == 0 ? s.name : "\(s.name)+0x\(String(offset, radix: 16))"
    }
}

/// A parsed address expression.
public enum AddressExpression: Equatable, Sendable {
    case linear(UInt32)
    case physical(UInt32)
    /// selector:offset, resolved when evaluated.
    case segmented(selector: UInt16, offset: UInt32)
}

public enum AddressParser {
    /// Parses a number: 0x hex, decimal, or a trailing h is not accepted (one notation).
    public static func number(_ text: String) -> UInt32? {
        let t = text.lowercased()
        if t.hasPrefix("0x") { return UInt32(t.dropFirst(2), radix: 16) }
        if t.hasPrefix("-"), let v = Int64(t), v >= Int64(Int32.min) { return UInt32(truncatingIfNeeded: v) }
        return UInt32(t)
    }

    /// Parses `expr` against the symbols; `registers` resolves `$eax`-style names (and bare
    /// register names such as `esp`). Throws a user-facing message.
    public static func parse(_ expr: String, symbols: SymbolTable,
                             registers: (String) -> UInt32?) throws(DebugError) -> AddressExpression {
        let e = expr.trimmingCharacters(in: " \t")
        guard !e.isEmpty else { throw DebugError("missing address") }
        if e.lowercased().hasPrefix("phys:") {
            return .physical(try sum(String(e.dropFirst(5)), symbols, registers))
        }
        if let colon = e.firstIndex(of: ":") {
            let selText = String(e[..<colon]), offText = String(e[e.index(after: colon)...])
            guard let sel = number(selText) ?? registers(selText.lowercased()), sel <= 0xFFFF else {
                throw DebugError("bad selector '\(selText)' in '\(e)'")
            }
            return .segmented(selector: UInt16(sel), offset: try sum(offText, symbols, registers))
        }
        return .linear(try sum(e, symbols, registers))
    }

    /// term (('+'|'-') term)*, where a term is a number, a symbol or a register.
    static func sum(_ text: String, _ symbols: SymbolTable, _ registers: (String) -> UInt32?) throws(DebugError) -> UInt32 {
        var total: UInt32 = 0
        var sign: UInt32 = 1
        var term = ""
        var terms: [(UInt32, String)] = []
        for ch in text {
            if (ch == "+" || ch == "-") && !term.isEmpty {
                terms.append((sign, term)); term = ""; sign = ch == "+" ? 1 : UInt32.max
            } else if ch == "-" && term.isEmpty && terms.isEmpty {
                sign = UInt32.max
            } else if ch != " " {
                term.append(ch)
            }
        }
        guard !term.isEmpty else { throw DebugError("bad address '\(text)'") }
        terms.append((sign, term))
        for (s, t) in terms {
            let v: UInt32
            if let n = number(t) { v = n }
            else if let r = registers(t.hasPrefix("$") ? String(t.dropFirst()).lowercased() : t.lowercased()) { v = r }
            else if let a = symbols.address(of: t) { v = a }
            else { throw DebugError("no symbol '\(t)' in the guest (and not a number or register)") }
            total = total &+ (s == 1 ? v : 0 &- v)
        }
        return total
    }
}

/// A user-facing debugger error: printed as one line, the session goes on.
public struct DebugError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
