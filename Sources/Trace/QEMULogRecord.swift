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
/// The rows after (DR0–7, CCS/CCD/CCO, EFER, FPU with -d fpu) are ignored like any unknown line.
struct QEMURecord {
    var registers = TraceRegisters()
    var csBase: UInt32 = 0
    /// From the Trace line (0 in a log without `exec`).
    var cflags: UInt32 = 0
    /// The dump's HLT= field.
    var halted = false
    /// Byte offset of the record's first line, for messages.
    var offset: UInt64 = 0

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
