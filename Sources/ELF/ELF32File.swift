/// A parsed 32-bit little-endian x86 ELF file (System V gABI; ELF32 for Intel 386).
/// Only what x86v needs: the entry point, the sections and the program headers. Every
/// offset and size is bounds-checked, so a malformed file is an error, never a crash.
public struct ELF32File: Sendable {
    public let bytes: [UInt8]
    public let type: UInt16
    public let entry: UInt32
    public let sections: [Section]
    public let segments: [Segment]

    /// One section header (`Elf32_Shdr`).
    public struct Section: Sendable {
        public let name: String
        public let type: UInt32
        public let flags: UInt32
        public let address: UInt32
        public let offset: UInt32
        public let size: UInt32
        /// SHF_EXECINSTR.
        public var isExecutable: Bool { flags & 0x4 != 0 }
        /// SHT_NOBITS (.bss): no bytes in the file.
        public var hasNoBits: Bool { type == 8 }
    }

    /// One program header (`Elf32_Phdr`).
    public struct Segment: Sendable {
        public let type: UInt32
        public let offset: UInt32
        public let virtualAddress: UInt32
        public let physicalAddress: UInt32
        public let fileSize: UInt32
        public let memorySize: UInt32
        public let flags: UInt32
        public var isLoadable: Bool { type == 1 }
        /// PF_X.
        public var isExecutable: Bool { flags & 0x1 != 0 }
    }

    /// Why a file is not a usable 32-bit x86 ELF.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public init(bytes: [UInt8]) throws(ParseError) {
        self.bytes = bytes
        guard bytes.count >= 4, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else {
            throw ParseError("not an ELF file (bad magic)")
        }
        guard bytes.count >= 52 else { throw ParseError("truncated ELF header (\(bytes.count) bytes, need 52)") }
        guard bytes[4] == 1 else {
            throw ParseError(bytes[4] == 2 ? "64-bit ELF: x86v runs 32-bit guests only" : "bad ELF class \(bytes[4])")
        }
        guard bytes[5] == 1 else { throw ParseError("not a little-endian ELF") }
        let reader = Reader(bytes: bytes)
        type = reader.u16(16)
        let machine = reader.u16(18)
        guard machine == 3 else { throw ParseError("ELF machine \(machine) is not EM_386 (3)") }
        entry = reader.u32(24)
        let programHeaderOffset = Int(reader.u32(28))
        let sectionHeaderOffset = Int(reader.u32(32))
        let programHeaderSize = Int(reader.u16(42))
        let programHeaderCount = Int(reader.u16(44))
        let sectionHeaderSize = Int(reader.u16(46))
        let sectionHeaderCount = Int(reader.u16(48))
        let stringTableIndex = Int(reader.u16(50))

        var segments: [Segment] = []
        if programHeaderCount > 0 {
            guard programHeaderSize >= 32 else { throw ParseError("bad program header size \(programHeaderSize)") }
            guard programHeaderOffset + programHeaderCount * programHeaderSize <= bytes.count else {
                throw ParseError("truncated ELF: program headers run past the end of the file")
            }
            for i in 0..<programHeaderCount {
                let o = programHeaderOffset + i * programHeaderSize
                let segment = Segment(type: reader.u32(o), offset: reader.u32(o + 4), virtualAddress: reader.u32(o + 8),
                                      physicalAddress: reader.u32(o + 12), fileSize: reader.u32(o + 16),
                                      memorySize: reader.u32(o + 20), flags: reader.u32(o + 24))
                if segment.isLoadable && Int(segment.offset) + Int(segment.fileSize) > bytes.count {
                    throw ParseError("truncated ELF: segment \(i) runs past the end of the file")
                }
                segments.append(segment)
            }
        }
        self.segments = segments

        var sections: [Section] = []
        if sectionHeaderCount > 0 && sectionHeaderOffset != 0 {
            guard sectionHeaderSize >= 40 else { throw ParseError("bad section header size \(sectionHeaderSize)") }
            guard sectionHeaderOffset + sectionHeaderCount * sectionHeaderSize <= bytes.count else {
                throw ParseError("truncated ELF: section headers run past the end of the file")
            }
            func header(_ i: Int) -> (name: UInt32, type: UInt32, flags: UInt32, address: UInt32, offset: UInt32, size: UInt32) {
                let o = sectionHeaderOffset + i * sectionHeaderSize
                return (reader.u32(o), reader.u32(o + 4), reader.u32(o + 8), reader.u32(o + 12),
                        reader.u32(o + 16), reader.u32(o + 20))
            }
            var names: (offset: Int, size: Int)? = nil
            if stringTableIndex < sectionHeaderCount {
                let s = header(stringTableIndex)
                if Int(s.offset) + Int(s.size) <= bytes.count { names = (Int(s.offset), Int(s.size)) }
            }
            for i in 0..<sectionHeaderCount {
                let h = header(i)
                if h.type != 8 && h.type != 0 && Int(h.offset) + Int(h.size) > bytes.count {
                    throw ParseError("truncated ELF: section \(i) runs past the end of the file")
                }
                var name = ""
                if let names, Int(h.name) < names.size {
                    var end = names.offset + Int(h.name)
                    while end < names.offset + names.size && bytes[end] != 0 { end += 1 }
                    name = String(decoding: bytes[(names.offset + Int(h.name))..<end], as: UTF8.self)
                }
                sections.append(Section(name: name, type: h.type, flags: h.flags, address: h.address,
                                        offset: h.offset, size: h.size))
            }
        }
        self.sections = sections
    }

    /// Code to disassemble: executable sections with file bytes, or, for a file without
    /// section headers, executable loadable segments.
    public var codeRegions: [(name: String, address: UInt32, bytes: ArraySlice<UInt8>)] {
        let fromSections = sections.filter { $0.isExecutable && !$0.hasNoBits && $0.size > 0 }
        if !fromSections.isEmpty {
            return fromSections.map { ($0.name, $0.address, bytes[Int($0.offset)..<Int($0.offset + $0.size)]) }
        }
        return segments.filter { $0.isLoadable && $0.isExecutable && $0.fileSize > 0 }.enumerated().map {
            ("segment\($0.offset)", $0.element.virtualAddress,
             bytes[Int($0.element.offset)..<Int($0.element.offset + $0.element.fileSize)])
        }
    }
}

/// Little-endian field reads from a buffer whose bounds the caller has checked.
struct Reader {
    let bytes: [UInt8]
    func u16(_ o: Int) -> UInt16 { UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8 }
    func u32(_ o: Int) -> UInt32 {
        UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
    }
}
