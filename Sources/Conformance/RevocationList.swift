// The suite's `revocation_list.txt`: SHA-1 hashes (hex, one a line) of tests its author
// withdrew. Lines starting with '#' are comments. A revoked test is skipped, never run.

/// The hashes of withdrawn tests (`revocation_list.txt`).
public struct RevocationList: Sendable {
    /// Lower-case hex hashes, sorted (binary search; no hashed set, so nothing is order-dependent).
    public private(set) var hashes: [String] = []

    public init() {}

    public init(text: String) {
        var all: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let h = line.trimmingWhitespace().lowercased()
            if h.isEmpty || h.hasPrefix("#") { continue }
            all.append(h)
        }
        hashes = Array(Set(all)).sorted()
    }

    public static func load(_ path: String) throws(ConformanceInputError) -> RevocationList {
        RevocationList(text: String(decoding: try TestFileLoader.readWholeFile(path), as: UTF8.self))
    }

    public func contains(_ hash: String) -> Bool {
        let h = hash.lowercased()
        var lo = 0, hi = hashes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if hashes[mid] < h { lo = mid + 1 } else { hi = mid }
        }
        return lo < hashes.count && hashes[lo] == h
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
