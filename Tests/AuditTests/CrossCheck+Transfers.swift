import Testing
import X86Core

/// Far transfers, software interrupts, SYSENTER/SYSEXIT, EFLAGS, CLI/STI and port I/O.
let transferChecks: [String: CrossCheck] = [
    "CALL far": noTrapCheck(
        [Encoding("call 0x40:0x1100", [0x9A, 0x00, 0x11, 0x00, 0x00, 0x40, 0x00]),
         Encoding("call fword ptr [0x2000]", [0xFF, 0x1D, 0x00, 0x20, 0x00, 0x00])],
        claim: "a call to a conforming DPL-0 segment runs at every CPL and loads CS.RPL = CPL",
        setup: { _, _ in farPointer },
        compare: { e, o in
            conformingTarget(e, o)
            rplIsCPL(e, o) { $0.stack(1) }  // the pushed return CS
        }),

    "JMP far": noTrapCheck(
        [Encoding("jmp 0x40:0x1100", [0xEA, 0x00, 0x11, 0x00, 0x00, 0x40, 0x00]),
         Encoding("jmp fword ptr [0x2000]", [0xFF, 0x2D, 0x00, 0x20, 0x00, 0x00])],
        claim: "a jump to a conforming DPL-0 segment runs at every CPL and loads CS.RPL = CPL",
        setup: { _, _ in farPointer },
        compare: { e, o in conformingTarget(e, o) }),

    "RET far": CrossCheck(
        encodings: [Encoding("retf", [0xCB]), Encoding("retf 8", [0xCA, 0x08, 0x00], tag: "8")],
        claim: "to an RPL-n frame: same-level at CPL n (SS:ESP stay), outer at CPL 0 (SS:ESP popped)"
    ) { e in
        let release: UInt32 = e.tag == "8" ? 8 : 0
        for cpl: UInt8 in [1, 3] {
            var frame = [0x1100, UInt32(Rings.codeSelector(cpl))]
            if release > 0 { frame += [0xAAAA, 0xBBBB] }
            frame += [0x7800, UInt32(Rings.dataSelector(cpl))]
            let here = execute(e.bytes, cpl: cpl, Setup(stack: frame))
            #expect(here.exit == .instructionLimit && here.after.cpl == cpl && here.after.eip == 0x1100, "\(e) at CPL \(cpl): \(here.exit)")
            #expect(here.after[.esp] == here.before[.esp] + 8 + release, "\(e) at CPL \(cpl): same-level, ESP \(here.after[.esp])")
            let ring0 = execute(e.bytes, cpl: 0, Setup(stack: frame))
            #expect(ring0.exit == .instructionLimit && ring0.after.cpl == cpl, "\(e) at CPL 0: \(ring0.exit)")
            #expect(ring0.after[.esp] == 0x7800 + release && ring0.after[.ss].selector == Rings.dataSelector(cpl),
                    "\(e) at CPL 0: an outer return pops SS:ESP, ESP \(ring0.after[.esp])")
        }
    },

    "INT n/INT3/INTO/INT1": CrossCheck(
        encodings: [Encoding("int3", [0xCC]), Encoding("int 0x80", [0xCD, 0x80]),
                    Encoding("int 0x81", [0xCD, 0x81], tag: "dpl0"), Encoding("into", [0xCE]),
                    Encoding("int1", [0xF1])],
        claim: "through a DPL-3 gate: no fault at any CPL; the frame's CS has RPL = CPL and EFLAGS is the real one; a DPL-0 gate faults at CPL 1 and 3"
    ) { e in
        let setup = Setup(eflags: EFLAGS.if | EFLAGS.of, deliver: [1, 3, 4])
        if e.tag == "dpl0" {
            for cpl: UInt8 in [1, 3] {
                let o = execute(e.bytes, cpl: cpl, setup)
                #expect(o.exit == gp(UInt32(Rings.kernelVector) * 8 + 2), "\(e) at CPL \(cpl): \(o.exit)")
            }
            let o = execute(e.bytes, cpl: 0, setup)
            #expect(o.exit == .instructionLimit && o.after.eip == Rings.handler, "\(e) at CPL 0: \(o.exit)")
            return
        }
        var frames: [UInt8: Outcome] = [:]
        for cpl: UInt8 in [0, 1, 3] {
            let o = execute(e.bytes, cpl: cpl, setup)
            #expect(o.exit == .instructionLimit && o.after.eip == Rings.handler && o.after.cpl == 0,
                    "\(e) at CPL \(cpl): \(o.exit), EIP \(o.after.eip)")
            #expect(o.stack(2) == o.beforeFlags, "\(e) at CPL \(cpl): pushed EFLAGS \(o.stack(2)), real \(o.beforeFlags)")
            frames[cpl] = o
        }
        rplIsCPL(e, frames) { $0.stack(1) }
    },

    "IRET/IRETD": CrossCheck(
        encodings: [Encoding("iretd", [0xCF])],
        claim: "a same-level IRET with IF = 1, IOPL = 3 in the image: taken at CPL 0, dropped silently at CPL 1 and 3"
    ) { e in
        let image = EFLAGS.fixed1 | EFLAGS.if | EFLAGS.iopl
        let ring0 = execute(e.bytes, cpl: 0, Setup(stack: [0x1100, UInt32(Rings.codeSelector(0)), image]))
        #expect(ring0.exit == .instructionLimit && ring0.cpu.eflags & (EFLAGS.if | EFLAGS.iopl) == EFLAGS.if | EFLAGS.iopl,
                "\(e) at CPL 0: \(ring0.exit), EFLAGS \(ring0.cpu.eflags)")
        for cpl: UInt8 in [1, 3] {
            let o = execute(e.bytes, cpl: cpl, Setup(stack: [0x1100, UInt32(Rings.codeSelector(cpl)), image]))
            #expect(o.exit == .instructionLimit && o.after.eip == 0x1100 && o.after.cpl == cpl, "\(e) at CPL \(cpl): \(o.exit)")
            #expect(o.cpu.eflags & (EFLAGS.if | EFLAGS.iopl) == 0, "\(e) at CPL \(cpl): EFLAGS \(o.cpu.eflags)")
        }
    },

    "SYSENTER": CrossCheck(
        encodings: [Encoding("sysenter", [0x0F, 0x34])],
        claim: "from every CPL it enters CPL 0 at the MSRs' CS:EIP (the VMM's); #GP(0) everywhere with SYSENTER_CS = 0"
    ) { e in
        for cpl: UInt8 in [0, 1, 3] {
            let o = execute(e.bytes, cpl: cpl, sysenterMSRs)
            #expect(o.exit == .instructionLimit && o.after.cpl == 0 && o.after.eip == Rings.handler
                    && o.after[.cs].selector == Rings.code0, "\(e) at CPL \(cpl): \(o.exit)")
            #expect(execute(e.bytes, cpl: cpl).exit == gp(), "\(e) at CPL \(cpl) with SYSENTER_CS = 0")
        }
    },

    "SYSEXIT": privilegedCheck([Encoding("sysexit", [0x0F, 0x35])], setup: sysenterMSRs) { e, o in
        #expect(o.exit == .instructionLimit && o.after.cpl == 3 && o.after.eip == 0x1100, "\(e) at CPL 0: \(o.exit)")
    },

    "PUSHF/PUSHFD": noTrapCheck(
        [Encoding("pushfd", [0x9C])],
        claim: "pushes the real EFLAGS (IF = 1, IOPL 0, as a VMM keeps them) at every CPL",
        setup: { _, _ in Setup(eflags: EFLAGS.if) },
        compare: { e, o in
            for cpl: UInt8 in [0, 1, 3] {
                #expect(o[cpl]!.top == o[cpl]!.beforeFlags, "\(e) at CPL \(cpl): pushed \(o[cpl]!.top)")
            }
        }),

    "POPF/POPFD": noTrapCheck(
        [Encoding("popfd", [0x9D])],
        claim: "popping IF = 1, IOPL = 3 with IOPL 0: taken at CPL 0, dropped silently at CPL 1 and 3",
        setup: { _, _ in Setup(stack: [EFLAGS.fixed1 | EFLAGS.if | EFLAGS.iopl]) },
        compare: { e, o in
            let mask = EFLAGS.if | EFLAGS.iopl
            #expect(o[0]!.cpu.eflags & mask == mask, "\(e) at CPL 0: \(o[0]!.cpu.eflags)")
            for cpl: UInt8 in [1, 3] { #expect(o[cpl]!.cpu.eflags & mask == 0, "\(e) at CPL \(cpl): \(o[cpl]!.cpu.eflags)") }
        }),

    "CLI": interruptFlagCheck([Encoding("cli", [0xFA])], sets: false),
    "STI": interruptFlagCheck([Encoding("sti", [0xFB])], sets: true),

    "IN": portCheck([Encoding("in al, 0x60", [0xE4, 0x60]), Encoding("in eax, 0x60", [0xE5, 0x60]),
                     Encoding("in al, dx", [0xEC]), Encoding("in eax, dx", [0xED])]),
    "OUT": portCheck([Encoding("out 0x60, al", [0xE6, 0x60]), Encoding("out 0x60, eax", [0xE7, 0x60]),
                      Encoding("out dx, al", [0xEE]), Encoding("out dx, eax", [0xEF])]),
    "INS": portCheck([Encoding("insb", [0x6C]), Encoding("insd", [0x6D])]),
    "OUTS": portCheck([Encoding("outsb", [0x6E]), Encoding("outsd", [0x6F])]),
]

/// `[0x2000]` = 0x40:0x1100 (the conforming DPL-0 code segment).
let farPointer = Setup(memory: [(Rings.data, Setup.dword(0x1100) + Setup.word(Rings.conforming))])

/// SYSENTER_CS = 0x08, SYSENTER_EIP = the handler, SYSENTER_ESP = the ring-0 stack; EDX/ECX for SYSEXIT.
let sysenterMSRs = Setup(regs: [.edx: 0x1100, .ecx: 0x7800], configure: { cpu in
    cpu.statePointer.pointee.sysenterCS = UInt32(Rings.code0)
    cpu.statePointer.pointee.sysenterEIP = Rings.handler
    cpu.statePointer.pointee.sysenterESP = Rings.ring0Stack
})

/// A far transfer to the conforming segment: no fault, CPL unchanged, EIP at the target.
func conformingTarget(_ e: Encoding, _ o: [UInt8: Outcome]) {
    for cpl: UInt8 in [0, 1, 3] {
        let a = o[cpl]!.after
        #expect(a.eip == 0x1100 && a.cpl == cpl && a[.cs].selector == Rings.conforming | UInt16(cpl),
                "\(e) at CPL \(cpl): CS 0x\(String(a[.cs].selector, radix: 16)), CPL \(a.cpl)")
    }
}

/// CLI/STI: #GP(0) at CPL > IOPL (IOPL 0: CPL 1 and 3); at CPL <= IOPL they change IF.
func interruptFlagCheck(_ encodings: [Encoding], sets: Bool) -> CrossCheck {
    let start: UInt32 = sets ? 0 : EFLAGS.if
    let changed: @Sendable (Outcome) -> Bool = { o in o.exit == .instructionLimit && (o.cpu.eflags & EFLAGS.if != 0) == sets }
    return CrossCheck(encodings: encodings, claim: "#GP(0) at CPL 1 and 3 with IOPL 0; changes IF at CPL 0, and at CPL <= IOPL") { e in
        for cpl: UInt8 in [1, 3] {
            #expect(execute(e.bytes, cpl: cpl, Setup(eflags: start)).exit == gp(), "\(e) at CPL \(cpl), IOPL 0")
            #expect(changed(execute(e.bytes, cpl: cpl, Setup(eflags: start, iopl: cpl))), "\(e) at CPL \(cpl), IOPL \(cpl)")
        }
        #expect(changed(execute(e.bytes, cpl: 0, Setup(eflags: start))), "\(e) at CPL 0")
    }
}

/// Port I/O: #GP(0) at CPL 1 and 3 with IOPL 0 and no I/O bitmap; at CPL 0, at CPL <= IOPL, or
/// with a bitmap that allows the port, it reaches the owner (a port-I/O exit).
func portCheck(_ encodings: [Encoding]) -> CrossCheck {
    let regs: [Register: UInt32] = [.edx: 0x60, .esi: Rings.data, .edi: Rings.data]
    let reachesPort: @Sendable (Outcome) -> Bool = { o in
        if case .portIO(let p) = o.exit { return p.port == 0x60 } else { return false }
    }
    return CrossCheck(encodings: encodings,
                      claim: "#GP(0) at CPL 1 and 3 with IOPL 0 and no bitmap; performed at CPL 0, at CPL <= IOPL, or when the bitmap allows") { e in
        for cpl: UInt8 in [1, 3] {
            #expect(execute(e.bytes, cpl: cpl, Setup(regs: regs)).exit == gp(), "\(e) at CPL \(cpl), IOPL 0")
            #expect(reachesPort(execute(e.bytes, cpl: cpl, Setup(regs: regs, iopl: cpl))), "\(e) at CPL \(cpl), IOPL \(cpl)")
            #expect(reachesPort(execute(e.bytes, cpl: cpl, Setup(regs: regs, openIOBitmap: true))), "\(e) at CPL \(cpl), bitmap allows")
        }
        #expect(reachesPort(execute(e.bytes, cpl: 0, Setup(regs: regs))), "\(e) at CPL 0")
    }
}
