/// The symbol table (`.symtab`, or `.dynsym` when stripped), for the debugger's `break check`,
/// `x/4x stack_top-16` and `symbol+offset` labels. Bounds-checked like the rest of the reader.
extension ELF32File {
    /// One defined symbol (`Elf32_Sym` with a name and an address; STT_FUNC, STT_OBJECT,
    /// STT_NOTYPE labels from assembly).
    public struct Symbol: Sendable, Equatable {
        public let name: String
        public let address: UInt32
        public let size: UInt32
        /// STT_FUNC (2).
        public let isFunction: Bool
    }

    /// Defined symbols with non-empty names, sorted by address then name (files and sections are
    /// left out). Empty for a file without a symbol table.
    public var symbols: [Symbol] {
        guard let table = sections.first(where: { $0.type == 2 }) ?? sections.first(where: { $0.type == 11 }) else {
            return []
        }
        // sh_link of the symbol table names its string table; find it by position.
        guard let tableIndex = sections.firstIndex(where: { $0.offset == table.offset && $0.type == table.type }) else { return [] }
        let link = linkOfSection(tableIndex)
        guard link < sections.count else { return [] }
        let strings = sections[link]
        let reader = Reader(bytes: bytes)
        let start = Int(table.offset), count = Int(table.size) / 16
        guard start + count * 16 <= bytes.count, Int(strings.offset) + Int(strings.size) <= bytes.count else { return [] }
        var out: [Symbol] = []
        for i in 1..<max(1, count) {
            let o = start + i * 16
            let nameOffset = Int(reader.u32(o)), value = reader.u32(o + 4), size = reader.u32(o + 8)
            let info = bytes[o + 12], shndx = reader.u16(o + 14)
            let type = info & 0xF
            guard shndx != 0, type <= 2, nameOffset < Int(strings.size) else { continue }
            var end = Int(strings.offset) + nameOffset
            let limit = Int(strings.offset) + Int(strings.size)
            while end < limit && bytes[end] != 0 { end += 1 }
            let name = String(decoding: bytes[(Int(strings.offset) + nameOffset)..<end], as: UTF8.self)
            guard !name.isEmpty, !name.hasPrefix(".") else { continue }
            out.append(Symbol(name: name, address: value, size: size, isFunction: type == 2))
        }
        return out.sorted { ($0.address, $0.name) < ($1.address, $1.name) }
    }

    /// sh_link of section `index`, read from its header.
    func linkOfSection(_ index: Int) -> Int {
        let reader = Reader(bytes: bytes)
        guard bytes.count >= 52 else { return Int.max }
        let shoff = Int(reader.u32(32)), shentsize = Int(reader.u16(46))
        let o = shoff + index * shentsize + 24
        guard shentsize >= 40, o + 4 <= bytes.count else { return Int.max }
        return Int(reader.u32(o))
    }
}
