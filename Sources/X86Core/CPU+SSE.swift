import X86Decode

/// MMX, SSE and SSE2 execution (SDM Vol. 1 ch. 9–11; issue 16, docs/x87.md).
///
/// - `simdOrPrefetch` (CPU+Model.swift) has already applied #UD/#NM for CR0.EM/TS and
///   CR4.OSFXSR; `simd` picks the instruction by opcode and by the mandatory-prefix column of
///   the row the decoder chose (`SIMDRowClass`), not by the prefixes seen, so a prefix that
///   the decoder lets fall back to the NP row (`F3 0F 14` decodes as UNPCKLPS) runs that row.
/// - Floating-point operations run on the host's SSE unit under the guest's MXCSR
///   (CPU+SSEFloat.swift, Sources/CX87Host/cxmm.c); moves, shuffles, logic and integer
///   operations are plain Swift (CPU+SSEMove.swift, CPU+SSEInteger.swift, CPU+MMX.swift).
/// - Memory operands go through the segment and paging accessors in 4-byte pieces; a store is
///   probed whole before any state changes, the aligned 128-bit forms #GP(0) on a misaligned
///   linear address (CPU+SSEOperands.swift).
/// - MMX instructions (and the SSE ones with an MMX register operand) take a pending x87
///   exception first and put the x87 unit in MMX state when they complete (CPU+MMX.swift).
extension CPU {
    /// Every MMX/SSE/SSE2 row of the 0F map, and MOVNTI, CLFLUSH, the fences and UD1.
    func simd(_ d: InstructionRef, entry: UInt8) throws(Fault) {
        let form = entry & SIMDRowClass.formMask
        try SIMDRowClass.checkPrefixes(d, form: form)
        // `--stats`: MMX rows as MMX; the SSE/SSE2 rows, MOVNTI, CLFLUSH and the fences as SSE.
        if entry & SIMDRowClass.mmx != 0 { fpuCounters.mmx &+= 1 }
        else if d.opcode != 0xB9 { fpuCounters.sse &+= 1 }
        switch d.opcode {
        case 0x10, 0x11, 0x12, 0x13, 0x16, 0x17, 0x28, 0x29, 0x2B, 0x50, 0xE7, 0xF7:
            try sseMove(d, form: form)
        case 0x6E, 0x6F, 0x7E, 0x7F, 0xD6:
            try integerMove(d, form: form)
        case 0x14, 0x15, 0x54, 0x55, 0x56, 0x57, 0xC6:
            try sseShuffleOrLogic(d, form: form)
        case 0x51, 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F:
            try sseArithmetic(d, form: form)
        case 0x52, 0x53:
            try sseReciprocal(d, form: form)
        case 0xC2: try sseCompare(d, form: form)
        case 0x2E, 0x2F: try sseOrderedCompare(d, form: form)
        case 0x2A, 0x2C, 0x2D, 0x5A, 0x5B, 0xE6:
            try sseConvert(d, form: form)
        case 0x77: try emms()
        case 0x60...0x6D, 0x70...0x76, 0xC4, 0xC5, 0xD1...0xD5, 0xD7...0xDF, 0xE0...0xE5, 0xE8...0xEF,
             0xF1...0xF6, 0xF8...0xFE:
            if form == SIMDRowClass.none { try mmxInteger(d) } else { try sse2Integer(d) }
        case 0xAE: try group15(d)
        case 0xC3:
            // MOVNTI m32, r32: a plain store (the non-temporal hint has nothing to bypass here).
            let (seg, offset) = effectiveAddress(d)
            try write(seg, offset, size: 4, gpr[Int(d.reg)])
        case 0xB9: throw Fault.ud  // UD1
        default: try notImplemented(d)
        }
    }

    /// 0F AE: FXSAVE/FXRSTOR (the x87 side's), LDMXCSR, STMXCSR, CLFLUSH; LFENCE, MFENCE,
    /// SFENCE (register forms). The decoder leaves no other form valid.
    func group15(_ d: InstructionRef) throws(Fault) {
        if d.modrm >= 0xC0 { return }  // LFENCE/MFENCE/SFENCE: one CPU, no buffers to order
        switch d.reg {
        case 0, 1: try fxsaveOrRestore(d)
        case 2: try ldmxcsr(d)
        case 3:
            let (seg, offset) = effectiveAddress(d)
            try write(seg, offset, size: 4, s.pointee.fpu.mxcsr)
        case 7:
            // CLFLUSH: no cache, but the address is checked like a byte read (segment, then a
            // page walk for reading, which sets A) without reading the byte: the address may be
            // a device's, and a read could have effects.
            let (seg, offset) = effectiveAddress(d)
            let linear = try readAddress(seg, offset, size: 1)
            _ = try translate(linear, write: false, user: userMode)
        default: throw Fault.ud
        }
    }

    /// LDMXCSR m32 (SDM Vol. 2A): bits outside `CPU.mxcsrMask` (31:16) are #GP(0). Loading a
    /// set flag under a clear mask raises nothing: SSE exceptions are taken by the instruction
    /// that detects them, never pending.
    func ldmxcsr(_ d: InstructionRef) throws(Fault) {
        let (seg, offset) = effectiveAddress(d)
        let value = try read(seg, offset, size: 4)
        if value & ~CPU.mxcsrMask != 0 { throw Fault.gp(0) }
        s.pointee.fpu.mxcsr = value
    }
}

/// The mandatory-prefix column of the row the decoder chose for an instruction: 0 = none (NP,
/// or a row without a prefix column that other prefixes fall back to), 1 = 66, 2 = F3, 3 = F2.
/// Built once from `OpcodeTable.rows`, so this and the decoder can never disagree.
enum SIMDRowClass {
    static let none: UInt8 = 0
    static let operandSize: UInt8 = 1
    static let rep: UInt8 = 2
    static let repne: UInt8 = 3

    /// The mandatory-prefix class in bits 1:0; the row's `.sse` and `.mmx` attributes.
    static let formMask: UInt8 = 3
    static let sse: UInt8 = 4
    static let mmx: UInt8 = 8

    /// One byte per row, by row index (`CPU.simdRowClasses` keeps the pointer).
    nonisolated(unsafe) static let table: UnsafeMutablePointer<UInt8> = {
        let rows = OpcodeTable.rows
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: rows.count)
        for (index, row) in rows.enumerated() {
            var value: UInt8
            if row.opcode.hasPrefix("66 ") { value = operandSize }
            else if row.opcode.hasPrefix("F3 ") { value = rep }
            else if row.opcode.hasPrefix("F2 ") { value = repne }
            else { value = none }
            if row.attributes.contains(.sse) { value |= sse }
            if row.attributes.contains(.mmx) { value |= mmx }
            (table + index).initialize(to: value)
        }
        return table
    }()

    /// A mandatory-prefix byte that selects no form of the opcode is reserved (SDM Vol. 2A
    /// §2.1.2: "may cause unpredictable behavior"); the host CPU raises #UD, and so does this
    /// one. The decoder matches Capstone and lets such a prefix fall back to the unprefixed row
    /// (`F3 0F 28` decodes as MOVAPS, `66 0F 77` as EMMS), so the check is here: the F2/F3 (or,
    /// without them, 66) seen must be the row's own. The register forms of MOVLPD/MOVHPD
    /// (`66 0F 12/16`, mod = 3), which Capstone names MOVHLPS/MOVLHPS, have no instruction.
    /// (`cpu-diff --family sse` checks these against the host.)
    static func checkPrefixes(_ d: InstructionRef, form: UInt8) throws(Fault) {
        let prefixes = d.prefixes
        let seen = prefixes.contains(.repne) ? repne : prefixes.contains(.rep) ? rep
            : prefixes.contains(.operandSizeOverride) ? operandSize : none
        if seen != form { throw Fault.ud }
        if form == operandSize && d.modrm >= 0xC0 && (d.opcode == 0x12 || d.opcode == 0x16) { throw Fault.ud }
        // F2 0F 16: Capstone decodes it as MOVHPS/MOVLHPS; no such instruction exists.
        if form == repne && d.opcode == 0x16 { throw Fault.ud }
    }
}
