import Foundation

/// The fixed memory map shared with Tools/native-harness/harness.c (see its header comment for
/// the batch format, which `Batch` writes, version 2, and reads).
enum Layout {
    static let codeBase: UInt32 = 0x0040_0000
    static let codeMax = 4000
    static let sandboxBase: UInt32 = 0x0050_0000
    static let sandboxSize = 0x2000
    /// LDT data segment loaded in FS by the harness: base = sandbox, limit = sandbox size - 1.
    static let fsSelector: UInt16 = 0x0007
    /// CF PF AF ZF SF DF OF: the EFLAGS bits a case starts with.
    static let caseFlags: UInt32 = 0x0CD5
    /// The selectors a 32-bit Linux process runs with (__USER32_CS, __USER_DS on x86-64):
    /// FNSTENV/FNSAVE store them as FCS and FDS.
    static let linuxCodeSelector: UInt16 = 0x23
    static let linuxDataSelector: UInt16 = 0x2B
    static let inputMagic: UInt32 = 0x4436_3858
    static let outputMagic: UInt32 = 0x5236_3858
}

/// One test case: initial state and code.
struct TestCase {
    var regs: [UInt32] = Array(repeating: 0, count: 8)
    var eflags: UInt32 = 0x202
    /// ES is the sandbox segment (like FS) instead of the flat data segment.
    var esSandbox = false
    var fillSeed: UInt32 = 1
    var code: [UInt8] = []
    /// (sandbox offset, byte) applied after the fill, in order.
    var patches: [(UInt16, UInt8)] = []
    /// Instruction count of the generated sequence (setup instructions included).
    var instructionCount = 0
    /// The sequence as groups, for the reducer.
    var program = Program()
    /// The FPU state the case starts from (FPU families), as an FXSAVE image.
    var fpu: FXImage?

    /// The sandbox before the case runs: the xorshift32 fill, then the patches.
    func initialSandbox(into buffer: UnsafeMutableRawPointer) {
        var x = fillSeed == 0 ? 1 : fillSeed
        let words = buffer.assumingMemoryBound(to: UInt32.self)
        for i in 0..<(Layout.sandboxSize / 4) {
            x ^= x << 13
            x ^= x >> 17
            x ^= x << 5
            words[i] = x.littleEndian
        }
        let bytes = buffer.assumingMemoryBound(to: UInt8.self)
        for (offset, value) in patches { bytes[Int(offset)] = value }
    }
}

/// The outcome of one case, native or emulated.
struct Outcome: Equatable {
    /// nil: ran to the end of the code; else the exception vector.
    var vector: UInt8?
    var errorCode: UInt32 = 0
    /// Offset of EIP from the code base (code length at the end; the faulting instruction).
    var eip: UInt32 = 0
    var regs: [UInt32] = Array(repeating: 0, count: 8)
    var eflags: UInt32 = 0
    /// Sandbox bytes that differ from the initial image: offset << 8 | value, in offset order.
    var sandboxDiff: [UInt32] = []
    /// The FPU state after the case (FPU cases), as an FXSAVE image.
    var fpu: FXImage?
    /// Native only: FCS/FDS are not in the image (the fault path reads the signal frame).
    var selectorsUnknown = false
}

/// Little-endian byte writer/reader for the batch files.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) {
        bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8((v >> 8) & 0xFF))
        bytes.append(UInt8((v >> 16) & 0xFF)); bytes.append(UInt8(v >> 24))
    }
}

enum Batch {
    static func encode(_ cases: [TestCase]) -> [UInt8] {
        var w = ByteWriter()
        w.bytes.reserveCapacity(cases.count * 200)
        w.u32(Layout.inputMagic); w.u32(2); w.u32(UInt32(cases.count))
        for c in cases {
            for r in c.regs { w.u32(r) }
            w.u32(c.eflags | (c.esSandbox ? 0x8000_0000 : 0))
            w.u32(c.fillSeed)
            w.u32(UInt32(c.code.count) | UInt32(c.patches.count) << 16)
            w.bytes += c.code
            while w.bytes.count % 4 != 0 { w.bytes.append(0) }
            for (offset, value) in c.patches { w.u32(UInt32(offset) | UInt32(value) << 16) }
            if let fpu = c.fpu {
                w.u32(1)
                w.bytes += fpu.bytes
            } else {
                w.u32(0)
            }
        }
        return w.bytes
    }

    static func decodeResults(_ data: [UInt8], count: Int) throws -> [Outcome] {
        var p = 0
        func u32() throws -> UInt32 {
            guard p + 4 <= data.count else { throw HarnessError.badOutput("truncated output") }
            let v = UInt32(data[p]) | UInt32(data[p + 1]) << 8 | UInt32(data[p + 2]) << 16 | UInt32(data[p + 3]) << 24
            p += 4
            return v
        }
        guard try u32() == Layout.outputMagic, try u32() == 2, try u32() == UInt32(count) else {
            throw HarnessError.badOutput("bad output header")
        }
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(count)
        for _ in 0..<count {
            var o = Outcome()
            let vector = try u32()
            o.vector = vector == 0xFFFF_FFFF ? nil : UInt8(truncatingIfNeeded: vector)
            o.errorCode = try u32()
            o.eip = try u32()
            for i in 0..<8 { o.regs[i] = try u32() }
            o.eflags = try u32()
            let n = Int(try u32())
            o.sandboxDiff.reserveCapacity(n)
            for _ in 0..<n {
                let d = try u32()
                o.sandboxDiff.append((d & 0xFFFF) << 8 | (d >> 16) & 0xFF)
            }
            let fpu = try u32()
            if fpu & 1 != 0 {
                guard p + 512 <= data.count else { throw HarnessError.badOutput("truncated output") }
                o.fpu = FXImage(Array(data[p..<(p + 512)]))
                o.selectorsUnknown = fpu & 2 != 0
                p += 512
            }
            outcomes.append(o)
        }
        return outcomes
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case missing(String)
    case failed(String)
    case badOutput(String)
    var description: String {
        switch self {
        case .missing(let path): return "native harness not found at \(path) (build it: make -C Tools/native-harness)"
        case .failed(let why): return "native harness failed: \(why)"
        case .badOutput(let why): return "native harness output: \(why)"
        }
    }
}

/// A native harness run in flight: the batch is written to a temporary file, the harness runs
/// as a child process while x86v executes the same cases, and `wait` reads its results.
final class NativeRun {
    let process = Process()
    let inputURL: URL
    let outputURL: URL
    let count: Int

    init(harness: String, cases: [TestCase], tag: Int) throws {
        guard FileManager.default.isExecutableFile(atPath: harness) else { throw HarnessError.missing(harness) }
        let dir = FileManager.default.temporaryDirectory
        let stem = "cpu-diff-\(getpid())-\(tag)"
        inputURL = dir.appendingPathComponent(stem + ".in")
        outputURL = dir.appendingPathComponent(stem + ".out")
        count = cases.count
        try Data(Batch.encode(cases)).write(to: inputURL)
        process.executableURL = URL(fileURLWithPath: harness)
        process.arguments = [inputURL.path, outputURL.path]
        try process.run()
    }

    /// The host's MXCSR_MASK, from the FXSAVE image of an empty FPU case.
    static func hostMXCSRMask(harness: String) throws -> UInt32 {
        var c = TestCase()
        c.regs[4] = Generator.sandboxMiddle
        c.fpu = FXImage()
        guard let image = try NativeRun(harness: harness, cases: [c], tag: 998).wait().first?.fpu else {
            throw HarnessError.badOutput("no FXSAVE image")
        }
        return image.u32(28)
    }

    func wait() throws -> [Outcome] {
        process.waitUntilExit()
        defer {
            try? FileManager.default.removeItem(at: inputURL)
            try? FileManager.default.removeItem(at: outputURL)
        }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw HarnessError.failed("status \(process.terminationStatus) (\(process.terminationReason == .exit ? "exit" : "signal"))")
        }
        let data = try Data(contentsOf: outputURL)
        return try Batch.decodeResults([UInt8](data), count: count)
    }
}
