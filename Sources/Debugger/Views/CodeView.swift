import X86Core
import X86Decode

/// `disas` and `x/i`: our disassembler over guest memory read through the guest's tables,
/// `symbol+offset` labels, the current instruction marked `=>`, and each instruction's
/// Popek–Goldberg class from the opcode table.
enum CodeView {
    /// The class column, from the one opcode table's Popek–Goldberg column (`x86v audit --table`
    /// has the reasons): `innocuous`, `privileged` (`privileged if CPL > IOPL` when conditional),
    /// `HOLE: control-sensitive` / `HOLE: behaviour-sensitive`, or the class of a sensitive
    /// instruction that is not a hole.
    static func popekGoldberg(_ d: DecodedInstruction) -> String {
        guard let pg = OpcodeTable.rows[Int(d.row)].popekGoldberg else { return "innocuous" }
        if pg.hole { return "HOLE: \(pg.class.rawValue)" }
        if pg.class == .privileged, let condition = pg.condition, pg.trap == .gp {
            // The predicate only: "CR4.TSD = 1 (clear: …)" → "privileged if CR4.TSD = 1".
            var predicate = condition.prefix { $0 != "(" }
            while predicate.last == " " { predicate = predicate.dropLast() }
            return "privileged if \(predicate)"
        }
        return pg.class.rawValue
    }

    static func disassemble(_ s: DebugSession, at start: UInt32, count: Int, physical: Bool = false) -> String {
        let mem = s.guestMemory
        let st = s.cpu.statePointer.pointee
        let current = st.segments[1].base &+ st.eip
        let big = st.segments[1].big
        let dis = Disassembler()
        var out = ""
        var address = start
        for _ in 0..<max(1, count) {
            if let label = s.symbols.label(for: address), !label.contains("+") { out += "\(label):\n" }
            var bytes = [UInt8]()
            for i in 0..<16 {
                guard let b = mem.read(address &+ UInt32(i), count: 1, physical: physical) else { break }
                bytes.append(b[0])
            }
            let marker = !physical && address == current ? "=> " : "   "
            guard !bytes.isEmpty else {
                out += "\(marker)\(hex8(address))  (not mapped in the guest's page tables)\n"
                break
            }
            var d = DecodedInstruction()
            let status = bytes.withUnsafeBufferPointer {
                Decoder().decode($0.baseAddress!, count: $0.count, mode: big ? .bits32 : .bits16, into: &d)
            }
            let label = s.symbols.label(for: address).map { " <\($0)>" } ?? ""
            guard status == .ok else {
                out += "\(marker)\(hex8(address))\(label)  \(hex2(bytes[0]))  (bad)\n"
                address &+= 1
                continue
            }
            let raw = bytes.prefix(Int(d.length)).map(hex2).joined(separator: " ")
            let text = dis.text(d, address: address)
            out += "\(marker)\(hex8(address))\(label)  \(raw.padding(30))\(text.padding(36)) ; \(popekGoldberg(d))\n"
            address &+= UInt32(d.length)
        }
        return out
    }
}

/// `x/FMT ADDR`: N units of b (byte), w (word, 2), d (dword, 4) in x (hex), d (decimal), u
/// (unsigned), a (ascii), or i (instructions).
enum MemoryView {
    static func examine(_ s: DebugSession, format: String, address: UInt32, physical: Bool) throws(DebugError) -> String {
        var count = 1
        var unit = 4
        var style: Character = "x"
        var digits = ""
        for ch in format {
            if ch.isNumber { digits.append(ch); continue }
            switch ch {
            case "b": unit = 1
            case "w": unit = 2
            case "d" where digits.isEmpty && format.firstIndex(of: ch) == format.startIndex: style = "d"
            case "x", "u", "a", "i", "c": style = ch
            case "d": unit = 4
            case "s": style = "a"
            default: throw DebugError("bad x format '\(format)' (N then b/w/d and x/d/u/a/i, e.g. x/4x, x/16bx, x/8i)")
            }
        }
        if !digits.isEmpty {
            guard let n = Int(digits), n > 0, n <= 4096 else { throw DebugError("bad count in x/\(format) (1–4096)") }
            count = n
        }
        if style == "i" { return CodeView.disassemble(s, at: address, count: count, physical: physical) }
        if style == "a" || style == "c" { unit = 1 }
        let mem = s.guestMemory
        guard let bytes = mem.read(address, count: count * unit, physical: physical) else {
            // Say which byte is the first unavailable one.
            var first = address
            for i in 0..<(count * unit) where mem.read(address &+ UInt32(i), count: 1, physical: physical) == nil {
                first = address &+ UInt32(i); break
            }
            throw DebugError("cannot read \(physical ? "physical" : "linear") \(hex8(first)): " +
                             (physical ? "not guest RAM" : "not mapped in the guest's page tables (or not RAM)"))
        }
        let perLine = style == "a" ? 16 : 16 / unit
        var out = ""
        for lineStart in stride(from: 0, to: count, by: perLine) {
            let a = address &+ UInt32(lineStart * unit)
            out += (physical ? "phys:" : "") + hex8(a) + (s.symbols.label(for: a).map { " <\($0)>" } ?? "") + ":"
            if style == "a" {
                let chunk = bytes[lineStart..<min(count, lineStart + perLine)]
                out += "  \"" + chunk.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "." }.joined() + "\"\n"
                continue
            }
            for i in lineStart..<min(count, lineStart + perLine) {
                var v: UInt32 = 0
                for k in 0..<unit { v |= UInt32(bytes[i * unit + k]) << (8 * k) }
                switch style {
                case "d": out += " " + String(unit == 4 ? Int64(Int32(bitPattern: v)) : unit == 2 ? Int64(Int16(truncatingIfNeeded: v)) : Int64(Int8(truncatingIfNeeded: v)))
                case "u": out += " " + String(v)
                default:
                    let h = String(v, radix: 16)
                    out += " 0x" + String(repeating: "0", count: max(0, unit * 2 - h.count)) + h
                }
            }
            out += "\n"
        }
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
