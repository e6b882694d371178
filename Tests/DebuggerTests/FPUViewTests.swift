import Debugger
import ELF
import Foundation
import Machine
import X86Core
import XCTest

/// The x87/SSE views (`fpu`, `sse`, the `regs` change line) and the GDB stub's x87/SSE registers
/// on the debugger session: a hand-built FPU state with one register of each class, and the
/// fpu-mf guest stopped after its 1/0.
final class FPUViewTests: XCTestCase {
    /// A bare machine whose FPU holds, from ST0 down (TOP = 5): 1.5, -0, +inf, the real
    /// indefinite, an SNaN, the smallest denormal, a pseudo-denormal, an unnormal.
    func session(fpu edit: (inout FPUState) -> Void = { _ in }) -> DebugSession {
        let m = PCMachine(memorySize: 4 << 20)
        m.cpu.resetFlat(cpl: 0)
        let s = DebugSession(machine: m, vmm: nil, elf: nil, guestName: "fpu")
        edit(&m.cpu.statePointer.pointee.fpu)
        return s
    }

    static func sample(_ f: inout FPUState) {
        let values: [(UInt16, UInt64)] = [
            (0xFFFF, 0xC000_0000_0000_0000),   // R0 = ST3: QNaN indefinite
            (0x7FFF, 0x8000_0000_0000_0001),   // R1 = ST4: SNaN payload 1
            (0x0000, 0x0000_0000_0000_0001),   // R2 = ST5: smallest denormal
            (0x0000, 0x8000_0000_0000_0000),   // R3 = ST6: pseudo-denormal (= 2^-16382)
            (0x4000, 0x4000_0000_0000_0000),   // R4 = ST7: unnormal
            (0x3FFF, 0xC000_0000_0000_0000),   // R5 = ST0: 1.5
            (0x8000, 0x0000_0000_0000_0000),   // R6 = ST1: -0
            (0x7FFF, 0x8000_0000_0000_0000),   // R7 = ST2: +inf
        ]
        for (i, v) in values.enumerated() { f.registers[i] = X87Register(significand: v.1, signExponent: v.0) }
        f.control = 0x0672          // IE ZE OE unmasked, PC 53, RC down
        f.status = 0x2800 | 0x0200 | 0x0021 | 0x0080 | 0x8000   // TOP 5, C1, IE PE, ES, B
        f.tags = 0x92AA
        f.lastOpcode = 0x0435       // dc 35: fdiv qword ptr [m]
        f.instructionSelector = 0x0008
        f.instructionPointer = 0x0010_1C7C
        f.operandSelector = 0x0010
        f.operandPointer = 0x0010_4020
        f.xmm[0] = XMMRegister(low: 0x4000_0000_3F80_0000, high: 0x3FF8_0000_0000_0000)
        f.xmm[3] = XMMRegister(low: 0xFFFF_FFFF_FFFF_FFFF, high: 0x7FC0_0000_FF80_0000)
        f.mxcsr = 0x9F81           // FZ, IE flag, all masked, RC nearest
    }

    func testClassesAndText() {
        let cases: [(UInt16, UInt64, String)] = [
            (0x0000, 0, "+0"), (0x8000, 0, "-0"),
            (0x3FFF, 0x8000_0000_0000_0000, "+1"), (0xBFFF, 0xC000_0000_0000_0000, "-1.5"),
            (0x4000, 0xC90F_DAA2_2168_C235, "+3.1415926535897932385"),
            (0x0000, 0x0000_0000_0000_0001, "denormal +4e-4951"),
            (0x0000, 0x8000_0000_0000_0000, "pseudo-denormal +3.3621031431120935063e-4932"),
            (0x3FFF, 0x0000_0000_0000_0001, "unnormal (unsupported)"),
            (0x7FFF, 0x8000_0000_0000_0000, "+inf"), (0xFFFF, 0x8000_0000_0000_0000, "-inf"),
            (0xFFFF, 0xC000_0000_0000_0000, "QNaN indefinite"),
            (0x7FFF, 0xC000_0000_0000_0000, "+QNaN payload 0x0"),
            (0xFFFF, 0xC000_0000_0000_0abc, "-QNaN payload 0xabc"),
            (0x7FFF, 0x8000_0000_0000_0001, "+SNaN payload 0x1"),
            (0x7FFF, 0x0000_0000_0000_0000, "pseudo-infinity (unsupported)"),
            (0x7FFF, 0x4000_0000_0000_0000, "pseudo-NaN (unsupported)"),
        ]
        let s = session { f in
            f.status = 0
            f.tags = 0
            for (i, c) in cases.prefix(8).enumerated() { f.registers[i] = X87Register(significand: c.1, signExponent: c.0) }
        }
        let lines = CommandInterpreter(session: s).execute("fpu").text.split(separator: "\n").map(String.init)
        for (i, c) in cases.prefix(8).enumerated() {
            XCTAssertTrue(lines[4 + i].contains(c.2), "\(lines[4 + i]) should say \(c.2)")
        }
        let s2 = session { f in
            f.status = 0
            f.tags = 0
            for (i, c) in cases.dropFirst(8).enumerated() { f.registers[i] = X87Register(significand: c.1, signExponent: c.0) }
        }
        let lines2 = CommandInterpreter(session: s2).execute("fpu").text.split(separator: "\n").map(String.init)
        for (i, c) in cases.dropFirst(8).enumerated() {
            XCTAssertTrue(lines2[4 + i].contains(c.2), "\(lines2[4 + i]) should say \(c.2)")
        }
    }

    func testFPUView() {
        let s = session(fpu: Self.sample)
        let c = CommandInterpreter(session: s)
        XCTAssertEqual(c.execute("fpu").text, """
            FCW 0x0672* masked DE UE PE, unmasked IE ZE OE  PC 53-bit (double)  RC down (toward -inf)
            FSW 0xaaa1* TOP 5  C3 0 C2 0 C1 1 C0 0  flags IE PE  SF 0  ES 1  B 1
            FTW 0x92aa* (abridged, as FXSAVE stores it: 0xff)
                  reg  tag      exp  significand       value
             ST0  R5   valid    3fff c000000000000000* +1.5
             ST1  R6   zero     8000 0000000000000000* -0
             ST2  R7   special  7fff 8000000000000000* +inf
             ST3  R0   special  ffff c000000000000000* QNaN indefinite
             ST4  R1   special  7fff 8000000000000001* +SNaN payload 0x1
             ST5  R2   special  0000 0000000000000001* denormal +4e-4951
             ST6  R3   special  0000 8000000000000000* pseudo-denormal +3.3621031431120935063e-4932
             ST7  R4   special  4000 4000000000000000* unnormal (unsupported)
            FOP 0x435* (dc /6: fdiv qword ptr [m])  FIP 0x0008:0x00101c7c* FDP 0x0010:0x00104020*

            """)
        // Nothing changed since this stop: no marks; MMX on request.
        s.notePreviousRegisters()
        let again = c.execute("fpu mmx").text
        XCTAssertFalse(again.contains("*"))
        XCTAssertTrue(again.hasSuffix("""
            MMX (MMn is the significand of physical register Rn)
             mm0  0xc000000000000000    mm1  0x8000000000000001
             mm2  0x0000000000000001    mm3  0x8000000000000000
             mm4  0x4000000000000000    mm5  0xc000000000000000
             mm6  0x0000000000000000    mm7  0x8000000000000000

            """), again)
        XCTAssertFalse(c.execute("fpu").text.contains("MMX"))
        XCTAssertEqual(c.execute("fpu bad").text, "error: usage: fpu [mmx|nommx]\n")
    }

    func testMMXStateShownByItself() {
        let s = session { f in
            f.tags = 0
            f.status = 0
            f.registers[2] = X87Register(significand: 0x0102_0304_0506_0708, signExponent: 0xFFFF)
        }
        let text = CommandInterpreter(session: s).execute("fpu").text
        XCTAssertTrue(text.contains("MMX (MMn is the significand of physical register Rn): the x87 unit is in MMX state"), text)
        XCTAssertTrue(text.contains("mm2  0x0102030405060708"), text)
        XCTAssertFalse(CommandInterpreter(session: s).execute("fpu nommx").text.contains("MMX"))
    }

    func testSSEView() {
        let s = session(fpu: Self.sample)
        let c = CommandInterpreter(session: s)
        let text = c.execute("sse").text
        XCTAssertTrue(text.hasPrefix("""
            MXCSR 0x00009f81* masked IE DE ZE OE UE PE  RC nearest  FZ 1  DAZ 0  flags IE
            xmm0  0x3ff80000_00000000_40000000_3f800000*
                   f32 {1, 2, 0, 1.9375}  f64 {2.000000473111868, 1.5}
            xmm1  0x00000000_00000000_00000000_00000000
                   f32 {0, 0, 0, 0}  f64 {0, 0}
            xmm2
            """), text)
        XCTAssertTrue(text.contains("""
            xmm3  0x7fc00000_ff800000_ffffffff_ffffffff*
                   f32 {-nan(0x3fffff), -nan(0x3fffff), -inf, nan(0x0)}  f64 {-nan(0x7ffffffffffff), 2.247118557409529e+307}
            """), text)
        XCTAssertTrue(c.execute("sse i16").text.contains("xmm0  0x3ff80000_00000000_40000000_3f800000* i16 {0, 16256, 0, 16384, 0, 0, 0, 16376}\n"))
        XCTAssertTrue(c.execute("sse u8").text.contains("u8 {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f}"))
        XCTAssertTrue(c.execute("xmm i64").text.contains("i64 {-1, 9205357642631872512}"))
        XCTAssertTrue(c.execute("sse hex").text.contains("xmm1  0x00000000_00000000_00000000_00000000\nxmm2"))
        XCTAssertEqual(c.execute("sse f80").text, "error: usage: sse [f32|f64|i8|i16|i32|i64|u8|u16|u32|u64|hex]\n")
    }

    func testRegsNamesFPUChangesOnlyWhenThereAreAny() {
        let s = session()
        let c = CommandInterpreter(session: s)
        XCTAssertFalse(c.execute("regs").text.contains("x87/SSE"))
        s.cpu.statePointer.pointee.fpu.xmm[5].high = 1
        s.cpu.statePointer.pointee.fpu.control = 0x037F
        XCTAssertTrue(c.execute("regs").text.hasSuffix("x87/SSE changed: fcw xmm5  (fpu, sse to see them)\n"))
        s.cpu.statePointer.pointee.fpu.ignoreNumericError = true
        s.notePreviousRegisters()
        XCTAssertFalse(c.execute("regs").text.contains("x87/SSE"))
        XCTAssertTrue(c.execute("help").text.contains("fpu [mmx|nommx]"))
        XCTAssertTrue(c.execute("help sse").text.contains("as GDB's p $xmm0 prints them"))
    }

    // MARK: GDB

    func testGDBFloatRegistersAreStackRelative() {
        let s = session(fpu: Self.sample)
        guard let g = s.readFloatRegisters() else { return XCTFail("no float registers") }
        XCTAssertEqual(g.st[0], .init(significand: 0xC000_0000_0000_0000, signExponent: 0x3FFF))   // R5
        XCTAssertEqual(g.st[3], .init(significand: 0xC000_0000_0000_0000, signExponent: 0xFFFF))   // R0
        XCTAssertEqual(g.control, [0x0672, 0xAAA1, 0x92AA, 0x0008, 0x0010_1C7C, 0x0010, 0x0010_4020, 0x0435])
        XCTAssertEqual(g.xmm[0], .init(low: 0x4000_0000_3F80_0000, high: 0x3FF8_0000_0000_0000))
        XCTAssertEqual(g.mxcsr, 0x9F81)
        // Through the stub: p st0, P st1 (a value into an empty register keeps it empty).
        let stub = GDBStub(backend: s)
        func reply(_ p: String) -> String {
            String(decoding: stub.handle(GDBCommand(Array(p.utf8)), interrupted: { false }).packets.joined(), as: UTF8.self)
        }
        XCTAssertEqual(reply("p10"), "00000000000000c0ff3f")
        XCTAssertEqual(reply("p1a"), "aa920000")
        XCTAssertEqual(reply("p2b"), "0000803f00000040000000000000f83f")
        XCTAssertEqual(reply("P11=00000000000000800040"), "OK")                      // ST1 (R6) = 2.0
        var f = s.cpu.statePointer.pointee.fpu
        XCTAssertEqual(f.registers[6], X87Register(significand: 0x8000_0000_0000_0000, signExponent: 0x4000))
        XCTAssertEqual((f.tags >> 12) & 3, 0, "R6 now holds a valid number")
        XCTAssertEqual(reply("P1a=ffff0000"), "OK")                                  // every register empty
        XCTAssertEqual(s.cpu.statePointer.pointee.fpu.tags, 0xFFFF)
        XCTAssertEqual(reply("P1a=00000000"), "OK")                                  // all in use: tags from contents
        XCTAssertEqual(s.cpu.statePointer.pointee.fpu.tags, 0x82AA)                  // R6 (2.0) valid
        XCTAssertEqual(reply("P18=ffff0000"), "OK")                                  // fctrl as FLDCW keeps it
        XCTAssertEqual(s.cpu.statePointer.pointee.fpu.control, 0x1F7F)
        XCTAssertEqual(reply("P1f=ffff0000"), "OK")                                  // fop: 11 bits
        XCTAssertEqual(s.cpu.statePointer.pointee.fpu.lastOpcode, 0x7FF)
        XCTAssertEqual(reply("P33=00000100"), "E01")                                 // MXCSR reserved bit 16
        XCTAssertEqual(reply("P1b=00000100"), "E01")                                 // fiseg is 16 bits
        XCTAssertEqual(reply("P33=801f0000"), "OK")
        XCTAssertEqual(reply("P2d=0123456789abcdef0011223344556677"), "OK")           // xmm2
        f = s.cpu.statePointer.pointee.fpu
        XCTAssertEqual(f.xmm[2], XMMRegister(low: 0xEFCD_AB89_6745_2301, high: 0x7766_5544_3322_1100))
        XCTAssertEqual(f.mxcsr, 0x1F80)
        // A new TOP in fstat keeps the ST values GDB holds (as ptrace's FXSAVE image, stored in
        // stack order, does): the physical registers turn.
        XCTAssertEqual(reply("P19=00000000"), "OK")
        XCTAssertEqual(reply("p10"), "00000000000000c0ff3f")
        XCTAssertEqual(s.cpu.statePointer.pointee.fpu.registers[0], X87Register(significand: 0xC000_0000_0000_0000, signExponent: 0x3FFF))
    }

    // MARK: A real guest

    func testFPUMFGuestAfterTheDivisionByZero() throws {
        let path = DebugSessionTests.root.appendingPathComponent("testguests/build/fpu-mf.elf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not built (make -C testguests)") }
        let elf = try ELF32File(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
        let m = PCMachine(memorySize: 64 << 20)
        try MultibootLoader.load(elf, into: m.cpu)
        m.serialOutput = { _ in }
        let s = DebugSession(machine: m, vmm: nil, elf: elf, guestName: "fpu-mf", maxInstructions: 50_000_000)
        let c = CommandInterpreter(session: s)
        XCTAssertTrue(c.execute("until zd_wait").text.contains("<zd_wait>"))
        let text = c.execute("fpu").text
        for want in ["FCW 0x037b* masked IE DE OE UE PE, unmasked ZE  PC 64-bit (extended)  RC nearest",
                     "FSW 0xb084* TOP 6", "flags ZE  SF 0  ES 1  B 1",
                     " ST0  R6   valid    3fff 8000000000000000* +1\n",
                     " ST1  R7   zero     0000 0000000000000000  +0\n",
                     "FOP 0x0f1* (d8 f1: fdiv st(1))  FIP 0x0008:0x00101c7c <zd_fault>*"] {
            XCTAssertTrue(text.contains(want), "missing \(want) in\n\(text)")
        }
        XCTAssertTrue(c.execute("regs").text.contains("x87/SSE changed: st0 st2 st3 st4 st5 st6 st7 fcw fsw ftw fop fip"))
        // GDB sees ST0 = 1.0 and the full tag word.
        let g = try XCTUnwrap(s.readFloatRegisters())
        XCTAssertEqual(g.st[0], .init(significand: 0x8000_0000_0000_0000, signExponent: 0x3FFF))
        XCTAssertEqual(g.control[2], 0x4FFF)
    }
}
