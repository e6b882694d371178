/// Framing of the Remote Serial Protocol (GDB manual E.1 "Overview", E.3 "Binary data"):
///
///     $ payload # c1 c2        c1 c2: the sum of the payload bytes as sent, mod 256, in hex
///     +  /  -                  ack / nak (until QStartNoAckMode)
///     0x03                     interrupt (outside a packet, while the target runs)
///
/// Inside a payload `}` (0x7d) escapes the next byte (sent XOR 0x20) in binary data (X packets,
/// qXfer replies); `$ # } *` are always escaped there. `X*n` repeats X (n − 29) more times (run-
/// length encoding; GDB does not send it, but it is legal and decoded here). The checksum covers
/// the bytes as sent, before expansion or unescaping.
public enum GDBPacket {
    /// Largest incoming payload kept (after run-length expansion); larger ones are reported as
    /// `.oversized` and dropped. The stub advertises a smaller PacketSize, so GDB stays below it.
    public static let maxPayload = 64 * 1024
    static let escape: UInt8 = 0x7d   // }
    public static let dollar: UInt8 = 0x24   // $
    public static let hash: UInt8 = 0x23     // #
    public static let star: UInt8 = 0x2a     // *

    public static func checksum<C: Collection>(_ bytes: C) -> UInt8 where C.Element == UInt8 {
        var sum: UInt8 = 0
        for b in bytes { sum &+= b }
        return sum
    }

    /// `$payload#cs`. The payload must already be in wire form: text without `$ # *` (and `}`),
    /// or binary data passed through `escapeBinary`.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [dollar]
        out.reserveCapacity(payload.count + 4)
        out.append(contentsOf: payload)
        out.append(hash)
        let cs = checksum(payload)
        out.append(GDBHex.digits[Int(cs >> 4)])
        out.append(GDBHex.digits[Int(cs & 15)])
        return out
    }

    /// Binary data for a payload: `$ # } *` become `}` + (byte XOR 0x20).
    public static func escapeBinary<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for b in bytes {
            if b == dollar || b == hash || b == escape || b == star {
                out.append(escape)
                out.append(b ^ 0x20)
            } else {
                out.append(b)
            }
        }
        return out
    }

    /// Inverse of `escapeBinary` (any byte after `}` is unescaped); nil if the data ends in `}`.
    public static func unescapeBinary<C: Collection>(_ bytes: C) -> [UInt8]? where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var escaped = false
        for b in bytes {
            if escaped { out.append(b ^ 0x20); escaped = false }
            else if b == escape { escaped = true }
            else { out.append(b) }
        }
        return escaped ? nil : out
    }

    /// Expands `X*n` runs (n − 29 more copies of the byte before `*`, n in 29…126). The byte after
    /// `}` is data, never a run marker. Nil if a run has no byte before it, a bad count, or the
    /// result would exceed `limit`.
    public static func expandRunLength(_ bytes: [UInt8], limit: Int = maxPayload) -> [UInt8]? {
        guard bytes.contains(star) else { return bytes.count <= limit ? bytes : nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        var afterEscape = false
        while i < bytes.count {
            let b = bytes[i]
            if b == star && !afterEscape {
                guard let last = out.last, i + 1 < bytes.count else { return nil }
                let n = Int(bytes[i + 1])
                guard n >= 29 && n <= 126 else { return nil }
                if out.count + (n - 29) > limit { return nil }
                out.append(contentsOf: repeatElement(last, count: n - 29))
                i += 2
                continue
            }
            afterEscape = !afterEscape && b == escape
            out.append(b)
            if out.count > limit { return nil }
            i += 1
        }
        return out
    }
}

/// What arrives on the connection, one event per complete unit.
public enum GDBInputEvent: Sendable, Equatable {
    /// A packet with a good checksum: the payload, run-length expanded (binary data still escaped).
    case packet([UInt8])
    /// A complete packet whose checksum did not match (or was not hex).
    case badChecksum
    /// A complete packet with a good checksum that was too long or had a bad run-length encoding.
    case malformed
    case interrupt
    case ack
    case nak
}

/// Byte-at-a-time packet reader: feed it what `recv` returned, get events. Bytes outside a
/// packet other than `+ - 0x03 $` are ignored; a `$` inside a packet starts a new one (GDB's
/// own reader does the same after a lost `#`).
public struct GDBPacketDecoder: Sendable {
    enum State: Sendable { case idle, data, checksumHigh, checksumLow }
    var state = State.idle
    var raw: [UInt8] = []
    var sum: UInt8 = 0
    var tooLong = false
    var expected: UInt8 = 0
    var expectedValid = true
    public let maxPayload: Int

    public init(maxPayload: Int = GDBPacket.maxPayload) {
        self.maxPayload = maxPayload
    }

    /// True between a `$` and the end of its checksum.
    public var inPacket: Bool { state != .idle }

    public mutating func feed(_ byte: UInt8) -> GDBInputEvent? {
        switch state {
        case .idle:
            switch byte {
            case GDBPacket.dollar: start()
            case 0x03: return .interrupt
            case 0x2b: return .ack
            case 0x2d: return .nak
            default: break
            }
            return nil
        case .data:
            if byte == GDBPacket.dollar { start(); return nil }
            if byte == GDBPacket.hash { state = .checksumHigh; return nil }
            sum &+= byte
            if raw.count < maxPayload { raw.append(byte) } else { tooLong = true }
            return nil
        case .checksumHigh:
            if let v = GDBHex.value(byte) { expected = v << 4 } else { expectedValid = false }
            state = .checksumLow
            return nil
        case .checksumLow:
            if let v = GDBHex.value(byte) { expected |= v } else { expectedValid = false }
            state = .idle
            let payload = raw
            raw = []
            guard expectedValid && expected == sum else { return .badChecksum }
            if tooLong { return .malformed }
            guard let expanded = GDBPacket.expandRunLength(payload, limit: maxPayload) else { return .malformed }
            return .packet(expanded)
        }
    }

    public mutating func feed<C: Collection>(_ bytes: C) -> [GDBInputEvent] where C.Element == UInt8 {
        var events: [GDBInputEvent] = []
        for b in bytes { if let e = feed(b) { events.append(e) } }
        return events
    }

    mutating func start() {
        state = .data
        raw.removeAll(keepingCapacity: true)
        sum = 0
        tooLong = false
        expected = 0
        expectedValid = true
    }
}
