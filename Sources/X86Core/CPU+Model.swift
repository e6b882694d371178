import X86Decode

/// The CPU model: CPUID, MSRs, TSC, SYSENTER/SYSEXIT (SDM Vol. 2A CPUID, Vol. 4 MSRs).
extension CPU {
    /// CPUID.1:EDX as advertised: only what this CPU implements. FPU (0), VME (1: CR4.VME and
    /// CR4.PVI), DE (2), PSE (3), TSC (4), MSR (5), CX8 (8), SEP (11), PGE (13), CMOV (15), CLFSH
    /// (19), MMX (23), FXSR (24), SSE (25), SSE2 (26). No PAE, APIC (the machine adds a local
    /// APIC later), MTRR, PAT or MCA.
    public static let featureEDX: UInt32 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8)
        | (1 << 11) | (1 << 13) | (1 << 15) | (1 << 19) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26)
    /// CPUID.1:EBX: CLFLUSH line size in 8-byte units (bits 15:8): 64 bytes.
    public static let featureEBX: UInt32 = 8 << 8
    /// Family 6, model 13, stepping 8: a P6-family CPU with SSE2 (the Pentium M), so FOP is
    /// kept for every non-control x87 instruction (SDM Vol. 1 §8.1.9.1), as on the host.
    public static let signature: UInt32 = 0x06D8
    static let brand = Array("x86v i686 interpreter (SW)".utf8) + [UInt8](repeating: 0, count: 22)

    func cpuid() throws(Fault) {
        try interceptIfRequested(.cpuid)
        let (a, b, c, d) = cpuidLeaf(gpr[0], subleaf: gpr[1])
        gpr[0] = a; gpr[3] = b; gpr[1] = c; gpr[2] = d
    }

    /// CPUID values for a leaf (public so a VMM can answer intercepted CPUIDs the same way).
    public func cpuidLeaf(_ leaf: UInt32, subleaf: UInt32) -> (UInt32, UInt32, UInt32, UInt32) {
        func word(_ s: String) -> UInt32 {
            let u = Array(s.utf8)
            return UInt32(u[0]) | UInt32(u[1]) << 8 | UInt32(u[2]) << 16 | UInt32(u[3]) << 24
        }
        switch leaf {
        case 0: return (umipSupported ? 7 : 1, word("Genu"), word("ntel"), word("ineI"))
        case 2...7 where umipSupported:
            // A CPU with UMIP reports it in leaf 7 ECX bit 2; the leaves between say nothing.
            return leaf == 7 && subleaf == 0 ? (0, 0, 1 << 2, 0) : (0, 0, 0, 0)
        case 1:
            let apic: UInt32 = localAPICPresent && s.pointee.apicBase & (1 << 11) != 0 ? 1 << 9 : 0
            return (Self.signature, Self.featureEBX, 0, Self.featureEDX | apic)
        case 0x8000_0000: return (0x8000_0004, 0, 0, 0)
        case 0x8000_0001: return (0, 0, 0, 0)
        case 0x8000_0002...0x8000_0004:
            let base = Int(leaf - 0x8000_0002) * 16
            var r: [UInt32] = []
            for i in 0..<4 {
                var v: UInt32 = 0
                for j in 0..<4 { v |= UInt32(Self.brand[base + i * 4 + j]) << (8 * j) }
                r.append(v)
            }
            return (r[0], r[1], r[2], r[3])
        default:
            // Leaves above the maximum return the highest basic leaf's data (Intel behaviour).
            return leaf >= 0x8000_0000 ? (0, 0, 0, 0) : cpuidLeaf(1, subleaf: 0)
        }
    }

    /// Time-stamp counter: the retired-instruction count plus an offset (a virtual clock, so
    /// runs are deterministic).
    public var timeStampCounter: UInt64 { s.pointee.instructions &+ s.pointee.tscOffset }

    func rdtsc() throws(Fault) {
        if s.pointee.cr4 & CR4.tsd != 0 && s.pointee.cpl != 0 { throw Fault.gp(0) }
        try interceptIfRequested(.rdtsc)
        let t = timeStampCounter
        gpr[0] = UInt32(truncatingIfNeeded: t)
        gpr[2] = UInt32(truncatingIfNeeded: t >> 32)
    }

    func rdpmc() throws(Fault) {
        // No performance counters are implemented: any counter index is invalid.
        if s.pointee.cr4 & CR4.pce == 0 && s.pointee.cpl != 0 { throw Fault.gp(0) }
        throw Fault.gp(0)
    }

    func rdmsr() throws(Fault) {
        try requireCPL0()
        try interceptIfRequested(.msr)
        guard let v = readMSR(gpr[1]) else { throw Fault.gp(0) }
        gpr[0] = UInt32(truncatingIfNeeded: v)
        gpr[2] = UInt32(truncatingIfNeeded: v >> 32)
    }

    func wrmsr() throws(Fault) {
        try requireCPL0()
        try interceptIfRequested(.msr)
        let v = UInt64(gpr[2]) << 32 | UInt64(gpr[0])
        if !writeMSR(gpr[1], v) { throw Fault.gp(0) }
    }

    /// MSRs an i686 kernel touches; nil = #GP(0).
    public func readMSR(_ index: UInt32) -> UInt64? {
        let st = s.pointee
        switch index {
        case 0x10: return timeStampCounter
        // IA32_PLATFORM_ID and IA32_BIOS_SIGN_ID (P6 family on): platform 0, no microcode
        // update loaded (the signature, bits 63:32, stays 0 whatever is written).
        case 0x17, 0x8B: return 0
        case 0x1B: return UInt64(st.apicBase)
        case 0x174: return UInt64(st.sysenterCS)
        case 0x175: return UInt64(st.sysenterESP)
        case 0x176: return UInt64(st.sysenterEIP)
        case 0x1A0: return st.miscEnable
        case 0x277: return st.pat
        default: return nil
        }
    }

    public func writeMSR(_ index: UInt32, _ v: UInt64) -> Bool {
        switch index {
        case 0x10: s.pointee.tscOffset = v &- s.pointee.instructions
        case 0x8B: break  // software writes 0 before CPUID(1) to read the update signature
        case 0x1B:
            // Reserved bits (11:9 except BSP 8, 31:12 is the base) — bits 63:32 must be 0 here.
            if v >> 32 != 0 || v & 0x6FF != 0 { return false }
            s.pointee.apicBase = UInt32(v)
        case 0x174: s.pointee.sysenterCS = UInt32(truncatingIfNeeded: v) & 0xFFFF
        case 0x175: s.pointee.sysenterESP = UInt32(truncatingIfNeeded: v)
        case 0x176: s.pointee.sysenterEIP = UInt32(truncatingIfNeeded: v)
        case 0x1A0: s.pointee.miscEnable = v
        case 0x277:
            // Each PAT entry must be a valid memory type (0, 1, 4, 5, 6, 7).
            for i in 0..<8 where [2, 3].contains((v >> (8 * UInt64(i))) & 0xFF) || (v >> (8 * UInt64(i))) & 0xF8 != 0 {
                return false
            }
            s.pointee.pat = v
        default: return false
        }
        return true
    }

    /// SYSENTER (SDM Vol. 2B): flat CPL-0 CS/SS from IA32_SYSENTER_CS, ESP/EIP from the MSRs.
    func sysenter() throws(Fault) {
        let st = s
        if !protectedMode || st.pointee.sysenterCS & 0xFFFC == 0 { throw Fault.gp(0) }
        let cs = UInt16(st.pointee.sysenterCS & 0xFFFC)
        st.pointee.flags &= ~(EFLAGS.vm | EFLAGS.if | EFLAGS.rf)
        st.pointee.segments[1] = SegmentCache(selector: cs, base: 0, limit: 0xFFFF_FFFF, attributes: 0xC09B)
        st.pointee.segments[2] = SegmentCache(selector: cs &+ 8, base: 0, limit: 0xFFFF_FFFF, attributes: 0xC093)
        st.pointee.cpl = 0
        gpr[4] = st.pointee.sysenterESP
        st.pointee.eip = st.pointee.sysenterEIP
    }

    /// SYSEXIT: flat CPL-3 CS = SYSENTER_CS+16, SS = +24; EIP = EDX, ESP = ECX.
    func sysexit() throws(Fault) {
        let st = s
        if !protectedMode || st.pointee.cpl != 0 || st.pointee.sysenterCS & 0xFFFC == 0 { throw Fault.gp(0) }
        let base = UInt16(st.pointee.sysenterCS)
        st.pointee.segments[1] = SegmentCache(selector: (base &+ 16) | 3, base: 0, limit: 0xFFFF_FFFF, attributes: 0xC0FB)
        st.pointee.segments[2] = SegmentCache(selector: (base &+ 24) | 3, base: 0, limit: 0xFFFF_FFFF, attributes: 0xC0F3)
        st.pointee.cpl = 3
        gpr[4] = gpr[1]
        st.pointee.eip = gpr[2]
    }

    // MARK: MMX, SSE, SSE2 (CPU+SSE.swift, CPU+MMX.swift) and FXSAVE/FXRSTOR

    /// MMX/SSE rows (and 0F hints). MMX: #UD if EM, #NM if TS. SSE: #UD if EM or !OSFXSR,
    /// #NM if TS (SDM Vol. 3A §2.5 and §13.1, Table 13-1 of the SDM's CR0/CR4 interactions).
    /// Prefetch hints and NOP forms execute as NOPs.
    func simdOrPrefetch(_ d: InstructionRef) throws(Fault) {
        if d.opcode == 0x18 || d.opcode == 0x1F || d.opcode == 0x0D { return }
        // RSM outside system-management mode (SDM Vol. 2B RSM). Here, off the execute switch:
        // a case there changed the hot loop's code (+0.35% host instructions on alu).
        if d.opcode == 0xAA { throw Fault.ud }
        // FXSAVE/FXRSTOR (CPU+X87Environment.swift) have their own #NM/#UD rules.
        if d.opcode == 0xAE && d.reg <= 1 && d.modrm < 0xC0 {
            // NP: a 66, F2 or F3 prefix makes it reserved (#UD on the host, see SIMDRowClass).
            if !d.prefixes.isDisjoint(with: [.operandSizeOverride, .rep, .repne]) { throw Fault.ud }
            return try fxsaveOrRestore(d)
        }
        let entry = simdRowClasses[Int(d.pointer.pointee.row)]
        let cr0 = s.pointee.cr0
        if entry & SIMDRowClass.sse != 0 {
            if cr0 & CR0.em != 0 || s.pointee.cr4 & CR4.osfxsr == 0 {
                // FXSAVE/FXRSTOR only need CR0 clear of EM/TS (they are not SSE data instructions).
                if !(d.opcode == 0xAE && d.reg <= 1) { throw Fault.ud }
            }
            if cr0 & (CR0.ts | CR0.em) != 0 { throw Fault.nm }
        } else if entry & SIMDRowClass.mmx != 0 {
            if cr0 & CR0.em != 0 { throw Fault.ud }
            if cr0 & CR0.ts != 0 { throw Fault.nm }
        } else if d.opcode == 0xAE {
            if d.reg <= 1 && cr0 & (CR0.ts | CR0.em) != 0 { throw Fault.nm }
        }
        try simd(d, entry: entry)  // CPU+SSE.swift
    }

    func notImplemented(_ d: InstructionRef) throws(Fault) {
        let text = Disassembler().text(d.pointee, address: s.pointee.currentEIP)
        pendingExit = .notImplemented(eip: s.pointee.currentEIP, what: text)
        throw Fault.exit
    }
}
