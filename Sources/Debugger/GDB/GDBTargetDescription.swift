/// The target description GDB reads with `qXfer:features:read:target.xml` (GDB manual, appendix G
/// "Target Descriptions"; G.5.13 "i386 Features"): architecture i386, the `org.gnu.gdb.i386.core`
/// feature, our `org.x86v.sys` feature and `org.gnu.gdb.i386.sse`. It fixes the register numbers,
/// which are also the layout of the `g`/`G` packets (registers in number order, little-endian).
///
/// GDB's i386 architecture insists on the whole core feature of `32bit-core.xml`, x87 included:
/// `i386_validate_tdesc_p` requires `num_core_regs` = 16 general + 16 x87 registers, and a core
/// feature without st0–st7 / fctrl…fop makes GDB 13 print "Architecture rejected target-supplied
/// description" and fall back to its default register layout. The x87 registers (regnums 16–31)
/// are GDB's i387 view of the FPU (`i387-tdep.c`): st0–st7 are ST(0)–ST(7), stack-relative, as
/// 10-byte `i387_ext` values (significand, then sign and exponent); fctrl, fstat (TOP included),
/// ftag (the *full* tag word, two bits per physical register, as FNSTENV stores it: GDB's
/// `info float` reads it that way), fiseg/fioff (FCS:FIP), foseg/fooff (FDS:FDP) and fop (11
/// bits) are 4 bytes each. The system registers follow at 32–42, then the SSE feature of
/// `32bit-sse.xml` at 43–51: xmm0–xmm7 (`vec128`, the union `p $xmm0` prints) and mxcsr.
///
/// A backend without an FPU (`GDBBackend.readFloatRegisters` nil) has its x87 and SSE registers
/// reported unavailable (`xx…`), and writes to them refused.
public struct GDBTargetDescription: Sendable {
    /// One register: GDB number = its index in `registers`.
    public struct Register: Sendable {
        /// Where the value comes from.
        public enum Source: Sendable, Equatable {
            /// Index into `GDBBackend.readRegisters()` (4 bytes).
            case backend(Int)
            /// ST(i) of `GDBFloatRegisters.st` (10 bytes).
            case st(Int)
            /// fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop: `GDBFloatRegisters.control[i]` (4 bytes).
            case fpuControl(Int)
            /// XMM i (16 bytes, low quadword first).
            case xmm(Int)
            /// MXCSR (4 bytes).
            case mxcsr
        }
        public let name: String
        public let bitSize: Int
        public let type: String
        public let group: String?
        public let source: Source
        public var byteSize: Int { bitSize / 8 }
        /// Index into `GDBBackend.readRegisters()`, nil for the x87 and SSE registers.
        public var backendIndex: Int? {
            if case .backend(let i) = source { return i }
            return nil
        }
        /// An x87 or SSE register (`GDBBackend.readFloatRegisters`).
        public var isFloat: Bool { backendIndex == nil }
    }

    public let registers: [Register]
    /// GDB register number of each backend index.
    public let gdbNumber: [Int]
    public let xml: String

    /// The description x86v serves.
    public static let i386 = GDBTargetDescription(includeX87: true)

    /// GDB's names of the x87 control registers, `GDBFloatRegisters.control` order.
    public static let fpuControlNames = ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"]

    /// `includeX87: false` builds a core feature with only the 16 integer registers and no SSE
    /// feature (kept to check that GDB rejects it; see the type's documentation).
    public init(includeX87: Bool) {
        var regs: [Register] = []
        let core: [(String, String)] = [
            ("eax", "int32"), ("ecx", "int32"), ("edx", "int32"), ("ebx", "int32"),
            ("esp", "data_ptr"), ("ebp", "data_ptr"), ("esi", "int32"), ("edi", "int32"),
            ("eip", "code_ptr"), ("eflags", "i386_eflags"),
            ("cs", "int32"), ("ss", "int32"), ("ds", "int32"), ("es", "int32"), ("fs", "int32"), ("gs", "int32"),
        ]
        for (i, (name, type)) in core.enumerated() {
            regs.append(Register(name: name, bitSize: 32, type: type, group: nil, source: .backend(i)))
        }
        let coreEnd = regs.count
        if includeX87 {
            for i in 0..<8 {
                regs.append(Register(name: "st\(i)", bitSize: 80, type: "i387_ext", group: nil, source: .st(i)))
            }
            for (i, name) in Self.fpuControlNames.enumerated() {
                regs.append(Register(name: name, bitSize: 32, type: "int", group: "float", source: .fpuControl(i)))
            }
        }
        let sysStart = regs.count
        let sys: [(String, String)] = [
            ("cr0", "x86v_cr0"), ("cr2", "data_ptr"), ("cr3", "uint32"), ("cr4", "x86v_cr4"),
            ("gdtr_base", "data_ptr"), ("gdtr_limit", "uint32"), ("idtr_base", "data_ptr"), ("idtr_limit", "uint32"),
            ("ldtr", "uint32"), ("tr", "uint32"), ("cpl", "uint32"),
        ]
        for (i, (name, type)) in sys.enumerated() {
            regs.append(Register(name: name, bitSize: 32, type: type, group: "system", source: .backend(GDBRegister.cr0 + i)))
        }
        let sseStart = regs.count
        if includeX87 {
            for i in 0..<8 {
                regs.append(Register(name: "xmm\(i)", bitSize: 128, type: "vec128", group: nil, source: .xmm(i)))
            }
            regs.append(Register(name: "mxcsr", bitSize: 32, type: "i386_mxcsr", group: "vector", source: .mxcsr))
        }
        registers = regs
        var numbers = Array(repeating: 0, count: GDBRegister.count)
        for (n, r) in regs.enumerated() { if let b = r.backendIndex { numbers[b] = n } }
        gdbNumber = numbers
        xml = Self.makeXML(regs, coreEnd: includeX87 ? coreEnd + 16 : coreEnd, sysStart: sysStart, sseStart: sseStart)
    }

    /// Bytes of a full `g` packet (before hex encoding).
    public var registerBytes: Int { registers.reduce(0) { $0 + $1.byteSize } }

    static func makeXML(_ regs: [Register], coreEnd: Int, sysStart: Int, sseStart: Int) -> String {
        func reg(_ n: Int) -> String {
            let r = regs[n]
            let group = r.group.map { " group=\"\($0)\"" } ?? ""
            return "    <reg name=\"\(r.name)\" bitsize=\"\(r.bitSize)\" type=\"\(r.type)\" regnum=\"\(n)\"\(group)/>\n"
        }
        func flags(_ id: String, _ fields: [(String, Int)]) -> String {
            var s = "    <flags id=\"\(id)\" size=\"4\">\n"
            for (name, bit) in fields { s += "      <field name=\"\(name)\" start=\"\(bit)\" end=\"\(bit)\"/>\n" }
            return s + "    </flags>\n"
        }
        var x = """
            <?xml version="1.0"?>
            <!DOCTYPE target SYSTEM "gdb-target.dtd">
            <target version="1.0">
              <architecture>i386</architecture>
              <feature name="org.gnu.gdb.i386.core">

            """
        // GDB's i386_eflags (features/i386/32bit-core.xml), bit 1 unnamed.
        x += flags("i386_eflags", [("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8),
                                   ("IF", 9), ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17),
                                   ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21)])
        for n in 0..<coreEnd { x += reg(n) }
        x += "  </feature>\n  <feature name=\"org.x86v.sys\">\n"
        // SDM Vol. 3A §2.5 "Control Registers".
        x += flags("x86v_cr0", [("PE", 0), ("MP", 1), ("EM", 2), ("TS", 3), ("ET", 4), ("NE", 5), ("WP", 16),
                                ("AM", 18), ("NW", 29), ("CD", 30), ("PG", 31)])
        x += flags("x86v_cr4", [("VME", 0), ("PVI", 1), ("TSD", 2), ("DE", 3), ("PSE", 4), ("PAE", 5), ("MCE", 6),
                                ("PGE", 7), ("PCE", 8), ("OSFXSR", 9), ("OSXMMEXCPT", 10)])
        for n in sysStart..<sseStart { x += reg(n) }
        x += "  </feature>\n"
        if sseStart < regs.count {
            // features/i386/32bit-sse.xml (GDB 13), without the bfloat16 view GDB 12 and older do not know.
            x += "  <feature name=\"org.gnu.gdb.i386.sse\">\n"
            for (id, type, count) in [("v4f", "ieee_single", 4), ("v2d", "ieee_double", 2), ("v16i8", "int8", 16),
                                      ("v8i16", "int16", 8), ("v4i32", "int32", 4), ("v2i64", "int64", 2)] {
                x += "    <vector id=\"\(id)\" type=\"\(type)\" count=\"\(count)\"/>\n"
            }
            x += "    <union id=\"vec128\">\n"
            for (name, type) in [("v4_float", "v4f"), ("v2_double", "v2d"), ("v16_int8", "v16i8"), ("v8_int16", "v8i16"),
                                 ("v4_int32", "v4i32"), ("v2_int64", "v2i64"), ("uint128", "uint128")] {
                x += "      <field name=\"\(name)\" type=\"\(type)\"/>\n"
            }
            x += "    </union>\n"
            // SDM Vol. 1 §10.2.3 "MXCSR Control and Status Register".
            x += flags("i386_mxcsr", [("IE", 0), ("DE", 1), ("ZE", 2), ("OE", 3), ("UE", 4), ("PE", 5), ("DAZ", 6),
                                      ("IM", 7), ("DM", 8), ("ZM", 9), ("OM", 10), ("UM", 11), ("PM", 12), ("FZ", 15)])
            for n in sseStart..<regs.count { x += reg(n) }
            x += "  </feature>\n"
        }
        x += "</target>\n"
        return x
    }
}
