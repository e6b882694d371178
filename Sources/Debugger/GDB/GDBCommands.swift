/// One request from GDB, parsed from a packet payload (GDB manual E.2 "Packets", E.4 "General
/// Query Packets"). Parsing is pure: `GDBCommand(payload)` never fails; a packet we know with bad
/// arguments is `.malformed` (reply E01), one we do not know is `.unsupported` (empty reply).
public enum GDBCommand: Sendable, Equatable {
    /// `qSupported[:features]`: GDB's feature list, split at `;`.
    case querySupported([String])
    /// `QStartNoAckMode`
    case startNoAckMode
    /// `qXfer:features:read:ANNEX:OFFSET,LENGTH`
    case readFeatures(annex: String, offset: Int, length: Int)
    /// `?`
    case haltReason
    /// `g`
    case readRegisters
    /// `G XX…`: the raw register bytes in `g` layout; `nil` bytes were sent as `xx` (leave as is).
    case writeRegisters([UInt8?])
    /// `p n`
    case readRegister(Int)
    /// `P n=r…`: the value bytes in target order.
    case writeRegister(Int, [UInt8])
    /// `m addr,length`
    case readMemory(address: UInt32, length: Int)
    /// `M addr,length:XX…` and `X addr,length:binary` (already decoded; `count` = length).
    case writeMemory(address: UInt32, bytes: [UInt8])
    /// `Z type,addr,kind` (type 0–4)
    case insertBreakpoint(GDBBreakpointKind, address: UInt32, length: Int)
    /// `z type,addr,kind`
    case removeBreakpoint(GDBBreakpointKind, address: UInt32, length: Int)
    /// `s [addr]`, `c [addr]`, `S sig[;addr]`, `C sig[;addr]`, `bs`, `bc`, `vCont;…` (first action).
    case resume(GDBResumeAction, address: UInt32?)
    /// `vCont?`
    case queryResumeActions
    /// `D`, `D;pid`
    case detach
    /// `k`, `vKill;pid`
    case kill(replyExpected: Bool)
    /// `qAttached[:pid]`
    case queryAttached
    /// `qC`
    case queryCurrentThread
    /// `qfThreadInfo` / `qsThreadInfo`
    case threadInfo(first: Bool)
    /// `Hg…`, `Hc…`: select a thread (there is one).
    case setThread
    /// `T thread`: is it alive
    case threadAlive
    /// `qRcmd,HEX`: the decoded command text.
    case monitor(String)
    /// A packet we do not implement (reply empty).
    case unsupported
    /// A known packet with bad arguments (reply E01).
    case malformed
}

extension GDBCommand {
    /// Largest memory transfer (bytes) accepted in one M/X or answered in one m; the stub
    /// advertises PacketSize = `GDBStub.packetSize`, so GDB's requests stay below this.
    public static let maxTransfer = 0x8000

    public init(_ payload: [UInt8]) {
        self = Self.parse(payload[...]) ?? .malformed
    }

    /// nil: malformed.
    static func parse(_ p: ArraySlice<UInt8>) -> GDBCommand? {
        guard let first = p.first else { return .unsupported }
        let rest = p.dropFirst()
        switch first {
        case c("?"): return rest.isEmpty ? .haltReason : nil
        case c("g"): return rest.isEmpty ? .readRegisters : nil
        case c("G"): return parseG(rest)
        case c("p"):
            guard let n = GDBHex.number(rest), n < 0x10000 else { return nil }
            return .readRegister(Int(n))
        case c("P"):
            guard let eq = rest.firstIndex(of: c("=")), let n = GDBHex.number(rest[..<eq]), n < 0x10000,
                  let value = GDBHex.decode(rest[(eq + 1)...]), !value.isEmpty else { return nil }
            return .writeRegister(Int(n), value)
        case c("m"):
            guard let (address, length) = addressLength(rest) else { return nil }
            return .readMemory(address: address, length: length)
        case c("M"), c("X"):
            guard let colon = rest.firstIndex(of: c(":")), let (address, length) = addressLength(rest[..<colon]),
                  length <= maxTransfer else { return nil }
            let data = rest[(colon + 1)...]
            let bytes = first == c("M") ? GDBHex.decode(data) : GDBPacket.unescapeBinary(data)
            guard let bytes, bytes.count == length else { return nil }
            if UInt64(address) + UInt64(length) > 0x1_0000_0000 { return nil }
            return .writeMemory(address: address, bytes: bytes)
        case c("Z"), c("z"): return parseZ(insert: first == c("Z"), rest)
        case c("s"), c("c"):
            let action: GDBResumeAction = first == c("s") ? .step : .continue
            if rest.isEmpty { return .resume(action, address: nil) }
            guard let a = address(rest) else { return nil }
            return .resume(action, address: a)
        case c("S"), c("C"):
            // The signal is ignored: there are no signals to deliver to a bare-metal guest.
            let action: GDBResumeAction = first == c("S") ? .step : .continue
            let parts = rest.split(separator: c(";"), omittingEmptySubsequences: false)
            guard parts.count <= 2, GDBHex.number(parts[0]) != nil else { return nil }
            if parts.count == 1 { return .resume(action, address: nil) }
            guard let a = address(parts[1]) else { return nil }
            return .resume(action, address: a)
        case c("b"):
            if rest.elementsEqual([c("s")]) { return .resume(.reverseStep, address: nil) }
            if rest.elementsEqual([c("c")]) { return .resume(.reverseContinue, address: nil) }
            return .unsupported
        case c("D"):
            if rest.isEmpty { return .detach }
            guard rest.first == c(";"), GDBHex.number(rest.dropFirst()) != nil else { return nil }
            return .detach
        case c("k"): return .kill(replyExpected: false)
        case c("H"):
            guard let op = rest.first, op == c("g") || op == c("c") else { return .unsupported }
            return threadID(rest.dropFirst()) ? .setThread : nil
        case c("T"): return threadID(rest) ? .threadAlive : nil
        case c("q"), c("Q"): return parseQuery(p)
        case c("v"): return parseV(p)
        default: return .unsupported
        }
    }

    static func parseG(_ rest: ArraySlice<UInt8>) -> GDBCommand? {
        guard rest.count % 2 == 0, rest.count / 2 <= 4096 else { return nil }
        var bytes: [UInt8?] = []
        var i = rest.startIndex
        while i < rest.endIndex {
            let h = rest[i], l = rest[i + 1]
            if h == c("x") && l == c("x") { bytes.append(nil) }
            else if let hv = GDBHex.value(h), let lv = GDBHex.value(l) { bytes.append(hv << 4 | lv) }
            else { return nil }
            i += 2
        }
        return .writeRegisters(bytes)
    }

    static func parseZ(insert: Bool, _ rest: ArraySlice<UInt8>) -> GDBCommand? {
        // Z type,addr,kind[;cond…] — conditions are not advertised; anything after ';' is ignored.
        let body = rest.split(separator: c(";"), maxSplits: 1, omittingEmptySubsequences: false)[0]
        let parts = body.split(separator: c(","), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 1, let type = GDBHex.number(parts[0]) else { return nil }
        let kind: GDBBreakpointKind
        switch type {
        case 0: kind = .software
        case 1: kind = .hardware
        case 2: kind = .writeWatch
        case 3: kind = .readWatch
        case 4: kind = .accessWatch
        default: return .unsupported
        }
        guard let a = address(parts[1]), let length = GDBHex.number(parts[2]), length <= 0x1_0000 else { return nil }
        return insert ? .insertBreakpoint(kind, address: a, length: Int(length))
                      : .removeBreakpoint(kind, address: a, length: Int(length))
    }

    static func parseQuery(_ p: ArraySlice<UInt8>) -> GDBCommand? {
        if p.elementsEqual(b("qSupported")) { return .querySupported([]) }
        if let args = after(p, "qSupported:") {
            return .querySupported(args.split(separator: c(";")).map { String(decoding: $0, as: UTF8.self) })
        }
        if p.elementsEqual(b("QStartNoAckMode")) { return .startNoAckMode }
        if let args = after(p, "qXfer:features:read:") {
            guard let colon = args.lastIndex(of: c(":")) else { return nil }
            let annex = String(decoding: args[..<colon], as: UTF8.self)
            let range = args[(colon + 1)...].split(separator: c(","), omittingEmptySubsequences: false)
            guard range.count == 2, let offset = GDBHex.number(range[0]), let length = GDBHex.number(range[1]),
                  offset <= 0x1000_0000, length <= 0x1000_0000 else { return nil }
            return .readFeatures(annex: annex, offset: Int(offset), length: Int(length))
        }
        if p.elementsEqual(b("qAttached")) || after(p, "qAttached:") != nil { return .queryAttached }
        if p.elementsEqual(b("qC")) { return .queryCurrentThread }
        if p.elementsEqual(b("qfThreadInfo")) { return .threadInfo(first: true) }
        if p.elementsEqual(b("qsThreadInfo")) { return .threadInfo(first: false) }
        if let hex = after(p, "qRcmd,") {
            guard let bytes = GDBHex.decode(hex) else { return nil }
            return .monitor(String(decoding: bytes, as: UTF8.self))
        }
        return .unsupported
    }

    static func parseV(_ p: ArraySlice<UInt8>) -> GDBCommand? {
        if p.elementsEqual(b("vCont?")) { return .queryResumeActions }
        if let actions = after(p, "vCont;") {
            // All-stop with one thread: the first action is the one for our thread (GDB lists the
            // specific ones first, the default last).
            let first = actions.split(separator: c(";"), omittingEmptySubsequences: false)[0]
            let action = first.split(separator: c(":"), maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard let letter = action.first else { return nil }
            switch letter {
            case c("c"): return action.count == 1 ? .resume(.continue, address: nil) : nil
            case c("s"): return action.count == 1 ? .resume(.step, address: nil) : nil
            case c("C"): return GDBHex.number(action.dropFirst()) != nil ? .resume(.continue, address: nil) : nil
            case c("S"): return GDBHex.number(action.dropFirst()) != nil ? .resume(.step, address: nil) : nil
            default: return nil   // t, r: not advertised
            }
        }
        if p.elementsEqual(b("vKill")) || after(p, "vKill;") != nil { return .kill(replyExpected: true) }
        return .unsupported
    }

    /// A 32-bit address in hex.
    static func address<C: Collection>(_ text: C) -> UInt32? where C.Element == UInt8 {
        guard let v = GDBHex.number(text), v <= 0xFFFF_FFFF else { return nil }
        return UInt32(v)
    }

    /// `addr,length` with a 32-bit address; the length is clamped to `maxTransfer` by the reader.
    static func addressLength(_ text: ArraySlice<UInt8>) -> (UInt32, Int)? {
        let parts = text.split(separator: c(","), omittingEmptySubsequences: false)
        guard parts.count == 2, let a = address(parts[0]), let n = GDBHex.number(parts[1]),
              n <= 0xFFFF_FFFF else { return nil }
        return (a, Int(n))
    }

    /// A thread id without multiprocess: `-1` (all), `0` (any) or a positive hex number.
    static func threadID(_ text: ArraySlice<UInt8>) -> Bool {
        if text.elementsEqual(b("-1")) { return true }
        if let p = after(text, "p") {   // tolerate pPID.TID although multiprocess is not offered
            return p.split(separator: c("."), omittingEmptySubsequences: false).allSatisfy {
                $0.elementsEqual(b("-1")) || GDBHex.number($0) != nil
            }
        }
        return GDBHex.number(text) != nil
    }

    @inline(__always) static func c(_ s: Unicode.Scalar) -> UInt8 { UInt8(s.value) }
    static func b(_ s: String) -> [UInt8] { Array(s.utf8) }
    static func after(_ p: ArraySlice<UInt8>, _ prefix: String) -> ArraySlice<UInt8>? {
        let pre = Array(prefix.utf8)
        guard p.starts(with: pre) else { return nil }
        return p.dropFirst(pre.count)
    }
}
