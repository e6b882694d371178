// Every place where x86v's decoder or disassembler deliberately differs from Capstone 4.0.2.
// One entry per rule: the byte pattern it covers, what each side does, and the SDM section that
// says who is right. The differential test and `x86v disasm --check` count a mismatch as "known"
// only if an entry here matches it; anything else fails the test.
//
// This file lives in Tests/ and is compiled into the CapstoneOracle module through the symlink
// Sources/CapstoneOracle/KnownDifferences.swift, so the CLI and the tests share one list.
//
// Pattern grammar (space separated, all tokens must hold):
//   [66] [!66] [F2|F3]    a legacy prefix is present / absent / one of several is present
//   [seg] [!seg]          some segment override is present / none is
//   0F  C8-CF  xx         the bytes after the prefixes, in order (exact, range, any)
//   /1,5,6,7              ModRM.reg (of the byte after the matched bytes) is one of these
//   mod=3  mod!=3         ModRM.mod (same byte)
//   mode16 mode32         the code size
//   ours=invalid  ours=valid  theirs=invalid  theirs=valid   which side accepts the bytes

public enum KnownDifferences {
    public static let all: [KnownDifference] = [
        // MARK: integer and system (begin)
        // MARK: integer and system (end)
        // MARK: x87 (begin)
        // MARK: x87 (end)
        // MARK: SIMD (begin)
        // MARK: SIMD (end)
    ]
}
