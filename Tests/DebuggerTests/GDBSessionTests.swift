import XCTest
import Foundation
import Debugger
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole sessions: the request loop (`GDBServer.serve`) against a scripted client.
final class GDBSessionTests: XCTestCase {
    func hex(_ s: String) -> String { String(decoding: GDBHex.encode(s), as: UTF8.self) }

    func testSessionOverSocketpair() {
        let s = GDBTestSession()
        s.sendAcks = true
        XCTAssertEqual(s.handshake(noAck: false)?.contains("QStartNoAckMode+"), true)
        XCTAssertEqual(s.acksReceived, 1)                    // the stub acked qSupported
        XCTAssertEqual(s.request("QStartNoAckMode"), "OK")
        s.sendAcks = false
        let acks = s.acksReceived
        XCTAssertEqual(s.request("?"), "T0508:00100000;04:00800000;05:10800000;thread:1;")
        XCTAssertEqual(s.request("g")?.count, 2 * GDBTargetDescription.i386.registerBytes)
        XCTAssertEqual(s.request("Z0,1003,1"), "OK")
        XCTAssertEqual(s.request("vCont;c"), "T0508:03100000;04:00800000;05:10800000;thread:1;swbreak:;")
        XCTAssertEqual(s.request("z0,1003,1"), "OK")
        XCTAssertEqual(s.request("vCont;s:1;c"), "T0508:04100000;04:00800000;05:10800000;thread:1;")
        XCTAssertEqual(s.request("M3000,2:1234"), "OK")
        XCTAssertEqual(s.request("m3000,3"), "123490")
        s.send(bytes: Array("X3000,2:".utf8) + GDBPacket.escapeBinary([0x7d, 0x2a]))
        XCTAssertEqual(s.receive(), "OK")
        XCTAssertEqual(s.backend.memory[0x3000...0x3001], [0x7d, 0x2a])
        s.send("qRcmd," + hex("regs"))
        XCTAssertEqual(s.receive(), "O" + hex("eip=1004\n"))
        XCTAssertEqual(s.receive(), "OK")
        XCTAssertEqual(s.request("qRcmd,zz"), "E01")
        XCTAssertEqual(s.acksReceived, acks)                 // no acks in no-ack mode
        s.send("k")
        XCTAssertEqual(s.finish(), .killed)
        XCTAssertTrue(s.backend.killed)
        XCTAssertEqual(s.violations, [])
    }

    func testInterruptThenDetach() {
        let s = GDBTestSession()
        _ = s.handshake()
        s.backend.memory[0x1000] = 0xEB   // spin
        XCTAssertEqual(s.request("Z0,2000,1"), "OK")
        XCTAssertEqual(s.request("Z2,3000,4"), "OK")
        s.send("c")
        XCTAssertNil(s.receive(timeout: 100))   // still running
        s.writeRaw([0x03])
        XCTAssertEqual(s.receive(), "T0208:00100000;04:00800000;05:10800000;thread:1;")
        XCTAssertGreaterThan(s.backend.interruptPolls, 0)
        XCTAssertEqual(s.request("?")?.hasPrefix("T02"), true)
        XCTAssertEqual(s.request("D"), "OK")
        XCTAssertEqual(s.finish(), .detached)
        XCTAssertTrue(s.backend.breakpoints.isEmpty, "detach removes what GDB left inserted")
        XCTAssertEqual(s.violations, [])
    }

    func testDisconnectWhileRunning() {
        let s = GDBTestSession()
        _ = s.handshake()
        s.backend.memory[0x1000] = 0xEB
        XCTAssertEqual(s.request("Z1,2000,1"), "OK")
        s.send("vCont;c")
        XCTAssertNil(s.receive(timeout: 50))
        s.closeClient()
        XCTAssertEqual(s.finish(), .disconnected)
        XCTAssertTrue(s.backend.breakpoints.isEmpty)
    }

    func testDisconnectMidPacketAndIdle() {
        let s = GDBTestSession()
        _ = s.handshake(noAck: false)
        s.writeRaw("$m1000,")
        s.closeClient()
        XCTAssertEqual(s.finish(), .disconnected)
        let t = GDBTestSession()
        t.closeClient()
        XCTAssertEqual(t.finish(), .disconnected)
    }

    func testBadChecksumsAndNak() {
        let s = GDBTestSession()
        s.writeRaw("$qC#00")
        XCTAssertNil(s.receive(timeout: 200))
        XCTAssertEqual(s.naksReceived, 1)                     // ack mode: NAK, GDB would resend
        XCTAssertEqual(s.request("qC"), "QC1")
        // A `-` from the client makes the stub send its reply again.
        s.sendAcks = false
        s.send("qC")
        XCTAssertEqual(s.receive(), "QC1")
        s.writeRaw("-")
        XCTAssertEqual(s.receive(), "QC1")
        s.writeRaw("+")
        s.sendAcks = true
        XCTAssertEqual(s.request("QStartNoAckMode"), "OK")
        s.sendAcks = false
        s.writeRaw("$qC#00")
        XCTAssertEqual(s.receive(), "E01")                    // no-ack mode: an answer, not silence
        s.writeRaw("$qC#zz")
        XCTAssertEqual(s.receive(), "E01")
        s.send("k")
        XCTAssertEqual(s.finish(), .killed)
        XCTAssertEqual(s.violations, [])
    }

    func testOversizedAndMalformedPackets() {
        let s = GDBTestSession()
        _ = s.handshake()
        s.send(String(repeating: "M", count: 70_000))
        XCTAssertEqual(s.receive(), "E01")
        s.send("a*")                                           // run-length with no count
        XCTAssertEqual(s.receive(), "E01")
        s.send("m1000,zz")
        XCTAssertEqual(s.receive(), "E01")
        s.send("m1000,4\u{00}")
        XCTAssertEqual(s.receive(), "E01")
        s.writeRaw("garbage without a dollar\u{03}+-")
        XCTAssertEqual(s.request("qC"), "QC1")
        XCTAssertEqual(s.request("m1000,2"), "9090")
        s.send("vKill;1")
        XCTAssertEqual(s.receive(), "OK")
        XCTAssertEqual(s.finish(), .killed)
        XCTAssertEqual(s.violations, [])
    }

    func testGuestExit() {
        let s = GDBTestSession()
        _ = s.handshake()
        s.backend.memory[0x1002] = 0xF4
        s.backend.registers[GDBRegister.eax] = 3
        XCTAssertEqual(s.request("c"), "W03")
        XCTAssertEqual(s.finish(), .exited(status: 3))
    }

    func testReverseExecution() {
        let s = GDBTestSession()
        _ = s.handshake()
        XCTAssertEqual(s.request("s")?.hasPrefix("T0508:01100000"), true)
        XCTAssertEqual(s.request("s")?.hasPrefix("T0508:02100000"), true)
        XCTAssertEqual(s.request("bs")?.hasPrefix("T0508:01100000"), true)
        XCTAssertEqual(s.request("bc"), "T0508:00100000;04:00800000;05:10800000;thread:1;replaylog:begin;")
        XCTAssertEqual(s.request("bs")?.hasSuffix("replaylog:begin;"), true)
        s.send("k")
        XCTAssertEqual(s.finish(), .killed)
    }

    // MARK: Real sockets

    /// Connects to `address` and runs a short session; the server runs on a thread.
    func runRealSocket(_ listen: GDBListenAddress) throws {
        let server = try GDBServer(listen: listen)
        let backend = GDBFakeBackend()
        final class Box: @unchecked Sendable {
            let server: GDBServer, backend: GDBFakeBackend
            var result: GDBServeResult?
            init(_ server: GDBServer, _ backend: GDBFakeBackend) { self.server = server; self.backend = backend }
        }
        let box = Box(server, backend)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            box.result = box.server.serve(box.backend, announce: false)
            done.signal()
        }
        thread.start()
        let fd: Int32
        switch server.address {
        case let .tcp(port):
            XCTAssertNotEqual(port, 0)
            fd = socket(AF_INET, GDBServer.streamType, 0)
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let r = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            XCTAssertEqual(r, 0)
        case let .unix(path):
            fd = socket(AF_UNIX, GDBServer.streamType, 0)
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
            }
            let r = withUnsafePointer(to: &sun) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            XCTAssertEqual(r, 0)
        }
        let frame = GDBPacket.frame(Array("?".utf8)) + Array("+".utf8) + GDBPacket.frame(Array("k".utf8))
        _ = frame.withUnsafeBytes { gdbTestSend(fd, $0.baseAddress, $0.count) }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(box.result, .killed)
        var reply = [UInt8](repeating: 0, count: 256)
        let n = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        XCTAssertTrue(n > 0 && String(decoding: reply[0..<n], as: UTF8.self).hasPrefix("+$T05"))
        gdbTestCloseFD(fd)
        server.close()
    }

    func testTCPLoopback() throws {
        try runRealSocket(.tcp(port: 0))
    }

    func testUnixSocket() throws {
        let path = NSTemporaryDirectory() + "x86v-gdb-test-\(getpid()).sock"
        try runRealSocket(.unix(path: path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "close() removes the socket")
        // A regular file in the way is an error, not deleted.
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        XCTAssertThrowsError(try GDBServer(listen: .unix(path: path)))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        try? FileManager.default.removeItem(atPath: path)
    }

    func testPortInUse() throws {
        let first = try GDBServer(listen: .tcp(port: 0))
        guard case let .tcp(port) = first.address else { return XCTFail() }
        XCTAssertThrowsError(try GDBServer(listen: .tcp(port: port))) { error in
            XCTAssertTrue("\(error)".contains("cannot listen on 127.0.0.1:\(port)"))
        }
    }
}
