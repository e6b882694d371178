import ELF
import Foundation
import Machine
import Testing
import VMM
import X86Core

/// `--virt=classic` on real guests: a guest that hits no hole harmfully runs as under VT-x, the
/// holes show the VMM (SGDT returns the shadow GDT's base), UMIP closes the store holes, and the
/// VMM's reserved area is refused, never corrupted.
@Suite struct ClassicTests {
    func machine(_ name: String, umip: Bool = false) throws -> (PCMachine, VMM, () -> [UInt8]) {
        let path = guestPath(name)
        guard FileManager.default.fileExists(atPath: path) else { throw NotBuilt() }
        let pool = 512
        let m = PCMachine(memorySize: 64 << 20, privateMemory: (pool + ClassicState.Layout.privatePages) * 4096)
        try MultibootLoader.load(try ELF32File(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))), into: m.cpu)
        var serial: [UInt8] = []
        m.serialOutput = { serial.append($0) }
        return (m, VMM(machine: m, mmu: .shadow(pages: pool), classic: true, umip: umip), { serial })
    }
    struct NotBuilt: Error {}

    @Test func demoRunsAsUnderVTx() throws {
        guard let (m, vmm, serial) = try? machine("demo") else { return }
        let stop = vmm.run(RunLimits(maxInstructions: 50_000_000))
        let hw = try runGuest("demo", virt: .hwShadow)
        #expect(stop == hw.stop)
        #expect(serial() == hw.serial)
        #expect(m.cpu.state.cpl == 1 || m.cpu.state.cpl == 3, "the guest kernel never runs at ring 0")
        #expect((vmm.classic?.traps["out"] ?? 0) > 0 && (vmm.classic?.traps["hlt"] ?? 0) > 0)
    }

    @Test func sgdtShowsTheShadowAndUMIPClosesIt() throws {
        for umip in [false, true] {
            guard let (m, vmm, serial) = try? machine("hole-sgdt", umip: umip) else { return }
            _ = vmm.run(RunLimits(maxInstructions: 50_000_000))
            let text = String(decoding: serial(), as: UTF8.self)
            // The guest prints what SGDT gave it: the VMM's table without UMIP, its own with it.
            #expect(text.contains("0xffc00000") == !umip, "umip \(umip):\n\(text)")
            _ = m
        }
    }

    @Test func theReservedAreaIsRefused() throws {
        guard let (m, vmm, _) = try? machine("hello") else { return }
        // A guest store into the top 4 MiB (paging off: linear = physical, the VMM's slot).
        let code: [UInt8] = [0xC7, 0x05, 0x00, 0x00, 0xC0, 0xFF, 0x78, 0x56, 0x34, 0x12, 0xEB, 0xFE]  // mov [0xffc00000], 0x12345678
        m.memory.load(bytes: code, at: 0x0020_0000)
        m.cpu.statePointer.pointee.eip = 0x0020_0000
        let gdtBefore = m.memory.read32(vmm.classicTablesBase + 0x1000)
        let stop = vmm.run(RunLimits(maxInstructions: 1000))
        guard case .notImplemented(_, let what) = stop else { Issue.record("stop \(stop)"); return }
        #expect(what.contains("cannot virtualize classically"))
        #expect(m.memory.read32(vmm.classicTablesBase + 0x1000) == gdtBefore)
    }
}

/// Binary translation: the holes trap and are emulated, so the guest cannot tell.
@Suite struct BinaryTranslationTests {
    @Test func holeGuestsRunAsUnderVTx() throws {
        for name in ["hole-sgdt", "hole-iret", "hole-segments", "demo"] {
            let path = guestPath(name)
            guard FileManager.default.fileExists(atPath: path) else { return }
            let pool = 512
            let m = PCMachine(memorySize: 64 << 20, privateMemory: (pool + ClassicState.Layout.privatePages) * 4096)
            try MultibootLoader.load(try ELF32File(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))), into: m.cpu)
            var serial: [UInt8] = []
            m.serialOutput = { serial.append($0) }
            let vmm = VMM(machine: m, mmu: .shadow(pages: pool), classic: true, binaryTranslation: true)
            let stop = vmm.run(RunLimits(maxInstructions: 50_000_000))
            let hw = try runGuest(name, virt: .hwShadow)
            #expect(stop == hw.stop, "\(name)")
            #expect(serial == hw.serial, "\(name)")
            let t = try #require(vmm.classic?.translator?.stats)
            #expect(t.blocksScanned > 0 && t.trapsTaken > 0 && t.holesPatched > 0, "\(name): \(t)")
        }
    }
}

extension BinaryTranslationTests {
    /// A guest that loads a GDT with ring-1 segments uses the ring its kernel is compressed to:
    /// refused with a clear message, not silently conflated.
    @Test func theMiddleRingsAreRefused() throws {
        let pool = 64
        let m = PCMachine(memorySize: 4 << 20, privateMemory: (pool + ClassicState.Layout.privatePages) * 4096)
        m.cpu.resetFlat(cpl: 0)
        m.memory.write32(0x0020_1008, 0x0000_FFFF); m.memory.write32(0x0020_100C, 0x00CF_BA00)  // DPL 1 code
        m.memory.write32(0x0020_2000, 0x1000_000F); m.memory.write32(0x0020_2004, 0x0000_0020)  // limit 15, base 0x201000
        m.memory.load(bytes: [0x0F, 0x01, 0x15, 0x00, 0x20, 0x20, 0x00, 0xEB, 0xFE], at: 0x0020_0000)  // lgdt [0x202000]; jmp $
        m.cpu.statePointer.pointee.eip = 0x0020_0000
        let vmm = VMM(machine: m, mmu: .shadow(pages: pool), classic: true, binaryTranslation: true)
        let stop = vmm.run(RunLimits(maxInstructions: 1000))
        guard case .notImplemented(_, let what) = stop else { Issue.record("stop \(stop)"); return }
        #expect(what.contains("cannot virtualize classically") && what.contains("ring 1"))
    }
}
