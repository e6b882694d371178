/// What each x87 instruction does to the condition codes C0–C3, from the "FPU Flags Affected"
/// section of its SDM Vol. 2 page, keyed by the decoder's mnemonic. `written`: the bits the
/// instruction defines (results, "set to 0", the loaded or cleared ones); `undefined`: the bits
/// the SDM calls undefined afterwards. Bits in neither are unaffected ("not affected", MMX,
/// SSE, FXSAVE). cpu-diff tracks undefined bits along the path x86v took, like undefined EFLAGS:
/// the generator puts an FXAM (which defines all four) before an instruction that stores the
/// status word while one may be undefined, and the final comparison masks those still undefined.
///
/// Readings worth noting:
/// - "C1 set to 0 if stack underflow occurred" with nothing about the other case (FCMOVcc) is
///   read as C1 undefined unless there is an underflow; cpu-diff cannot tell statically, so C1 is
///   undefined after FCMOVcc.
/// - FSIN, FCOS, FSINCOS, FPTAN: "C1 ... undefined if C2 is 1" — `Emulated` adds C1 when x86v's
///   C2 is 1 after one of them; the generator treats C1 as possibly undefined after them.
/// - FPREM/FPREM1 define all four (C0 = Q2, C1 = Q0, C3 = Q1, C2 = incomplete).
/// - FENI/FDISI/FSETPM: "no internal x87 FPU states are affected" (SDM Vol. 1 §8.3.13).
/// - FCOMI/FCOMIP/FUCOMI/FUCOMIP: the SDM sets C1 to 0, this host leaves it unchanged (a known
///   difference, `disputed`).
enum FPUFlags {
    struct Effect {
        var written: UInt16
        var undefined: UInt16
        /// Bits the SDM defines but this host sets otherwise (FPUKnownDifferences.md): tracked
        /// and masked like undefined ones, counted apart.
        var disputed: UInt16 = 0
    }

    static let c0 = FSW.c0, c1 = FSW.c1, c2 = FSW.c2, c3 = FSW.c3
    static let all = FSW.conditions

    /// C1 defined (rounding or stack fault indicator), C0 C2 C3 undefined: most arithmetic,
    /// loads, stores, FABS/FCHS, FXCH, FINCSTP/FDECSTP, FXTRACT, the logarithms.
    static let c1Only = Effect(written: c1, undefined: c0 | c2 | c3)
    /// Nothing defined.
    static let none = Effect(written: 0, undefined: all)
    /// Everything defined (compares, FXAM, loads of the whole status word, FNINIT).
    static let defined = Effect(written: all, undefined: 0)
    /// Trigonometric: C1 and C2 defined (C1 undefined when C2 = 1), C0 C3 undefined.
    static let trigonometric = Effect(written: c1 | c2, undefined: c0 | c3)
    /// Not affected.
    static let unaffected = Effect(written: 0, undefined: 0)

    static let table: [String: Effect] = {
        var t: [String: Effect] = [:]
        for m in ["f2xm1", "fabs", "fadd", "faddp", "fiadd", "fbld", "fbstp", "fchs", "fdecstp", "fincstp",
                  "fdiv", "fdivp", "fidiv", "fdivr", "fdivrp", "fidivr", "fild", "fist", "fistp",
                  "fld", "fld1", "fldl2t", "fldl2e", "fldpi", "fldlg2", "fldln2", "fldz",
                  "fmul", "fmulp", "fimul", "fpatan", "frndint", "fscale", "fsqrt", "fst", "fstp", "fstpnce",
                  "fsub", "fsubp", "fisub", "fsubr", "fsubrp", "fisubr", "fxch", "fxtract", "fyl2x", "fyl2xp1"] {
            t[m] = c1Only
        }
        for m in ["fcom", "fcomp", "fcompp", "ficom", "ficomp", "ftst", "fucom", "fucomp", "fucompp", "fxam",
                  "fprem", "fprem1", "fninit", "fldenv", "frstor", "fxrstor", "fnsave"] {
            t[m] = defined
        }
        for m in ["fnclex", "ffree", "ffreep", "fldcw", "fnop", "fnstcw", "fnstenv", "fnstsw", "wait"] {
            t[m] = none
        }
        for m in ["fcmovb", "fcmove", "fcmovbe", "fcmovu", "fcmovnb", "fcmovne", "fcmovnbe", "fcmovnu"] {
            t[m] = none
        }
        // FCOMI family: "C1 Set to 0. C0, C2, C3 Not affected." This host leaves C1 unchanged.
        for m in ["fcomi", "fcomip", "fucomi", "fucomip"] { t[m] = Effect(written: 0, undefined: 0, disputed: c1) }
        for m in ["fsin", "fcos", "fsincos", "fptan"] { t[m] = trigonometric }
        for m in ["feni8087_nop", "fdisi8087_nop", "fsetpm", "fxsave"] { t[m] = unaffected }
        return t
    }()

    /// The effect of `mnemonic`; MMX, SSE and integer instructions leave C0–C3 alone.
    static func effect(_ mnemonic: String) -> Effect { table[mnemonic] ?? unaffected }

    /// Instructions that store the status word where the case's outcome shows it.
    static let readers: Set<String> = ["fnstsw", "fnstenv", "fnsave", "fxsave"]

    /// Instructions after which C1 is undefined if C2 = 1 (operand out of range).
    static let rangeReduced: Set<String> = ["fsin", "fcos", "fsincos", "fptan"]
}
