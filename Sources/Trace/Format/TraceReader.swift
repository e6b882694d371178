import X86Core

/// Reads an x86v trace (either form) back into steps. Registers are followed from step to step:
/// a step restating the full state starts the chain, each later step applies its changes.
public final class TraceReader: TraceStepSource {
    public let label: String
    public let format: TraceWriter.Format
    /// From the header.
    public private(set) var guest = ""
    public private(set) var config = ""
    /// From the end record, once reached.
    public private(set) var stop: String? = nil
    public private(set) var declaredSteps: UInt64? = nil
    public private(set) var stepsRead: UInt64 = 0
    /// The last step read restated the whole state (the first step, or the first after a gap the
    /// recording filter left).
    public private(set) var lastStepHadFullState = false

    let file: FileBytes
    var fields: BinaryFields { BinaryFields(file: file) }
    var state: TraceRegisters? = nil
    /// The x87/SSE state followed so far (a version-1 trace stays at the power-on state).
    var fpuState: TraceFPU? = nil
    let defaultFPU = TraceFPU(FPUState.traceDefault)
    /// The header's format version.
    public private(set) var version = TraceFormat.version
    var lastIndex: UInt64 = 0
    var finished = false
    var line = 1

    public init(path: String) throws(TraceInputError) {
        file = try FileBytes(path: path)
        label = "x86v trace \(path)"
        try file.fill(16)
        let head = Array(UnsafeBufferPointer(start: file.buffer, count: min(file.available, 16)))
        if head.count >= 8 && Array(head[0..<8]) == TraceFormat.magic {
            format = .bin
            file.position = 8
            let version = try fields.u32()
            guard version >= UInt32(TraceFormat.oldestReadable) && version <= UInt32(TraceFormat.version) else {
                throw TraceInputError("\(path): x86v trace version \(version), this x86v reads versions \(TraceFormat.oldestReadable)–\(TraceFormat.version)")
            }
            self.version = Int(version)
            let n = try fields.u32()
            guard n <= 0xFFFF else { throw TraceInputError("\(path): corrupt header") }
            let meta = String(decoding: try fields.bytes(Int(n)), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            guest = meta.first.map(String.init) ?? ""
            config = meta.count > 1 ? String(meta[1]) : ""
        } else if head.starts(with: Array("{\"x86v-trace\":".utf8)) {
            format = .jsonl
            guard let header = try nextLine(), let v = header["x86v-trace"]?.number else {
                throw TraceInputError("\(path): not an x86v trace")
            }
            guard v >= Double(TraceFormat.oldestReadable) && v <= Double(TraceFormat.version) && v == v.rounded() else {
                throw TraceInputError("\(path): x86v trace version \(v), this x86v reads versions \(TraceFormat.oldestReadable)–\(TraceFormat.version)")
            }
            version = Int(v)
            guest = header["guest"]?.string ?? ""
            config = header["config"]?.string ?? ""
        } else {
            throw TraceInputError("\(path): not an x86v trace (no x86v trace header)")
        }
    }

    public func next() throws(TraceInputError) -> TraceStep? {
        if finished { return nil }
        let step = format == .bin ? try nextBinary() : try nextJSON()
        if step != nil { stepsRead += 1 }
        return step
    }

    // MARK: Binary

    func nextBinary() throws(TraceInputError) -> TraceStep? {
        let f = fields
        guard try file.fill(1) else {
            throw TraceInputError("\(file.path): truncated after \(stepsRead) steps (no end record: the run that wrote it did not finish?)")
        }
        let tag = try f.u8()
        if tag == TraceFormat.endTag {
            declaredSteps = try f.u64()
            let n = try f.u32()
            guard n <= 0xFFFF else { throw TraceInputError("\(file.path): corrupt end record") }
            stop = String(decoding: try f.bytes(Int(n)), as: UTF8.self)
            finished = true
            guard declaredSteps == stepsRead else {
                throw TraceInputError("\(file.path): the end record says \(declaredSteps!) steps, the file holds \(stepsRead)")
            }
            return nil
        }
        guard tag == TraceFormat.stepTag else {
            throw TraceInputError("\(file.path): corrupt at byte \(file.offset - 1) (unknown record 0x\(String(tag, radix: 16)))")
        }
        let flags = try f.u8()
        let index = lastIndex &+ (try f.varint())
        lastIndex = index
        let linear = try f.u32()
        let physical: UInt32? = flags & TraceFormat.hasPhysical != 0 ? try f.u32() : nil
        let length = Int(try f.u8())
        guard length <= 16 else { throw TraceInputError("\(file.path): corrupt at byte \(file.offset - 1) (instruction of \(length) bytes)") }
        let bytes = try f.bytes(length)
        var before: TraceRegisters
        lastStepHadFullState = flags & TraceFormat.hasFullState != 0
        guard version >= 2 || flags & (TraceFormat.hasFPUChanges | TraceFormat.hasFullFPU) == 0,
              flags & TraceFormat.hasFullFPU == 0 || flags & TraceFormat.hasFullState != 0, flags < 64 else {
            throw TraceInputError("\(file.path): corrupt at byte \(file.offset) (step flags 0x\(String(flags, radix: 16)))")
        }
        var fpu: TraceFPU
        if flags & TraceFormat.hasFullState != 0 {
            before = TraceRegisters()
            for i in 0..<TraceField.count { before.values[i] = try f.u32() }
            if flags & TraceFormat.hasFullFPU != 0 {
                var x = FPUState.traceDefault
                for field in TraceFPUField.allCases { x[trace: field] = try binaryFPU(field) }
                fpu = TraceFPU(x)
            } else {
                fpu = defaultFPU
            }
        } else {
            guard let s = state, let x = fpuState else { throw TraceInputError("\(file.path): corrupt (a step without state before any full state)") }
            before = s
            fpu = x
        }
        let mask = try f.u32()
        guard mask >> UInt32(TraceField.count) == 0 else { throw TraceInputError("\(file.path): corrupt change mask at byte \(file.offset - 4)") }
        var after = before
        var m = mask
        while m != 0 {
            after.values[m.trailingZeroBitCount] = try f.u32()
            m &= m - 1
        }
        var fpuAfter = fpu
        if flags & TraceFormat.hasFPUChanges != 0 {
            let fm = try f.u32()
            guard fm != 0, fm >> UInt32(TraceFPUField.count) == 0 else {
                throw TraceInputError("\(file.path): corrupt FPU change mask at byte \(file.offset - 4)")
            }
            var x = fpu.state
            var m = fm
            while m != 0 {
                let field = TraceFPUField(rawValue: m.trailingZeroBitCount)!
                x[trace: field] = try binaryFPU(field)
                m &= m - 1
            }
            fpuAfter = TraceFPU(x)
        }
        var writes: [TraceWrite] = []
        if flags & TraceFormat.hasWrites != 0 {
            let n = try f.varint()
            guard n < 1 << 24 else { throw TraceInputError("\(file.path): corrupt write count") }
            writes.reserveCapacity(Int(n))
            for _ in 0..<n {
                writes.append(TraceWrite(linear: try f.u32(), physical: try f.u32(), size: try f.u8(), value: try f.u32()))
            }
        }
        var events: [TraceEvent] = []
        if flags & TraceFormat.hasEvents != 0 {
            let n = try f.varint()
            guard n < 1 << 16 else { throw TraceInputError("\(file.path): corrupt event count") }
            for _ in 0..<n {
                guard let kind = TraceEvent.Kind(rawValue: try f.u8()) else { throw TraceInputError("\(file.path): corrupt event at byte \(file.offset - 1)") }
                let vector = try f.u8()
                let has = try f.u8()
                let code: UInt32? = has & 1 != 0 ? try f.u32() : nil
                let address: UInt32? = has & 2 != 0 ? try f.u32() : nil
                let detail = String(decoding: try f.bytes(Int(try f.u8())), as: UTF8.self)
                events.append(TraceEvent(kind: kind, vector: vector, errorCode: code, address: address, detail: detail))
            }
        }
        state = after
        fpuState = fpuAfter
        return TraceStep(index: index, before: before, after: after, linear: linear, physical: physical,
                         bytes: bytes, writes: writes, events: events,
                         fpu: version >= 2 ? fpu : nil, fpuAfter: version >= 2 ? fpuAfter : nil)
    }

    /// One FPU field in `TraceWriter.binaryFPU`'s layout.
    func binaryFPU(_ field: TraceFPUField) throws(TraceInputError) -> TraceFPUValue {
        let f = fields
        switch field.byteSize {
        case 10:
            let low = try f.u64()
            let high = UInt64(try f.u8()) | UInt64(try f.u8()) << 8
            return TraceFPUValue(high: high, low: low)
        case 16:
            let low = try f.u64()
            return TraceFPUValue(high: try f.u64(), low: low)
        case 4:
            return TraceFPUValue(low: UInt64(try f.u32()))
        default:
            return TraceFPUValue(low: UInt64(try f.u8()) | UInt64(try f.u8()) << 8)
        }
    }

    // MARK: JSON lines

    func nextLine() throws(TraceInputError) -> JSONValue? {
        // Find the next newline, growing the window as needed.
        var scanned = 0
        while true {
            let avail = file.available
            var k = scanned
            while k < avail && file.buffer[file.position + k] != 0x0A { k += 1 }
            if k < avail {
                let lineBytes = UnsafeBufferPointer(start: file.buffer + file.position, count: k)
                defer { file.position += k + 1; line += 1 }
                do { return try JSONValue.parse(lineBytes) } catch {
                    throw TraceInputError("\(file.path):\(line): \(error.what) at column \(error.offset + 1)")
                }
            }
            scanned = avail
            guard avail < file.capacity / 2 else { throw TraceInputError("\(file.path):\(line): line too long") }
            if try !file.fill(avail + 1) {
                if avail == 0 { return nil }
                throw TraceInputError("\(file.path):\(line): truncated (a line without its end)")
            }
        }
    }

    func nextJSON() throws(TraceInputError) -> TraceStep? {
        guard let v = try nextLine() else {
            throw TraceInputError("\(file.path): truncated after \(stepsRead) steps (no end record: the run that wrote it did not finish?)")
        }
        if let end = v["end"] {
            declaredSteps = end["steps"]?.count
            stop = end["stop"]?.string ?? ""
            finished = true
            guard declaredSteps == stepsRead else {
                throw TraceInputError("\(file.path): the end record says \(declaredSteps.map(String.init) ?? "?") steps, the file holds \(stepsRead)")
            }
            return nil
        }
        func bad(_ what: String) -> TraceInputError { TraceInputError("\(file.path):\(line - 1): \(what)") }
        guard let n = v["n"]?.count, let linear = v["lin"]?.hex, let eip = v["eip"]?.hex else { throw bad("not a trace step") }
        var before: TraceRegisters
        var fpu: TraceFPU
        lastStepHadFullState = v["state"] != nil
        if let st = v["state"] {
            before = TraceRegisters()
            for f in TraceField.allCases {
                guard let x = st[f.name]?.hex else { throw bad("state without \(f.name)") }
                before[f] = x
            }
            // The FPU fields are there when the FPU is not in its power-on state: all or none.
            if st["fcw"] != nil {
                var x = FPUState.traceDefault
                for f in TraceFPUField.allCases {
                    guard let value = Self.fpuValue(st[f.name], f) else { throw bad("state without \(f.name)") }
                    x[trace: f] = value
                }
                fpu = TraceFPU(x)
            } else {
                fpu = defaultFPU
            }
        } else {
            guard let s = state, let x = fpuState else { throw bad("a step without state before any full state") }
            before = s
            fpu = x
        }
        guard before.eip == eip else { throw bad("eip \(hex8(eip)) does not follow from the previous step (\(hex8(before.eip)))") }
        var after = before
        var fpuAfter = fpu
        var fpuNew: FPUState? = nil
        if let changed = v["changed"]?.pairs {
            for (name, pair) in changed {
                if let f = TraceField.named(name) {
                    guard let a = pair.array, a.count == 2, let old = a[0].hex, let new = a[1].hex else {
                        throw bad("bad change '\(name)'")
                    }
                    guard old == before[f] else { throw bad("\(name) was \(hex8(before[f])), the step says \(hex8(old))") }
                    after[f] = new
                    continue
                }
                guard version >= 2, let f = TraceFPUField.named(name), let a = pair.array, a.count == 2,
                      let old = Self.fpuValue(a[0], f), let new = Self.fpuValue(a[1], f) else {
                    throw bad("bad change '\(name)'")
                }
                guard old == fpu.state[trace: f] else {
                    throw bad("\(name) was \(fpuHex(fpu.state[trace: f], digits: f.digits)), the step says \(fpuHex(old, digits: f.digits))")
                }
                if fpuNew == nil { fpuNew = fpu.state }
                fpuNew![trace: f] = new
            }
        }
        if let x = fpuNew { fpuAfter = TraceFPU(x) }
        var bytes: [UInt8] = []
        if let b = v["bytes"]?.string {
            var it = b.utf8.makeIterator()
            while let h = it.next() {
                guard let l = it.next(), let hi = hexDigit(h), let lo = hexDigit(l) else { throw bad("bad bytes") }
                bytes.append(hi << 4 | lo)
            }
        }
        var writes: [TraceWrite] = []
        for w in v["writes"]?.array ?? [] {
            guard let l = w["lin"]?.hex, let p = w["phys"]?.hex, let s = w["size"]?.count, (1...4).contains(s),
                  let x = w["value"]?.hex else { throw bad("bad write") }
            writes.append(TraceWrite(linear: l, physical: p, size: UInt8(s), value: x))
        }
        var events: [TraceEvent] = []
        for e in v["events"]?.array ?? [] {
            guard let t = e["type"]?.string, let kind = TraceEvent.Kind.named(t) else { throw bad("bad event") }
            let vector = e["vector"] == nil ? 0 : e["vector"]?.count ?? 256
            guard vector < 256 else { throw bad("bad event vector") }
            events.append(TraceEvent(kind: kind, vector: UInt8(vector), errorCode: e["error"]?.hex,
                                     address: e["addr"]?.hex, detail: e["detail"]?.string ?? ""))
        }
        state = after
        fpuState = fpuAfter
        let physical = v["phys"]?.hex
        return TraceStep(index: n, before: before, after: after, linear: linear, physical: physical,
                         bytes: bytes, writes: writes, events: events,
                         fpu: version >= 2 ? fpu : nil, fpuAfter: version >= 2 ? fpuAfter : nil)
    }

    /// An FPU field's "0x…" text: exactly `f.digits` hex digits.
    static func fpuValue(_ v: JSONValue?, _ f: TraceFPUField) -> TraceFPUValue? {
        guard let s = v?.string, s.hasPrefix("0x"), s.utf8.count == 2 + f.digits else { return nil }
        let digits = Array(s.utf8.dropFirst(2))
        func parse(_ part: ArraySlice<UInt8>) -> UInt64? {
            var x: UInt64 = 0
            for c in part {
                guard let d = hexDigit(c) else { return nil }
                x = x << 4 | UInt64(d)
            }
            return x
        }
        switch f.digits {
        case 20:
            guard let high = parse(digits[0..<4]), let low = parse(digits[4...]) else { return nil }
            return TraceFPUValue(high: high, low: low)
        case 32:
            guard let high = parse(digits[0..<16]), let low = parse(digits[16...]) else { return nil }
            return TraceFPUValue(high: high, low: low)
        default:
            return parse(digits[...]).map { TraceFPUValue(low: $0) }
        }
    }
}

func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
}

func hex8(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
