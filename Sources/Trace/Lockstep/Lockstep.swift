import ELF
import X86Decode
#if canImport(Glibc)
import Glibc
#endif

/// `x86v lockstep`: the guest under x86v and under QEMU (or a second x86v configuration) at the
/// same time, each writing its trace into a FIFO, and the diff reading both as they come.
public struct Lockstep {
    /// This executable (side A, and side B with `against`).
    public var x86v: String
    public var guest: String
    /// `x86v run` flags for side A (the configuration under test).
    public var runArguments: [String]
    /// nil: QEMU is side B. Otherwise `x86v run` flags for side B.
    public var against: [String]?
    public var qemu = "qemu-system-i386"
    /// QEMU's machine: RAM in MiB, kernel command line, RTC start (as x86v's flags give them).
    public var memoryMiB = 128
    public var append = ""
    public var rtc = "2000-01-01T00:00:00"
    /// QEMU logs only instructions in these ranges (nil: everywhere but its firmware's; []: all).
    public var qemuFilter: [ClosedRange<UInt32>]? = nil
    public var diff = TraceDiff.Options()
    /// QEMU's clock: `-icount shift=N` (2^N ns per instruction, so its timers fire at
    /// reproducible instructions, as x86v's do at 10 ns per instruction); nil: real time.
    public var icountShift: Int? = 3
    /// How long a side may go without producing a step before it counts as stuck.
    public var stallSeconds = 60.0

    public init(x86v: String, guest: String, runArguments: [String], against: [String]?) {
        self.x86v = x86v
        self.guest = guest
        self.runArguments = runArguments
        self.against = against
    }

    public struct Outcome {
        public var result: TraceDiff.Result
        public var aName: String
        public var bName: String
        public var report: String { DiffReport(result: result, aName: aName, bName: bName).render() }
    }

    public func run() throws(TraceInputError) -> Outcome {
        // The ELF gives QEMU its kernel and the diff the image bytes; two x86v runs (--against)
        // need neither, so a bzImage compares too.
        let elf: ELF32File? = against == nil ? try loadELF() : (try? loadELF())
        let dir = try temporaryDirectory()
        defer {
            for f in ["a.fifo", "b.fifo", "a.err", "b.err"] { unlink("\(dir)/\(f)") }
            rmdir(dir)
        }
        let aName = "x86v " + (runArguments.isEmpty ? "(default: --virt=hw --mmu=shadow)" : runArguments.joined(separator: " "))
        let a = try TraceProducer(name: "x86v (side A)", argv: traceCommand(runArguments, fifo: "\(dir)/a.fifo"),
                                  fifo: "\(dir)/a.fifo", stderrPath: "\(dir)/a.err")
        var producers = [a]
        defer { for p in producers { p.kill() } }
        let bName: String
        let b: TraceProducer
        if let flags = against {
            bName = "x86v " + flags.joined(separator: " ")
            b = try TraceProducer(name: "x86v (side B)", argv: traceCommand(flags, fifo: "\(dir)/b.fifo"),
                                  fifo: "\(dir)/b.fifo", stderrPath: "\(dir)/b.err")
        } else {
            guard commandExists(qemu) else {
                throw TraceInputError("\(qemu) is not installed (make deps installs qemu-system-x86)")
            }
            bName = "QEMU (\(qemu) TCG, -singlestep)"
            b = try TraceProducer(name: qemu, argv: qemuCommand(elf!, fifo: "\(dir)/b.fifo"),
                                  fifo: "\(dir)/b.fifo", stderrPath: "\(dir)/b.err")
        }
        producers.append(b)
        try a.waitForOutput(seconds: stallSeconds)
        try b.waitForOutput(seconds: stallSeconds * 2)
        let readerA = try TraceReader(path: a.fifo)
        let readerB: TraceStepSource = against == nil
            ? try QEMULogReader(path: b.fifo, entry: elf!.entry) : try TraceReader(path: b.fifo)
        a.release()
        b.release()
        var options = diff
        options.rules = against == nil
        if let elf { options.imageBytes = Lockstep.imageReader(elf) }
        options.compareControlRegisters = against != nil
        let watchdog = Watchdog(seconds: stallSeconds, pids: producers.map { $0.pid })
        let result: TraceDiff.Result
        do {
            let engine = TraceDiff(readerA, readerB, options: options)
            engine.progress = watchdog.counter
            result = try engine.run()
            watchdog.stop()
        } catch {
            watchdog.stop()
            if watchdog.fired { throw TraceInputError("a side produced nothing for \(Int(stallSeconds)) s (stuck?): \(error.description)") }
            throw error
        }
        return Outcome(result: result, aName: aName, bName: bName)
    }

    /// Up to 16 bytes of the image at a linear address inside a loadable segment's file data.
    static func imageReader(_ elf: ELF32File) -> @Sendable (UInt32) -> [UInt8]? {
        let segments = elf.segments.filter { $0.isLoadable && $0.fileSize > 0 }
        let bytes = elf.bytes
        return { linear in
            for s in segments where linear >= s.virtualAddress && linear - s.virtualAddress < s.fileSize {
                let start = Int(s.offset) + Int(linear - s.virtualAddress)
                let end = min(start + 16, Int(s.offset) + Int(s.fileSize), bytes.count)
                return start < end ? Array(bytes[start..<end]) : nil
            }
            return nil
        }
    }

    func traceCommand(_ flags: [String], fifo: String) -> [String] {
        [x86v, "run", guest] + flags + ["--trace", fifo, "--trace-format", "bin"]
    }

    func qemuCommand(_ elf: ELF32File, fifo: String) -> [String] {
        var argv = [qemu, "-accel", "tcg", "-display", "none", "-monitor", "none", "-no-reboot",
                    "-m", "\(memoryMiB)", "-rtc", "base=\(rtc),clock=vm", "-serial", "null",
                    "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", guest]
        if !append.isEmpty { argv += ["-append", append] }
        if let shift = icountShift { argv += ["-icount", "shift=\(shift),sleep=off"] }
        // `fpu` adds the x87/SSE rows to every record (half as much log again): only for a guest
        // whose code has x87, MMX or SSE instructions.
        argv += ["-singlestep", "-d", Self.usesFloatingPoint(elf) ? "cpu,fpu,nochain,exec,int" : "cpu,nochain,exec,int", "-D", fifo]
        let ranges = qemuFilter ?? outsideFirmware()
        if !ranges.isEmpty {
            argv += ["-dfilter", ranges.map { "0x\(String($0.lowerBound, radix: 16))..0x\(String($0.upperBound, radix: 16))" }.joined(separator: ",")]
        }
        return argv
    }

    /// x87/SSE-class instructions that compute nothing (every test guest's runtime sets the
    /// control word up; spin loops PAUSE): they alone do not ask QEMU for its FPU rows.
    static let controlOnly: Set<String> = ["fninit", "fldcw", "fnstcw", "fnclex", "wait", "fwait", "pause",
                                           "lfence", "mfence", "sfence", "clflush", "prefetchnta", "prefetcht0",
                                           "prefetcht1", "prefetcht2", "nop"]

    /// Whether the image's code holds an x87, MMX or SSE instruction that computes (a linear
    /// sweep of its executable sections; a false hit in data only costs a longer QEMU log).
    public static func usesFloatingPoint(_ elf: ELF32File) -> Bool {
        let decoder = Decoder()
        let table = OpcodeTable.shared
        for region in elf.codeRegions {
            let found = region.bytes.withUnsafeBufferPointer { b -> Bool in
                guard let base = b.baseAddress else { return false }
                var i = 0
                var d = DecodedInstruction()
                while i < b.count {
                    if decoder.decode(base + i, count: min(15, b.count - i), mode: .bits32, into: &d) == .ok {
                        if !table.attributes(row: Int(d.row)).isDisjoint(with: [.x87, .mmx, .sse]),
                           !controlOnly.contains(table.mnemonic(row: Int(d.row), wide: true)) { return true }
                        i += max(1, Int(d.length))
                    } else {
                        i += 1
                    }
                }
                return false
            }
            if found { return true }
        }
        return false
    }

    /// Every address but those where QEMU's firmware runs (measured on Debian's SeaBIOS with
    /// `-d exec`: below 1 MiB, the 256 KiB below RAM size − 16 MiB where it relocates its 32-bit
    /// code, and the BIOS alias under 4 GiB), so that QEMU skips logging the millions of firmware
    /// instructions before the entry point but logs the guest wherever its code runs.
    func outsideFirmware() -> [ClosedRange<UInt32>] {
        let top = UInt32(memoryMiB) << 20
        guard top >= 32 << 20 else { return [0x10_0000...0xFFFB_FFFF] }
        let hole = top - (16 << 20)
        return [0x10_0000...(hole - 0x4_0001), hole...0xFFFB_FFFF]
    }

    /// The guest image's loadable segments, at their virtual and physical addresses: QEMU then
    /// skips logging its firmware (millions of instructions before the entry point).
    public func loadELFForFilter() throws(TraceInputError) -> ELF32File { try loadELF() }

    public func imageRanges(_ elf: ELF32File) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        for s in elf.segments where s.isLoadable && s.memorySize > 0 {
            for base in Set([s.virtualAddress, s.physicalAddress]) {
                let end = UInt64(base) + UInt64(s.memorySize) - 1
                out.append(base...UInt32(min(end, 0xFFFF_FFFF)))
            }
        }
        return out
    }

    func loadELF() throws(TraceInputError) -> ELF32File {
        let f = open(guest, O_RDONLY)
        guard f >= 0 else { throw TraceInputError("\(guest): \(String(cString: strerror(errno)))") }
        defer { close(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(f, &chunk, chunk.count)
            if n < 0 { throw TraceInputError("\(guest): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 256 << 20 { throw TraceInputError("\(guest): larger than 256 MiB") }
        }
        do { return try ELF32File(bytes: bytes) } catch { throw TraceInputError("\(guest): \(error.description)") }
    }

    func temporaryDirectory() throws(TraceInputError) -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/x86v-lockstep.XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw TraceInputError("cannot create a temporary directory in \(base)") }
        return String(cString: template)
    }

    func commandExists(_ name: String) -> Bool {
        if name.contains("/") { return access(name, X_OK) == 0 }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { access("\($0)/\(name)", X_OK) == 0 }
    }
}
