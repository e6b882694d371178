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
            return reply(registerPacket(backend.readRegisters()))
        case let .writeRegisters(bytes):
            return ok(writeRegisters(bytes))
        case let .readRegister(n):
            guard n < target.registers.count else { return reply("E00") }
            return reply(registerValue(n, backend.readRegisters()))
        case let .writeRegister(n, value):
            guard n < target.registers.count, value.count == target.registers[n].byteSize,
                  let index = target.registers[n].backendIndex else { return reply("E01") }
            return ok(backend.writeRegister(index, littleEndian(value)))
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

    func registerValue(_ n: Int, _ regs: [UInt32]) -> [UInt8] {
        let r = target.registers[n]
        if let b = r.backendIndex, b < regs.count, r.byteSize == 4 { return GDBHex.littleEndian(regs[b]) }
        return Array(repeating: UInt8(ascii: "x"), count: 2 * r.byteSize)
    }

    func registerPacket(_ regs: [UInt32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2 * target.registerBytes)
        for n in target.registers.indices { out += registerValue(n, regs) }
        return out
    }

    /// `G`: writes each register given in full with known bytes; true if every such write worked.
    func writeRegisters(_ bytes: [UInt8?]) -> Bool {
        var offset = 0
        var success = true
        for r in target.registers {
            let end = offset + r.byteSize
            if end > bytes.count { break }
            let value = bytes[offset..<end]
            offset = end
            guard let index = r.backendIndex else { continue }
            if value.contains(where: { $0 == nil }) { continue }
            success = backend.writeRegister(index, littleEndian(value.map { $0! })) && success
        }
        return success
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
