/// Turns decoded instructions into Intel-syntax text, byte-identical to Capstone 4.0.2's
/// `mnemonic op_str` (the differential test holds us to it; deliberate differences are in
/// Tests/X86DecodeTests/KnownDifferences.swift).
///
/// Text is written into a buffer the disassembler owns, so formatting allocates nothing;
/// `text(_:address:)` is the allocating convenience.
public final class Disassembler {
    let rows: UnsafeMutablePointer<CompiledRow>
    let pool: UnsafeMutablePointer<UInt8>
    /// The formatted text of the last `format` call.
    public let buffer: UnsafeMutablePointer<UInt8>
    static let capacity = 256

    public init() {
        let table = OpcodeTable.shared
        rows = table.compiled
        pool = table.mnemonicPool
        buffer = .allocate(capacity: Disassembler.capacity)
    }

    deinit { buffer.deallocate() }

    /// Formats `instruction`, decoded at `address`, into `buffer`.
    /// - Returns: the mnemonic's length (including `lock `/`rep ` prefixes) and the total length;
    ///   the operands start at `mnemonic + 1` when `total > mnemonic`.
    @discardableResult
    public func format(_ instruction: DecodedInstruction, address: UInt32) -> (mnemonic: Int, total: Int) {
        var w = TextWriter(base: buffer)
        let row = rows + Int(instruction.row)
        let attributes = row.pointee.attributes
        if instruction.prefixes.contains(.lock) { w.append("lock ") }
        if attributes.contains(.string) {
            if instruction.prefixes.contains(.repne) { w.append("repne ") }
            else if instruction.prefixes.contains(.rep) {
                w.append(attributes.contains(.repeConditional) ? "repe " : "rep ")
            }
        }
        let wideMnemonic = attributes.contains(.mnemonicByAddressSize) ? instruction.addressSize32 : instruction.operandSize32
        var count = Int(row.pointee.operandCount)
        if attributes.contains(.comparePredicate) && instruction.immediate < 8 {
            // "cmp" + predicate + the rest of the row's mnemonic ("ps", "sd", …), no imm8 operand.
            w.append("cmp")
            w.appendComparePredicate(UInt8(instruction.immediate))
            w.append(pool + Int(row.pointee.mnemonic32Offset) + 3, count: Int(row.pointee.mnemonic32Length) - 3)
            count -= 1
        } else if wideMnemonic {
            w.append(pool + Int(row.pointee.mnemonic32Offset), count: Int(row.pointee.mnemonic32Length))
        } else {
            w.append(pool + Int(row.pointee.mnemonic16Offset), count: Int(row.pointee.mnemonic16Length))
        }
        let mnemonicLength = w.count
        if count == 0 { return (mnemonicLength, mnemonicLength) }
        // AAM/AAD with the default base print no operand.
        if attributes.contains(.omitTen) && instruction.immediate == 10 { return (mnemonicLength, mnemonicLength) }
        w.append(" ")
        var immediateIndex = 0
        for index in 0..<count {
            if index > 0 { w.append(", ") }
            let spec = index == 0 ? row.pointee.operand0 : (index == 1 ? row.pointee.operand1 : row.pointee.operand2)
            formatOperand(spec, instruction, attributes: attributes, address: address,
                          immediateIndex: &immediateIndex, into: &w)
        }
        return (mnemonicLength, w.count)
    }

    /// The Capstone-style text `mnemonic op_str` (allocates a String).
    public func text(_ instruction: DecodedInstruction, address: UInt32) -> String {
        let (_, total) = format(instruction, address: address)
        return String(decoding: UnsafeBufferPointer(start: buffer, count: total), as: UTF8.self)
    }

    /// Mnemonic and operand text separately, as Capstone reports them.
    public func parts(_ instruction: DecodedInstruction, address: UInt32) -> (mnemonic: String, operands: String) {
        let (mnemonic, total) = format(instruction, address: address)
        let m = String(decoding: UnsafeBufferPointer(start: buffer, count: mnemonic), as: UTF8.self)
        if total == mnemonic { return (m, "") }
        let o = String(decoding: UnsafeBufferPointer(start: buffer + mnemonic + 1, count: total - mnemonic - 1),
                       as: UTF8.self)
        return (m, o)
    }

    private func formatOperand(_ spec: OperandSpec, _ i: DecodedInstruction, attributes: Attributes, address: UInt32,
                               immediateIndex: inout Int, into w: inout TextWriter) {
        let wide = i.operandSize32
        switch spec.kind {
        case .none:
            break
        case .rmGeneral:
            if i.mod == 3 { w.appendGeneral(i.rm, width: spec.width, wide: wide) }
            else { formatMemory(spec.width, i, into: &w) }
        case .memory:
            formatMemory(spec.width, i, into: &w)
        case .rmRegister:
            w.appendGeneral(i.rm, width: spec.width, wide: wide)
        case .regGeneral:
            w.appendGeneral(i.reg, width: spec.width, wide: wide)
        case .regSegment:
            w.appendSegment(i.reg)
        case .regControl:
            w.append("cr"); w.appendDigit(i.reg)
        case .regDebug:
            w.append("dr"); w.appendDigit(i.reg)
        case .regMMX:
            w.append("mm"); w.appendDigit(i.reg)
        case .rmMMX:
            if i.mod == 3 { w.append("mm"); w.appendDigit(i.rm) } else { formatMemory(spec.width, i, into: &w) }
        case .rmRegisterMMX:
            w.append("mm"); w.appendDigit(i.rm)
        case .regXMM:
            w.append("xmm"); w.appendDigit(i.reg)
        case .rmXMM:
            if i.mod == 3 { w.append("xmm"); w.appendDigit(i.rm) } else { formatMemory(spec.width, i, into: &w) }
        case .rmRegisterXMM:
            w.append("xmm"); w.appendDigit(i.rm)
        case .st0:
            w.append("st(0)")
        case .stRM:
            w.append("st("); w.appendDigit(i.rm); w.append(")")
        case .immediate:
            let value = immediateIndex == 0 ? i.immediate : i.immediate2
            immediateIndex += 1
            w.appendNumber(value)
        case .immediateSigned:
            let value = immediateIndex == 0 ? i.immediate : i.immediate2
            immediateIndex += 1
            if attributes.contains(.unsignedImmediate) {
                w.appendNumber(wide ? value : value & 0xFFFF)
            } else if spec.width == .word {
                w.appendSigned(Int32(Int16(truncatingIfNeeded: value)))
            } else {
                w.appendSigned(Int32(bitPattern: value))
            }
        case .relative:
            immediateIndex += 1
            var target = address &+ UInt32(i.length) &+ i.immediate
            if !wide { target &= 0xFFFF }
            w.appendNumber(target)
        case .farPointer:
            immediateIndex += 1
            w.appendNumber(i.immediate2); w.append(":"); w.appendNumber(i.immediate)
        case .memoryOffset:
            immediateIndex += 1
            w.appendSizeLabel(spec.width, wide: wide)
            w.appendSegmentOverride(i.segment)
            w.append("["); w.appendNumber(i.immediate); w.append("]")
        case .stringSource:
            w.appendSizeLabel(spec.width, wide: wide)
            w.appendSegmentOverride(i.segment)
            w.append(i.addressSize32 ? "[esi]" : "[si]")
        case .stringDestination:
            w.appendSizeLabel(spec.width, wide: wide)
            w.append(i.addressSize32 ? "es:[edi]" : "es:[di]")
        case .fixedGeneral:
            w.appendGeneral(spec.register, width: spec.width, wide: wide)
        case .fixedSegment:
            w.appendSegment(spec.register)
        case .opcodeRegister:
            w.appendGeneral(i.opcode & 7, width: spec.width, wide: wide)
        case .one:
            w.append("1")
        }
    }

    private func formatMemory(_ width: OperandWidth, _ i: DecodedInstruction, into w: inout TextWriter) {
        w.appendSizeLabel(width, wide: i.operandSize32)
        w.appendSegmentOverride(i.segment)
        w.append("[")
        let displacement = i.displacement
        if i.addressSize32 {
            var base: UInt8? = i.rm
            var index: UInt8? = nil
            var scale: UInt8 = 0
            if i.hasSIB {
                base = i.sib & 7
                if base == 5 && i.mod == 0 { base = nil }
                let indexField = (i.sib >> 3) & 7
                if indexField != 4 { index = indexField; scale = i.sib >> 6 }
            } else if i.rm == 5 && i.mod == 0 {
                base = nil
            }
            if let base { w.appendGeneral(base, width: .dword, wide: true) }
            if let index {
                if base != nil { w.append(" + ") }
                w.appendGeneral(index, width: .dword, wide: true)
                if scale > 0 { w.append("*"); w.appendDigit(1 << scale) }
            }
            if base == nil && index == nil {
                w.appendNumber(displacement)
            } else if i.mod != 0 || (base == nil) {
                w.appendDisplacement(Int32(bitPattern: displacement))
            }
        } else {
            if i.mod == 0 && i.rm == 6 {
                // Capstone shows a 16-bit absolute displacement sign-extended to 32 bits when
                // 67 selected 16-bit addressing in 32-bit code, and as 16 bits in 16-bit code.
                w.appendNumber(i.prefixes.contains(.addressSizeOverride) ? displacement : displacement & 0xFFFF)
            } else {
                w.appendBase16(i.rm)
                if i.mod != 0 { w.appendDisplacement(Int32(bitPattern: displacement)) }
            }
        }
        w.append("]")
    }
}

/// Appends ASCII into a fixed buffer. Every append is bounded by the longest possible
/// instruction text (well under `Disassembler.capacity`).
struct TextWriter {
    let base: UnsafeMutablePointer<UInt8>
    var count = 0

    init(base: UnsafeMutablePointer<UInt8>) { self.base = base }

    @inline(__always) mutating func append(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        (base + count).update(from: s.utf8Start, count: n)
        count += n
    }

    @inline(__always) mutating func append(_ p: UnsafePointer<UInt8>, count n: Int) {
        (base + count).update(from: p, count: n)
        count += n
    }

    @inline(__always) mutating func appendByte(_ b: UInt8) {
        base[count] = b
        count += 1
    }

    @inline(__always) mutating func appendDigit(_ d: UInt8) { appendByte(0x30 + d) }

    /// Capstone's number rule: 0–9 in decimal, anything larger as lower-case `0x…` hex.
    mutating func appendNumber(_ value: UInt32) {
        if value <= 9 { appendDigit(UInt8(value)); return }
        append("0x")
        var shift = 28
        while shift > 0 && (value >> UInt32(shift)) & 0xF == 0 { shift -= 4 }
        while shift >= 0 {
            let nibble = UInt8((value >> UInt32(shift)) & 0xF)
            appendByte(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
            shift -= 4
        }
    }

    mutating func appendSigned(_ value: Int32) {
        if value < 0 {
            appendByte(0x2D)
            appendNumber(UInt32(bitPattern: value).magnitudeOfNegative)
        } else {
            appendNumber(UInt32(value))
        }
    }

    /// ` + 0x10` / ` - 0x10` after a base or index register; nothing for zero.
    mutating func appendDisplacement(_ value: Int32) {
        if value == 0 { return }
        if value < 0 {
            append(" - ")
            appendNumber(UInt32(bitPattern: value).magnitudeOfNegative)
        } else {
            append(" + ")
            appendNumber(UInt32(value))
        }
    }

    mutating func appendGeneral(_ number: UInt8, width: OperandWidth, wide: Bool) {
        let n = Int(number & 7)
        switch width {
        case .byte:
            appendPair("alcldlblahchdhbh", n)
        case .word:
            appendPair("axcxdxbxspbpsidi", n)
        case .dword:
            appendByte(0x65); appendPair("axcxdxbxspbpsidi", n)
        default:
            if wide { appendByte(0x65) }
            appendPair("axcxdxbxspbpsidi", n)
        }
    }

    mutating func appendSegment(_ number: UInt8) {
        appendPair("escsssdsfsgs", Int(number))
    }

    mutating func appendSegmentOverride(_ segment: SegmentOverride) {
        guard let n = segment.segmentNumber else { return }
        appendSegment(n)
        appendByte(0x3A)
    }

    mutating func appendBase16(_ rm: UInt8) {
        switch rm {
        case 0: append("bx + si")
        case 1: append("bx + di")
        case 2: append("bp + si")
        case 3: append("bp + di")
        case 4: append("si")
        case 5: append("di")
        case 6: append("bp")
        default: append("bx")
        }
    }

    mutating func appendSizeLabel(_ width: OperandWidth, wide: Bool) {
        switch width {
        case .unsized: break
        case .byte: append("byte ptr ")
        case .word: append("word ptr ")
        case .dword: append("dword ptr ")
        case .qword: append("qword ptr ")
        case .xword: append("xword ptr ")
        case .tbyte: append("tbyte ptr ")
        case .xmmword: append("xmmword ptr ")
        case .operandSize, .immediateSize: append(wide ? "dword ptr " : "word ptr ")
        case .boundPair: append(wide ? "qword ptr " : "dword ptr ")
        case .pointerLabel: append("ptr ")
        }
    }

    /// SDM Vol. 2A CMPPS Table 3-7: the eight SSE comparison predicates.
    mutating func appendComparePredicate(_ predicate: UInt8) {
        switch predicate & 7 {
        case 0: append("eq")
        case 1: append("lt")
        case 2: append("le")
        case 3: append("unord")
        case 4: append("neq")
        case 5: append("nlt")
        case 6: append("nle")
        default: append("ord")
        }
    }

    private mutating func appendPair(_ names: StaticString, _ n: Int) {
        let p = names.utf8Start + 2 * n
        appendByte(p[0]); appendByte(p[1])
    }
}

extension UInt32 {
    /// |x| for a value whose Int32 reading is negative (handles 0x80000000).
    var magnitudeOfNegative: UInt32 { 0 &- self }
}
