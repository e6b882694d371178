// MMX, SSE and SSE2 rows of the two-byte map (SDM Vol. 2D Table A-3, mandatory prefixes
// 66/F3/F2 in the opcode column).
//
// The CPU is a Pentium 4-class i686: MMX, SSE, SSE2, FXSR, CLFSH; no SSE3 or later. A row
// without a prefix column is the NP form and also answers for the prefixes that have no form
// of their own (Capstone 4.0.2 falls back the same way: `F3 0F 14` is `unpcklps`). Where F3 or
// F2 names a later extension (SSE3 `movsldup`, AMD SSE4A `movntss`, …) the NP form is written
// `NP` so that the prefixed encoding stays invalid (#UD on this CPU).
//
// Memory sizes follow the SDM's operand column (`Wss` = m32, `Wq` = m64, `Mdq` = m128…).

extension OpcodeTable {
    static let simdRows: [OpcodeRow] =
        simdMoveRows + simdArithmeticRows + simdConversionRows + simdIntegerRows + simdMiscellaneousRows

    /// MMX packed-integer operation `0F XX` and its SSE2 form `66 0F XX` on XMM registers.
    private static func mmxAndSSE2(_ opcode: Int, _ mnemonic: String, mmxSource: String = "Qq") -> [OpcodeRow] {
        [OpcodeRow("0F " + hex(opcode), mnemonic, "Pq, " + mmxSource, [.mmx]),
         OpcodeRow("66 0F " + hex(opcode), mnemonic, "Vdq, Wdq", [.sse])]
    }

    /// Packed and scalar single/double arithmetic: NP …ps, 66 …pd, F3 …ss, F2 …sd.
    private static func fourForms(_ opcode: Int, _ stem: String) -> [OpcodeRow] {
        let op = hex(opcode)
        return [OpcodeRow("0F " + op, stem + "ps", "Vps, Wps", [.sse]),
                OpcodeRow("66 0F " + op, stem + "pd", "Vpd, Wpd", [.sse]),
                OpcodeRow("F3 0F " + op, stem + "ss", "Vss, Wss", [.sse]),
                OpcodeRow("F2 0F " + op, stem + "sd", "Vsd, Wsd", [.sse])]
    }

    /// Packed-only operations: NP …ps and 66 …pd.
    private static func packedForms(_ opcode: Int, _ stem: String) -> [OpcodeRow] {
        let op = hex(opcode)
        return [OpcodeRow("0F " + op, stem + "ps", "Vps, Wps", [.sse]),
                OpcodeRow("66 0F " + op, stem + "pd", "Vpd, Wpd", [.sse])]
    }

    /// Moves: 0F 10–17, 28/29, 2B, 6E/6F, 7E/7F, D6, E7, C3, F7.
    private static let simdMoveRows: [OpcodeRow] = [
        OpcodeRow("0F 10", "movups", "Vps, Wps", [.sse]), OpcodeRow("66 0F 10", "movupd", "Vpd, Wpd", [.sse]),
        OpcodeRow("F3 0F 10", "movss", "Vss, Wss", [.sse]), OpcodeRow("F2 0F 10", "movsd", "Vsd, Wsd", [.sse]),
        OpcodeRow("0F 11", "movups", "Wps, Vps", [.sse]), OpcodeRow("66 0F 11", "movupd", "Wpd, Vpd", [.sse]),
        OpcodeRow("F3 0F 11", "movss", "Wss, Vss", [.sse]), OpcodeRow("F2 0F 11", "movsd", "Wsd, Vsd", [.sse]),
        // 0F 12: MOVLPS m64 / MOVHLPS xmm (mod = 3). F3 (MOVSLDUP) and F2 (MOVDDUP) are SSE3.
        OpcodeRow("NP 0F 12", "movlps", "Vq, Mq", [.sse]), OpcodeRow("NP 0F 12", "movhlps", "Vq, Uq", [.sse]),
        OpcodeRow("66 0F 12", "movlpd", "Vq, Mq", [.sse]), OpcodeRow("66 0F 12", "movhlps", "Vq, Uq", [.sse]),
        OpcodeRow("0F 13", "movlps", "Mq, Vq", [.sse]), OpcodeRow("66 0F 13", "movlpd", "Mq, Vq", [.sse]),
        // 0F 16: MOVHPS m64 / MOVLHPS xmm. F3 (MOVSHDUP) is SSE3; F2 has no form and falls back.
        OpcodeRow("NP 0F 16", "movhps", "Vq, Mq", [.sse]), OpcodeRow("NP 0F 16", "movlhps", "Vq, Uq", [.sse]),
        OpcodeRow("F2 0F 16", "movhps", "Vq, Mq", [.sse]), OpcodeRow("F2 0F 16", "movlhps", "Vq, Uq", [.sse]),
        OpcodeRow("66 0F 16", "movhpd", "Vq, Mq", [.sse]), OpcodeRow("66 0F 16", "movlhps", "Vq, Uq", [.sse]),
        OpcodeRow("0F 17", "movhps", "Mq, Vq", [.sse]), OpcodeRow("66 0F 17", "movhpd", "Mq, Vq", [.sse]),
        OpcodeRow("0F 28", "movaps", "Vps, Wps", [.sse]), OpcodeRow("66 0F 28", "movapd", "Vpd, Wpd", [.sse]),
        OpcodeRow("0F 29", "movaps", "Wps, Vps", [.sse]), OpcodeRow("66 0F 29", "movapd", "Wpd, Vpd", [.sse]),
        // 0F 2B: F3/F2 are AMD SSE4A MOVNTSS/MOVNTSD.
        OpcodeRow("NP 0F 2B", "movntps", "Mdq, Vps", [.sse]), OpcodeRow("66 0F 2B", "movntpd", "Mdq, Vpd", [.sse]),
        OpcodeRow("0F 6E", "movd", "Pq, Ed", [.mmx]), OpcodeRow("66 0F 6E", "movd", "Vd, Ed", [.sse]),
        OpcodeRow("0F 6F", "movq", "Pq, Qq", [.mmx]), OpcodeRow("66 0F 6F", "movdqa", "Vdq, Wdq", [.sse]),
        OpcodeRow("F3 0F 6F", "movdqu", "Vdq, Wdq", [.sse]),
        OpcodeRow("0F 7E", "movd", "Ed, Pq", [.mmx]), OpcodeRow("66 0F 7E", "movd", "Ed, Vd", [.sse]),
        OpcodeRow("F3 0F 7E", "movq", "Vq, Wq", [.sse]),
        OpcodeRow("0F 7F", "movq", "Qq, Pq", [.mmx]), OpcodeRow("66 0F 7F", "movdqa", "Wdq, Vdq", [.sse]),
        OpcodeRow("F3 0F 7F", "movdqu", "Wdq, Vdq", [.sse]),
        OpcodeRow("66 0F D6", "movq", "Wq, Vq", [.sse]),
        OpcodeRow("F3 0F D6", "movq2dq", "Vdq, Nq", [.sse]), OpcodeRow("F2 0F D6", "movdq2q", "Pq, Uq", [.sse]),
        OpcodeRow("0F E7", "movntq", "Mq, Pq", [.mmx]), OpcodeRow("66 0F E7", "movntdq", "Mdq, Vdq", [.sse]),
        // MOVNTI is an SSE2 instruction on general registers (no CR4.OSFXSR check).
        OpcodeRow("0F C3", "movnti", "Md, Gd"),
        OpcodeRow("0F F7", "maskmovq", "Pq, Nq", [.mmx]), OpcodeRow("66 0F F7", "maskmovdqu", "Vdq, Udq", [.sse]),
    ]

    /// Floating-point arithmetic, logic, compares and shuffles.
    private static let simdArithmeticRows: [OpcodeRow] =
        fourForms(0x51, "sqrt") + fourForms(0x58, "add") + fourForms(0x59, "mul") + fourForms(0x5C, "sub")
        + fourForms(0x5D, "min") + fourForms(0x5E, "div") + fourForms(0x5F, "max")
        + packedForms(0x14, "unpckl") + packedForms(0x15, "unpckh")
        + packedForms(0x54, "and") + packedForms(0x55, "andn") + packedForms(0x56, "or") + packedForms(0x57, "xor")
        + [
            OpcodeRow("0F 52", "rsqrtps", "Vps, Wps", [.sse]), OpcodeRow("F3 0F 52", "rsqrtss", "Vss, Wss", [.sse]),
            OpcodeRow("0F 53", "rcpps", "Vps, Wps", [.sse]), OpcodeRow("F3 0F 53", "rcpss", "Vss, Wss", [.sse]),
            OpcodeRow("0F 2E", "ucomiss", "Vss, Wss", [.sse], flags: ">oszapc"),
            OpcodeRow("66 0F 2E", "ucomisd", "Vsd, Wsd", [.sse], flags: ">oszapc"),
            OpcodeRow("0F 2F", "comiss", "Vss, Wss", [.sse], flags: ">oszapc"),
            OpcodeRow("66 0F 2F", "comisd", "Vsd, Wsd", [.sse], flags: ">oszapc"),
            OpcodeRow("0F 50", "movmskps", "Gd, Ups", [.sse]), OpcodeRow("66 0F 50", "movmskpd", "Gd, Upd", [.sse]),
            // CMPccPS/PD/SS/SD: the predicate is imm8[2:0].
            OpcodeRow("0F C2", "cmpps", "Vps, Wps, Ib", [.sse, .comparePredicate]), OpcodeRow("66 0F C2", "cmppd", "Vpd, Wpd, Ib", [.sse, .comparePredicate]),
            OpcodeRow("F3 0F C2", "cmpss", "Vss, Wss, Ib", [.sse, .comparePredicate]), OpcodeRow("F2 0F C2", "cmpsd", "Vsd, Wsd, Ib", [.sse, .comparePredicate]),
            OpcodeRow("0F C6", "shufps", "Vps, Wps, Ib", [.sse]), OpcodeRow("66 0F C6", "shufpd", "Vpd, Wpd, Ib", [.sse]),
        ]

    /// Conversions: 0F 2A, 2C, 2D, 5A, 5B, E6.
    private static let simdConversionRows: [OpcodeRow] = [
        OpcodeRow("0F 2A", "cvtpi2ps", "Vps, Qq", [.sse]), OpcodeRow("66 0F 2A", "cvtpi2pd", "Vpd, Qq", [.sse]),
        OpcodeRow("F3 0F 2A", "cvtsi2ss", "Vss, Ed", [.sse]), OpcodeRow("F2 0F 2A", "cvtsi2sd", "Vsd, Ed", [.sse]),
        OpcodeRow("0F 2C", "cvttps2pi", "Pq, Wq", [.sse]), OpcodeRow("66 0F 2C", "cvttpd2pi", "Pq, Wpd", [.sse]),
        OpcodeRow("F3 0F 2C", "cvttss2si", "Gd, Wss", [.sse]), OpcodeRow("F2 0F 2C", "cvttsd2si", "Gd, Wsd", [.sse]),
        OpcodeRow("0F 2D", "cvtps2pi", "Pq, Wq", [.sse]), OpcodeRow("66 0F 2D", "cvtpd2pi", "Pq, Wpd", [.sse]),
        OpcodeRow("F3 0F 2D", "cvtss2si", "Gd, Wss", [.sse]), OpcodeRow("F2 0F 2D", "cvtsd2si", "Gd, Wsd", [.sse]),
        OpcodeRow("0F 5A", "cvtps2pd", "Vpd, Wq", [.sse]), OpcodeRow("66 0F 5A", "cvtpd2ps", "Vps, Wpd", [.sse]),
        OpcodeRow("F3 0F 5A", "cvtss2sd", "Vsd, Wss", [.sse]), OpcodeRow("F2 0F 5A", "cvtsd2ss", "Vss, Wsd", [.sse]),
        OpcodeRow("0F 5B", "cvtdq2ps", "Vps, Wdq", [.sse]), OpcodeRow("66 0F 5B", "cvtps2dq", "Vdq, Wps", [.sse]),
        OpcodeRow("F3 0F 5B", "cvttps2dq", "Vdq, Wps", [.sse]),
        OpcodeRow("66 0F E6", "cvttpd2dq", "Vdq, Wpd", [.sse]), OpcodeRow("F3 0F E6", "cvtdq2pd", "Vpd, Wq", [.sse]),
        OpcodeRow("F2 0F E6", "cvtpd2dq", "Vdq, Wpd", [.sse]),
    ]

    /// MMX and SSE2 packed-integer instructions.
    private static let simdIntegerRows: [OpcodeRow] =
        // PUNPCKLBW/WD/DQ mm, mm/m32: the MMX forms read 32 bits of memory.
        mmxAndSSE2(0x60, "punpcklbw", mmxSource: "Qd") + mmxAndSSE2(0x61, "punpcklwd", mmxSource: "Qd")
        + mmxAndSSE2(0x62, "punpckldq", mmxSource: "Qd")
        + [0x63: "packsswb", 0x64: "pcmpgtb", 0x65: "pcmpgtw", 0x66: "pcmpgtd", 0x67: "packuswb",
           0x68: "punpckhbw", 0x69: "punpckhwd", 0x6A: "punpckhdq", 0x6B: "packssdw",
           0x74: "pcmpeqb", 0x75: "pcmpeqw", 0x76: "pcmpeqd",
           0xD1: "psrlw", 0xD2: "psrld", 0xD3: "psrlq", 0xD4: "paddq", 0xD5: "pmullw",
           0xD8: "psubusb", 0xD9: "psubusw", 0xDA: "pminub", 0xDB: "pand",
           0xDC: "paddusb", 0xDD: "paddusw", 0xDE: "pmaxub", 0xDF: "pandn",
           0xE0: "pavgb", 0xE1: "psraw", 0xE2: "psrad", 0xE3: "pavgw", 0xE4: "pmulhuw", 0xE5: "pmulhw",
           0xE8: "psubsb", 0xE9: "psubsw", 0xEA: "pminsw", 0xEB: "por",
           0xEC: "paddsb", 0xED: "paddsw", 0xEE: "pmaxsw", 0xEF: "pxor",
           0xF1: "psllw", 0xF2: "pslld", 0xF3: "psllq", 0xF4: "pmuludq", 0xF5: "pmaddwd", 0xF6: "psadbw",
           0xF8: "psubb", 0xF9: "psubw", 0xFA: "psubd", 0xFB: "psubq",
           0xFC: "paddb", 0xFD: "paddw", 0xFE: "paddd"]
            .sorted { $0.key < $1.key }.flatMap { mmxAndSSE2($0.key, $0.value) }
        + [
            OpcodeRow("66 0F 6C", "punpcklqdq", "Vdq, Wdq", [.sse]),
            OpcodeRow("66 0F 6D", "punpckhqdq", "Vdq, Wdq", [.sse]),
            OpcodeRow("0F 70", "pshufw", "Pq, Qq, Ib", [.mmx]), OpcodeRow("66 0F 70", "pshufd", "Vdq, Wdq, Ib", [.sse]),
            OpcodeRow("F3 0F 70", "pshufhw", "Vdq, Wdq, Ib", [.sse]), OpcodeRow("F2 0F 70", "pshuflw", "Vdq, Wdq, Ib", [.sse]),
            // Groups 12–14: shifts by an immediate, register operand only.
            OpcodeRow("0F 71 /2", "psrlw", "Nq, Ib", [.mmx]), OpcodeRow("66 0F 71 /2", "psrlw", "Udq, Ib", [.sse]),
            OpcodeRow("0F 71 /4", "psraw", "Nq, Ib", [.mmx]), OpcodeRow("66 0F 71 /4", "psraw", "Udq, Ib", [.sse]),
            OpcodeRow("0F 71 /6", "psllw", "Nq, Ib", [.mmx]), OpcodeRow("66 0F 71 /6", "psllw", "Udq, Ib", [.sse]),
            OpcodeRow("0F 72 /2", "psrld", "Nq, Ib", [.mmx]), OpcodeRow("66 0F 72 /2", "psrld", "Udq, Ib", [.sse]),
            OpcodeRow("0F 72 /4", "psrad", "Nq, Ib", [.mmx]), OpcodeRow("66 0F 72 /4", "psrad", "Udq, Ib", [.sse]),
            OpcodeRow("0F 72 /6", "pslld", "Nq, Ib", [.mmx]), OpcodeRow("66 0F 72 /6", "pslld", "Udq, Ib", [.sse]),
            OpcodeRow("0F 73 /2", "psrlq", "Nq, Ib", [.mmx]), OpcodeRow("66 0F 73 /2", "psrlq", "Udq, Ib", [.sse]),
            OpcodeRow("66 0F 73 /3", "psrldq", "Udq, Ib", [.sse]),
            OpcodeRow("0F 73 /6", "psllq", "Nq, Ib", [.mmx]), OpcodeRow("66 0F 73 /6", "psllq", "Udq, Ib", [.sse]),
            OpcodeRow("66 0F 73 /7", "pslldq", "Udq, Ib", [.sse]),
            OpcodeRow("0F 77", "emms", "", [.mmx]),
            // PINSRW takes r32 or m16; PEXTRW and PMOVMSKB a register source only.
            OpcodeRow("0F C4", "pinsrw", "Pq, Rd, Ib", [.mmx]), OpcodeRow("0F C4", "pinsrw", "Pq, Mw, Ib", [.mmx]),
            OpcodeRow("66 0F C4", "pinsrw", "Vdq, Rd, Ib", [.sse]), OpcodeRow("66 0F C4", "pinsrw", "Vdq, Mw, Ib", [.sse]),
            OpcodeRow("0F C5", "pextrw", "Gd, Nq, Ib", [.mmx]), OpcodeRow("66 0F C5", "pextrw", "Gd, Udq, Ib", [.sse]),
            OpcodeRow("0F D7", "pmovmskb", "Gd, Nq", [.mmx]), OpcodeRow("66 0F D7", "pmovmskb", "Gd, Udq", [.sse]),
        ]

    /// Group 15 (0F AE): FXSAVE/FXRSTOR, MXCSR, CLFLUSH and the fences.
    private static let simdMiscellaneousRows: [OpcodeRow] = [
        // FXSAVE/FXRSTOR are checked like x87 instructions (#NM if CR0.TS or CR0.EM).
        OpcodeRow("0F AE /0", "fxsave", "M", [.x87], .fxsave), OpcodeRow("0F AE /1", "fxrstor", "M", [.x87]),
        OpcodeRow("0F AE /2", "ldmxcsr", "Md", [.sse]), OpcodeRow("0F AE /3", "stmxcsr", "Md", [.sse]),
        OpcodeRow("0F AE /7", "clflush", "Mb"),
        // mod = 11B: the fences are selected by ModRM.reg alone (SDM Vol. 2D Table A-6, group 15).
        OpcodeRow("0F AE E8+i", "lfence"), OpcodeRow("0F AE F0+i", "mfence"), OpcodeRow("0F AE F8+i", "sfence"),
    ]
}
