import Machine
import X86Core

/// Classic trap-and-emulate (`--virt=classic`), as VMMs did it before VT-x: the guest kernel
/// runs deprivileged (ring compression: its ring 0 at ring 1), on a CPU with no execution
/// controls. The only way into the VMM is an exception: every exception exits to the VMM (the
/// exception bitmap is all ones), which emulates the privileged instruction that raised a #GP and
/// reflects everything else into the guest. The VMM keeps shadow GDT, IDT and TSS, mapped by
/// the shadow page tables in a page-directory slot of its own (the top 4 MiB), read-only.
///
/// Nothing is patched: the sensitive-but-unprivileged instructions (SGDT, SIDT, SLDT, STR, SMSW,
/// PUSHF, POPF, MOV from CS/SS, LAR, LSL, VERR, VERW, far CALL/RET, IRET…) run natively and see
/// the real state — the holes of Popek & Goldberg's theorem, as on pre-VT hardware.
public final class ClassicState {
    /// Where the VMM's tables live, linear and physical.
    public enum Layout {
        /// Page-directory slot 1023: linear 0xFFC00000–0xFFFFFFFF.
        public static let slot: UInt16 = 1023
        public static let gdtLinear: UInt32 = 0xFFC0_0000
        public static let idtLinear: UInt32 = 0xFFC1_0000
        public static let tssLinear: UInt32 = 0xFFC1_1000
        public static let ldtLinear: UInt32 = 0xFFC1_2000
        /// The VMM's TSS descriptor: the last GDT entry (selector 0xFFF8).
        public static let tssIndex = 8191
        /// The shadow LDT's descriptor (selector 0xFFF0).
        public static let ldtIndex = 8190
        /// Private pages after the shadow pool: the reserved page table, 16 GDT pages, the IDT,
        /// the TSS, 16 LDT pages.
        public static let privatePages = 35
    }

    /// The guest's descriptor-table registers (what LGDT, LIDT, LLDT, LTR loaded).
    public internal(set) var gdtr: TableRegister
    public internal(set) var idtr: TableRegister
    public internal(set) var ldtr: UInt16 = 0
    public internal(set) var tr: UInt16 = 0
    /// Physical address of the reserved page table; the shadow GDT, IDT and TSS follow it.
    let base: UInt32
    var gdtPhysical: UInt32 { base + 0x1000 }
    var idtPhysical: UInt32 { base + 0x11000 }
    var tssPhysical: UInt32 { base + 0x12000 }
    var ldtPhysical: UInt32 { base + 0x13000 }
    /// The guest's LDT (from its GDT descriptor at the last LLDT or sync): linear base, limit.
    var ldt: (base: UInt32, limit: UInt32)? = nil
    /// GDT entries copied at the last sync (the rest of the shadow GDT is zero).
    var syncedGDTEntries = 0
    /// CR4.UMIP on the real CPU (`--umip`): the descriptor-table holes trap too.
    public let umip: Bool
    /// Trapped instructions the VMM emulated, by mnemonic (the cost of trap-and-emulate).
    public internal(set) var traps: [String: UInt64] = [:]
    /// Set when the guest does something ring compression cannot give it.
    public internal(set) var problem: String? = nil
    /// `--virt=bt`: the binary translator (nil: plain classic, the holes open).
    public let translator: BinaryTranslator?
    /// True while a trapped instruction runs at real CPL 0 for its emulation.
    public internal(set) var inEmulation = false
    /// The guest is in real mode (its CR0.PE = 0): not ring-compressed but run at real CPL 0
    /// with `--virt=hw`'s intercepts, its own descriptor-table registers in the CPU
    /// (`VMM.enterClassicRealMode`). The guest's GDTR, IDTR, LDTR and TR above are then stale.
    public internal(set) var realMode = false
    /// Returns to real mode (CR0.PE 1 → 0) and entries into ring compression from real mode
    /// (0 → 1), for `--stats`.
    public internal(set) var realModeEntries: UInt64 = 0
    public internal(set) var compressionEntries: UInt64 = 0

    init(base: UInt32, gdtr: TableRegister, idtr: TableRegister, umip: Bool, translate: Bool) {
        self.base = base
        translator = translate ? BinaryTranslator() : nil
        self.gdtr = gdtr
        self.idtr = idtr
        self.umip = umip
    }
}

extension VMM {
    /// Physical address of the classic VMM's reserved page table (its GDT, IDT and TSS follow).
    public var classicTablesBase: UInt32 { classic?.base ?? 0 }
}
