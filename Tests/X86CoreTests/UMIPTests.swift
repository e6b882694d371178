import Testing
import X86Core

/// CR4.UMIP (SDM Vol. 3A §2.5): SGDT, SIDT, SLDT, SMSW and STR fault with #GP(0) at CPL > 0 and
/// run at CPL 0; without UMIP they run everywhere; the bit is refused unless the model has it.
@Test(arguments: [
    ("sgdt [0x2000]", [0x0F, 0x01, 0x05, 0x00, 0x20, 0x00, 0x00] as [UInt8]),
    ("sidt [0x2000]", [0x0F, 0x01, 0x0D, 0x00, 0x20, 0x00, 0x00]),
    ("sldt eax", [0x0F, 0x00, 0xC0]),
    ("str eax", [0x0F, 0x00, 0xC8]),
    ("smsw eax", [0x0F, 0x01, 0xE0]),
])
func umipFaultsOnlyAboveCPL0(_ c: (String, [UInt8])) throws {
    for (cpl, umip) in [(UInt8(3), true), (3, false), (0, true)] {
        let cpu = CPU(memorySize: 1 << 20)
        cpu.resetFlat(cpl: cpl)
        cpu.umipSupported = true
        if umip { try cpu.writeCR4(CR4.umip) }
        cpu.memory.load(bytes: c.1 + [0xEB, 0xFE], at: 0x1000)
        cpu.statePointer.pointee.eip = 0x1000
        cpu.exitOnExceptions = 1 << 13
        let exit = cpu.run(maxInstructions: 1)
        if umip && cpl > 0 {
            #expect(exit == .exception(vector: 13, errorCode: 0), "\(c.0) at CPL \(cpl) with UMIP: \(exit)")
        } else {
            #expect(exit == .instructionLimit, "\(c.0) at CPL \(cpl), UMIP \(umip): \(exit)")
        }
    }
}

@Test func umipIsRefusedWithoutTheFeature() {
    let cpu = CPU(memorySize: 1 << 20)
    cpu.resetFlat(cpl: 0)
    #expect(throws: Fault.self) { try cpu.writeCR4(CR4.umip) }
    #expect(cpu.cpuidLeaf(0, subleaf: 0).0 == 1)
    cpu.umipSupported = true
    #expect(cpu.cpuidLeaf(0, subleaf: 0).0 == 7)
    #expect(cpu.cpuidLeaf(7, subleaf: 0).2 & 4 != 0)
}
