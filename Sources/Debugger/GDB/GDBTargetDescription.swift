/// The target description GDB reads with `qXfer:features:read:target.xml` (GDB manual, appendix G
/// "Target Descriptions"; G.5.13 "i386 Features"): architecture i386, the `org.gnu.gdb.i386.core`
/// feature and our `org.x86v.sys` feature. It fixes the register numbers, which are also the
/// layout of the `g`/`G` packets (registers in number order, little-endian).
///
/// GDB's i386 architecture insists on the whole core feature of `32bit-core.xml`, x87 included:
/// `i386_validate_tdesc_p` requires `num_core_regs` = 16 general + 16 x87 registers, and a core
/// feature without st0–st7 / fctrl…fop makes GDB 13 print "Architecture rejected target-supplied
/// description" and fall back to its default register layout. So the x87 registers are
/// described (regnums 16–31) and always reported unavailable (`xx…` in `g`/`p`; writes refused),
/// since the x87 unit is not modelled. The system registers follow at 32–42.
public struct GDBTargetDescription: Sendable {
    /// One register: GDB number = its index in `registers`.
    public struct Register: Sendable {
        public let name: String
        public let bitSize: Int
        public let type: String
        public let group: String?
        /// Index into `GDBBackend.readRegisters()`, or nil for a register the backend does not
        /// have (x87): always unavailable.
        public let backendIndex: Int?
        public var byteSize: Int { bitSize / 8 }
    }

    public let registers: [Register]
    /// GDB register number of each backend index.
    public let gdbNumber: [Int]
    public let xml: String

    /// The description x86v serves.
    public static let i386 = GDBTargetDescription(includeX87: true)

    /// `includeX87: false` builds a core feature with only the 16 integer registers (kept to
    /// check that GDB rejects it; see the type's documentation).
    public init(includeX87: Bool) {
        var regs: [Register] = []
        let core: [(String, String)] = [
            ("eax", "int32"), ("ecx", "int32"), ("edx", "int32"), ("ebx", "int32"),
            ("esp", "data_ptr"), ("ebp", "data_ptr"), ("esi", "int32"), ("edi", "int32"),
            ("eip", "code_ptr"), ("eflags", "i386_eflags"),
            ("cs", "int32"), ("ss", "int32"), ("ds", "int32"), ("es", "int32"), ("fs", "int32"), ("gs", "int32"),
        ]
        for (i, (name, type)) in core.enumerated() {
            regs.append(Register(name: name, bitSize: 32, type: type, group: nil, backendIndex: i))
        }
        let coreEnd = regs.count
        if includeX87 {
            for i in 0..<8 {
                regs.append(Register(name: "st\(i)", bitSize: 80, type: "i387_ext", group: nil, backendIndex: nil))
            }
            for name in ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"] {
                regs.append(Register(name: name, bitSize: 32, type: "int", group: "float", backendIndex: nil))
            }
        }
        let sysStart = regs.count
        let sys: [(String, String)] = [
            ("cr0", "x86v_cr0"), ("cr2", "data_ptr"), ("cr3", "uint32"), ("cr4", "x86v_cr4"),
            ("gdtr_base", "data_ptr"), ("gdtr_limit", "uint32"), ("idtr_base", "data_ptr"), ("idtr_limit", "uint32"),
            ("ldtr", "uint32"), ("tr", "uint32"), ("cpl", "uint32"),
        ]
        for (i, (name, type)) in sys.enumerated() {
            regs.append(Register(name: name, bitSize: 32, type: type, group: "system", backendIndex: GDBRegister.cr0 + i))
        }
        registers = regs
        var numbers = Array(repeating: 0, count: GDBRegister.count)
        for (n, r) in regs.enumerated() { if let b = r.backendIndex { numbers[b] = n } }
        gdbNumber = numbers
        xml = Self.makeXML(regs, coreEnd: includeX87 ? coreEnd + 16 : coreEnd, sysStart: sysStart)
    }

    /// Bytes of a full `g` packet (before hex encoding).
    public var registerBytes: Int { registers.reduce(0) { $0 + $1.byteSize } }

    static func makeXML(_ regs: [Register], coreEnd: Int, sysStart: Int) -> String {
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
        for n in sysStart..<regs.count { x += reg(n) }
        x += "  </feature>\n</target>\n"
        return x
    }
}
