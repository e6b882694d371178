/// The MP floating pointer and MP configuration table (Intel MultiProcessor Specification
/// v1.4, chapter 4), as SeaBIOS 1.16 builds them under QEMU 7.2 for one CPU, without the PCI
/// bus x86v does not have:
///
///     processor   APIC id 0, the LAPIC's version (0x14), enabled + bootstrap, CPUID.1 EAX/EDX
///     bus 0       "ISA   "                (QEMU: PCI is bus 0, ISA bus 1)
///     I/O APIC    id 0, version 0x11, enabled, 0xFEC00000
///     I/O ints    ISA IRQ 0 → INTIN 2; 1, 3, 4, 6, 7, 8, 12, 13, 14, 15 → the same pin;
///                 flags 0 (conforming to the ISA bus: active high, edge). IRQ 2 (the cascade)
///                 is not listed, nor 5, 9, 10, 11, which SeaBIOS leaves to PCI devices
///     local ints  ExtINT → LINTIN0 of APIC 0; NMI → LINTIN1 of every APIC (0xFF)
///
/// ```
/// floating pointer (16 bytes)              configuration table header (44 bytes)
/// +0 "_MP_"  +4 config table address       +0 "PCMP"  +4 length  +6 revision 4  +7 checksum
/// +8 length 1 (×16)  +9 revision 4         +8 OEM "BOCHSCPU"  +16 product "0.1         "
/// +10 checksum  +11 feature 1 = 0 (table   +28 OEM table 0  +32 OEM size 0  +34 entry count
///   present)  +12 feature 2 = 0 (no IMCR:  +36 local APIC 0xFEE00000  +40 extended length 0
///   virtual-wire mode)                     +42 extended checksum 0
/// ```
enum MPTables {
    /// ISA IRQs SeaBIOS lists, and the I/O APIC pin each goes to.
    static let isaInterrupts: [(irq: UInt8, pin: UInt8)] =
        [0, 1, 3, 4, 6, 7, 8, 12, 13, 14, 15].map { ($0, $0 == 0 ? 2 : $0) }
    static let isaBusID: UInt8 = 0
    /// The I/O APIC's id: what its ID register reads at reset (IOAPIC.swift), as QEMU's.
    static let ioapicID: UInt8 = 0
    static let ioapicVersion: UInt8 = 0x11
    static let entryCount = 1 + 1 + 1 + isaInterrupts.count + 2

    /// The 16-byte floating pointer structure, pointing at `configAddress`.
    static func floatingPointer(configAddress: UInt32) -> [UInt8] {
        var w = FirmwareBytes()
        w.ascii("_MP_", width: 4)
        w.u32(configAddress)
        w.u8(1)          // length in 16-byte paragraphs
        w.u8(4)          // spec revision 1.4
        w.u8(0)          // checksum
        w.zeros(5)       // feature bytes: a configuration table follows; no IMCR
        w.fixChecksum(at: 10, over: 0..<16)
        return w.bytes
    }

    /// The configuration table: header and base entries.
    static func configurationTable(apicID: UInt8, apicVersion: UInt8, cpuSignature: UInt32,
                                   cpuFeatures: UInt32) -> [UInt8] {
        var w = FirmwareBytes()
        w.ascii("PCMP", width: 4)
        w.u16(0)                     // base table length, patched below
        w.u8(4)                      // spec revision 1.4
        w.u8(0)                      // checksum
        w.ascii("BOCHSCPU", width: 8)
        w.ascii("0.1", width: 12)
        w.u32(0); w.u16(0)           // no OEM table
        w.u16(UInt16(entryCount))
        w.u32(FirmwareLayout.lapicAddress)
        w.u16(0); w.u8(0); w.u8(0)   // no extended table; reserved
        // Processor (type 0, 20 bytes): enabled (bit 0), bootstrap processor (bit 1).
        w.u8(0); w.u8(apicID); w.u8(apicVersion); w.u8(0b11)
        w.u32(cpuSignature); w.u32(cpuFeatures); w.zeros(8)
        // Bus (type 1, 8 bytes).
        w.u8(1); w.u8(isaBusID); w.ascii("ISA", width: 6)
        // I/O APIC (type 2, 8 bytes): enabled.
        w.u8(2); w.u8(ioapicID); w.u8(ioapicVersion); w.u8(1); w.u32(FirmwareLayout.ioapicAddress)
        // I/O interrupt assignments (type 3): INT, flags 0, source bus/IRQ, destination APIC/pin.
        for (irq, pin) in isaInterrupts {
            w.u8(3); w.u8(0); w.u16(0); w.u8(isaBusID); w.u8(irq); w.u8(ioapicID); w.u8(pin)
        }
        // Local interrupt assignments (type 4): ExtINT (3) on LINTIN0, NMI (1) on LINTIN1.
        w.u8(4); w.u8(3); w.u16(0); w.u8(isaBusID); w.u8(0); w.u8(apicID); w.u8(0)
        w.u8(4); w.u8(1); w.u16(0); w.u8(isaBusID); w.u8(0); w.u8(0xFF); w.u8(1)
        w.patch16(at: 4, UInt16(w.count))
        w.fixChecksum(at: 7, over: 0..<w.count)
        return w.bytes
    }
}
