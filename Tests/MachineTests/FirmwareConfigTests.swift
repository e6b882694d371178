import Testing
import X86Core
import Machine

/// fw_cfg through the I/O bus, as a guest reaches it.
private func select(_ m: PCMachine, _ key: UInt16) { m.bus.write(port: 0x510, size: 2, value: UInt32(key)) }
private func bytes(_ m: PCMachine, _ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(m.bus.read(port: 0x511, size: 1)) } }

@Test func fwCfgSignatureIDAndPastTheEnd() {
    let m = PCMachine(memorySize: 16 << 20)
    select(m, 0x0000)
    #expect(bytes(m, 6) == Array("QEMU".utf8) + [0, 0])
    select(m, 0x0001)
    #expect(bytes(m, 4) == [1, 0, 0, 0])  // traditional interface only, no DMA bit
    select(m, 0x7FFF)
    #expect(bytes(m, 3) == [0, 0, 0])
}

@Test func fwCfgRAMSizeAndCPUs() {
    let m = PCMachine(memorySize: 48 << 20)
    select(m, 0x0003)
    #expect(bytes(m, 8) == [0, 0, 0, 3, 0, 0, 0, 0])  // 0x0300_0000, 64-bit little endian
    select(m, 0x0005)
    #expect(bytes(m, 2) == [1, 0])
    select(m, 0x000F)
    #expect(bytes(m, 2) == [1, 0])
    select(m, 0x4005)  // bit 14: the old write channel, ignored
    #expect(bytes(m, 2) == [1, 0])
    for key: UInt16 in [0x0013, 0x0014, 0x0015] {  // no command line for a multiboot kernel (as QEMU)
        select(m, key)
        #expect(bytes(m, 4) == [0, 0, 0, 0])
    }
}

@Test func fwCfgPortAccessRules() {
    let m = PCMachine(memorySize: 16 << 20)
    select(m, 0)
    #expect(m.bus.read(port: 0x510, size: 1) == UInt32(UInt8(ascii: "Q")))  // a byte read of 0x510 is data
    #expect(m.bus.read(port: 0x511, size: 2) == 0)  // wider reads: 0, no advance
    #expect(m.bus.read(port: 0x511, size: 4) == 0)
    m.bus.write(port: 0x511, size: 1, value: 0x41)  // data writes ignored
    m.bus.write(port: 0x510, size: 1, value: 1)  // byte selects ignored
    #expect(bytes(m, 1) == [UInt8(ascii: "E")])
}

@Test func fwCfgFileDirectoryAndFiles() {
    let m = PCMachine(memorySize: 64 << 20)
    select(m, 0x0019)
    let count = bytes(m, 4).reduce(0) { $0 << 8 | Int($1) }
    #expect(count == 3)
    var found: [String: (size: Int, key: UInt16)] = [:]
    var names: [String] = []
    for _ in 0..<count {
        let size = bytes(m, 4).reduce(0) { $0 << 8 | Int($1) }
        let key = bytes(m, 2).reduce(UInt16(0)) { $0 << 8 | UInt16($1) }
        _ = bytes(m, 2)
        let name = String(decoding: bytes(m, 56).prefix { $0 != 0 }, as: UTF8.self)
        found[name] = (size, key)
        names.append(name)
    }
    #expect(names == names.sorted())
    #expect(names == ["etc/boot-fail-wait", "etc/e820", "etc/system-states"])
    if let f = found["etc/e820"] {
        select(m, f.key)
        #expect(f.size == 20)
        #expect(bytes(m, 20) == [0, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 4, 0, 0, 0, 0] + [1, 0, 0, 0])
    }
    if let f = found["etc/boot-fail-wait"] {
        select(m, f.key)
        #expect(bytes(m, 4) == [0xFF, 0xFF, 0xFF, 0xFF])
    }
    if let f = found["etc/system-states"] {
        select(m, f.key)
        #expect(bytes(m, 6) == [0x80, 0, 0, 0, 0, 0x80])  // S5 with SLP_TYP 0
    }
}

@Test func fwCfgSnapshotKeepsSelectorAndOffset() throws {
    let m = PCMachine(memorySize: 16 << 20)
    select(m, 0)
    _ = bytes(m, 2)
    var w = StateWriter()
    m.firmwareConfig.saveState(to: &w)
    let saved = w.finish()
    let copy = PCMachine(memorySize: 16 << 20)
    var r = StateReader(saved)
    try copy.firmwareConfig.restoreState(from: &r)
    #expect(bytes(copy, 2) == Array("MU".utf8))
    // An offset past the end of the selected item is a corrupt snapshot.
    var bad = StateWriter()
    bad.tag("FWCF")
    bad.put(UInt16(0))
    bad.put(UInt32(5))
    var rb = StateReader(bad.finish())
    #expect(throws: StateError.self) { try copy.firmwareConfig.restoreState(from: &rb) }
}
