/// The byte codec of machine snapshots (`x86v debug` snapshots, `x86v run --save/--resume`).
///
/// Every stateful component writes its fields in a fixed order with `StateWriter` and reads them
/// back in the same order with `StateReader`; the file format (docs/formats.md, "Machine
/// snapshots") is the concatenation of these sections behind a versioned header. Little-endian,
/// fixed widths, no padding: the bytes do not depend on the host's struct layout. A reader never
/// traps on bad input: a short or inconsistent stream throws `StateError`.

/// Why a snapshot could not be restored.
public struct StateError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Appends fields to a growing byte buffer.
public struct StateWriter: ~Copyable {
    public private(set) var bytes: [UInt8] = []

    public init(reserving capacity: Int = 1 << 16) { bytes.reserveCapacity(capacity) }

    public mutating func put<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
    public mutating func put(_ v: Bool) { bytes.append(v ? 1 : 0) }
    /// A byte count (u32) then the bytes.
    public mutating func put(bytes b: UnsafeRawBufferPointer) {
        put(UInt32(b.count))
        bytes.append(contentsOf: b)
    }
    public mutating func put(bytes b: [UInt8]) { b.withUnsafeBytes { put(bytes: $0) } }
    /// UTF-8, length-prefixed.
    public mutating func put(_ s: String) { put(bytes: Array(s.utf8)) }
    /// An optional: a presence byte, then the value.
    public mutating func put<T: FixedWidthInteger>(_ v: T?) {
        put(v != nil)
        if let v { put(v) }
    }
    /// A section tag (four ASCII letters) so a reader out of step fails at once, with a name.
    public mutating func tag(_ t: StaticString) {
        precondition(t.utf8CodeUnitCount == 4)
        bytes.append(contentsOf: UnsafeBufferPointer(start: t.utf8Start, count: 4))
    }
    public consuming func finish() -> [UInt8] { bytes }
}

/// Reads fields back in the order they were written; every read is bounds-checked.
public struct StateReader: ~Copyable {
    let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func get<T: FixedWidthInteger>(_: T.Type = T.self) throws(StateError) -> T {
        let n = MemoryLayout<T>.size
        guard remaining >= n else { throw StateError("snapshot truncated at byte \(offset)") }
        var v: T = 0
        for i in 0..<n { v |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        offset += n
        return v
    }
    public mutating func getBool() throws(StateError) -> Bool {
        let b: UInt8 = try get()
        guard b <= 1 else { throw StateError("snapshot corrupt: bad boolean at byte \(offset - 1)") }
        return b == 1
    }
    /// A length-prefixed byte string of at most `limit` bytes.
    public mutating func getBytes(limit: Int = Int(Int32.max)) throws(StateError) -> ArraySlice<UInt8> {
        let n = Int(try get(UInt32.self))
        guard n <= limit else { throw StateError("snapshot corrupt: \(n) bytes where at most \(limit) fit, at byte \(offset)") }
        guard remaining >= n else { throw StateError("snapshot truncated at byte \(offset)") }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }
    /// Copies a length-prefixed byte string of exactly `count` bytes into `destination`.
    public mutating func getBytes(into destination: UnsafeMutableRawPointer, count: Int) throws(StateError) {
        let b = try getBytes(limit: count)
        guard b.count == count else { throw StateError("snapshot corrupt: \(b.count) bytes where \(count) were expected") }
        b.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: count) }
    }
    public mutating func getString(limit: Int = 1 << 20) throws(StateError) -> String {
        let b = try getBytes(limit: limit)
        guard let s = String(validating: b, as: UTF8.self) else { throw StateError("snapshot corrupt: bad UTF-8") }
        return s
    }
    public mutating func getOptional<T: FixedWidthInteger>(_: T.Type = T.self) throws(StateError) -> T? {
        try getBool() ? try get(T.self) : nil
    }
    /// A count that must be at most `limit` (so a corrupt file cannot ask for a huge allocation).
    public mutating func getCount(limit: Int) throws(StateError) -> Int {
        let n = Int(try get(UInt32.self))
        guard n <= limit else { throw StateError("snapshot corrupt: count \(n) over the limit \(limit) at byte \(offset)") }
        return n
    }
    public mutating func expect(_ t: StaticString) throws(StateError) {
        guard remaining >= 4 else { throw StateError("snapshot truncated before section '\(t)'") }
        let want = Array(UnsafeBufferPointer(start: t.utf8Start, count: 4))
        guard Array(bytes[offset..<offset + 4]) == want else {
            throw StateError("snapshot corrupt: expected section '\(t)' at byte \(offset)")
        }
        offset += 4
    }
}
