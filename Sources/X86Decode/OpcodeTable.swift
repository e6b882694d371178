/// The one opcode table and its compiled lookup structures.
///
/// `rows` is the human-edited source of truth (see `OpcodeRow`); row 0 is the "invalid"
/// sentinel, so a row index doubles as the decoded opcode id. `OpcodeTable.shared` compiles the
/// rows once into flat lookup arrays that the decoder reads through raw pointers, so decoding
/// never touches a Swift array, a reference count or the heap.
public final class OpcodeTable: @unchecked Sendable {
    /// Every row, in table order; index 0 is the invalid sentinel.
    public static let rows: [OpcodeRow] =
        [OpcodeRow("", "(bad)")] + oneByteRows + twoByteRows + x87Rows + simdRows

    /// The compiled table, built on first use.
    public static let shared = OpcodeTable()

    /// Compiled rows, parallel to `rows`.
    let compiled: UnsafeMutablePointer<CompiledRow>
    /// Level 1: one entry per (map, opcode byte) = 512 entries; see `LookupEntry`.
    let level1: UnsafeMutablePointer<UInt32>
    /// Level 2 blocks: 64 row indices per ModRM/prefix-selected opcode, 72 per x87 escape.
    let blocks: UnsafeMutablePointer<UInt16>
    /// All mnemonic bytes, referenced by `CompiledRow.mnemonic16/32`.
    let mnemonicPool: UnsafeMutablePointer<UInt8>
    /// 256 entries: `PrefixKind` of each byte in prefix position, 0 for anything else.
    let prefixKinds: UnsafeMutablePointer<UInt8>
    /// The flag columns of each row, parallel to `rows` (see OpcodeTable+Flags.swift).
    let rowFlags: UnsafeMutablePointer<RowFlags>

    private init() {
        let source = OpcodeTable.rows
        let compiled = UnsafeMutablePointer<CompiledRow>.allocate(capacity: source.count)
        var pool: [UInt8] = []
        var keys: [RowKey] = []
        for (index, row) in source.enumerated() {
            let (compiledRow, key) = OpcodeTable.compile(row, index: index, pool: &pool)
            (compiled + index).initialize(to: compiledRow)
            keys.append(key)
        }
        let rowFlags = UnsafeMutablePointer<RowFlags>.allocate(capacity: source.count)
        for (index, row) in source.enumerated() { (rowFlags + index).initialize(to: RowFlags(row)) }
        self.rowFlags = rowFlags
        let mnemonicPool = UnsafeMutablePointer<UInt8>.allocate(capacity: max(pool.count, 1))
        mnemonicPool.initialize(from: pool, count: pool.count)

        // Group row keys by (map, opcode).
        var byOpcode = [[Int]](repeating: [], count: 512)
        for (index, key) in keys.enumerated() where index > 0 {
            for op in key.opcodes { byOpcode[key.map * 256 + op].append(index) }
        }
        let level1 = UnsafeMutablePointer<UInt32>.allocate(capacity: 512)
        var blockStore: [UInt16] = []
        for slot in 0..<512 {
            let candidates = byOpcode[slot]
            if candidates.isEmpty { level1[slot] = 0; continue }
            let opcode = slot & 0xFF
            let hasModRM = candidates.contains { keys[$0].hasModRM }
            let isX87 = candidates.contains { keys[$0].exactModRM != nil }
            func choose(_ prefixClass: Int, modrm: Int) -> Int {
                OpcodeTable.select(candidates, keys: keys, compiled: compiled, opcode: opcode,
                                   prefixClass: prefixClass, modrm: hasModRM ? modrm : nil)
            }
            if isX87 {
                // 64 register forms by ModRM low six bits, then 8 memory forms by ModRM.reg.
                let base = blockStore.count
                for low in 0..<64 { blockStore.append(UInt16(choose(0, modrm: 0xC0 | low))) }
                for reg in 0..<8 { blockStore.append(UInt16(choose(0, modrm: reg << 3))) }
                level1[slot] = UInt32(base) | LookupEntry.block | LookupEntry.x87 | LookupEntry.modrm
                continue
            }
            var block: [UInt16] = []
            for prefixClass in 0..<4 {
                for mod3 in 0..<2 {
                    for reg in 0..<8 {
                        block.append(UInt16(choose(prefixClass, modrm: (mod3 == 1 ? 0xC0 : 0) | reg << 3)))
                    }
                }
            }
            let uniform = block.allSatisfy { $0 == block[0] }
            if uniform && (block[0] == 0 || !compiled[Int(block[0])].constrainsMod) {
                level1[slot] = UInt32(block[0]) | (hasModRM ? LookupEntry.modrm : 0)
            } else {
                let base = blockStore.count
                blockStore += block
                level1[slot] = UInt32(base) | LookupEntry.block | (hasModRM ? LookupEntry.modrm : 0)
            }
        }
        let blocks = UnsafeMutablePointer<UInt16>.allocate(capacity: max(blockStore.count, 1))
        blocks.initialize(from: blockStore, count: blockStore.count)
        self.compiled = compiled
        self.level1 = level1
        self.blocks = blocks
        self.mnemonicPool = mnemonicPool
        let prefixKinds = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        prefixKinds.initialize(repeating: 0, count: 256)
        prefixKinds[0xF0] = PrefixKind.lock
        prefixKinds[0xF2] = PrefixKind.repne
        prefixKinds[0xF3] = PrefixKind.rep
        prefixKinds[0x66] = PrefixKind.operandSize
        prefixKinds[0x67] = PrefixKind.addressSize
        for (n, byte) in [0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65].enumerated() {
            prefixKinds[byte] = PrefixKind.segmentBase + UInt8(n + 1)
        }
        self.prefixKinds = prefixKinds
    }

    /// Picks the row for one (opcode, prefix class, ModRM) combination: a row with the
    /// matching mandatory prefix beats a prefix-agnostic one; the ModRM constraints must hold.
    private static func select(_ candidates: [Int], keys: [RowKey], compiled: UnsafeMutablePointer<CompiledRow>,
                               opcode: Int, prefixClass: Int, modrm: Int?) -> Int {
        var best = 0
        var bestScore = -1
        for index in candidates {
            let key = keys[index]
            let row = compiled[index]
            if let required = key.prefixClass, required != prefixClass { continue }
            if let modrm {
                let mod3 = modrm >= 0xC0
                if row.requiresMemory && mod3 { continue }
                if row.requiresRegister && !mod3 { continue }
                if let reg = key.regField, reg != (modrm >> 3) & 7 { continue }
                if let exact = key.exactModRM, !exact.contains(modrm) { continue }
                if key.exactModRM == nil && key.isX87Escape && mod3 && !row.requiresRegister { continue }
            }
            let score = (key.prefixClass != nil ? 2 : 0) + (key.exactModRM != nil ? 1 : 0)
            if score > bestScore { best = index; bestScore = score }
        }
        return best
    }

    /// Looks a mnemonic up by row; `operand32` picks the `a|b` variant.
    public func mnemonic(row: Int, wide: Bool) -> String {
        let r = compiled[row]
        let (offset, length) = wide ? (Int(r.mnemonic32Offset), Int(r.mnemonic32Length))
                                    : (Int(r.mnemonic16Offset), Int(r.mnemonic16Length))
        return String(decoding: UnsafeBufferPointer(start: mnemonicPool + offset, count: length), as: UTF8.self)
    }

    /// The operands of a row, as parsed from its SDM codes.
    public func operands(row: Int) -> [OperandSpec] {
        let r = compiled[row]
        return [r.operand0, r.operand1, r.operand2].prefix(Int(r.operandCount)).map { $0 }
    }

    /// Attributes of a row (the table's extra columns).
    public func attributes(row: Int) -> Attributes { compiled[row].attributes }
}

/// Level-1 entry bits: the low 16 bits are a row index, or a block offset when `block` is set.
enum LookupEntry {
    static let block: UInt32 = 1 << 16
    static let x87: UInt32 = 1 << 17
    static let modrm: UInt32 = 1 << 18
}

/// Where a row sits in the opcode space (parsed from `OpcodeRow.opcode`).
struct RowKey {
    var map = 0
    var opcodes: [Int] = []
    /// 0 = none, 1 = 66, 2 = F3, 3 = F2; nil = any.
    var prefixClass: Int?
    var regField: Int?
    var exactModRM: ClosedRange<Int>?
    var hasModRM = false
    var isX87Escape = false
}
