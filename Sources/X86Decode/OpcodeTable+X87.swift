// The x87 escapes D8–DF (SDM Vol. 2D Tables A-7 … A-22).
// Memory forms are `XX /n` (ModRM.mod != 3); register forms are `XX YY` (one ModRM byte) or
// `XX YY+i` (eight ModRM bytes, ST(i) = ModRM.rm). Encodings absent here are reserved (#UD).
// Operand order and the omitted `st(0)` follow Capstone 4.0.2's text: `fadd st(1)` for D8 C1,
// `fadd st(1), st(0)` for DC C1, `fcmovb st(0), st(1)` for DA C1.

extension OpcodeTable {
    static let x87Rows: [OpcodeRow] = x87ArithmeticRows + x87LoadStoreRows + x87RegisterRows

    /// The eight arithmetic operations of D8/DA/DC/DE /0–/7, in ModRM.reg order.
    private static let x87Arithmetic = ["add", "mul", "com", "comp", "sub", "subr", "div", "divr"]

    /// D8 (m32fp, ST(0) op ST(i)), DA (m32int), DC (m64fp, ST(i) op ST(0)), DE (m16int, pop).
    private static let x87ArithmeticRows: [OpcodeRow] = (0..<8).flatMap { reg -> [OpcodeRow] in
        let op = x87Arithmetic[reg]
        return [
            OpcodeRow("D8 /\(reg)", "f" + op, "Md", [.x87]),
            OpcodeRow("DA /\(reg)", "fi" + op, "Md", [.x87]),
            OpcodeRow("DC /\(reg)", "f" + op, "Mq", [.x87]),
            OpcodeRow("DE /\(reg)", "fi" + op, "Mw", [.x87]),
            // D8 C0+8n: `fadd st(i)` (Capstone leaves out the implied st(0) destination).
            OpcodeRow("D8 \(hex(0xC0 + reg * 8))+i", "f" + op, "STi", [.x87]),
        ]
    } + [
        // DC: ST(i) ← ST(i) op ST(0); the SUB/SUBR and DIV/DIVR rows are swapped (SDM Table A-19).
        OpcodeRow("DC C0+i", "fadd", "STi, ST", [.x87]), OpcodeRow("DC C8+i", "fmul", "STi, ST", [.x87]),
        OpcodeRow("DC E0+i", "fsubr", "STi, ST", [.x87]), OpcodeRow("DC E8+i", "fsub", "STi, ST", [.x87]),
        OpcodeRow("DC F0+i", "fdivr", "STi, ST", [.x87]), OpcodeRow("DC F8+i", "fdiv", "STi, ST", [.x87]),
        // DC D0+i / D8+i: undocumented aliases of FCOM/FCOMP ST(i) that execute on P6.
        OpcodeRow("DC D0+i", "fcom", "ST, STi", [.x87]), OpcodeRow("DC D8+i", "fcomp", "ST, STi", [.x87]),
        // DE: the popping forms.
        OpcodeRow("DE C0+i", "faddp", "STi", [.x87]), OpcodeRow("DE C8+i", "fmulp", "STi", [.x87]),
        OpcodeRow("DE E0+i", "fsubrp", "STi", [.x87]), OpcodeRow("DE E8+i", "fsubp", "STi", [.x87]),
        OpcodeRow("DE F0+i", "fdivrp", "STi", [.x87]), OpcodeRow("DE F8+i", "fdivp", "STi", [.x87]),
        OpcodeRow("DE D0+i", "fcomp", "ST, STi", [.x87]),  // undocumented alias of FCOMP ST(i)
        OpcodeRow("DE D9", "fcompp", "", [.x87]),
    ]

    /// Loads, stores, control words and environments (memory forms of D9, DB, DD, DF).
    private static let x87LoadStoreRows: [OpcodeRow] = [
        OpcodeRow("D9 /0", "fld", "Md", [.x87]), OpcodeRow("D9 /2", "fst", "Md", [.x87]),
        OpcodeRow("D9 /3", "fstp", "Md", [.x87]),
        OpcodeRow("D9 /4", "fldenv", "M", [.x87]), OpcodeRow("D9 /5", "fldcw", "Mw", [.x87]),
        OpcodeRow("D9 /6", "fnstenv", "M", [.x87], .fnstenv), OpcodeRow("D9 /7", "fnstcw", "Mw", [.x87]),
        // DB /1, DD /1, DF /1 (FISTTP) are SSE3: reserved on an i686.
        OpcodeRow("DB /0", "fild", "Md", [.x87]), OpcodeRow("DB /2", "fist", "Md", [.x87]),
        OpcodeRow("DB /3", "fistp", "Md", [.x87]),
        OpcodeRow("DB /5", "fld", "Mt", [.x87]), OpcodeRow("DB /7", "fstp", "Mt", [.x87]),
        OpcodeRow("DD /0", "fld", "Mq", [.x87]), OpcodeRow("DD /2", "fst", "Mq", [.x87]),
        OpcodeRow("DD /3", "fstp", "Mq", [.x87]),
        // m94/108byte state images and the m2byte status word (Capstone says `dword ptr`).
        OpcodeRow("DD /4", "frstor", "M", [.x87]), OpcodeRow("DD /6", "fnsave", "M", [.x87], .fnsave),
        OpcodeRow("DD /7", "fnstsw", "Mw", [.x87]),
        OpcodeRow("DF /0", "fild", "Mw", [.x87]), OpcodeRow("DF /2", "fist", "Mw", [.x87]),
        OpcodeRow("DF /3", "fistp", "Mw", [.x87]),
        OpcodeRow("DF /4", "fbld", "Mtb", [.x87]), OpcodeRow("DF /5", "fild", "Mq", [.x87]),
        OpcodeRow("DF /6", "fbstp", "Mtb", [.x87]), OpcodeRow("DF /7", "fistp", "Mq", [.x87]),
    ]

    /// Register forms of D9, DA, DB, DD and DF.
    private static let x87RegisterRows: [OpcodeRow] = [
        OpcodeRow("D9 C0+i", "fld", "STi", [.x87]), OpcodeRow("D9 C8+i", "fxch", "STi", [.x87]),
        OpcodeRow("D9 D0", "fnop", "", [.x87]),
        // D9 D8+i: undocumented FSTP ST(i) alias ("fstp1"); Capstone names it `fstpnce`.
        OpcodeRow("D9 D8+i", "fstpnce", "STi, ST", [.x87]),
        OpcodeRow("D9 E0", "fchs", "", [.x87]), OpcodeRow("D9 E1", "fabs", "", [.x87]),
        OpcodeRow("D9 E4", "ftst", "", [.x87]), OpcodeRow("D9 E5", "fxam", "", [.x87]),
        OpcodeRow("D9 E8", "fld1", "", [.x87]), OpcodeRow("D9 E9", "fldl2t", "", [.x87]),
        OpcodeRow("D9 EA", "fldl2e", "", [.x87]), OpcodeRow("D9 EB", "fldpi", "", [.x87]),
        OpcodeRow("D9 EC", "fldlg2", "", [.x87]), OpcodeRow("D9 ED", "fldln2", "", [.x87]),
        OpcodeRow("D9 EE", "fldz", "", [.x87]),
        OpcodeRow("D9 F0", "f2xm1", "", [.x87]), OpcodeRow("D9 F1", "fyl2x", "", [.x87]),
        OpcodeRow("D9 F2", "fptan", "", [.x87]), OpcodeRow("D9 F3", "fpatan", "", [.x87]),
        OpcodeRow("D9 F4", "fxtract", "", [.x87]), OpcodeRow("D9 F5", "fprem1", "", [.x87]),
        OpcodeRow("D9 F6", "fdecstp", "", [.x87]), OpcodeRow("D9 F7", "fincstp", "", [.x87]),
        OpcodeRow("D9 F8", "fprem", "", [.x87]), OpcodeRow("D9 F9", "fyl2xp1", "", [.x87]),
        OpcodeRow("D9 FA", "fsqrt", "", [.x87]), OpcodeRow("D9 FB", "fsincos", "", [.x87]),
        OpcodeRow("D9 FC", "frndint", "", [.x87]), OpcodeRow("D9 FD", "fscale", "", [.x87]),
        OpcodeRow("D9 FE", "fsin", "", [.x87]), OpcodeRow("D9 FF", "fcos", "", [.x87]),

        // FCMOVcc (P6): ST(0) ← ST(i) if the EFLAGS condition holds.
        OpcodeRow("DA C0+i", "fcmovb", "ST, STi", [.x87], flags: "c>"),
        OpcodeRow("DA C8+i", "fcmove", "ST, STi", [.x87], flags: "z>"),
        OpcodeRow("DA D0+i", "fcmovbe", "ST, STi", [.x87], flags: "zc>"),
        OpcodeRow("DA D8+i", "fcmovu", "ST, STi", [.x87], flags: "p>"),
        OpcodeRow("DA E9", "fucompp", "", [.x87]),
        OpcodeRow("DB C0+i", "fcmovnb", "ST, STi", [.x87], flags: "c>"),
        OpcodeRow("DB C8+i", "fcmovne", "ST, STi", [.x87], flags: "z>"),
        OpcodeRow("DB D0+i", "fcmovnbe", "ST, STi", [.x87], flags: "zc>"),
        OpcodeRow("DB D8+i", "fcmovnu", "ST, STi", [.x87], flags: "p>"),
        // DB E0/E1/E4: 8087/287 FENI/FDISI/FSETPM, executed as FNOP since the 387.
        OpcodeRow("DB E0", "feni8087_nop", "", [.x87]), OpcodeRow("DB E1", "fdisi8087_nop", "", [.x87]),
        OpcodeRow("DB E2", "fnclex", "", [.x87]), OpcodeRow("DB E3", "fninit", "", [.x87]),
        OpcodeRow("DB E4", "fsetpm", "", [.x87]),
        // FCOMI/FUCOMI (P6) set ZF, PF, CF and clear OF, SF, AF.
        OpcodeRow("DB E8+i", "fucomi", "STi", [.x87], flags: ">oszapc"),
        OpcodeRow("DB F0+i", "fcomi", "STi", [.x87], flags: ">oszapc"),

        OpcodeRow("DD C0+i", "ffree", "STi", [.x87]),
        OpcodeRow("DD C8+i", "fxch", "ST, STi", [.x87]),  // undocumented alias of FXCH ST(i)
        OpcodeRow("DD D0+i", "fst", "STi", [.x87]), OpcodeRow("DD D8+i", "fstp", "STi", [.x87]),
        OpcodeRow("DD E0+i", "fucom", "STi", [.x87]), OpcodeRow("DD E8+i", "fucomp", "STi", [.x87]),

        // DF C0+i (FFREEP), C8+i (FXCH), D0+i/D8+i (FSTP): undocumented aliases that execute on P6.
        OpcodeRow("DF C0+i", "ffreep", "STi", [.x87]),
        OpcodeRow("DF C8+i", "fxch", "ST, STi", [.x87]),
        OpcodeRow("DF D0+i", "fstp", "STi, ST", [.x87]), OpcodeRow("DF D8+i", "fstp", "STi, ST", [.x87]),
        OpcodeRow("DF E0", "fnstsw", "AX", [.x87]),
        OpcodeRow("DF E8+i", "fucomip", "STi", [.x87], flags: ">oszapc"),
        OpcodeRow("DF F0+i", "fcomip", "STi", [.x87], flags: ">oszapc"),
    ]
}
