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
    /// Why the guest is not ring-compressed but runs "emulated": at its own privilege level
    /// (ring 0 at real ring 0), with `--virt=hw`'s intercepts and its own GDTR, IDTR, LDTR and
    /// TR in the CPU (`VMM.enterClassicEmulatedMode`), the way VMware's VMM handed what it could
    /// not deprivilege to its emulator. The guest's GDTR, IDTR, LDTR and TR above are then stale.
    public enum EmulatedMode: UInt8, Sendable {
        /// The guest's CR0.PE = 0: no rings to compress, segments are plain bases.
        case realMode = 1
        /// Virtual-8086 mode (EFLAGS.VM = 1) and its ring-0 monitor until the next safe exit.
        case v86 = 2
        /// A hardware task switch, run on the guest's own GDT and TSSs, until the next safe exit.
        case taskSwitch = 3
    }
    /// nil: ring compression.
    public internal(set) var emulated: EmulatedMode? = nil
    /// The guest is in real mode (its CR0.PE = 0).
    public var realMode: Bool { emulated == .realMode }
    /// Returns to real mode (CR0.PE 1 → 0) and entries into ring compression from real mode
    /// (0 → 1), for `--stats`.
    public internal(set) var realModeEntries: UInt64 = 0
    public internal(set) var compressionEntries: UInt64 = 0
    /// Entries into the emulated mode for virtual-8086 mode and for task switches, and returns
    /// from those to ring compression.
    public internal(set) var v86Entries: UInt64 = 0
    public internal(set) var taskSwitchEntries: UInt64 = 0
    public internal(set) var emulatedReturns: UInt64 = 0
    /// Re-syncs of the shadow tables after a guest store to a traced descriptor-table page
    /// (VMM+ClassicTracing.swift), for `--stats`.
    public internal(set) var tableWriteSyncs: UInt64 = 0
    /// Vectors whose gate in the guest's IDT is a task gate (256 bits, from the last sync): their
    /// shadow gates are not present, so the VMM delivers them in the emulated mode.
    var taskGates: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    func hasTaskGate(_ vector: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(vector & 63)
        switch vector >> 6 {
        case 0: return taskGates.0 & bit != 0
        case 1: return taskGates.1 & bit != 0
        case 2: return taskGates.2 & bit != 0
        default: return taskGates.3 & bit != 0
        }
    }

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
