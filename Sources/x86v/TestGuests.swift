#if canImport(Glibc)
import Glibc
#endif

/// A configuration `x86v test` runs a guest in, and the `x86v run` flags it maps to.
enum TestConfig: String, CaseIterable, Comparable {
    case none
    case hwDirect = "hw-direct"
    case hwShadow = "hw-shadow"
    case classic
    case bt

    /// What a guest runs in unless its spec says otherwise: multiboot guests the three
    /// hardware-like configurations (classic virtualization leaves Popek–Goldberg holes open,
    /// which many of them observe), ROM guests all five.
    static let multibootDefault: [TestConfig] = [.none, .hwDirect, .hwShadow]

    /// The `x86v run` flags.
    var runFlags: [String] {
        switch self {
        case .none: ["--virt=none"]
        case .hwDirect: ["--virt=hw", "--mmu=direct"]
        case .hwShadow: ["--virt=hw", "--mmu=shadow"]
        case .classic: ["--virt=classic"]
        case .bt: ["--virt=bt"]
        }
    }

    static func < (a: TestConfig, b: TestConfig) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// `expected/NAME.spec`: per-guest settings, one `key: value` a line (`#` comments).
///
///     flags: --memory 64M --rtc 2001-02-03     extra `x86v run` flags (split on spaces)
///                                              (a word starting with `build/` names a file in
///                                              the guest directory: the spec's `../build/`)
///     configs: none hw-direct                  the configurations the guest runs in (default:
///                                              none hw-direct hw-shadow; ROM guests add
///                                              classic bt)
///     status: 3                                the exit status to expect (default: from the golden)
///     skip: needs x87                          do not run; report every configuration as skipped
struct TestSpec {
    var flags: [String] = ["--memory", "64M"]
    var configs: [TestConfig] = TestConfig.multibootDefault
    var status: Int32?
    var skip: String?

    static func load(_ path: String, defaultConfigs: [TestConfig] = TestConfig.multibootDefault) throws -> TestSpec {
        var spec = TestSpec()
        spec.configs = defaultConfigs
        guard fileExists(path) else { return spec }
        let text = String(decoding: try readFile(path), as: UTF8.self)
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw InputError("\(path):\(n + 1): expected 'key: value'")
            }
            let key = line[..<colon].trimmingSpaces()
            let value = line[line.index(after: colon)...].trimmingSpaces()
            let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            switch key {
            case "flags":
                // `build/FILE` (a disk image, say) is the guest directory's, wherever x86v runs.
                let guestDir = dirName(dirName(path))
                spec.flags = words.map { $0.hasPrefix("build/") ? "\(guestDir)/\($0)" : $0 }
                // The goldens were recorded with QEMU's -m 64: keep that unless the spec says otherwise.
                if !words.contains(where: { $0 == "--memory" || $0.hasPrefix("--memory=") }) {
                    spec.flags = ["--memory", "64M"] + spec.flags
                }
            case "configs":
                spec.configs = try words.map { word in
                    guard let c = TestConfig(rawValue: word) else {
                        throw InputError("\(path):\(n + 1): unknown config '\(word)' (\(TestConfig.names))")
                    }
                    return c
                }.sorted()
            case "status":
                guard let s = Int32(value), s >= 0, s < 256 else {
                    throw InputError("\(path):\(n + 1): bad status '\(value)' (0–255)")
                }
                spec.status = s
            case "skip":
                spec.skip = value.isEmpty ? "skipped by the spec file" : value
            default:
                throw InputError("\(path):\(n + 1): unknown key '\(key)' (flags, configs, status, skip)")
            }
        }
        return spec
    }
}

/// One guest with its golden files (`expected/NAME.out`, `.faults.jsonl`, `.spec`).
struct TestGuest {
    let name: String
    /// The multiboot ELF, or the ROM image (`rom-*.bin`, run with `--bios`).
    let elf: String
    let expectedDir: String
    var spec: TestSpec

    /// A firmware ROM (`build/rom-*.bin`): it powers on at the reset vector and prints on the
    /// 0xE9 debug console, not COM1.
    var isROM: Bool { elf.hasSuffix(".bin") }
    /// Where its output is compared.
    var outputName: String { isROM ? "0xE9 debug-console output" : "serial output" }

    var outPath: String { "\(expectedDir)/\(name).out" }
    var faultsPath: String { "\(expectedDir)/\(name).faults.jsonl" }
    var specPath: String { "\(expectedDir)/\(name).spec" }

    /// The golden output: the header line (nil if there is no file) and the rest.
    func golden() -> (header: String?, body: String) {
        guard let bytes = try? readFile(outPath) else { return (nil, "") }
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }

    /// The exit status the golden implies: debug-exit 0 (status 1) for a clean TAP run,
    /// 3 (exit 1) if it has `not ok` lines, 5 (exit 2) if it bails out; `status:` overrides.
    func expectedStatus(body: String) -> Int32 {
        if let s = spec.status { return s }
        if body.contains("Bail out!") { return 5 }
        if body.contains("not ok") { return 3 }
        return 1
    }
}

/// The guests named by the command line: directories (their `build/*.elf` and ROM images
/// `build/rom-*.bin`, else `*.elf` and `rom-*.bin`, that have `expected/NAME.out`) and guest
/// files (golden in `expected/` beside the file or beside its directory). Sorted by name, then
/// path.
func discoverGuests(_ inputs: [String], allowMissingGolden: Bool) throws -> [TestGuest] {
    var guests: [TestGuest] = []
    func isGuestFile(_ name: String) -> Bool { name.hasSuffix(".elf") || (name.hasPrefix("rom-") && name.hasSuffix(".bin")) }
    func guestName(_ path: String) -> String { baseName(path, dropping: path.hasSuffix(".bin") ? ".bin" : ".elf") }
    func defaults(_ path: String) -> [TestConfig] { path.hasSuffix(".bin") ? TestConfig.allCases : TestConfig.multibootDefault }
    for input in inputs {
        let path = input.count > 1 && input.hasSuffix("/") ? String(input.dropLast()) : input
        if isDirectory(path) {
            let build = "\(path)/build"
            var elfs = isDirectory(build) ? listDirectory(build).filter(isGuestFile).map { "\(build)/\($0)" } : []
            if elfs.isEmpty { elfs = listDirectory(path).filter(isGuestFile).map { "\(path)/\($0)" } }
            let expected = "\(path)/expected"
            var found = 0
            for elf in elfs.sorted() {
                let name = guestName(elf)
                guard fileExists("\(expected)/\(name).out") else { continue }
                guests.append(TestGuest(name: name, elf: elf, expectedDir: expected,
                                        spec: try TestSpec.load("\(expected)/\(name).spec", defaultConfigs: defaults(elf))))
                found += 1
            }
            if found == 0 { throw InputError("\(input): no guests (build/*.elf, build/rom-*.bin or *.elf with expected/NAME.out)") }
        } else if fileExists(path) {
            let name = guestName(path)
            let dir = dirName(path)
            var candidates = ["\(dir)/expected"]
            if baseName(dir, dropping: "") == "build" { candidates.insert("\(dirName(dir))/expected", at: 0) }
            let expected = candidates.first { fileExists("\($0)/\(name).out") }
            guard let expected = expected ?? (allowMissingGolden ? candidates[0] : nil) else {
                throw InputError("\(input): no golden output \(candidates.map { "\($0)/\(name).out" }.joined(separator: " or "))")
            }
            guests.append(TestGuest(name: name, elf: path, expectedDir: expected,
                                    spec: try TestSpec.load("\(expected)/\(name).spec", defaultConfigs: defaults(path))))
        } else {
            throw InputError("\(input): \(String(cString: strerror(ENOENT)))")
        }
    }
    var seen = Set<String>()
    guests = guests.filter { seen.insert($0.elf).inserted }
    return guests.sorted { ($0.name, $0.elf) < ($1.name, $1.elf) }
}

// MARK: - Small file helpers (Glibc only: the CLI does not link Foundation)

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

func listDirectory(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

func baseName(_ path: String, dropping suffix: String) -> String {
    var name = path.split(separator: "/").last.map(String.init) ?? path
    if !suffix.isEmpty && name.hasSuffix(suffix) && name.count > suffix.count { name.removeLast(suffix.count) }
    return name
}

func dirName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// Writes `text` to `path` (created or truncated); false on failure.
@discardableResult
func writeTextFile(_ path: String, _ text: String) -> Bool {
    guard let f = fopen(path, "wb") else { return false }
    let bytes = Array(text.utf8)
    let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    return fclose(f) == 0 && n == bytes.count
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
