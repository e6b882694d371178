import Foundation
import Debugger
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// close(2) (the name is shadowed in classes with a `close` method).
func gdbTestCloseFD(_ fd: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}

/// send(2) without SIGPIPE.
func gdbTestSend(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int {
    #if canImport(Glibc)
    return send(fd, p, n, Int32(MSG_NOSIGNAL))
    #else
    return send(fd, p, n, 0)
    #endif
}

/// Runs `GDBServer.serve(fileDescriptor:)` on a thread over one end of a socketpair and plays
/// GDB on the other end. Every byte the stub sends is checked: only `+`, `-` and frames with a
/// correct checksum and no `$`/`#` inside.
final class GDBTestSession: @unchecked Sendable {
    let backend: GDBFakeBackend
    let clientFD: Int32
    let serverFD: Int32
    private let done = DispatchSemaphore(value: 0)
    private(set) var result: GDBServeResult?
    var buffer: [UInt8] = []
    /// Every malformed thing seen from the stub (a test fails if not empty).
    var violations: [String] = []
    var acksReceived = 0
    var naksReceived = 0
    /// Send `+` after each frame received (harmless in no-ack mode: the stub ignores it).
    var sendAcks = true
    private(set) var closedByPeer = false

    init(backend: GDBFakeBackend = GDBFakeBackend()) {
        self.backend = backend
        var fds: [Int32] = [0, 0]
        #if canImport(Glibc)
        let type = Int32(SOCK_STREAM.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        precondition(socketpair(AF_UNIX, type, 0, &fds) == 0)
        clientFD = fds[0]
        serverFD = fds[1]
        let thread = Thread { [self] in
            result = GDBServer.serve(fileDescriptor: serverFD, backend: backend)
            gdbTestCloseFD(serverFD)
            done.signal()
        }
        thread.start()
    }

    /// Waits for the server loop to return.
    func finish(timeout: Double = 10) -> GDBServeResult? {
        if finished { return result }
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        finished = true
        return result
    }
    private var finished = false

    func closeClient() { gdbTestCloseFD(clientFD) }

    func writeRaw(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { gdbTestSend(clientFD, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }

    func writeRaw(_ text: String) { writeRaw(Array(text.utf8)) }

    /// Sends `$payload#cs`.
    func send(_ payload: String) { writeRaw(GDBPacket.frame(Array(payload.utf8))) }
    func send(bytes payload: [UInt8]) { writeRaw(GDBPacket.frame(payload)) }

    /// Reads more bytes; false on timeout or EOF.
    func fill(timeout: Int32) -> Bool {
        var p = pollfd(fd: clientFD, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeout) > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(clientFD, $0.baseAddress, $0.count, 0) }
        if n <= 0 { closedByPeer = true; return false }
        buffer += chunk[0..<n]
        return true
    }

    /// The next frame's payload (acks before it are counted); nil on timeout or EOF.
    func receive(timeout: Int32 = 10_000) -> String? {
        receiveBytes(timeout: timeout).map { String(decoding: $0, as: UTF8.self) }
    }

    func receiveBytes(timeout: Int32 = 10_000) -> [UInt8]? {
        while true {
            // Acks and the start of a frame.
            while let first = buffer.first, first != UInt8(ascii: "$") {
                switch first {
                case UInt8(ascii: "+"): acksReceived += 1
                case UInt8(ascii: "-"): naksReceived += 1
                default: violations.append("stray byte \(first) outside a frame")
                }
                buffer.removeFirst()
            }
            if let hash = buffer.firstIndex(of: UInt8(ascii: "#")), buffer.count >= hash + 3 {
                let payload = Array(buffer[1..<hash])
                let cs = buffer[(hash + 1)...(hash + 2)]
                if payload.contains(UInt8(ascii: "$")) { violations.append("$ inside a frame") }
                if GDBHex.number(cs).map({ UInt8($0) }) != GDBPacket.checksum(payload) {
                    violations.append("bad checksum on \(String(decoding: payload.prefix(40), as: UTF8.self))")
                }
                buffer.removeFirst(hash + 3)
                if sendAcks { writeRaw([UInt8(ascii: "+")]) }
                return payload
            }
            if !fill(timeout: timeout) { return nil }
        }
    }

    /// Sends a request and returns the reply (skipping nothing).
    func request(_ payload: String) -> String? {
        send(payload)
        return receive()
    }

    /// qSupported, then QStartNoAckMode: the usual start of a GDB session.
    func handshake(noAck: Bool = true) -> String? {
        let features = request("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+;xmlRegisters=i386")
        if noAck { _ = request("QStartNoAckMode"); sendAcks = false }
        return features
    }
}

/// A deterministic generator (SplitMix64) for the fuzz tests (GDB packets, debugger command lines).
struct GDBFuzzRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}
