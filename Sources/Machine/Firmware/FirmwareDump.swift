#if canImport(Glibc)
import Glibc
#endif
import X86Core

/// `x86v run --dump-firmware DIR`: after the guest is loaded, each firmware table and the
/// multiboot information as files, read back from guest RAM (so what the guest will see,
/// kernel segments included), then the run goes on. docs/formats.md lists the files:
///
///     ivt.bin bda.bin ebda.bin                 0x0, 0x400, 0x9FC00
///     rsdp.bin mpfloat.bin mpconfig.bin        in the F segment
///     facs.bin dsdt.bin facp.bin apic.bin rsdt.bin   the ACPI tables (apic = MADT)
///     fseg.bin                                 the whole F segment, 0xF0000–0xFFFFF
///     e820.txt e820.json                       the memory map
///     multiboot-info.bin multiboot-mmap.bin    the structure at EBX and its memory map
///     layout.txt                               every file's guest-physical address and length
public enum FirmwareDump {
    public struct DumpError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes the files into `directory` (created if missing; its parent must exist).
    public static func write(_ placement: MultibootLoader.Placement, memory: PhysicalMemory,
                             to directory: String) throws(DumpError) {
        try write(placement.firmware, boot: [
            ("multiboot-info.bin", placement.info, Int(FirmwareLayout.multibootInfoSize)),
            ("multiboot-mmap.bin", placement.memoryMap, Int(placement.memoryMapLength)),
        ], memory: memory, to: directory)
    }

    /// A bzImage boot: the firmware files, `boot_params.bin` (the zero page at ESI) and
    /// `cmdline.bin`.
    public static func write(_ placement: LinuxLoader.Placement, memory: PhysicalMemory,
                             to directory: String) throws(DumpError) {
        let text = memory.bytes(at: placement.commandLine, count: LinuxLoader.maxCommandLine)
        let length = text.firstIndex(of: 0) ?? text.count - 1
        try write(placement.firmware, boot: [
            ("boot_params.bin", placement.bootParams, 4096),
            ("cmdline.bin", placement.commandLine, length + 1),
        ], memory: memory, to: directory)
    }

    static func write(_ image: FirmwareImage, boot: [(name: String, address: UInt32, count: Int)],
                      memory: PhysicalMemory, to directory: String) throws(DumpError) {
        try makeDirectory(directory)
        var files: [(name: String, address: UInt32, bytes: [UInt8])] = []
        for blob in image.blobs where !blob.name.hasPrefix("fseg-") {
            files.append((blob.name + ".bin", blob.address, memory.bytes(at: blob.address, count: blob.bytes.count)))
        }
        files.append(("fseg.bin", FirmwareLayout.fSegment,
                      memory.bytes(at: FirmwareLayout.fSegment, count: FirmwareLayout.fSegmentSize)))
        for f in boot { files.append((f.name, f.address, memory.bytes(at: f.address, count: f.count))) }
        var layout = "# file  address  length (guest-physical, hex)\n"
        for f in files {
            try writeFile(directory + "/" + f.name, f.bytes)
            layout += "\(f.name) 0x\(paddedHex(f.address, 8)) 0x\(paddedHex(f.bytes.count, 0))\n"
        }
        try writeFile(directory + "/layout.txt", Array(layout.utf8))
        try writeFile(directory + "/e820.txt", Array(image.e820.text.utf8))
        try writeFile(directory + "/e820.json", Array(json(image.e820).utf8))
    }

    /// `[{"base": "0x0", "length": "0x9fc00", "type": 1, "kind": "ram"}, …]`
    static func json(_ map: E820Map) -> String {
        let rows = map.entries.map { e in
            let kind = e.kind == .ram ? "ram" : e.kind == .reserved ? "reserved" : e.kind == .acpi ? "acpi" : "nvs"
            return "  {\"base\": \"0x\(String(e.base, radix: 16))\", \"length\": \"0x\(String(e.length, radix: 16))\", \"type\": \(e.kind.rawValue), \"kind\": \"\(kind)\"}"
        }
        return "[\n" + rows.joined(separator: ",\n") + "\n]\n"
    }

    static func makeDirectory(_ path: String) throws(DumpError) {
        guard !path.isEmpty else { throw DumpError(description: "--dump-firmware: empty directory name") }
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw DumpError(description: "--dump-firmware \(path): not a directory")
            }
            return
        }
        if mkdir(path, 0o755) != 0 {
            throw DumpError(description: "--dump-firmware \(path): cannot create the directory: \(String(cString: strerror(errno)))")
        }
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws(DumpError) {
        guard let f = fopen(path, "wb") else {
            throw DumpError(description: "--dump-firmware: cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
        let closed = fclose(f)
        if n != bytes.count || closed != 0 {
            throw DumpError(description: "--dump-firmware: cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
