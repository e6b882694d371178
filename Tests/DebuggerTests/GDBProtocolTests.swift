import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Debugger

/// The GDB Remote Serial Protocol stub: framing, parsing, the target description, and whole
/// sessions against `GDBFakeBackend` over a socketpair and over real sockets.
final class GDBProtocolTests: XCTestCase {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
    func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    // MARK: Framing

    func testFrameAndChecksum() {
        XCTAssertEqual(text(GDBPacket.frame(bytes("OK"))), "$OK#9a")
        XCTAssertEqual(text(GDBPacket.frame([])), "$#00")
        XCTAssertEqual(text(GDBPacket.frame(bytes("qSupported"))), "$qSupported#37")
        XCTAssertEqual(GDBPacket.checksum(bytes("g")), 0x67)
    }

    func testEscapeRoundTrip() {
        var random = GDBFuzzRandom(seed: 7)
        for _ in 0..<500 {
            let data = (0..<random.below(200)).map { _ in random.pick([0x23, 0x24, 0x7d, 0x2a, 0x00, 0x03, random.byte()]) }
            let escaped = GDBPacket.escapeBinary(data)
            XCTAssertFalse(escaped.contains { $0 == 0x23 || $0 == 0x24 || $0 == 0x2a })
            XCTAssertEqual(GDBPacket.unescapeBinary(escaped), data)
            // Through a frame and the decoder: the payload arrives as sent (still escaped).
            var decoder = GDBPacketDecoder()
            XCTAssertEqual(decoder.feed(GDBPacket.frame(escaped)), [.packet(escaped)])
        }
        XCTAssertNil(GDBPacket.unescapeBinary(bytes("ab}")))
        XCTAssertEqual(GDBPacket.unescapeBinary([0x7d, 0x5d, 0x7d, 0x03]), [0x7d, 0x23])
    }

    func testRunLengthDecoding() {
        XCTAssertEqual(text(GDBPacket.expandRunLength(bytes("0* ")) ?? []), "0000")        // ' ' = 32: 3 more
        XCTAssertEqual(text(GDBPacket.expandRunLength(bytes("a*\"b")) ?? []), "aaaaaab")  // "\"" = 34: 5 more
        XCTAssertEqual(GDBPacket.expandRunLength([0x7d, 0x2a, 0x2a, 0x20]), [0x7d, 0x2a, 0x2a, 0x2a, 0x2a])  // `}*` is data
        XCTAssertNil(GDBPacket.expandRunLength(bytes("*a")))          // nothing to repeat
        XCTAssertNil(GDBPacket.expandRunLength(bytes("a*")))          // no count
        XCTAssertNil(GDBPacket.expandRunLength(bytes("a*\u{10}")))    // count below 29
        XCTAssertNil(GDBPacket.expandRunLength(bytes("a*~"), limit: 50))
        var decoder = GDBPacketDecoder()
        XCTAssertEqual(decoder.feed(GDBPacket.frame(bytes("m0,4:0* "))), [.packet(bytes("m0,4:0000"))])
    }

    func testDecoderEvents() {
        var decoder = GDBPacketDecoder()
        XCTAssertEqual(decoder.feed(bytes("+-\u{03}junk$g#67")), [.ack, .nak, .interrupt, .packet(bytes("g"))])
        XCTAssertEqual(decoder.feed(bytes("$g#68")), [.badChecksum])
        XCTAssertEqual(decoder.feed(bytes("$g#zz")), [.badChecksum])
        XCTAssertEqual(decoder.feed(bytes("$m0,1$g#67")), [.packet(bytes("g"))])     // `$` restarts
        XCTAssertEqual(decoder.feed(bytes("$\u{03}#03")), [.packet([0x03])])          // 0x03 inside is data
        // Byte by byte, uppercase checksum digits.
        var events: [GDBInputEvent] = []
        for b in bytes("$qC#B4") { if let e = decoder.feed(b) { events.append(e) } }
        XCTAssertEqual(events, [.packet(bytes("qC"))])
        // Oversized: dropped whole, reported once, and the next packet is fine.
        let big = [UInt8](repeating: 0x61, count: GDBPacket.maxPayload + 10)
        XCTAssertEqual(decoder.feed(GDBPacket.frame(big) + bytes("$g#67")), [.malformed, .packet(bytes("g"))])
        XCTAssertEqual(decoder.feed(GDBPacket.frame(bytes("a*"))), [.malformed])
    }

    func testHex() {
        XCTAssertEqual(GDBHex.number(bytes("1f")), 0x1f)
        XCTAssertEqual(GDBHex.number(bytes("FFFFFFFFFFFFFFFF")), UInt64.max)
        XCTAssertNil(GDBHex.number(bytes("1FFFFFFFFFFFFFFFF")))
        XCTAssertNil(GDBHex.number(bytes("")))
        XCTAssertNil(GDBHex.number(bytes("0x1")))
        XCTAssertEqual(GDBHex.decode(bytes("00ff7A")), [0, 255, 0x7a])
        XCTAssertNil(GDBHex.decode(bytes("0")))
        XCTAssertNil(GDBHex.decode(bytes("0g")))
        XCTAssertEqual(text(GDBHex.littleEndian(0x1234_5678)), "78563412")
    }

    // MARK: Parsing

    func testParseEveryPacket() {
        let cases: [(String, GDBCommand)] = [
            ("qSupported", .querySupported([])),
            ("qSupported:swbreak+;xmlRegisters=i386", .querySupported(["swbreak+", "xmlRegisters=i386"])),
            ("QStartNoAckMode", .startNoAckMode),
            ("qXfer:features:read:target.xml:0,ffb", .readFeatures(annex: "target.xml", offset: 0, length: 0xffb)),
            ("qXfer:features:read:target.xml:1000", .malformed),
            ("?", .haltReason),
            ("g", .readRegisters),
            ("G0102xx04", .writeRegisters([1, 2, nil, 4])),
            ("G012", .malformed),
            ("p8", .readRegister(8)),
            ("pzz", .malformed),
            ("P8=00100000", .writeRegister(8, [0, 0x10, 0, 0])),
            ("P8", .malformed),
            ("m1000,40", .readMemory(address: 0x1000, length: 0x40)),
            ("m100000000,4", .malformed),
            ("m1000", .malformed),
            ("M1000,2:abcd", .writeMemory(address: 0x1000, bytes: [0xab, 0xcd])),
            ("M1000,3:abcd", .malformed),
            ("Mffffffff,2:abcd", .malformed),
            ("X1000,0:", .writeMemory(address: 0x1000, bytes: [])),
            ("X1000,3:a}\u{03}b", .writeMemory(address: 0x1000, bytes: [0x61, 0x23, 0x62])),
            ("Z0,1001,1", .insertBreakpoint(.software, address: 0x1001, length: 1)),
            ("z0,1001,1", .removeBreakpoint(.software, address: 0x1001, length: 1)),
            ("Z1,1001,1", .insertBreakpoint(.hardware, address: 0x1001, length: 1)),
            ("Z2,3000,4", .insertBreakpoint(.writeWatch, address: 0x3000, length: 4)),
            ("Z3,3000,2", .insertBreakpoint(.readWatch, address: 0x3000, length: 2)),
            ("z4,3000,1", .removeBreakpoint(.accessWatch, address: 0x3000, length: 1)),
            ("Z0,1001,1;X2,ab", .insertBreakpoint(.software, address: 0x1001, length: 1)),
            ("Z5,1001,1", .unsupported),
            ("Z0,1001", .malformed),
            ("s", .resume(.step, address: nil)),
            ("s2000", .resume(.step, address: 0x2000)),
            ("c", .resume(.continue, address: nil)),
            ("c2000", .resume(.continue, address: 0x2000)),
            ("C05", .resume(.continue, address: nil)),
            ("S05;2000", .resume(.step, address: 0x2000)),
            ("C", .malformed),
            ("bs", .resume(.reverseStep, address: nil)),
            ("bc", .resume(.reverseContinue, address: nil)),
            ("vCont?", .queryResumeActions),
            ("vCont;c", .resume(.continue, address: nil)),
            ("vCont;s:1;c", .resume(.step, address: nil)),
            ("vCont;C02:1", .resume(.continue, address: nil)),
            ("vCont;t", .malformed),
            ("vCont;", .malformed),
            ("D", .detach),
            ("D;1", .detach),
            ("k", .kill(replyExpected: false)),
            ("vKill;1", .kill(replyExpected: true)),
            ("qAttached", .queryAttached),
            ("qAttached:1", .queryAttached),
            ("qC", .queryCurrentThread),
            ("qfThreadInfo", .threadInfo(first: true)),
            ("qsThreadInfo", .threadInfo(first: false)),
            ("Hg0", .setThread),
            ("Hc-1", .setThread),
            ("Hgp1.1", .setThread),
            ("Hgzz", .malformed),
            ("T1", .threadAlive),
            ("qRcmd,68656c70", .monitor("help")),
            ("qRcmd,6", .malformed),
            ("vMustReplyEmpty", .unsupported),
            ("qTStatus", .unsupported),
            ("", .unsupported),
            ("!", .unsupported),
        ]
        for (packet, expected) in cases {
            XCTAssertEqual(GDBCommand(bytes(packet)), expected, packet)
        }
    }

    func testListenAddress() {
        XCTAssertEqual(GDBListenAddress("1234"), .tcp(port: 1234))
        XCTAssertEqual(GDBListenAddress(":1234"), .tcp(port: 1234))
        XCTAssertEqual(GDBListenAddress("localhost:1234"), .tcp(port: 1234))
        XCTAssertEqual(GDBListenAddress("127.0.0.1:1234"), .tcp(port: 1234))
        XCTAssertEqual(GDBListenAddress("tcp::1234"), .tcp(port: 1234))
        XCTAssertEqual(GDBListenAddress("unix:/tmp/x.sock"), .unix(path: "/tmp/x.sock"))
        for bad in ["", "x", "65536", "-1", "0x10", "unix:", "10.0.0.1:1234", "1234 "] {
            XCTAssertNil(GDBListenAddress(bad), bad)
        }
        XCTAssertEqual(GDBListenAddress.tcp(port: 9).description, "127.0.0.1:9")
    }

    // MARK: Target description

    func testTargetDescription() throws {
        let target = GDBTargetDescription.i386
        XCTAssertEqual(target.registers.count, 16 + 16 + 11 + 9)
        XCTAssertEqual(target.registers.map(\.name).prefix(16),
                       ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
                        "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs"])
        XCTAssertEqual(target.registers[16].name, "st0")
        XCTAssertEqual(target.registers[31].name, "fop")
        XCTAssertEqual(target.registers[32].name, "cr0")
        XCTAssertEqual(target.registers[42].name, "cpl")
        XCTAssertEqual(target.registers[43].name, "xmm0")
        XCTAssertEqual(target.registers[50].name, "xmm7")
        XCTAssertEqual(target.registers[51].name, "mxcsr")
        XCTAssertEqual(target.registers[18].source, .st(2))
        XCTAssertEqual(target.registers[26].source, .fpuControl(2))   // ftag
        XCTAssertEqual(target.registers[26].name, "ftag")
        XCTAssertEqual(target.registerBytes, 16 * 4 + 8 * 10 + 8 * 4 + 11 * 4 + 8 * 16 + 4)
        XCTAssertEqual(target.gdbNumber[GDBRegister.eip], 8)
        XCTAssertEqual(target.gdbNumber[GDBRegister.cr0], 32)
        XCTAssertEqual(target.gdbNumber[GDBRegister.cpl], 42)
        // Well-formed XML with every register once, in regnum order.
        let parser = XMLParser(data: Data(target.xml.utf8))
        let collector = RegisterCollector()
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        XCTAssertEqual(collector.names, target.registers.map(\.name))
        XCTAssertEqual(collector.features, ["org.gnu.gdb.i386.core", "org.x86v.sys", "org.gnu.gdb.i386.sse"])
        XCTAssertEqual(collector.regnums, Array(0..<target.registers.count))
        XCTAssertTrue(target.xml.contains("<union id=\"vec128\">"))
        XCTAssertTrue(target.xml.contains("<flags id=\"i386_mxcsr\" size=\"4\">"))
        XCTAssertFalse(target.xml.contains("$") || target.xml.contains("#") || target.xml.contains("*"))
        let small = GDBTargetDescription(includeX87: false)
        XCTAssertEqual(small.registers.count, 27)
        XCTAssertEqual(small.gdbNumber[GDBRegister.cr0], 16)
    }

    final class RegisterCollector: NSObject, XMLParserDelegate {
        var names: [String] = []
        var features: [String] = []
        var regnums: [Int] = []
        func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String] = [:]) {
            if element == "reg" {
                names.append(attributes["name"] ?? "?")
                regnums.append(Int(attributes["regnum"] ?? "") ?? -1)
            }
            if element == "feature" { features.append(attributes["name"] ?? "?") }
        }
    }

    // MARK: The stub in memory

    func stubReply(_ stub: GDBStub, _ packet: String) -> String {
        let response = stub.handle(GDBCommand(bytes(packet)), interrupted: { false })
        return response.packets.map(text).joined(separator: "|")
    }

    func testStubRegistersAndMemory() {
        let fake = GDBFakeBackend()
        let stub = GDBStub(backend: fake)
        let g = stubReply(stub, "g")
        XCTAssertEqual(g.count, 2 * GDBTargetDescription.i386.registerBytes)
        XCTAssertTrue(g.hasPrefix("00000000" + "00000000" + "00000000" + "00000000" + "00800000" + "10800000"))
        XCTAssertEqual(String(g.dropFirst(8 * 8).prefix(8)), "00100000")   // eip
        XCTAssertTrue(String(g.dropFirst(128).prefix(224)).allSatisfy { $0 == "x" })   // x87: unavailable
        XCTAssertEqual(String(g.dropFirst(128 + 224).prefix(8)), "11000000")           // cr0
        XCTAssertTrue(String(g.dropFirst(128 + 224 + 88)).allSatisfy { $0 == "x" })    // SSE: unavailable
        XCTAssertEqual(stubReply(stub, "p8"), "00100000")
        XCTAssertEqual(stubReply(stub, "p10"), String(repeating: "x", count: 20))      // st0
        XCTAssertEqual(stubReply(stub, "p20"), "11000000")                             // cr0 = regnum 32
        XCTAssertEqual(stubReply(stub, "p2b"), String(repeating: "x", count: 32))      // xmm0
        XCTAssertEqual(stubReply(stub, "p33"), String(repeating: "x", count: 8))       // mxcsr
        XCTAssertEqual(stubReply(stub, "p34"), "E00")
        XCTAssertEqual(stubReply(stub, "P33=801f0000"), "E01")                         // no FPU: refused
        XCTAssertEqual(stubReply(stub, "P0=78563412"), "OK")
        XCTAssertEqual(fake.registers[0], 0x1234_5678)
        XCTAssertEqual(stubReply(stub, "P0=7856"), "E01")
        XCTAssertEqual(stubReply(stub, "P10=00000000000000000000"), "E01")             // st0
        XCTAssertEqual(stubReply(stub, "P2a=03000000"), "E01")                         // cpl: refused by the backend
        // G: xx leaves a register alone; a short G writes what it covers.
        XCTAssertEqual(stubReply(stub, "G01000000xxxxxxxx03000000"), "OK")
        XCTAssertEqual(fake.registers[0], 1)
        XCTAssertEqual(fake.registers[1], 0)
        XCTAssertEqual(fake.registers[2], 3)
        // Memory.
        XCTAssertEqual(stubReply(stub, "M2000,3:aabbcc"), "OK")
        XCTAssertEqual(stubReply(stub, "m2000,4"), "aabbcc90")
        XCTAssertEqual(stubReply(stub, "X2001,2:}\u{03}}\u{04}"), "OK")
        XCTAssertEqual(fake.memory[0x2001...0x2002], [0x23, 0x24])
        XCTAssertEqual(stubReply(stub, "m20000,4"), "E14")
        XCTAssertEqual(stubReply(stub, "mfffe,8"), "9090")                             // short read at the end
        XCTAssertEqual(stubReply(stub, "m0,0"), "")
        XCTAssertEqual(stubReply(stub, "m0,100000").count, GDBStub.packetSize)           // clamped
        XCTAssertEqual(stubReply(stub, "M20000,1:00"), "E01")
        XCTAssertEqual(stubReply(stub, "X20000,0:"), "OK")
    }

    /// The x87 and SSE registers in GDB's layout: st0–7 as 10 little-endian bytes (significand,
    /// then sign/exponent), fctrl…fop and mxcsr as 4, xmm as 16 (low quadword first); `P` and `G`
    /// write them back as one set.
    func testStubFloatRegisters() {
        let fake = GDBFakeBackend()
        fake.float = GDBFloatRegisters(
            st: (0..<8).map { .init(significand: 0x8000_0000_0000_0000 | UInt64($0), signExponent: 0x3FFF + UInt16($0)) },
            control: [0x037F, 0x3800, 0x3FFF, 0x0008, 0x0010_1C7C, 0x0010, 0x0010_4020, 0x05E8],
            xmm: (0..<8).map { .init(low: 0x3FF0_0000_0000_0000 + UInt64($0), high: 0x1122_3344_5566_7700 | UInt64($0)) },
            mxcsr: 0x1F80)
        let stub = GDBStub(backend: fake)
        XCTAssertEqual(stubReply(stub, "p10"), "0000000000000080ff3f")                 // st0 = 1.0
        XCTAssertEqual(stubReply(stub, "p11"), "01000000000000800040")                 // st1 = 2 + 2^-62
        XCTAssertEqual(stubReply(stub, "p18"), "7f030000")                             // fctrl
        XCTAssertEqual(stubReply(stub, "p19"), "00380000")                             // fstat
        XCTAssertEqual(stubReply(stub, "p1a"), "ff3f0000")                             // ftag: the full word
        XCTAssertEqual(stubReply(stub, "p1c"), "7c1c1000")                             // fioff
        XCTAssertEqual(stubReply(stub, "p1f"), "e8050000")                             // fop
        XCTAssertEqual(stubReply(stub, "p2b"), "000000000000f03f0077665544332211")     // xmm0
        XCTAssertEqual(stubReply(stub, "p33"), "801f0000")                             // mxcsr
        let g = stubReply(stub, "g")
        XCTAssertEqual(g.count, 2 * GDBTargetDescription.i386.registerBytes)
        XCTAssertFalse(g.contains("x"))
        XCTAssertEqual(String(g.dropFirst(128).prefix(20)), "0000000000000080ff3f")
        XCTAssertEqual(String(g.dropFirst(128 + 224 + 88).prefix(32)), "000000000000f03f0077665544332211")
        XCTAssertEqual(String(g.suffix(8)), "801f0000")
        // P: one register changes, the rest of the set is written back as it was.
        XCTAssertEqual(stubReply(stub, "P10=0000000000000080004000"), "E01")            // 11 bytes: wrong size
        XCTAssertEqual(stubReply(stub, "P10=00000000000000800040"), "OK")               // st0 = 2.0
        XCTAssertEqual(fake.float?.st[0], .init(significand: 0x8000_0000_0000_0000, signExponent: 0x4000))
        XCTAssertEqual(fake.float?.st[1], .init(significand: 0x8000_0000_0000_0001, signExponent: 0x4000))
        XCTAssertEqual(stubReply(stub, "P2c=efcdab89674523011032547698badcfe"), "OK")   // xmm1
        XCTAssertEqual(fake.float?.xmm[1], .init(low: 0x0123_4567_89AB_CDEF, high: 0xFEDC_BA98_7654_3210))
        XCTAssertEqual(stubReply(stub, "P33=801f0000"), "OK")
        XCTAssertEqual(stubReply(stub, "P1a=ffff0000"), "OK")
        XCTAssertEqual(fake.float?.control[2], 0xFFFF)
        XCTAssertEqual(fake.floatWrites, 4)
        fake.floatReadOnly = true
        XCTAssertEqual(stubReply(stub, "P33=001f0000"), "E01")
        fake.floatReadOnly = false
        // G: the whole file back unchanged writes the float set once (or not at all: nothing changed).
        let before = fake.floatWrites
        fake.readOnly = []
        XCTAssertEqual(stubReply(stub, "G" + stubReply(stub, "g")), "OK")
        XCTAssertEqual(fake.floatWrites, before)
        // G with st7 and mxcsr changed, the rest `xx`: one write with both.
        var packet = Array(repeating: Character("x"), count: 2 * GDBTargetDescription.i386.registerBytes)
        func put(_ hex: String, at offset: Int) { for (k, c) in hex.enumerated() { packet[2 * offset + k] = c } }
        put("00000000000000c0ff7f", at: 16 * 4 + 7 * 10)                                // st7 = QNaN
        put("001f0000", at: GDBTargetDescription.i386.registerBytes - 4)
        XCTAssertEqual(stubReply(stub, "G" + String(packet)), "OK")
        XCTAssertEqual(fake.floatWrites, before + 1)
        XCTAssertEqual(fake.float?.st[7], .init(significand: 0xC000_0000_0000_0000, signExponent: 0x7FFF))
        XCTAssertEqual(fake.float?.mxcsr, 0x1F00)
        XCTAssertEqual(fake.float?.st[0], .init(significand: 0x8000_0000_0000_0000, signExponent: 0x4000))
    }

    func testStubStopRepliesAndFeatures() {
        let fake = GDBFakeBackend()
        let stub = GDBStub(backend: fake)
        let features = stubReply(stub, "qSupported:swbreak+")
        for f in ["PacketSize=4000", "qXfer:features:read+", "QStartNoAckMode+", "ReverseStep+", "ReverseContinue+",
                  "swbreak+", "hwbreak+"] {
            XCTAssertTrue(features.contains(f), f)
        }
        XCTAssertEqual(stubReply(stub, "?"), "T0508:00100000;04:00800000;05:10800000;thread:1;")
        XCTAssertEqual(stubReply(stub, "s"), "T0508:01100000;04:00800000;05:10800000;thread:1;")
        XCTAssertEqual(stubReply(stub, "Z0,1004,1"), "OK")
        XCTAssertEqual(stubReply(stub, "c"), "T0508:04100000;04:00800000;05:10800000;thread:1;swbreak:;")
        XCTAssertEqual(stubReply(stub, "z0,1004,1"), "OK")
        XCTAssertEqual(stubReply(stub, "Z1,1006,1"), "OK")
        XCTAssertTrue(stubReply(stub, "c").hasSuffix("thread:1;hwbreak:;"))
        XCTAssertEqual(stubReply(stub, "z1,1006,1"), "OK")
        XCTAssertEqual(stubReply(stub, "z1,1006,1"), "E01")
        fake.memory[0x1007] = 0xAA
        fake.registers[GDBRegister.edi] = 0x3000
        XCTAssertEqual(stubReply(stub, "Z2,3000,1"), "OK")
        XCTAssertTrue(stubReply(stub, "c").hasSuffix("thread:1;watch:3000;"))
        XCTAssertEqual(stubReply(stub, "z2,3000,1"), "OK")
        XCTAssertEqual(stubReply(stub, "bs"), "T0508:07100000;04:00800000;05:10800000;thread:1;")
        XCTAssertTrue(stubReply(stub, "bc").hasSuffix("replaylog:begin;"))
        XCTAssertEqual(fake.registers[GDBRegister.eip], 0x1000)
        XCTAssertEqual(stubReply(stub, "vCont?"), "vCont;c;C;s;S")
        XCTAssertEqual(stubReply(stub, "qC"), "QC1")
        XCTAssertEqual(stubReply(stub, "qfThreadInfo"), "m1")
        XCTAssertEqual(stubReply(stub, "qsThreadInfo"), "l")
        XCTAssertEqual(stubReply(stub, "qAttached"), "1")
        XCTAssertEqual(stubReply(stub, "Hg0"), "OK")
        XCTAssertEqual(stubReply(stub, "vMustReplyEmpty"), "")
        XCTAssertEqual(stubReply(stub, "qXfer:features:read:other.xml:0,100"), "E00")
        // target.xml in pieces reassembles exactly.
        var xml = "", offset = 0
        while true {
            let piece = stubReply(stub, "qXfer:features:read:target.xml:\(String(offset, radix: 16)),100")
            xml += piece.dropFirst()
            offset += piece.count - 1
            if piece.first == "l" { break }
            XCTAssertEqual(piece.first, "m")
        }
        XCTAssertEqual(xml, GDBTargetDescription.i386.xml)
        // Exit.
        fake.memory[0x1000] = 0xF4
        fake.registers[GDBRegister.eax] = 0x107
        let response = stub.handle(.resume(.continue, address: nil), interrupted: { false })
        XCTAssertEqual(response.packets.map(text), ["W07"])
        XCTAssertEqual(response.finish, .exited(status: 7))   // the fake exits with AL
    }

    func testStubMonitorAndKill() {
        let fake = GDBFakeBackend()
        let stub = GDBStub(backend: fake)
        let r = stub.handle(GDBCommand(bytes("qRcmd," + text(GDBHex.encode("regs")))), interrupted: { false })
        XCTAssertEqual(r.packets.map(text), ["O" + text(GDBHex.encode("eip=1000\n")), "OK"])
        let big = stub.handle(.monitor("big"), interrupted: { false })
        XCTAssertEqual(big.packets.count, 6)   // 5001 bytes in 1024-byte O packets, then OK
        let joined = big.packets.dropLast().map { text(GDBHex.decode($0.dropFirst()) ?? []) }.joined()
        XCTAssertEqual(joined.count, 5001)
        XCTAssertEqual(fake.monitorLog, ["regs", "big"])
        let kill = stub.handle(.kill(replyExpected: false), interrupted: { false })
        XCTAssertEqual(kill.packets, [])
        XCTAssertEqual(kill.finish, .killed)
        XCTAssertTrue(fake.killed)
    }
}
