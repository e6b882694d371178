/// The ACPI tables (ACPI 6.4 chapter 5; the RSDP/RSDT/FADT revisions as ACPI 1.0 and 2.0
/// define them), with QEMU 7.2's contents for a one-CPU pc machine where x86v has the same
/// hardware (OEM "BOCHS ", table id "BXPC    ", creator "BXPC", all revision 1):
///
///     RSDP  revision 0 (ACPI 1.0, 20 bytes), in the F segment, pointing at the RSDT
///     RSDT  FACP, APIC                        (QEMU also lists HPET and WAET)
///     FACP  revision 3 (244 bytes): PM1a event 0x600/4, PM1a control 0x604/2, PM timer
///           0x608/4 (24-bit), SCI IRQ 9, SMI command 0xB2 (enable 0xF1, disable 0xF0),
///           century 0x32, IA-PC boot flags legacy devices + 8042, flags WBINVD, PROC_C1,
///           SLP_BUTTON, RTC_S4, RESET_REG_SUP, USE_PLATFORM_CLOCK, reset register I/O 0xCF9
///           value 0x06, GPE0 block 0xAFE0/4. (QEMU's pc FADT is revision 1, 116 bytes, with no
///           reset register; the reset register is q35's.)
///     FACS  64 bytes, all zero but signature and length
///     DSDT  revision 1, only `Name (_S5, Package (4) {0, 0, 0, 0})`: PIIX4's SLP_TYP 0 is
///           soft-off, as in QEMU's DSDT
///     APIC  (MADT) revision 1: local APIC 0xFEE00000, PC-AT compatible (dual 8259s); CPU 0
///           APIC 0; I/O APIC 0 at 0xFEC00000, GSI base 0; overrides IRQ 0 → GSI 2 (flags 0)
///           and IRQs 5, 9, 10, 11 level-triggered active-high (QEMU's PCI interrupt lines);
///           local APIC NMI on LINT1 of every processor
enum ACPITables {
    static let oemID = "BOCHS "
    static let oemTableID = "BXPC"
    static let creatorID = "BXPC"

    /// PIIX4-style power-management registers (QEMU's pc: PM base 0x600).
    static let pm1aEvent: UInt32 = 0x600
    static let pm1aControl: UInt32 = 0x604
    static let pmTimer: UInt32 = 0x608
    static let gpe0: UInt32 = 0xAFE0
    static let sciIRQ: UInt16 = 9
    static let smiCommand: UInt32 = 0xB2
    static let acpiEnable: UInt8 = 0xF1
    static let acpiDisable: UInt8 = 0xF0
    static let resetPort: UInt64 = 0xCF9
    static let resetValue: UInt8 = 0x06
    /// FADT flags: WBINVD (0), PROC_C1 (2), SLP_BUTTON (5), RTC_S4 (7), RESET_REG_SUP (10),
    /// USE_PLATFORM_CLOCK (15).
    static let fadtFlags: UInt32 = (1 << 0) | (1 << 2) | (1 << 5) | (1 << 7) | (1 << 10) | (1 << 15)
    /// ISA IRQs the MADT marks level-triggered, active high.
    static let levelIRQs: [UInt8] = [5, 9, 10, 11]

    /// A table: the 36-byte header followed by `body`, length and checksum filled in.
    static func table(_ signature: String, revision: UInt8, body: [UInt8]) -> [UInt8] {
        var w = FirmwareBytes()
        w.ascii(signature, width: 4)
        w.u32(UInt32(36 + body.count))
        w.u8(revision)
        w.u8(0)
        w.ascii(oemID, width: 6)
        w.ascii(oemTableID, width: 8)
        w.u32(1)
        w.ascii(creatorID, width: 4)
        w.u32(1)
        w.append(body)
        w.fixChecksum(at: 9, over: 0..<w.count)
        return w.bytes
    }

    /// RSDP, ACPI 1.0 form (revision 0).
    static func rsdp(rsdt: UInt32) -> [UInt8] {
        var w = FirmwareBytes()
        w.ascii("RSD PTR ", width: 8)
        w.u8(0)
        w.ascii(oemID, width: 6)
        w.u8(0)
        w.u32(rsdt)
        w.fixChecksum(at: 8, over: 0..<20)
        return w.bytes
    }

    static func rsdt(entries: [UInt32]) -> [UInt8] {
        var w = FirmwareBytes()
        for e in entries { w.u32(e) }
        return table("RSDT", revision: 1, body: w.bytes)
    }

    static func facs() -> [UInt8] {
        var w = FirmwareBytes()
        w.ascii("FACS", width: 4)
        w.u32(64)
        w.zeros(56)
        return w.bytes
    }

    /// AML: DefinitionBlock with `Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero })`
    /// (ACPI 6.4 §20.2.5.1 NameOp 0x08, §20.2.5.4 PackageOp 0x12 PkgLength NumElements).
    static func dsdt() -> [UInt8] {
        let s5: [UInt8] = [0x08] + Array("_S5_".utf8) + [0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00]
        return table("DSDT", revision: 1, body: s5)
    }

    /// A Generic Address Structure (ACPI 6.4 §5.2.3.2) in system I/O space.
    static func gas(_ w: inout FirmwareBytes, port: UInt64, bits: UInt8, access: UInt8 = 0) {
        w.u8(port == 0 ? 0 : 1); w.u8(port == 0 ? 0 : bits); w.u8(0); w.u8(port == 0 ? 0 : access); w.u64(port)
    }

    static func fadt(facs: UInt32, dsdt: UInt32) -> [UInt8] {
        var w = FirmwareBytes()
        w.u32(facs)                              // 36 FIRMWARE_CTRL
        w.u32(dsdt)                              // 40 DSDT
        w.u8(1)                                  // 44 reserved (ACPI 1.0 INT_MODEL: APIC)
        w.u8(0)                                  // 45 preferred PM profile: unspecified
        w.u16(sciIRQ)                            // 46 SCI_INT
        w.u32(smiCommand)                        // 48 SMI_CMD
        w.u8(acpiEnable); w.u8(acpiDisable)      // 52 ACPI_ENABLE, ACPI_DISABLE
        w.u8(0); w.u8(0)                         // 54 S4BIOS_REQ, PSTATE_CNT
        w.u32(pm1aEvent); w.u32(0)               // 56 PM1a/PM1b_EVT_BLK
        w.u32(pm1aControl); w.u32(0)             // 64 PM1a/PM1b_CNT_BLK
        w.u32(0)                                 // 72 PM2_CNT_BLK
        w.u32(pmTimer)                           // 76 PM_TMR_BLK
        w.u32(gpe0); w.u32(0)                    // 80 GPE0_BLK, GPE1_BLK (none)
        w.u8(4); w.u8(2); w.u8(0); w.u8(4)       // 88 PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN
        w.u8(4); w.u8(0); w.u8(0); w.u8(0)       // 92 GPE0/GPE1_BLK_LEN, GPE1_BASE, CST_CNT
        w.u16(0x0FFF); w.u16(0x0FFF)             // 96 P_LVL2_LAT, P_LVL3_LAT: C2/C3 not supported
        w.u16(0); w.u16(0)                       // 100 FLUSH_SIZE, FLUSH_STRIDE
        w.u8(0); w.u8(0)                         // 104 DUTY_OFFSET, DUTY_WIDTH
        w.u8(0); w.u8(0); w.u8(0x32)             // 106 DAY_ALRM, MON_ALRM, CENTURY (CMOS 0x32)
        w.u16(0b11)                              // 109 IAPC_BOOT_ARCH: LEGACY_DEVICES, 8042
        w.u8(0)                                  // 111 reserved
        w.u32(fadtFlags)                         // 112 Flags
        gas(&w, port: resetPort, bits: 8, access: 1)   // 116 RESET_REG
        w.u8(resetValue)                         // 128 RESET_VALUE
        w.zeros(3)                               // 129 reserved
        w.u64(0)                                 // 132 X_FIRMWARE_CTRL: FIRMWARE_CTRL is used
        w.u64(UInt64(dsdt))                      // 140 X_DSDT
        gas(&w, port: UInt64(pm1aEvent), bits: 32)     // 148 X_PM1a_EVT_BLK
        gas(&w, port: 0, bits: 0)                      // 160 X_PM1b_EVT_BLK
        gas(&w, port: UInt64(pm1aControl), bits: 16)   // 172 X_PM1a_CNT_BLK
        gas(&w, port: 0, bits: 0)                      // 184 X_PM1b_CNT_BLK
        gas(&w, port: 0, bits: 0)                      // 196 X_PM2_CNT_BLK
        gas(&w, port: UInt64(pmTimer), bits: 32)       // 208 X_PM_TMR_BLK
        gas(&w, port: UInt64(gpe0), bits: 32)          // 220 X_GPE0_BLK
        gas(&w, port: 0, bits: 0)                      // 232 X_GPE1_BLK
        return table("FACP", revision: 3, body: w.bytes)
    }

    static func madt(apicID: UInt8) -> [UInt8] {
        var w = FirmwareBytes()
        w.u32(FirmwareLayout.lapicAddress)
        w.u32(1)                                 // PCAT_COMPAT: dual 8259s present
        w.u8(0); w.u8(8); w.u8(0); w.u8(apicID); w.u32(1)            // processor local APIC, enabled
        w.u8(1); w.u8(12); w.u8(MPTables.ioapicID); w.u8(0)          // I/O APIC
        w.u32(FirmwareLayout.ioapicAddress); w.u32(0)
        w.u8(2); w.u8(10); w.u8(0); w.u8(0); w.u32(2); w.u16(0)      // IRQ 0 → GSI 2, conforming
        for irq in levelIRQs {
            w.u8(2); w.u8(10); w.u8(0); w.u8(irq); w.u32(UInt32(irq))
            w.u16(0x000D)                        // active high (01), level (11 << 2)
        }
        w.u8(4); w.u8(6); w.u8(0xFF); w.u16(0); w.u8(1)              // NMI on LINT1, all CPUs
        return table("APIC", revision: 1, body: w.bytes)
    }
}
