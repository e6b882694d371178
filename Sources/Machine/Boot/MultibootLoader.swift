import ELF
import X86Core

/// Loads a 32-bit ELF kernel the way a Multiboot v1 boot loader does (QEMU's `-kernel`):
/// every PT_LOAD segment at its physical address with the bss zeroed, a multiboot information
/// structure in low memory, and the CPU in flat 32-bit protected mode at the entry point with
/// EAX = 0x2BADB002 and EBX = the information's address (Multiboot spec 0.6.96 §3.2).
public struct MultibootLoader {
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Where the information structure goes (below the conventional 640 KiB, above the IVT/BDA).
    public static let infoAddress: UInt32 = 0x9000

    public static func load(_ elf: ELF32File, into cpu: CPU, commandLine: String = "") throws(LoadError) {
        let memory = cpu.memory
        var loaded = 0
        for seg in elf.segments where seg.isLoadable && seg.memorySize > 0 {
            let end = UInt64(seg.physicalAddress) + UInt64(seg.memorySize)
            guard end <= UInt64(memory.size) else {
                throw LoadError(description: "segment at 0x\(String(seg.physicalAddress, radix: 16)) (\(seg.memorySize) bytes) does not fit in \(memory.size >> 20) MiB of guest memory")
            }
            guard seg.physicalAddress >= 0x10_0000 || end <= 0xA_0000 else {
                throw LoadError(description: "segment at 0x\(String(seg.physicalAddress, radix: 16)) overlaps the 640 KiB–1 MiB hole")
            }
            let fileEnd = Int(seg.offset) + Int(seg.fileSize)
            guard seg.fileSize <= seg.memorySize, fileEnd <= elf.bytes.count else {
                throw LoadError(description: "segment data lies outside the file")
            }
            let base = memory.ram + Int(seg.physicalAddress)
            elf.bytes.withUnsafeBytes { raw in
                base.copyMemory(from: raw.baseAddress! + Int(seg.offset), byteCount: Int(seg.fileSize))
            }
            (base + Int(seg.fileSize)).initializeMemory(as: UInt8.self, repeating: 0,
                                                        count: Int(seg.memorySize - seg.fileSize))
            loaded += 1
        }
        guard loaded > 0 else { throw LoadError(description: "no loadable segments") }
        writeInfo(memory: memory, commandLine: commandLine)
        cpu.resetFlat(cpl: 0)
        var st = cpu.state
        st.eip = elf.entry
        st[.eax] = 0x2BAD_B002
        st[.ebx] = infoAddress
        cpu.state = st
    }

    /// flags: mem_lower/mem_upper (bit 0), cmdline (bit 2), memory map (bit 6).
    static func writeInfo(memory: PhysicalMemory, commandLine: String) {
        let info = infoAddress
        let upperKiB = (memory.size - 0x10_0000) / 1024
        memory.write32(info + 0, (1 << 0) | (1 << 2) | (1 << 6))
        memory.write32(info + 4, 639)
        memory.write32(info + 8, upperKiB)
        let cmdAddress = info + 0x100
        memory.load(bytes: Array(commandLine.utf8) + [0], at: cmdAddress)
        memory.write32(info + 16, cmdAddress)
        // Memory map: two entries (size, base lo/hi, length lo/hi, type 1 = RAM).
        let mmap = info + 0x80
        let entries: [(UInt32, UInt32)] = [(0, 0x9_FC00), (0x10_0000, memory.size - 0x10_0000)]
        for (i, e) in entries.enumerated() {
            let p = mmap + UInt32(i * 24)
            memory.write32(p, 20)
            memory.write32(p + 4, e.0); memory.write32(p + 8, 0)
            memory.write32(p + 12, e.1); memory.write32(p + 16, 0)
            memory.write32(p + 20, 1)
        }
        memory.write32(info + 44, UInt32(entries.count * 24))
        memory.write32(info + 48, mmap)
    }
}
