/// The decoder's view of one table row: plain data, read through a raw pointer.
struct CompiledRow {
    var operand0 = OperandSpec.none
    var operand1 = OperandSpec.none
    var operand2 = OperandSpec.none
    var operandCount: UInt8 = 0
    var attributes: Attributes = []
    var mnemonic16Offset: UInt16 = 0
    var mnemonic16Length: UInt8 = 0
    var mnemonic32Offset: UInt16 = 0
    var mnemonic32Length: UInt8 = 0
    var requiresMemory = false
    var requiresRegister = false
    /// The row's mandatory prefix is 66, so 66 does not change the operand size.
    var consumesOperandSizePrefix = false
    /// Bit n set when ModRM.reg = n is allowed: MOV Sw rejects 6–7 (and CS as a destination),
    /// MOV CRn rejects CR1/CR5–CR7 (#UD, SDM Vol. 2B "MOV—Move to/from Control Registers").
    var validRegMask: UInt8 = 0xFF
    var immediate1 = ImmediateKind.none
    var immediate2 = ImmediateKind.none

    var constrainsMod: Bool { requiresMemory || requiresRegister }
}

/// How an immediate field is laid out in the instruction bytes.
enum ImmediateKind: UInt8 {
    case none
    /// Ib: one byte, zero-extended.
    case byte
    /// sIb or Jb: one byte, sign-extended to 32 bits.
    case byteSigned
    /// Iw: two bytes, zero-extended.
    case word
    /// Iz: two or four bytes by operand size, zero-extended.
    case operandSize
    /// Jz: two or four bytes by operand size, sign-extended.
    case operandSizeSigned
    /// moffs: two or four bytes by address size.
    case addressSize
    /// Ap: offset (two or four bytes by operand size) then a two-byte selector in `immediate2`.
    case farPointer
}

extension OpcodeTable {
    /// Turns one source row into its compiled form and its place in the opcode space.
    static func compile(_ row: OpcodeRow, index: Int, pool: inout [UInt8]) -> (CompiledRow, RowKey) {
        var compiledRow = CompiledRow()
        var key = RowKey()
        if index == 0 {
            compiledRow.mnemonic16Offset = UInt16(pool.count)
            compiledRow.mnemonic32Offset = UInt16(pool.count)
            pool += Array(row.mnemonic.utf8)
            compiledRow.mnemonic16Length = UInt8(row.mnemonic.utf8.count)
            compiledRow.mnemonic32Length = compiledRow.mnemonic16Length
            return (compiledRow, key)
        }
        compiledRow.attributes = row.attributes

        // Mnemonic variants.
        let variants = row.mnemonic.split(separator: "|").map(String.init)
        precondition(variants.count == 1 || variants.count == 2, "bad mnemonic in row \(row.opcode)")
        compiledRow.mnemonic16Offset = UInt16(pool.count)
        compiledRow.mnemonic16Length = UInt8(variants[0].utf8.count)
        pool += Array(variants[0].utf8)
        if variants.count == 2 {
            compiledRow.mnemonic32Offset = UInt16(pool.count)
            compiledRow.mnemonic32Length = UInt8(variants[1].utf8.count)
            pool += Array(variants[1].utf8)
        } else {
            compiledRow.mnemonic32Offset = compiledRow.mnemonic16Offset
            compiledRow.mnemonic32Length = compiledRow.mnemonic16Length
        }

        // Operands.
        let codes = row.operands.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        precondition(codes.count <= 3, "too many operands in row \(row.opcode)")
        var specs: [OperandSpec] = []
        for code in codes {
            guard let spec = OperandSpec.parse(code) else { preconditionFailure("unknown operand \(code) in row \(row.opcode)") }
            specs.append(spec)
        }
        compiledRow.operandCount = UInt8(specs.count)
        if specs.count > 0 { compiledRow.operand0 = specs[0] }
        if specs.count > 1 { compiledRow.operand1 = specs[1] }
        if specs.count > 2 { compiledRow.operand2 = specs[2] }
        let modIgnored = row.attributes.contains(.modIgnored)
        compiledRow.requiresMemory = specs.contains { $0.requiresMemory }
        compiledRow.requiresRegister = !modIgnored && specs.contains { $0.requiresRegister }
        var immediates: [ImmediateKind] = []
        for spec in specs {
            switch (spec.kind, spec.width) {
            case (.immediate, .byte): immediates.append(.byte)
            case (.immediateSigned, .word): immediates.append(.word)
            case (.immediateSigned, _), (.relative, .byte): immediates.append(.byteSigned)
            case (.immediate, .word): immediates.append(.word)
            case (.immediate, _): immediates.append(.operandSize)
            case (.relative, _): immediates.append(.operandSizeSigned)
            case (.memoryOffset, _): immediates.append(.addressSize)
            case (.farPointer, _): immediates.append(.farPointer)
            default: break
            }
        }
        if immediates.count > 0 { compiledRow.immediate1 = immediates[0] }
        if immediates.count > 1 { compiledRow.immediate2 = immediates[1] }

        // Opcode column.
        var tokens = row.opcode.split(separator: " ").map(String.init)
        if tokens.count >= 2, let prefix = ["NP": 0, "66": 1, "F3": 2, "F2": 3][tokens[0]] {
            key.prefixClass = prefix
            compiledRow.consumesOperandSizePrefix = prefix == 1
            tokens.removeFirst()
        }
        if tokens.first == "0F" { key.map = 1; tokens.removeFirst() }
        var opcodeToken = tokens.removeFirst()
        var expand = false
        if opcodeToken.hasSuffix("+r") { expand = true; opcodeToken.removeLast(2) }
        guard let opcode = Int(opcodeToken, radix: 16) else { preconditionFailure("bad opcode \(row.opcode)") }
        key.opcodes = expand ? Array(opcode..<(opcode + 8)) : [opcode]
        key.isX87Escape = key.map == 0 && (0xD8...0xDF).contains(opcode)
        key.hasModRM = specs.contains { $0.usesModRM } || key.isX87Escape
        if let extra = tokens.first {
            if extra == "/r" {
                key.hasModRM = true
            } else if extra.hasPrefix("/"), let reg = Int(extra.dropFirst()) {
                key.hasModRM = true
                key.regField = reg
            } else if extra.hasSuffix("+i"), let first = Int(extra.dropLast(2), radix: 16) {
                key.exactModRM = first...(first + 7)
                key.regField = (first >> 3) & 7
            } else if let exact = Int(extra, radix: 16) {
                key.exactModRM = exact...exact
                key.regField = (exact >> 3) & 7
            } else {
                preconditionFailure("bad opcode column \(row.opcode)")
            }
        }
        if key.exactModRM != nil { compiledRow.requiresRegister = true }
        for (position, spec) in specs.enumerated() {
            switch spec.kind {
            case .regSegment: compiledRow.validRegMask &= position == 0 ? 0b0011_1101 : 0b0011_1111
            case .regControl: compiledRow.validRegMask &= 0b0001_1101
            default: break
            }
        }
        return (compiledRow, key)
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
