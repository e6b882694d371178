#if canImport(Glibc)
import Glibc
#endif

/// A source of host bytes for the guest's console (COM1's receive line or the keyboard), polled
/// by the run loop (`PCMachine.pollInput`). Files given with `--serial-in` and `--keys-in` are
/// not sources: they are read whole at the start, so the guest sees the same bytes at the same
/// instructions every run.
public protocol HostInput: AnyObject {
    /// False once the source has ended (end of file, a closed terminal).
    var isOpen: Bool { get }
    /// Whatever bytes are waiting (up to a few hundred), waiting at most `waitMilliseconds`
    /// (0 = just look).
    func read(waitMilliseconds: Int32) -> [UInt8]
}

/// Bytes from a host file descriptor, polled: the plain source (the terminal front end in
/// x86v wraps it with raw mode and the Ctrl-A escapes).
public final class ConsoleInput: HostInput {
    let fd: Int32
    public private(set) var isOpen = true

    public init(fileDescriptor: Int32) { fd = fileDescriptor }

    /// Up to 256 bytes, waiting at most `waitMilliseconds` (0 = just look). End of file or an
    /// error other than EINTR/EAGAIN (EIO from a hung-up terminal) closes the source.
    public func read(waitMilliseconds: Int32) -> [UInt8] {
        guard isOpen else { return [] }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, waitMilliseconds) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 256) }
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return [] }
        if n <= 0 { isOpen = false; return [] }
        return Array(buffer[0..<n])
    }
}
