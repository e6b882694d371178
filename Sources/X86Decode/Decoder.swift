/// Decodes i686 instructions (with MMX, SSE, SSE2 and x87) from bytes.
///
/// A `Decoder` is a few raw pointers into the compiled `OpcodeTable`: copying it is free, and
/// `decode` never allocates, retains or dispatches dynamically (a test counts mallocs).
public struct Decoder: @unchecked Sendable {
    let level1: UnsafeMutablePointer<UInt32>
    let blocks: UnsafeMutablePointer<UInt16>
    let rows: UnsafeMutablePointer<CompiledRow>
    let prefixKinds: UnsafeMutablePointer<UInt8>

    public init() {
        let table = OpcodeTable.shared
        prefixKinds = table.prefixKinds
        level1 = table.level1
        blocks = table.blocks
        rows = table.compiled
    }

    /// Decodes one instruction at `bytes[0..<count]`.
    ///
    /// - Returns: `.ok` with `out` filled in, or why the bytes are not an instruction. An
    ///   instruction is never reported longer than 15 bytes or longer than `count`.
    @inline(__always)
    public func decode(_ bytes: UnsafePointer<UInt8>, count: Int, mode: CodeMode,
                       into out: inout DecodedInstruction) -> DecodeStatus {
        var position = 0
        var prefixes: UInt8 = 0
        var segment: UInt8 = 0
        var prefixClassFromRep = 0

        // Legacy prefixes, any order, any repetition (SDM Vol. 2A §2.1.1).
        var byte: UInt8
        while true {
            if position >= 15 { return .tooLong }
            if position >= count { return .truncated }
            byte = bytes[position]
            // One table load tells prefix from opcode (0 = not a prefix).
            let kind = prefixKinds[Int(byte)]
            if kind == 0 { break }
            switch kind {
            case PrefixKind.lock: prefixes |= Prefixes.lock.rawValue
            // The last of F2/F3 wins, so at most one of the two bits is ever set.
            case PrefixKind.repne: prefixes = (prefixes & ~Prefixes.rep.rawValue) | Prefixes.repne.rawValue; prefixClassFromRep = 3
            case PrefixKind.rep: prefixes = (prefixes & ~Prefixes.repne.rawValue) | Prefixes.rep.rawValue; prefixClassFromRep = 2
            case PrefixKind.operandSize: prefixes |= Prefixes.operandSizeOverride.rawValue
            case PrefixKind.addressSize: prefixes |= Prefixes.addressSizeOverride.rawValue
            default: segment = kind &- PrefixKind.segmentBase
            }
            position &+= 1
        }

        // Opcode: one byte, or 0F and a second byte.
        var slot = Int(byte)
        position &+= 1
        if byte == 0x0F {
            if position >= 15 { return .tooLong }
            if position >= count { return .truncated }
            slot = 256 | Int(bytes[position])
            position &+= 1
        }
        let entry = level1[slot]
        if entry == 0 { return .invalid }

        let hasOperandSizePrefix = prefixes & Prefixes.operandSizeOverride.rawValue != 0
        var modrm: UInt8 = 0
        let rowIndex: Int
        if entry & LookupEntry.modrm != 0 {
            if position >= 15 { return .tooLong }
            if position >= count { return .truncated }
            modrm = bytes[position]
            position &+= 1
        }
        if entry & LookupEntry.block != 0 {
            let base = Int(entry & 0xFFFF)
            let reg = Int((modrm >> 3) & 7)
            if entry & LookupEntry.x87 != 0 {
                rowIndex = Int(blocks[modrm >= 0xC0 ? base + Int(modrm & 63) : base + 64 + reg])
            } else {
                let prefixClass = prefixClassFromRep != 0 ? prefixClassFromRep : (hasOperandSizePrefix ? 1 : 0)
                rowIndex = Int(blocks[base + prefixClass * 16 + (modrm >= 0xC0 ? 8 : 0) + reg])
            }
        } else {
            rowIndex = Int(entry & 0xFFFF)
        }
        if rowIndex == 0 { return .invalid }
        let row = rows + rowIndex
        if (row.pointee.validRegMask >> ((modrm >> 3) & 7)) & 1 == 0 { return .invalid }

        let defaultWide = mode == .bits32
        let operand32 = defaultWide != (hasOperandSizePrefix && !row.pointee.consumesOperandSizePrefix)
        let address32 = defaultWide != (prefixes & Prefixes.addressSizeOverride.rawValue != 0)
        var form: UInt8 = (operand32 ? Form.operand32.rawValue : 0) | (address32 ? Form.address32.rawValue : 0)

        // ModRM memory operand: SIB and displacement (SDM Vol. 2A §2.1.5, Tables 2-1 and 2-2).
        var sib: UInt8 = 0
        var displacement: UInt32 = 0
        if entry & LookupEntry.modrm != 0 {
            form |= Form.hasModRM.rawValue
            let mod = modrm >> 6
            if mod != 3 && !row.pointee.attributes.contains(.modIgnored) {
                let rm = modrm & 7
                var displacementSize = 0
                if address32 {
                    if rm == 4 {
                        if position >= 15 { return .tooLong }
                        if position >= count { return .truncated }
                        sib = bytes[position]
                        position &+= 1
                        form |= Form.hasSIB.rawValue
                    }
                    if mod == 1 { displacementSize = 1 }
                    else if mod == 2 || (mod == 0 && (rm == 5 || (rm == 4 && sib & 7 == 5))) { displacementSize = 4 }
                } else {
                    if mod == 1 { displacementSize = 1 }
                    else if mod == 2 || (mod == 0 && rm == 6) { displacementSize = 2 }
                }
                if displacementSize > 0 {
                    let end = position &+ displacementSize
                    if end > 15 { return .tooLong }
                    if end > count { return .truncated }
                    displacement = readLittleEndian(bytes + position, size: displacementSize, signed: true)
                    position = end
                }
            } else if row.pointee.requiresMemory {
                return .invalid
            }
        }

        // LOCK needs a lockable instruction with a memory destination (SDM Vol. 2A LOCK, #UD).
        if prefixes & Prefixes.lock.rawValue != 0 {
            if !row.pointee.attributes.contains(.lockable) || modrm >= 0xC0 { return .invalid }
        }

        // Immediates.
        var immediate: UInt32 = 0
        var immediate2: UInt32 = 0
        let kind1 = row.pointee.immediate1
        if kind1 != .none {
            let size = immediateSize(kind1, operand32: operand32, address32: address32)
            let end = position &+ size
            if end > 15 { return .tooLong }
            if end > count { return .truncated }
            if kind1 == .farPointer {
                let offsetSize = operand32 ? 4 : 2
                immediate = readLittleEndian(bytes + position, size: offsetSize, signed: false)
                immediate2 = readLittleEndian(bytes + position + offsetSize, size: 2, signed: false)
            } else {
                immediate = readLittleEndian(bytes + position, size: size,
                                             signed: kind1 == .byteSigned || kind1 == .operandSizeSigned)
            }
            position = end
            let kind2 = row.pointee.immediate2
            if kind2 != .none {
                let size2 = immediateSize(kind2, operand32: operand32, address32: address32)
                let end2 = position &+ size2
                if end2 > 15 { return .tooLong }
                if end2 > count { return .truncated }
                immediate2 = readLittleEndian(bytes + position, size: size2, signed: kind2 == .byteSigned)
                position = end2
            }
        }

        out.row = UInt16(truncatingIfNeeded: rowIndex)
        out.length = UInt8(truncatingIfNeeded: position)
        out.prefixes = Prefixes(rawValue: prefixes)
        // `segment` is 0…6 by construction (the prefix table), so the bit cast is always a valid case.
        out.segment = unsafeBitCast(segment, to: SegmentOverride.self)
        out.modrm = modrm
        out.sib = sib
        out.form = Form(rawValue: form)
        out.displacement = displacement
        out.immediate = immediate
        out.immediate2 = immediate2
        out.opcode = UInt8(truncatingIfNeeded: slot)
        out.map = UInt8(truncatingIfNeeded: slot >> 8)
        return .ok
    }

    /// Attributes of a decoded instruction's row.
    @inline(__always)
    public func attributes(of instruction: DecodedInstruction) -> Attributes {
        rows[Int(instruction.row)].attributes
    }
}

@inline(__always)
func immediateSize(_ kind: ImmediateKind, operand32: Bool, address32: Bool) -> Int {
    switch kind {
    case .none: return 0
    case .byte, .byteSigned: return 1
    case .word: return 2
    case .operandSize, .operandSizeSigned: return operand32 ? 4 : 2
    case .addressSize: return address32 ? 4 : 2
    case .farPointer: return operand32 ? 6 : 4
    }
}

@inline(__always)
func readLittleEndian(_ p: UnsafePointer<UInt8>, size: Int, signed: Bool) -> UInt32 {
    switch size {
    case 1:
        return signed ? UInt32(bitPattern: Int32(Int8(bitPattern: p[0]))) : UInt32(p[0])
    case 2:
        let value = UInt16(p[0]) | UInt16(p[1]) << 8
        return signed ? UInt32(bitPattern: Int32(Int16(bitPattern: value))) : UInt32(value)
    default:
        return UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
    }
}

/// Values of `OpcodeTable.prefixKinds`: what a byte means in prefix position.
enum PrefixKind {
    static let lock: UInt8 = 1
    static let repne: UInt8 = 2
    static let rep: UInt8 = 3
    static let operandSize: UInt8 = 4
    static let addressSize: UInt8 = 5
    /// Segment overrides are `segmentBase + SegmentOverride.rawValue` (ES = 1 … GS = 6).
    static let segmentBase: UInt8 = 10
}
