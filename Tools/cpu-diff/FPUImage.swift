import X86Core

/// The 512-byte FXSAVE image (32-bit format, SDM Vol. 1 §10.5.1, Table 10-2) the batch carries
/// for FPU cases: the native harness FXRSTORs it before the case and FXSAVEs after; x86v loads it
/// into `CPUState.fpu` the way FXRSTOR would and builds the same image from its state after.
///
///     0 FCW  2 FSW  4 FTW (abridged: bit i = Ri not empty)  6 FOP  8 FIP  12 FCS  16 FDP  20 FDS
///     24 MXCSR  28 MXCSR_MASK  32 + 16i ST(i) (10 bytes, stack order)  160 + 16i XMMi
///     288–511 reserved or available in 32-bit mode
struct FXImage: Equatable {
    var bytes: [UInt8]

    init() {
        bytes = [UInt8](repeating: 0, count: 512)
        fcw = 0x037F
        mxcsr = 0x1F80
    }

    init(_ bytes: [UInt8]) {
        precondition(bytes.count == 512)
        self.bytes = bytes
    }

    func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
    mutating func set16(_ at: Int, _ v: UInt16) { bytes[at] = UInt8(v & 0xFF); bytes[at + 1] = UInt8(v >> 8) }
    mutating func set32(_ at: Int, _ v: UInt32) { set16(at, UInt16(v & 0xFFFF)); set16(at + 2, UInt16(v >> 16)) }
    mutating func set64(_ at: Int, _ v: UInt64) { set32(at, UInt32(v & 0xFFFF_FFFF)); set32(at + 4, UInt32(v >> 32)) }

    var fcw: UInt16 { get { u16(0) } set { set16(0, newValue) } }
    var fsw: UInt16 { get { u16(2) } set { set16(2, newValue) } }
    var ftw: UInt8 { get { bytes[4] } set { bytes[4] = newValue } }
    var fop: UInt16 { get { u16(6) } set { set16(6, newValue) } }
    var fip: UInt32 { get { u32(8) } set { set32(8, newValue) } }
    var fcs: UInt16 { get { u16(12) } set { set16(12, newValue) } }
    var fdp: UInt32 { get { u32(16) } set { set32(16, newValue) } }
    var fds: UInt16 { get { u16(20) } set { set16(20, newValue) } }
    var mxcsr: UInt32 { get { u32(24) } set { set32(24, newValue) } }
    var top: Int { Int(fsw >> 11) & 7 }

    /// ST(i) (stack order, as FXSAVE stores it).
    func st(_ i: Int) -> X87Register { X87Register(significand: u64(32 + 16 * i), signExponent: u16(40 + 16 * i)) }
    mutating func setST(_ i: Int, _ r: X87Register) { set64(32 + 16 * i, r.significand); set16(40 + 16 * i, r.signExponent) }
    func xmm(_ i: Int) -> XMMRegister { XMMRegister(low: u64(160 + 16 * i), high: u64(168 + 16 * i)) }
    mutating func setXMM(_ i: Int, _ x: XMMRegister) { set64(160 + 16 * i, x.low); set64(168 + 16 * i, x.high) }

    /// The full tag FXRSTOR derives for a non-empty register from its contents (SDM Vol. 1
    /// §10.5.1.1 "x87 FPU tag word"): 00 valid, 01 zero, 10 special (NaN, ∞, denormal,
    /// pseudo-denormal and the unsupported encodings).
    static func tag(of r: X87Register) -> UInt16 {
        let exponent = r.signExponent & 0x7FFF
        if exponent == 0x7FFF { return 2 }
        if exponent == 0 { return r.significand == 0 ? 1 : 2 }
        return r.significand >> 63 == 0 ? 2 : 0
    }

    /// Loads the image into `fpu` as FXRSTOR does: ST(i) into R((TOP + i) mod 8), full tags
    /// from the abridged ones and the contents. MXCSR_MASK and the reserved bytes are ignored.
    func load(into fpu: inout FPUState) {
        let top = self.top
        var tags: UInt16 = 0
        for i in 0..<8 { fpu.registers[(top + i) & 7] = st(i) }
        for r in 0..<8 {
            let tag: UInt16 = ftw >> r & 1 == 0 ? 3 : FXImage.tag(of: fpu.registers[r])
            tags |= tag << (2 * UInt16(r))
        }
        fpu.control = fcw
        fpu.status = fsw
        fpu.tags = tags
        fpu.lastOpcode = fop & 0x7FF
        fpu.instructionPointer = fip
        fpu.instructionSelector = fcs
        fpu.operandPointer = fdp
        fpu.operandSelector = fds
        fpu.mxcsr = mxcsr
        for i in 0..<8 { fpu.xmm[i] = xmm(i) }
    }

    /// The image FXSAVE would write from `fpu` (MXCSR_MASK 0xFFFF, reserved bytes 0).
    init(_ fpu: FPUState) {
        self.init()
        fcw = fpu.control
        fsw = fpu.status
        var abridged: UInt8 = 0
        for r in 0..<8 where (fpu.tags >> (2 * UInt16(r))) & 3 != 3 { abridged |= 1 << UInt8(r) }
        ftw = abridged
        fop = fpu.lastOpcode
        fip = fpu.instructionPointer
        fcs = fpu.instructionSelector
        fdp = fpu.operandPointer
        fds = fpu.operandSelector
        mxcsr = fpu.mxcsr
        set32(28, 0xFFFF)
        let top = self.top
        for i in 0..<8 { setST(i, fpu.registers[(top + i) & 7]) }
        for i in 0..<8 { setXMM(i, fpu.xmm[i]) }
    }
}

/// Status-word bits.
enum FSW {
    static let ie: UInt16 = 1 << 0
    static let sf: UInt16 = 1 << 6
    static let es: UInt16 = 1 << 7
    static let c0: UInt16 = 1 << 8
    static let c1: UInt16 = 1 << 9
    static let c2: UInt16 = 1 << 10
    static let c3: UInt16 = 1 << 14
    static let b: UInt16 = 1 << 15
    static let conditions: UInt16 = c0 | c1 | c2 | c3

    static func conditionNames(_ mask: UInt16) -> String {
        let list = [(c0, "C0"), (c1, "C1"), (c2, "C2"), (c3, "C3")].filter { mask & $0.0 != 0 }.map(\.1)
        return list.isEmpty ? "-" : list.joined(separator: " ")
    }
}

/// Comparison of the native and x86v FXSAVE images after a case, field by field.
///
/// What is not compared, and why (each counted by `FPUCompare.skips` when it hid a difference):
/// - C0–C3 that the SDM calls undefined after the instructions on the path (`FPUFlags`), like
///   the undefined EFLAGS of the integer families.
/// - FOP, FIP, FCS, FDP, FDS when the native FSW.ES = 0: this AMD CPU's FXSAVE stores them only
///   when an unmasked exception is pending (ES = 1) and writes zeros otherwise (checked here;
///   FNSTENV/FNSAVE store them always, so the x87 family checks them through those images).
/// - FCS and FDS after a native fault: the kernel's signal frame (XSAVE64) has no selectors.
/// - MXCSR_MASK (host-specific: 0x0002FFFF here, AMD's misaligned-SSE bit 17) and the reserved
///   bytes (5, 14–15, 22–23, 10–15 of each ST slot, 288–511).
struct FPUCompare {
    var differences: [String] = []
    /// Known-difference or not-comparable categories that hid a difference in this case.
    var skipped: [String] = []

    static let pointersUnsaved = "FOP/FIP/FDP/FCS/FDS not saved by the host's FXSAVE (ES = 0)"
    static let selectorsUnknown = "FCS/FDS unknown after a native fault (signal frame)"
    static let undefinedConditions = "C0-C3 undefined (SDM Vol. 2 \"FPU Flags Affected\")"

    static let disputedConditions = "C1 after FCOMI/FUCOMI(P) (host: unchanged; SDM Vol. 2A FCOMI: 0)"

    init(native: FXImage, x86v: FXImage, undefinedConditions: UInt16, disputedConditions: UInt16,
         selectorsUnknown: Bool, mask: Bool) {
        if native.fcw != x86v.fcw { differences.append("fcw: native \(hex16(native.fcw)), x86v \(hex16(x86v.fcw))") }
        let swDiff = native.fsw ^ x86v.fsw
        let masked = (mask ? undefinedConditions : 0) | disputedConditions
        if swDiff & ~masked != 0 {
            differences.append("fsw: native \(hex16(native.fsw)), x86v \(hex16(x86v.fsw))"
                               + (swDiff & FSW.conditions != 0 ? " (\(FSW.conditionNames(swDiff & ~masked)))" : ""))
        } else {
            if swDiff & undefinedConditions != 0 { skipped.append(FPUCompare.undefinedConditions) }
            if swDiff & disputedConditions & ~undefinedConditions != 0 { skipped.append(FPUCompare.disputedConditions) }
        }
        if native.ftw != x86v.ftw { differences.append("ftw: native \(hex2(native.ftw)), x86v \(hex2(x86v.ftw))") }
        let pointers = native.fop != x86v.fop || native.fip != x86v.fip || native.fdp != x86v.fdp
        let selectors = native.fcs != x86v.fcs || native.fds != x86v.fds
        if native.fsw & FSW.es == 0 {
            if pointers || selectors { skipped.append(FPUCompare.pointersUnsaved) }
        } else {
            if native.fop != x86v.fop { differences.append("fop: native \(hex16(native.fop)), x86v \(hex16(x86v.fop))") }
            if native.fip != x86v.fip { differences.append("fip: native \(hex(native.fip)), x86v \(hex(x86v.fip))") }
            if native.fdp != x86v.fdp { differences.append("fdp: native \(hex(native.fdp)), x86v \(hex(x86v.fdp))") }
            if selectors {
                if selectorsUnknown {
                    skipped.append(FPUCompare.selectorsUnknown)
                } else {
                    differences.append("fcs/fds: native \(hex16(native.fcs))/\(hex16(native.fds)), x86v \(hex16(x86v.fcs))/\(hex16(x86v.fds))")
                }
            }
        }
        if native.mxcsr != x86v.mxcsr { differences.append("mxcsr: native \(hex(native.mxcsr)), x86v \(hex(x86v.mxcsr))") }
        for i in 0..<8 where native.st(i) != x86v.st(i) {
            differences.append("st\(i): native \(x87Text(native.st(i))), x86v \(x87Text(x86v.st(i)))")
        }
        for i in 0..<8 where native.xmm(i) != x86v.xmm(i) {
            differences.append("xmm\(i): native \(xmmText(native.xmm(i))), x86v \(xmmText(x86v.xmm(i)))")
        }
    }
}

func hex16(_ v: UInt16) -> String { hex(UInt32(v), 4) }
func hex64(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}
func x87Text(_ r: X87Register) -> String { hex16(r.signExponent) + ":" + hex64(r.significand) }
func xmmText(_ x: XMMRegister) -> String { "0x" + hex64(x.high) + "_" + hex64(x.low) }
