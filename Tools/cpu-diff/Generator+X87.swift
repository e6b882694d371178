import X86Core
import X86Decode

/// The x87 family and the random FPU state every FPU case starts from.
///
/// Every x87 row of the opcode table is generated (`EncodableRow`, attribute `.x87`: the
/// arithmetic in its memory forms of every size and its register forms, loads and stores of
/// 16/32/64-bit integers, 32/64/80-bit reals and BCD, FCOM/FUCOM/FICOM/FCOMI/FUCOMI/FCMOVcc,
/// FXAM/FTST, FPREM/FPREM1, the transcendentals, FXTRACT/FSCALE, FLDENV/FNSTENV/FRSTOR/FNSAVE in
/// the 32-bit and (with 66) 16-bit protected-mode formats, FXSAVE/FXRSTOR, the control
/// instructions and the undocumented aliases the decoder accepts), plus WAIT and
/// FNSTSW AX + SAHF. Memory operands hold edge values of the operand's type. The starting
/// state has a random TOP and stack depth (so pushes overflow and pops underflow), random
/// rounding and precision control, and sometimes unmasked exceptions (so #MF paths run).
extension Generator {
    static let x87Rows: [EncodableRow] = EncodableRow.all.filter { $0.attributes.contains(.x87) }

    // MARK: State

    /// An x87 control word: random RC and PC (PC = 01, reserved, now and then), masks mostly
    /// all set, now and then unmasked ones, bit 12 (the 287's infinity control) random. With
    /// `reserved`, now and then random reserved bits 6, 7 and 13–15 (FLDCW and the loaded
    /// environments; this CPU reads them back as bit 6 = 1, the others 0). Without, they are
    /// as the CPU keeps them (the starting state: FXRSTOR normalizes them, x86v's loader not).
    mutating func controlWord(reserved: Bool = true) -> UInt16 {
        let masks: UInt16 = rng.chance(100 - unmaskedPercent) ? 0x3F : UInt16(rng.below(64))
        let pc: UInt16 = rng.chance(3) ? 1 : rng.pick([0, 2, 3, 3])
        var cw = masks | 0x40 | pc << 8 | UInt16(rng.below(4)) << 10 | (rng.chance(10) ? 0x1000 : 0)
        if reserved && rng.chance(4) { cw ^= UInt16(truncatingIfNeeded: rng.u32()) & 0xE0C0 }
        return cw
    }

    /// A status word for `control`: TOP, C0–C3 and sticky flags, mostly none pending; ES and B
    /// as the processor derives them (it recomputes ES from the flags and masks on every load:
    /// checked on this CPU with FXRSTOR).
    mutating func statusWord(control: UInt16, top: Int) -> UInt16 {
        var flags: UInt16 = rng.chance(60) ? 0 : UInt16(rng.below(64))
        if rng.chance(85) { flags &= control & 0x3F }
        if flags & FSW.ie != 0 && rng.chance(50) { flags |= FSW.sf }
        let conditions = UInt16(rng.below(16))
        let c = (conditions & 7) << 8 | (conditions >> 3) << 14
        let pending = flags & ~control & 0x3F != 0
        return flags | c | UInt16(top) << 11 | (pending ? FSW.es | FSW.b : 0)
    }

    /// MXCSR: random flags, RC, DAZ and FTZ, masks mostly all set. `valid: false` sets a
    /// reserved bit (bits 18–31: #GP on every CPU; bit 17 is AMD's MM, valid here, not on
    /// Intel, so never used).
    mutating func mxcsrValue(valid: Bool = true) -> UInt32 {
        let masks: UInt32 = rng.chance(100 - unmaskedPercent) ? 0x1F80 : UInt32(rng.below(64)) << 7
        let flags: UInt32 = rng.chance(60) ? 0 : UInt32(rng.below(64))
        var v = masks | flags | UInt32(rng.below(4)) << 13 | (rng.chance(25) ? 0x40 : 0) | (rng.chance(25) ? 0x8000 : 0)
        if !valid { v |= 1 << UInt32(18 + rng.below(14)) }
        return v
    }

    /// A whole FXSAVE image: the state a case starts from, or an FXRSTOR operand.
    mutating func fpuImage(mmxValues: Bool = false) -> FXImage {
        var image = FXImage()
        let control = controlWord(reserved: false)
        let top = rng.below(8)
        image.fcw = control
        image.fsw = statusWord(control: control, top: top)
        var tags: UInt8 = 0
        if rng.chance(10) {
            tags = UInt8(rng.below(256))
        } else {
            for i in 0..<rng.below(9) { tags |= 1 << UInt8((top + i) & 7) }
        }
        image.ftw = tags
        image.fop = UInt16(rng.below(0x800))
        image.fip = rng.chance(50) ? Layout.codeBase + UInt32(rng.below(0x1000)) : rng.u32()
        image.fcs = rng.chance(70) ? 0x23 : UInt16(truncatingIfNeeded: rng.u32())
        image.fdp = rng.chance(50) ? Layout.sandboxBase + UInt32(rng.below(0x2000)) : rng.u32()
        image.fds = rng.chance(70) ? 0x2B : UInt16(truncatingIfNeeded: rng.u32())
        image.mxcsr = mxcsrValue()
        for i in 0..<8 {
            image.setST(i, mmxValues && rng.chance(70) ? X87Register(significand: mmxValue(), signExponent: 0xFFFF) : extended())
        }
        for i in 0..<8 { image.setXMM(i, xmmValue()) }
        return image
    }

    /// An FLDENV/FRSTOR environment (SDM Vol. 1 Figures 8-9 and 8-10: protected mode, 32- or
    /// 16-bit): a full tag word with random tags (only empty / not empty is used), pointers.
    mutating func environmentBytes(_ image: FXImage, operandSize16: Bool) -> [UInt8] {
        var fullTags: UInt16 = 0
        for r in 0..<8 {
            let tag: UInt16 = image.ftw >> UInt8(r) & 1 == 0 ? 3 : (rng.chance(80) ? FXImage.tag(of: image.st((r - image.top) & 7)) : UInt16(rng.below(3)))
            fullTags |= tag << UInt16(2 * r)
        }
        if operandSize16 {
            return le16(image.fcw) + le16(image.fsw) + le16(fullTags) + le16(UInt16(truncatingIfNeeded: image.fip)) + le16(image.fcs)
                + le16(UInt16(truncatingIfNeeded: image.fdp)) + le16(image.fds)
        }
        let reserved: UInt16 = rng.chance(80) ? 0xFFFF : UInt16(truncatingIfNeeded: rng.u32())
        return le16(image.fcw) + le16(reserved) + le16(image.fsw) + le16(reserved) + le16(fullTags) + le16(reserved)
            + le32(image.fip) + le16(image.fcs) + le16(image.fop & 0x7FF | (rng.chance(90) ? 0 : UInt16(rng.below(32)) << 11))
            + le32(image.fdp) + le16(image.fds) + le16(reserved)
    }

    // MARK: Instructions

    /// Writes `bytes` over the sandbox at `offset` (after the fill; later patches win).
    mutating func patch(_ offset: UInt32, _ bytes: [UInt8]) {
        for (k, b) in bytes.enumerated() where Int(offset) + k < Layout.sandboxSize {
            patches.append((UInt16(Int(offset) + k), b))
        }
    }

    /// A memory operand of `width` bytes for an FPU instruction, with `contents` patched in
    /// (nil: the fill stays). `align` (16 for FXSAVE and aligned SSE operands) is broken on
    /// purpose now and then, and now and then the operand lies past the FS limit: #GP(0).
    mutating func fpuMemory(width: Int, align: Int = 1, contents: [UInt8]?, avoid: Set<UInt8> = []) -> RM {
        // Its own offset and integer patch; sometimes past the FS limit.
        if width <= 16 && rng.chance(2) { return memory(width: width, avoid: avoid) }
        var offset = sandboxOffset(width: width)
        if Int(offset) + width > Layout.sandboxSize - 16 { offset = UInt32(Layout.sandboxSize - width - 16) }
        if align > 1 && rng.chance(96) { offset &= ~UInt32(align - 1) }
        if let contents { patch(offset, contents) }
        return memory(width: width, offset: offset, avoid: avoid)
    }

    mutating func x87Group() {
        if rng.chance(4) { emit([0x9B]); return }  // WAIT
        if rng.chance(3) {
            emit([0xDF, 0xE0])  // FNSTSW AX
            if rng.chance(60) { emit([0x9E]) }  // SAHF: C0 C2 C3 into CF PF ZF
            return
        }
        var row = rng.pick(Generator.x87Rows)
        // FNINIT and FNSAVE (which initializes) wipe the state: rarer than the rest.
        if (row.mnemonic == "fninit" || row.mnemonic == "fnsave") && rng.chance(67) { row = rng.pick(Generator.x87Rows) }
        x87Instruction(row)
    }

    mutating func x87Instruction(_ row: EncodableRow) {
        var prefixes: [UInt8] = row.prefix.map { [$0] } ?? []
        if let modrm = row.modrm {
            let rm: UInt8 = row.plusI ? (rng.chance(70) ? UInt8(rng.below(4)) : UInt8(rng.below(8))) : 0
            emit(prefixes + row.opcode + [modrm + rm])
            return
        }
        // Memory forms. 66 selects the 16-bit environment formats; elsewhere it is ignored.
        let environment = ["fldenv", "fnstenv", "frstor", "fnsave"].contains(row.mnemonic)
        let o16 = environment ? rng.chance(25) : row.opcode[0] != 0x0F && rng.chance(2)
        if o16 { prefixes.append(0x66) }
        let width = row.memoryWidth(operandSize16: o16)
        var contents: [UInt8]?
        switch row.mnemonic {
        case "fild", "fiadd", "fimul", "ficom", "ficomp", "fisub", "fisubr", "fidiv", "fidivr":
            contents = integerBytes(width)
        case "fbld": contents = packedBCD()
        case "fldcw": contents = le16(controlWord())
        case "fldenv":
            contents = rng.chance(85) ? environmentBytes(fpuImage(), operandSize16: o16) : nil
        case "frstor":
            if rng.chance(85) {
                let image = fpuImage()
                contents = environmentBytes(image, operandSize16: o16)
                for i in 0..<8 { contents! += floatBytesOf(image.st(i)) }
            }
        case "fxrstor":
            var image = fpuImage()
            if rng.chance(4) { image.mxcsr = mxcsrValue(valid: false) }
            if rng.chance(3) { for k in 288..<512 { image.bytes[k] = UInt8(rng.below(256)) } }
            contents = image.bytes
        case "fst", "fstp", "fist", "fistp", "fbstp", "fnstenv", "fnsave", "fnstcw", "fnstsw", "fxsave":
            contents = nil
        default:
            contents = floatBytes(width)
        }
        let align = row.mnemonic == "fxsave" || row.mnemonic == "fxrstor" ? 16 : 1
        let rm = fpuMemory(width: width, align: align, contents: contents)
        emit(rm.encode(prefixes, row.opcode, reg: row.reg ?? 0))
    }

    func floatBytesOf(_ r: X87Register) -> [UInt8] {
        le32(UInt32(truncatingIfNeeded: r.significand)) + le32(UInt32(r.significand >> 32)) + le16(r.signExponent)
    }
}
