/// One `--drive FILE[,index=N][,readonly][,snapshot]` flag, parsed (docs/formats.md).
///
/// The syntax is a subset of QEMU's `-drive`: the file first (or as `file=PATH`), then
/// comma-separated options; a comma inside the path is written `,,` as in QEMU.
/// `index=0…3` is the IDE position as QEMU numbers it (0 primary master, 1 primary slave,
/// 2 secondary master, 3 secondary slave); `readonly` and `snapshot` may be given bare or as
/// `=on`/`=off`. `format=raw`, `media=disk` and `if=ide` are accepted so a QEMU command line's
/// drive can be pasted; any other option is refused.
public struct DriveSpec: Equatable, Sendable {
    public var path: String
    /// nil: the first free index (`DriveSpec.assignIndices`).
    public var index: Int?
    public var readOnly = false
    public var snapshot = false

    public init(path: String, index: Int? = nil, readOnly: Bool = false, snapshot: Bool = false) {
        self.path = path
        self.index = index
        self.readOnly = readOnly
        self.snapshot = snapshot
    }

    /// Why a `--drive` value was refused (the text names the problem and the accepted form).
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ d: String) { description = d }
    }

    public static let indexCount = 4

    /// Parses one `--drive` value.
    public static func parse(_ text: String) throws(ParseError) -> DriveSpec {
        let form = "FILE[,index=0-3][,readonly][,snapshot]"
        // Split on single commas; ",," is a literal comma.
        var parts: [String] = []
        var current = ""
        var chars = Array(text)
        var i = 0
        while i < chars.count {
            if chars[i] == "," {
                if i + 1 < chars.count && chars[i + 1] == "," { current.append(","); i += 2; continue }
                parts.append(current)
                current = ""
            } else {
                current.append(chars[i])
            }
            i += 1
        }
        parts.append(current)
        chars = []
        var spec = DriveSpec(path: "")
        var path: String? = nil
        for (n, part) in parts.enumerated() {
            let key: Substring
            let value: Substring?
            if let eq = part.firstIndex(of: "=") {
                key = part[..<eq]
                value = part[part.index(after: eq)...]
            } else {
                key = Substring(part)
                value = nil
            }
            if n == 0 && value == nil {
                path = part
                continue
            }
            func onOff() throws(ParseError) -> Bool {
                switch value {
                case nil, "on": return true
                case "off": return false
                default: throw ParseError("bad --drive '\(text)': \(key)=\(value!) (on or off)")
                }
            }
            switch key {
            case "file":
                guard path == nil else { throw ParseError("bad --drive '\(text)': two files") }
                path = String(value ?? "")
            case "index":
                guard let v = value, let k = Int(v), k >= 0, k < indexCount else {
                    throw ParseError("bad --drive '\(text)': index must be 0-3 (0 primary master, 1 primary slave, 2 secondary master, 3 secondary slave)")
                }
                spec.index = k
            case "readonly": spec.readOnly = try onOff()
            case "snapshot": spec.snapshot = try onOff()
            case "format" where value == "raw", "media" where value == "disk", "if" where value == "ide":
                break
            default:
                throw ParseError("bad --drive '\(text)': unknown option '\(part)' (\(form))")
            }
        }
        guard let p = path, !p.isEmpty else { throw ParseError("bad --drive '\(text)': no file (\(form))") }
        spec.path = p
        return spec
    }

    /// Gives every drive without `index=` the lowest index not taken, in order (as QEMU does for
    /// `-drive if=ide` without an index). Throws on a duplicate index or more than four drives.
    public static func assignIndices(_ specs: [DriveSpec]) throws(ParseError) -> [DriveSpec] {
        var taken = [Bool](repeating: false, count: indexCount)
        for s in specs {
            guard let k = s.index else { continue }
            if taken[k] { throw ParseError("two --drive flags for index \(k)") }
            taken[k] = true
        }
        var out = specs
        for i in out.indices where out[i].index == nil {
            guard let free = taken.firstIndex(of: false) else {
                throw ParseError("more than four --drive flags (IDE has two channels of two drives)")
            }
            out[i].index = free
            taken[free] = true
        }
        return out
    }

    /// Opens the image as this spec says.
    public func open() throws(DiskImage.OpenError) -> DiskImage {
        try DiskImage(path: path, readOnly: readOnly, snapshot: snapshot)
    }
}
