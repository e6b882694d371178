import X86Core

/// Boots a Linux bzImage through the 32-bit boot protocol (Documentation/x86/boot.rst, "32-bit
/// boot protocol"), placing things where QEMU 7.2's `-kernel` does for a protocol ≥ 2.02
/// kernel (hw/i386/x86.c): the firmware state first (`Firmware.install`, as for multiboot),
/// then
///
///     0x10000   boot_params (the "zero page"): zeroed, the kernel's setup header copied in,
///               the loader's fields, the E820 map and screen_info filled (what the real-mode
///               setup would have asked the BIOS for)
///     0x11000   a GDT with __BOOT_CS (0x10) and __BOOT_DS (0x18), flat 4 GiB
///     0x20000   the command line
///     0x100000  the protected-mode kernel (the file after its setup sectors)
///     the initrd: page-aligned, as high as `initrd_addr_max` and the RAM below the ACPI
///               tables allow (QEMU's rule)
///
/// QEMU runs the real-mode setup through its linuxboot option ROM; x86v enters the 32-bit
/// entry point (`code32_start`) directly, as the protocol allows: CS = 0x10, DS = ES = SS =
/// 0x18, paging off, interrupts off, ESI = boot_params, EBX = EBP = EDI = 0.
public enum LinuxLoader {
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    public static let bootParamsAddress: UInt32 = 0x1_0000
    public static let gdtAddress: UInt32 = 0x1_1000
    public static let commandLineAddress: UInt32 = 0x2_0000
    public static let kernelAddress: UInt32 = 0x10_0000
    public static let bootCS: UInt16 = 0x10
    public static let bootDS: UInt16 = 0x18
    /// Room for the command line and its NUL: from 0x20000 up to the EBDA (a header may allow
    /// far more than the 2 KiB kernels ask for, and nothing may spill into the firmware's area).
    public static let maxCommandLine = Int(FirmwareLayout.ebda - commandLineAddress)
    /// `type_of_loader`: 0xFF, "undefined" (boot.rst: a loader without an assigned ID).
    public static let loaderType: UInt8 = 0xFF

    /// Where everything went (for `--dump-firmware`, tests and the run's banner).
    public struct Placement: Sendable {
        public var header: LinuxSetupHeader
        public var kernel: Range<UInt32>
        public var initrd: Range<UInt32>?
        public var commandLine: UInt32
        public var bootParams: UInt32
        public var firmware: FirmwareImage
    }

    @discardableResult
    public static func load(_ image: [UInt8], into cpu: CPU, commandLine: String = "", initrd: [UInt8]? = nil,
                            hardDiskCount: UInt8 = 0) throws(LoadError) -> Placement {
        let header: LinuxSetupHeader
        do { header = try LinuxSetupHeader(image) } catch { throw LoadError(description: error.description) }
        let memory = cpu.memory
        let firmware = FirmwareImage(.init(cpu: cpu, hardDiskCount: hardDiskCount))
        let ramEnd = UInt64(firmware.layout.highRAMEnd)
        let mib = memory.guestSize >> 20

        // The kernel: loaded at 1 MiB, run (after decompressing itself) from its preferred
        // address, needing init_size bytes there.
        let kernelBytes = image.count - header.realModeSize
        let kernelEnd = UInt64(kernelAddress) + UInt64(kernelBytes)
        let runsAt = max(UInt64(kernelAddress), header.preferredAddress)
        let needs = max(kernelEnd, runsAt + UInt64(header.initSize))
        guard needs <= ramEnd else {
            throw LoadError(description: "the kernel needs RAM up to 0x\(String(needs, radix: 16)) (\((needs + 0xFFFFF) >> 20) MiB) to decompress and run; give more --memory (now \(mib) MiB)")
        }

        let cmd = Array(commandLine.utf8)
        guard cmd.count <= Int(header.commandLineSize) else {
            throw LoadError(description: "the command line is \(cmd.count) bytes; this kernel takes at most \(header.commandLineSize) (cmdline_size)")
        }
        guard cmd.count < maxCommandLine else {
            throw LoadError(description: "the command line is \(cmd.count) bytes; x86v places at most \(maxCommandLine - 1) (from 0x20000 to the EBDA)")
        }
        guard !cmd.contains(0) else { throw LoadError(description: "the command line contains a NUL byte") }

        // The initrd, as QEMU places it: at the highest page below both initrd_addr_max and
        // the RAM under the ACPI tables; it must clear what the kernel needs.
        var initrdRange: Range<UInt32>? = nil
        if let rd = initrd {
            let maxAddress = min(UInt64(header.initrdAddressMax), ramEnd - 1)
            let size = UInt64(rd.count)
            // QEMU's formula, (max - size) rounded down: a page lower than the protocol allows
            // when max + 1 - size is page-aligned, the same address otherwise.
            guard size < maxAddress, (maxAddress - size) & ~0xFFF >= needs else {
                throw LoadError(description: "the initrd (\(rd.count) bytes) does not fit in guest memory above the kernel (it may use 0x\(String(needs, radix: 16))–0x\(String(maxAddress, radix: 16)); give more --memory, now \(mib) MiB)")
            }
            let at = UInt32((maxAddress - size) & ~0xFFF)
            initrdRange = at ..< at + UInt32(size)
        }

        Firmware.install(firmware, into: memory)
        memory.allPagesReplaced()  // written directly: no block decoded from the old bytes may stay
        memory.load(bytes: Array(image[header.realModeSize...]), at: kernelAddress)
        if let rd = initrd, let r = initrdRange { memory.load(bytes: rd, at: r.lowerBound) }
        memory.load(bytes: cmd + [0], at: commandLineAddress)
        memory.load(bytes: bootParams(header: header, image: image, e820: firmware.e820, initrd: initrdRange),
                    at: bootParamsAddress)
        memory.load(bytes: gdt, at: gdtAddress)

        cpu.resetFlat(cpl: 0)
        var st = cpu.state
        let code = SegmentCache(selector: bootCS, base: 0, limit: 0xFFFF_FFFF, attributes: 0xC09B)
        let data = SegmentCache(selector: bootDS, base: 0, limit: 0xFFFF_FFFF, attributes: 0xC093)
        for r in SegmentRegister.allCases { st[r] = r == .cs ? code : data }
        st.gdtr = TableRegister(base: gdtAddress, limit: UInt16(gdt.count - 1))
        st.eip = header.code32Start
        st[.esi] = bootParamsAddress
        cpu.state = st
        return Placement(header: header, kernel: kernelAddress ..< UInt32(kernelEnd), initrd: initrdRange,
                         commandLine: commandLineAddress, bootParams: bootParamsAddress, firmware: firmware)
    }

    /// Null, null, __BOOT_CS (execute/read), __BOOT_DS (read/write): 4 GiB flat, accessed.
    static let gdt: [UInt8] = [
        0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,
        0xFF, 0xFF, 0, 0, 0, 0x9B, 0xCF, 0,
        0xFF, 0xFF, 0, 0, 0, 0x93, 0xCF, 0,
    ]

    /// The zero page (struct boot_params, arch/x86/include/uapi/asm/bootparam.h): the kernel's
    /// header with the loader's fields, the E820 map, the memory size and the text screen.
    static func bootParams(header: LinuxSetupHeader, image: [UInt8], e820: E820Map,
                           initrd: Range<UInt32>?) -> [UInt8] {
        var w = FirmwareBytes()
        w.zeros(4096)
        let h = LinuxSetupHeader.headerOffset
        w.bytes.replaceSubrange(h ..< h + header.headerLength, with: image[h ..< h + header.headerLength])

        // screen_info: an 80×25 colour text screen, cursor at the top left (SeaBIOS's mode 3;
        // the real-mode setup would read these from the BIOS).
        let upperKiB = e820.upperKiB
        w.patch16(at: 0x02, UInt16(min(upperKiB, 0xFFFF)))   // ext_mem_k
        w.bytes[0x06] = 3                                    // orig_video_mode
        w.bytes[0x07] = 80                                   // orig_video_cols
        w.patch16(at: 0x0A, 3)                               // orig_video_ega_bx: colour, 256 KiB
        w.bytes[0x0E] = 25                                   // orig_video_lines
        w.bytes[0x0F] = 1                                    // orig_video_isVGA
        w.patch16(at: 0x10, 16)                              // orig_video_points
        w.patch32(at: 0x1E0, upperKiB)                       // alt_mem_k

        // The loader's fields in the header.
        w.bytes[0x210] = loaderType
        w.bytes[0x211] = (header.loadFlags | LinuxSetupHeader.canUseHeap) & ~LinuxSetupHeader.keepSegments
        w.patch16(at: 0x224, 0xFE00)                         // heap_end_ptr (unused by the 32-bit entry)
        w.patch32(at: 0x228, commandLineAddress)
        if let r = initrd {
            w.patch32(at: 0x218, r.lowerBound)
            w.patch32(at: 0x21C, UInt32(r.count))
        }

        // The E820 map: e820_entries at 0x1E8, the table of 20-byte entries at 0x2D0 (128 fit).
        let table = e820.biosBytes.prefix(128 * 20)
        w.bytes[0x1E8] = UInt8(table.count / 20)
        w.bytes.replaceSubrange(0x2D0 ..< 0x2D0 + table.count, with: table)
        return w.bytes
    }
}
