#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One client connection: a stream socket (TCP, unix, or one end of a socketpair) read with
/// poll() + recv() into a `GDBPacketDecoder`, written with send() (no SIGPIPE). Handles the
/// ack protocol: `+`/`-` for what arrives, waiting for `+` (retransmitting on `-`) after what is
/// sent, until no-ack mode.
final class GDBConnection {
    let fd: Int32
    var decoder = GDBPacketDecoder()
    /// Events decoded but not yet consumed, oldest first.
    var pending: [GDBInputEvent] = []
    var noAck = false
    /// EOF, a reset or a failed write: nothing more will be read or written.
    private(set) var closed = false
    /// Last socket poll made by `pollInterrupt`.
    private var lastPoll = ContinuousClock.now
    /// Milliseconds to wait for the ack of a sent packet before going on as if it came (GDB acks at
    /// once; a client that never does must not hang the stub).
    static let ackTimeoutMilliseconds: Int32 = 5000
    static let retransmissions = 3
    static let maxPending = 1024

    init(fd: Int32) {
        self.fd = fd
    }

    /// The next event, waiting as long as it takes; nil once the connection is closed.
    func nextEvent() -> GDBInputEvent? {
        while pending.isEmpty {
            if !receive(timeoutMilliseconds: -1) { return nil }
        }
        return pending.removeFirst()
    }

    /// Reads what is there (waiting up to `timeoutMilliseconds`, −1 = forever) into `pending`.
    /// False if the connection closed or nothing came in time.
    @discardableResult
    func receive(timeoutMilliseconds: Int32) -> Bool {
        if closed { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&p, 1, timeoutMilliseconds)
        if ready < 0 {
            if errno == EINTR { return true }
            closed = true
            return false
        }
        if ready == 0 { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return true }
        if n <= 0 {
            closed = true
            return false
        }
        pending += decoder.feed(buffer[0..<n])
        return true
    }

    /// For `GDBBackend.resume`: true when GDB sent Ctrl-C (0x03) or went away. Looks at the
    /// socket at most once a millisecond, so the backend may call it as often as it likes.
    func pollInterrupt() -> Bool {
        if closed { return true }
        let now = ContinuousClock.now
        if now - lastPoll < .milliseconds(1) { return false }
        lastPoll = now
        // Bounded: a client flooding packets while the guest runs (GDB never does, in all-stop)
        // is left to TCP back-pressure instead of growing `pending`.
        var reads = 0
        while reads < 64 && pending.count < Self.maxPending && receive(timeoutMilliseconds: 0) { reads += 1 }
        if let i = pending.firstIndex(of: .interrupt) {
            pending.remove(at: i)
            return true
        }
        return closed
    }

    /// `+` (or `-`) for a received packet, unless in no-ack mode.
    func acknowledge(_ good: Bool) {
        if !noAck { _ = write([UInt8(ascii: good ? "+" : "-")]) }
    }

    /// Frames and sends one payload; in ack mode waits for `+`, resending on `-`. False if the
    /// connection is closed.
    func send(_ payload: [UInt8]) -> Bool {
        let frame = GDBPacket.frame(payload)
        var attempts = 0
        while true {
            guard write(frame) else { return false }
            if noAck { return true }
            switch waitForAck() {
            case .some(true): return true
            case .some(false):
                attempts += 1
                if attempts > Self.retransmissions { return true }   // give up resending, go on
            case .none: return !closed
            }
        }
    }

    /// true: `+` (or the client went on without one); false: `-`; nil: closed or timed out.
    private func waitForAck() -> Bool? {
        let deadline = ContinuousClock.now + .milliseconds(Int(Self.ackTimeoutMilliseconds))
        while true {
            if let i = pending.firstIndex(where: { $0 != .interrupt }) {
                let event = pending[i]
                switch event {
                case .ack: pending.remove(at: i); return true
                case .nak: pending.remove(at: i); return false
                default: return true   // a new request: the client did not ack, take it as one
                }
            }
            let left = deadline - ContinuousClock.now
            if left <= .zero { return nil }
            let ms = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            if !receive(timeoutMilliseconds: ms) && closed { return nil }
        }
    }

    /// Writes all of `bytes`; false (and closed) on failure.
    func write(_ bytes: [UInt8]) -> Bool {
        if closed { return false }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { GDBLibc.sendNoSignal(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                closed = true
                return false
            }
            offset += n
        }
        return true
    }
}

/// libc calls whose names the Swift methods above shadow, and flags that differ by platform.
enum GDBLibc {
    static func sendNoSignal(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
        #if canImport(Glibc)
        return send(fd, p, n, Int32(MSG_NOSIGNAL))
        #else
        return send(fd, p, n, 0)   // Darwin: SO_NOSIGPIPE is set on the socket instead
        #endif
    }
    static func plainWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(fd, p, n)
        #else
        return Darwin.write(fd, p, n)
        #endif
    }
    /// `listen` is shadowed inside `GDBServer.init` by its parameter.
    static func listen(_ fd: Int32, _ backlog: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.listen(fd, backlog)
        #else
        return Darwin.listen(fd, backlog)
        #endif
    }
    static func closeFD(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.close(fd)
        #else
        return Darwin.close(fd)
        #endif
    }
}
