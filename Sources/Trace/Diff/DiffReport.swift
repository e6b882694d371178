import X86Decode

/// The text `x86v trace diff` and `x86v lockstep` print.
public struct DiffReport {
    let result: TraceDiff.Result
    let aName: String
    let bName: String
    let disassembler = Disassembler()
    let decoder = Decoder()

    public init(result: TraceDiff.Result, aName: String, bName: String) {
        self.result = result
        self.aName = aName
        self.bName = bName
    }

    public func render() -> String {
        var out = ""
        if let d = result.divergence {
            if let rule = result.stoppedBy {
                out += "comparison stopped at A step n=\(d.a.index) / B step \(d.bPosition) under rule \(rule.id) (\(rule.section)):\n"
                out += "  \(rule.summary)\n"
                out += "identical up to there: \(result.compared) instructions compared\n"
            } else {
                out += "first divergence after \(result.compared) identical instructions: A step n=\(d.a.index), B step n=\(d.b.index) (its \(ordinal(d.bPosition + 1)) instruction)\n"
            }
            out += "  A \(aName): \(stepLine(d.a))\n"
            out += "  B \(bName): \(stepLine(d.b))\n"
            if let note = d.note { out += "  \(note)\n" }
            for (f, x, y) in d.fields {
                out += "  \(pad(f.name, 6)) A \(value(f, x))  B \(value(f, y))"
                if f == .eflags { out += "  (differ: \(flagNames(x ^ y)))" }
                out += "\n"
            }
            for (f, x, y) in d.fpuFields {
                out += "  \(pad(f.name, 6)) A \(fpuHex(x, digits: f.digits))  B \(fpuHex(y, digits: f.digits))\n"
            }
            if !d.masked.isEmpty {
                out += "  masked at this point: " + d.masked.map { "\($0.0.name) (\($0.1.id))" }.joined(separator: ", ") + "\n"
            }
            out += "the \(d.contextA.count) instructions before, A (\(aName)):\n"
            for s in d.contextA { out += "    \(stepLine(s))\(changes(s))\n" }
            out += "the \(d.contextB.count) instructions before, B (\(bName)):\n"
            for s in d.contextB { out += "    \(stepLine(s))\(changes(s))\n" }
        } else {
            out += "identical: \(result.compared) instructions compared"
            out += result.endedFirst.isEmpty ? " (both runs ended together)\n" : " (to the end of the shorter: \(result.endedFirst) \(result.endedFirst == "A" ? aName : bName) ended first)\n"
        }
        var notes: [String] = []
        if result.collapsedA + result.collapsedB > 0 {
            notes.append("REP iterations folded: A \(result.collapsedA), B \(result.collapsedB)")
        }
        if result.skippedA + result.skippedB > 0 {
            notes.append("steps skipped to resynchronise: A \(result.skippedA), B \(result.skippedB)")
        }
        if !notes.isEmpty { out += notes.joined(separator: "; ") + "\n" }
        if result.fpuComparisons > 1 {
            out += "x87/SSE state compared at \(result.fpuComparisons) points (the start and after each change)\n"
        }
        if !result.fpuMissing.isEmpty {
            let side = result.fpuMissing == "A" ? aName : bName
            out += "x87/SSE state not compared: \(result.fpuMissing) (\(side)) does not record it (a QEMU log without -d fpu, or a version-1 trace)\n"
        }
        if result.applied.isEmpty {
            out += "no rule applied\n"
        } else {
            let list = DiffRules.all.compactMap { r in result.applied[r.id].map { "\(r.id) ×\($0)" } }
            out += "rules applied: " + list.joined(separator: ", ") + " (docs/lockstep.md lists each with its SDM section)\n"
        }
        return out
    }

    func ordinal(_ n: UInt64) -> String {
        let suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th" : n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd" : "th"
        return "\(n)\(suffix)"
    }

    func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }

    func value(_ f: TraceField, _ v: UInt32) -> String {
        f.isSelector ? hex4(UInt16(truncatingIfNeeded: v)) : hex8(v)
    }

    func stepLine(_ s: TraceStep) -> String {
        var line = "n=\(s.index) \(hex4(s.before.cs)):\(hex8(s.before.eip))"
        if !s.bytes.isEmpty {
            var d = DecodedInstruction()
            let ok = s.bytes.withUnsafeBufferPointer { decoder.decode($0.baseAddress!, count: $0.count, mode: .bits32, into: &d) == .ok }
            if ok {
                let (_, total) = disassembler.format(d, address: s.before.eip)
                line += "  " + String(decoding: UnsafeBufferPointer(start: disassembler.buffer, count: total), as: UTF8.self)
            } else {
                line += "  (bytes " + s.bytes.map { String($0, radix: 16) }.joined(separator: " ") + ")"
            }
        }
        for e in s.events where e.isDelivery {
            line += "  [\(e.kind.name) \(e.vector)\(e.errorCode.map { " error \(hex8($0))" } ?? "")]"
        }
        return line
    }

    func changes(_ s: TraceStep) -> String {
        guard let after = s.after else { return "" }
        var parts = TraceField.allCases.filter { $0 != .eip && after[$0] != s.before[$0] }.map { "\($0.name)=\(value($0, after[$0]))" }
        if s.changedFPU, let b = s.fpu?.state, let a = s.fpuAfter?.state {
            parts += TraceFPUField.allCases.filter { a[trace: $0] != b[trace: $0] }.map { "\($0.name)=\(fpuHex(a[trace: $0], digits: $0.digits))" }
        }
        return parts.isEmpty ? "" : "   ; " + parts.joined(separator: " ")
    }
}

/// "ZF SF" for EFLAGS bits.
func flagNames(_ bits: UInt32) -> String {
    let names: [(UInt32, String)] = [(0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"), (10, "DF"),
                                     (11, "OF"), (12, "IOPL0"), (13, "IOPL1"), (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"),
                                     (19, "VIF"), (20, "VIP"), (21, "ID")]
    let list = names.filter { bits & (1 << $0.0) != 0 }.map { $0.1 }
    return list.isEmpty ? "none" : list.joined(separator: " ")
}
