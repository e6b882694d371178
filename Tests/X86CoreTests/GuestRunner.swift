import ELF
import Foundation
import X86Core

/// A minimal multiboot loader and board for the test guests in testguests/: loads each PT_LOAD
/// segment of the ELF at its physical address (zeroing the .bss part), writes a multiboot info
/// structure (mem_lower/mem_upper only) into low memory, starts the CPU the way a multiboot
/// loader leaves it (protected mode, paging off, flat segments, EAX = 0x2BADB002, EBX = info),
/// and plays the two devices the guests use: a COM1 16550 whose transmitter is always ready
/// (LSR at 0x3FD reads 0x60; bytes written to 0x3F8 are collected) and QEMU's isa-debug-exit at
/// port 0xF4 (a write ends the run with that exit code). Other ports read as all ones and
/// ignore writes.
struct GuestRun {
    var serial: [UInt8] = []
    /// The value written to port 0xF4, if the guest got that far.
    var exitCode: UInt32?
    /// How the run ended, for messages.
    var ending = ""
    var instructions: UInt64 = 0

    var text: String { String(decoding: serial, as: UTF8.self) }

    /// The serial output from the "x86v-guest: " marker on (what expected/*.out holds).
    var markedOutput: String? {
        guard let r = text.range(of: "x86v-guest: ") else { return nil }
        return String(text[r.lowerBound...])
    }
}

enum GuestRunner {
    static let multibootMagic: UInt32 = 0x2BAD_B002
    static let infoAddress: UInt32 = 0x9000
    static let initialStack: UInt32 = 0x7FF0

    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    static func run(elfPath: String, memorySize: Int = 64 << 20, budget: UInt64 = 50_000_000) throws -> GuestRun {
        let data = try Data(contentsOf: URL(fileURLWithPath: elfPath))
        let elf: ELF32File
        do {
            elf = try ELF32File(bytes: [UInt8](data))
        } catch {
            throw LoadError(description: "\(elfPath): \(error)")
        }
        let cpu = CPU(memorySize: memorySize)
        cpu.resetFlat(cpl: 0)

        var loaded = 0
        for segment in elf.segments where segment.isLoadable {
            let start = Int(segment.offset)
            let fileBytes = Array(elf.bytes[start ..< start + Int(segment.fileSize)])
            guard UInt64(segment.physicalAddress) + UInt64(segment.memorySize) <= UInt64(memorySize) else {
                throw LoadError(description: "\(elfPath): segment at 0x\(String(segment.physicalAddress, radix: 16)) is outside RAM")
            }
            cpu.memory.load(bytes: fileBytes, at: segment.physicalAddress)
            if segment.memorySize > segment.fileSize {
                let bss = [UInt8](repeating: 0, count: Int(segment.memorySize - segment.fileSize))
                cpu.memory.load(bytes: bss, at: segment.physicalAddress &+ segment.fileSize)
            }
            loaded += 1
        }
        guard loaded > 0 else { throw LoadError(description: "\(elfPath): no PT_LOAD segments") }

        // Multiboot v1 information structure: flags bit 0 = mem_lower/mem_upper valid (KiB below
        // 640 KiB and above 1 MiB).
        var info = [UInt8](repeating: 0, count: 88)
        func put32(_ offset: Int, _ value: UInt32) {
            for i in 0..<4 { info[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
        }
        put32(0, 1)
        put32(4, 640)
        put32(8, UInt32(memorySize / 1024 - 1024))
        cpu.memory.load(bytes: info, at: infoAddress)

        var st = cpu.state
        st[.eax] = multibootMagic
        st[.ebx] = infoAddress
        st[.esp] = initialStack
        st.eip = elf.entry
        cpu.state = st

        var result = GuestRun()
        let start = cpu.state.instructions
        while true {
            let used = cpu.state.instructions &- start
            result.instructions = used
            if used >= budget {
                result.ending = "instruction budget of \(budget) exhausted at EIP 0x\(String(cpu.state.eip, radix: 16))"
                return result
            }
            let exit = cpu.run(maxInstructions: budget - used)
            switch exit {
            case .portIO(let access):
                if access.isIn {
                    let ones: UInt32 = access.size == 4 ? 0xFFFF_FFFF : (1 << (8 * UInt32(access.size))) - 1
                    cpu.completePortIn(value: access.port == 0x3FD ? 0x60 : ones)
                } else {
                    if access.port == 0x3F8 { result.serial.append(UInt8(truncatingIfNeeded: access.value)) }
                    cpu.completePortOut()
                    if access.port == 0xF4 {
                        result.exitCode = access.value
                        result.instructions = cpu.state.instructions &- start
                        result.ending = "exit code \(access.value) via port 0xF4"
                        return result
                    }
                }
            case .instructionLimit:
                continue
            default:
                result.instructions = cpu.state.instructions &- start
                result.ending = "run ended with \(exit) at EIP 0x\(String(cpu.state.eip, radix: 16))"
                return result
            }
        }
    }
}
