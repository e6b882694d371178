import X86Core

/// One record of a QEMU log: the CPU state QEMU printed before a translation block of one
/// instruction (`-singlestep`) ran.
///
/// The dump (x86_cpu_dump_state, 32-bit target) is read by its first 14 rows, each a fixed layout:
///
///     EAX=%08x EBX=%08x ECX=%08x EDX=%08x          row 0   (fields at columns 4, 17, 30, 43)
///     ESI=%08x EDI=%08x EBP=%08x ESP=%08x          row 1
///     EIP=%08x EFL=%08x [-----P-] CPL=0 … HLT=%d   row 2
///     ES =%04x %08x %08x %08x …                    rows 3–8: ES CS SS DS FS GS (selector, base…)
///     LDT= / TR = / GDT= / IDT=                    rows 9–12 (checked, not kept)
///     CR0=%08x CR2=%08x CR3=%08x CR4=%08x          row 13
///
/// The rows after (DR0–7, CCS/CCD/CCO, EFER) are ignored like any unknown line, except the FPU
/// rows `-d fpu` adds (`parseFPU`).
struct QEMURecord {
    var registers = TraceRegisters()
    var csBase: UInt32 = 0
    /// From the Trace line (0 in a log without `exec`).
    var cflags: UInt32 = 0
    /// The dump's HLT= field.
    var halted = false
    /// Byte offset of the record's first line, for messages.
    var offset: UInt64 = 0
    /// The x87/SSE state from the `-d fpu` rows, nil without them. QEMU prints no FOP, FIP or FDP
    /// (left 0) and only an abridged tag word (valid or empty: the tags here are 00 or 11).
    var fpu: FPUState? = nil

    var linear: UInt32 { csBase &+ registers[.eip] }

    static let rowCount = 14

    private static let rowKeys: [UInt32] = [
        QEMUKey.eax, QEMUKey.esi, QEMUKey.eip, QEMUKey.es, QEMUKey.cs, QEMUKey.ss, QEMUKey.ds, QEMUKey.fs, QEMUKey.gs,
        QEMUKey.ldt, QEMUKey.tr, QEMUKey.gdt, QEMUKey.idt, QEMUKey.cr0,
    ]
    private static let rowNames = ["EAX=", "ESI=", "EIP=", "ES =", "CS =", "SS =", "DS =", "FS =",
                                   "GS =", "LDT=", "TR =", "GDT=", "IDT=", "CR0="]

    static func rowName(_ row: Int) -> String { rowNames[row] }

    /// Whether `line` starts the expected row at all (a different line there means the dump was
    /// cut short or interleaved).
    static func isRow(_ line: QEMULine, _ row: Int) -> Bool { line.word(at: 0) == rowKeys[row] }

    /// Reads row `row` (its key already checked by `isRow`); false when a field is not hex.
    mutating func parse(_ line: QEMULine, row: Int) -> Bool {
        switch row {
        case 0: return four(line, QEMUKey.ebx, QEMUKey.ecx, QEMUKey.edx, .eax, .ebx, .ecx, .edx)
        case 1: return four(line, QEMUKey.edi, QEMUKey.ebp, QEMUKey.esp, .esi, .edi, .ebp, .esp)
        case 2:
            let n = line.count
            guard line.word(at: 13) == QEMUKey.efl, let eip = line.hex(at: 4, digits: 8),
                  let efl = line.hex(at: 17, digits: 8),
                  line.word(at: n - 5) == QEMUKey.hlt, let hlt = line.hex(at: n - 1, digits: 1)
            else { return false }
            registers[.eip] = eip
            registers[.eflags] = efl
            halted = hlt != 0
            return true
        case 3...8:
            guard let selector = line.hex(at: 4, digits: 4), line.count > 8, line[8] == 0x20 else { return false }
            registers.values[TraceField.es.rawValue + row - 3] = selector
            if row == 4 {
                guard let base = line.hex(at: 9, digits: 8) else { return false }
                csBase = base
            }
            return true
        case 13: return four(line, QEMUKey.cr2, QEMUKey.cr3, QEMUKey.cr4, .cr0, .cr2, .cr3, .cr4)
        default: return true
        }
    }

    /// The FPU rows of `-d fpu` (QEMU 7.2 target/i386/cpu-dump.c, CPU_DUMP_FPU, 32-bit target):
    ///
    ///     FCW=%04x FSW=%04x [ST=%d] FTW=%02x MXCSR=%08x      FSW with TOP; FTW abridged (1 = in use)
    ///     FPR0=%016llx %04x FPR1=%016llx %04x                 ×4: R0–R7 (physical), significand, sign/exponent
    ///     XMM00=%016llx %016llx XMM01=%016llx %016llx         ×4: high quadword, then low
    ///
    /// False when the line is one of these but malformed; other lines are not looked at.
    mutating func parseFPU(_ line: QEMULine) -> Bool {
        if line.word(at: 0) == QEMUKey.fcw {
            guard line.hasPrefix("FSW=", at: 9), line.hasPrefix("FTW=", at: 25), line.hasPrefix("MXCSR=", at: 32),
                  let fcw = line.hex(at: 4, digits: 4), let fsw = line.hex(at: 13, digits: 4),
                  let ftw = line.hex(at: 29, digits: 2), let mxcsr = line.hex(at: 38, digits: 8) else { return false }
            var f = FPUState()
            f.control = UInt16(fcw)
            f.status = UInt16(fsw)
            var tags: UInt16 = 0
            for i in 0..<8 where ftw & (1 << UInt32(i)) == 0 { tags |= 3 << (2 * UInt16(i)) }
            f.tags = tags
            f.mxcsr = mxcsr
            fpu = f
            return true
        }
        guard fpu != nil else { return true }   // rows without their FCW line: not a dump we know
        if line.hasPrefix("FPR") {
            for half in 0..<2 {
                let at = half * 27
                guard let n = line.hex(at: at + 3, digits: 1), n < 8, line[at + 4] == 0x3D,
                      let s1 = line.hex(at: at + 5, digits: 8), let s0 = line.hex(at: at + 13, digits: 8),
                      let e = line.hex(at: at + 22, digits: 4) else { return false }
                fpu!.registers[Int(n)] = X87Register(significand: UInt64(s1) << 32 | UInt64(s0), signExponent: UInt16(e))
            }
            return true
        }
        if line.hasPrefix("XMM") {
            for half in 0..<2 {
                let at = half * 40
                guard let n = line.hex(at: at + 3, digits: 2), n < 8, line[at + 5] == 0x3D,
                      let h1 = line.hex(at: at + 6, digits: 8), let h0 = line.hex(at: at + 14, digits: 8),
                      let l1 = line.hex(at: at + 23, digits: 8), let l0 = line.hex(at: at + 31, digits: 8) else { return false }
                fpu!.xmm[Int(n)] = XMMRegister(low: UInt64(l1) << 32 | UInt64(l0), high: UInt64(h1) << 32 | UInt64(h0))
            }
            return true
        }
        return true
    }

    /// "K0=%08x K1=%08x K2=%08x K3=%08x" (K0 checked by the caller).
    private mutating func four(_ line: QEMULine, _ k1: UInt32, _ k2: UInt32, _ k3: UInt32,
                               _ f0: TraceField, _ f1: TraceField, _ f2: TraceField, _ f3: TraceField) -> Bool {
        guard line.word(at: 13) == k1, line.word(at: 26) == k2, line.word(at: 39) == k3,
              let v0 = line.hex(at: 4, digits: 8), let v1 = line.hex(at: 17, digits: 8),
              let v2 = line.hex(at: 30, digits: 8), let v3 = line.hex(at: 43, digits: 8)
        else { return false }
        registers[f0] = v0; registers[f1] = v1; registers[f2] = v2; registers[f3] = v3
        return true
    }
}
