import Foundation
import Trace
import X86Core
import XCTest

/// QEMULogReader on small logs written in QEMU 7.2's exact format, and on one real log when
/// qemu-system-i386 is installed.
final class QEMULogReaderTests: XCTestCase {
    // MARK: synthetic logs

    /// One record as QEMU prints it: the Trace line, then the CPU state before the instruction.
    private func record(pc: UInt32, eax: UInt32 = 0x2badb002, ecx: UInt32 = 0x100010, esp: UInt32 = 0x6f08,
                        efl: UInt32 = 0x6, cs: UInt32 = 0x8, csBase: UInt32 = 0, hlt: Int = 0,
                        cr2: UInt32 = 0, cflags: UInt32 = 0xff00_0201) -> String {
        trace(pc: pc, csBase: csBase, cflags: cflags) + dump(eip: pc &- csBase, eax: eax, ecx: ecx, esp: esp,
                                                             efl: efl, cs: cs, csBase: csBase, hlt: hlt, cr2: cr2)
    }

    private func trace(pc: UInt32, csBase: UInt32 = 0, cflags: UInt32 = 0xff00_0201) -> String {
        "Trace 0: 0x7f8b883cd8c0 [\(h(csBase))/\(h(pc))/000000b0/\(h(cflags))] _start\n"
    }

    private func dump(eip: UInt32, eax: UInt32 = 0x2badb002, ecx: UInt32 = 0x100010, esp: UInt32 = 0x6f08,
                      efl: UInt32 = 0x6, cs: UInt32 = 0x8, csBase: UInt32 = 0, hlt: Int = 0, cr2: UInt32 = 0) -> String {
        """
        EAX=\(h(eax)) EBX=00009500 ECX=\(h(ecx)) EDX=00000511
        ESI=00000001 EDI=00001000 EBP=00000002 ESP=\(h(esp))
        EIP=\(h(eip)) EFL=\(h(efl)) [-----P-] CPL=0 II=0 A20=1 SMM=0 HLT=\(hlt)
        ES =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
        CS =\(h(cs, 4)) \(h(csBase)) ffffffff 00cf9a00 DPL=0 CS32 [-R-]
        SS =0018 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
        DS =0020 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
        FS =0028 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
        GS =0030 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]
        LDT=0000 00000000 0000ffff 00008200 DPL=0 LDT
        TR =0000 00000000 0000ffff 00008b00 DPL=0 TSS32-busy
        GDT=     000cb2b8 00000027
        IDT=     00000000 000003ff
        CR0=80000011 CR2=\(h(cr2)) CR3=00110000 CR4=00000010
        DR0=00000000 DR1=00000000 DR2=00000000 DR3=00000000 
        DR6=ffff0ff0 DR7=00000400
        CCS=004a8000 CCD=00950000 CCO=SHLL
        EFER=0000000000000000

        """
    }

    private func h(_ v: UInt32, _ digits: Int = 8) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    private var files: [String] = []

    private func write(_ text: String) -> String {
        let path = NSTemporaryDirectory() + "qemulog-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        files.append(path)
        return path
    }

    override func tearDown() {
        for f in files { try? FileManager.default.removeItem(atPath: f) }
        files = []
    }

    private func readAll(_ path: String, entry: UInt32? = nil) throws -> (QEMULogReader, [TraceStep]) {
        let reader = try QEMULogReader(path: path, entry: entry)
        var steps: [TraceStep] = []
        while let s = try reader.next() { steps.append(s) }
        return (reader, steps)
    }

    private func error(_ path: String, entry: UInt32? = nil) -> String {
        do {
            _ = try readAll(path, entry: entry)
            return "no error"
        } catch {
            return String(describing: error)
        }
    }

    // MARK: records

    func testRecordsBecomeStepsInOrder() throws {
        let path = write("SMM: enter\n" + dump(eip: 0xeaced) + record(pc: 0x100010, esp: 0x6f08)
            + record(pc: 0x100015, ecx: 7, efl: 0x246) + record(pc: 0x20_0020, cs: 0x1b, csBase: 0x20_0000, hlt: 1, cr2: 0x1234))
        let (reader, steps) = try readAll(path)
        XCTAssertEqual(steps.count, 3, "the SMM dump is no record")
        XCTAssertEqual(steps.map(\.index), [0, 1, 2])
        XCTAssertEqual(steps.map(\.linear), [0x100010, 0x100015, 0x20_0020])
        let first = steps[0].before
        XCTAssertEqual(first[.eax], 0x2badb002)
        XCTAssertEqual(first[.ebx], 0x9500)
        XCTAssertEqual(first[.ecx], 0x100010)
        XCTAssertEqual(first[.edx], 0x511)
        XCTAssertEqual(first[.esi], 1)
        XCTAssertEqual(first[.edi], 0x1000)
        XCTAssertEqual(first[.ebp], 2)
        XCTAssertEqual(first[.esp], 0x6f08)
        XCTAssertEqual(first[.eip], 0x100010)
        XCTAssertEqual(first[.eflags], 6)
        XCTAssertEqual([first[.es], first[.cs], first[.ss], first[.ds], first[.fs], first[.gs]], [0x10, 8, 0x18, 0x20, 0x28, 0x30])
        XCTAssertEqual([first[.cr0], first[.cr2], first[.cr3], first[.cr4]], [0x8000_0011, 0, 0x110000, 0x10])
        XCTAssertEqual(steps[1].before[.ecx], 7)
        XCTAssertEqual(steps[1].before[.eflags], 0x246)
        XCTAssertEqual(steps[2].before[.eip], 0x20, "EIP is CS-relative; linear adds the CS base")
        XCTAssertEqual(steps[2].before[.cs], 0x1b)
        XCTAssertEqual(steps[2].before[.cr2], 0x1234)
        XCTAssertTrue(reader.lastHalted)
        for s in steps {
            XCTAssertNil(s.after); XCTAssertNil(s.physical)
            XCTAssertTrue(s.bytes.isEmpty); XCTAssertTrue(s.writes.isEmpty); XCTAssertTrue(s.events.isEmpty)
        }
        XCTAssertEqual(reader.label, "QEMU log \(path)")
        XCTAssertEqual(reader.skippedRecords, 0)
        XCTAssertEqual(reader.bytesRead, UInt64(try Data(contentsOf: URL(fileURLWithPath: path)).count))
    }

    func testRepIterationsAreStepsEach() throws {
        let path = write(record(pc: 0x101c83, ecx: 3) + record(pc: 0x101c83, ecx: 2) + record(pc: 0x101c83, ecx: 1)
            + record(pc: 0x101c85, ecx: 0))
        let (_, steps) = try readAll(path)
        XCTAssertEqual(steps.map { $0.before[.ecx] }, [3, 2, 1, 0])
    }

    // MARK: -d int

    func testInterruptsAndExceptionsAttachToTheInstructionBefore() throws {
        let path = write(
            record(pc: 0x100b81)  // int3
            + "     0: v=03 e=0000 i=1 cpl=0 IP=0008:00100b81 pc=00100b81 SP=0010:00109fb0 env->regs[R_EAX]=00000001\n"
            + dump(eip: 0x100e00)
            + record(pc: 0x100e00)  // the handler's first instruction
            + record(pc: 0x100c80)  // a store that faults
            + "check_exception old: 0xffffffff new 0xe\n"
            + "     2: v=0e e=0002 i=0 cpl=0 IP=0008:00100c80 pc=00100c80 SP=0010:00109fb0 CR2=00300010\n"
            + dump(eip: 0x100c80)
            + record(pc: 0x101de1, hlt: 0)  // hlt, woken by the timer
            + "Servicing hardware INT=0x20\n"
            + "     3: v=20 e=0000 i=0 cpl=0 IP=0008:00101de2 pc=00101de2 SP=0010:0010af9c env->regs[R_EAX]=00000000\n"
            + dump(eip: 0x101de2)
            + record(pc: 0x100add, cs: 0x1b)  // ring-3 cli
            + "check_exception old: 0xffffffff new 0xd\n"
            + "     4: v=0d e=0000 i=0 cpl=3 IP=001b:00100add pc=00100add SP=0023:0010e010 env->regs[R_EAX]=00000055\n"
            + dump(eip: 0x100add)
            + record(pc: 0x100bac)  // ud2
            + "check_exception old: 0xffffffff new 0x6\n"
            + "     5: v=06 e=0000 i=0 cpl=0 IP=0008:00100bac pc=00100bac SP=0010:00109fb0 env->regs[R_EAX]=00000001\n"
            + dump(eip: 0x100bac)
            + record(pc: 0x100f00) + "Servicing hardware INT=0x08\n"  // real mode: no v= line
            + record(pc: 0x100f01))
        let (_, steps) = try readAll(path)
        XCTAssertEqual(steps.map(\.linear), [0x100b81, 0x100e00, 0x100c80, 0x101de1, 0x100add, 0x100bac, 0x100f00, 0x100f01],
                       "the dumps under v= lines are no records")
        XCTAssertEqual(steps[0].events, [TraceEvent(kind: .softwareInterrupt, vector: 3)])
        XCTAssertEqual(steps[1].events, [])
        XCTAssertEqual(steps[2].events, [TraceEvent(kind: .exception, vector: 14, errorCode: 2, address: 0x300010)])
        XCTAssertEqual(steps[3].events, [TraceEvent(kind: .interrupt, vector: 0x20)], "one event per hardware interrupt")
        XCTAssertEqual(steps[4].events, [TraceEvent(kind: .exception, vector: 13, errorCode: 0)])
        XCTAssertEqual(steps[5].events, [TraceEvent(kind: .exception, vector: 6)])
        XCTAssertEqual(steps[6].events, [TraceEvent(kind: .interrupt, vector: 8)])
        XCTAssertEqual(steps[7].events, [])
    }

    func testRecordsThatDidNotRunAreDropped() throws {
        let path = write(
            record(pc: 0x1004d0)
            + record(pc: 0x1004d5, eax: 1) + "Stopped execution of TB chain before 0x7f964c3f4dc0 [001004d5] tap_ok\n"
            + "Servicing hardware INT=0x20\n"
            + "     0: v=20 e=0000 i=0 cpl=0 IP=0008:001004d5 pc=001004d5 SP=0010:0010af9c env->regs[R_EAX]=00000000\n"
            + dump(eip: 0x1004d5)
            + record(pc: 0x100e00)
            + record(pc: 0x101d68, eax: 2)  // abandoned at a watchpoint…
            + record(pc: 0x101d68, eax: 3, cflags: 0xff10_8201)  // …and run again alone
            + "     1: v=01 e=0000 i=0 cpl=0 IP=0008:00101d6d pc=00101d6d SP=0010:0010bfa4 env->regs[R_EAX]=00000000\n"
            + dump(eip: 0x101d6d)
            + record(pc: 0x100f00))
        let (_, steps) = try readAll(path)
        XCTAssertEqual(steps.map(\.linear), [0x1004d0, 0x100e00, 0x101d68, 0x100f00])
        XCTAssertEqual(steps[0].events, [TraceEvent(kind: .interrupt, vector: 0x20)],
                       "the interrupt came between 0x1004d0 and the next instruction that ran")
        XCTAssertEqual(steps[2].before[.eax], 3)
        XCTAssertEqual(steps[2].events, [TraceEvent(kind: .exception, vector: 1)])
    }

    // MARK: entry

    func testEntrySkipsTheFirmware() throws {
        var text = "SMM: enter\n" + dump(eip: 0xeaced)
        for i in 0..<50 { text += record(pc: 0xf0000 + UInt32(i), cs: 0xf000, csBase: 0xf0000) }
        text += "Servicing hardware INT=0x08\n"
        text += record(pc: 0x100010) + record(pc: 0x100011)
        let (reader, steps) = try readAll(write(text), entry: 0x100010)
        XCTAssertEqual(reader.skippedRecords, 50)
        XCTAssertEqual(steps.map(\.index), [0, 1])
        XCTAssertEqual(steps.map(\.linear), [0x100010, 0x100011])
        XCTAssertEqual(steps[0].events, [], "the firmware's interrupt is before the entry")
    }

    /// More than one 4 MiB window: the skip and the line reader both cross refills.
    func testEntryFarIntoALargeLog() throws {
        var text = ""
        let firmware = (0..<6000).map { record(pc: 0xf0000 + UInt32($0) % 0x10000, eax: UInt32($0)) }.joined()
        text += firmware + record(pc: 0x100010, eax: 0xaaaa)
        text += (0..<6000).map { record(pc: 0x100011 + UInt32($0), eax: UInt32($0)) }.joined()
        XCTAssertGreaterThan(text.utf8.count, 2 * (4 << 20) + 100_000)
        let path = write(text)
        let (reader, steps) = try readAll(path, entry: 0x100010)
        XCTAssertEqual(reader.skippedRecords, 6000)
        XCTAssertEqual(steps.count, 6001)
        XCTAssertEqual(steps[0].before[.eax], 0xaaaa)
        XCTAssertEqual(steps.dropFirst().map { $0.before[.eax] }, (0..<6000).map { UInt32($0) })
        XCTAssertEqual(steps.last?.linear, 0x100010 + 6000)
        let (_, all) = try readAll(path)
        XCTAssertEqual(all.count, 12001)
    }

    func testReadsAFIFO() throws {
        let path = NSTemporaryDirectory() + "qemulog-\(UUID().uuidString).fifo"
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        files.append(path)
        let text = (0..<3000).map { record(pc: 0xf0000 + UInt32($0)) }.joined() + record(pc: 0x100010)
            + (0..<3000).map { record(pc: 0x100011 + UInt32($0)) }.joined()
        let writer = Thread {
            guard let handle = FileHandle(forWritingAtPath: path) else { return }
            let data = Data(text.utf8)
            var at = 0
            while at < data.count {  // in pieces smaller than a record, as a pipe delivers them
                let n = min(777, data.count - at)
                handle.write(data.subdata(in: at..<at + n))
                at += n
            }
            try? handle.close()
        }
        writer.start()
        let (reader, steps) = try readAll(path, entry: 0x100010)
        XCTAssertEqual(reader.skippedRecords, 3000)
        XCTAssertEqual(steps.count, 3001)
        XCTAssertEqual(steps.last?.linear, 0x100010 + 3000)
    }

    // MARK: errors

    func testMissingFile() {
        XCTAssertTrue(error("/nonexistent/q.log").contains("/nonexistent/q.log: cannot open"))
    }

    func testForeignFile() {
        let path = write("hello\nthis is not a log\n" + String(repeating: "x", count: 5000) + "\n")
        XCTAssertEqual(error(path), "\(path): not a QEMU -d cpu,exec log (no Trace or EAX= line in its first MiB)")
        XCTAssertTrue(error(write("")).contains("empty, not a QEMU -d cpu,exec log"))
    }

    func testEntryNeverReached() {
        let path = write(record(pc: 0x100010) + record(pc: 0x100011))
        XCTAssertEqual(error(path, entry: 0x200000), "\(path): the guest's entry point 0x200000 never appears "
            + "(a log of another guest, or -dfilter excludes it?)")
    }

    func testTruncatedRecord() {
        let whole = record(pc: 0x100010) + record(pc: 0x100011)
        let esp = whole.range(of: "ESP=", options: .backwards)!
        let cutInLine = String(whole[..<whole.index(esp.upperBound, offsetBy: 3)])
        let path = write(cutInLine)
        XCTAssertTrue(error(path).contains("truncated: the log ends inside the ESI= line of the record at byte offset"), error(path))
        let cutAtLine = record(pc: 0x100010) + trace(pc: 0x100011) + "EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000\n"
        let path2 = write(cutAtLine)
        XCTAssertTrue(error(path2).contains("truncated: the log ends inside the record at byte offset"), error(path2))
        XCTAssertTrue(error(path2).contains("before the ESI= line"), error(path2))
        let path3 = write(record(pc: 0x100010) + "Trace 0: 0x7f8b883cd8c0 [00000000/0010")
        XCTAssertTrue(error(path3).contains("truncated: the log ends inside the Trace line"), error(path3))
    }

    func testARecordInterruptedByAnotherLineIsNamed() {
        let cut = record(pc: 0x100011).replacingOccurrences(of: "SS =0018", with: "SMM: enter\nSS =0018")
        let path = write(record(pc: 0x100010) + cut)
        XCTAssertTrue(error(path).contains("is cut short: expected its SS = line"), error(path))
        XCTAssertTrue(error(path).contains("found \"SMM: enter\""), error(path))
    }

    func testMalformedHexNamesTheOffset() {
        let first = record(pc: 0x100010)
        let bad = record(pc: 0x100011).replacingOccurrences(of: "EDX=00000511", with: "EDX=0000g511")
        let path = write(first + bad)
        let offset = first.utf8.count + trace(pc: 0x100011).utf8.count
        XCTAssertEqual(error(path), "\(path): malformed EAX= line at byte offset \(offset)")
    }

    func testLogWithoutSingleStepIsRefused() {
        let path = write(record(pc: 0x100010, cflags: 0xff00_0200))
        XCTAssertTrue(error(path).contains("make the log with -singlestep"), error(path))
    }

    func testLogWithoutExecReadsDumps() throws {
        let text = "SMM: enter\n" + dump(eip: 0xeaced) + dump(eip: 0x100010) + dump(eip: 0x100c80)
            + "check_exception old: 0xffffffff new 0xe\n"
            + "     2: v=0e e=0002 i=0 cpl=0 IP=0008:00100c80 pc=00100c80 SP=0010:00109fb0 CR2=00300010\n"
            + dump(eip: 0x100c80) + dump(eip: 0x100e00)
        let (_, steps) = try readAll(write(text), entry: 0x100010)
        XCTAssertEqual(steps.map(\.linear), [0x100010, 0x100c80, 0x100e00])
        XCTAssertEqual(steps[1].events, [TraceEvent(kind: .exception, vector: 14, errorCode: 2, address: 0x300010)])
    }

    // MARK: -d fpu

    /// The rows `-d fpu` adds under a dump (QEMU 7.2 cpu-dump.c, 32-bit target).
    private func fpuRows(fcw: String = "037f", fsw: String = "3800", ftw: String = "80", mxcsr: String = "00001f80",
                         r7: String = "8000000000000000 3fff", xmm1: String = "40e0000040c00000 40a0000000000000") -> String {
        """
        FCW=\(fcw) FSW=\(fsw) [ST=7] FTW=\(ftw) MXCSR=\(mxcsr)
        FPR0=0000000000000000 0000 FPR1=0000000000000001 ffff
        FPR2=0000000000000000 0000 FPR3=0000000000000000 0000
        FPR4=0000000000000000 0000 FPR5=0000000000000000 0000
        FPR6=0000000000000000 0000 FPR7=\(r7)
        XMM00=0000000000000000 0000000000000000 XMM01=\(xmm1)
        XMM02=0000000000000000 0000000000000000 XMM03=0000000000000000 0000000000000000
        XMM04=0000000000000000 0000000000000000 XMM05=0000000000000000 0000000000000000
        XMM06=0000000000000000 0000000000000000 XMM07=0123456789abcdef fedcba9876543210

        """
    }

    func testFPURowsBecomeTheStepsFPUState() throws {
        let path = write(record(pc: 0x100010) + fpuRows() + record(pc: 0x100012) + fpuRows()
            + "     0: v=0e e=0002 i=0 cpl=0 IP=0008:00100012 pc=00100012 SP=0010:00006f08 CR2=00300010\n"
            + dump(eip: 0x100012) + fpuRows(fcw: "ffff", r7: "0000000000000000 0000")
            + record(pc: 0x100c80) + fpuRows(fsw: "3001", ftw: "c0", r7: "c000000000000000 4000"))
        let (_, steps) = try readAll(path)
        XCTAssertEqual(steps.count, 3)
        let f = try XCTUnwrap(steps[0].fpu?.state)
        XCTAssertEqual(f.control, 0x037F)
        XCTAssertEqual(f.status, 0x3800)
        XCTAssertEqual(f.tags, 0x3FFF, "FTW 0x80: R7 in use (valid), the others empty")
        XCTAssertEqual(f.mxcsr, 0x1F80)
        XCTAssertEqual(f.registers[7], X87Register(significand: 0x8000_0000_0000_0000, signExponent: 0x3FFF))
        XCTAssertEqual(f.registers[1], X87Register(significand: 1, signExponent: 0xFFFF))
        XCTAssertEqual(f.xmm[1], XMMRegister(low: 0x40a0_0000_0000_0000, high: 0x40e0_0000_40c0_0000))
        XCTAssertEqual(f.xmm[7], XMMRegister(low: 0xfedc_ba98_7654_3210, high: 0x0123_4567_89ab_cdef))
        XCTAssertTrue(steps[0].fpu === steps[1].fpu, "an unchanged FPU is one shared state")
        XCTAssertNil(steps[0].fpuAfter, "QEMU logs have no state after")
        // The rows under the #PF's dump (not a record) are not the next step's.
        let g = try XCTUnwrap(steps[2].fpu?.state)
        XCTAssertEqual(g.status, 0x3001)
        XCTAssertEqual(g.tags, 0x0FFF)
        XCTAssertEqual(g.registers[7], X87Register(significand: 0xC000_0000_0000_0000, signExponent: 0x4000))
        // Without the rows: no FPU state.
        let (_, plain) = try readAll(write(record(pc: 0x100010) + record(pc: 0x100012)))
        XCTAssertTrue(plain.allSatisfy { $0.fpu == nil })
        // A garbled row is an error naming it.
        let bad = write(record(pc: 0x100010) + fpuRows(r7: "80000000zz000000 3fff") + record(pc: 0x100012))
        XCTAssertTrue(error(bad).contains("malformed FPU line at byte offset"), error(bad))
    }

    // MARK: a real log

    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testRealQEMULogOfHello() throws {
        let qemu = "/usr/bin/qemu-system-i386"
        let guest = Self.root.appendingPathComponent("testguests/build/hello.elf").path
        guard FileManager.default.isExecutableFile(atPath: qemu) else { throw XCTSkip("no \(qemu)") }
        guard FileManager.default.fileExists(atPath: guest) else { throw XCTSkip("no \(guest) (make testguests)") }
        let log = NSTemporaryDirectory() + "qemulog-hello-\(UUID().uuidString).log"
        files.append(log)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: qemu)
        p.arguments = ["-accel", "tcg", "-nographic", "-monitor", "none", "-no-reboot", "-m", "64",
                       "-rtc", "base=2000-01-01T00:00:00,clock=vm", "-serial", "stdio",
                       "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", guest, "-singlestep",
                       "-d", "cpu,nochain,exec,int", "-dfilter", "0x100000..0x01ffffff", "-D", log]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let (reader, steps) = try readAll(log, entry: 0x100010)
        XCTAssertEqual(steps.first?.before[.eip], 0x100010)
        XCTAssertEqual(steps.first?.before[.eax], 0x2badb002, "the multiboot magic")
        XCTAssertGreaterThan(steps.count, 1000)
        XCTAssertEqual(reader.skippedRecords, 0, "-dfilter left out the firmware")
        let events = steps.flatMap(\.events)
        XCTAssertTrue(events.contains(TraceEvent(kind: .softwareInterrupt, vector: 3)), "hello's int3")
        XCTAssertTrue(events.contains { $0.kind == .exception && $0.vector == 14 && $0.errorCode == 2 && $0.address != nil })
    }

    /// QEMU's own FPU rows (`-d cpu,fpu`): sse-xm's first SSE loads read back as the values its
    /// source has, and x86v's trace of the same instructions agrees on them.
    func testRealQEMULogWithFPURows() throws {
        let qemu = "/usr/bin/qemu-system-i386"
        let guest = Self.root.appendingPathComponent("testguests/build/sse-xm.elf").path
        guard FileManager.default.isExecutableFile(atPath: qemu) else { throw XCTSkip("no \(qemu)") }
        guard FileManager.default.fileExists(atPath: guest) else { throw XCTSkip("no \(guest) (make testguests)") }
        let log = NSTemporaryDirectory() + "qemulog-sse-\(UUID().uuidString).log"
        files.append(log)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: qemu)
        p.arguments = ["-accel", "tcg", "-nographic", "-monitor", "none", "-no-reboot", "-m", "64",
                       "-rtc", "base=2000-01-01T00:00:00,clock=vm", "-serial", "stdio",
                       "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", guest, "-singlestep",
                       "-d", "cpu,fpu,nochain,exec,int", "-dfilter", "0x100000..0x01ffffff", "-D", log]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let (_, steps) = try readAll(log, entry: 0x100010)
        XCTAssertTrue(steps.allSatisfy { $0.fpu != nil })
        // va = {1, 2, 3, 4} (floats) is the first value xmm0 takes.
        let xmm0 = steps.lazy.compactMap { $0.fpu?.state.xmm[0] }.first { $0 != XMMRegister() }
        XCTAssertEqual(xmm0, XMMRegister(low: 0x4000_0000_3f80_0000, high: 0x4080_0000_4040_0000))
        XCTAssertEqual(steps.first?.fpu?.state.control, 0x037F, "after the firmware's FNINIT")
    }

    /// Skip speed on a real full log: QEMU_LOG_BENCH=/path/to/full.log (made without -dfilter);
    /// QEMU_LOG_BENCH_ENTRY=none reads every record instead.
    func testSkipSpeedOnAFullLog() throws {
        let env = ProcessInfo.processInfo.environment
        guard let path = env["QEMU_LOG_BENCH"] else { throw XCTSkip("set QEMU_LOG_BENCH") }
        let entry: UInt32? = env["QEMU_LOG_BENCH_ENTRY"] == "none" ? nil : 0x100010
        let clock = ContinuousClock()
        var reader: QEMULogReader?
        let took = try clock.measure { reader = try QEMULogReader(path: path, entry: entry) }
        let r = try XCTUnwrap(reader)
        let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) * 1e-18
        let gb = Double(r.bytesRead) / 1e9
        print("QEMU log skip: \(r.skippedRecords) records, \(String(format: "%.2f", gb)) GB read in "
            + "\(String(format: "%.2f", seconds)) s = \(String(format: "%.2f", gb / seconds)) GB/s")
        var count = 0, events: [String: Int] = [:]
        let rest = try clock.measure {
            while let step = try r.next() {
                count += 1
                for e in step.events { events[e.kind.name, default: 0] += 1 }
            }
        }
        print("QEMU log read: \(count) steps after the entry in \(rest); events \(events.sorted { $0.key < $1.key })")
    }
}
