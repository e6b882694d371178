/// Every rule by which `x86v trace diff` lets two runs differ without calling it a divergence,
/// in one place, each with the section of the specification that allows the difference. A rule
/// is about what the architecture leaves open or what a reference machine is known to get
/// wrong — never about a guest or an address. The diff counts how often each rule applied and
/// prints the counts, so nothing is masked silently.
public struct DiffRule: Sendable, Hashable {
    public let id: String
    public let section: String
    public let summary: String
}

public enum DiffRules {
    /// The loader's choices at the kernel's entry.
    public static let entryState = DiffRule(
        id: "entry-state",
        section: "Multiboot Specification 0.6.96 §3.2 (Machine state)",
        summary: "At the entry point only EAX (the magic), EBX (the address of the loader's own info block: each loader puts it elsewhere, and fills it with its own view of memory), flat segments, CR0.PE=1/PG=0 and EFLAGS.IF=0/VM=0 are defined. Every other register, and every selector and EFLAGS bit the spec leaves open, is masked until the two runs agree on it (the x87/SSE state too: x86v starts from the power-on state, QEMU after its firmware's FNINIT); later, a register holding one such register's entry value on each side (a copy of the info block's address) is masked too, and so is what the guest reads from the info block.")

    /// Flags the SDM leaves undefined.
    public static let undefinedFlags = DiffRule(
        id: "undefined-flags",
        section: "Intel SDM Vol. 2, \"Flags Affected\" of each instruction (from x86v's opcode table)",
        summary: "A flag the previous instruction left undefined (AF after AND, OF after a multi-bit shift, all but CF/OF after MUL…) is masked until an instruction writes it with a defined value.")

    /// REP string instructions, iteration by iteration.
    public static let repIterations = DiffRule(
        id: "rep-iterations",
        section: "Intel SDM Vol. 2B, REP/REPE/REPZ/REPNE/REPNZ (an interruptible instruction resumes at the same EIP)",
        summary: "QEMU logs every iteration of a REP string instruction as a record at the same EIP; x86v records one step per run of iterations. Consecutive records at the same EIP of a REP string instruction (QEMU: the same EIP with ECX counting down) are one step; its state before the first iteration is compared.")

    /// CPUID reports the processor model.
    public static let modelIdentity = DiffRule(
        id: "cpuid-model",
        section: "Intel SDM Vol. 2A, CPUID (the values identify the processor model)",
        summary: "The registers CPUID wrote, EDX:EAX from RDMSR of a model-specific register (SDM Vol. 4), the local APIC version register (SDM Vol. 3A §11.4.8) and the I/O APIC version register (82093AA data sheet §3.2.2), are masked until the two runs agree on them: each machine reports its own CPU model.")

    /// The time-stamp counter.
    public static let timeStamp = DiffRule(
        id: "time-stamp",
        section: "Intel SDM Vol. 3B §18.17 (Time-Stamp Counter)",
        summary: "EDX:EAX after RDTSC (or RDMSR of IA32_TIME_STAMP_COUNTER, MSR 10h) are masked until the runs agree: the counter's value is each machine's time.")

    /// Timer values read from devices.
    public static let deviceTiming = DiffRule(
        id: "device-timing",
        section: "Intel 8254 PIT data sheet (counter latch and read-back, ports 40h–43h, 61h bit 5); Intel SDM Vol. 3A §11.5.4 (APIC timer current count)",
        summary: "A value read from a running timer (IN from ports 40h–43h or 61h, from the RTC/CMOS data port 71h, from the PICs' request and service registers at 20h/A0h; a read of the local APIC's current-count register) depends on each machine's clock; the registers it set are masked until the runs agree. A loop that polls such a value runs a different number of times on each machine: when one run leaves it and the other goes on, the one still looping is followed (as long as it runs only code both have run) to where the other is, and the registers that then differ (its counter) are masked the same way.")

    /// External interrupts arrive when the platform raises them.
    public static let interruptTiming = DiffRule(
        id: "interrupt-timing",
        section: "Intel SDM Vol. 3A §6.6 (interrupts are taken at an instruction boundary when the platform raises them)",
        summary: "Which instruction boundary an external interrupt lands on is each machine's timing. When one run takes an interrupt and the other has not yet, the other is followed until it takes the same vector; the handlers are compared from their first instruction, with the interrupted context's registers masked until equal; if the two return to different points, the runs are resynchronised at the first later instruction where EIP and every unmasked register agree (within 4,096 steps each).")

    /// QEMU TCG does not check data-segment limits and types.
    public static let qemuSegmentChecks = DiffRule(
        id: "qemu-no-segment-checks",
        section: "Intel SDM Vol. 3A §5.3 (limit checking), §5.4 (type checking), §6.15 (#GP, #SS); QEMU departure (../shared/ORACLES.md)",
        summary: "QEMU TCG performs no limit or type check on data accesses, so where x86v (as the SDM requires) raises #GP or #SS, QEMU goes on. x86v's handler is skipped: the runs are resynchronised at the first later instruction where EIP and every unmasked register agree (within 4,096 steps each); if they never agree, comparison ends there, reported under this rule.")

    /// QEMU TCG raises no #AC.
    public static let qemuAlignmentCheck = DiffRule(
        id: "qemu-no-alignment-check",
        section: "Intel SDM Vol. 3A §6.15 (Interrupt 17, #AC); QEMU departure (../shared/ORACLES.md)",
        summary: "QEMU TCG never raises #AC; handled as qemu-no-segment-checks.")

    /// QEMU TCG leaves a code segment's accessed bit clear when it loads CS.
    public static let qemuAccessedBit = DiffRule(
        id: "qemu-cs-accessed-bit",
        section: "Intel SDM Vol. 3A §3.4.5.1 (the processor sets a descriptor's accessed bit when it loads the selector); QEMU departure",
        summary: "QEMU TCG sets the accessed bit of data-segment descriptors it loads but not of the code-segment descriptor a far JMP, CALL, RET, IRET or interrupt loads into CS. A register holding the second dword of a present code-segment descriptor, read from memory, that differs only by that bit (x86v's set) is not a divergence.")

    /// QEMU's 16550 does not raise the modem-status delta bits in loopback.
    public static let qemuModemStatus = DiffRule(
        id: "qemu-uart-modem-status",
        section: "NS16550A data sheet, Modem Status Register bits 0–3 (DCTS, DDSR, TERI, DDCD) and loopback mode; QEMU departure",
        summary: "In loopback the modem-control outputs drive the modem-status inputs, and their changes set the delta bits (x86v); QEMU's UART reports the inputs without the deltas. The value IN reads from the MSR (COM1 3FEh, COM2 2FEh) is masked until the runs agree.")

    /// Accessed flags set by a walk that ends in a page fault.
    public static let accessedOnFault = DiffRule(
        id: "accessed-flag-on-fault",
        section: "Intel SDM Vol. 3A §4.8 (accessed flags) and §4.7 (a page fault may or may not leave accessed flags set in the entries walked: model-specific)",
        summary: "QEMU sets the accessed flag in the page-directory entry of a walk that ends in a protection-violation #PF; x86v, like Bochs, does not. A register holding a present paging-structure entry that differs only by that flag (QEMU's set) is not a divergence.")

    /// QEMU leaves EXT clear in the error code of an exception raised while delivering another.
    public static let qemuExtBit = DiffRule(
        id: "qemu-ext-bit",
        section: "Intel SDM Vol. 3A §6.13 (error code: EXT, bit 0, is set when the exception occurred during delivery of an external event or another exception); QEMU departure (../shared/ORACLES.md)",
        summary: "Where both runs deliver the same exception and the error codes differ only in EXT (x86v's set, as the SDM requires for a fault raised while delivering another event), the error code pushed on the stack is masked where the guest reads it back.")

    /// What QEMU's x87/SSE state is not trusted for (issue 16).
    public static let qemuFPUStatus = DiffRule(
        id: "qemu-fpu-status",
        section: "Intel SDM Vol. 1 §8.1.3 (x87 status word), §8.1.7 (tag word), §8.1.8–8.1.9 (FIP, FDP, FOP), §10.2.3 (MXCSR); QEMU departure (../shared/ORACLES.md; issue 16)",
        summary: "QEMU 7.2's x87 and SSE exception flags depart from hardware (it never sets the x87 denormal flag, detects no stack fault, leaves C1 clear on a rounded-up result…), its -d fpu dump has no FOP, FIP or FDP, an abridged tag word, and keeps FCW's reserved bits as loaded. Against QEMU the FPU comparison takes FCW bits 12:8 and 5:0, TOP, which registers are in use, the values of the registers both use, XMM0–7 and MXCSR bits 15:6 (DAZ, masks, rounding, FZ); a difference elsewhere (FSW flags, C0–C3, SF, ES, B, MXCSR flags, empty registers' contents) is counted here, never reported.")

    /// QEMU leaves an MMX register's exponent alone.
    public static let qemuMMXExponent = DiffRule(
        id: "qemu-mmx-exponent",
        section: "Intel SDM Vol. 1 §9.5.1 (an MMX instruction that writes MMn sets bits 79:64 of the x87 register to all ones); QEMU departure",
        summary: "After an MMX write x86v's R(n) has sign/exponent 0xFFFF as on hardware; QEMU writes only the 64-bit significand. Where x86v's register holds 0xFFFF there and the significands agree, the sign/exponent is not compared.")

    /// QEMU computes some results another way than hardware.
    public static let qemuFPUResults = DiffRule(
        id: "qemu-fpu-results",
        section: "Intel SDM Vol. 2 FSIN, FCOS, FSINCOS, FPTAN (results within 1 ulp of the exact value), RCPSS/RCPPS, RSQRTSS/RSQRTPS (|relative error| ≤ 1.5 × 2^-12); QEMU departure (issue 16)",
        summary: "QEMU 7.2 computes FSIN, FCOS, FSINCOS and FPTAN through the host's double-precision library (results off in the low bits of the 64-bit significand) and RCP/RSQRT exactly, where hardware gives a 12-bit approximation. An x87 or XMM register such an instruction wrote is masked until the two runs agree; what an x87/SSE instruction computes from a masked register is masked by the same rule (its registers, its stores, and the general registers and flags it sets: FNSTSW, FCOMI, COMISS, CVT…).")

    /// QEMU leaves OF, SF and AF alone in FCOMI and its kin.
    public static let qemuFcomiFlags = DiffRule(
        id: "qemu-fcomi-flags",
        section: "Intel SDM Vol. 2A FCOMI/FCOMIP/FUCOMI/FUCOMIP (ZF, PF, CF set by the comparison; OF, SF and AF cleared); QEMU departure",
        summary: "After FCOMI, FCOMIP, FUCOMI or FUCOMIP, x86v (as the host CPU) clears OF, SF and AF; QEMU 7.2 keeps them from before. Those three flags are masked until the runs agree on them (the next instruction that writes them).")

    /// QEMU pushes RF = 0 for faults.
    public static let qemuFaultRF = DiffRule(
        id: "qemu-fault-rf",
        section: "Intel SDM Vol. 3A §17.3.1.1 (for any fault-class exception except an instruction-breakpoint #DB, the EFLAGS image pushed has RF = 1; Bochs agrees); QEMU departure",
        summary: "Where both runs deliver the same fault, x86v's EFLAGS image on the stack (or in the old TSS) has RF set and QEMU's has not: those four bytes are masked where the guest reads them back, and after an IRET or POPF that reloads them, EFLAGS.RF until the two runs agree again (x86v clears it when the restarted instruction completes).")

    public static let all: [DiffRule] = [qemuFaultRF, qemuExtBit, accessedOnFault, entryState, undefinedFlags, repIterations, modelIdentity, timeStamp,
                                         deviceTiming, interruptTiming, qemuSegmentChecks, qemuAlignmentCheck, qemuAccessedBit,
                                         qemuModemStatus, qemuFPUStatus, qemuMMXExponent, qemuFPUResults, qemuFcomiFlags]
}
