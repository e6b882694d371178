import Testing
import X86Core

/// System-register families: descriptor tables, CR0's status word, protection queries, control
/// and debug registers, MSRs, counters, caches and TLB, CPUID, HLT, RSM and the x87 state saves.
let systemChecks: [String: CrossCheck] = [
    "SLDT": storeCheck([Encoding("sldt eax", [0x0F, 0x00, 0xC0]),
                        Encoding("sldt word ptr [0x2000]", [0x0F, 0x00, 0x05, 0x00, 0x20, 0x00, 0x00], tag: "mem")],
                       what: "the LDTR selector") { UInt32($0.ldtr.selector) },
    "STR": storeCheck([Encoding("str eax", [0x0F, 0x00, 0xC8]),
                       Encoding("str word ptr [0x2000]", [0x0F, 0x00, 0x0D, 0x00, 0x20, 0x00, 0x00], tag: "mem")],
                      what: "the TR selector") { UInt32($0.tr.selector) },
    "SMSW": storeCheck([Encoding("smsw eax", [0x0F, 0x01, 0xE0]),
                        Encoding("smsw word ptr [0x2000]", [0x0F, 0x01, 0x25, 0x00, 0x20, 0x00, 0x00], tag: "mem")],
                       what: "CR0 bits 15:0") { $0.cr0 & 0xFFFF },
    "SGDT": storeCheck([Encoding("sgdt [0x2000]", [0x0F, 0x01, 0x05, 0x00, 0x20, 0x00, 0x00], tag: "table")],
                       what: "GDTR") { UInt32($0.gdtr.limit) ^ $0.gdtr.base },
    "SIDT": storeCheck([Encoding("sidt [0x2000]", [0x0F, 0x01, 0x0D, 0x00, 0x20, 0x00, 0x00], tag: "table")],
                       what: "IDTR") { UInt32($0.idtr.limit) ^ $0.idtr.base },

    "LLDT": privilegedCheck([Encoding("lldt ax", [0x0F, 0x00, 0xD0])], setup: Setup(regs: [.eax: 0])) { e, o in
        #expect(o.exit == .instructionLimit && o.after.ldtr.selector == 0, "\(e) at CPL 0: \(o.exit)")
    },
    "LTR": privilegedCheck([Encoding("ltr ax", [0x0F, 0x00, 0xD8])],
                           setup: Setup(regs: [.eax: UInt32(Rings.availableTSS)])) { e, o in
        #expect(o.exit == .instructionLimit && o.after.tr.selector == Rings.availableTSS, "\(e) at CPL 0: \(o.exit)")
    },
    "LGDT": privilegedCheck([Encoding("lgdt [0x2000]", [0x0F, 0x01, 0x15, 0x00, 0x20, 0x00, 0x00])], setup: tableImage),
    "LIDT": privilegedCheck([Encoding("lidt [0x2000]", [0x0F, 0x01, 0x1D, 0x00, 0x20, 0x00, 0x00])], setup: tableImage),
    "LMSW": privilegedCheck([Encoding("lmsw ax", [0x0F, 0x01, 0xF0])],
                            setup: Setup(regs: [.eax: CR0.pe | CR0.et])),
    "INVLPG": privilegedCheck([Encoding("invlpg byte ptr [0x2000]", [0x0F, 0x01, 0x3D, 0x00, 0x20, 0x00, 0x00])]),

    "LAR": queryCheck([Encoding("lar eax, ecx", [0x0F, 0x02, 0xC1]),
                       Encoding("lar eax, word ptr [0x2000]", [0x0F, 0x02, 0x05, 0x00, 0x20, 0x00, 0x00])],
                      result: 0x00C0_9300),  // the descriptor's second dword masked by 0x00F0FF00
    "LSL": queryCheck([Encoding("lsl eax, ecx", [0x0F, 0x03, 0xC1])], result: 0xFFFF_FFFF),
    "VERR": queryCheck([Encoding("verr ax", [0x0F, 0x00, 0xE0])], result: nil),
    "VERW": queryCheck([Encoding("verw ax", [0x0F, 0x00, 0xE8])], result: nil),

    "HLT": privilegedCheck([Encoding("hlt", [0xF4])]) { e, o in
        #expect(o.exit == .halted, "\(e) at CPL 0: \(o.exit)")
    },
    "CLTS": privilegedCheck([Encoding("clts", [0x0F, 0x06])]),
    "INVD": privilegedCheck([Encoding("invd", [0x0F, 0x08])]),
    "WBINVD": privilegedCheck([Encoding("wbinvd", [0x0F, 0x09])]),
    "MOV CRn": privilegedCheck([Encoding("mov eax, cr0", [0x0F, 0x20, 0xC0]), Encoding("mov cr0, eax", [0x0F, 0x22, 0xC0])],
                               setup: Setup(regs: [.eax: CR0.pe | CR0.et])),
    "MOV DRn": privilegedCheck([Encoding("mov eax, dr7", [0x0F, 0x21, 0xF8]), Encoding("mov dr7, eax", [0x0F, 0x23, 0xF8])],
                               setup: Setup(regs: [.eax: 0x400])),
    "RDMSR": privilegedCheck([Encoding("rdmsr", [0x0F, 0x32])], setup: Setup(regs: [.ecx: 0x10])),
    "WRMSR": privilegedCheck([Encoding("wrmsr", [0x0F, 0x30])], setup: Setup(regs: [.ecx: 0x174, .eax: 0x08, .edx: 0])),

    "RDTSC": {
        let e = [Encoding("rdtsc", [0x0F, 0x31])]
        var check = privilegedCheck(e, setup: Setup(cr4: CR4.tsd),
                                    claim: "with CR4.TSD = 1: #GP(0) at CPL 1 and 3, runs at CPL 0; with TSD = 0 it runs at CPL 3")
        let base = check.verify
        check = CrossCheck(encodings: e, claim: check.claim) { e in
            base(e)
            let o = execute(e.bytes, cpl: 3)
            #expect(o.exit == .instructionLimit && o.after[.eax] == UInt32(truncatingIfNeeded: o.cpu.timeStampCounter &- 1),
                    "\(e) at CPL 3 with TSD = 0: \(o.exit)")
        }
        return check
    }(),

    "RDPMC": {
        var check = privilegedCheck([Encoding("rdpmc", [0x0F, 0x33])],
                                    claim: "with CR4.PCE = 0: #GP(0) at CPL 1 and 3") { e, o in
            // No counter is implemented: every index is invalid, so CPL 0 faults too.
            #expect(o.exit == gp(), "\(e) at CPL 0 (no counters): \(o.exit)")
        }
        check.unverified = "runs at CPL 0, and at any CPL with CR4.PCE = 1: the interpreter has no performance counters (every RDPMC is #GP(0))"
        return check
    }(),

    "CPUID": noTrapCheck(
        [Encoding("cpuid", [0x0F, 0xA2])],
        claim: "leaves 0 and 1 give the same (host) values at CPL 0, 1 and 3",
        setup: { _, _ in Setup(regs: [.eax: 1]) },
        compare: { e, o in
            for cpl: UInt8 in [1, 3] {
                for r in [Register.eax, .ebx, .ecx, .edx] {
                    #expect(o[cpl]!.after[r] == o[0]!.after[r], "\(e) at CPL \(cpl): \(r)")
                }
            }
            #expect(o[0]!.after[.edx] != 0, "\(e): leaf 1 reports features")
        }),

    "RSM": CrossCheck(
        encodings: [Encoding("rsm", [0x0F, 0xAA])], claim: "#UD outside SMM at CPL 0, 1 and 3"
    ) { e in
        for cpl: UInt8 in [0, 1, 3] {
            let exit = execute(e.bytes, cpl: cpl).exit
            #expect(exit == ud, "\(e) at CPL \(cpl): \(exit)")
        }
    },

    "FNSTENV": fpuStateCheck(Encoding("fnstenv [0x2000]", [0xD9, 0x35, 0x00, 0x20, 0x00, 0x00]), csOffset: 16),
    "FNSAVE": fpuStateCheck(Encoding("fnsave [0x2000]", [0xDD, 0x35, 0x00, 0x20, 0x00, 0x00]), csOffset: 16),
    "FXSAVE": fpuStateCheck(Encoding("fxsave [0x2000]", [0x0F, 0xAE, 0x05, 0x00, 0x20, 0x00, 0x00]), csOffset: 12),
]

/// `[0x2000]` = the current GDTR (LGDT/LIDT load something valid at CPL 0).
let tableImage = Setup(memory: [(Rings.data, Setup.word(UInt16(8 * Rings.gdtEntries.count - 1)) + Setup.dword(Rings.gdt))])

/// SGDT/SIDT/SLDT/STR/SMSW: no trap at CPL 0, 1 or 3, and the value stored is the real register
/// (the same at every CPL: the VMM's tables show). With CR4.UMIP they #GP(0) at CPL 1 and 3.
func storeCheck(_ encodings: [Encoding], what: String, real: @escaping @Sendable (CPUState) -> UInt32) -> CrossCheck {
    CrossCheck(encodings: encodings,
               claim: "stores the real \(what) at CPL 0, 1 and 3 without a trap; #GP(0) at CPL 1 and 3 once CR4.UMIP = 1") { e in
        for cpl: UInt8 in [0, 1, 3] {
            let o = execute(e.bytes, cpl: cpl)
            #expect(o.exit == .instructionLimit, "\(e) at CPL \(cpl): \(o.exit)")
            let stored: UInt32
            switch e.tag {
            case "table": stored = UInt32(o.word(Rings.data)) ^ o.cpu.memory.read32(Rings.data + 2)
            case "mem": stored = UInt32(o.word(Rings.data))
            default: stored = o.after[.eax] & (what.hasPrefix("CR0") ? 0xFFFF : 0xFFFF_FFFF)
            }
            #expect(stored == real(o.before), "\(e) at CPL \(cpl): stored 0x\(String(stored, radix: 16))")
            let umip = execute(e.bytes, cpl: cpl, Setup(umip: true))
            #expect(umip.exit == (cpl == 0 ? .instructionLimit : gp()), "\(e) at CPL \(cpl) with UMIP: \(umip.exit)")
        }
    }
}

/// LAR/LSL/VERR/VERW of the DPL-0 data selector 0x10: ZF = 1 (and `result`) at CPL 0, ZF = 0
/// at CPL 1 and 3, never a fault.
func queryCheck(_ encodings: [Encoding], result: UInt32?) -> CrossCheck {
    noTrapCheck(encodings, claim: "a DPL-0 selector: ZF = 1 at CPL 0, ZF = 0 at CPL 1 and 3",
                setup: { _, _ in
                    Setup(regs: [.eax: UInt32(Rings.data0), .ecx: UInt32(Rings.data0)],
                          memory: [(Rings.data, Setup.word(Rings.data0))])
                },
                compare: { e, o in
                    #expect(o[0]!.zf, "\(e) at CPL 0: ZF = 0")
                    if let result { #expect(o[0]!.after[.eax] == result, "\(e) at CPL 0: EAX \(o[0]!.after[.eax])") }
                    for cpl: UInt8 in [1, 3] { #expect(!o[cpl]!.zf, "\(e) at CPL \(cpl): ZF = 1") }
                })
}

/// FNSTENV/FNSAVE/FXSAVE: no privilege check, and the FPU CS they store (that of the last x87
/// instruction, an FLDZ run just before) has RPL = CPL: a deprivileged kernel sees its ring.
func fpuStateCheck(_ e: Encoding, csOffset: UInt32) -> CrossCheck {
    CrossCheck(encodings: [e], claim: "no fault at CPL 0, 1 or 3; the stored FPU CS has RPL = CPL") { e in
        for cpl: UInt8 in [0, 1, 3] {
            let o = execute([0xD9, 0xEE] + e.bytes, cpl: cpl, Setup(instructions: 2))
            #expect(o.exit == .instructionLimit, "\(e) at CPL \(cpl): \(o.exit)")
            let stored = o.word(Rings.data + csOffset)
            #expect(stored == Rings.codeSelector(cpl), "\(e) at CPL \(cpl): stored FPU CS 0x\(String(stored, radix: 16))")
        }
    }
}
