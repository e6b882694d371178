/// The state after RESET (SDM Vol. 3A §9.1.1, Table 9-1), as a PC powers on: real mode, the
/// first instruction at CS base 0xFFFF0000 + EIP 0xFFF0 = 0xFFFFFFF0 (the top 16 bytes of the
/// 4 GiB space, where the firmware ROM is), until the first far jump reloads CS and its base
/// becomes selector << 4.
///
///     register              value after RESET
///     EFLAGS                0x00000002
///     EIP                   0x0000FFF0
///     CR0                   0x60000010 (CD, NW, ET)          CR2, CR3, CR4   0
///     CS                    selector 0xF000, base 0xFFFF0000, limit 0xFFFF, present R/W accessed
///     SS DS ES FS GS        selector 0, base 0, limit 0xFFFF, present R/W accessed
///     EDX                   the CPU signature (CPUID.1:EAX)   other GPRs      0 (no BIST)
///     GDTR, IDTR            base 0, limit 0xFFFF
///     LDTR                  selector 0, base 0, limit 0xFFFF, present, LDT
///     TR                    selector 0, base 0, limit 0xFFFF, present, busy 32-bit TSS
///     DR0–DR3, DR6, DR7     0, 0xFFFF0FF0, 0x00000400
///     x87                   FCW 0x0040, FSW 0, FTW 0x5555, FIP/FDP/FOP 0, R0–R7 +0.0
///     SSE                   MXCSR 0x1F80, XMM0–7 0
///     TSC, PAT, APIC base   0, 0x0007040600070406, 0xFEE00900 (bootstrap processor, enabled)
///
/// The descriptor caches' attributes matter after RESET: real-mode segment loads keep them
/// (`loadSegment`), and the decoder's default operand size comes from CS's D bit (clear: 16-bit).
/// LDTR and TR follow QEMU's and Bochs's reset (type LDT, busy 32-bit TSS).
extension CPU {
    /// Puts the CPU in its power-on state (Table 9-1 above). The instruction count restarts at
    /// 0, so the virtual clock and TSC do too; counters that are not architectural
    /// (`modeCounters`, `fpuCounters`) are kept.
    public func powerOn() {
        var st = CPUState()
        let data = SegmentCache(selector: 0, base: 0, limit: 0xFFFF, attributes: 0x93)
        for r in SegmentRegister.allCases { st[r] = data }
        st[.cs] = SegmentCache(selector: 0xF000, base: 0xFFFF_0000, limit: 0xFFFF, attributes: 0x9B)
        st.eip = 0xFFF0
        st.currentEIP = 0xFFF0
        st.flags = EFLAGS.fixed1
        st.cr0 = CR0.cd | CR0.nw | CR0.et
        st.cr2 = 0
        st.cr3 = 0
        st.cr4 = 0
        st.pagingRoot = 0
        st.gdtr = TableRegister(base: 0, limit: 0xFFFF)
        st.idtr = TableRegister(base: 0, limit: 0xFFFF)
        st.ldtr = SegmentCache(selector: 0, base: 0, limit: 0xFFFF, attributes: 0x82)
        st.tr = SegmentCache(selector: 0, base: 0, limit: 0xFFFF, attributes: 0x8B)
        for i in 0..<8 { st.dr[i] = 0 }
        st.dr[6] = 0xFFFF_0FF0
        st.dr[7] = 0x0000_0400
        st[.edx] = Self.signature
        st.cpl = 0
        st.fpu = FPUState()
        s.pointee = st
        interruptRequested = false
        nmiRequested = false
        deliveringVector = 0xFF
        pendingPort = nil
        exceptionChain = []
        frozenOnNumericError = false
        flushTLB()
        updateAttention()
    }
}

extension CPU {
    /// Sets the mode-switch counters: a run resumed from a snapshot continues the saved run's
    /// (`MachineSnapshot` carries them beside the CPU's architectural state, so `--stats-json`
    /// of a saved and resumed run equals an uninterrupted one's).
    public func restoreModeCounters(_ counters: ModeCounters) {
        modeCounters = counters
    }
}
