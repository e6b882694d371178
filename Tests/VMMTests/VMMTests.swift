import Machine
import Testing
import X86Core
import VMM

/// A machine with `code` at 0x100000 in flat 32-bit protected mode (the multiboot state).
func machine(_ code: [UInt8], privateMemory: Int = 0) throws -> PCMachine {
    let m = PCMachine(memorySize: 4 << 20, privateMemory: privateMemory)
    try MultibootLoader.loadFlat(code, at: 0x10_0000, entry: 0x10_0000, into: m.cpu)
    var st = m.cpu.state
    st[.esp] = 0x8000
    m.cpu.state = st
    return m
}

let limits = RunLimits(maxInstructions: 100_000)

// mov eax, cr0 / or eax, 0x10000 (WP) / mov cr0, eax / mov ebx, cr0 / mov ecx, cr3 /
// mov cr3, ecx / invlpg [0x1000] / hlt
let controlRegisterCode: [UInt8] = [
    0x0F, 0x20, 0xC0, 0x0D, 0x00, 0x00, 0x01, 0x00, 0x0F, 0x22, 0xC0, 0x0F, 0x20, 0xC3,
    0x0F, 0x20, 0xD9, 0x0F, 0x22, 0xD9, 0x0F, 0x01, 0x3D, 0x00, 0x10, 0x00, 0x00, 0xF4,
]

@Test func controlRegisterAccessesExitAndKeepTheGuestsValues() throws {
    let m = try machine(controlRegisterCode)
    let vmm = VMM(machine: m)
    #expect(vmm.run(limits) == .haltedWithInterruptsOff)
    // CR0 reads come from the read shadow (no exit); CR0 write, CR3 read, CR3 write exit.
    #expect(vmm.stats.count(of: .crAccess) == 3)
    #expect(vmm.stats.count(of: .invlpg) == 1)
    #expect(vmm.stats.count(of: .hlt) == 1)
    let st = m.cpu.state
    #expect(st[.ebx] & CR0.wp != 0)
    #expect(vmm.virtualCPU.cr0 == st[.ebx])
    #expect(st.eip == 0x10_0000 + UInt32(controlRegisterCode.count))
    #expect(st.instructions == 8)
}

@Test func theBareMachineRunsTheSameCodeToTheSameState() throws {
    let bare = try machine(controlRegisterCode)
    #expect(HardwareRunner(machine: bare).run(limits) == .haltedWithInterruptsOff)
    let guest = try machine(controlRegisterCode)
    #expect(VMM(machine: guest).run(limits) == .haltedWithInterruptsOff)
    var a = bare.cpu.state, b = guest.cpu.state
    // The halted flag is the CPU's own on bare hardware and the VMM's activity state under it.
    a.halted = false; b.halted = false
    #expect((0..<8).allSatisfy { a.regs[$0] == b.regs[$0] } && a.eip == b.eip && a.cr0 == b.cr0 && a.cr3 == b.cr3)
    #expect(bare.cpu.eflags == guest.cpu.eflags)
}

@Test func cpuidExitsAndAnswersLikeTheHardware() throws {
    // mov eax, 1 / cpuid / hlt
    let m = try machine([0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0xA2, 0xF4])
    let vmm = VMM(machine: m)
    #expect(vmm.run(limits) == .haltedWithInterruptsOff)
    #expect(vmm.stats.count(of: .cpuid) == 1)
    let (a, b, c, d) = m.cpu.cpuidLeaf(1, subleaf: 0)
    let st = m.cpu.state
    #expect(st[.eax] == a && st[.ebx] == b && st[.ecx] == c && st[.edx] == d)
}

@Test func thePolicyDecidesWhatExits() throws {
    // out 0x80, al ×2 / mov eax, 1 / cpuid / hlt
    let code: [UInt8] = [0xE6, 0x80, 0xE6, 0x80, 0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0xA2, 0xF4]
    var policy = ExitPolicy.default
    #expect(policy.apply("-io:0x80,-cpuid") == nil)
    let m = try machine(code)
    let vmm = VMM(machine: m, policy: policy)
    #expect(vmm.run(limits) == .haltedWithInterruptsOff)
    #expect(vmm.stats.count(of: .ioInstruction) == 0)
    #expect(vmm.stats.count(of: .cpuid) == 0)
    #expect(m.bus.unknownAccesses[0x80] == 2)
    let m2 = try machine(code)
    let vmm2 = VMM(machine: m2)
    #expect(vmm2.run(limits) == .haltedWithInterruptsOff)
    #expect(vmm2.stats.count(of: .ioInstruction) == 2)
    #expect(vmm2.stats.count(of: .cpuid) == 1)
}

@Test func policySpecErrorsAreReported() {
    var p = ExitPolicy.default
    #expect(p.apply("io") != nil)
    #expect(p.apply("+bogus") != nil)
    #expect(p.apply("+exception:32") != nil)
    #expect(p.apply("+io:0x10-0x8") != nil)
    #expect(p.apply("-io,+io:0x3f8-0x3ff,+rdtsc,+exception:14") == nil)
    #expect(p.ioPorts.contains(0x3F8) && p.ioPorts.contains(0x3FF) && !p.ioPorts.contains(0x80))
    #expect(p.rdtsc && p.exceptions == 1 << 14)
}

@Test func anUnknownMSRIsAGeneralProtectionFaultInjectedIntoTheGuest() throws {
    // mov ecx, 0x12345 / rdmsr — no IDT, so the injected #GP becomes a triple fault.
    let m = try machine([0xB9, 0x45, 0x23, 0x01, 0x00, 0x0F, 0x32, 0xF4])
    let vmm = VMM(machine: m)
    #expect(vmm.run(limits) == .tripleFault)
    #expect(vmm.stats.count(of: .rdmsr) == 1)
    #expect(vmm.stats.count(of: .tripleFault) == 1)
    #expect(m.cpu.exceptionChain.first?.vector == Vector.generalProtection)
}

@Test func aGuestThatLoopsForeverStopsAtTheLimit() throws {
    let m = try machine([0xEB, 0xFE])  // jmp $
    #expect(VMM(machine: m).run(RunLimits(maxInstructions: 12_345)) == .instructionLimit)
    #expect(m.cpu.state.instructions == 12_345)
}

/// `sti; hlt` with every 8259 input masked: the PIT keeps ticking (it runs from power-on as the
/// BIOS left it) but no interrupt can arrive, so the run ends as idle-forever, not as a hang.
@Test func haltWithEveryInterruptMaskedIsReported() throws {
    let code: [UInt8] = [0xB0, 0xFF, 0xE6, 0x21, 0xE6, 0xA1, 0xFB, 0xF4]  // mov al, 0xff / out 0x21 / out 0xa1 / sti / hlt
    let m = try machine(code)
    #expect(VMM(machine: m).run(limits) == .idleForever)
    #expect(m.clock.idleNanoseconds > 3_600_000_000_000, "over an hour of virtual time passed first")
    let b = try machine(code)
    #expect(HardwareRunner(machine: b).run(limits) == .idleForever)
}

/// `sti; hlt` on the machine as the BIOS left it: the PIT's IRQ0 arrives as vector 8 (the 8259's
/// BIOS base), and with no IDT that is a triple fault — as on QEMU.
@Test func theBIOSTimerWakesAHaltedGuest() throws {
    let m = try machine([0xFB, 0xF4])
    let vmm = VMM(machine: m)
    #expect(vmm.run(limits) == .tripleFault)
    #expect(vmm.stats.injectedEvents == 1)
    #expect(m.cpu.exceptionChain.first?.vector == 8)
}
