import Testing
import Conformance

/// The twenty registers of an initial state, as JSON (cr0 as the 386EX dumps it: reserved bits set).
func registersJSON(_ overrides: [(String, UInt32)] = []) -> String {
    var values: [(String, UInt32)] = [("cr0", 0x7FFE_FFF0), ("cr3", 0), ("eax", 0), ("ebx", 0), ("ecx", 0), ("edx", 0),
                                      ("esi", 0), ("edi", 0), ("ebp", 0), ("esp", 0x100), ("cs", 0x100), ("ds", 0),
                                      ("es", 0), ("fs", 0), ("gs", 0), ("ss", 0x200), ("eip", 0x10),
                                      ("eflags", 0xFFFC_0002), ("dr6", 0xFFFF_0FF0), ("dr7", 0)]
    for (k, v) in overrides { values[values.firstIndex { $0.0 == k }!].1 = v }
    return "{" + values.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
}

@Test func jsonLineReadsEveryField() throws {
    let line = """
        {"file":"6601","idx":7,"hash":"ABCDEF","name":"inc ax","bytes":[64,244],"mode":"real",\
        "initial":{"regs":\(registersJSON()),"ram":[[4112,64],[4113,244]],"queue":[]},\
        "final":{"regs":{"eax":1,"eip":18},"ram":[[4096,9]]},"flags_mask":4294965247,"flags_mask_src":"csv",\
        "reg_masks":{"eax":65535},"exception":{"number":6,"flag_address":8446}}
        """
    let t = try JSONLinesReader.test(line: line)
    #expect(t.file == "6601" && t.index == 7 && t.hash == "abcdef" && t.name == "inc ax")
    #expect(t.bytes == [0x40, 0xF4])
    #expect(t.initialRegisters[.cr0] == 0x7FFE_FFF0 && t.initialRegisters[.ss] == 0x200)
    #expect(t.initialRAM == [RAMByte(4112, 64), RAMByte(4113, 244)])
    #expect(t.finalRegisters.present == [.eax, .eip])
    #expect(t.finalRAM == [RAMByte(4096, 9)])
    #expect(t.flagsMask == 0xFFFF_F7FF && t.flagsMaskSource == .csv)
    #expect(t.registerMasks[.eax] == 0xFFFF && t.registerMasks[.ebx] == nil)
    #expect(t.exception == TestException(vector: 6, flagAddress: 8446))
}

@Test(arguments: [
    ("{\"idx\":1", "malformed JSON"),
    ("[1,2]", "not a JSON object"),
    ("{\"idx\":1.5,\"initial\":{},\"final\":{}}", "\"idx\" is not an unsigned integer"),
    ("{\"idx\":1,\"final\":{}}", "no \"initial\" object"),
    ("{\"idx\":1,\"initial\":{\"regs\":{\"eax\":1}},\"final\":{}}", "initial.regs has no \"cr0\""),
    ("{\"idx\":1,\"initial\":{\"regs\":{\"eax\":4294967296}},\"final\":{}}", "not a 32-bit unsigned integer"),
    ("{\"idx\":1,\"initial\":{\"ram\":[[1]]},\"final\":{}}", "initial.ram[0] is not [address, byte]"),
])
func malformedJSONLinesAreErrorsNotCrashes(_ line: String, _ message: String) {
    #expect {
        _ = try JSONLinesReader.read(Array(("\n" + line + "\n").utf8), file: "t.jsonl")
    } throws: { error in
        let text = (error as? ConformanceInputError)?.description ?? ""
        return text.hasPrefix("t.jsonl: line 2: ") && text.contains(message)
    }
}

@Test func revocationListSkipsCommentsAndIgnoresCase() {
    let list = RevocationList(text: "# Revocation list.\n8ABBBC61a5866292b0bc816660d7b334bea7962a\r\n\n  0011 \n")
    #expect(list.contains("8abbbc61a5866292b0bc816660d7b334bea7962a"))
    #expect(list.contains("0011"))
    #expect(!list.contains("# revocation list."))
    #expect(list.hashes.count == 2)
}

@Test func opcodeTableGivesTheUndefinedFlagsMaskOfAFile() throws {
    let csv = """
        op,ct,ex,mnemonic,alt_names,f_umask,description
        00,2500,,ADD,,,Add
        08,2500,,OR,,0xFFEF,"Logical OR, inclusive"
        72,500,,JB,"JNAE,JC",,Jump short
        C0,2500,4,SHL,,0xF7EE,Shift
        0FBC,2500,,BSF,,0xF72A,Bit scan
        """
    let table = try UndefinedFlagsTable(csv: csv)
    #expect(table.mask(forFile: "00") == nil)
    #expect(table.mask(forFile: "08") == 0xFFEF)
    #expect(table.mask(forFile: "676608") == 0xFFEF)
    #expect(table.mask(forFile: "C0.4") == 0xF7EE)
    #expect(table.mask(forFile: "66c0.4") == 0xF7EE)
    #expect(table.mask(forFile: "C0.5") == nil)
    #expect(table.mask(forFile: "660FBC") == 0xF72A)
    #expect(UndefinedFlagsTable.fields("72,500,,JB,\"JNAE,JC\",,x") == ["72", "500", "", "JB", "JNAE,JC", "", "x"])
    var t = ConformanceTest(file: "6608", index: 0, hash: "", name: "", bytes: [], mode: "real")
    t.resolveFlagsMask(table: table)
    #expect(t.flagsMask == 0xFFFF_FFEF && t.flagsMaskSource == .csv)
}

@Test func fileStems() {
    #expect(testFileStem("a/b/676601.MOO.gz") == "676601")
    #expect(testFileStem("00.jsonl") == "00")
    #expect(testFileStem("80.4.MOO") == "80.4")
}
