import ArgumentParser
import CapstoneOracle
import ELF
import X86Decode
#if canImport(Glibc)
import Glibc
#endif

/// `x86v disasm`: linear-sweep disassembly of a 32-bit ELF's code or of a raw binary, with an
/// optional instruction-by-instruction comparison against Capstone.
struct Disasm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Disassemble a 32-bit ELF (its executable sections) or a raw binary.",
        discussion: """
            Prints address, bytes and Intel-syntax text (Capstone 4 style). With --check each \
            instruction is also decoded by Capstone; mismatches are printed and the run ends with \
            'N instructions, M equal to Capstone, K known differences, U unexplained' (exit 1 if U > 0).
            """
    )

    @Argument(help: "The file to disassemble.") var file: String
    @Option(help: "Code size: 16 or 32.") var mode: Int = 32
    @Option(help: "Start address (hex with 0x, or decimal).") var start: String?
    @Option(help: "Maximum number of instructions.") var count: Int?
    @Flag(help: "Compare every instruction with Capstone.") var check = false
    @Flag(help: "FILE is a raw binary, not an ELF.") var raw = false
    @Option(help: "Load address of a raw binary (hex with 0x, or decimal).") var base: String = "0"

    func run() throws {
        guard mode == 16 || mode == 32, let codeMode = CodeMode(rawValue: UInt8(mode)) else {
            throw InputError("--mode must be 16 or 32, not \(mode)")
        }
        if let count, count < 0 { throw InputError("--count must not be negative") }
        let contents = try readFile(file)
        var regions: [(name: String, address: UInt32, bytes: ArraySlice<UInt8>)]
        if raw {
            guard let baseAddress = parseAddress(base) else { throw InputError("bad --base address '\(base)'") }
            regions = [("raw", baseAddress, contents[...])]
        } else {
            let elf: ELF32File
            do { elf = try ELF32File(bytes: contents) } catch { throw InputError("\(file): \(error.description)") }
            regions = elf.codeRegions
            if regions.isEmpty { throw InputError("\(file): no executable sections") }
        }
        if let start {
            guard let startAddress = parseAddress(start) else { throw InputError("bad --start address '\(start)'") }
            guard let index = regions.firstIndex(where: {
                startAddress >= $0.address && UInt64(startAddress) < UInt64($0.address) + UInt64($0.bytes.count)
            }) else {
                throw InputError("--start \(start) is outside the code of \(file)")
            }
            let region = regions[index]
            let skip = Int(startAddress - region.address)
            regions = [(region.name, startAddress, region.bytes.dropFirst(skip))]
        }
        let checker = check ? try DifferentialChecker(mode: codeMode) : nil
        let decoder = Decoder()
        let disassembler = checker?.disassembler ?? Disassembler()
        var out = OutputBuffer()
        var remaining = count ?? Int.max
        var instructions = 0
        for region in regions where remaining > 0 {
            if regions.count > 1 || !raw { out.write("\n\(region.name):\n") }
            region.bytes.withUnsafeBufferPointer { buffer in
                guard let basePointer = buffer.baseAddress else { return }
                var offset = 0
                while offset < buffer.count && remaining > 0 {
                    let address = region.address &+ UInt32(offset)
                    var instruction = DecodedInstruction()
                    let available = buffer.count - offset
                    let status = decoder.decode(basePointer + offset, count: available, mode: codeMode, into: &instruction)
                    let length = status == .ok ? Int(instruction.length) : 1
                    let text = status == .ok ? disassembler.text(instruction, address: address) : "(bad)"
                    out.write(line(address: address, bytes: buffer[offset..<(offset + length)], text: text))
                    if let checker {
                        let outcome = checker.compare(basePointer + offset, count: available, address: address)
                        switch outcome {
                        case .equal, .bothInvalid: break
                        case .known(let index):
                            out.write("    known difference \(checker.knownDifference(index).id): capstone: \(checker.lastTheirs)\n")
                        case .unexplained:
                            out.write("    MISMATCH x86v: \(checker.lastOurs)  capstone: \(checker.lastTheirs)\n")
                        }
                    }
                    offset += length
                    instructions += 1
                    remaining -= 1
                }
            }
        }
        if let checker {
            let c = checker.counts
            out.write("\(instructions) instructions, \(c.equal) equal to Capstone, \(c.known) known differences, \(c.unexplained) unexplained\n")
            out.flush()
            if c.unexplained > 0 { throw ExitCode(1) }
        }
        out.flush()
    }

    private func line(address: UInt32, bytes: some Collection<UInt8>, text: String) -> String {
        var hex = bytes.prefix(15).map(hexByte).joined(separator: " ")
        if hex.count < 30 { hex += String(repeating: " ", count: 30 - hex.count) }
        return "\(hex32(address))  \(hex)  \(text)\n"
    }
}

func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

func parseAddress(_ text: String) -> UInt32? {
    if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt32(text.dropFirst(2), radix: 16) }
    return UInt32(text)
}

/// Reads a whole file, turning every failure into a one-line input error.
func readFile(_ path: String) throws -> [UInt8] {
    guard let handle = fopen(path, "rb") else {
        throw InputError("\(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(handle) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 65536, handle) }
        if n > 0 { bytes += chunk[0..<n] }
        if n < 65536 {
            if ferror(handle) != 0 { throw InputError("\(path): read error (is it a directory?)") }
            break
        }
    }
    return bytes
}

/// Buffered stdout: one write per 64 KiB instead of one per line.
struct OutputBuffer {
    var pending: [UInt8] = []
    mutating func write(_ s: String) {
        pending += s.utf8
        if pending.count > 65536 { flush() }
    }
    mutating func flush() {
        writeAll(1, pending)
        pending.removeAll(keepingCapacity: true)
    }
}

/// Writes all of `bytes` to a file descriptor (1 = stdout, 2 = stderr).
func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}
