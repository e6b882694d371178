// The x87 escapes D8–DF (SDM Vol. 2D Tables A-7 … A-22).

extension OpcodeTable {
    static let x87Rows: [OpcodeRow] = [
    ]
}
