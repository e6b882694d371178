// The IDENTIFY DEVICE data (ATA-6 §8, IDENTIFY DEVICE), as QEMU 7.2's "QEMU HARDDISK" reports it
// where a guest is likely to look, without what x86v does not do (DMA, SMART, a write cache).

extension IDEDevice {
    /// The model (words 27–46), serial (10–19) and firmware revision (23–26).
    static let model = "x86v HARDDISK"
    static let firmware = "1.0"
    var serial: String { "X86V0000\(index + 1)" }

    /// The 256 words of IDENTIFY DEVICE data.
    func identifyWords() -> [UInt16] {
        var w = [UInt16](repeating: 0, count: 256)
        let total = image?.sectorCount ?? 0
        let cylinders = UInt16(defaultCylinders)
        func put(_ text: String, at word: Int, words: Int) {
            // ATA strings: two characters a word, the first in the high byte, space padded.
            var bytes = Array(text.utf8.prefix(words * 2))
            bytes += [UInt8](repeating: 0x20, count: words * 2 - bytes.count)
            for i in 0..<words { w[word + i] = UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1]) }
        }
        w[0] = 0x0040                      // fixed (non-removable) device
        w[1] = cylinders                   // default cylinders
        w[3] = 16                          // default heads
        w[4] = 512 * 63                    // retired: bytes per track
        w[5] = 512                         // retired: bytes per sector
        w[6] = 63                          // default sectors per track
        put(serial, at: 10, words: 10)
        w[20] = 3                          // retired: buffer type
        w[21] = 512                        // retired: buffer size in sectors
        w[22] = 4                          // obsolete: ECC bytes
        put(Self.firmware, at: 23, words: 4)
        put(Self.model, at: 27, words: 20)
        w[47] = 0x8000 | UInt16(Self.maxMultiple)  // READ/WRITE MULTIPLE: up to 16 sectors a block
        w[48] = 1                          // (QEMU: "dword I/O")
        w[49] = 1 << 11 | 1 << 9           // IORDY supported, LBA supported (no DMA: bit 8 clear)
        w[51] = 0x200                      // PIO timing mode 2 (obsolete)
        w[53] = 1 << 0 | 1 << 1            // words 54–58 and 64–70 valid
        let current = currentCylinders
        w[54] = UInt16(current)
        w[55] = UInt16(heads)
        w[56] = UInt16(sectorsPerTrack)
        let chsCapacity = UInt32(min(UInt64(current * heads * sectorsPerTrack), UInt64(UInt32.max)))
        w[57] = UInt16(truncatingIfNeeded: chsCapacity)
        w[58] = UInt16(truncatingIfNeeded: chsCapacity >> 16)
        if multiple > 0 { w[59] = 0x100 | UInt16(multiple) }  // current multiple setting valid
        let lba28 = UInt32(min(total, 0x0FFF_FFFF))
        w[60] = UInt16(truncatingIfNeeded: lba28)
        w[61] = UInt16(truncatingIfNeeded: lba28 >> 16)
        w[64] = 0x03                       // PIO modes 3 and 4
        w[65] = 120; w[66] = 120; w[67] = 120; w[68] = 120  // cycle times (ns)
        w[80] = 0xF0                       // ATA-4 to ATA-7, as QEMU
        w[81] = 0x16                       // minor version, as QEMU
        w[82] = 1 << 14                    // NOP supported
        w[83] = 1 << 14 | 1 << 13 | 1 << 12 | 1 << 10  // FLUSH CACHE EXT, FLUSH CACHE, 48-bit
        w[84] = 1 << 14
        w[85] = 1 << 14
        w[86] = 1 << 13 | 1 << 12 | 1 << 10
        w[87] = 1 << 14
        w[93] = 1 | 1 << 14 | 0x2000       // hardware reset result, as QEMU
        w[100] = UInt16(truncatingIfNeeded: total)
        w[101] = UInt16(truncatingIfNeeded: total >> 16)
        w[102] = UInt16(truncatingIfNeeded: total >> 32)
        w[103] = UInt16(truncatingIfNeeded: total >> 48)
        return w
    }
}
