import X86Core

/// What a multiboot or flat boot finds in memory, as if SeaBIOS had run (docs/devices.md,
/// "Firmware tables"): the IVT, BDA and EBDA, the F segment's stubs, the MP tables, the ACPI
/// tables and the E820 map, for one machine's RAM size and CPU. Built as bytes (`blobs`) so
/// the same image is written to RAM, dumped by `--dump-firmware` and checked by the tests.
public struct FirmwareImage: Sendable {
    /// One named piece of the image: the bytes at a guest-physical address.
    public struct Blob: Sendable {
        /// A short name, the file name stem in `--dump-firmware` (`bda`, `mpconfig`, `facp`…).
        public var name: String
        public var address: UInt32
        public var bytes: [UInt8]
        public var range: Range<UInt64> { UInt64(address) ..< UInt64(address) + UInt64(bytes.count) }
    }

    public let layout: FirmwareLayout
    public let e820: E820Map
    /// Every piece, in address order within its area.
    public let blobs: [Blob]

    /// What varies between machines. The rest is fixed (FirmwareLayout).
    public struct Config: Sendable, Equatable {
        public var memorySize: UInt32
        /// CPUID.1 EAX and EDX, for the MP processor entry.
        public var cpuSignature: UInt32
        public var cpuFeatures: UInt32
        /// The local APIC's id and version (LocalAPIC: 0 and 0x14).
        public var apicID: UInt8 = 0
        public var apicVersion: UInt8 = UInt8(LocalAPIC.versionRegister & 0xFF)
        /// Fixed disks the BIOS would have found (BDA 0x475).
        public var hardDiskCount: UInt8 = 0

        public init(memorySize: UInt32, cpuSignature: UInt32 = CPU.signature,
                    cpuFeatures: UInt32 = CPU.featureEDX, hardDiskCount: UInt8 = 0) {
            self.memorySize = memorySize
            self.cpuSignature = cpuSignature
            self.cpuFeatures = cpuFeatures
            self.hardDiskCount = hardDiskCount
        }

        /// The configuration of `cpu`'s machine: its RAM size and CPUID.
        public init(cpu: CPU, hardDiskCount: UInt8 = 0) {
            let (eax, _, _, edx) = cpu.cpuidLeaf(1, subleaf: 0)
            self.init(memorySize: cpu.memory.guestSize, cpuSignature: eax, cpuFeatures: edx,
                      hardDiskCount: hardDiskCount)
        }
    }

    public init(_ config: Config) {
        layout = FirmwareLayout(memorySize: config.memorySize)
        e820 = E820Map(layout: layout)
        var b: [Blob] = []
        b.append(Blob(name: "ivt", address: FirmwareLayout.ivt, bytes: BIOSDataArea.ivt()))
        b.append(Blob(name: "bda", address: FirmwareLayout.bda, bytes: BIOSDataArea.bda(hardDiskCount: config.hardDiskCount)))
        b.append(Blob(name: "ebda", address: FirmwareLayout.ebda, bytes: BIOSDataArea.ebda()))

        // ACPI tables, one after another (16-byte aligned; FACS 64-byte aligned, ACPI §5.2.10).
        var next = layout.acpiBase
        func place(_ name: String, _ bytes: [UInt8]) -> UInt32 {
            let at = next
            b.append(Blob(name: name, address: at, bytes: bytes))
            next = (at + UInt32(bytes.count) + 15) & ~15
            return at
        }
        let facs = place("facs", ACPITables.facs())
        let dsdt = place("dsdt", ACPITables.dsdt())
        let facp = place("facp", ACPITables.fadt(facs: facs, dsdt: dsdt))
        let apic = place("apic", ACPITables.madt(apicID: config.apicID))
        let rsdt = place("rsdt", ACPITables.rsdt(entries: [facp, apic]))

        b.append(Blob(name: "rsdp", address: FirmwareLayout.rsdp, bytes: ACPITables.rsdp(rsdt: rsdt)))
        b.append(Blob(name: "mpfloat", address: FirmwareLayout.mpFloating,
                      bytes: MPTables.floatingPointer(configAddress: FirmwareLayout.mpConfig)))
        b.append(Blob(name: "mpconfig", address: FirmwareLayout.mpConfig,
                      bytes: MPTables.configurationTable(apicID: config.apicID, apicVersion: config.apicVersion,
                                                         cpuSignature: config.cpuSignature,
                                                         cpuFeatures: config.cpuFeatures)))
        for (i, code) in BIOSDataArea.fSegmentCode().enumerated() {
            b.append(Blob(name: "fseg-code\(i)", address: code.address, bytes: code.bytes))
        }
        blobs = b
    }

    /// The blob called `name`.
    public func blob(_ name: String) -> Blob? { blobs.first { $0.name == name } }

    /// The ranges the firmware owns that no kernel segment, module or loader structure may
    /// overlap: everything the E820 map does not call RAM. (The IVT and BDA are RAM, as in
    /// SeaBIOS's map: a kernel may overwrite them.)
    public var reserved: [Range<UInt64>] {
        e820.entries.filter { $0.kind != .ram }.map { $0.base ..< $0.end }
    }
}

/// The firmware installer: the one entry point that writes the image into guest RAM.
public enum Firmware {
    /// Writes the firmware state for `cpu`'s machine into its RAM and returns the image (for
    /// `--dump-firmware` and the loader's memory map). Called for multiboot and flat boots by
    /// `MultibootLoader`, never for `--bios` runs, where the ROM is the firmware.
    @discardableResult
    public static func install(into cpu: CPU, hardDiskCount: UInt8 = 0) -> FirmwareImage {
        install(FirmwareImage(.init(cpu: cpu, hardDiskCount: hardDiskCount)), into: cpu.memory)
    }

    @discardableResult
    public static func install(_ image: FirmwareImage, into memory: PhysicalMemory) -> FirmwareImage {
        for blob in image.blobs { memory.load(bytes: blob.bytes, at: blob.address) }
        return image
    }
}
