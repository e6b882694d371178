import X86Core
import X86Decode

/// Writes a trace in one of the two forms docs/formats.md describes: JSON lines (one object per
/// step, for people and scripts) or the compact binary form (for long runs; `x86v trace print`
/// turns it into JSON lines). Both start with a header naming the guest and configuration and
/// end with an end record holding the step count, so a cut file is told from a complete one.
public final class TraceWriter {
    public enum Format: String, Sendable, CaseIterable {
        case jsonl, bin
    }

    public let format: Format
    let sink: ByteSink
    let disassembler = Disassembler()
    let decoder = Decoder()
    /// Binary: the index of the last step written (indices are written as deltas).
    var lastIndex: UInt64 = 0

    /// `guest`, `config`: free text recorded in the header (the diff prints them).
    public init(path: String, format: Format, guest: String, config: String) throws(TraceInputError) {
        self.format = format
        sink = try ByteSink(path: path)
        switch format {
        case .jsonl:
            sink.text("{\"x86v-trace\":\(TraceFormat.version),\"guest\":")
            jsonString(guest)
            sink.text(",\"config\":")
            jsonString(config)
            sink.text("}\n")
        case .bin:
            sink.bytes(UnsafeRawBufferPointer(start: TraceFormat.magic, count: TraceFormat.magic.count))
            sink.u32(UInt32(TraceFormat.version))
            let meta = Array("\(guest)\n\(config)".utf8.prefix(0xFFFF))
            sink.u32(UInt32(meta.count))
            meta.withUnsafeBytes { sink.bytes($0) }
        }
    }

    // MARK: Steps

    /// One step. `instruction`: the decoded `bytes` (JSON lines print its disassembly).
    /// `fullState`: the first step written, or the first after a gap the filter left: the
    /// reader cannot follow registers across it, so this one restates them all.
    /// `fpu`: the x87/SSE state before the step, given when the step restates the whole state or
    /// changed the FPU (otherwise nil: nothing to write); `fpuAfter`: the state after, given only
    /// when it differs.
    func step(index: UInt64, before: TraceRegisters, after: TraceRegisters, linear: UInt32, physical: UInt32?,
              bytes: UnsafeRawBufferPointer, instruction: DecodedInstruction?, writes: [TracedWrite],
              events: [TraceEvent], fullState: Bool, fpu: FPUState? = nil, fpuAfter: FPUState? = nil) {
        // The whole FPU is restated only when it is not the power-on state (readers assume that).
        let fullFPU = fullState && fpu.map { $0 != FPUState.traceDefault } ?? false
        var fpuMask: UInt32 = 0
        if let b = fpu, let a = fpuAfter { fpuMask = a.traceChanges(from: b) }
        switch format {
        case .jsonl: jsonStep(index: index, before: before, after: after, linear: linear, physical: physical, bytes: bytes,
                              instruction: instruction, writes: writes, events: events, fullState: fullState,
                              fullFPU: fullFPU ? fpu : nil, fpuMask: fpuMask, fpuBefore: fpu, fpuAfter: fpuAfter)
        case .bin: binaryStep(index: index, before: before, after: after, linear: linear, physical: physical, bytes: bytes,
                              writes: writes, events: events, fullState: fullState,
                              fullFPU: fullFPU ? fpu : nil, fpuMask: fpuMask, fpuAfter: fpuAfter)
        }
    }

    /// A step read back from a trace (`x86v trace print`).
    public func write(_ s: TraceStep, fullState: Bool) {
        let after = s.after ?? s.before
        var d = DecodedInstruction()
        var instruction: DecodedInstruction? = nil
        if !s.bytes.isEmpty {
            let big = true  // the trace does not record CS.D; every x86v guest today runs 32-bit code
            s.bytes.withUnsafeBufferPointer { b in
                if decoder.decode(b.baseAddress!, count: b.count, mode: big ? .bits32 : .bits16, into: &d) == .ok {
                    instruction = d
                }
            }
        }
        let fpuChanged = s.changedFPU
        s.bytes.withUnsafeBytes { raw in
            step(index: s.index, before: s.before, after: after, linear: s.linear, physical: s.physical, bytes: raw,
                 instruction: instruction, writes: s.writes, events: s.events, fullState: fullState,
                 fpu: fullState || fpuChanged ? s.fpu?.state : nil, fpuAfter: fpuChanged ? s.fpuAfter?.state : nil)
        }
    }

    /// The end record: the run stopped (`stop`: why) after `steps` steps were written.
    public func finish(steps: UInt64, stop: String) throws(TraceInputError) {
        switch format {
        case .jsonl:
            sink.text("{\"end\":{\"steps\":")
            sink.decimal(steps)
            sink.text(",\"stop\":")
            jsonString(stop)
            sink.text("}}\n")
        case .bin:
            sink.byte(TraceFormat.endTag)
            sink.u64(steps)
            let text = Array(stop.utf8.prefix(0xFFFF))
            sink.u32(UInt32(text.count))
            text.withUnsafeBytes { sink.bytes($0) }
        }
        try sink.close()
    }

    // MARK: Binary

    func binaryStep(index: UInt64, before: TraceRegisters, after: TraceRegisters, linear: UInt32, physical: UInt32?,
                    bytes: UnsafeRawBufferPointer, writes: [TracedWrite], events: [TraceEvent], fullState: Bool,
                    fullFPU: FPUState?, fpuMask: UInt32, fpuAfter: FPUState?) {
        let s = sink
        s.byte(TraceFormat.stepTag)
        var flags: UInt8 = 0
        if physical != nil { flags |= TraceFormat.hasPhysical }
        if fullState { flags |= TraceFormat.hasFullState }
        if !writes.isEmpty { flags |= TraceFormat.hasWrites }
        if !events.isEmpty { flags |= TraceFormat.hasEvents }
        if fpuMask != 0 { flags |= TraceFormat.hasFPUChanges }
        if fullFPU != nil { flags |= TraceFormat.hasFullFPU }
        s.byte(flags)
        s.varint(index &- lastIndex)
        lastIndex = index
        s.u32(linear)
        if let p = physical { s.u32(p) }
        s.byte(UInt8(bytes.count))
        s.bytes(bytes)
        if fullState {
            for i in 0..<TraceField.count { s.u32(before.values[i]) }
        }
        if let f = fullFPU {
            for field in TraceFPUField.allCases { binaryFPU(f[trace: field], field) }
        }
        var mask: UInt32 = 0
        for i in 0..<TraceField.count where after.values[i] != before.values[i] { mask |= 1 << UInt32(i) }
        s.u32(mask)
        var m = mask
        while m != 0 {
            let i = m.trailingZeroBitCount
            s.u32(after.values[i])
            m &= m - 1
        }
        if fpuMask != 0, let f = fpuAfter {
            s.u32(fpuMask)
            var m = fpuMask
            while m != 0 {
                let field = TraceFPUField(rawValue: m.trailingZeroBitCount)!
                binaryFPU(f[trace: field], field)
                m &= m - 1
            }
        }
        if !writes.isEmpty {
            s.varint(UInt64(writes.count))
            for w in writes {
                s.u32(w.linear); s.u32(w.physical); s.byte(w.size); s.u32(w.value)
            }
        }
        if !events.isEmpty {
            s.varint(UInt64(events.count))
            for e in events {
                s.byte(e.kind.rawValue)
                s.byte(e.vector)
                s.byte((e.errorCode != nil ? 1 : 0) | (e.address != nil ? 2 : 0))
                if let c = e.errorCode { s.u32(c) }
                if let a = e.address { s.u32(a) }
                let d = Array(e.detail.utf8.prefix(255))
                s.byte(UInt8(d.count))
                d.withUnsafeBytes { s.bytes($0) }
            }
        }
    }

    /// One FPU field: R as u64 significand + u16 sign/exponent, XMM as u64 low + u64 high, the
    /// others as u16 or u32.
    func binaryFPU(_ v: TraceFPUValue, _ field: TraceFPUField) {
        let s = sink
        switch field.byteSize {
        case 10:
            s.u64(v.low)
            s.byte(UInt8(truncatingIfNeeded: v.high))
            s.byte(UInt8(truncatingIfNeeded: v.high >> 8))
        case 16:
            s.u64(v.low)
            s.u64(v.high)
        case 4:
            s.u32(UInt32(truncatingIfNeeded: v.low))
        default:
            s.byte(UInt8(truncatingIfNeeded: v.low))
            s.byte(UInt8(truncatingIfNeeded: v.low >> 8))
        }
    }

    // MARK: JSON lines

    func jsonStep(index: UInt64, before: TraceRegisters, after: TraceRegisters, linear: UInt32, physical: UInt32?,
                  bytes: UnsafeRawBufferPointer, instruction: DecodedInstruction?, writes: [TracedWrite],
                  events: [TraceEvent], fullState: Bool, fullFPU: FPUState?, fpuMask: UInt32,
                  fpuBefore: FPUState?, fpuAfter: FPUState?) {
        let s = sink
        s.text("{\"n\":")
        s.decimal(index)
        s.text(",\"cs\":\""); s.hex(before[.cs], digits: 4)
        s.text("\",\"eip\":\""); s.hex(before.eip)
        s.text("\",\"lin\":\""); s.hex(linear)
        s.text("\",\"phys\":")
        if let p = physical { s.byte(0x22); s.hex(p); s.byte(0x22) } else { s.text("null") }
        s.text(",\"bytes\":\"")
        for b in bytes {
            s.reserve(2)
            s.buffer[s.count] = ByteSink.hexDigits[Int(b >> 4)]
            s.buffer[s.count + 1] = ByteSink.hexDigits[Int(b & 15)]
            s.count += 2
        }
        s.text("\",\"asm\":")
        if let d = instruction {
            let (_, total) = disassembler.format(d, address: before.eip)
            s.byte(0x22)
            s.bytes(UnsafeRawBufferPointer(start: disassembler.buffer, count: total))
            s.byte(0x22)
        } else {
            s.text("null")
        }
        if fullState {
            s.text(",\"state\":{")
            for f in TraceField.allCases {
                if f.rawValue > 0 { s.byte(0x2C) }
                s.byte(0x22); s.text(f.name); s.text("\":\"")
                s.hex(before[f], digits: f.isSelector ? 4 : 8)
                s.byte(0x22)
            }
            if let fpu = fullFPU {
                for f in TraceFPUField.allCases {
                    s.text(",\""); s.text(f.name); s.text("\":\"")
                    s.text(fpuHex(fpu[trace: f], digits: f.digits))
                    s.byte(0x22)
                }
            }
            s.byte(0x7D)
        }
        s.text(",\"changed\":{")
        var first = true
        for f in TraceField.allCases where after[f] != before[f] {
            if !first { s.byte(0x2C) }
            first = false
            s.byte(0x22); s.text(f.name); s.text("\":[\"")
            s.hex(before[f], digits: f.isSelector ? 4 : 8)
            s.text("\",\"")
            s.hex(after[f], digits: f.isSelector ? 4 : 8)
            s.text("\"]")
        }
        if fpuMask != 0, let b = fpuBefore, let a = fpuAfter {
            for f in TraceFPUField.allCases where fpuMask & (1 << UInt32(f.rawValue)) != 0 {
                if !first { s.byte(0x2C) }
                first = false
                s.byte(0x22); s.text(f.name); s.text("\":[\"")
                s.text(fpuHex(b[trace: f], digits: f.digits))
                s.text("\",\"")
                s.text(fpuHex(a[trace: f], digits: f.digits))
                s.text("\"]")
            }
        }
        s.byte(0x7D)
        if !writes.isEmpty {
            s.text(",\"writes\":[")
            for (i, w) in writes.enumerated() {
                if i > 0 { s.byte(0x2C) }
                s.text("{\"lin\":\""); s.hex(w.linear)
                s.text("\",\"phys\":\""); s.hex(w.physical)
                s.text("\",\"size\":"); s.decimal(UInt64(w.size))
                s.text(",\"value\":\""); s.hex(w.value, digits: Int(w.size) * 2)
                s.text("\"}")
            }
            s.byte(0x5D)
        }
        if !events.isEmpty {
            s.text(",\"events\":[")
            for (i, e) in events.enumerated() {
                if i > 0 { s.byte(0x2C) }
                s.text("{\"type\":\""); s.text(e.kind.name); s.byte(0x22)
                if e.isDelivery { s.text(",\"vector\":"); s.decimal(UInt64(e.vector)) }
                if let c = e.errorCode { s.text(",\"error\":\""); s.hex(c); s.byte(0x22) }
                if let a = e.address { s.text(",\"addr\":\""); s.hex(a); s.byte(0x22) }
                if !e.detail.isEmpty { s.text(",\"detail\":"); jsonString(e.detail) }
                s.byte(0x7D)
            }
            s.byte(0x5D)
        }
        s.text("}\n")
    }

    func jsonString(_ text: String) {
        sink.byte(0x22)
        for u in text.unicodeScalars {
            switch u {
            case "\"": sink.text("\\\"")
            case "\\": sink.text("\\\\")
            case "\n": sink.text("\\n")
            default:
                if u.value < 0x20 {
                    sink.text("\\u00"); sink.byte(ByteSink.hexDigits[Int(u.value >> 4)]); sink.byte(ByteSink.hexDigits[Int(u.value & 15)])
                } else {
                    sink.text(String(u))
                }
            }
        }
        sink.byte(0x22)
    }
}

/// Constants of the binary form (docs/formats.md, "Instruction traces").
public enum TraceFormat {
    /// 2: the x87/SSE fields (issue 16). Readers take 1 (no FPU: the power-on state throughout) and 2.
    public static let version = 2
    public static let oldestReadable = 1
    static let magic: [UInt8] = Array("x86vtrc\u{0}".utf8)
    static let stepTag: UInt8 = 0x01
    static let endTag: UInt8 = 0x7E
    static let hasPhysical: UInt8 = 1
    static let hasFullState: UInt8 = 2
    static let hasWrites: UInt8 = 4
    static let hasEvents: UInt8 = 8
    static let hasFPUChanges: UInt8 = 16
    static let hasFullFPU: UInt8 = 32
}
