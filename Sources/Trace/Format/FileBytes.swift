#if canImport(Glibc)
import Glibc
#endif

/// A file read front to back through one buffer (never whole: traces and logs can be larger than
/// memory). Also reads FIFOs.
final class FileBytes {
    let fd: Int32
    let path: String
    var buffer: UnsafeMutablePointer<UInt8>
    let capacity: Int
    /// Valid bytes are buffer[position..<end].
    var position = 0
    var end = 0
    var atEOF = false
    /// Bytes consumed before `buffer[0]`.
    var consumedBefore: UInt64 = 0

    init(path: String, capacity: Int = 4 << 20) throws(TraceInputError) {
        // Non-blocking open, then blocking reads: opening a FIFO whose writer already finished
        // (its data still in the pipe) must not wait for a writer that will never come.
        let f = openForReading(path)
        guard f >= 0 else { throw TraceInputError("\(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        if fstat(f, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            Glibc.close(f)
            throw TraceInputError("\(path): is a directory")
        }
        fd = f
        self.path = path
        self.capacity = capacity
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        Glibc.close(fd)
        buffer.deallocate()
    }

    var available: Int { end - position }
    /// Offset in the file of `buffer[position]`.
    var offset: UInt64 { consumedBefore + UInt64(position) }

    /// Makes at least `n` bytes available if the file has them (n ≤ capacity / 2). False at EOF.
    @discardableResult
    func fill(_ n: Int) throws(TraceInputError) -> Bool {
        if available >= n { return true }
        if position > 0 {
            let keep = available
            if keep > 0 { memmove(buffer, buffer + position, keep) }
            consumedBefore += UInt64(position)
            position = 0
            end = keep
        }
        while available < n && !atEOF {
            let got = read(fd, buffer + end, capacity - end)
            if got < 0 {
                if errno == EINTR { continue }
                throw TraceInputError("\(path): \(String(cString: strerror(errno)))")
            }
            if got == 0 { atEOF = true } else { end += got }
        }
        return available >= n
    }
}

/// Little-endian fields from a `FileBytes`, each one checked: a cut file is an error, never a
/// crash or a garbage step.
struct BinaryFields {
    let file: FileBytes

    func need(_ n: Int) throws(TraceInputError) {
        guard try file.fill(n) else {
            throw TraceInputError("\(file.path): truncated at byte \(file.offset + UInt64(file.available)) (the run that wrote it did not finish?)")
        }
    }

    func u8() throws(TraceInputError) -> UInt8 {
        try need(1)
        let v = file.buffer[file.position]
        file.position += 1
        return v
    }

    func u32() throws(TraceInputError) -> UInt32 {
        try need(4)
        let v = UnsafeRawPointer(file.buffer + file.position).loadUnaligned(as: UInt32.self)
        file.position += 4
        return UInt32(littleEndian: v)
    }

    func u64() throws(TraceInputError) -> UInt64 {
        try need(8)
        let v = UnsafeRawPointer(file.buffer + file.position).loadUnaligned(as: UInt64.self)
        file.position += 8
        return UInt64(littleEndian: v)
    }

    func varint() throws(TraceInputError) -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            guard shift < 64 else { throw TraceInputError("\(file.path): malformed number at byte \(file.offset)") }
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }

    func bytes(_ n: Int) throws(TraceInputError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(n)
        var left = n
        while left > 0 {
            let chunk = min(left, file.capacity / 2)
            try need(chunk)
            out.append(contentsOf: UnsafeBufferPointer(start: file.buffer + file.position, count: chunk))
            file.position += chunk
            left -= chunk
        }
        return out
    }
}

/// `open(path, O_RDONLY)` that does not block on a FIFO (see FileBytes.init); -1 and errno on
/// failure.
func openForReading(_ path: String) -> Int32 {
    let fd = open(path, O_RDONLY | O_NONBLOCK)
    if fd >= 0 {
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO {
            // Until a writer has written (or come and gone), a read would return 0 at once: wait
            // for data or the hang-up, as a blocking open and read would.
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while poll(&p, 1, -1) < 0 && errno == EINTR {}
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
    }
    return fd
}
