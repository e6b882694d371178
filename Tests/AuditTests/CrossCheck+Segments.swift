import Testing
import X86Core

/// Segment-register families: pushes, pops, MOV in both directions, the far-pointer loads, ARPL.
let segmentChecks: [String: CrossCheck] = [
    "PUSH ES/DS/FS/GS": noTrapCheck(
        [Encoding("push es", [0x06]), Encoding("push ds", [0x1E]),
         Encoding("push fs", [0x0F, 0xA0]), Encoding("push gs", [0x0F, 0xA8])],
        claim: "the same loaded selector (0x33) is pushed at CPL 0, 1 and 3",
        setup: { _, _ in
            // A DPL-3 data segment can be loaded at every CPL.
            Setup(configure: { cpu in
                for seg in [SegmentRegister.es, .ds, .fs, .gs] {
                    cpu.statePointer.pointee[seg] = Rings.cache(Rings.dataSelector(3))
                }
            })
        },
        compare: { e, o in
            for cpl: UInt8 in [0, 1, 3] {
                #expect(o[cpl]!.top & 0xFFFF == UInt32(Rings.dataSelector(3)), "\(e) at CPL \(cpl): pushed \(o[cpl]!.top)")
            }
        }),

    "POP ES/DS/FS/GS": CrossCheck(
        encodings: [Encoding("pop es", [0x07], tag: "es"), Encoding("pop ds", [0x1F], tag: "ds"),
                    Encoding("pop fs", [0x0F, 0xA1], tag: "fs"), Encoding("pop gs", [0x0F, 0xA9], tag: "gs")],
        claim: "a DPL-0 selector loads at CPL 0 and faults #GP(sel) at CPL 1 and 3; a DPL-3 one loads the same everywhere"
    ) { e in dataSegmentLoad(e) { Setup(stack: [UInt32($0)]) } },

    "PUSH CS": noTrapCheck([Encoding("push cs", [0x0E])], claim: "the pushed CS has RPL = CPL",
                           setup: { _, _ in Setup() },
                           compare: { e, o in rplIsCPL(e, o) { $0.top } }),

    "PUSH SS": noTrapCheck([Encoding("push ss", [0x16])], claim: "the pushed SS has RPL = CPL",
                           setup: { _, _ in Setup() },
                           compare: { e, o in rplIsCPL(e, o) { $0.top } }),

    "POP SS": CrossCheck(
        encodings: [Encoding("pop ss", [0x17])],
        claim: "SS of DPL = RPL = n loads at CPL n (1, 3) and faults at CPL 0; the ring-0 SS faults at CPL 1 and 3"
    ) { e in stackSegmentLoad(e) { Setup(stack: [UInt32($0), 0x7800]) } },

    "MOV r/m, Sreg": noTrapCheck(
        [Encoding("mov eax, cs", [0x8C, 0xC8]), Encoding("mov eax, ss", [0x8C, 0xD0]),
         Encoding("mov word ptr [0x2000], cs", [0x8C, 0x0D, 0x00, 0x20, 0x00, 0x00], tag: "mem")],
        claim: "MOV from CS or SS gives RPL = CPL",
        setup: { _, _ in Setup() },
        compare: { e, o in
            rplIsCPL(e, o) { e.tag == "mem" ? UInt32($0.word(Rings.data)) : $0.after[.eax] }
        }),

    "MOV Sreg, r/m": CrossCheck(
        encodings: [Encoding("mov ss, eax", [0x8E, 0xD0], tag: "ss"),
                    Encoding("mov ss, word ptr [0x2000]", [0x8E, 0x15, 0x00, 0x20, 0x00, 0x00], tag: "ss"),
                    Encoding("mov ds, eax", [0x8E, 0xD8], tag: "ds"),
                    Encoding("mov ds, word ptr [0x2000]", [0x8E, 0x1D, 0x00, 0x20, 0x00, 0x00], tag: "ds")],
        claim: "MOV SS as POP SS (a ring-n SS loads at CPL n, faults at CPL 0); MOV DS as POP DS (no hole)"
    ) { e in
        let setup = { (sel: UInt16) in Setup(regs: [.eax: UInt32(sel)], memory: [(Rings.data, Setup.word(sel))]) }
        if e.tag == "ss" { stackSegmentLoad(e, setup) } else { dataSegmentLoad(e, setup) }
    },

    "LSS": CrossCheck(
        encodings: [Encoding("lss esp, fword ptr [0x2000]", [0x0F, 0xB2, 0x25, 0x00, 0x20, 0x00, 0x00])],
        claim: "as POP SS"
    ) { e in
        stackSegmentLoad(e) { Setup(memory: [(Rings.data, Setup.dword(0x7800) + Setup.word($0))]) }
    },

    "LDS/LES/LFS/LGS": CrossCheck(
        encodings: [Encoding("les eax, fword ptr [0x2000]", [0xC4, 0x05, 0x00, 0x20, 0x00, 0x00], tag: "es"),
                    Encoding("lds eax, fword ptr [0x2000]", [0xC5, 0x05, 0x00, 0x20, 0x00, 0x00], tag: "ds"),
                    Encoding("lfs eax, fword ptr [0x2000]", [0x0F, 0xB4, 0x05, 0x00, 0x20, 0x00, 0x00], tag: "fs"),
                    Encoding("lgs eax, fword ptr [0x2000]", [0x0F, 0xB5, 0x05, 0x00, 0x20, 0x00, 0x00], tag: "gs")],
        claim: "as POP DS: a DPL-0 selector faults at CPL 1 and 3, a DPL-3 one loads the same everywhere"
    ) { e in
        dataSegmentLoad(e) { Setup(memory: [(Rings.data, Setup.dword(0x1234) + Setup.word($0))]) }
    },

    "ARPL": noTrapCheck(
        [Encoding("arpl ax, cx", [0x63, 0xC8]),
         Encoding("arpl word ptr [0x2000], cx", [0x63, 0x0D, 0x00, 0x20, 0x00, 0x00], tag: "mem")],
        claim: "RPL 0 raised to 3, ZF = 1, at every CPL",
        setup: { _, _ in Setup(regs: [.eax: 0x10, .ecx: 0x2B], memory: [(Rings.data, Setup.word(0x10))]) },
        compare: { e, o in
            for cpl: UInt8 in [0, 1, 3] {
                let r = o[cpl]!
                let v = e.tag == "mem" ? r.word(Rings.data) : UInt16(truncatingIfNeeded: r.after[.eax])
                #expect(v == 0x13 && r.zf, "\(e) at CPL \(cpl): 0x\(String(v, radix: 16)), ZF \(r.zf)")
            }
        }),
]

let segmentNames: [String: SegmentRegister] = ["es": .es, "ds": .ds, "fs": .fs, "gs": .gs, "ss": .ss]

/// The value a check reads has RPL = CPL at CPL 0, 1 and 3 (so CPL 1 differs from CPL 0).
func rplIsCPL(_ e: Encoding, _ o: [UInt8: Outcome], _ value: (Outcome) -> UInt32) {
    for cpl: UInt8 in [0, 1, 3] {
        let v = value(o[cpl]!)
        #expect(v & 3 == UInt32(cpl), "\(e) at CPL \(cpl): 0x\(String(v, radix: 16)) has RPL \(v & 3)")
    }
    #expect(value(o[1]!) & 3 != value(o[0]!) & 3, "\(e): CPL 1 looks like CPL 0")
}

/// DS/ES/FS/GS loads: DPL >= max(CPL, RPL). A DPL-0 selector loads at CPL 0 and faults
/// #GP(selector) at CPL 1 and 3 (the VMM sees it); a DPL-3 selector loads alike everywhere.
func dataSegmentLoad(_ e: Encoding, _ setup: (UInt16) -> Setup) {
    let seg = segmentNames[e.tag]!
    let ring0 = execute(e.bytes, cpl: 0, setup(Rings.data0))
    #expect(ring0.exit == .instructionLimit && ring0.after[seg].selector == Rings.data0, "\(e) DPL 0 at CPL 0: \(ring0.exit)")
    for cpl: UInt8 in [1, 3] {
        let o = execute(e.bytes, cpl: cpl, setup(Rings.data0))
        #expect(o.exit == gp(UInt32(Rings.data0)), "\(e) DPL 0 at CPL \(cpl): \(o.exit)")
    }
    for cpl: UInt8 in [0, 1, 3] {
        let o = execute(e.bytes, cpl: cpl, setup(Rings.dataSelector(3)))
        #expect(o.exit == .instructionLimit && o.after[seg].selector == Rings.dataSelector(3),
                "\(e) DPL 3 at CPL \(cpl): \(o.exit)")
    }
}

/// SS loads: RPL = DPL = CPL. At CPL n (1, 3) the ring-n selector loads without a trap where
/// CPL 0 faults on it (the hole); the ring-0 selector faults at CPL 1 and 3 (the trap).
func stackSegmentLoad(_ e: Encoding, _ setup: (UInt16) -> Setup) {
    for cpl: UInt8 in [1, 3] {
        let sel = Rings.dataSelector(cpl)
        let here = execute(e.bytes, cpl: cpl, setup(sel))
        #expect(here.exit == .instructionLimit && here.after[.ss].selector == sel, "\(e) ring-\(cpl) SS at CPL \(cpl): \(here.exit)")
        let ring0 = execute(e.bytes, cpl: 0, setup(sel))
        #expect(ring0.exit == gp(UInt32(sel & 0xFFFC)), "\(e) ring-\(cpl) SS at CPL 0: \(ring0.exit)")
        let kernelStack = execute(e.bytes, cpl: cpl, setup(Rings.data0))
        #expect(kernelStack.exit == gp(UInt32(Rings.data0)), "\(e) ring-0 SS at CPL \(cpl): \(kernelStack.exit)")
    }
    let ring0 = execute(e.bytes, cpl: 0, setup(Rings.data0))
    #expect(ring0.exit == .instructionLimit && ring0.after[.ss].selector == Rings.data0, "\(e) ring-0 SS at CPL 0: \(ring0.exit)")
}
