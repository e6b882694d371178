import X86Decode

/// An opcode-table row the FPU families encode from: the rows are the decoder's own
/// (`OpcodeTable.rows`), so every x87, MMX, SSE and SSE2 form the decoder knows is generated,
/// and a row added to the table is covered without touching cpu-diff.
struct EncodableRow {
    let row: Int
    let mnemonic: String
    /// Mandatory prefix (66, F2, F3), or nil.
    let prefix: UInt8?
    /// Opcode bytes (`0F xx` or one byte).
    let opcode: [UInt8]
    /// ModRM.reg as an opcode extension (`/n`).
    let reg: UInt8?
    /// An exact ModRM byte (`D9 E0`), or the first of eight (`D8 C0+i`, `plusI`).
    let modrm: UInt8?
    let plusI: Bool
    let operands: [OperandSpec]
    let attributes: Attributes

    /// Every row whose opcode string parses (all of them, in practice).
    static let all: [EncodableRow] = OpcodeTable.rows.indices.dropFirst().compactMap { EncodableRow(row: $0) }

    init?(row index: Int) {
        let source = OpcodeTable.rows[index]
        var tokens = source.opcode.split(separator: " ").map(String.init)
        var prefix: UInt8?
        if let first = tokens.first, ["66", "F2", "F3", "NP"].contains(first) {
            prefix = first == "NP" ? nil : UInt8(first, radix: 16)
            tokens.removeFirst()
        }
        guard let first = tokens.first, let b0 = UInt8(first, radix: 16) else { return nil }
        tokens.removeFirst()
        var opcode = [b0]
        if b0 == 0x0F {
            guard let second = tokens.first, let b1 = UInt8(second, radix: 16) else { return nil }
            opcode.append(b1)
            tokens.removeFirst()
        }
        var reg: UInt8?
        var modrm: UInt8?
        var plusI = false
        for t in tokens {
            if t.hasPrefix("/") {
                if let n = UInt8(t.dropFirst()) { reg = n }
            } else if t.hasSuffix("+i"), let m = UInt8(t.dropLast(2), radix: 16) {
                modrm = m
                plusI = true
            } else if let m = UInt8(t, radix: 16) {
                modrm = m
            } else {
                return nil  // "+r" forms: none among the FPU rows
            }
        }
        row = index
        mnemonic = OpcodeTable.shared.mnemonic(row: index, wide: true)
        self.prefix = prefix
        self.opcode = opcode
        self.reg = reg
        self.modrm = modrm
        self.plusI = plusI
        operands = OpcodeTable.shared.operands(row: index)
        attributes = OpcodeTable.shared.attributes(row: index)
    }

    /// The memory operand's spec, if the row has one (M, or an E/Q/W that may be memory).
    var memoryOperand: OperandSpec? {
        operands.first { [.memory, .rmGeneral, .rmMMX, .rmXMM].contains($0.kind) }
    }

    /// Bytes a memory operand of this row covers (x87 environments by the operand size).
    func memoryWidth(operandSize16: Bool) -> Int {
        switch memoryOperand?.width {
        case .byte: return 1
        case .word: return 2
        case .dword: return 4
        case .qword: return 8
        case .xword, .tbyte: return 10
        case .xmmword: return 16
        default:
            switch mnemonic {
            case "fldenv", "fnstenv": return operandSize16 ? 14 : 28
            case "frstor", "fnsave": return operandSize16 ? 94 : 108
            case "fxsave", "fxrstor": return 512
            default: return 4
            }
        }
    }
}
