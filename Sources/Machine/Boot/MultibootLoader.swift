import ELF
import X86Core

/// Loads a 32-bit kernel the way QEMU's `-kernel` does for a Multiboot v1 image after SeaBIOS
/// ran (Multiboot spec 0.6.96 §3.2–3.3, QEMU 7.2 hw/i386/multiboot.c): the firmware state
/// first (`Firmware.install`: IVT, BDA, EBDA, MP and ACPI tables), every PT_LOAD segment at its
/// physical address with the bss zeroed, then the boot information, and the CPU in flat 32-bit
/// protected mode at the entry point with EAX = 0x2BADB002 and EBX = the information's
/// address. A flat binary (`--flat`) gets the same.
///
/// Where the boot information goes (docs/formats.md, "Multiboot information"), as QEMU:
///
///     0x9000   the memory map (the E820 map, `E820Map`)
///     0x9500   the information structure (88 bytes)
///     after the kernel (page-aligned end of its highest segment): the module list, the
///              command line, the module strings and the loader name, in one block
///     after that block: each module, page-aligned
///
/// If a kernel segment covers 0x9000–0x955F, the map and the structure move into the block
/// after the kernel too (QEMU would overwrite the kernel there). Everything must lie in RAM as
/// the E820 map reports it: a segment in the EBDA, the 640 KiB–1 MiB hole or the ACPI area at
/// the top of RAM, segments overlapping each other, or modules that do not fit are refused.
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

    /// Where the boot information went (returned by `load`, for `--dump-firmware` and tests).
    public struct Placement: Sendable {
        /// The information structure (EBX), its memory map and module list.
        public var info: UInt32
        public var memoryMap: UInt32
        public var memoryMapLength: UInt32
        public var moduleList: UInt32
        /// Each module's [start, end).
        public var modules: [Range<UInt32>]
        /// The kernel's loaded extent (lowest segment start ..< highest segment end).
        public var kernel: Range<UInt32>
        /// The firmware image installed with it.
        public var firmware: FirmwareImage
    }

    /// Where the information structure goes unless a kernel segment is there (QEMU's
    /// `ADDR_MBI`); the memory map is at `memoryMapAddress` (`ADDR_E820_MAP`).
    public static let infoAddress: UInt32 = FirmwareLayout.multibootInfo
    public static let memoryMapAddress: UInt32 = FirmwareLayout.multibootMap
    static let maxModules = 32
    static let pageSize: UInt64 = 0x1000

    @discardableResult
    public static func load(_ elf: ELF32File, into cpu: CPU, commandLine: String = "",
                            modules: [Module] = [], hardDiskCount: UInt8 = 0) throws(LoadError) -> Placement {
        var segments: [(image: [UInt8], size: UInt32, at: UInt32)] = []
        for seg in elf.segments where seg.isLoadable && seg.memorySize > 0 {
            let fileEnd = Int(seg.offset) + Int(seg.fileSize)
            guard seg.fileSize <= seg.memorySize, fileEnd <= elf.bytes.count else {
                throw LoadError(description: "segment data lies outside the file")
            }
            segments.append((Array(elf.bytes[Int(seg.offset)..<fileEnd]), seg.memorySize, seg.physicalAddress))
        }
        guard !segments.isEmpty else { throw LoadError(description: "no loadable segments") }
        return try boot(segments, cpu: cpu, entry: elf.entry, commandLine: commandLine, modules: modules,
                        hardDiskCount: hardDiskCount)
    }

    /// `--flat FILE --load ADDR --entry ADDR`: raw bytes at `address`.
    @discardableResult
    public static func loadFlat(_ bytes: [UInt8], at address: UInt32, entry: UInt32, into cpu: CPU,
                                commandLine: String = "", modules: [Module] = [],
                                hardDiskCount: UInt8 = 0) throws(LoadError) -> Placement {
        guard !bytes.isEmpty else { throw LoadError(description: "the flat image is empty") }
        return try boot([(bytes, UInt32(bytes.count), address)], cpu: cpu, entry: entry, commandLine: commandLine,
                        modules: modules, hardDiskCount: hardDiskCount)
    }

    static func boot(_ segments: [(image: [UInt8], size: UInt32, at: UInt32)], cpu: CPU, entry: UInt32,
                     commandLine: String, modules: [Module], hardDiskCount: UInt8) throws(LoadError) -> Placement {
        let memory = cpu.memory
        let image = FirmwareImage(.init(cpu: cpu, hardDiskCount: hardDiskCount))
        var space = FreeSpace(image: image, memorySize: memory.guestSize)
        for s in segments { try space.claimSegment(at: s.at, size: s.size) }
        guard modules.count <= maxModules else {
            throw LoadError(description: "at most \(maxModules) modules")
        }

        Firmware.install(image, into: memory)
        memory.allPagesReplaced()  // written directly: no block decoded from the old bytes may stay
        for s in segments { place(s.image, zeroTo: s.size, at: s.at, memory: memory) }
        let kernel = segments.map { $0.at }.min()! ..< segments.map { $0.at &+ $0.size }.max()!

        // The information block after the kernel: module list, strings, and (if the low spot
        // is taken) the map and the structure.
        let strings = [commandLine] + modules.map(\.string) + ["x86v"]
        let stringBytes = strings.map { Array($0.utf8) + [0] }
        let mapBytes = image.e820.multibootBytes
        let lowFree = space.isFree(UInt64(memoryMapAddress) ..< UInt64(infoAddress + FirmwareLayout.multibootInfoSize))
        if lowFree { space.take(UInt64(memoryMapAddress) ..< UInt64(infoAddress + FirmwareLayout.multibootInfoSize)) }
        var blockSize = UInt64(modules.count * 16 + stringBytes.reduce(0) { $0 + $1.count })
        if !lowFree { blockSize = (blockSize + 3) & ~3; blockSize += UInt64(mapBytes.count) + UInt64(FirmwareLayout.multibootInfoSize) }
        let block = try space.claim(size: max(blockSize, 1), after: UInt64(kernel.upperBound), what: "the multiboot information")

        // Modules: page-aligned, one after another, after the block.
        var mods: [Range<UInt32>] = []
        var after = UInt64(block) + max(blockSize, 1)
        for m in modules {
            let at = try space.claim(size: UInt64(max(m.bytes.count, 1)), after: after,
                                     what: "module '\(m.string)' (\(m.bytes.count) bytes)")
            memory.load(bytes: m.bytes, at: at)
            mods.append(at ..< at + UInt32(m.bytes.count))
            after = UInt64(at) + UInt64(m.bytes.count)
        }

        // Fill the block: module list, then strings.
        let moduleList = block
        var cursor = block + UInt32(modules.count * 16)
        var stringAddresses: [UInt32] = []
        for s in stringBytes {
            memory.load(bytes: s, at: cursor)
            stringAddresses.append(cursor)
            cursor += UInt32(s.count)
        }
        for (i, m) in mods.enumerated() {
            let p = moduleList + UInt32(i * 16)
            memory.write32(p, m.lowerBound)
            memory.write32(p + 4, m.upperBound)
            memory.write32(p + 8, stringAddresses[1 + i])
            memory.write32(p + 12, 0)
        }
        let mapAt = lowFree ? memoryMapAddress : (cursor + 3) & ~3
        let info = lowFree ? infoAddress : mapAt + UInt32(mapBytes.count)
        memory.load(bytes: mapBytes, at: mapAt)
        writeInfo(memory: memory, at: info, e820: image.e820, commandLine: stringAddresses[0],
                  loaderName: stringAddresses.last!, moduleCount: mods.count, moduleList: moduleList,
                  map: mapAt, mapLength: UInt32(mapBytes.count))

        cpu.resetFlat(cpl: 0)
        var st = cpu.state
        st.eip = entry
        st[.eax] = 0x2BAD_B002
        st[.ebx] = info
        cpu.state = st
        return Placement(info: info, memoryMap: mapAt, memoryMapLength: UInt32(mapBytes.count),
                         moduleList: moduleList, modules: mods, kernel: kernel, firmware: image)
    }

    /// Copies `image` to guest-physical `address` and zeroes up to `size` bytes (already checked
    /// by `FreeSpace.claimSegment`).
    static func place(_ image: [UInt8], zeroTo size: UInt32, at address: UInt32, memory: PhysicalMemory) {
        let base = memory.ram + Int(address)
        image.withUnsafeBytes { raw in base.copyMemory(from: raw.baseAddress!, byteCount: image.count) }
        if Int(size) > image.count {
            (base + image.count).initializeMemory(as: UInt8.self, repeating: 0, count: Int(size) - image.count)
        }
    }

    /// flags: mem_lower/mem_upper (bit 0), boot device (1), cmdline (2), mods (3), memory map
    /// (6), boot loader name (9): QEMU's 0x24F.
    static func writeInfo(memory: PhysicalMemory, at info: UInt32, e820: E820Map, commandLine: UInt32,
                          loaderName: UInt32, moduleCount: Int, moduleList: UInt32, map: UInt32, mapLength: UInt32) {
        memory.load(bytes: [UInt8](repeating: 0, count: Int(FirmwareLayout.multibootInfoSize)), at: info)
        memory.write32(info + 0, (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9))
        memory.write32(info + 4, e820.lowerKiB)
        memory.write32(info + 8, e820.upperKiB)
        memory.write32(info + 12, 0x8000_FFFF)   // boot device: the first BIOS disk, no partition (QEMU's)
        memory.write32(info + 16, commandLine)
        memory.write32(info + 20, UInt32(moduleCount))
        memory.write32(info + 24, moduleList)
        memory.write32(info + 44, mapLength)
        memory.write32(info + 48, map)
        memory.write32(info + 64, loaderName)
    }
}
