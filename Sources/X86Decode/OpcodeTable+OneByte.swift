// The one-byte opcode map (SDM Vol. 2D Table A-2), except the x87 escapes D8–DF.
// Columns: opcode, mnemonic, operands, attributes, flags (read>written), Popek–Goldberg class
// (OpcodeTable+PopekGoldberg.swift; none = innocuous).

extension OpcodeTable {
    static let oneByteRows: [OpcodeRow] = aluRows + [
        OpcodeRow("06", "push", "ES", [], .pushDataSegment), OpcodeRow("07", "pop", "ES", [], .popDataSegment),
        OpcodeRow("0E", "push", "CS", [], .pushCS),
        OpcodeRow("16", "push", "SS", [], .pushSS), OpcodeRow("17", "pop", "SS", [], .popSS),
        OpcodeRow("1E", "push", "DS", [], .pushDataSegment), OpcodeRow("1F", "pop", "DS", [], .popDataSegment),
        OpcodeRow("27", "daa", "", flags: "ac>oszapc", undefined: "o"),
        OpcodeRow("2F", "das", "", flags: "ac>oszapc", undefined: "o"),
        OpcodeRow("37", "aaa", "", flags: "a>oszapc", undefined: "oszp"),
        OpcodeRow("3F", "aas", "", flags: "a>oszapc", undefined: "oszp"),
        OpcodeRow("40+r", "inc", "Zv", flags: "oszap"), OpcodeRow("48+r", "dec", "Zv", flags: "oszap"),
        OpcodeRow("50+r", "push", "Zv"), OpcodeRow("58+r", "pop", "Zv"),
        OpcodeRow("60", "pushaw|pushal"), OpcodeRow("61", "popaw|popal"),
        OpcodeRow("62", "bound", "Gv, Ma", [.controlFlow]),
        OpcodeRow("63", "arpl", "Ew, Gw", flags: "z", .arpl),
        OpcodeRow("68", "push", "Iz"), OpcodeRow("69", "imul", "Gv, Ev, Iz", flags: "oszapc", undefined: "szap"),
        OpcodeRow("6A", "push", "sIb"), OpcodeRow("6B", "imul", "Gv, Ev, sIb", flags: "oszapc", undefined: "szap"),
        OpcodeRow("6C", "insb", "Yb, DX", [.io, .string], flags: "d", .stringIn),
        OpcodeRow("6D", "insw|insd", "Yv, DX", [.io, .string], flags: "d", .stringIn),
        OpcodeRow("6E", "outsb", "DX, Xb", [.io, .string], flags: "d", .stringOut),
        OpcodeRow("6F", "outsw|outsd", "DX, Xv", [.io, .string], flags: "d", .stringOut),
    ] + conditionalJumpRows + [
        OpcodeRow("84", "test", "Eb, Gb", flags: "oszapc", undefined: "a"),
        OpcodeRow("85", "test", "Ev, Gv", flags: "oszapc", undefined: "a"),
        OpcodeRow("86", "xchg", "Eb, Gb", [.lockable]), OpcodeRow("87", "xchg", "Ev, Gv", [.lockable]),
        OpcodeRow("88", "mov", "Eb, Gb"), OpcodeRow("89", "mov", "Ev, Gv"),
        OpcodeRow("8A", "mov", "Gb, Eb"), OpcodeRow("8B", "mov", "Gv, Ev"),
        // MOV from a segment register: a register destination takes the operand size, memory is a word.
        OpcodeRow("8C", "mov", "Rv, Sw", [], .movFromSegment), OpcodeRow("8C", "mov", "Mw, Sw", [], .movFromSegment),
        OpcodeRow("8D", "lea", "Gv, M"),
        OpcodeRow("8E", "mov", "Sw, Rv", [], .movToSegment),
        OpcodeRow("8E", "mov", "Sw, Mw", [], .movToSegment),
        OpcodeRow("8F /0", "pop", "Ev"),
        OpcodeRow("90", "nop"), OpcodeRow("F3 90", "pause"),
    ] + (1...7).map { OpcodeRow(hex(0x90 + $0), "xchg", "eAX, Zv") } + [
        OpcodeRow("98", "cbw|cwde"), OpcodeRow("99", "cwd|cdq"),
        OpcodeRow("9A", "lcall", "Ap", [.controlFlow], .farCall),
        OpcodeRow("9B", "wait"),
        OpcodeRow("9C", "pushf|pushfd", "", [], flags: "oszapcdit>", .pushf),
        OpcodeRow("9D", "popf|popfd", "", [], flags: ">oszapcdit", .popf),
        OpcodeRow("9E", "sahf", "", flags: ">szapc"), OpcodeRow("9F", "lahf", "", flags: "szapc>"),
        OpcodeRow("A0", "mov", "AL, Ob"), OpcodeRow("A1", "mov", "eAX, Ov"),
        OpcodeRow("A2", "mov", "Ob, AL"), OpcodeRow("A3", "mov", "Ov, eAX"),
        OpcodeRow("A4", "movsb", "Yb, Xb", [.string], flags: "d>"),
        OpcodeRow("A5", "movsw|movsd", "Yv, Xv", [.string], flags: "d>"),
        OpcodeRow("A6", "cmpsb", "Xb, Yb", [.string, .repeConditional], flags: "d>oszapc"),
        OpcodeRow("A7", "cmpsw|cmpsd", "Xv, Yv", [.string, .repeConditional], flags: "d>oszapc"),
        OpcodeRow("A8", "test", "AL, Ib", flags: "oszapc", undefined: "a"),
        OpcodeRow("A9", "test", "eAX, Iz", flags: "oszapc", undefined: "a"),
        OpcodeRow("AA", "stosb", "Yb, AL", [.string], flags: "d>"),
        OpcodeRow("AB", "stosw|stosd", "Yv, eAX", [.string], flags: "d>"),
        OpcodeRow("AC", "lodsb", "AL, Xb", [.string], flags: "d>"),
        OpcodeRow("AD", "lodsw|lodsd", "eAX, Xv", [.string], flags: "d>"),
        OpcodeRow("AE", "scasb", "AL, Yb", [.string, .repeConditional], flags: "d>oszapc"),
        OpcodeRow("AF", "scasw|scasd", "eAX, Yv", [.string, .repeConditional], flags: "d>oszapc"),
        OpcodeRow("B0+r", "mov", "Zb, Ib"), OpcodeRow("B8+r", "mov", "Zv, Iz"),
    ] + shiftRows + [
        OpcodeRow("C2", "ret", "Iw", [.controlFlow]), OpcodeRow("C3", "ret", "", [.controlFlow]),
        OpcodeRow("C4", "les", "Gv, Mp", [], .loadFarPointer),
        OpcodeRow("C5", "lds", "Gv, Mp", [], .loadFarPointer),
        OpcodeRow("C6 /0", "mov", "Eb, Ib"), OpcodeRow("C7 /0", "mov", "Ev, Iz"),
        OpcodeRow("C8", "enter", "sIw, sIb"), OpcodeRow("C9", "leave"),
        OpcodeRow("CA", "retf", "Iw", [.controlFlow], .farReturn),
        OpcodeRow("CB", "retf", "", [.controlFlow], .farReturn),
        OpcodeRow("CC", "int3", "", [.controlFlow], .softwareInterrupt),
        OpcodeRow("CD", "int", "Ib", [.controlFlow], .softwareInterrupt),
        OpcodeRow("CE", "into", "", [.controlFlow], flags: "o>", .softwareInterrupt),
        OpcodeRow("CF", "iret|iretd", "", [.controlFlow], flags: ">oszapcdit", .iret),
        OpcodeRow("D4", "aam", "Ib", [.omitTen], flags: "oszapc", undefined: "oac"),
        OpcodeRow("D5", "aad", "Ib", [.omitTen], flags: "oszapc", undefined: "oac"),
        OpcodeRow("D6", "salc", "", flags: "c>"),
        OpcodeRow("D7", "xlatb"),
        OpcodeRow("E0", "loopne", "Jb", [.controlFlow], flags: "z>"),
        OpcodeRow("E1", "loope", "Jb", [.controlFlow], flags: "z>"),
        OpcodeRow("E2", "loop", "Jb", [.controlFlow]),
        OpcodeRow("E3", "jcxz|jecxz", "Jb", [.controlFlow, .mnemonicByAddressSize]),
        OpcodeRow("E4", "in", "AL, Ib", [.io], .portIn), OpcodeRow("E5", "in", "eAX, Ib", [.io], .portIn),
        OpcodeRow("E6", "out", "Ib, AL", [.io], .portOut), OpcodeRow("E7", "out", "Ib, eAX", [.io], .portOut),
        OpcodeRow("E8", "call", "Jz", [.controlFlow]), OpcodeRow("E9", "jmp", "Jz", [.controlFlow]),
        OpcodeRow("EA", "ljmp", "Ap", [.controlFlow], .farJump),
        OpcodeRow("EB", "jmp", "Jb", [.controlFlow]),
        OpcodeRow("EC", "in", "AL, DX", [.io], .portIn), OpcodeRow("ED", "in", "eAX, DX", [.io], .portIn),
        OpcodeRow("EE", "out", "DX, AL", [.io], .portOut), OpcodeRow("EF", "out", "DX, eAX", [.io], .portOut),
        OpcodeRow("F1", "int1", "", [.controlFlow], .softwareInterrupt),
        OpcodeRow("F4", "hlt", "", [.privileged], .hlt),
        OpcodeRow("F5", "cmc", "", flags: "c>c"),
        OpcodeRow("F8", "clc", "", flags: "c"), OpcodeRow("F9", "stc", "", flags: "c"),
        OpcodeRow("FA", "cli", "", [.iopl], flags: "i", .cli),
        OpcodeRow("FB", "sti", "", [.iopl], flags: "i", .sti),
        OpcodeRow("FC", "cld", "", flags: "d"), OpcodeRow("FD", "std", "", flags: "d"),
        OpcodeRow("FE /0", "inc", "Eb", [.lockable], flags: "oszap"),
        OpcodeRow("FE /1", "dec", "Eb", [.lockable], flags: "oszap"),
        OpcodeRow("FF /0", "inc", "Ev", [.lockable], flags: "oszap"),
        OpcodeRow("FF /1", "dec", "Ev", [.lockable], flags: "oszap"),
        OpcodeRow("FF /2", "call", "Ev", [.controlFlow]),
        OpcodeRow("FF /3", "lcall", "M", [.controlFlow], .farCall),
        OpcodeRow("FF /4", "jmp", "Ev", [.controlFlow]),
        OpcodeRow("FF /5", "ljmp", "M", [.controlFlow], .farJump),
        OpcodeRow("FF /6", "push", "Ev"),
    ] + unaryGroupRows

    /// ADD/OR/ADC/SBB/AND/SUB/XOR/CMP: six forms each at 00–3D, and the immediate groups 80–83.
    private static let aluRows: [OpcodeRow] = {
        // AND/OR/XOR leave AF undefined (SDM Vol. 2A "AND—Flags Affected").
        let ops: [(String, String, UndefinedFlags)] = [
            ("add", ">oszapc", .none), ("or", ">oszapc", "a"), ("adc", "c>oszapc", .none),
            ("sbb", "c>oszapc", .none), ("and", ">oszapc", "a"), ("sub", ">oszapc", .none),
            ("xor", ">oszapc", "a"), ("cmp", ">oszapc", .none)]
        var rows: [OpcodeRow] = []
        for (n, (name, flags, undefined)) in ops.enumerated() {
            let base = n * 8
            let lock: Attributes = name == "cmp" ? [] : [.lockable]
            // AND/OR/XOR print even a sign-extended immediate unsigned (Capstone, and how
            // people read masks); the others print it signed.
            let logic: Attributes = ["and", "or", "xor"].contains(name) ? [.unsignedImmediate] : []
            rows += [
                OpcodeRow(hex(base), name, "Eb, Gb", lock, flags: flags, undefined: undefined),
                OpcodeRow(hex(base + 1), name, "Ev, Gv", lock, flags: flags, undefined: undefined),
                OpcodeRow(hex(base + 2), name, "Gb, Eb", [], flags: flags, undefined: undefined),
                OpcodeRow(hex(base + 3), name, "Gv, Ev", [], flags: flags, undefined: undefined),
                OpcodeRow(hex(base + 4), name, "AL, Ib", [], flags: flags, undefined: undefined),
                OpcodeRow(hex(base + 5), name, "eAX, Iz", [], flags: flags, undefined: undefined),
                OpcodeRow("80 /\(n)", name, "Eb, Ib", lock, flags: flags, undefined: undefined),
                OpcodeRow("81 /\(n)", name, "Ev, Iz", lock, flags: flags, undefined: undefined),
                // 82 is an alias of 80 in 16/32-bit mode (#UD only in 64-bit mode).
                OpcodeRow("82 /\(n)", name, "Eb, Ib", lock, flags: flags, undefined: undefined),
                OpcodeRow("83 /\(n)", name, "Ev, sIb", lock.union(logic), flags: flags, undefined: undefined),
            ]
        }
        return rows
    }()

    static let conditionNames = ["o", "no", "b", "ae", "e", "ne", "be", "a",
                                 "s", "ns", "p", "np", "l", "ge", "le", "g"]

    /// The flags each condition reads (SDM Vol. 2B "Jcc", condition table): `be` reads CF and ZF.
    static let conditionReads = ["o>", "o>", "c>", "c>", "z>", "z>", "cz>", "cz>",
                                 "s>", "s>", "p>", "p>", "so>", "so>", "szo>", "szo>"]

    private static let conditionalJumpRows: [OpcodeRow] = conditionNames.enumerated().map { n, cc in
        OpcodeRow(hex(0x70 + n), "j" + cc, "Jb", [.controlFlow], flags: conditionReads[n])
    }

    /// Group 2 (C0, C1, D0–D3). /6 is SAL, an alias of SHL that hardware executes.
    private static let shiftRows: [OpcodeRow] = {
        let names = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"]
        var rows: [OpcodeRow] = []
        for (n, name) in names.enumerated() {
            // ROL/ROR write only OF and CF; RCL/RCR also read CF (SDM Vol. 2B "RCL/RCR/ROL/ROR").
            let flags = n < 2 ? ">oc" : n < 4 ? "c>oc" : ">oszapc"
            let undefined: UndefinedFlags = n < 4 ? .rotate : n == 7 ? .arithmeticShift : .shift
            rows += [
                OpcodeRow("C0 /\(n)", name, "Eb, Ib", flags: flags, undefined: undefined),
                OpcodeRow("C1 /\(n)", name, "Ev, Ib", flags: flags, undefined: undefined),
                OpcodeRow("D0 /\(n)", name, "Eb, 1", flags: flags, undefined: undefined),
                OpcodeRow("D1 /\(n)", name, "Ev, 1", flags: flags, undefined: undefined),
                OpcodeRow("D2 /\(n)", name, "Eb, CL", flags: flags, undefined: undefined),
                OpcodeRow("D3 /\(n)", name, "Ev, CL", flags: flags, undefined: undefined),
            ]
        }
        return rows
    }()

    /// Group 3 (F6, F7). /1 is an undocumented alias of TEST that hardware executes.
    private static let unaryGroupRows: [OpcodeRow] = {
        var rows: [OpcodeRow] = []
        for (suffix, width, immediate) in [("F6", "Eb", "Ib"), ("F7", "Ev", "Iz")] {
            rows += [
                OpcodeRow("\(suffix) /0", "test", "\(width), \(immediate)", flags: ">oszapc", undefined: "a"),
                OpcodeRow("\(suffix) /1", "test", "\(width), \(immediate)", flags: ">oszapc", undefined: "a"),
                OpcodeRow("\(suffix) /2", "not", width, [.lockable]),
                OpcodeRow("\(suffix) /3", "neg", width, [.lockable], flags: ">oszapc"),
                OpcodeRow("\(suffix) /4", "mul", width, flags: ">oszapc", undefined: "szap"),
                OpcodeRow("\(suffix) /5", "imul", width, flags: ">oszapc", undefined: "szap"),
                OpcodeRow("\(suffix) /6", "div", width, [.controlFlow], flags: ">oszapc", undefined: "oszapc"),
                OpcodeRow("\(suffix) /7", "idiv", width, [.controlFlow], flags: ">oszapc", undefined: "oszapc"),
            ]
        }
        return rows
    }()
}

/// Two upper-case hex digits, as the table's opcode column writes bytes.
func hex(_ value: Int) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[(value >> 4) & 15], digits[value & 15]])
}
