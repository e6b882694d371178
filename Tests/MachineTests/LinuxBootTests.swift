import Machine
import Testing
import X86Core

// Booting a Linux bzImage through the 32-bit boot protocol (Documentation/x86/boot.rst): the
// setup header's parsing and checks, where LinuxLoader puts boot_params, the GDT, the command
// line, the kernel and the initrd, the CPU state at code32_start, and the panic watch on COM1.
// The images are built here, field by field at the offsets boot.rst gives, so every test says
// which header it boots. testguests/guests/linuxboot checks the same promises from inside a
// guest (Tests/cli/check-linux-boot.sh).

/// A synthetic bzImage: boot sector + setup sectors with a setup header, then the
/// protected-mode "kernel" (a byte pattern).
private struct BzImage {
    var setupSectors: UInt8 = 1
    var protocolVersion: UInt16 = 0x020F
    var loadFlags: UInt8 = 0x01
    var code32Start: UInt32 = 0x10_0000
    var initrdAddressMax: UInt32 = 0x7FFF_FFFF
    var kernelAlignment: UInt32 = 0x20_0000
    var relocatable = false
    var commandLineSize: UInt32 = 2047
    var preferredAddress: UInt64 = 0x10_0000
    var initSize: UInt32 = 0x4_0000
    var kernelVersion = "6.1.0-test (tester@x86v) #1"
    /// Where the jump at 0x200 lands: the end of the header (0x26C for protocol 2.15).
    var headerEnd = 0x26C
    var kernel: [UInt8] = (0..<0x3000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }

    var realModeSize: Int { (Int(setupSectors == 0 ? 4 : setupSectors) + 1) * 512 }

    var bytes: [UInt8] {
        var b = [UInt8](repeating: 0, count: realModeSize)
        func put8(_ o: Int, _ v: UInt8) { b[o] = v }
        func put16(_ o: Int, _ v: UInt16) { b[o] = UInt8(v & 0xFF); b[o + 1] = UInt8(v >> 8) }
        func put32(_ o: Int, _ v: UInt32) { put16(o, UInt16(v & 0xFFFF)); put16(o + 2, UInt16(v >> 16)) }
        func put64(_ o: Int, _ v: UInt64) { put32(o, UInt32(v & 0xFFFF_FFFF)); put32(o + 4, UInt32(v >> 32)) }
        put8(0x1F1, setupSectors)
        put32(0x1F4, UInt32((kernel.count + 15) / 16))     // syssize
        put16(0x1FE, 0xAA55)
        put8(0x200, 0xEB)                                   // jmp short to the end of the header
        put8(0x201, UInt8(headerEnd - 0x202))
        for (i, c) in "HdrS".utf8.enumerated() { b[0x202 + i] = c }
        put16(0x206, protocolVersion)
        put8(0x211, loadFlags)
        put32(0x214, code32Start)
        put32(0x22C, initrdAddressMax)
        put32(0x230, kernelAlignment)
        put8(0x234, relocatable ? 1 : 0)
        put8(0x235, 21)                                     // min_alignment
        put32(0x238, commandLineSize)
        put64(0x258, preferredAddress)
        put32(0x260, initSize)
        let versionAt = 0x300
        put16(0x20E, UInt16(versionAt - 0x200))
        for (i, c) in kernelVersion.utf8.enumerated() { b[versionAt + i] = c }
        return b + kernel
    }
}

private func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
private func u32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * $1) } }
private func u64(_ b: [UInt8], _ o: Int) -> UInt64 { UInt64(u32(b, o)) | UInt64(u32(b, o + 4)) << 32 }

private let MiB = 1 << 20
private func initrd(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) } }

// MARK: The setup header

@Test func theSetupHeaderIsReadAtBootRstsOffsets() throws {
    var img = BzImage()
    img.setupSectors = 2
    img.initrdAddressMax = 0x37FF_FFFF
    img.kernelAlignment = 0x100_0000
    img.relocatable = true
    img.commandLineSize = 4095
    img.preferredAddress = 0x0000_0001_0000_0000 | 0x100_0000   // both halves read
    img.initSize = 0x123_4000
    img.code32Start = 0x10_0200
    let h = try LinuxSetupHeader(img.bytes)
    #expect(h.setupSectors == 2 && h.realModeSize == 3 * 512)
    #expect(h.protocolVersion == 0x020F && h.protocolText == "2.15")
    #expect(h.loadFlags == 0x01 && h.code32Start == 0x10_0200)
    #expect(h.initrdAddressMax == 0x37FF_FFFF && h.kernelAlignment == 0x100_0000 && h.relocatable)
    #expect(h.commandLineSize == 4095 && h.preferredAddress == 0x1_0100_0000 && h.initSize == 0x123_4000)
    #expect(h.kernelVersion == "6.1.0-test (tester@x86v) #1")
    #expect(h.headerLength == 0x26C - 0x1F1)
    #expect(LinuxSetupHeader.looksLikeBzImage(img.bytes))
}

@Test func setupSectsZeroMeansFourAndOldProtocolsGetTheDocumentedDefaults() throws {
    var img = BzImage()
    img.setupSectors = 0
    img.protocolVersion = 0x0204          // before kernel_alignment (2.05), cmdline_size (2.06), pref_address (2.10)
    img.headerEnd = 0x230
    let h = try LinuxSetupHeader(img.bytes)
    #expect(h.setupSectors == 4 && h.realModeSize == 5 * 512)
    #expect(h.protocolText == "2.04")
    #expect(h.kernelAlignment == 0 && !h.relocatable)
    #expect(h.commandLineSize == 255)                    // boot.rst: 255 before 2.06
    #expect(h.preferredAddress == 0x10_0000 && h.initSize == 0)
}

@Test func theSignaturesAreWhatMakesABzImage() {
    let good = BzImage().bytes
    #expect(LinuxSetupHeader.looksLikeBzImage(good))
    var noBootFlag = good
    noBootFlag[0x1FE] = 0
    var noHdrS = good
    noHdrS[0x205] = UInt8(ascii: "s")
    let elf: [UInt8] = [0x7F, 0x45, 0x4C, 0x46] + [UInt8](repeating: 0, count: 0x300)
    for bytes in [noBootFlag, noHdrS, elf, Array(good.prefix(0x205))] {
        #expect(!LinuxSetupHeader.looksLikeBzImage(bytes))
        #expect(throws: LinuxSetupHeader.FormatError.self) { try LinuxSetupHeader(bytes) }
    }
}

/// The message a refused header gets (nil: accepted).
private func refusal(_ bytes: [UInt8]) -> String? {
    do { _ = try LinuxSetupHeader(bytes); return nil } catch { return error.description }
}

@Test func eachRefusalNamesItsCause() throws {
    var old = BzImage()
    old.protocolVersion = 0x0202
    let tooOld = try #require(refusal(old.bytes))
    #expect(tooOld.contains("2.02") && tooOld.contains("too old") && tooOld.contains("2.03"))
    old.protocolVersion = 0x0203
    old.headerEnd = 0x230
    #expect(refusal(old.bytes) == nil)                   // 2.03 is the oldest accepted

    var zImage = BzImage()
    zImage.loadFlags = 0x80
    #expect(try #require(refusal(zImage.bytes)).contains("zImage"))

    let setupOnly = Array(BzImage().bytes.prefix(1024))
    #expect(try #require(refusal(setupOnly)).contains("no protected-mode kernel"))

    var longHeader = BzImage()
    longHeader.headerEnd = 0x202 + 0x7F                  // the jump's byte as large as it goes
    longHeader.setupSectors = 0
    #expect(refusal(longHeader.bytes) == nil)
    var shortHeader = BzImage()
    shortHeader.headerEnd = 0x204                        // ends inside "HdrS"
    #expect(try #require(refusal(shortHeader.bytes)).contains("header's length"))

    #expect(try #require(refusal([UInt8](repeating: 0x90, count: 4096))).contains("not a Linux bzImage"))
}

// MARK: The loader's refusals

private func loadError(_ image: BzImage, memory: Int = 64 * MiB, commandLine: String = "", initrd rd: [UInt8]? = nil) -> String? {
    let m = PCMachine(memorySize: memory)
    do {
        try LinuxLoader.load(image.bytes, into: m.cpu, commandLine: commandLine, initrd: rd)
        return nil
    } catch {
        // A refused image leaves the machine as it was: nothing loaded, the CPU not moved.
        #expect(m.memory.read32(LinuxLoader.bootParamsAddress + 0x202) == 0)
        #expect(m.memory.read32(0x10_0000) == 0 && m.cpu.state.eip != image.code32Start)
        return error.description
    }
}

@Test func theLoaderRefusesACommandLineLongerThanCmdlineSize() throws {
    var img = BzImage()
    img.commandLineSize = 16
    #expect(loadError(img, commandLine: String(repeating: "a", count: 16)) == nil)
    let e = try #require(loadError(img, commandLine: String(repeating: "a", count: 17)))
    #expect(e.contains("17 bytes") && e.contains("16") && e.contains("cmdline_size"))
    img.protocolVersion = 0x0205                          // before cmdline_size: 255
    img.headerEnd = 0x238
    #expect(loadError(img, commandLine: String(repeating: "b", count: 255)) == nil)
    #expect(try #require(loadError(img, commandLine: String(repeating: "b", count: 256))).contains("255"))
}

@Test func theLoaderRefusesMemoryTooSmallForPrefAddressPlusInitSize() throws {
    // 4 MiB of RAM: the kernel may use up to 4 MiB − 128 KiB (the ACPI tables' block).
    var img = BzImage()
    img.initSize = 0x2E_0000
    #expect(loadError(img, memory: 4 * MiB) == nil)
    img.initSize = 0x2E_0001
    let e = try #require(loadError(img, memory: 4 * MiB))
    #expect(e.contains("--memory") && e.contains("4 MiB"))
    // A kernel running elsewhere needs its RAM there (pref_address), whatever init_size says.
    img.initSize = 0x1000
    img.preferredAddress = 0x3E_0000
    #expect(try #require(loadError(img, memory: 4 * MiB)).contains("--memory"))
    // The file itself must fit at 1 MiB too.
    var big = BzImage()
    big.initSize = 0x1000
    big.kernel = [UInt8](repeating: 0xCC, count: 0x30_0000)
    #expect(try #require(loadError(big, memory: 4 * MiB)).contains("--memory"))
}

@Test func aCommandLineNeverReachesTheEBDAWhateverCmdlineSizeAllows() throws {
    var img = BzImage()
    img.commandLineSize = 0x20_0000
    let fits = String(repeating: "a", count: LinuxLoader.maxCommandLine - 1)
    #expect(loadError(img, commandLine: fits) == nil)
    let e = try #require(loadError(img, commandLine: fits + "a"))
    #expect(e.contains("EBDA"))
    #expect(0x2_0000 + LinuxLoader.maxCommandLine == 0x9_FC00)
}

@Test func theLoaderRefusesAnInitrdThatDoesNotFitAboveTheKernel() throws {
    // 16 MiB: RAM for the kernel ends at 0xFE0000; the kernel needs up to 1 MiB + init_size.
    var img = BzImage()
    img.initSize = 0x10_0000
    // QEMU's rule puts it at (0xFDFFFF − size) rounded down to a page: at 0x200000 at most.
    let room = 0xFE_0000 - 0x20_0000 - 1
    #expect(loadError(img, memory: 16 * MiB, initrd: initrd(room)) == nil)
    let e = try #require(loadError(img, memory: 16 * MiB, initrd: initrd(room + 1)))
    #expect(e.contains("initrd") && e.contains("\(room + 1) bytes") && e.contains("--memory"))
    #expect(loadError(img, memory: 16 * MiB, initrd: initrd(17 * MiB)) != nil)
    // initrd_addr_max below the kernel's end: nowhere to put it.
    img.initrdAddressMax = 0x1F_FFFF
    #expect(loadError(img, memory: 16 * MiB, initrd: initrd(1)) != nil)
}

// MARK: Placement

private let loaderWritten: Set<Int> = [0x210, 0x211, 0x218, 0x219, 0x21A, 0x21B, 0x21C, 0x21D, 0x21E, 0x21F,
                                       0x224, 0x225, 0x228, 0x229, 0x22A, 0x22B]

@Test(arguments: [16 * MiB, 64 * MiB, 200 * MiB])
func bootParamsHoldTheHeaderTheLoadersFieldsTheE820MapAndTheScreen(_ memory: Int) throws {
    let img = BzImage()
    let image = img.bytes
    let rd = initrd(100_000)
    let m = PCMachine(memorySize: memory)
    let p = try LinuxLoader.load(image, into: m.cpu, commandLine: "console=ttyS0 quiet", initrd: rd)
    #expect(p.bootParams == 0x1_0000)
    let bp = m.memory.bytes(at: p.bootParams, count: 4096)

    // The header, from 0x1F1 to where the jump at 0x200 lands, is the image's, except the
    // fields a loader writes.
    for o in 0x1F1..<0x26C where !loaderWritten.contains(o) {
        #expect(bp[o] == image[o], "boot_params byte 0x\(String(o, radix: 16))")
    }
    #expect(bp[0x210] == 0xFF)                                        // type_of_loader
    #expect(bp[0x211] & 0x01 != 0 && bp[0x211] & 0x40 == 0)          // LOADED_HIGH kept, KEEP_SEGMENTS off
    #expect(bp[0x1EF] == 0)                                           // sentinel
    #expect(u32(bp, 0x228) == 0x2_0000)                               // cmd_line_ptr
    let r = try #require(p.initrd)
    #expect(u32(bp, 0x218) == r.lowerBound && u32(bp, 0x21C) == 100_000 && r.count == 100_000)

    // The E820 map: FirmwareImage's for this RAM size, entry by entry.
    let e820 = FirmwareImage(.init(memorySize: UInt32(memory))).e820
    #expect(Int(bp[0x1E8]) == e820.entries.count)
    for (i, e) in e820.entries.enumerated() {
        let o = 0x2D0 + 20 * i
        #expect(u64(bp, o) == e.base && u64(bp, o + 8) == e.length && u32(bp, o + 16) == e.kind.rawValue, "entry \(i)")
    }
    // alt_mem_k: the RAM contiguous from 1 MiB, in KiB (read from the map, not the loader).
    let high = try #require(e820.entries.first { $0.base == 0x10_0000 && $0.kind == .ram })
    #expect(u32(bp, 0x1E0) == UInt32(high.length / 1024))
    #expect(u16(bp, 0x02) == UInt16(min(high.length / 1024, 0xFFFF)))   // ext_mem_k
    // screen_info: 80×25 colour text, VGA.
    #expect(bp[0x06] == 3 && bp[0x07] == 80 && bp[0x0E] == 25 && bp[0x0F] == 1)
    // Every other byte of the page is zero (apm_bios_info, edd, setup_data... and the sentinel).
    var filled = Set([0x02, 0x03, 0x06, 0x07, 0x0A, 0x0B, 0x0E, 0x0F, 0x10, 0x11, 0x1E8])
    filled.formUnion(0x1E0..<0x1E4)
    filled.formUnion(0x1F1..<0x26C)
    filled.formUnion(0x2D0 ..< 0x2D0 + 20 * e820.entries.count)
    for o in 0..<4096 where !filled.contains(o) { #expect(bp[o] == 0, "boot_params byte 0x\(String(o, radix: 16))") }
}

@Test func theGDTTheCommandLineAndTheKernelAreWhereTheProtocolSays() throws {
    let img = BzImage()
    let image = img.bytes
    let m = PCMachine(memorySize: 64 * MiB)
    let p = try LinuxLoader.load(image, into: m.cpu, commandLine: "root=/dev/ram0 init=/bin/sh")
    let mem = m.memory
    // GDT: null, null, __BOOT_CS (execute/read), __BOOT_DS (read/write), 4 GiB flat, DPL 0, 32-bit.
    #expect(mem.bytes(at: 0x1_1000, count: 32) == [0, 0, 0, 0, 0, 0, 0, 0,
                                                   0, 0, 0, 0, 0, 0, 0, 0,
                                                   0xFF, 0xFF, 0, 0, 0, 0x9B, 0xCF, 0,
                                                   0xFF, 0xFF, 0, 0, 0, 0x93, 0xCF, 0])
    #expect(m.cpu.state.gdtr == TableRegister(base: 0x1_1000, limit: 31))
    // The command line, NUL-terminated.
    #expect(p.commandLine == 0x2_0000)
    #expect(mem.bytes(at: 0x2_0000, count: 28) == Array("root=/dev/ram0 init=/bin/sh".utf8) + [0])
    // The protected-mode kernel: the file after its setup sectors, at 1 MiB.
    let kernelCopied = mem.bytes(at: 0x10_0000, count: img.kernel.count) == img.kernel
    #expect(kernelCopied, "the kernel's bytes at 1 MiB")
    #expect(p.kernel == 0x10_0000 ..< 0x10_0000 + UInt32(img.kernel.count))
    #expect(mem.read8(0x10_0000 + UInt32(img.kernel.count)) == 0)
    // No initrd: the fields stay 0.
    #expect(p.initrd == nil && mem.read32(0x1_0218) == 0 && mem.read32(0x1_021C) == 0)
    // The firmware is there as for a multiboot boot (the BDA's COM1).
    #expect(mem.read32(0x400) & 0xFFFF == 0x3F8)
}

@Test func theCPUEntersCode32StartInFlatProtectedModeWithoutPagingOrInterrupts() throws {
    var img = BzImage()
    img.code32Start = 0x10_0040
    let m = PCMachine(memorySize: 64 * MiB)
    m.cpu.state[.ebx] = 0x1234                            // the loader clears what the protocol wants 0
    try LinuxLoader.load(img.bytes, into: m.cpu)
    let st = m.cpu.state
    #expect(st[.cs].selector == 0x10 && st[.cs].base == 0 && st[.cs].limit == 0xFFFF_FFFF)
    #expect(st[.cs].type == 0xB && st[.cs].present && st[.cs].dpl == 0 && st[.cs].big)
    for s in [SegmentRegister.ds, .es, .ss] {
        #expect(st[s].selector == 0x18 && st[s].base == 0 && st[s].limit == 0xFFFF_FFFF, "\(s)")
        #expect(st[s].type == 0x3 && st[s].present && st[s].dpl == 0 && st[s].big, "\(s)")
    }
    #expect(st.cr0 & CR0.pe != 0 && st.cr0 & CR0.pg == 0 && !st.pagingEnabled)
    #expect(m.cpu.eflags & 0x200 == 0)                    // IF = 0
    #expect(st.cpl == 0)
    #expect(st[.esi] == 0x1_0000 && st.eip == 0x10_0040)
    #expect(st[.ebx] == 0 && st[.ebp] == 0 && st[.edi] == 0)
}

/// Where QEMU 7.2 puts the initrd (hw/i386/x86.c): its last allowed byte is the lower of
/// initrd_addr_max and the last byte of the RAM the kernel may use (E820's RAM at 1 MiB), and
/// the start is (that byte − size) rounded down to a page. It ends at or below the limit, as
/// the protocol asks; a page lower than the highest fit when limit + 1 − size is page-aligned.
private func expectedInitrd(memory: Int, max: UInt32, size: Int) -> UInt32 {
    let e820 = FirmwareImage(.init(memorySize: UInt32(memory))).e820
    let ramEnd = e820.entries.first { $0.base == 0x10_0000 && $0.kind == .ram }!.end
    let last = Swift.min(UInt64(max), ramEnd - 1)
    return UInt32((last - UInt64(size)) / 4096 * 4096)
}

@Test(arguments: [
    // (RAM, initrd_addr_max, size)
    (64 * MiB, UInt32(0x7FFF_FFFF), 100_000),             // RAM bound: 0x3FC7000 (QEMU 7.2 too)
    (64 * MiB, UInt32(0x7FFF_FFFF), 4096),                // a whole page: a page below the RAM's end
    (64 * MiB, UInt32(0x7FFF_FFFF), 1),
    (32 * MiB, UInt32(0x37FF_FFFF), 3 * MiB + 5),
    (64 * MiB, UInt32(0x01FF_FFFF), 100_000),             // initrd_addr_max below the RAM
    (64 * MiB, UInt32(0x01FF_FFFF), 4096),                // page-aligned: a page below initrd_addr_max (QEMU)
    (64 * MiB, UInt32(0x01FF_FFFF), 4097),
    (64 * MiB, UInt32(0x0200_0FFE), 4096),                // a limit that is not a page's last byte
    (200 * MiB, UInt32(0x0FFF_FFFF), 5 * MiB),
])
func theInitrdGoesAsHighAsInitrdAddrMaxAndTheRAMAllow(_ memory: Int, _ max: UInt32, _ size: Int) throws {
    var img = BzImage()
    img.initrdAddressMax = max
    let rd = initrd(size)
    let m = PCMachine(memorySize: memory)
    let p = try LinuxLoader.load(img.bytes, into: m.cpu, initrd: rd)
    let at = expectedInitrd(memory: memory, max: max, size: size)
    #expect(at % 4096 == 0 && UInt64(at) + UInt64(size) - 1 <= UInt64(max))
    #expect(p.initrd == at ..< at + UInt32(size))
    #expect(m.memory.read32(0x1_0218) == at && m.memory.read32(0x1_021C) == UInt32(size))
    let copied = m.memory.bytes(at: at, count: size) == rd   // (not in #expect: it would print every byte)
    #expect(copied, "the initrd's bytes at 0x\(String(at, radix: 16))")
    // Nothing of it overlaps the kernel's RAM or the firmware's top block.
    #expect(UInt64(at) >= 0x10_0000 + UInt64(img.initSize))
    #expect(UInt64(at) + UInt64(size) <= UInt64(memory - 0x2_0000))
}

// MARK: The panic watch

private func feed(_ w: LinuxPanicWatch, _ s: String) { for b in s.utf8 { w.feed(b) } }

@Test func thePanicLineIsFoundAcrossFeedsWithoutItsTimestampOrCR() {
    let w = LinuxPanicWatch()
    feed(w, "[    0.000000] Linux version 6.1.0\r\n[    2.345678] Kernel panic - not sy")
    #expect(w.panicLine == nil)
    feed(w, "ncing: VFS: Unable to mount root fs on unknown-block(0,0)")
    #expect(w.panicLine == nil)                           // not before the line is complete
    feed(w, "\r\n")
    #expect(w.panicLine == "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)")
    // Later panics (a recursive one) do not replace the first.
    feed(w, "Kernel panic - not syncing: Attempted to kill init!\n")
    #expect(w.panicLine == "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)")
}

@Test func linesWithoutTheBannerAreNotAPanic() {
    let w = LinuxPanicWatch()
    feed(w, "Kernel panic - not syncin\nkernel panic - not syncing: lower case\nRebooting in 1 seconds..\n")
    #expect(w.panicLine == nil)
}

@Test func anEndLineWithoutABeginLineIsNotAPanic() {
    // The end line contains the begin text: alone (say, a log being cat'ed) it must not count.
    let m = PCMachine(memorySize: 4 * MiB)
    m.watchForLinuxPanic()
    writeSerial(m, "---[ end Kernel panic - not syncing: test ]---\r\n")
    #expect(m.panicWatch?.panicLine == nil)
    #expect(m.stopRequest == nil)
}

private func writeSerial(_ m: PCMachine, _ s: String) {
    for b in s.utf8 { m.bus.write(port: 0x3F8, size: 1, value: UInt32(b)) }
}

@Test func theEndLineStopsTheRunWithThePanicLineAndSerialOutputStillFlows() {
    let m = PCMachine(memorySize: 4 * MiB)
    var seen: [UInt8] = []
    m.watchForLinuxPanic()
    m.serialOutput = { seen.append($0) }                  // set after arming, as `x86v run` does
    let text = "[    1.000000] Kernel panic - not syncing: test\r\n"
        + "CPU: 0 PID: 1 Comm: swapper Not tainted 6.1.0 #1\r\nCall Trace:\r\n dump_stack+0x10/0x20\r\n"
    writeSerial(m, text)
    #expect(m.panicWatch?.panicLine == "Kernel panic - not syncing: test")
    #expect(m.stopRequest == nil)                         // the begin line alone does not stop
    writeSerial(m, "---[ end Kernel panic - not syncing: test ]---")
    #expect(m.stopRequest == nil)                         // not before the end line is complete
    writeSerial(m, "\r\n")
    #expect(m.stopRequest == .guestPanic("Kernel panic - not syncing: test"))
    #expect(seen == Array((text + "---[ end Kernel panic - not syncing: test ]---\r\n").utf8))
    #expect(StopReason.guestPanic("x").exitStatus == 26)
}

@Test func armingKeepsASerialOutputSetBefore() {
    let m = PCMachine(memorySize: 4 * MiB)
    var seen: [UInt8] = []
    m.serialOutput = { seen.append($0) }
    m.watchForLinuxPanic()
    writeSerial(m, "Kernel panic - not syncing: early\n---[ end Kernel panic - not syncing: early ]---\n")
    #expect(m.stopRequest == .guestPanic("Kernel panic - not syncing: early"))
    #expect(String(decoding: seen, as: UTF8.self).hasPrefix("Kernel panic - not syncing: early\n---[ end"))
}

/// The three ways a PC guest resets: the 8042's pulse (0xFE to 0x64), the reset control
/// register (0x06 to 0xCF9), port 0x92's fast reset (bit 0 rising).
private let resets: [(String, UInt16, UInt32)] = [("8042", 0x64, 0xFE), ("0xCF9", 0xCF9, 0x06), ("0x92", 0x92, 0x01)]

@Test(arguments: resets.indices)
func aResetAfterThePanicBeganIsTheGuestPanic(_ i: Int) {
    let (name, port, value) = resets[i]
    let m = PCMachine(memorySize: 4 * MiB)
    m.watchForLinuxPanic()
    writeSerial(m, "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n")
    writeSerial(m, "Rebooting in 1 seconds..\r\n")          // panic=1
    #expect(m.stopRequest == nil)
    m.bus.write(port: port, size: 1, value: value)
    #expect(m.stopRequest == .guestPanic("Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"), "\(name)")
}

@Test(arguments: resets.indices)
func aResetWithoutAPanicIsAReset(_ i: Int) {
    let (name, port, value) = resets[i]
    // Armed, but no panic printed.
    let armed = PCMachine(memorySize: 4 * MiB)
    armed.watchForLinuxPanic()
    writeSerial(armed, "reboot: Restarting system\r\n")
    armed.bus.write(port: port, size: 1, value: value)
    #expect(armed.stopRequest == .resetRequested, "\(name), armed")
    // Not armed (a multiboot guest): the same words are only text, the reset only a reset.
    let multiboot = PCMachine(memorySize: 4 * MiB)
    writeSerial(multiboot, "Kernel panic - not syncing: words\n---[ end Kernel panic - not syncing: words ]---\n")
    #expect(multiboot.stopRequest == nil && multiboot.panicWatch == nil, "\(name), not armed")
    multiboot.bus.write(port: port, size: 1, value: value)
    #expect(multiboot.stopRequest == .resetRequested, "\(name), not armed")
}
