/// The request handler: `GDBCommand` in, reply payloads out, the backend in between. No I/O
/// here (GDBConnection does that), so the whole protocol can be driven and fuzzed in memory.
///
/// All-stop, one thread (id 1). Stop replies are `T` packets with eip, esp and ebp (GDB regnums
/// 8, 4, 5) and `thread:1;`, plus `swbreak:`/`hwbreak:` when eip is at a breakpoint the stub
/// inserted, `watch:`/`rwatch:`/`awatch:ADDR` for watchpoints, `replaylog:begin` at the start of
/// reverse history; SIGINT (T02) after an interrupt, SIGTRAP (T05) otherwise; `Wxx` on exit.
public final class GDBStub {
    /// What one request produced.
    public struct Response: Sendable, Equatable {
        /// Payloads to send in order (wire form, unframed). Empty for `k`.
        public var packets: [[UInt8]]
        /// Set when the session is over after these packets are sent.
        public var finish: GDBServeResult?
        /// Switch to no-ack mode after sending these packets (QStartNoAckMode's OK is still acked).
        public var startNoAck = false
    }

    /// Advertised PacketSize (bytes of payload GDB may send): 16 KiB.
    public static let packetSize = 0x4000
    /// Monitor output bytes per `O` packet.
    static let consoleChunk = 1024
    /// Breakpoint/watchpoint insertions remembered for `swbreak`/`hwbreak` and for cleanup.
    public struct Insertion: Sendable, Equatable {
        public let kind: GDBBreakpointKind
        public let address: UInt32
        public let length: Int
    }

    public let backend: GDBBackend
    public let target: GDBTargetDescription
    public private(set) var inserted: [Insertion] = []
    /// The last stop, for `?`.
    var lastStop: GDBStopEvent = .stepped

    public init(backend: GDBBackend, target: GDBTargetDescription = .i386) {
        self.backend = backend
        self.target = target
    }

    /// Handles one parsed request. `interrupted` is handed to the backend while the guest runs.
    public func handle(_ command: GDBCommand, interrupted: () -> Bool) -> Response {
        func reply(_ s: String) -> Response { Response(packets: [Array(s.utf8)]) }
        func reply(_ bytes: [UInt8]) -> Response { Response(packets: [bytes]) }
        func ok(_ success: Bool) -> Response { reply(success ? "OK" : "E01") }

        switch command {
        case .querySupported:
            return reply("PacketSize=\(String(Self.packetSize, radix: 16));qXfer:features:read+;QStartNoAckMode+;"
                         + "ReverseStep+;ReverseContinue+;swbreak+;hwbreak+;vContSupported+")
        case .startNoAckMode:
            var r = reply("OK")
            r.startNoAck = true
            return r
        case let .readFeatures(annex, offset, length):
            guard annex == "target.xml" else { return reply("E00") }
            let xml = Array(target.xml.utf8)
            if offset >= xml.count { return reply("l") }
            let end = min(xml.count, offset + min(length, Self.packetSize / 2))
            return reply([UInt8(ascii: end == xml.count ? "l" : "m")] + GDBPacket.escapeBinary(xml[offset..<end]))
        case .haltReason:
            return reply(stopReply(lastStop))
        case .readRegisters:
            return reply(registerPacket(backend.readRegisters(), backend.readFloatRegisters()))
        case let .writeRegisters(bytes):
            return ok(writeRegisters(bytes))
        case let .readRegister(n):
            guard n < target.registers.count else { return reply("E00") }
            let float = target.registers[n].isFloat ? backend.readFloatRegisters() : nil
            return reply(registerValue(n, backend.readRegisters(), float))
        case let .writeRegister(n, value):
            guard n < target.registers.count, value.count == target.registers[n].byteSize else { return reply("E01") }
            if let index = target.registers[n].backendIndex {
                return ok(backend.writeRegister(index, littleEndian(value)))
            }
            guard var float = backend.readFloatRegisters() else { return reply("E01") }
            Self.store(value, into: &float, target.registers[n].source)
            return ok(backend.writeFloatRegisters(float))
        case let .readMemory(address, length):
            let count = min(length, Self.packetSize / 2, Self.maxReadable(from: address))
            if count == 0 { return reply("") }
            guard let bytes = readMemory(address, count) else { return reply("E14") }
            return reply(GDBHex.encode(bytes))
        case let .writeMemory(address, bytes):
            if bytes.isEmpty { return reply("OK") }   // X addr,0: GDB probing for X support
            return ok(backend.writeMemory(linear: address, bytes: bytes))
        case let .insertBreakpoint(kind, address, length):
            guard backend.insertBreakpoint(kind, address: address, length: length) else { return reply("E01") }
            inserted.append(Insertion(kind: kind, address: address, length: length))
            return reply("OK")
        case let .removeBreakpoint(kind, address, length):
            guard backend.removeBreakpoint(kind, address: address, length: length) else { return reply("E01") }
            if let i = inserted.firstIndex(of: Insertion(kind: kind, address: address, length: length)) {
                inserted.remove(at: i)
            }
            return reply("OK")
        case let .resume(action, address):
            if let address, !backend.writeRegister(GDBRegister.eip, address) { return reply("E01") }
            let event = backend.resume(action, interrupted: interrupted)
            lastStop = event
            var r = reply(stopReply(event))
            if case let .exited(status) = event { r.finish = .exited(status: status) }
            return r
        case .queryResumeActions:
            return reply("vCont;c;C;s;S")
        case .detach:
            removeAllInsertions()
            return Response(packets: [Array("OK".utf8)], finish: .detached)
        case let .kill(replyExpected):
            backend.kill()
            return Response(packets: replyExpected ? [Array("OK".utf8)] : [], finish: .killed)
        case .queryAttached:
            // Attached: GDB's `quit` detaches (the guest runs on) instead of killing, as with QEMU.
            return reply("1")
        case .queryCurrentThread:
            return reply("QC1")
        case let .threadInfo(first):
            return reply(first ? "m1" : "l")
        case .setThread, .threadAlive:
            return reply("OK")
        case let .monitor(text):
            let output = Array(backend.monitor(text).utf8)
            var packets: [[UInt8]] = []
            var i = 0
            while i < output.count {
                let end = min(output.count, i + Self.consoleChunk)
                packets.append([UInt8(ascii: "O")] + GDBHex.encode(output[i..<end]))
                i = end
            }
            packets.append(Array("OK".utf8))
            return Response(packets: packets)
        case .unsupported:
            return reply("")
        case .malformed:
            return reply("E01")
        }
    }

    /// Removes what GDB left inserted (detach, disconnect), newest first.
    public func removeAllInsertions() {
        for i in inserted.reversed() {
            _ = backend.removeBreakpoint(i.kind, address: i.address, length: i.length)
        }
        inserted.removeAll()
    }

    // MARK: Stop replies

    public func stopReply(_ event: GDBStopEvent) -> [UInt8] {
        if case let .exited(status) = event {
            return Array("W".utf8) + GDBHex.encode([UInt8(truncatingIfNeeded: status)])
        }
        let regs = backend.readRegisters()
        var out = Array((event == .interrupted ? "T02" : "T05").utf8)
        for index in [GDBRegister.eip, GDBRegister.esp, GDBRegister.ebp] where index < regs.count {
            out += GDBHex.encode([UInt8(target.gdbNumber[index])]) + [UInt8(ascii: ":")]
            out += GDBHex.littleEndian(regs[index]) + [UInt8(ascii: ";")]
        }
        out += Array("thread:1;".utf8)
        switch event {
        case .breakpoint:
            let eip = GDBRegister.eip < regs.count ? regs[GDBRegister.eip] : 0
            if inserted.contains(where: { $0.kind == .software && $0.address == eip }) {
                out += Array("swbreak:;".utf8)
            } else if inserted.contains(where: { $0.kind == .hardware && $0.address == eip }) {
                out += Array("hwbreak:;".utf8)
            }
        case let .watchpoint(kind, address):
            let name = kind == .readWatch ? "rwatch" : kind == .accessWatch ? "awatch" : "watch"
            out += Array("\(name):".utf8) + GDBHex.number(UInt64(address)) + [UInt8(ascii: ";")]
        case .historyStart:
            out += Array("replaylog:begin;".utf8)
        case .stepped, .interrupted, .exited:
            break
        }
        return out
    }

    // MARK: Registers

    func registerValue(_ n: Int, _ regs: [UInt32], _ float: GDBFloatRegisters?) -> [UInt8] {
        let r = target.registers[n]
        switch r.source {
        case .backend(let b) where b < regs.count: return GDBHex.littleEndian(regs[b])
        case .backend: break
        case .st(let i):
            if let f = float { return GDBHex.encode(Self.bytes(f.st[i].significand, 8) + Self.bytes(UInt64(f.st[i].signExponent), 2)) }
        case .fpuControl(let i):
            if let f = float { return GDBHex.littleEndian(f.control[i]) }
        case .xmm(let i):
            if let f = float { return GDBHex.encode(Self.bytes(f.xmm[i].low, 8) + Self.bytes(f.xmm[i].high, 8)) }
        case .mxcsr:
            if let f = float { return GDBHex.littleEndian(f.mxcsr) }
        }
        return Array(repeating: UInt8(ascii: "x"), count: 2 * r.byteSize)
    }

    func registerPacket(_ regs: [UInt32], _ float: GDBFloatRegisters?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2 * target.registerBytes)
        for n in target.registers.indices { out += registerValue(n, regs, float) }
        return out
    }

    /// `G`: writes each register given in full with known bytes; true if every such write worked.
    /// The x87/SSE registers given are written together, once, at the end.
    func writeRegisters(_ bytes: [UInt8?]) -> Bool {
        var offset = 0
        var success = true
        var float: GDBFloatRegisters? = nil
        var floatChanged = false
        for r in target.registers {
            let end = offset + r.byteSize
            if end > bytes.count { break }
            let value = bytes[offset..<end]
            offset = end
            if value.contains(where: { $0 == nil }) { continue }
            let known = value.map { $0! }
            if let index = r.backendIndex {
                success = backend.writeRegister(index, littleEndian(known)) && success
                continue
            }
            if float == nil { float = backend.readFloatRegisters() }
            guard var f = float else { continue }   // no FPU: as before, nothing to write
            let old = f
            Self.store(known, into: &f, r.source)
            if f != old { floatChanged = true }
            float = f
        }
        if floatChanged, let f = float { success = backend.writeFloatRegisters(f) && success }
        return success
    }

    /// `value` (a register's bytes in target order) into the register `source` names.
    static func store(_ value: [UInt8], into f: inout GDBFloatRegisters, _ source: GDBTargetDescription.Register.Source) {
        func le(_ from: Int, _ count: Int) -> UInt64 {
            var v: UInt64 = 0
            for k in 0..<count where from + k < value.count { v |= UInt64(value[from + k]) << (8 * UInt64(k)) }
            return v
        }
        switch source {
        case .backend: break
        case .st(let i): f.st[i] = .init(significand: le(0, 8), signExponent: UInt16(truncatingIfNeeded: le(8, 2)))
        case .fpuControl(let i): f.control[i] = UInt32(truncatingIfNeeded: le(0, 4))
        case .xmm(let i): f.xmm[i] = .init(low: le(0, 8), high: le(8, 8))
        case .mxcsr: f.mxcsr = UInt32(truncatingIfNeeded: le(0, 4))
        }
    }

    static func bytes(_ v: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
    }

    func littleEndian<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var v: UInt32 = 0
        for (i, b) in bytes.prefix(4).enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }

    // MARK: Memory

    static func maxReadable(from address: UInt32) -> Int { Int(0x1_0000_0000 - UInt64(address)) }

    /// Reads page by page so a read that runs into an unmapped page returns what came before it
    /// (GDB accepts short `m` replies); nil if the first page is unmapped.
    func readMemory(_ address: UInt32, _ count: Int) -> [UInt8]? {
        var out: [UInt8] = []
        var a = UInt64(address)
        let end = a + UInt64(count)
        while a < end {
            let chunk = Int(min(end, (a | 0xFFF) + 1) - a)
            guard let bytes = backend.readMemory(linear: UInt32(a), count: chunk), bytes.count == chunk else {
                return out.isEmpty ? nil : out
            }
            out += bytes
            a += UInt64(chunk)
        }
        return out
    }
}
