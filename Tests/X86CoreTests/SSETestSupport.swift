import Testing
import X86Core

/// Shared set-up of the SSE and MMX tests: code at 0x1000 in flat 32-bit CPL 0 with CR0.NE and
/// CR4.OSFXSR/OSXMMEXCPT, `data` at 0x2000, XMM and MMX registers preset; every exception exits
/// (`.exception(vector:errorCode:)`), so faults are checked without an IDT.
struct SIMDCase {
    var code: [UInt8]
    var xmm: [XMMRegister] = []
    var mmx: [UInt64] = []
    var data: [UInt8] = []
    var regs: [Register: UInt32] = [:]
    var mxcsr: UInt32 = 0x1F80
    var cr0: UInt32 = CR0.pe | CR0.et | CR0.ne
    var cr4: UInt32 = CR4.osfxsr | CR4.osxmmexcpt
    /// FSW and tag word before the run (the x87 state MMX instructions change).
    var fsw: UInt16 = 0
    var tags: UInt16 = 0xFFFF

    init(_ code: [UInt8]) { self.code = code }

    func run(on cpu: CPU = CPU(memorySize: 1 << 20), budget: UInt64 = 100) -> (CPU, ExitReason) {
        cpu.resetFlat(cpl: 0)
        cpu.memory.load(bytes: code + [0xF4], at: 0x1000)
        if !data.isEmpty { cpu.memory.load(bytes: data, at: 0x2000) }
        var st = cpu.state
        st.eip = 0x1000
        st[.esp] = 0x8000
        for (r, v) in regs { st[r] = v }
        st.cr0 = cr0
        st.cr4 = cr4
        for (i, v) in xmm.enumerated() { st.fpu.xmm[i] = v }
        for (i, v) in mmx.enumerated() { st.fpu.registers[i] = X87Register(significand: v, signExponent: 0) }
        st.fpu.mxcsr = mxcsr
        st.fpu.status = fsw
        st.fpu.tags = tags
        cpu.state = st
        cpu.exitOnExceptions = 0xFFFF_FFFF
        return (cpu, cpu.run(maxInstructions: budget))
    }
}

/// Little-endian bytes.
func bytes32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
func bytes64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

/// An XMM value from four single-precision lanes (lane 0 first).
func xmmFloats(_ a: Float, _ b: Float, _ c: Float, _ d: Float) -> XMMRegister {
    XMMRegister(low: UInt64(a.bitPattern) | UInt64(b.bitPattern) << 32, high: UInt64(c.bitPattern) | UInt64(d.bitPattern) << 32)
}

/// An XMM value from two double-precision lanes.
func xmmDoubles(_ a: Double, _ b: Double) -> XMMRegister {
    XMMRegister(low: a.bitPattern, high: b.bitPattern)
}

/// An XMM value from four doubleword lanes.
func xmmDwords(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32) -> XMMRegister {
    XMMRegister(low: UInt64(a) | UInt64(b) << 32, high: UInt64(c) | UInt64(d) << 32)
}

let exceptionUD = ExitReason.exception(vector: 6, errorCode: nil)
let exceptionNM = ExitReason.exception(vector: 7, errorCode: nil)
let exceptionGP0 = ExitReason.exception(vector: 13, errorCode: 0)
let exceptionMF = ExitReason.exception(vector: 16, errorCode: nil)
let exceptionXM = ExitReason.exception(vector: 19, errorCode: nil)
