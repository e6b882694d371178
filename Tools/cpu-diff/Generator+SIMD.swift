import X86Core
import X86Decode

/// The MMX and SSE/SSE2 families, encoded from the opcode table's `.mmx` and `.sse` rows (every
/// form the decoder knows), plus the SSE-era rows without those attributes: MOVNTI, CLFLUSH,
/// the fences, PREFETCHh and PAUSE; FXSAVE/FXRSTOR come from the x87 family and here too.
///
/// Operands: MMX and XMM registers hold edge values from the case's FXSAVE image; memory
/// operands get values of the instruction's type (singles for …ps/…ss, doubles for …pd/…sd,
/// lanes at the saturation limits for the integer forms). 128-bit operands are 16-byte aligned
/// except for the unaligned moves, and now and then misaligned on purpose (#GP(0)). Shift
/// counts and CMPcc predicates favour the interesting values; LDMXCSR loads random MXCSR
/// values (now and then with a reserved bit: #GP(0)).
extension Generator {
    static let mmxRows: [EncodableRow] = EncodableRow.all.filter { $0.attributes.contains(.mmx) }
    static let sseRows: [EncodableRow] = EncodableRow.all.filter {
        $0.attributes.contains(.sse)
            || ["movnti", "clflush", "lfence", "mfence", "sfence", "prefetchnta", "prefetcht0", "prefetcht1",
                "prefetcht2", "pause", "fxsave", "fxrstor"].contains($0.mnemonic)
    }

    /// 128-bit memory operands that need no alignment (SDM Vol. 1 §11.4.1; everything else
    /// legacy-SSE with a 16-byte operand raises #GP(0) when misaligned).
    static let unalignedOK: Set<String> = ["movups", "movupd", "movdqu"]

    mutating func simdGroup(mmx: Bool) {
        if mmx && rng.chance(5) { emit([0x0F, 0x77]); return }  // EMMS
        let row = rng.pick(mmx ? Generator.mmxRows : Generator.sseRows)
        simdInstruction(row)
    }

    /// Bytes for a memory operand of `width` read by `mnemonic`.
    mutating func simdBytes(_ width: Int, _ mnemonic: String) -> [UInt8] {
        let singles = mnemonic.hasSuffix("ps") || mnemonic.hasSuffix("ss") || mnemonic.hasPrefix("cvtps") || mnemonic.hasPrefix("cvtss")
            || mnemonic.hasPrefix("cvttps") || mnemonic.hasPrefix("cvttss")
        let doubles = mnemonic.hasSuffix("pd") || mnemonic.hasSuffix("sd") || mnemonic.hasPrefix("cvtpd") || mnemonic.hasPrefix("cvtsd")
            || mnemonic.hasPrefix("cvttpd") || mnemonic.hasPrefix("cvttsd")
        var out: [UInt8] = []
        while out.count < width {
            if singles && !doubles {
                out += le32(single())
            } else if doubles && !singles && width >= 8 {
                let v = double()
                out += le32(UInt32(truncatingIfNeeded: v)) + le32(UInt32(v >> 32))
            } else if width >= 8 {
                let v = rng.chance(20) ? double() : mmxValue()
                out += le32(UInt32(truncatingIfNeeded: v)) + le32(UInt32(v >> 32))
            } else {
                out += le32(rng.chance(30) ? single() : UInt32(truncatingIfNeeded: mmxValue()))
            }
        }
        return Array(out.prefix(width))
    }

    /// An imm8 for `mnemonic`: shift counts near the lane widths, CMPcc predicates 0–7 (now and
    /// then a byte with bits 7:3 set, which legacy SSE ignores), anything for the shuffles.
    mutating func simdImmediate(_ mnemonic: String) -> UInt8 {
        if mnemonic.hasPrefix("ps") && !mnemonic.hasPrefix("pshuf") {
            return rng.pick([0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255, UInt8(rng.below(256))])
        }
        if mnemonic.hasPrefix("cmp") { return rng.chance(92) ? UInt8(rng.below(8)) : UInt8(rng.below(256)) }
        return UInt8(rng.below(256))
    }

    mutating func simdInstruction(_ row: EncodableRow) {
        let m = row.mnemonic
        let prefixes: [UInt8] = row.prefix.map { [$0] } ?? []
        if m == "pause" { emit([0xF3, 0x90]); return }
        if let modrm = row.modrm {
            emit(prefixes + row.opcode + [modrm + (row.plusI ? UInt8(rng.below(8)) : 0)])
            return
        }
        if m == "fxsave" || m == "fxrstor" { x87Instruction(row); return }
        if row.operands.isEmpty && row.reg == nil { emit(prefixes + row.opcode); return }  // EMMS
        if m == "maskmovq" || m == "maskmovdqu" {
            // The destination is DS:[EDI]: up to 8 or 16 bytes in the sandbox.
            setRegister(7, Layout.sandboxBase + UInt32(16 + rng.below(Layout.sandboxSize - 48)))
            emit(prefixes + row.opcode + [0xC0 | UInt8(rng.below(8)) << 3 | UInt8(rng.below(8))])
            return
        }
        // ModRM.reg: an opcode extension, or the P/V/G operand.
        var reg: UInt8 = row.reg ?? 0
        var regIsGeneral = false
        for op in row.operands {
            switch op.kind {
            case .regMMX, .regXMM: reg = UInt8(rng.below(8))
            case .regGeneral: reg = destination(); regIsGeneral = true
            default: break
            }
        }
        // ModRM.rm: register or memory.
        var rm = Generator.register(UInt8(rng.below(8)))
        var memoryOffset: UInt32?
        for op in row.operands {
            switch op.kind {
            case .memory:
                memoryOffset = 0
            case .rmMMX, .rmXMM:
                if rng.chance(40) { memoryOffset = 0 }
            case .rmGeneral:
                if rng.chance(40) { memoryOffset = 0 } else { rm = Generator.register(destination()) }
            case .rmRegister:
                rm = Generator.register(destination())
            default: break
            }
        }
        var immediate: [UInt8] = []
        if row.operands.contains(where: { $0.kind == .immediate }) { immediate = [simdImmediate(m)] }
        if memoryOffset != nil {
            let width = row.memoryWidth(operandSize16: false)
            // Store targets get values too: harmless, the store overwrites them.
            var contents: [UInt8]? = simdBytes(width, m)
            if m == "ldmxcsr" { contents = le32(mxcsrValue(valid: rng.chance(95))) }
            let align = width == 16 && !Generator.unalignedOK.contains(m) ? 16 : 1
            let avoid: Set<UInt8> = regIsGeneral ? [reg] : []
            rm = fpuMemory(width: width, align: align, contents: contents, avoid: avoid)
        }
        emit(rm.encode(prefixes, row.opcode, reg: reg, immediate))
    }
}
