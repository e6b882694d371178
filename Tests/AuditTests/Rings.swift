import X86Core

/// A protected-mode machine in which the CPU can run one instruction at CPL 0, 1 or 3: a GDT
/// with flat code and data segments of DPL 0, 1 and 3, a busy TSS without an I/O bitmap, an IDT
/// with a few gates into ring 0, and an LDT. Paging is off; every segment is flat.
///
///     0x1000 code (one instruction)     0x2000 memory operands     0x3000 GDT    0x3800 IDT
///     0x4000 TSS (ESP0 0x7000, SS0 0x10; ESP1 0x7400, SS1 0x21; I/O map base 0x68 = none)
///     0x4200 a second, available TSS    0x4400 a TSS whose I/O bitmap allows every port
///     0x5000 interrupt/SYSENTER target  0x8000 top of the stack at every CPL   0x9000 LDT
enum Rings {
    static let code: UInt32 = 0x1000
    static let data: UInt32 = 0x2000
    static let gdt: UInt32 = 0x3000
    static let idt: UInt32 = 0x3800
    static let tss: UInt32 = 0x4000
    static let spareTSS: UInt32 = 0x4200
    static let openTSS: UInt32 = 0x4400
    static let handler: UInt32 = 0x5000
    static let ring0Stack: UInt32 = 0x7000
    static let stackTop: UInt32 = 0x8000
    static let ldt: UInt32 = 0x9000

    /// GDT selectors (RPL 0).
    static let code0: UInt16 = 0x08, data0: UInt16 = 0x10
    static let code1: UInt16 = 0x18, data1: UInt16 = 0x20
    static let code3: UInt16 = 0x28, data3: UInt16 = 0x30
    static let busyTSS: UInt16 = 0x38
    /// A conforming, readable code segment of DPL 0: reachable by a far JMP/CALL from any CPL.
    static let conforming: UInt16 = 0x40
    static let availableTSS: UInt16 = 0x48
    static let ldtSelector: UInt16 = 0x50

    /// The code selector of a CPL (RPL = CPL).
    static func codeSelector(_ cpl: UInt8) -> UInt16 { [code0, code1, 0, code3][Int(cpl)] | UInt16(cpl) }
    /// The data/stack selector of a CPL (RPL = DPL = CPL).
    static func dataSelector(_ cpl: UInt8) -> UInt16 { [data0, data1, 0, data3][Int(cpl)] | UInt16(cpl) }

    /// An 8-byte segment descriptor (SDM Vol. 3A §3.4.5): `access` is byte 5 (P DPL S type),
    /// `flags` the high nibble of byte 6 (G D/B L AVL).
    static func descriptor(base: UInt32, limit: UInt32, access: UInt8, flags: UInt8) -> UInt64 {
        let low = (limit & 0xFFFF) | (base & 0xFFFF) << 16
        let high = (base >> 16) & 0xFF | UInt32(access) << 8 | (limit >> 16 & 0xF) << 16
            | UInt32(flags) << 20 | base & 0xFF00_0000
        return UInt64(high) << 32 | UInt64(low)
    }

    /// A 32-bit interrupt gate to `code0:offset` (SDM Vol. 3A §6.11).
    static func interruptGate(offset: UInt32, dpl: UInt8) -> UInt64 {
        let low = UInt32(code0) << 16 | offset & 0xFFFF
        let high = offset & 0xFFFF_0000 | 0x8000 | UInt32(dpl) << 13 | 0xE << 8
        return UInt64(high) << 32 | UInt64(low)
    }

    static func flatCode(dpl: UInt8, conforming: Bool = false) -> UInt64 {
        descriptor(base: 0, limit: 0xF_FFFF, access: (conforming ? 0x9F : 0x9B) | dpl << 5, flags: 0xC)
    }
    static func flatData(dpl: UInt8) -> UInt64 {
        descriptor(base: 0, limit: 0xF_FFFF, access: 0x93 | dpl << 5, flags: 0xC)
    }

    /// GDT entries by index.
    static let gdtEntries: [UInt64] = [
        0,
        flatCode(dpl: 0), flatData(dpl: 0),
        flatCode(dpl: 1), flatData(dpl: 1),
        flatCode(dpl: 3), flatData(dpl: 3),
        descriptor(base: tss, limit: 0x67, access: 0x8B, flags: 0),
        flatCode(dpl: 0, conforming: true),
        descriptor(base: spareTSS, limit: 0x67, access: 0x89, flags: 0),
        descriptor(base: ldt, limit: 0xFF, access: 0x82, flags: 0),
    ]

    /// The cache a segment register holds after loading `selector` (its GDT entry).
    static func cache(_ selector: UInt16) -> SegmentCache {
        let d = gdtEntries[Int(selector >> 3)]
        let high = UInt32(d >> 32)
        let rawLimit = UInt32(d & 0xFFFF) | high & 0xF_0000
        let limit = high & 0x80_0000 != 0 ? rawLimit << 12 | 0xFFF : rawLimit
        let base = UInt32((d >> 16) & 0xFF_FFFF) | high & 0xFF00_0000
        return SegmentCache(selector: selector, base: base, limit: limit,
                            attributes: UInt16(truncatingIfNeeded: (high >> 8) & 0xF0FF))
    }

    /// Vectors with gates: DPL 3 (reachable by INT n from any CPL) and 0x81 with DPL 0.
    static let userVectors: [UInt8] = [1, 3, 4, 0x80]
    static let kernelVector: UInt8 = 0x81
}

/// What to set before the one instruction runs.
struct Setup: Sendable {
    var regs: [Register: UInt32] = [:]
    /// Dwords on the stack, the first at ESP.
    var stack: [UInt32] = []
    /// Bytes at addresses.
    var memory: [(UInt32, [UInt8])] = []
    /// EFLAGS bits besides IOPL (IF, OF…).
    var eflags: UInt32 = 0
    var iopl: UInt8 = 0
    var cr4: UInt32 = 0
    /// Makes the model UMIP-capable and sets CR4.UMIP.
    var umip = false
    /// Use the TSS whose I/O bitmap allows every port.
    var openIOBitmap = false
    /// Instructions to run (1: just the one under test).
    var instructions: UInt64 = 1
    /// Exceptions delivered through the IDT instead of ending the run.
    var deliver: [UInt8] = []
    var configure: (@Sendable (CPU) -> Void)? = nil

    static func word(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func dword(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
}

/// One run: the state before, the CPU after, and how `run` ended.
struct Outcome {
    let before: CPUState
    let beforeFlags: UInt32
    let cpu: CPU
    let exit: ExitReason

    var after: CPUState { cpu.state }
    var trapped: Bool { if case .exception = exit { return true } else { return false } }
    /// The dword at the stack pointer after the run.
    var top: UInt32 { cpu.memory.read32(after.segments[2].base &+ after[.esp]) }
    func stack(_ index: Int) -> UInt32 { cpu.memory.read32(after.segments[2].base &+ after[.esp] &+ UInt32(4 * index)) }
    func word(_ address: UInt32) -> UInt16 { UInt16(truncatingIfNeeded: cpu.memory.read32(address)) }
    var zf: Bool { cpu.eflags & EFLAGS.zf != 0 }
}

/// Runs `bytes` (one instruction) at `cpl` on the machine of `Rings`.
func execute(_ bytes: [UInt8], cpl: UInt8, _ setup: Setup = Setup()) -> Outcome {
    let cpu = CPU(memorySize: 1 << 20)
    cpu.resetFlat(cpl: 0)
    for (i, d) in Rings.gdtEntries.enumerated() {
        cpu.memory.load(bytes: Setup.dword(UInt32(d & 0xFFFF_FFFF)) + Setup.dword(UInt32(d >> 32)),
                        at: Rings.gdt + UInt32(8 * i))
    }
    for v in Rings.userVectors + [Rings.kernelVector] {
        let g = Rings.interruptGate(offset: Rings.handler, dpl: v == Rings.kernelVector ? 0 : 3)
        cpu.memory.load(bytes: Setup.dword(UInt32(g & 0xFFFF_FFFF)) + Setup.dword(UInt32(g >> 32)),
                        at: Rings.idt + UInt32(v) * 8)
    }
    for base in [Rings.tss, Rings.spareTSS, Rings.openTSS] {
        cpu.memory.load(bytes: Setup.dword(Rings.ring0Stack) + Setup.dword(UInt32(Rings.data0)), at: base + 4)
        cpu.memory.load(bytes: Setup.dword(Rings.ring0Stack + 0x400) + Setup.dword(UInt32(Rings.dataSelector(1))), at: base + 0xC)
        cpu.memory.load(bytes: Setup.word(0x68), at: base + 0x66)
    }
    cpu.memory.load(bytes: bytes, at: Rings.code)
    for (address, b) in setup.memory { cpu.memory.load(bytes: b, at: address) }
    var esp = Rings.stackTop
    for v in setup.stack.reversed() {
        esp -= 4
        cpu.memory.load(bytes: Setup.dword(v), at: esp)
    }

    var st = cpu.state
    st.gdtr = TableRegister(base: Rings.gdt, limit: UInt16(8 * Rings.gdtEntries.count - 1))
    st.idtr = TableRegister(base: Rings.idt, limit: 0x7FF)
    st.tr = Rings.cache(Rings.busyTSS)
    if setup.openIOBitmap {
        // I/O map at 0x68, all zero bits (every port allowed), within the limit.
        st.tr = SegmentCache(selector: Rings.busyTSS, base: Rings.openTSS, limit: 0x68 + 0x2000, attributes: 0x8B)
    }
    st.ldtr = Rings.cache(Rings.ldtSelector)
    st.cpl = cpl
    st[.cs] = Rings.cache(Rings.codeSelector(cpl))
    for seg in [SegmentRegister.ss, .ds, .es, .fs, .gs] { st[seg] = Rings.cache(Rings.dataSelector(cpl)) }
    st.eip = Rings.code
    st[.esp] = esp
    for (r, v) in setup.regs { st[r] = v }
    st.cr4 = setup.cr4
    cpu.state = st
    if setup.umip {
        cpu.umipSupported = true
        try? cpu.writeCR4(setup.cr4 | CR4.umip)
    }
    cpu.eflags = EFLAGS.fixed1 | setup.eflags | UInt32(setup.iopl) << 12
    cpu.exitOnExceptions = setup.deliver.reduce(0xFFFF_FFFF) { $0 & ~(1 << UInt32($1)) }
    setup.configure?(cpu)
    let before = cpu.state
    let beforeFlags = cpu.eflags
    let exit = cpu.run(maxInstructions: setup.instructions)
    return Outcome(before: before, beforeFlags: beforeFlags, cpu: cpu, exit: exit)
}

/// `.exception(#GP, code)`.
func gp(_ code: UInt32 = 0) -> ExitReason { .exception(vector: Vector.generalProtection, errorCode: code) }
let ud = ExitReason.exception(vector: Vector.invalidOpcode, errorCode: nil)
