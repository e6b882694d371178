import ELF
import Machine
import Testing
import X86Core

// The firmware image (BDA, EBDA, IVT, MP and ACPI tables, E820 map) and the multiboot
// loader's placement of its information. The values SeaBIOS leaves under QEMU are checked by
// testguests/guests/firmware.c against QEMU's own output; these tests check the structure:
// checksums, non-overlap, the map for several RAM sizes, and where the loader puts things.

private let sizes: [UInt32] = [2 << 20, 64 << 20, 512 << 20, 3 << 30]

private func image(_ m: UInt32) -> FirmwareImage { FirmwareImage(.init(memorySize: m)) }

private func sum(_ b: some Collection<UInt8>) -> UInt8 { b.reduce(0, &+) }
private func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
private func u32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * $1) } }

@Test(arguments: sizes + [1 << 20])
func everyTableChecksumsToZero(_ m: UInt32) throws {
    let img = image(m)
    let rsdp = try #require(img.blob("rsdp")).bytes
    #expect(rsdp.count == 20 && sum(rsdp) == 0 && Array(rsdp.prefix(8)) == Array("RSD PTR ".utf8))
    let mp = try #require(img.blob("mpfloat")).bytes
    #expect(mp.count == 16 && sum(mp) == 0 && mp[8] == 1 && mp[9] == 4)
    let conf = try #require(img.blob("mpconfig")).bytes
    #expect(sum(conf) == 0 && Int(u16(conf, 4)) == conf.count)
    for (name, sig) in [("rsdt", "RSDT"), ("facp", "FACP"), ("apic", "APIC"), ("dsdt", "DSDT")] {
        let t = try #require(img.blob(name)).bytes
        #expect(Array(t.prefix(4)) == Array(sig.utf8))
        #expect(Int(u32(t, 4)) == t.count, "\(name) length")
        #expect(sum(t) == 0, "\(name) checksum")
    }
    let facs = try #require(img.blob("facs"))
    #expect(facs.bytes.count == 64 && facs.address % 64 == 0)
}

@Test(arguments: sizes)
func pointersLeadToTheTablesAtTheirAddresses(_ m: UInt32) throws {
    let img = image(m)
    let rsdp = try #require(img.blob("rsdp")), rsdt = try #require(img.blob("rsdt"))
    #expect(u32(rsdp.bytes, 16) == rsdt.address)
    let entries = (0..<(rsdt.bytes.count - 36) / 4).map { u32(rsdt.bytes, 36 + 4 * $0) }
    #expect(entries == [try #require(img.blob("facp")).address, try #require(img.blob("apic")).address])
    let facp = try #require(img.blob("facp")).bytes
    #expect(u32(facp, 36) == img.blob("facs")!.address && u32(facp, 40) == img.blob("dsdt")!.address)
    // FADT fields the PM device and the reset register depend on.
    #expect(u16(facp, 46) == 9 && u32(facp, 56) == 0x600 && u32(facp, 64) == 0x604 && u32(facp, 76) == 0x608)
    #expect(facp[88] == 4 && facp[89] == 2 && facp[91] == 4 && u32(facp, 112) & (1 << 10) != 0)
    #expect(facp[116] == 1 && u32(facp, 120) == 0xCF9 && facp[128] == 6)
    #expect(u32(try #require(img.blob("mpfloat")).bytes, 4) == img.blob("mpconfig")!.address)
    // RSDP and MP floating pointer are 16-byte aligned in the F segment (where xv6 and Linux scan).
    for name in ["rsdp", "mpfloat"] {
        let b = try #require(img.blob(name))
        #expect(b.address % 16 == 0 && b.address >= 0xF_0000 && b.address < 0x10_0000)
    }
}

@Test(arguments: sizes + [1 << 20])
func blobsDoNotOverlapAndSitInReservedMemory(_ m: UInt32) {
    let img = image(m)
    let blobs = img.blobs.sorted { $0.address < $1.address }
    for (a, b) in zip(blobs, blobs.dropFirst()) {
        #expect(a.range.upperBound <= b.range.lowerBound, "\(a.name) overlaps \(b.name)")
    }
    for b in img.blobs where b.name != "ivt" && b.name != "bda" {
        #expect(img.reserved.contains { $0.lowerBound <= b.range.lowerBound && b.range.upperBound <= $0.upperBound },
                "\(b.name) at 0x\(String(b.address, radix: 16)) is not in reserved memory")
    }
}

@Test func mpTableHasOneCPUTheISABusTheIOAPICAndQEMUsInterruptAssignments() throws {
    let conf = try #require(FirmwareImage(.init(memorySize: 64 << 20, cpuSignature: 0x6D8, cpuFeatures: 0x1234)).blob("mpconfig")).bytes
    #expect(Array(conf.prefix(4)) == Array("PCMP".utf8) && conf[6] == 4)
    #expect(u32(conf, 36) == 0xFEE0_0000 && Int(u16(conf, 34)) == 16)
    var p = 44
    #expect(conf[p] == 0 && conf[p + 1] == 0 && conf[p + 2] == 0x14 && conf[p + 3] == 3)
    #expect(u32(conf, p + 4) == 0x6D8 && u32(conf, p + 8) == 0x1234)
    p += 20
    #expect(conf[p] == 1 && conf[p + 1] == 0 && Array(conf[p + 2..<p + 8]) == Array("ISA   ".utf8))
    p += 8
    #expect(conf[p] == 2 && conf[p + 1] == 0 && conf[p + 2] == 0x11 && conf[p + 3] == 1 && u32(conf, p + 4) == 0xFEC0_0000)
    p += 8
    var routes: [(UInt8, UInt8)] = []
    while conf[p] == 3 {
        #expect(conf[p + 1] == 0 && u16(conf, p + 2) == 0 && conf[p + 4] == 0 && conf[p + 6] == 0)
        routes.append((conf[p + 5], conf[p + 7]))
        p += 8
    }
    #expect(routes.map(\.0) == [0, 1, 3, 4, 6, 7, 8, 12, 13, 14, 15])
    #expect(routes.allSatisfy { $0.0 == 0 ? $0.1 == 2 : $0.1 == $0.0 })
    #expect(Array(conf[p..<p + 16]) == [4, 3, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0xFF, 1])
    #expect(p + 16 == conf.count)
}

@Test(arguments: sizes)
func memoryMapScalesWithRAMAsQEMUs(_ m: UInt32) {
    let map = image(m).e820
    let e = map.entries
    #expect(e.map(\.base) == [0, 0x9_FC00, 0xF_0000, 0x10_0000, UInt64(m) - 0x2_0000, 0xFFFC_0000])
    #expect(e.map(\.length) == [0x9_FC00, 0x400, 0x1_0000, UInt64(m) - 0x12_0000, 0x2_0000, 0x4_0000])
    #expect(e.map(\.kind) == [.ram, .reserved, .reserved, .ram, .reserved, .reserved])
    #expect(map.lowerKiB == 639 && map.upperKiB == (m - 0x12_0000) / 1024)
    #expect(map.multibootBytes.count == 24 * e.count)
    if m == 64 << 20 { #expect(map.upperKiB == 64384) }   // QEMU 7.2, -m 64
}

@Test func smallMachinesKeepTheACPITablesInTheFSegment() {
    let img = image(1 << 20)
    #expect(!img.layout.hasTopRegion)
    #expect(img.e820.entries.map(\.kind) == [.ram, .reserved, .reserved, .reserved])
    #expect(img.blob("rsdt")!.address >= 0xF_0000 && img.blob("rsdt")!.range.upperBound <= 0x10_0000)
}

@Test func installWritesBDAEBDAIVTAndStubsAndTheIDsMatchTheDevices() {
    let m = PCMachine(memorySize: 64 << 20)
    let img = Firmware.install(into: m.cpu)
    let mem = m.memory
    #expect(mem.read32(0x400) & 0xFFFF == 0x3F8 && mem.read32(0x40E) & 0xFFFF == 0x9FC0)
    #expect(mem.read32(0x413) & 0xFFFF == 639 && mem.read8(0x9_FC00) == 1)
    #expect(mem.read32(0) == 0xF000_FF53 && mem.read8(0xF_FF53) == 0xCF)
    #expect(mem.read32(8 * 4) == 0xF000_FEA5 && mem.read32(0x70 * 4) == 0xF000_FEB0 && mem.read32(0x60 * 4) == 0)
    #expect(mem.bytes(at: 0xF_FFF5, count: 8) == Array("06/23/99".utf8))
    // The MP table's I/O APIC id is the I/O APIC's ID register, its CPU the CPUID's.
    m.ioapic.write(offset: 0, size: 4, value: 0)
    #expect(UInt8(m.ioapic.read(offset: 0x10, size: 4) >> 24) == img.blob("mpconfig")!.bytes[44 + 20 + 8 + 1])
    #expect(u32(img.blob("mpconfig")!.bytes, 48) == m.cpu.cpuidLeaf(1, subleaf: 0).0)
    for b in img.blobs { #expect(mem.bytes(at: b.address, count: b.bytes.count) == b.bytes, "\(b.name)") }
}

// MARK: The loader's placement

private func info(_ m: PCMachine) -> UInt32 { m.cpu.state[.ebx] }

@Test func informationGoesWhereQEMUPutsItWhenFree() throws {
    let m = PCMachine(memorySize: 64 << 20)
    let p = try MultibootLoader.loadFlat([0x90, 0xF4], at: 0x10_0000, entry: 0x10_0000, into: m.cpu, commandLine: "hi")
    #expect(info(m) == 0x9500 && p.info == 0x9500 && p.memoryMap == 0x9000)
    let mem = m.memory
    #expect(mem.read32(0x9500) == 0x24F && mem.read32(0x9504) == 639 && mem.read32(0x9508) == 64384)
    #expect(mem.read32(0x9500 + 48) == 0x9000 && mem.read32(0x9500 + 44) == 6 * 24)
    // The strings follow the kernel, page-aligned, as QEMU's block after the kernel.
    let cmdline = mem.read32(0x9500 + 16)
    #expect(cmdline == 0x10_1000 && mem.bytes(at: cmdline, count: 3) == [0x68, 0x69, 0])
}

@Test func aKernelOverTheOldInformationBlockIsLoadedAndTheInformationMoves() throws {
    let m = PCMachine(memorySize: 64 << 20)
    let code = [UInt8](repeating: 0x90, count: 0x2000)
    let p = try MultibootLoader.loadFlat(code, at: 0x8000, entry: 0x8000, into: m.cpu, commandLine: "x",
                                         modules: [.init(bytes: [1, 2, 3], string: "mod a")])
    #expect(m.memory.bytes(at: 0x8000, count: 0x2000) == code)   // nothing overwrote the kernel
    #expect(p.info >= 0xA000 && info(m) == p.info && p.memoryMap >= 0xA000)
    let mem = m.memory
    #expect(mem.read32(p.info + 4) == 639 && mem.read32(p.info + 48) == p.memoryMap)
    #expect(mem.bytes(at: p.memoryMap, count: 144) == p.firmware.e820.multibootBytes)
    #expect(p.modules.count == 1 && p.modules[0].lowerBound % 4096 == 0)
    #expect(mem.read32(p.moduleList) == p.modules[0].lowerBound && mem.read32(p.moduleList + 4) == p.modules[0].upperBound)
    #expect(mem.bytes(at: p.modules[0].lowerBound, count: 3) == [1, 2, 3])
    let string = mem.read32(p.moduleList + 8)
    #expect(mem.bytes(at: string, count: 6) == Array("mod a".utf8) + [0])
}

@Test func modulesArePageAlignedAfterTheInformationAndDoNotOverlap() throws {
    let m = PCMachine(memorySize: 16 << 20)
    let mods = (0..<3).map { MultibootLoader.Module(bytes: [UInt8](repeating: UInt8($0), count: 5000), string: "m\($0)") }
    let p = try MultibootLoader.loadFlat([0xF4], at: 0x10_0000, entry: 0x10_0000, into: m.cpu, modules: mods)
    let ranges = [p.kernel] + p.modules
    for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound <= b.lowerBound) }
    #expect(p.modules.allSatisfy { $0.lowerBound % 4096 == 0 && $0.count == 5000 })
    #expect(p.modules[0].lowerBound > p.moduleList)
}

@Test(arguments: [
    (UInt32(0x9_FC00), "EBDA"),
    (0xA_0000, "hole"),
    (0xF_F000, "hole"),
    (0x3FE_0000, "ACPI"),
    (0x3FF_F000, "ACPI"),
    (0x400_0000, "does not fit"),
])
func segmentsInFirmwareAreasAreRefused(_ at: UInt32, _ reason: String) {
    let m = PCMachine(memorySize: 64 << 20)
    do {
        try MultibootLoader.loadFlat([0x90, 0x90], at: at, entry: at, into: m.cpu)
        Issue.record("loaded at 0x\(String(at, radix: 16))")
    } catch {
        #expect(error.description.contains(reason), "\(error.description)")
    }
}

@Test func modulesThatDoNotFitAreRefused() {
    let m = PCMachine(memorySize: 2 << 20)
    do {
        try MultibootLoader.loadFlat([0xF4], at: 0x10_0000, entry: 0x10_0000, into: m.cpu,
                                     modules: [.init(bytes: [UInt8](repeating: 0, count: 1 << 20), string: "big")])
        Issue.record("a 1 MiB module fitted in 2 MiB of RAM with 128 KiB reserved")
    } catch {
        #expect(error.description.contains("module 'big'") && error.description.contains("does not fit"))
    }
}

/// An ELF whose PT_LOAD segments are `segments` (physical address, bytes).
private func elf(_ segments: [(UInt32, [UInt8])]) throws -> ELF32File {
    var b = [UInt8](repeating: 0, count: 52 + 32 * segments.count)
    func put16(_ o: Int, _ v: UInt16) { b[o] = UInt8(v & 0xFF); b[o + 1] = UInt8(v >> 8) }
    func put32(_ o: Int, _ v: UInt32) { for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    b[0] = 0x7F; b[1] = 0x45; b[2] = 0x4C; b[3] = 0x46; b[4] = 1; b[5] = 1; b[6] = 1
    put16(16, 2); put16(18, 3); put32(20, 1); put32(24, segments[0].0); put32(28, 52)
    put16(40, 52); put16(42, 32); put16(44, UInt16(segments.count)); put16(46, 40)
    var data: [UInt8] = []
    for (i, s) in segments.enumerated() {
        let h = 52 + 32 * i
        put32(h, 1); put32(h + 4, UInt32(b.count + data.count)); put32(h + 8, s.0); put32(h + 12, s.0)
        put32(h + 16, UInt32(s.1.count)); put32(h + 20, UInt32(s.1.count)); put32(h + 24, 7)
        data += s.1
    }
    return try ELF32File(bytes: b + data)
}

@Test func overlappingSegmentsAreRefusedAndDisjointOnesLoaded() throws {
    let m = PCMachine(memorySize: 16 << 20)
    let overlapping = try elf([(0x10_0000, [1, 2, 3, 4]), (0x10_0002, [5, 6])])
    do {
        try MultibootLoader.load(overlapping, into: m.cpu)
        Issue.record("overlapping segments loaded")
    } catch {
        #expect(error.description.contains("overlaps the segment"), "\(error.description)")
    }
    let p = try MultibootLoader.load(try elf([(0x10_0000, [1, 2]), (0x20_0000, [3, 4])]), into: m.cpu)
    #expect(p.kernel == 0x10_0000 ..< 0x20_0002 && info(m) == 0x9500)
    #expect(m.memory.bytes(at: 0x20_0000, count: 2) == [3, 4])
    // The block after the kernel starts past its highest segment.
    #expect(m.memory.read32(0x9500 + 16) == 0x20_1000)
}
