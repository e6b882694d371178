/// The setup header of a Linux/x86 bzImage (Documentation/x86/boot.rst, "The real-mode kernel
/// header"): the fields a boot loader reads, at their offsets in the file, and the checks that
/// say whether x86v can boot it. Offsets are from the start of the image (the header starts at
/// 0x1F1, inside the boot sector).
public struct LinuxSetupHeader: Sendable, Equatable {
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The oldest protocol x86v boots: 2.03 is the first with `initrd_addr_max` (below it the
    /// loader must guess) and with a 32-bit entry a loader may call with `cmd_line_ptr` set.
    public static let oldestProtocol: UInt16 = 0x0203

    public static let headerOffset = 0x1F1
    /// LOADED_HIGH: the protected-mode kernel goes at 1 MiB (a bzImage, not a zImage).
    public static let loadedHigh: UInt8 = 0x01
    public static let keepSegments: UInt8 = 0x40
    public static let canUseHeap: UInt8 = 0x80

    public var setupSectors: Int
    public var protocolVersion: UInt16
    public var loadFlags: UInt8
    public var code32Start: UInt32
    public var initrdAddressMax: UInt32
    public var kernelAlignment: UInt32
    public var relocatable: Bool
    public var commandLineSize: UInt32
    public var preferredAddress: UInt64
    /// How much memory, from where the kernel runs, it needs while it decompresses itself.
    public var initSize: UInt32
    /// The kernel_version string (at 0x200 + the offset at 0x20E), or "" if absent.
    public var kernelVersion: String
    /// Bytes of the header the kernel defines, from 0x1F1 (the jump at 0x200 says how long).
    public var headerLength: Int

    /// The real-mode part (boot sector and setup) is `(setup_sects + 1) × 512` bytes; the
    /// protected-mode kernel is the rest of the file.
    public var realModeSize: Int { (setupSectors + 1) * 512 }

    /// "2.15" for 0x020F.
    public var protocolText: String { Self.text(protocolVersion) }
    static func text(_ v: UInt16) -> String {
        let minor = v & 0xFF
        return "\(v >> 8).\(minor < 10 ? "0" : "")\(minor)"
    }

    /// True if `bytes` carries the bzImage signatures (0xAA55 at 0x1FE and "HdrS" at 0x202).
    public static func looksLikeBzImage(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 0x206 && bytes[0x1FE] == 0x55 && bytes[0x1FF] == 0xAA
            && Array(bytes[0x202..<0x206]) == Array("HdrS".utf8)
    }

    public init(_ bytes: [UInt8]) throws(FormatError) {
        guard Self.looksLikeBzImage(bytes) else {
            throw FormatError(description: "not a Linux bzImage (no 0xAA55 boot signature and \"HdrS\" setup header)")
        }
        func u8(_ o: Int) -> UInt8 { o < bytes.count ? bytes[o] : 0 }
        func u16(_ o: Int) -> UInt16 { UInt16(u8(o)) | UInt16(u8(o + 1)) << 8 }
        func u32(_ o: Int) -> UInt32 { UInt32(u16(o)) | UInt32(u16(o + 2)) << 16 }
        protocolVersion = u16(0x206)
        let version = Self.text(protocolVersion)
        guard protocolVersion >= Self.oldestProtocol else {
            throw FormatError(description: "boot protocol \(version) is too old: x86v boots protocol 2.03 and later (Linux 2.4.18 on)")
        }
        let sects = Int(u8(0x1F1))
        setupSectors = sects == 0 ? 4 : sects
        loadFlags = u8(0x211)
        guard loadFlags & Self.loadedHigh != 0 else {
            throw FormatError(description: "a zImage (loaded at 0x10000): x86v boots bzImages, whose kernel loads at 1 MiB")
        }
        code32Start = u32(0x214)
        initrdAddressMax = u32(0x22C)
        kernelAlignment = protocolVersion >= 0x0205 ? u32(0x230) : 0
        relocatable = protocolVersion >= 0x0205 && u8(0x234) != 0
        commandLineSize = protocolVersion >= 0x0206 ? u32(0x238) : 255
        preferredAddress = protocolVersion >= 0x020A ? UInt64(u32(0x258)) | UInt64(u32(0x25C)) << 32 : 0x10_0000
        initSize = protocolVersion >= 0x020A ? u32(0x260) : 0
        headerLength = 0x202 + Int(u8(0x201)) - Self.headerOffset
        let versionOffset = Int(u16(0x20E))
        var text = ""
        if versionOffset != 0, 0x200 + versionOffset < bytes.count {
            var i = 0x200 + versionOffset
            while i < bytes.count, bytes[i] != 0, text.utf8.count < 200 {
                text.unicodeScalars.append(UnicodeScalar(bytes[i]))
                i += 1
            }
        }
        kernelVersion = text
        guard realModeSize < bytes.count else {
            throw FormatError(description: "the setup (\(realModeSize) bytes) fills the whole file: no protected-mode kernel")
        }
        guard headerLength > 0x206 - Self.headerOffset, Self.headerOffset + headerLength <= min(bytes.count, 0x1000) else {
            throw FormatError(description: "the setup header's length (jump at 0x200) is out of range")
        }
    }
}
