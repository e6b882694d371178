/// The real-mode state a PC BIOS leaves below 1 MiB: the interrupt vector table, the BIOS data
/// area (IBM PC/AT Technical Reference, "BIOS data area"; Ralf Brown's memory map), the
/// extended BIOS data area and the few fixed F-segment entry points. Values are those SeaBIOS
/// 1.16 leaves under QEMU 7.2 (`testguests/guests/firmware.c` prints them), minus the devices
/// x86v does not have (docs/devices.md, "Firmware tables").
///
/// x86v runs no BIOS code: every vector points at a stub that does nothing (IRET), or, for the
/// hardware interrupt vectors, acknowledges the 8259 first, so a kernel that drops to real mode
/// or virtual-8086 mode and takes an interrupt or runs INT n does not execute garbage.
enum BIOSDataArea {
    /// Vectors SeaBIOS leaves 0: the user vectors 0x60–0x66 and 0x79.
    static let zeroVectors: Set<Int> = Set(0x60...0x66).union([0x79])
    /// The 8259 vectors (bases 0x08 and 0x70 as the BIOS programs them).
    static let masterIRQVectors = 0x08...0x0F
    static let slaveIRQVectors = 0x70...0x77

    /// `vector` → `segment:offset` of its handler.
    static func vectorTarget(_ v: Int) -> UInt32 {
        if zeroVectors.contains(v) { return 0 }
        let linear: UInt32
        if masterIRQVectors.contains(v) { linear = FirmwareLayout.masterIRQStub }
        else if slaveIRQVectors.contains(v) { linear = FirmwareLayout.slaveIRQStub }
        else { linear = FirmwareLayout.iretStub }
        return 0xF000_0000 | (linear - FirmwareLayout.fSegment)
    }

    /// 256 far pointers (offset, then segment).
    static func ivt() -> [UInt8] {
        var w = FirmwareBytes()
        for v in 0..<256 { w.u32(vectorTarget(v)) }
        return w.bytes
    }

    /// The BIOS data area, 0x400–0x4FF.
    static func bda(hardDiskCount: UInt8) -> [UInt8] {
        var b = FirmwareBytes()
        b.zeros(FirmwareLayout.bdaSize)
        func w16(_ off: Int, _ v: UInt16) { b.patch16(at: off, v) }
        func w8(_ off: Int, _ v: UInt8) { b.bytes[off] = v }
        // 0x00–0x07: COM1–COM4 base ports. x86v has COM1 only (as QEMU with one -serial).
        w16(0x00, 0x3F8)
        // 0x08–0x0D: LPT1–LPT3. QEMU lists its parallel port 0x378 here; x86v has none.
        // 0x0E: EBDA segment.
        w16(0x0E, UInt16(FirmwareLayout.ebda >> 4))
        // 0x10: equipment word: bit 1 x87 present, bits 5:4 = 10 initial video mode 80x25
        // colour, bits 11:9 one serial port. (QEMU's 0x4227 also sets bit 0 and 7:6 for its
        // floppy drive, bit 2 for the PS/2 mouse and bits 15:14 for LPT1.)
        w16(0x10, (1 << 1) | (2 << 4) | (1 << 9))
        // 0x13: base memory in KiB.
        w16(0x13, FirmwareLayout.baseMemoryKiB)
        // 0x17/0x18 keyboard shift flags 0; 0x1A/0x1C head and tail of an empty keyboard
        // buffer at 0x41E; 0x80/0x82 the buffer's start and end (offsets from 0x400).
        w16(0x1A, 0x1E); w16(0x1C, 0x1E)
        w16(0x80, 0x1E); w16(0x82, 0x3E)
        // Video, as the VGA BIOS leaves mode 3: mode, 80 columns, page size 4 KiB, cursor shape
        // lines 6–7, active page 0, CRTC at 0x3D4, 25 rows (stored minus one), 16-line font.
        w8(0x49, 3)
        w16(0x4A, 80)
        w16(0x4C, 0x1000)
        w16(0x60, 0x0607)
        w16(0x63, 0x3D4)
        w8(0x84, 24)
        w16(0x85, 16)
        // 0x75: fixed disks found by the BIOS.
        w8(0x75, hardDiskCount)
        // 0x7C: COM1 time-out (SeaBIOS: 10).
        w8(0x7C, 10)
        // 0x96: keyboard status: a 101/102-key enhanced keyboard.
        w8(0x96, 0x10)
        return b.bytes
    }

    /// The EBDA: its first byte is its own size in KiB (SeaBIOS's `struct
    /// extended_bios_data_area_s`); the rest is SeaBIOS's private state, zero here.
    static func ebda() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: FirmwareLayout.ebdaSize)
        b[0] = UInt8(FirmwareLayout.ebdaSize / 1024)
        return b
    }

    /// The F-segment code: the IRET stub, the two EOI stubs, a halt loop at the POST entry,
    /// the reset vector's far jump to it, the BIOS date and the model byte (0xFC, the AT).
    static func fSegmentCode() -> [(address: UInt32, bytes: [UInt8])] {
        [
            (FirmwareLayout.iretStub, [0xCF]),                                   // iret
            // push ax; mov al, 0x20; out 0x20, al; pop ax; iret
            (FirmwareLayout.masterIRQStub, [0x50, 0xB0, 0x20, 0xE6, 0x20, 0x58, 0xCF]),
            // push ax; mov al, 0x20; out 0xA0, al; out 0x20, al; pop ax; iret
            (FirmwareLayout.slaveIRQStub, [0x50, 0xB0, 0x20, 0xE6, 0xA0, 0xE6, 0x20, 0x58, 0xCF]),
            (FirmwareLayout.postEntry, [0xFA, 0xF4, 0xEB, 0xFD]),                // cli; hlt; jmp back to hlt
            (FirmwareLayout.resetVector, [0xEA, 0x5B, 0xE0, 0x00, 0xF0]           // jmp F000:E05B
                + Array("06/23/99".utf8) + [0x00, 0xFC]),
        ]
    }
}
