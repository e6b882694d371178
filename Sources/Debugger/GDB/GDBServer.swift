#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where `x86v run GUEST --gdb ADDRESS` listens: TCP on 127.0.0.1 (never another interface: the
/// stub reads and writes guest memory for whoever connects) or a unix socket.
public enum GDBListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// Port 0 picks a free port (`GDBServer.address` then has the real one).
    case tcp(port: UInt16)
    case unix(path: String)

    /// `PORT`, `:PORT`, `localhost:PORT`, `127.0.0.1:PORT`, `tcp::PORT` or `unix:PATH`.
    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty, path.utf8.count < 100, !path.utf8.contains(0) else { return nil }
            self = .unix(path: path)
            return
        }
        var port = Substring(text)
        for prefix in ["tcp:", "localhost:", "127.0.0.1:", ":"] where port.hasPrefix(prefix) {
            port = port.dropFirst(prefix.count)
            if prefix == "tcp:" && port.hasPrefix(":") { port = port.dropFirst() }
            break
        }
        guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt16(port) else { return nil }
        self = .tcp(port: n)
    }

    public var description: String {
        switch self {
        case let .tcp(port): return "127.0.0.1:\(port)"
        case let .unix(path): return "unix:\(path)"
        }
    }
}

/// A listen failure (bind, listen, a bad unix path): one line for the user.
public struct GDBServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The GDB stub's entry point:
///
///     let server = try GDBServer(listen: .tcp(port: 1234))
///     switch server.serve(session) { case .detached, .disconnected: run on; case .killed, .exited: stop }
///
/// `serve` waits for one client, then runs requests until GDB detaches, kills, the guest exits
/// or the client goes away. It prints one line on stderr ("x86v: waiting for GDB on …") and
/// nothing on stdout.
public final class GDBServer {
    /// What was bound (for `.tcp(port: 0)`, the port the kernel chose).
    public let address: GDBListenAddress
    private var listenFD: Int32

    public init(listen: GDBListenAddress) throws(GDBServerError) {
        switch listen {
        case let .tcp(port):
            let fd = socket(AF_INET, Self.streamType, 0)
            guard fd >= 0 else { throw GDBServerError(description: "gdb stub: socket: \(Self.errorText())") }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let bound = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0, GDBLibc.listen(fd, 1) == 0 else {
                let text = Self.errorText()
                _ = GDBLibc.closeFD(fd)
                throw GDBServerError(description: "gdb stub: cannot listen on 127.0.0.1:\(port): \(text)")
            }
            var actual = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &actual) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            listenFD = fd
            address = .tcp(port: UInt16(bigEndian: actual.sin_port))
        case let .unix(path):
            var sun = sockaddr_un()
            let capacity = MemoryLayout.size(ofValue: sun.sun_path)
            guard path.utf8.count < capacity else {
                throw GDBServerError(description: "gdb stub: unix socket path too long: \(path)")
            }
            // A stale socket from an earlier run is replaced; any other file is left alone.
            var st = stat()
            if lstat(path, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                    throw GDBServerError(description: "gdb stub: \(path) exists and is not a socket")
                }
                _ = unlink(path)
            }
            let fd = socket(AF_UNIX, Self.streamType, 0)
            guard fd >= 0 else { throw GDBServerError(description: "gdb stub: socket: \(Self.errorText())") }
            sun.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
                raw[path.utf8.count] = 0
            }
            let bound = withUnsafePointer(to: &sun) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard bound == 0, GDBLibc.listen(fd, 1) == 0 else {
                let text = Self.errorText()
                _ = GDBLibc.closeFD(fd)
                throw GDBServerError(description: "gdb stub: cannot listen on \(path): \(text)")
            }
            listenFD = fd
            address = listen
        }
    }

    deinit { close() }

    /// Stops listening (and removes the unix socket). `serve` can no longer be called.
    public func close() {
        guard listenFD >= 0 else { return }
        _ = GDBLibc.closeFD(listenFD)
        listenFD = -1
        if case let .unix(path) = address { _ = unlink(path) }
    }

    /// Waits for one GDB, serves it, closes the connection. `announce`: print where it waits.
    public func serve(_ backend: GDBBackend, announce: Bool = true,
                      target: GDBTargetDescription = .i386) -> GDBServeResult {
        if announce {
            var line = "x86v: waiting for GDB on \(address)\n"
            line.withUTF8 { _ = GDBLibc.plainWrite(2, $0.baseAddress!, $0.count) }
        }
        var client: Int32 = -1
        while listenFD >= 0 {
            client = accept(listenFD, nil, nil)
            if client >= 0 || errno != EINTR { break }
        }
        guard client >= 0 else { return .disconnected }
        if case .tcp = address {
            var one: Int32 = 1   // replies are small and latency-bound
            _ = setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(client, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        let result = Self.serve(fileDescriptor: client, backend: backend, target: target)
        _ = GDBLibc.closeFD(client)
        return result
    }

    /// The request loop on a connected stream socket (any end of a socketpair works, which is
    /// how the tests drive it). Does not close `fileDescriptor`.
    public static func serve(fileDescriptor: Int32, backend: GDBBackend,
                             target: GDBTargetDescription = .i386) -> GDBServeResult {
        let connection = GDBConnection(fd: fileDescriptor)
        let stub = GDBStub(backend: backend, target: target)
        while let event = connection.nextEvent() {
            let command: GDBCommand
            switch event {
            case let .packet(payload):
                connection.acknowledge(true)
                command = GDBCommand(payload)
            case .badChecksum:
                // With acks GDB resends; without them nobody would, so answer rather than hang it.
                if !connection.noAck { connection.acknowledge(false); continue }
                command = .malformed
            case .malformed:
                connection.acknowledge(true)
                command = .malformed
            case .interrupt, .ack, .nak:
                continue   // Ctrl-C while stopped (it crossed a stop reply), stray acks
            }
            let response = stub.handle(command, interrupted: connection.pollInterrupt)
            for packet in response.packets where !connection.send(packet) {
                break
            }
            if response.startNoAck { connection.noAck = true }
            if let finish = response.finish { return finish }
            if connection.closed { break }
        }
        stub.removeAllInsertions()
        return .disconnected
    }

    public static var streamType: Int32 {
        #if canImport(Glibc)
        return Int32(SOCK_STREAM.rawValue)
        #else
        return SOCK_STREAM
        #endif
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
