#if canImport(Glibc)
import Glibc
#endif

/// An output file written through one fixed buffer: appends are stores into memory, and the
/// buffer goes to the file with `write(2)` when it fills (a trace of millions of steps never
/// allocates per step).
final class ByteSink {
    let fd: Int32
    let capacity = 1 << 20
    let buffer: UnsafeMutablePointer<UInt8>
    var count = 0
    /// The first write error (reported when the trace is finished).
    var failure: String? = nil
    let path: String

    init(path: String) throws(TraceInputError) {
        let f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard f >= 0 else { throw TraceInputError("\(path): \(String(cString: strerror(errno)))") }
        fd = f
        self.path = path
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        buffer.deallocate()
    }

    /// Room for `n` more bytes (flushing first if needed); `n` is at most a few hundred.
    @inline(__always)
    func reserve(_ n: Int) {
        if count + n > capacity { flush() }
    }

    @inline(__always)
    func byte(_ b: UInt8) {
        reserve(1)
        buffer[count] = b
        count += 1
    }

    @inline(__always)
    func u32(_ v: UInt32) {
        reserve(4)
        (UnsafeMutableRawPointer(buffer) + count).storeBytes(of: v.littleEndian, as: UInt32.self)
        count += 4
    }

    @inline(__always)
    func u64(_ v: UInt64) {
        reserve(8)
        (UnsafeMutableRawPointer(buffer) + count).storeBytes(of: v.littleEndian, as: UInt64.self)
        count += 8
    }

    /// Unsigned LEB128.
    @inline(__always)
    func varint(_ v: UInt64) {
        reserve(10)
        var x = v
        while x >= 0x80 {
            buffer[count] = UInt8(x & 0x7F) | 0x80
            count += 1
            x >>= 7
        }
        buffer[count] = UInt8(x)
        count += 1
    }

    func bytes(_ raw: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < raw.count {
            if count == capacity { flush() }
            let n = min(raw.count - offset, capacity - count)
            (UnsafeMutableRawPointer(buffer) + count).copyMemory(from: raw.baseAddress! + offset, byteCount: n)
            count += n
            offset += n
        }
    }

    func text(_ s: String) {
        var s = s
        s.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `0x` and `digits` lowercase hex digits.
    @inline(__always)
    func hex(_ v: UInt32, digits: Int = 8) {
        reserve(2 + digits)
        buffer[count] = 0x30; buffer[count + 1] = 0x78
        count += 2
        var shift = (digits - 1) * 4
        while shift >= 0 {
            buffer[count] = ByteSink.hexDigits[Int((v >> UInt32(shift)) & 0xF)]
            count += 1
            shift -= 4
        }
    }

    /// Decimal.
    @inline(__always)
    func decimal(_ v: UInt64) {
        reserve(20)
        if v == 0 { buffer[count] = 0x30; count += 1; return }
        var digits: (UInt64, Int) = (v, 0)
        var tmp: InlineArray<20, UInt8> = .init(repeating: 0)
        while digits.0 > 0 {
            tmp[digits.1] = UInt8(0x30 + digits.0 % 10)
            digits.0 /= 10
            digits.1 += 1
        }
        var i = digits.1 - 1
        while i >= 0 { buffer[count] = tmp[i]; count += 1; i -= 1 }
    }

    func flush() {
        var offset = 0
        while offset < count {
            let n = write(fd, buffer + offset, count - offset)
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                if failure == nil { failure = "\(path): \(String(cString: strerror(errno)))" }
                break
            }
            offset += n
        }
        count = 0
    }

    func close() throws(TraceInputError) {
        flush()
        if Glibc.close(fd) != 0 && failure == nil { failure = "\(path): \(String(cString: strerror(errno)))" }
        if let f = failure { throw TraceInputError(f) }
    }
}
