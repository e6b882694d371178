#if canImport(Glibc)
import Glibc
#endif

/// Bytes for the UART's receive line from a host file descriptor: a terminal (interactive
/// runs) or a file given with `--serial-in`. A file is read whole at the start so the guest
/// sees the same bytes at the same instructions every run; a terminal is polled.
public final class ConsoleInput {
    let fd: Int32
    public private(set) var isOpen = true

    public init(fileDescriptor: Int32) { fd = fileDescriptor }

    /// Up to 256 bytes, waiting at most `waitMilliseconds` (0 = just look).
    public func read(waitMilliseconds: Int32) -> [UInt8] {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, waitMilliseconds) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 256) }
        if n <= 0 { isOpen = false; return [] }
        return Array(buffer[0..<n])
    }
}
