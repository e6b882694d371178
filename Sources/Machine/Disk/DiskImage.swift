#if canImport(Glibc)
import Glibc
#endif

/// A host file seen as a disk: 512-byte sectors, read and written whole (`x86v run --drive`).
///
/// - The file's size must be a non-zero multiple of 512: a disk has no partial sector, and
///   guessing what the tail means would hide a wrong file.
/// - Every transfer is whole sectors at sector-aligned offsets, one `pread`/`pwrite` per
///   request (short transfers continued), so the file never holds part of a sector the guest
///   wrote unless the host itself fails mid-syscall.
/// - `readOnly`: opened `O_RDONLY`; a write fails (the controller aborts the command).
/// - `snapshot`: opened `O_RDONLY` as well; written sectors go to an in-memory overlay (sector →
///   bytes) that later reads see, and the file never changes (QEMU's `snapshot=on`).
/// - `flush()` is `fsync` (the guest's FLUSH CACHE, and the end of the run).
/// - A failed host read or write (EIO, ENOSPC, …) is returned as `false`: the guest sees an
///   aborted command, x86v does not stop.
public final class DiskImage {
    /// Why a drive could not be opened.
    public struct OpenError: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    public static let sectorSize = 512

    /// The path it was opened with.
    public let path: String
    /// The same, absolute (what a machine snapshot records, so a resume elsewhere finds it).
    public let absolutePath: String
    public let sectorCount: UInt64
    public let readOnly: Bool
    public let snapshot: Bool
    private var fd: Int32
    /// `snapshot` drives: the sectors written, by LBA.
    public internal(set) var overlay: [UInt64: [UInt8]] = [:]

    /// Opens `path`. Neither `readOnly` nor `snapshot`: the file must be writable.
    public init(path: String, readOnly: Bool = false, snapshot: Bool = false) throws(OpenError) {
        self.path = path
        self.readOnly = readOnly
        self.snapshot = snapshot
        let writable = !readOnly && !snapshot
        let d = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        if d < 0 {
            let e = errno
            if writable && (e == EACCES || e == EROFS || e == EPERM) && access(path, R_OK) == 0 {
                throw OpenError("\(path): not writable (\(String(cString: strerror(e)))); add ,readonly or ,snapshot")
            }
            throw OpenError("\(path): \(String(cString: strerror(e)))")
        }
        var info = stat()
        guard fstat(d, &info) == 0 else {
            let e = errno
            Glibc.close(d)
            throw OpenError("\(path): \(String(cString: strerror(e)))")
        }
        let kind = info.st_mode & S_IFMT
        var size = Int64(info.st_size)
        if kind == S_IFBLK {
            size = Int64(lseek(d, 0, SEEK_END))
        } else if kind != S_IFREG {
            Glibc.close(d)
            throw OpenError("\(path): not a regular file or block device")
        }
        guard size > 0, size % Int64(Self.sectorSize) == 0 else {
            Glibc.close(d)
            throw OpenError("\(path): \(size) bytes is not a whole number of 512-byte sectors (a disk image's size must be a non-zero multiple of 512)")
        }
        sectorCount = UInt64(size) / UInt64(Self.sectorSize)
        fd = d
        if let p = realpath(path, nil) {
            absolutePath = String(cString: p)
            free(p)
        } else {
            absolutePath = path
        }
    }

    deinit { close() }

    /// Closes the file (a later access fails). Idempotent.
    public func close() {
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
    }

    /// Reads `count` sectors from `lba` into `buffer` (at least `count * 512` bytes). False on
    /// a range or host error.
    public func read(lba: UInt64, count: Int, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        let bytes = count * Self.sectorSize
        guard count > 0, buffer.count >= bytes, lba < sectorCount, UInt64(count) <= sectorCount - lba else { return false }
        guard transfer(buffer.baseAddress!, bytes, at: lba, write: false) else { return false }
        if !overlay.isEmpty {
            for i in 0..<count {
                if let s = overlay[lba + UInt64(i)] {
                    s.withUnsafeBytes { (buffer.baseAddress! + i * Self.sectorSize).copyMemory(from: $0.baseAddress!, byteCount: Self.sectorSize) }
                }
            }
        }
        return true
    }

    /// Writes `count` sectors at `lba` from `buffer`. False on a range error, a read-only drive
    /// or a host error (nothing is known about the sectors then, as with a real drive).
    public func write(lba: UInt64, count: Int, from buffer: UnsafeRawBufferPointer) -> Bool {
        let bytes = count * Self.sectorSize
        guard count > 0, buffer.count >= bytes, lba < sectorCount, UInt64(count) <= sectorCount - lba else { return false }
        if readOnly { return false }
        if snapshot {
            for i in 0..<count {
                let start = i * Self.sectorSize
                overlay[lba + UInt64(i)] = Array(buffer[start..<start + Self.sectorSize])
            }
            return true
        }
        return transfer(UnsafeMutableRawPointer(mutating: buffer.baseAddress!), bytes, at: lba, write: true)
    }

    /// `fsync` of a writable file; true for read-only and snapshot drives (nothing to flush).
    @discardableResult
    public func flush() -> Bool {
        if readOnly || snapshot { return true }
        return fd >= 0 && fsync(fd) == 0
    }

    private func transfer(_ p: UnsafeMutableRawPointer, _ bytes: Int, at lba: UInt64, write: Bool) -> Bool {
        guard fd >= 0 else { return false }
        var done = 0
        let base = off_t(lba) * off_t(Self.sectorSize)
        while done < bytes {
            let n = write ? pwrite(fd, p + done, bytes - done, base + off_t(done))
                          : pread(fd, p + done, bytes - done, base + off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Replaces the overlay (snapshot restore).
    func setOverlay(_ o: [UInt64: [UInt8]]) { overlay = o }
}
