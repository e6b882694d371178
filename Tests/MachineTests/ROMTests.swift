import Testing
import Machine
import X86Core

// `x86v run --bios`: the ROM mapping (top of 4 GiB, the low alias, read-only), the power-on
// state (SDM Vol. 3A §9.1.1 Table 9-1), size errors, and a real-mode run from the reset vector.

/// A 64 KiB image whose reset vector jumps to F000:0100, where `code` is.
private func image(size: Int = 64 << 10, code: [UInt8]) -> [UInt8] {
    var b = [UInt8](repeating: 0xF4, count: size)
    let top = size - 0x10
    // jmp far F000:0100
    b.replaceSubrange(top..<top + 5, with: [0xEA, 0x00, 0x01, 0x00, 0xF0])
    let at = size - 0x1_0000 + 0x100
    b.replaceSubrange(at..<at + code.count, with: code)
    return b
}

@Test func romSizesOutsideSixtyFourToTwoFiftySixKiBInWholeUnitsAreRefused() {
    for n in [0, 1, 4096, 65535, 65537, 96 << 10, 320 << 10, 1 << 20] {
        #expect(throws: ROMImage.LoadError.self) { try ROMImage(bytes: [UInt8](repeating: 0, count: n)) }
    }
    for n in [64 << 10, 128 << 10, 192 << 10, 256 << 10] {
        #expect((try? ROMImage(bytes: [UInt8](repeating: 0, count: n))) != nil)
    }
    do {
        _ = try ROMImage(bytes: [UInt8](repeating: 0, count: 1000))
    } catch {
        #expect(error.description.contains("1000 bytes") && error.description.contains("64, 128, 192 or 256 KiB"))
    }
}

@Test func romIsMappedAtTheTopOfFourGiBAndItsLastHundredTwentyEightKiBBelowOneMiB() throws {
    for size in [64 << 10, 128 << 10, 256 << 10] {
        var bytes = [UInt8](repeating: 0, count: size)
        for i in 0..<size { bytes[i] = UInt8(truncatingIfNeeded: i ^ (i >> 8) ^ (i >> 16)) }
        let rom = try ROMImage(bytes: bytes)
        let m = PCMachine(memorySize: 2 << 20)
        try m.loadROM(rom)
        #expect(rom.base == UInt32(truncatingIfNeeded: 0x1_0000_0000 - UInt64(size)))
        // The whole image at the top, byte for byte and as dwords.
        #expect(m.memory.read8(rom.base) == bytes[0])
        #expect(m.memory.read(0xFFFF_FFFC, size: 4) == UInt32(bytes[size - 4]) | UInt32(bytes[size - 3]) << 8
                | UInt32(bytes[size - 2]) << 16 | UInt32(bytes[size - 1]) << 24)
        #expect(m.memory.bytes(at: rom.base &+ 0x1234, count: 8) == Array(bytes[0x1234..<0x123C]))
        // The low alias: the last 128 KiB at 0xE0000 (a 64 KiB image at 0xF0000).
        let alias = min(size, 128 << 10)
        #expect(rom.lowAliasBase == UInt32(0x10_0000 - alias))
        #expect(m.memory.bytes(at: rom.lowAliasBase, count: alias) == Array(bytes[(size - alias)...]))
        #expect(m.memory.bytes(at: 0xFFFF0, count: 16) == m.memory.bytes(at: 0xFFFF_FFF0, count: 16))
        if size == 64 << 10 { #expect(m.memory.read8(0xEFFFF) == 0) }
    }
}

@Test func romAtTheTopIgnoresWrites() throws {
    let m = PCMachine(memorySize: 1 << 20)
    try m.loadROM(ROMImage(bytes: [UInt8](repeating: 0x5A, count: 64 << 10)))
    m.memory.write(0xFFFF_0000, size: 4, value: 0)
    m.memory.write8(0xFFFF_FFFF, 0)
    #expect(m.memory.read(0xFFFF_0000, size: 4) == 0x5A5A_5A5A)
    #expect(m.memory.read8(0xFFFF_FFFF) == 0x5A)
    // Below the window nothing decodes.
    #expect(m.memory.read8(0xFFFE_FFFF) == 0xFF)
}

@Test func romNeedsOneMiBOfRAMForItsAlias() throws {
    let m = PCMachine(memorySize: 512 << 10)
    #expect(throws: ROMImage.LoadError.self) { try m.loadROM(ROMImage(bytes: [UInt8](repeating: 0, count: 64 << 10))) }
}

@Test func powerOnStateIsTableNineOne() throws {
    let m = PCMachine(memorySize: 2 << 20)
    m.cpu.resetFlat(cpl: 3)  // anything else first
    try m.loadROM(ROMImage(bytes: image(code: [])))
    let st = m.cpu.state
    #expect(st.eip == 0xFFF0)
    #expect(st.flags == 0x2)
    #expect(st.cr0 == 0x6000_0010 && st.cr2 == 0 && st.cr3 == 0 && st.cr4 == 0)
    #expect(st.cpl == 0)
    let cs = st[.cs]
    #expect(cs.selector == 0xF000 && cs.base == 0xFFFF_0000 && cs.limit == 0xFFFF && cs.attributes == 0x9B && !cs.big)
    for r in [SegmentRegister.ds, .es, .ss, .fs, .gs] {
        let c = st[r]
        #expect(c.selector == 0 && c.base == 0 && c.limit == 0xFFFF && c.attributes == 0x93)
    }
    #expect(st.gdtr == TableRegister(base: 0, limit: 0xFFFF))
    #expect(st.idtr == TableRegister(base: 0, limit: 0xFFFF))
    #expect(st.ldtr.selector == 0 && st.ldtr.limit == 0xFFFF && st.ldtr.attributes == 0x82)
    #expect(st.tr.selector == 0 && st.tr.limit == 0xFFFF && st.tr.attributes == 0x8B)
    #expect(st[.edx] == CPU.signature)
    for r in [Register.eax, .ecx, .ebx, .esp, .ebp, .esi, .edi] { #expect(st[r] == 0) }
    #expect(st.dr[6] == 0xFFFF_0FF0 && st.dr[7] == 0x400 && st.dr[0] == 0)
    #expect(st.fpu.control == 0x0040 && st.fpu.status == 0 && st.fpu.tags == 0x5555 && st.fpu.mxcsr == 0x1F80)
    #expect(st.instructions == 0)
}

/// From the reset vector (fetched from the ROM window) through the far jump into the alias:
/// a byte to the 0xE9 console, a store into the alias (RAM: it sticks), debug exit.
@Test func realModeRunFromTheResetVector() throws {
    for engine in [ExecutionEngine.blocks, .interp] {
        let code: [UInt8] = [
            0xB0, 0x52, 0xE6, 0xE9,              // mov al, 'R'; out 0xE9, al
            0xB0, 0x01, 0xE6, 0x80,              // mov al, 1; out 0x80, al (POST code)
            0x2E, 0xC6, 0x06, 0x00, 0x02, 0x77,  // mov byte [cs:0x200], 0x77
            0xB0, 0x00, 0xE6, 0xF4,              // mov al, 0; out 0xF4, al
            0xF4,
        ]
        let m = PCMachine(memorySize: 2 << 20)
        m.cpu.engine = engine
        try m.loadROM(ROMImage(bytes: image(code: code)))
        var console: [UInt8] = [], post: [UInt8] = []
        m.debugPorts.onConsole = { console.append($0) }
        m.attachPOSTPort { post.append($0) }
        let stop = HardwareRunner(machine: m).run(RunLimits(maxInstructions: 100))
        #expect(stop == .debugExit(1))
        #expect(console == Array("R".utf8) && post == [1])
        #expect(m.memory.read8(0xF0200) == 0x77)        // the alias is RAM
        #expect(m.memory.read8(0xFFFF_0200) == 0xF4)    // the ROM is not
    }
}

/// Paging off, the owner's private memory after guest RAM reads as nothing (all ones) and
/// ignores writes, whatever the segment limit: a real-mode guest under a VMM cannot reach the
/// shadow page tables. The ROM window above stays reachable.
@Test func realModeCannotReachPrivateMemory() throws {
    let m = PCMachine(memorySize: 1 << 20, privateMemory: 64 << 10)
    try m.loadROM(ROMImage(bytes: image(code: [])))
    m.memory.write32(0x10_0000, 0x1234_5678)  // the owner's
    // Big real mode: DS base 0, limit 4 GiB. mov eax, [0x100000]; mov [0x100004], eax;
    // mov ebx, [0xFFFFFFF0]; hlt
    let code: [UInt8] = [0x67, 0x66, 0xA1, 0x00, 0x00, 0x10, 0x00,
                         0x67, 0x66, 0xA3, 0x04, 0x00, 0x10, 0x00,
                         0x67, 0x66, 0x8B, 0x1D, 0xF0, 0xFF, 0xFF, 0xFF, 0xF4]
    m.memory.load(bytes: code, at: 0x8000)
    var st = m.cpu.state
    st[.cs] = SegmentCache(selector: 0x800, base: 0x8000, limit: 0xFFFF, attributes: 0x9B)
    st.eip = 0
    st[.ds] = SegmentCache(selector: 0, base: 0, limit: 0xFFFF_FFFF, attributes: 0x93)
    m.cpu.state = st
    _ = HardwareRunner(machine: m).run(RunLimits(maxInstructions: 10))
    #expect(m.cpu.state[.eax] == 0xFFFF_FFFF)
    #expect(m.memory.read32(0x10_0000) == 0x1234_5678 && m.memory.read32(0x10_0004) == 0)
    #expect(m.cpu.state[.ebx] == m.memory.read(0xFFFF_FFF0, size: 4))
}
