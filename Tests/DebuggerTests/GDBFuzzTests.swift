import XCTest
import Debugger

/// Seeded fuzzing of the stub: 20,000 random and mutated packets through the parser and the
/// stub in memory, and 20,000 through the request loop over a socketpair. Nothing may crash or
/// hang, and every byte the stub sends must be `+`, `-` or a well-formed frame.
final class GDBFuzzTests: XCTestCase {
    static let count = 20_000
    static func hex(_ s: String) -> String { String(decoding: GDBHex.encode(s), as: UTF8.self) }

    /// Valid requests of every kind with random arguments.
    static func validPacket(_ r: inout GDBFuzzRandom) -> [UInt8] {
        func h(_ v: UInt64) -> String { String(v, radix: 16) }
        func address(_ r: inout GDBFuzzRandom) -> UInt64 {
            r.chance(80) ? UInt64(r.below(0x11000)) : (r.chance(50) ? r.next() & 0xFFFF_FFFF : r.next())
        }
        let a = address(&r), n = UInt64(r.chance(90) ? r.below(64) : r.below(0x20000))
        let data = (0..<r.below(32)).map { _ in r.byte() }
        let text: String
        switch r.below(34) {
        case 0: text = "qSupported:swbreak+;hwbreak+;xmlRegisters=i386"
        case 1: text = "qXfer:features:read:target.xml:\(h(UInt64(r.below(0x1200)))),\(h(n))"
        case 2: text = "?"
        case 3: text = "g"
        case 4: text = "G" + String(decoding: GDBHex.encode(data), as: UTF8.self)
        case 5: text = "p\(h(UInt64(r.below(50))))"
        case 6: text = "P\(h(UInt64(r.below(50))))=\(String(decoding: GDBHex.encode(data.prefix(r.below(12))), as: UTF8.self))"
        case 7: text = "m\(h(a)),\(h(n))"
        case 8: text = "M\(h(a)),\(h(UInt64(data.count))):\(String(decoding: GDBHex.encode(data), as: UTF8.self))"
        case 9: return Array("X\(h(a)),\(h(UInt64(data.count))):".utf8) + GDBPacket.escapeBinary(data)
        case 10, 11: text = "\(r.pick(["Z", "z"]))\(r.below(6)),\(h(a)),\(h(UInt64(r.below(9))))"
        case 12, 13: text = r.pick(["s", "c", "bs", "bc", "vCont;s:1;c", "vCont;c", "S05", "C02;\(h(a))", "s\(h(a))"])
        case 14: text = "vCont?"
        case 15: text = r.chance(10) ? "D" : "qC"
        case 16: text = r.chance(10) ? "k" : "qAttached"
        case 17: text = r.chance(10) ? "vKill;1" : "qfThreadInfo"
        case 18: text = r.pick(["qC", "qsThreadInfo", "Hg0", "Hc-1", "T1", "qTStatus", "vMustReplyEmpty"])
        case 19: text = "qRcmd," + String(decoding: GDBHex.encode(r.pick(["regs", "big", "help", ""])), as: UTF8.self)
        case 20: text = "QStartNoAckMode"
        default:
            // Memory writes that make programs for continue: exits, spins, stores.
            let program = (0..<r.below(8)).map { _ in r.pick([UInt8(0x90), 0xAA, 0xEB, 0xF4, r.byte()]) }
            text = "M\(h(UInt64(r.below(0x10000)))),\(h(UInt64(program.count))):\(String(decoding: GDBHex.encode(program), as: UTF8.self))"
        }
        return Array(text.utf8)
    }

    /// A valid packet, mutated, or random bytes (special characters over-represented).
    static func fuzzPayload(_ r: inout GDBFuzzRandom) -> [UInt8] {
        let specials: [UInt8] = Array("$#}*,:;=+-xX0123456789abcdefmMgGpPZzqQvs".utf8) + [0x03, 0x00, 0xff]
        if r.chance(15) { return (0..<r.below(200)).map { _ in r.chance(40) ? r.pick(specials) : r.byte() } }
        var p = validPacket(&r)
        if r.chance(50) {
            for _ in 0..<(1 + r.below(4)) {
                let i = r.below(p.count + 1)
                switch r.below(5) {
                case 0 where i < p.count: p[i] = r.chance(50) ? r.pick(specials) : r.byte()
                case 1: p.insert(r.chance(50) ? r.pick(specials) : r.byte(), at: i)
                case 2 where i < p.count: p.remove(at: i)
                case 3: p = Array(p.prefix(i))
                default: p += p.prefix(r.below(8))
                }
            }
        }
        return p
    }

    /// Wire bytes for one fuzz unit: usually a framed payload (sometimes with a wrong checksum),
    /// sometimes loose bytes, now and then an oversized packet.
    static func fuzzUnit(_ r: inout GDBFuzzRandom) -> [UInt8] {
        if r.below(2000) == 0 { return GDBPacket.frame([UInt8](repeating: 0x61, count: 70_000)) }
        if r.chance(3) { return (0..<r.below(20)).map { _ in r.pick(Array("$#+-\u{03}ab".utf8)) } }
        var frame = GDBPacket.frame(fuzzPayload(&r))
        if r.chance(5) { frame[frame.count - 1] = r.pick(Array("0123456789abcdefZ".utf8)) }
        return frame
    }

    func testFuzzParserAndStub() {
        var r = GDBFuzzRandom(seed: 0x5eed_0001)
        let fake = GDBFakeBackend()
        fake.spinLimit = 3000
        fake.float = GDBFakeBackend.sampleFloat   // the x87/SSE registers' reads and writes too
        var stub = GDBStub(backend: fake)
        var kinds = Set<String>()
        for _ in 0..<Self.count {
            let payload = Self.fuzzPayload(&r)
            let command = GDBCommand(payload)
            kinds.insert(String("\(command)".prefix(while: { $0 != "(" })))
            // Decoding the framed payload gives it back (run-length aside).
            var decoder = GDBPacketDecoder()
            let events = decoder.feed(GDBPacket.frame(payload))
            if !payload.contains(GDBPacket.star) && !payload.contains(GDBPacket.dollar) && !payload.contains(GDBPacket.hash) {
                XCTAssertEqual(events, [.packet(payload)])
            }
            let response = stub.handle(command, interrupted: { false })
            for packet in response.packets {
                XCTAssertFalse(packet.contains(GDBPacket.dollar) || packet.contains(GDBPacket.hash),
                               "reply to \(String(decoding: payload, as: UTF8.self))")
                if packet.first != UInt8(ascii: "m") && packet.first != UInt8(ascii: "l") {
                    XCTAssertFalse(packet.contains(GDBPacket.star))
                }
                XCTAssertLessThanOrEqual(packet.count, GDBStub.packetSize + 16)
            }
            if response.finish != nil { stub = GDBStub(backend: fake); fake.killed = false }
        }
        XCTAssertGreaterThanOrEqual(kinds.count, 20, "the generator reaches most commands: \(kinds.sorted())")
    }

    func testFuzzRequestLoop() {
        var r = GDBFuzzRandom(seed: 0x5eed_0002)
        var sessions = 0, replies = 0, units = 0
        var violations: [String] = []
        let marker = "O" + Self.hex("unknown command: sync\n")
        while units < Self.count {
            let backend = GDBFakeBackend()
            backend.spinLimit = 3000
            let s = GDBTestSession(backend: backend)
            sessions += 1
            if r.chance(50) { _ = s.handshake() }   // else stay in ack mode (the client acks every frame)
            var ended = false
            while !ended && units < Self.count {
                units += 1
                s.writeRaw(Self.fuzzUnit(&r))
                // Resynchronise: `#00` ends whatever packet the unit left open, then a marker
                // request whose reply no fuzz unit produces (monitor output for "sync").
                s.writeRaw(Array("#00".utf8) + GDBPacket.frame(Array(("qRcmd," + Self.hex("sync")).utf8)))
                var sawMarker = false
                while true {
                    guard let reply = s.receive(timeout: 10_000) else {
                        // Only a finished session may fall silent.
                        if s.finish(timeout: 5) == nil { XCTFail("stub hung after unit \(units)"); return }
                        ended = true
                        break
                    }
                    replies += 1
                    if sawMarker && reply == "OK" { break }
                    sawMarker = reply == marker
                }
            }
            s.closeClient()
            XCTAssertNotNil(s.finish(timeout: 10), "session \(sessions) did not return")
            violations += s.violations
        }
        XCTAssertEqual(violations, [])
        XCTAssertGreaterThan(sessions, 1)
        print("GDB fuzz: \(units) units, \(replies) replies, \(sessions) sessions")
    }
}
