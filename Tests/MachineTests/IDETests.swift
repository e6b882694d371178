import Testing
import X86Core
import Machine

/// The IDE controller on a bus with its interrupt lines, and a disk of `sectors` sectors at
/// `index` (sector n filled with n & 0xFF).
final class IDEBench {
    let apic = APICBench()
    let lines: InterruptLines
    let ide: IDEController
    let bus = IOBus()
    var disks: [TempDisk] = []

    init(sectors: Int = 64, index: Int? = 0, readOnly: Bool = false, snapshot: Bool = false) throws {
        lines = InterruptLines(pic: DualPIC(), ioapic: IOAPIC(lapic: apic.lapic))
        ide = IDEController(lines: lines)
        ide.attachPorts(to: bus)
        if let index { try attach(sectors: sectors, index: index, readOnly: readOnly, snapshot: snapshot) }
    }

    func attach(sectors: Int, index: Int, readOnly: Bool = false, snapshot: Bool = false) throws {
        let t = TempDisk(sectors: sectors)
        disks.append(t)
        ide.attach(try DiskImage(path: t.path, readOnly: readOnly, snapshot: snapshot), index: index)
    }

    deinit { for d in disks { d.remove() } }

    func inb(_ port: UInt16) -> UInt8 { UInt8(bus.read(port: port, size: 1)) }
    func outb(_ port: UInt16, _ v: UInt8) { bus.write(port: port, size: 1, value: UInt32(v)) }
    func inw() -> UInt16 { UInt16(bus.read(port: 0x1F0, size: 2)) }
    func outw(_ v: UInt16) { bus.write(port: 0x1F0, size: 2, value: UInt32(v)) }
    var irq14: Bool { lines.isHigh(14) }
    var status: UInt8 { inb(0x1F7) }
    var altStatus: UInt8 { inb(0x3F6) }

    func lba28(_ lba: UInt32, count: UInt8, slave: Bool = false) {
        outb(0x1F2, count)
        outb(0x1F3, UInt8(lba & 0xFF))
        outb(0x1F4, UInt8(lba >> 8 & 0xFF))
        outb(0x1F5, UInt8(lba >> 16 & 0xFF))
        outb(0x1F6, 0xE0 | (slave ? 0x10 : 0) | UInt8(lba >> 24 & 0x0F))
    }

    /// Reads `sectors` sectors of data (256 words each).
    func readSectors(_ sectors: Int) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<(sectors * 256) {
            let w = inw()
            out += [UInt8(w & 0xFF), UInt8(w >> 8)]
        }
        return out
    }

    func writeSector(_ byte: UInt8) {
        for _ in 0..<256 { outw(UInt16(byte) << 8 | UInt16(byte)) }
    }
}

@Test func channelWithoutDisksReadsZero() throws {
    let b = try IDEBench(index: nil)
    for p: UInt16 in 0x1F1...0x1F7 { #expect(b.inb(p) == 0) }
    #expect(b.inb(0x3F6) == 0 && b.inb(0x376) == 0 && b.inb(0x177) == 0)
    b.outb(0x1F7, 0xEC)
    #expect(b.status == 0 && !b.irq14)
}

@Test func xv6FindsDisk1OnlyWhenThereIsOne() throws {
    let b = try IDEBench(index: 0)
    b.outb(0x1F6, 0xF0)
    #expect(b.status == 0 && b.altStatus == 0 && b.inb(0x1F1) == 0)
    try b.attach(sectors: 8, index: 1)
    b.outb(0x1F6, 0xF0)
    #expect(b.status == 0x50)
    b.outb(0x1F6, 0xE0)
    #expect(b.status == 0x50)
}

@Test func identifyReportsGeometryAndCapacity() throws {
    let b = try IDEBench(sectors: 2048)
    b.outb(0x1F6, 0xA0)
    b.outb(0x1F7, 0xEC)
    #expect(b.status & 0x08 != 0)
    var w = [UInt16]()
    for _ in 0..<256 { w.append(b.inw()) }
    #expect(w[0] == 0x40 && w[1] == 2 && w[3] == 16 && w[6] == 63)
    #expect(w[47] == 0x8010 && w[49] & 0x200 != 0 && w[59] == 0x110)
    #expect(w[60] == 2048 && w[61] == 0 && w[100] == 2048 && w[83] & 0x400 != 0)
    // Model "x86v HARDDISK": two characters a word, the first in the high byte.
    #expect(w[27] == UInt16(UInt8(ascii: "x")) << 8 | UInt16(UInt8(ascii: "8")))
    #expect(b.status == 0x50)
}

@Test func readSectorsInterruptsPerSectorAndStatusAcknowledges() throws {
    let b = try IDEBench()
    b.outb(0x3F6, 0)
    b.lba28(5, count: 2)
    b.outb(0x1F7, 0x20)
    #expect(b.irq14)
    #expect(b.altStatus == 0x58 && b.irq14)  // alternate status leaves INTRQ alone
    #expect(b.status == 0x58 && !b.irq14)
    let first = b.readSectors(1)
    #expect(first.allSatisfy { $0 == 5 })
    #expect(b.irq14)  // the second sector's block
    _ = b.status
    let second = b.readSectors(1)
    #expect(second.allSatisfy { $0 == 6 })
    #expect(!b.irq14 && b.status == 0x50)
    #expect(b.inb(0x1F2) == 0 && b.inb(0x1F3) == 7)
}

@Test func nIENGatesTheLine() throws {
    let b = try IDEBench()
    b.outb(0x3F6, 0x02)
    b.lba28(1, count: 1)
    b.outb(0x1F7, 0x40)  // READ VERIFY
    #expect(!b.irq14)
    b.outb(0x3F6, 0x00)  // pending: the line rises (ATA-6 §7.9)
    #expect(b.irq14)
    b.outb(0x1F7, 0x40)  // writing a command clears it, the command raises it again
    #expect(b.irq14)
    _ = b.status
    #expect(!b.irq14)
}

@Test func writeSectorsReachTheFile() throws {
    let b = try IDEBench()
    b.lba28(9, count: 2)
    b.outb(0x1F7, 0x30)
    #expect(b.status == 0x58 && !b.irq14)  // DRQ, no interrupt before the first block
    b.writeSector(0xAB)
    #expect(b.irq14 && b.status == 0x58)
    b.writeSector(0xCD)
    #expect(b.irq14 && b.status == 0x50)
    let file = b.disks[0].contents()
    #expect(file[9 * 512..<10 * 512].allSatisfy { $0 == 0xAB })
    #expect(file[10 * 512..<11 * 512].allSatisfy { $0 == 0xCD })
    #expect(file[11 * 512] == 11)
}

@Test func readOnlyDriveAbortsWrites() throws {
    let b = try IDEBench(readOnly: true)
    b.lba28(3, count: 1)
    b.outb(0x1F7, 0x30)
    b.writeSector(0xFF)
    #expect(b.status == 0x41 && b.inb(0x1F1) == 0x04)
    #expect(b.disks[0].contents()[3 * 512] == 3)
}

@Test func outOfRangeIsIDNFAndUnknownCommandsAbort() throws {
    let b = try IDEBench(sectors: 16)
    b.lba28(16, count: 1)
    b.outb(0x1F7, 0x20)
    #expect(b.irq14 && b.status == 0x41 && b.inb(0x1F1) == 0x10)
    b.lba28(15, count: 2)  // the first sector is there, the second is not
    b.outb(0x1F7, 0x20)
    #expect(b.readSectors(1).allSatisfy { $0 == 15 })
    #expect(b.status == 0x41 && b.inb(0x1F1) == 0x10)
    b.outb(0x1F7, 0x01)
    #expect(b.status == 0x41 && b.inb(0x1F1) == 0x04)
    b.outb(0x1F7, 0xC4 - 0x40)  // 0x84: not a command
    #expect(b.status & 0x01 != 0)
}

@Test func multipleModeBlocks() throws {
    let b = try IDEBench()
    b.outb(0x1F6, 0xA0)  // SeaBIOS leaves device 1 selected
    b.outb(0x1F2, 4)
    b.outb(0x1F7, 0xC6)
    #expect(b.status == 0x50)
    b.lba28(20, count: 6)
    b.outb(0x1F7, 0xC4)
    #expect(b.irq14)
    _ = b.status
    let first = b.readSectors(4)
    #expect(first[0] == 20 && first[2047] == 23)
    #expect(b.irq14)
    _ = b.status
    let rest = b.readSectors(2)
    #expect(rest[0] == 24 && rest[1023] == 25 && b.status == 0x50)
    b.outb(0x1F2, 5)
    b.outb(0x1F7, 0xC6)
    #expect(b.status == 0x41)
    b.outb(0x1F2, 0)
    b.outb(0x1F7, 0xC6)  // multiple mode off: READ MULTIPLE aborts
    b.outb(0x1F7, 0xC4)
    #expect(b.status == 0x41 && b.inb(0x1F1) == 0x04)
}

@Test func chsAndLBA48Addressing() throws {
    let b = try IDEBench(sectors: 2048)
    // C/H/S 1/2/3 = (1·16 + 2)·63 + 2 = 1136.
    b.outb(0x1F2, 1); b.outb(0x1F3, 3); b.outb(0x1F4, 1); b.outb(0x1F5, 0); b.outb(0x1F6, 0xA2)
    b.outb(0x1F7, 0x20)
    #expect(b.readSectors(1)[0] == UInt8(1136 & 0xFF))
    #expect(b.inb(0x1F3) == 4 && b.inb(0x1F4) == 1 && b.inb(0x1F6) & 0x0F == 2)
    // Sector 0 does not exist in CHS.
    b.outb(0x1F3, 0); b.outb(0x1F7, 0x20)
    #expect(b.status == 0x41)
    // LBA48: high bytes first; HOB reads them back.
    b.outb(0x1F2, 0); b.outb(0x1F2, 1)
    b.outb(0x1F3, 0); b.outb(0x1F3, 0xE8)
    b.outb(0x1F4, 0); b.outb(0x1F4, 0x03)
    b.outb(0x1F5, 0); b.outb(0x1F5, 0)
    b.outb(0x1F6, 0x40)
    b.outb(0x1F7, 0x24)
    #expect(b.readSectors(1)[0] == UInt8(1000 & 0xFF))
    b.outb(0x3F6, 0x80)
    #expect(b.inb(0x1F3) == 0)
    b.outb(0x3F6, 0x00)
    #expect(b.inb(0x1F3) == UInt8(1001 & 0xFF) && b.inb(0x1F4) == 0x03)
}

@Test func softwareResetLeavesTheSignature() throws {
    let b = try IDEBench()
    b.outb(0x1F2, 0x12); b.outb(0x1F6, 0xF0)
    b.outb(0x3F6, 0x06)
    b.outb(0x1F6, 0xE0)
    #expect(b.altStatus & 0x80 != 0)
    b.outb(0x3F6, 0x02)
    #expect(b.status == 0x50 && b.inb(0x1F1) == 0x01 && !b.irq14)
    #expect(b.inb(0x1F2) == 1 && b.inb(0x1F3) == 1 && b.inb(0x1F4) == 0 && b.inb(0x1F5) == 0 && b.inb(0x1F6) == 0xA0)
}

@Test func flushAndCommandsToTheAbsentSlave() throws {
    let b = try IDEBench()
    #expect(b.inb(0x1F6) == 0xB0 && b.status == 0)  // device 1 selected at power-on, and absent
    b.outb(0x1F6, 0xA0)
    b.outb(0x1F7, 0xE7)
    #expect(b.irq14)
    #expect(b.status == 0x50 && !b.irq14)
    b.outb(0x1F6, 0xB0)
    b.outb(0x1F7, 0xEC)
    #expect(b.status == 0 && !b.irq14)
}

@Test func stateRoundTripsMidTransferWithTheOverlay() throws {
    let b = try IDEBench(snapshot: true)
    b.lba28(2, count: 1)
    b.outb(0x1F7, 0x30)
    b.writeSector(0x99)
    _ = b.status
    b.lba28(30, count: 2)
    b.outb(0x1F7, 0x20)
    _ = b.readSectors(1)[0...9]
    for _ in 0..<10 { _ = b.inw() }
    var w = StateWriter()
    b.ide.saveState(to: &w)
    let bytes = w.finish()

    // The same disk attached again: the transfer continues where it was.
    let c = try IDEBench(index: nil)
    c.ide.attach(try DiskImage(path: b.disks[0].path, snapshot: true), index: 0)
    var r = StateReader(bytes)
    try c.ide.restoreState(from: &r)
    #expect(r.remaining == 0)
    let rest = c.readSectors(1)
    #expect(rest.count == 512 && rest[0] == 31)
    c.lba28(2, count: 1)
    c.outb(0x1F7, 0x20)
    #expect(c.readSectors(1).allSatisfy { $0 == 0x99 })

    // No disk attached: the snapshot's path is opened again.
    let d = try IDEBench(index: nil)
    var r2 = StateReader(bytes)
    try d.ide.restoreState(from: &r2)
    #expect(d.ide.drive(at: 0)?.snapshot == true)
    // A disk of another size: refused, nothing changed.
    let e = try IDEBench(sectors: 8)
    var r3 = StateReader(bytes)
    #expect(throws: StateError.self) { try e.ide.restoreState(from: &r3) }
    #expect(e.ide.drive(at: 0)?.sectorCount == 8)
}
