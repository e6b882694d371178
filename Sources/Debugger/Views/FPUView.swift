import X86Core
import X86Decode

/// `fpu` and `sse`: the x87 unit (the stack as ST0–ST7 with the physical register, its tag, the
/// 80-bit pattern and the value; FCW, FSW and FTW decoded; FOP, FIP and FDP), the MMX registers
/// when the x87 unit is in MMX state, and XMM0–XMM7 with MXCSR. What changed since the previous
/// stop is marked `*`, as in `regs`. Sources: SDM Vol. 1 §8.1 (x87 state), §9.2 (MMX aliasing),
/// §10.2 (XMM, MXCSR).
enum FPUView {
    static let exceptionNames = ["IE", "DE", "ZE", "OE", "UE", "PE"]
    static let tagNames = ["valid", "zero", "special", "empty"]

    // MARK: fpu

    /// `mmx`: true shows MM0–MM7 always, false never, nil when the state says MMX code ran
    /// (TOP = 0, every tag valid, some register with the all-ones exponent an MMX write leaves).
    static func render(_ s: DebugSession, colour: Bool, mmx: Bool?) -> String {
        let f = s.cpu.statePointer.pointee.fpu
        let p = s.previousFPU
        func mark(_ changed: Bool, _ text: String) -> String { FPUView.mark(changed, text, colour: colour) }
        var out = mark(f.control != p.control, "FCW \(hex4(f.control))") + " " + controlText(f.control) + "\n"
        out += mark(f.status != p.status, "FSW \(hex4(f.status))") + " " + statusText(f.status) + "\n"
        out += mark(f.tags != p.tags, "FTW \(hex4(f.tags))") + " (abridged, as FXSAVE stores it: 0x" + hexDigits(UInt64(abridged(f.tags)), 2) + ")\n"
        out += "      reg  tag      exp  significand       value\n"
        let top = Int(f.status >> 11) & 7, oldTop = Int(p.status >> 11) & 7
        let mmxState = inMMXState(f)
        for i in 0..<8 {
            let r = (top + i) & 7, old = (oldTop + i) & 7
            let tag = Int(f.tags >> (2 * UInt16(r))) & 3
            let changed = f.registers[r] != p.registers[old] || tag != Int(p.tags >> (2 * UInt16(old))) & 3
            var line = " " + mark(changed, "ST\(i)  R\(r)   " + ViewSupport.pad(tagNames[tag], 8) + " " + X87Value.pattern(f.registers[r]))
            if tag != 3 {
                line += " " + X87Value.text(f.registers[r])
                // A tag that disagrees with the contents (FLDENV/FXRSTOR recompute it; MMX
                // instructions set every tag valid, so not worth a note then).
                let computed = X87Value.kind(f.registers[r]).tag
                if computed != UInt16(tag) && !mmxState { line += "  (contents are \(tagNames[Int(computed)]))" }
            }
            out += trimmed(line) + "\n"
        }
        let noneYet = f.lastOpcode == 0 && f.instructionPointer == 0 && f.instructionSelector == 0
            && f.operandPointer == 0 && f.operandSelector == 0
        out += mark(f.lastOpcode != p.lastOpcode, "FOP 0x" + hexDigits(UInt64(f.lastOpcode), 3))
        out += noneYet ? " (no x87 instruction recorded yet)" : " (" + opcodeText(f.lastOpcode) + ")"
        var fip = "FIP \(hex4(f.instructionSelector)):\(hex8(f.instructionPointer))"
        // The symbol, when FCS is the code segment loaded now (its base is known).
        let cs = s.cpu.statePointer.pointee.segments[1]
        if !noneYet && cs.selector == f.instructionSelector, let label = s.symbols.label(for: cs.base &+ f.instructionPointer) {
            fip += " <\(label)>"
        }
        out += "  " + mark(f.instructionPointer != p.instructionPointer || f.instructionSelector != p.instructionSelector, fip)
        out += " " + mark(f.operandPointer != p.operandPointer || f.operandSelector != p.operandSelector,
                          "FDP \(hex4(f.operandSelector)):\(hex8(f.operandPointer))")
        out = trimmed(out) + "\n"
        if f.ignoreNumericError { out += "IGNNE# asserted (port 0xF0 written): waiting instructions run past the pending error\n" }
        if mmx ?? mmxState {
            out += "MMX (MMn is the significand of physical register Rn)" + (mmx == nil ? ": the x87 unit is in MMX state (TOP 0, all tags valid)" : "") + "\n"
            for row in 0..<4 {
                out += trimmed((0..<2).map { k -> String in
                    let n = row * 2 + k
                    return " " + mark(f.registers[n].significand != p.registers[n].significand,
                                      "mm\(n)  0x" + hexDigits(f.registers[n].significand, 16))
                }.joined(separator: "  ")) + "\n"
            }
        }
        return out
    }

    /// `regs`' marking: `*` after a changed value (bold on a terminal), a space after the others
    /// so columns stay put.
    static func mark(_ changed: Bool, _ text: String, colour: Bool) -> String {
        guard changed else { return text + " " }
        return colour ? "\u{1B}[1;33m\(text)\u{1B}[0m*" : text + "*"
    }

    static func trimmed(_ line: String) -> String {
        var l = Substring(line)
        while l.last == " " { l = l.dropLast() }
        return String(l)
    }

    /// After an MMX instruction TOP is 0 and every tag valid, and a written MMn has exponent
    /// 0xFFFF (SDM Vol. 1 §9.5.1); EMMS empties every tag.
    static func inMMXState(_ f: FPUState) -> Bool {
        guard f.tags == 0, f.status & 0x3800 == 0 else { return false }
        return (0..<8).contains { f.registers[$0].signExponent == 0xFFFF }
    }

    /// FCW: exception masks, precision control, rounding control (SDM Vol. 1 §8.1.5).
    static func controlText(_ c: UInt16) -> String {
        let masked = (0..<6).filter { c & (1 << UInt16($0)) != 0 }.map { exceptionNames[$0] }
        let unmasked = (0..<6).filter { c & (1 << UInt16($0)) == 0 }.map { exceptionNames[$0] }
        var out = "masked " + (masked.isEmpty ? "none" : masked.joined(separator: " "))
        if !unmasked.isEmpty { out += ", unmasked " + unmasked.joined(separator: " ") }
        let pc = ["24-bit (single)", "reserved", "53-bit (double)", "64-bit (extended)"][Int(c >> 8) & 3]
        out += "  PC \(pc)  RC " + roundingName(Int(c >> 10) & 3)
        if c & 0x1000 != 0 { out += "  X 1" }
        return out
    }

    static func roundingName(_ rc: Int) -> String {
        ["nearest", "down (toward -inf)", "up (toward +inf)", "toward zero"][rc]
    }

    /// FSW: TOP, condition codes, exception flags, SF, ES, B (SDM Vol. 1 §8.1.3).
    static func statusText(_ s: UInt16) -> String {
        let flags = (0..<6).filter { s & (1 << UInt16($0)) != 0 }.map { exceptionNames[$0] }
        func bit(_ n: UInt16) -> Int { Int(s >> n) & 1 }
        return "TOP \(Int(s >> 11) & 7)  C3 \(bit(14)) C2 \(bit(10)) C1 \(bit(9)) C0 \(bit(8))  flags "
            + (flags.isEmpty ? "none" : flags.joined(separator: " ")) + "  SF \(bit(6))  ES \(bit(7))  B \(bit(15))"
    }

    /// The FXSAVE form of the tag word: bit i set when Ri is not empty.
    static func abridged(_ tags: UInt16) -> UInt8 {
        var a: UInt8 = 0
        for i in 0..<8 where (tags >> (2 * UInt16(i))) & 3 != 3 { a |= 1 << UInt8(i) }
        return a
    }

    /// FOP's 11 bits are the instruction's two opcode bytes without the escape's five fixed bits
    /// (SDM Vol. 1 §8.1.9): `d9 e8: fld1`; a memory form as `dd /0: fld qword ptr [m]`.
    static func opcodeText(_ fop: UInt16) -> String {
        let escape = UInt8(0xD8 | (fop >> 8) & 7), modrm = UInt8(fop & 0xFF)
        var bytes: [UInt8]
        let head: String
        if modrm >= 0xC0 {
            bytes = [escape, modrm]
            head = hex2(escape) + " " + hex2(modrm)
        } else {
            // mod 00, rm 101: a bare disp32 of 0, printed as [m].
            bytes = [escape, (modrm & 0x38) | 0x05, 0, 0, 0, 0]
            head = hex2(escape) + " /\((modrm >> 3) & 7)"
        }
        var d = DecodedInstruction()
        let ok = bytes.withUnsafeBufferPointer { Decoder().decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &d) == .ok }
        guard ok else { return head }
        var text = Disassembler().text(d, address: 0)
        if modrm < 0xC0 { text = text.replacing("[0]", with: "[m]") }
        return head + ": " + text
    }

    // MARK: sse

    /// How `sse` shows each register besides its hex: lanes of one type, lane 0 first (GDB's
    /// `p $xmm0` union members), or the default float and double lines.
    enum Lanes: String, CaseIterable {
        case both = "", f32, f64, i8, i16, i32, i64, u8, u16, u32, u64, hex
    }

    static func renderSSE(_ s: DebugSession, colour: Bool, lanes: Lanes) -> String {
        let f = s.cpu.statePointer.pointee.fpu
        let p = s.previousFPU
        func mark(_ changed: Bool, _ text: String) -> String { FPUView.mark(changed, text, colour: colour) }
        var out = mark(f.mxcsr != p.mxcsr, "MXCSR \(hex8(f.mxcsr))") + " " + mxcsrText(f.mxcsr) + "\n"
        for i in 0..<8 {
            let x = f.xmm[i]
            let value = hexDigits(x.high >> 32, 8) + "_" + hexDigits(x.high, 8) + "_" + hexDigits(x.low >> 32, 8) + "_" + hexDigits(x.low, 8)
            var line = mark(x != p.xmm[i], "xmm\(i)  0x" + value)
            if lanes != .both && lanes != .hex { line += " " + laneText(x, lanes) }
            out += trimmed(line) + "\n"
            if lanes == .both { out += "       " + laneText(x, .f32) + "  " + laneText(x, .f64) + "\n" }
        }
        return out
    }

    /// `f32 {lane0, lane1, …}`.
    static func laneText(_ x: XMMRegister, _ lanes: Lanes) -> String {
        let bits: Int
        switch lanes {
        case .f32, .i32, .u32: bits = 32
        case .f64, .i64, .u64: bits = 64
        case .i8, .u8: bits = 8
        case .i16, .u16: bits = 16
        case .both, .hex: return ""
        }
        var values: [String] = []
        for k in 0..<(128 / bits) {
            let half = k * bits < 64 ? x.low : x.high
            let shift = UInt64((k * bits) % 64)
            let raw = bits == 64 ? half : (half >> shift) & ((1 << UInt64(bits)) - 1)
            switch lanes {
            case .f32: values.append(X87Value.single(UInt32(raw)))
            case .f64: values.append(X87Value.double(raw))
            case .i8: values.append(String(Int8(truncatingIfNeeded: raw)))
            case .i16: values.append(String(Int16(truncatingIfNeeded: raw)))
            case .i32: values.append(String(Int32(truncatingIfNeeded: raw)))
            case .i64: values.append(String(Int64(bitPattern: raw)))
            default: values.append("0x" + hexDigits(raw, bits / 4))
            }
        }
        return lanes.rawValue + " {" + values.joined(separator: ", ") + "}"
    }

    /// MXCSR: flags, DAZ, masks, rounding, FZ (SDM Vol. 1 §10.2.3).
    static func mxcsrText(_ m: UInt32) -> String {
        let flags = (0..<6).filter { m & (1 << UInt32($0)) != 0 }.map { exceptionNames[$0] }
        let masked = (0..<6).filter { m & (1 << UInt32($0 + 7)) != 0 }.map { exceptionNames[$0] }
        let unmasked = (0..<6).filter { m & (1 << UInt32($0 + 7)) == 0 }.map { exceptionNames[$0] }
        var out = "masked " + (masked.isEmpty ? "none" : masked.joined(separator: " "))
        if !unmasked.isEmpty { out += ", unmasked " + unmasked.joined(separator: " ") }
        out += "  RC " + roundingName(Int(m >> 13) & 3) + "  FZ \((m >> 15) & 1)  DAZ \((m >> 6) & 1)  flags "
            + (flags.isEmpty ? "none" : flags.joined(separator: " "))
        return out
    }

    // MARK: regs

    /// One line for `regs` naming the x87/SSE registers that changed since the previous stop,
    /// nil when none did (integer code sees no new line).
    static func changes(_ s: DebugSession) -> String? {
        let f = s.cpu.statePointer.pointee.fpu
        let p = s.previousFPU
        guard f != p else { return nil }
        var names: [String] = []
        let top = Int(f.status >> 11) & 7, oldTop = Int(p.status >> 11) & 7
        for i in 0..<8 {
            let r = (top + i) & 7, old = (oldTop + i) & 7
            if f.registers[r] != p.registers[old] || (f.tags >> (2 * UInt16(r))) & 3 != (p.tags >> (2 * UInt16(old))) & 3 {
                names.append("st\(i)")
            }
        }
        if f.control != p.control { names.append("fcw") }
        if f.status != p.status { names.append("fsw") }
        if f.tags != p.tags { names.append("ftw") }
        if f.lastOpcode != p.lastOpcode { names.append("fop") }
        if f.instructionPointer != p.instructionPointer || f.instructionSelector != p.instructionSelector { names.append("fip") }
        if f.operandPointer != p.operandPointer || f.operandSelector != p.operandSelector { names.append("fdp") }
        for i in 0..<8 where f.xmm[i] != p.xmm[i] { names.append("xmm\(i)") }
        if f.mxcsr != p.mxcsr { names.append("mxcsr") }
        if names.isEmpty { return nil }   // IGNNE# alone
        return "x87/SSE changed: " + names.joined(separator: " ") + "  (fpu, sse to see them)"
    }
}
