import Testing
import Conformance

/// Builds MOO files by hand, field by field, from the format description (doc/moo_format_v1.md).
struct MOOBuilder {
    static func u32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }

    static func chunk(_ type: String, _ payload: [UInt8]) -> [UInt8] {
        Array(type.utf8) + u32(UInt32(payload.count)) + payload
    }

    /// RG32/RM32: a mask of the registers given, then their values in bit order.
    static func registers(_ type: String, _ values: [(ConformanceRegister, UInt32)]) -> [UInt8] {
        let sorted = values.sorted { $0.0.rawValue < $1.0.rawValue }
        let mask = sorted.reduce(UInt32(0)) { $0 | 1 << UInt32($1.0.rawValue) }
        return chunk(type, u32(mask) + sorted.flatMap { u32($0.1) })
    }

    static func ram(_ bytes: [(UInt32, UInt8)]) -> [UInt8] {
        chunk("RAM ", u32(UInt32(bytes.count)) + bytes.flatMap { u32($0.0) + [$0.1] })
    }

    static func header(tests: UInt32) -> [UInt8] {
        chunk("MOO ", [1, 1, 0, 0] + u32(tests) + Array("386E".utf8))
    }

    static func meta(cpuMode: UInt8 = 0) -> [UInt8] {
        // major, minor, cpu type, opcode, mnemonic (8), count, seed (8), cpu_mode, reserved (3).
        chunk("META", [1, 0, 7] + u32(0x40) + Array("inc     ".utf8) + u32(1) + [UInt8](repeating: 0, count: 8)
              + [cpuMode, 0, 0, 0])
    }

    /// A real-mode `inc ax` (40 F4) at 0100:0010 with AX = 0xFFFF: AX wraps to 0, ZF/AF/PF set.
    static func incTest(index: UInt32, hashByte: UInt8 = 0xAB, finalMask: [(ConformanceRegister, UInt32)] = []) -> [UInt8] {
        let initial: [(ConformanceRegister, UInt32)] = [
            (.cr0, 0x7FFE_FFF0), (.cr3, 0), (.eax, 0x1234_FFFF), (.ebx, 0), (.ecx, 0), (.edx, 0), (.esi, 0),
            (.edi, 0), (.ebp, 0), (.esp, 0x100), (.cs, 0x100), (.ds, 0), (.es, 0), (.fs, 0), (.gs, 0),
            (.ss, 0x200), (.eip, 0x10), (.eflags, 0xFFFC_0002), (.dr6, 0xFFFF_0FF0), (.dr7, 0)]
        let name = Array("inc ax".utf8)
        var fina = registers("RG32", [(.eax, 0x1234_0000), (.eip, 0x12), (.eflags, 0xFFFC_0056)]) + ram([])
        if !finalMask.isEmpty { fina += registers("RM32", finalMask) }
        let payload = u32(index)
            + chunk("GMET", [1, 2, 3])  // an unknown chunk: skipped by its length
            + chunk("NAME", u32(UInt32(name.count)) + name)
            + chunk("BYTS", u32(2) + [0x40, 0xF4])
            + chunk("INIT", registers("RG32", initial) + ram([(0x1010, 0x40), (0x1011, 0xF4)]) + chunk("QUEU", u32(0)))
            + chunk("FINA", fina)
            + chunk("CYCL", u32(0))
            + chunk("HASH", [UInt8](repeating: hashByte, count: 20))
        return chunk("TEST", payload)
    }
}

@Test func mooFileReadsIntoTests() throws {
    let file = MOOBuilder.header(tests: 2) + MOOBuilder.meta()
        + MOOBuilder.registers("RM32", [(.eflags, 0xFFFF_F7FF)])
        + MOOBuilder.incTest(index: 0) + MOOBuilder.incTest(index: 1, hashByte: 0x01, finalMask: [(.eflags, 0xFFFF_FFEF)])
    let tests = try MOOReader.read(file, file: "dir/6640.MOO")
    #expect(tests.count == 2)
    let t = tests[0]
    #expect(t.file == "6640" && t.index == 0 && t.name == "inc ax" && t.bytes == [0x40, 0xF4] && t.mode == "real")
    #expect(t.hash == String(repeating: "ab", count: 20))
    #expect(t.initialRegisters[.eax] == 0x1234_FFFF && t.initialRegisters[.dr6] == 0xFFFF_0FF0)
    #expect(t.initialRAM == [RAMByte(0x1010, 0x40), RAMByte(0x1011, 0xF4)])
    #expect(t.finalRegisters.present == [.eax, .eip, .eflags])
    // The file's RM32 applies to every test; a test's own RM32 wins.
    #expect(t.flagsMask == 0xFFFF_F7FF && t.flagsMaskSource == .file)
    #expect(tests[1].flagsMask == 0xFFFF_FFEF && tests[1].flagsMaskSource == .test)
    #expect(tests[1].hash.hasPrefix("0101"))
    // And the hand-built test passes on X86Core.
    #expect(ConformanceRunner().run(t).passed)
}

@Test func truncatedOrMalformedMOOIsAnError() {
    let good = MOOBuilder.header(tests: 1) + MOOBuilder.meta() + MOOBuilder.incTest(index: 0)
    let cases: [([UInt8], String)] = [
        (Array(good.dropLast(7)), "runs past its container"),
        (MOOBuilder.header(tests: 2) + MOOBuilder.meta() + MOOBuilder.incTest(index: 0), "declares 2 tests"),
        (Array("NOPE".utf8) + good, "not a MOO file"),
        (MOOBuilder.header(tests: 1) + MOOBuilder.chunk("TEST", MOOBuilder.u32(0)), "lacks an INIT or FINA"),
        (MOOBuilder.header(tests: 0) + MOOBuilder.chunk("REGS", [0, 0]), "pre-386"),
    ]
    for (bytes, message) in cases {
        #expect {
            _ = try MOOReader.read(bytes, file: "x.MOO")
        } throws: { error in
            ((error as? ConformanceInputError)?.description ?? "").contains(message)
        }
    }
}

@Test func aNonRealModeMOOFileIsReportedNotRun() throws {
    let file = MOOBuilder.header(tests: 1) + MOOBuilder.meta(cpuMode: 1) + MOOBuilder.incTest(index: 0)
    let t = try MOOReader.read(file, file: "x.MOO")[0]
    let outcome = ConformanceRunner().run(t)
    #expect(outcome.mismatches.count == 1 && "\(outcome.mismatches[0])".contains("not a real-mode test"))
}
