import ArgumentParser
import ELF
import Foundation
import Machine
import X86Core
#if canImport(Glibc)
import Glibc
#endif

/// `x86v run`: boot a multiboot ELF guest on the interpreter (bare machine: serial TX and the
/// debug-exit port; the full machine and the VMM come with issue 5).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a multiboot ELF guest.",
        discussion: """
            Exit status: the guest's debug-exit status ((V << 1) | 1 for a write of V to port 0xF4), \
            0 on a halt with interrupts off, 3 triple fault, 4 instruction limit, 5 not implemented, \
            2 bad input. See docs/formats.md.
            """
    )

    @Argument(help: "The guest kernel (32-bit multiboot ELF).") var guest: String
    @Option(help: "Guest memory, e.g. 64M or 1G (default 128M, at most 3G).") var memory: String = "128M"
    @Option(name: .customLong("max-instructions"), help: "Stop after this many instructions.")
    var maxInstructions: UInt64 = 10_000_000_000
    @Flag(help: "Print instructions, time and MIPS to stderr at exit.") var stats = false

    func run() throws {
        guard let bytes = parseMemorySize(memory) else {
            throw InputError("bad --memory '\(memory)' (use e.g. 64M, 1G; 1M–3G)")
        }
        let contents = try readFile(guest)
        let elf: ELF32File
        do { elf = try ELF32File(bytes: contents) } catch { throw InputError("\(guest): \(error.description)") }
        let machine = BareMachine(memorySize: bytes)
        do { try MultibootLoader.load(elf, into: machine.cpu) } catch {
            throw InputError("\(guest): \(error.description)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let outcome = machine.run(maxInstructions: maxInstructions)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        writeAll(1, machine.serial)
        let n = machine.cpu.state.instructions
        if stats {
            let line = String(format: "x86v: %llu instructions in %.3f s (%.1f MIPS), %llu port exits\n",
                              n, seconds, Double(n) / seconds / 1e6, machine.portExits)
            writeAll(2, Array(line.utf8))
        }
        let eip = String(machine.cpu.state.eip, radix: 16)
        switch outcome {
        case .debugExit(let status): throw ExitCode(status)
        case .halted: throw ExitCode(0)
        case .shutdown:
            let chain = machine.cpu.exceptionChain.map { Vector.name($0.vector) }.joined(separator: " → ")
            writeAll(2, Array("x86v: triple fault at eip 0x\(eip) (exceptions: \(chain))\n".utf8))
            throw ExitCode(3)
        case .instructionLimit:
            writeAll(2, Array("x86v: instruction limit (\(maxInstructions)) reached at eip 0x\(eip)\n".utf8))
            throw ExitCode(4)
        case .stopped(let reason):
            if case .notImplemented(let at, let what) = reason {
                writeAll(2, Array("x86v: not implemented: \(what) at 0x\(String(at, radix: 16))\n".utf8))
                throw ExitCode(5)
            }
            writeAll(2, Array("x86v: stopped: \(reason) at eip 0x\(eip)\n".utf8))
            throw ExitCode(5)
        }
    }
}

/// "64M", "1G", "65536K" or a byte count → bytes; nil if malformed or outside 1 MiB…3 GiB.
func parseMemorySize(_ text: String) -> Int? {
    var digits = text.uppercased()
    var unit = 1
    if let last = digits.last, "KMG".contains(last) {
        unit = last == "K" ? 1 << 10 : last == "M" ? 1 << 20 : 1 << 30
        digits.removeLast()
    }
    guard let n = Int(digits), n > 0, n <= (3 << 30) / unit else { return nil }
    let bytes = n * unit
    guard bytes >= 1 << 20, bytes % 4096 == 0 else { return nil }
    return bytes
}
