// The Popek–Goldberg column of the opcode table: one value per instruction family, attached to
// its rows in OpcodeTable+OneByte/TwoByte/X87/SIMD.swift. A row with none is innocuous.
//
// The setting (see `PopekGoldberg`): a pre-VT VMM at ring 0 owning the real GDT/IDT/TR, CR0–CR4,
// the MSRs and EFLAGS.IF/IOPL; the guest kernel at ring 1 (ring compression: its DPL-0
// descriptors become DPL 1 in the VMM's shadow tables), its user code at ring 3; IOPL 0 and no
// I/O bitmap; CR4.TSD = 1, CR4.PCE = 0; an i686 (no UMIP, no CPUID faulting, no VME).
//
// Each claim below is checked against the interpreter by Tests/AuditTests (CPL 0 against 1 and
// 3). Where the honest answer depends on the configuration, `condition` says on what.

extension PopekGoldberg {
    // MARK: Segment registers (SDM Vol. 3A §3.4.2 selectors, §5.5 CPL = CS.RPL = SS.RPL)

    // R&I list PUSH for PUSH CS: only CS and SS carry the CPL. A data-segment selector is what
    // software loaded; under ring compression the guest keeps its own selectors (only the shadow
    // descriptors' DPL changes), so pushing one shows nothing of the VMM.
    static let pushDataSegment = PopekGoldberg(
        "PUSH ES/DS/FS/GS", .innocuous, [],
        reason: "pushes the selector software loaded: no CPL in it",
        sdm: "Vol. 2B PUSH", robinIrvine: true)

    static let pushCS = PopekGoldberg(
        "PUSH CS", .behaviourSensitive, [.mode], hole: true,
        reason: "pushes CS, whose RPL is the CPL: ring 1, not 0",
        sdm: "Vol. 2B PUSH; Vol. 3A §5.5", robinIrvine: true)

    static let pushSS = PopekGoldberg(
        "PUSH SS", .behaviourSensitive, [.mode], hole: true,
        reason: "pushes SS, whose RPL is the CPL: ring 1, not 0",
        sdm: "Vol. 2B PUSH; Vol. 3A §5.5, §5.7", robinIrvine: true)

    static let movFromSegment = PopekGoldberg(
        "MOV r/m, Sreg", .behaviourSensitive, [.mode], hole: true,
        condition: "the source is CS or SS",
        reason: "CS.RPL and SS.RPL are the CPL: ring 1, not 0",
        sdm: "Vol. 2B MOV; Vol. 3A §3.4.2, §5.5", robinIrvine: true)

    // Data-segment loads need DPL >= max(CPL, RPL) (Vol. 3A §5.6): a higher CPL only refuses
    // more, so every CPL-dependent outcome is a #GP the VMM receives. Sensitive, not a hole.
    static let popDataSegment = PopekGoldberg(
        "POP ES/DS/FS/GS", .controlSensitive, [.control, .mode],
        reason: "needs DPL >= max(CPL, RPL): where CPL > 0 matters it faults",
        sdm: "Vol. 2B POP; Vol. 3A §5.6", robinIrvine: true)

    static let loadFarPointer = PopekGoldberg(
        "LDS/LES/LFS/LGS", .controlSensitive, [.control, .mode],
        reason: "needs DPL >= max(CPL, RPL): where CPL > 0 matters it faults",
        sdm: "Vol. 2A LDS/LES/LFS/LGS/LSS; Vol. 3A §5.6")

    // SS needs RPL = DPL = CPL (Vol. 3A §5.7): equality cuts both ways. The guest kernel's
    // ring-0 stack selector faults at ring 1 (a trap the VMM emulates, leaving SS.RPL = 1 for
    // MOV r, SS and PUSH SS to see), but an RPL-1 selector of a DPL-1 segment loads at ring 1
    // where ring 0 would fault.
    static let popSS = PopekGoldberg(
        "POP SS", .controlSensitive, [.control, .mode], hole: true,
        reason: "SS needs RPL = DPL = CPL: a ring-1 SS loads where ring 0 faults",
        sdm: "Vol. 2B POP; Vol. 3A §5.7", robinIrvine: true)

    static let movToSegment = PopekGoldberg(
        "MOV Sreg, r/m", .controlSensitive, [.control, .mode], hole: true,
        condition: "MOV SS (DS/ES/FS/GS: as POP, no hole)",
        reason: "SS needs RPL = DPL = CPL: a ring-1 SS loads where ring 0 faults",
        sdm: "Vol. 2B MOV; Vol. 3A §5.6, §5.7", robinIrvine: true)

    static let lss = PopekGoldberg(
        "LSS", .controlSensitive, [.control, .mode], hole: true,
        reason: "SS needs RPL = DPL = CPL: a ring-1 SS loads where ring 0 faults",
        sdm: "Vol. 2A LDS/LES/LFS/LGS/LSS; Vol. 3A §5.7")

    static let arpl = PopekGoldberg(
        "ARPL", .innocuous, [],
        reason: "result depends only on its operands (CPL is not read)",
        sdm: "Vol. 2A ARPL; Vol. 3A §5.10.4")

    // MARK: Far transfers (SDM Vol. 3A §5.8, §6.12)

    // A direct far CALL/JMP to a conforming segment (or to DPL = CPL) succeeds at ring 1 and
    // loads CS with RPL = CPL; the guest's jump to its own (shadow DPL-1) code works and leaves
    // CS = sel | 1. Through a call gate the gate's DPL is compared with CPL.
    static let farCall = PopekGoldberg(
        "CALL far", .controlSensitive, [.control, .mode], hole: true,
        reason: "checks DPL/RPL against CPL, no trap; the new CS.RPL is the CPL",
        sdm: "Vol. 2A CALL; Vol. 3A §5.8.1-§5.8.5", robinIrvine: true)

    static let farJump = PopekGoldberg(
        "JMP far", .controlSensitive, [.control, .mode], hole: true,
        reason: "checks DPL/RPL against CPL, no trap; the new CS.RPL is the CPL",
        sdm: "Vol. 2A JMP; Vol. 3A §5.8.1-§5.8.4", robinIrvine: true)

    // A return to an RPL-n frame is a same-level return at CPL n but an outer one at CPL 0, which
    // also pops SS:ESP (and nulls data segments the new CPL may not use).
    static let farReturn = PopekGoldberg(
        "RET far", .controlSensitive, [.control, .mode], hole: true,
        reason: "to RPL 1: same-level at CPL 1, outer (pops SS:ESP) at CPL 0",
        sdm: "Vol. 2B RET; Vol. 3A §5.8.6", robinIrvine: true)

    // The VMM owns the IDT, so it decides where INT n goes. Ring compression sends the gates
    // straight to the guest's handlers at ring 1: the frame they find holds CS with RPL = CPL and
    // the real EFLAGS, and no trap happened. A VMM whose gates all enter ring 0 sees every one.
    // INT n, INT3 and INTO check the gate's DPL against CPL (#GP if lower); INT1 does not.
    static let softwareInterrupt = PopekGoldberg(
        "INT n/INT3/INTO/INT1", .controlSensitive, [.control, .mode, .location], hole: true,
        condition: "the VMM's gate enters guest code (ring compression)",
        reason: "gate DPL vs CPL; the frame holds CS.RPL = CPL and the real EFLAGS",
        sdm: "Vol. 2A INT n/INTO/INT3/INT1; Vol. 3A §6.12.1", robinIrvine: true)

    // The MSRs are the VMM's (WRMSR is privileged), so SYSENTER always enters the VMM's ring 0.
    static let sysenter = PopekGoldberg(
        "SYSENTER", .controlSensitive, [.control],
        reason: "always enters CPL 0 at the MSRs' CS:EIP, which only the VMM sets",
        sdm: "Vol. 2B SYSENTER; Vol. 3A §5.8.7")

    static let sysexit = PopekGoldberg(
        "SYSEXIT", .privileged, [.control], trap: .gp,
        reason: "loads CPL 3 from the MSRs", sdm: "Vol. 2B SYSEXIT; Vol. 3A §5.8.7")

    // MARK: EFLAGS (SDM Vol. 1 §3.4.3; IF and IOPL are the VMM's)

    static let pushf = PopekGoldberg(
        "PUSHF/PUSHFD", .behaviourSensitive, [.location], hole: true,
        condition: "the real IF/IOPL differ from the guest's",
        reason: "pushes the real EFLAGS: IF and IOPL as the VMM set them",
        sdm: "Vol. 2B PUSHF; Vol. 1 §3.4.3", robinIrvine: true)

    static let popf = PopekGoldberg(
        "POPF/POPFD", .controlSensitive, [.control, .mode], hole: true,
        reason: "IOPL change dropped at CPL > 0, IF change at CPL > IOPL: silently",
        sdm: "Vol. 2B POPF; Vol. 1 §3.4.3", robinIrvine: true)

    static let iret = PopekGoldberg(
        "IRET/IRETD", .controlSensitive, [.control, .mode], hole: true,
        reason: "restores EFLAGS by POPF's rules: IOPL/IF changes dropped silently",
        sdm: "Vol. 2A IRET; Vol. 3A §6.12.1")

    static let cli = PopekGoldberg(
        "CLI", .privileged, [.control], trap: .gp, condition: "CPL > IOPL",
        reason: "clears the real IF; the guest kernel runs at ring 1 with IOPL 0",
        sdm: "Vol. 2A CLI; Vol. 3A §6.8.1")

    static let sti = PopekGoldberg(
        "STI", .privileged, [.control], trap: .gp, condition: "CPL > IOPL",
        reason: "sets the real IF; the guest kernel runs at ring 1 with IOPL 0",
        sdm: "Vol. 2B STI; Vol. 3A §6.8.1")

    // MARK: Port I/O (SDM Vol. 1 §19.5: IOPL, then the TSS I/O permission bitmap)

    private static let ioCondition = "CPL > IOPL (and the TSS I/O bitmap denies the port)"

    static let portIn = PopekGoldberg(
        "IN", .privileged, [.control, .location], trap: .gp, condition: ioCondition,
        reason: "reads a device; IOPL 0 and no bitmap: every port traps",
        sdm: "Vol. 2A IN; Vol. 1 §19.5")

    static let portOut = PopekGoldberg(
        "OUT", .privileged, [.control, .location], trap: .gp, condition: ioCondition,
        reason: "writes a device; IOPL 0 and no bitmap: every port traps",
        sdm: "Vol. 2B OUT; Vol. 1 §19.5")

    static let stringIn = PopekGoldberg(
        "INS", .privileged, [.control, .location], trap: .gp, condition: ioCondition,
        reason: "reads a device; IOPL 0 and no bitmap: every port traps",
        sdm: "Vol. 2A INS/INSB/INSW/INSD; Vol. 1 §19.5")

    static let stringOut = PopekGoldberg(
        "OUTS", .privileged, [.control, .location], trap: .gp, condition: ioCondition,
        reason: "writes a device; IOPL 0 and no bitmap: every port traps",
        sdm: "Vol. 2B OUTS/OUTSB/OUTSW/OUTSD; Vol. 1 §19.5")

    // MARK: Descriptor-table registers and CR0 (SDM Vol. 3A §2.8, Table 2-3)

    // Stores of the real registers, the same at every CPL: the VMM's tables show. UMIP (CR4
    // bit 11, CPUs since 2017, `CPU.umipSupported`) makes them #GP(0) at CPL > 0.
    private static let noUMIP = "CR4.UMIP = 0 (no UMIP on an i686)"

    static let sgdt = PopekGoldberg(
        "SGDT", .behaviourSensitive, [.location], hole: true, condition: noUMIP,
        reason: "stores the real GDTR: the VMM's table", sdm: "Vol. 2B SGDT; Vol. 3A §2.8",
        robinIrvine: true)

    static let sidt = PopekGoldberg(
        "SIDT", .behaviourSensitive, [.location], hole: true, condition: noUMIP,
        reason: "stores the real IDTR: the VMM's table", sdm: "Vol. 2B SIDT; Vol. 3A §2.8",
        robinIrvine: true)

    static let sldt = PopekGoldberg(
        "SLDT", .behaviourSensitive, [.location], hole: true, condition: noUMIP,
        reason: "stores the real LDTR selector", sdm: "Vol. 2B SLDT; Vol. 3A §2.8",
        robinIrvine: true)

    static let str = PopekGoldberg(
        "STR", .behaviourSensitive, [.location], hole: true, condition: noUMIP,
        reason: "stores the real TR selector: the VMM's TSS", sdm: "Vol. 2B STR; Vol. 3A §2.8",
        robinIrvine: true)

    static let smsw = PopekGoldberg(
        "SMSW", .behaviourSensitive, [.location], hole: true, condition: noUMIP,
        reason: "stores the real CR0 bits 15:0 (PE MP EM TS ET NE)", sdm: "Vol. 2B SMSW; Vol. 3A §2.8",
        robinIrvine: true)

    static let lgdt = PopekGoldberg(
        "LGDT", .privileged, [.control], trap: .gp,
        reason: "loads GDTR", sdm: "Vol. 2A LGDT/LIDT; Vol. 3A §5.9")

    static let lidt = PopekGoldberg(
        "LIDT", .privileged, [.control], trap: .gp,
        reason: "loads IDTR", sdm: "Vol. 2A LGDT/LIDT; Vol. 3A §5.9")

    static let lldt = PopekGoldberg(
        "LLDT", .privileged, [.control], trap: .gp,
        reason: "loads LDTR", sdm: "Vol. 2A LLDT; Vol. 3A §5.9")

    static let ltr = PopekGoldberg(
        "LTR", .privileged, [.control], trap: .gp,
        reason: "loads TR (and marks the TSS busy)", sdm: "Vol. 2A LTR; Vol. 3A §5.9")

    static let lmsw = PopekGoldberg(
        "LMSW", .privileged, [.control], trap: .gp,
        reason: "writes CR0 PE/MP/EM/TS", sdm: "Vol. 2A LMSW; Vol. 3A §5.9")

    // MARK: Protection queries (SDM Vol. 3A §5.10): no fault, the answer depends on CPL

    static let lar = PopekGoldberg(
        "LAR", .behaviourSensitive, [.mode], hole: true,
        reason: "DPL checked against CPL: a DPL-0 selector gives ZF=0 at CPL > 0",
        sdm: "Vol. 2A LAR; Vol. 3A §5.10.1", robinIrvine: true)

    static let lsl = PopekGoldberg(
        "LSL", .behaviourSensitive, [.mode], hole: true,
        reason: "DPL checked against CPL: a DPL-0 selector gives ZF=0 at CPL > 0",
        sdm: "Vol. 2A LSL; Vol. 3A §5.10.3", robinIrvine: true)

    static let verr = PopekGoldberg(
        "VERR", .behaviourSensitive, [.mode], hole: true,
        reason: "DPL checked against CPL: a DPL-0 segment gives ZF=0 at CPL > 0",
        sdm: "Vol. 2C VERR/VERW; Vol. 3A §5.10.2", robinIrvine: true)

    static let verw = PopekGoldberg(
        "VERW", .behaviourSensitive, [.mode], hole: true,
        reason: "DPL checked against CPL: a DPL-0 segment gives ZF=0 at CPL > 0",
        sdm: "Vol. 2C VERR/VERW; Vol. 3A §5.10.2", robinIrvine: true)

    // MARK: Control, debug and model-specific registers, caches, TLB (SDM Vol. 3A §5.9)

    static let hlt = PopekGoldberg(
        "HLT", .privileged, [.control], trap: .gp,
        reason: "stops the processor", sdm: "Vol. 2A HLT; Vol. 3A §5.9")

    static let clts = PopekGoldberg(
        "CLTS", .privileged, [.control], trap: .gp,
        reason: "clears CR0.TS", sdm: "Vol. 2A CLTS; Vol. 3A §5.9")

    static let invd = PopekGoldberg(
        "INVD", .privileged, [.control], trap: .gp,
        reason: "drops the caches without writing them back", sdm: "Vol. 2A INVD; Vol. 3A §5.9")

    static let wbinvd = PopekGoldberg(
        "WBINVD", .privileged, [.control], trap: .gp,
        reason: "writes back and drops the caches", sdm: "Vol. 2C WBINVD; Vol. 3A §5.9")

    static let invlpg = PopekGoldberg(
        "INVLPG", .privileged, [.control], trap: .gp,
        reason: "drops a TLB entry", sdm: "Vol. 2A INVLPG; Vol. 3A §5.9")

    static let movControl = PopekGoldberg(
        "MOV CRn", .privileged, [.control, .location], trap: .gp,
        reason: "reads or writes CR0/CR2/CR3/CR4", sdm: "Vol. 2B MOV (control registers); Vol. 3A §5.9")

    static let movDebug = PopekGoldberg(
        "MOV DRn", .privileged, [.control, .location], trap: .gp,
        reason: "reads or writes DR0-DR7", sdm: "Vol. 2B MOV (debug registers); Vol. 3A §5.9")

    static let rdmsr = PopekGoldberg(
        "RDMSR", .privileged, [.location], trap: .gp,
        reason: "reads a model-specific register", sdm: "Vol. 2B RDMSR; Vol. 3A §5.9")

    static let wrmsr = PopekGoldberg(
        "WRMSR", .privileged, [.control], trap: .gp,
        reason: "writes a model-specific register", sdm: "Vol. 2C WRMSR; Vol. 3A §5.9")

    // With CR4.TSD = 0 RDTSC runs at any CPL and reads the host's clock: a hole. The VMM sets TSD.
    static let rdtsc = PopekGoldberg(
        "RDTSC", .privileged, [.location], trap: .gp,
        condition: "CR4.TSD = 1 (clear: runs at any CPL, a hole)",
        reason: "reads the real time-stamp counter", sdm: "Vol. 2B RDTSC; Vol. 3A §2.5, §5.9")

    static let rdpmc = PopekGoldberg(
        "RDPMC", .privileged, [.location], trap: .gp,
        condition: "CR4.PCE = 0 (set: runs at any CPL, a hole)",
        reason: "reads the real performance counters", sdm: "Vol. 2B RDPMC; Vol. 3A §2.5, §5.9")

    // Before CPUID faulting (Ivy Bridge's MSR 0x140, and VT-x's CPUID exiting) nothing stops it.
    static let cpuid = PopekGoldberg(
        "CPUID", .behaviourSensitive, [.location], hole: true,
        condition: "no CPUID faulting (none on pre-VT CPUs)",
        reason: "reports the host processor, not the virtual one", sdm: "Vol. 2A CPUID")

    static let rsm = PopekGoldberg(
        "RSM", .privileged, [.control], trap: .ud,
        condition: "outside SMM (always here): #UD at every CPL",
        reason: "leaves SMM, reloading the whole processor state", sdm: "Vol. 2B RSM")

    // MARK: x87 state images (SDM Vol. 1 §8.1.8)

    // The saved FPU instruction pointer includes the CS selector of the last x87 instruction, RPL
    // and all. CPUs with CPUID.(EAX=07H,ECX=0):EBX[13] = 1 store 0 there; an i686 does not.
    private static let fcsCondition = "FPU CS saved (CPUID.07H:EBX[13] = 0, every i686)"
    private static let fcsReason = "the saved FPU CS selector has RPL = CPL"

    static let fnstenv = PopekGoldberg(
        "FNSTENV", .behaviourSensitive, [.mode], hole: true, condition: fcsCondition,
        reason: fcsReason, sdm: "Vol. 2A FSTENV/FNSTENV; Vol. 1 §8.1.8")

    static let fnsave = PopekGoldberg(
        "FNSAVE", .behaviourSensitive, [.mode], hole: true, condition: fcsCondition,
        reason: fcsReason, sdm: "Vol. 2A FSAVE/FNSAVE; Vol. 1 §8.1.8")

    static let fxsave = PopekGoldberg(
        "FXSAVE", .behaviourSensitive, [.mode], hole: true, condition: fcsCondition,
        reason: fcsReason, sdm: "Vol. 2A FXSAVE; Vol. 1 §8.1.8")
}
