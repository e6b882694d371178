// One single-instruction test from real hardware (SingleStepTests/80386, captured on an Intel
// 80386EX): an initial state and RAM, the instruction followed by HLT, and what the chip changed.
//
// Both inputs read into this one model: the JSON-lines form (JSONLinesReader.swift, the format of
// ../shared/conformance/80386/README.md) and the suite's binary MOO files (MOOReader.swift).
// The runner (ConformanceRunner.swift) never sees which form a test came from.
//
//     initial   every register, the RAM bytes the test needs ([physical address, byte])
//     final     only the registers and RAM bytes that changed
//     masks     EFLAGS bits to compare (1 = defined), per-register masks if the file has them
//     exception the vector taken and where its pushed FLAGS word sits in RAM

/// The registers a test names, in the bit order of the MOO `RG32` chunk's mask.
public enum ConformanceRegister: Int, CaseIterable, Sendable {
    case cr0 = 0, cr3, eax, ebx, ecx, edx, esi, edi, ebp, esp, cs, ds, es, fs, gs, ss, eip, eflags, dr6, dr7

    /// The name the JSON-lines form uses (and mismatch reports print).
    public var name: String {
        switch self {
        case .cr0: "cr0"
        case .cr3: "cr3"
        case .eax: "eax"
        case .ebx: "ebx"
        case .ecx: "ecx"
        case .edx: "edx"
        case .esi: "esi"
        case .edi: "edi"
        case .ebp: "ebp"
        case .esp: "esp"
        case .cs: "cs"
        case .ds: "ds"
        case .es: "es"
        case .fs: "fs"
        case .gs: "gs"
        case .ss: "ss"
        case .eip: "eip"
        case .eflags: "eflags"
        case .dr6: "dr6"
        case .dr7: "dr7"
        }
    }

    public init?(name: String) {
        guard let r = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = r
    }
}

/// A value (or a mask) for some of the 20 registers, in `ConformanceRegister` order: never a
/// dictionary, so nothing about hashing reaches a report.
public struct RegisterValues: Sendable, Equatable {
    private var values: [UInt32?] = Array(repeating: nil, count: ConformanceRegister.allCases.count)

    public init() {}

    public subscript(_ r: ConformanceRegister) -> UInt32? {
        get { values[r.rawValue] }
        set { values[r.rawValue] = newValue }
    }

    /// The registers that have a value, in order.
    public var present: [ConformanceRegister] { ConformanceRegister.allCases.filter { values[$0.rawValue] != nil } }
    public var isEmpty: Bool { values.allSatisfy { $0 == nil } }
}

/// One RAM byte of a test: a physical address and its value.
public struct RAMByte: Sendable, Equatable {
    public var address: UInt32
    public var value: UInt8
    public init(_ address: UInt32, _ value: UInt8) { self.address = address; self.value = value }
}

/// The exception or software interrupt a test took (SDM Vol. 3A §20.1.4: real mode pushes
/// FLAGS, CS, IP and vectors through the IVT).
public struct TestException: Sendable, Equatable {
    public var vector: UInt8
    /// Where the pushed FLAGS word sits in RAM: compared under the flags mask.
    public var flagAddress: UInt32
    public init(vector: UInt8, flagAddress: UInt32) { self.vector = vector; self.flagAddress = flagAddress }
}

/// Where a test's EFLAGS mask came from (the README's `flags_mask_src`).
public enum FlagsMaskSource: String, Sendable {
    /// The MOO test's own `RM32` chunk.
    case test
    /// The MOO file's top-level `RM32` chunk.
    case file
    /// `f_umask` of the suite's `80386.csv` (upper 16 bits always compared).
    case csv
    /// No mask anywhere: every bit compared.
    case none
}

/// One test, whichever file form it came from.
public struct ConformanceTest: Sendable {
    /// The suite's file name without extension ("00", "6601", "80.4"), for reports and the CSV.
    public var file: String
    /// The test's index in its source file.
    public var index: Int
    /// SHA-1 of the MOO test chunk, lower-case hex (the revocation list's key); "" if absent.
    public var hash: String
    /// The instruction's disassembly.
    public var name: String
    /// The instruction and its HLT (also in `initialRAM` at CS*16 + EIP).
    public var bytes: [UInt8]
    /// "real" is the only mode the suite has.
    public var mode: String
    public var initialRegisters = RegisterValues()
    public var initialRAM: [RAMByte] = []
    /// Only the registers that changed; the others must still equal `initialRegisters`.
    public var finalRegisters = RegisterValues()
    /// Only the bytes that changed.
    public var finalRAM: [RAMByte] = []
    /// EFLAGS bits to compare (1 = defined); nil until a source gave one (see `resolveFlagsMask`).
    public var flagsMask: UInt32?
    public var flagsMaskSource: FlagsMaskSource = .none
    /// Per-register compare masks, where the source file has them (MOO `RM32`, JSON `reg_masks`).
    public var registerMasks = RegisterValues()
    public var exception: TestException?

    public init(file: String, index: Int, hash: String, name: String, bytes: [UInt8], mode: String) {
        self.file = file
        self.index = index
        self.hash = hash
        self.name = name
        self.bytes = bytes
        self.mode = mode
    }

    /// The mask EFLAGS is compared under: the test's own, else the opcode table's `f_umask`
    /// (upper 16 bits always compared), else every bit.
    public mutating func resolveFlagsMask(table: UndefinedFlagsTable?) {
        if flagsMask != nil { return }
        if let umask = table?.mask(forFile: file) {
            flagsMask = 0xFFFF_0000 | UInt32(umask)
            flagsMaskSource = .csv
        } else {
            flagsMask = 0xFFFF_FFFF
            flagsMaskSource = .none
        }
    }

    /// "00.jsonl idx 457 \"add [ss:bp+si+6142h],al\" hash 002231b7… bytes 00 82 42 61 f4".
    public func title(source: String) -> String {
        let hex = bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: " ")
        return "\(source) idx \(index) \"\(name)\" hash \(hash.isEmpty ? "-" : hash) bytes \(hex)"
    }
}

/// A file that cannot be read as a test file: missing, truncated, malformed. One line, naming
/// the file and where it can (the CLI prints it and exits with status 2).
public struct ConformanceInputError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
