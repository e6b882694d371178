// MMX, SSE and SSE2 rows of the two-byte map (SDM Vol. 2D Table A-3, mandatory prefixes
// 66/F3/F2 in the opcode column).

extension OpcodeTable {
    static let simdRows: [OpcodeRow] = [
    ]
}
