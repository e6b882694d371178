import ELF
import X86Core

/// Loads a 32-bit kernel the way a Multiboot v1 boot loader does (QEMU's `-kernel`): every
/// PT_LOAD segment at its physical address with the bss zeroed, modules page-aligned after the
/// kernel, a multiboot information structure in low memory, and the CPU in flat 32-bit protected
/// mode at the entry point with EAX = 0x2BADB002 and EBX = the information's address
/// (Multiboot spec 0.6.96 §3.2–3.3). A flat binary (`--flat`) gets the same registers.
public struct MultibootLoader {
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// A boot module: its bytes and its string (the file name and arguments, as QEMU's -initrd).
    public struct Module: Sendable {
        public var bytes: [UInt8]
        public var string: String
        public init(bytes: [UInt8], string: String) { self.bytes = bytes; self.string = string }
    }

    /// Where the information structure goes (below 640 KiB, above the IVT/BDA); the memory map,
    /// module list and strings follow it inside one 28 KiB block ending at 0x10000.
    public static let infoAddress: UInt32 = 0x9000
    static let mmapAddress: UInt32 = 0x9080
    static let modulesAddress: UInt32 = 0x9200
    static let stringsAddress: UInt32 = 0x9400
    static let stringsEnd: UInt32 = 0x10000
    static let maxModules = 32

    public static func load(_ elf: ELF32File, into cpu: CPU, commandLine: String = "",
                            modules: [Module] = []) throws(LoadError) {
        let memory = cpu.memory
        var loaded = 0
        var kernelEnd: UInt32 = 0
        for seg in elf.segments where seg.isLoadable && seg.memorySize > 0 {
            let fileEnd = Int(seg.offset) + Int(seg.fileSize)
            guard seg.fileSize <= seg.memorySize, fileEnd <= elf.bytes.count else {
                throw LoadError(description: "segment data lies outside the file")
            }
            let image = Array(elf.bytes[Int(seg.offset)..<fileEnd])
            try place(image, zeroTo: seg.memorySize, at: seg.physicalAddress, memory: memory)
            kernelEnd = max(kernelEnd, seg.physicalAddress + seg.memorySize)
            loaded += 1
        }
        guard loaded > 0 else { throw LoadError(description: "no loadable segments") }
        try boot(cpu: cpu, entry: elf.entry, kernelEnd: kernelEnd, commandLine: commandLine, modules: modules)
    }

    /// `--flat FILE --load ADDR --entry ADDR`: raw bytes at `address`.
    public static func loadFlat(_ bytes: [UInt8], at address: UInt32, entry: UInt32, into cpu: CPU,
                                commandLine: String = "", modules: [Module] = []) throws(LoadError) {
        guard !bytes.isEmpty else { throw LoadError(description: "the flat image is empty") }
        try place(bytes, zeroTo: UInt32(bytes.count), at: address, memory: cpu.memory)
        try boot(cpu: cpu, entry: entry, kernelEnd: address + UInt32(bytes.count), commandLine: commandLine,
                 modules: modules)
    }

    /// Copies `image` to guest-physical `address` and zeroes up to `size` bytes, checking that it
    /// fits in RAM outside the legacy 640 KiB–1 MiB hole and the loader's own block.
    static func place(_ image: [UInt8], zeroTo size: UInt32, at address: UInt32, memory: PhysicalMemory) throws(LoadError) {
        let end = UInt64(address) + UInt64(size)
        let where_ = "0x\(String(address, radix: 16)) (\(size) bytes)"
        guard end <= UInt64(memory.guestSize) else {
            throw LoadError(description: "image at \(where_) does not fit in \(memory.guestSize >> 20) MiB of guest memory")
        }
        guard address >= 0x10_0000 || end <= 0xA_0000 else {
            throw LoadError(description: "image at \(where_) overlaps the 640 KiB–1 MiB hole")
        }
        guard end <= UInt64(infoAddress) || address >= stringsEnd else {
            throw LoadError(description: "image at \(where_) overlaps the multiboot information at 0x9000–0xFFFF")
        }
        memory.allPagesReplaced()  // written directly: no block decoded from the old bytes may stay
        let base = memory.ram + Int(address)
        image.withUnsafeBytes { raw in base.copyMemory(from: raw.baseAddress!, byteCount: image.count) }
        if Int(size) > image.count {
            (base + image.count).initializeMemory(as: UInt8.self, repeating: 0, count: Int(size) - image.count)
        }
    }

    static func boot(cpu: CPU, entry: UInt32, kernelEnd: UInt32, commandLine: String,
                     modules: [Module]) throws(LoadError) {
        let memory = cpu.memory
        guard modules.count <= maxModules else {
            throw LoadError(description: "at most \(maxModules) modules")
        }
        // Modules: page-aligned, one after another, above the kernel.
        var next = (max(kernelEnd, 0x10_0000) + 0xFFF) & ~0xFFF
        var placed: [(start: UInt32, end: UInt32)] = []
        for m in modules {
            let end = UInt64(next) + UInt64(m.bytes.count)
            guard end <= UInt64(memory.guestSize) else {
                throw LoadError(description: "module '\(m.string)' (\(m.bytes.count) bytes) does not fit in \(memory.guestSize >> 20) MiB of guest memory")
            }
            memory.rangeReplaced(next, count: m.bytes.count)
            memory.ram.advanced(by: Int(next)).copyMemory(from: m.bytes, byteCount: m.bytes.count)
            placed.append((next, UInt32(end)))
            next = (UInt32(end) + 0xFFF) & ~0xFFF
        }
        var strings = StringArea(memory: memory)
        let cmdline = try strings.add(commandLine)
        let loaderName = try strings.add("x86v")
        let moduleStrings = try modules.map { (m) throws(LoadError) -> UInt32 in try strings.add(m.string) }
        writeInfo(memory: memory, commandLine: cmdline, loaderName: loaderName,
                  modules: zip(placed, moduleStrings).map { ($0.start, $0.end, $1) })
        cpu.resetFlat(cpl: 0)
        var st = cpu.state
        st.eip = entry
        st[.eax] = 0x2BAD_B002
        st[.ebx] = infoAddress
        cpu.state = st
    }

    struct StringArea {
        let memory: PhysicalMemory
        var next = stringsAddress
        mutating func add(_ s: String) throws(LoadError) -> UInt32 {
            let bytes = Array(s.utf8) + [0]
            guard next + UInt32(bytes.count) <= stringsEnd else {
                throw LoadError(description: "command line and module strings exceed \(stringsEnd - stringsAddress) bytes")
            }
            let at = next
            memory.load(bytes: bytes, at: at)
            next += UInt32(bytes.count)
            return at
        }
    }

    /// flags: mem_lower/mem_upper (bit 0), cmdline (2), mods (3), memory map (6), boot loader name (9).
    static func writeInfo(memory: PhysicalMemory, commandLine: UInt32, loaderName: UInt32,
                          modules: [(UInt32, UInt32, UInt32)]) {
        let info = infoAddress
        memory.load(bytes: [UInt8](repeating: 0, count: 0x80), at: info)
        let upperKiB = (memory.guestSize - 0x10_0000) / 1024
        memory.write32(info + 0, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9))
        memory.write32(info + 4, 639)
        memory.write32(info + 8, upperKiB)
        memory.write32(info + 16, commandLine)
        memory.write32(info + 20, UInt32(modules.count))
        memory.write32(info + 24, modulesAddress)
        for (i, m) in modules.enumerated() {
            let p = modulesAddress + UInt32(i * 16)
            memory.write32(p, m.0)
            memory.write32(p + 4, m.1)
            memory.write32(p + 8, m.2)
            memory.write32(p + 12, 0)
        }
        // Memory map: two entries (size, base lo/hi, length lo/hi, type 1 = RAM).
        let entries: [(UInt32, UInt32)] = [(0, 0x9_FC00), (0x10_0000, memory.guestSize - 0x10_0000)]
        for (i, e) in entries.enumerated() {
            let p = mmapAddress + UInt32(i * 24)
            memory.write32(p, 20)
            memory.write32(p + 4, e.0); memory.write32(p + 8, 0)
            memory.write32(p + 12, e.1); memory.write32(p + 16, 0)
            memory.write32(p + 20, 1)
        }
        memory.write32(info + 44, UInt32(entries.count * 24))
        memory.write32(info + 48, mmapAddress)
        memory.write32(info + 64, loaderName)
    }
}
