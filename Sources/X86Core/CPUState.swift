/// A segment register: the visible selector and the hidden descriptor cache the CPU loads with it
/// (SDM Vol. 3A §3.4.3). Plain data.
public struct SegmentCache: Sendable, Equatable {
    public var selector: UInt16 = 0
    /// Descriptor bytes 5 and 6 as one word: type (3:0), S (4), DPL (6:5), P (7),
    /// AVL (12), D/B (14), G (15) — SDM Vol. 3A §3.4.5, Figure 3-8.
    public var attributes: UInt16 = 0
    public var base: UInt32 = 0
    /// The limit in bytes (already scaled by G).
    public var limit: UInt32 = 0
    /// What a data access may do without the slow path: see `SegmentAccess`.
    public var access: UInt8 = 0

    public init() {}

    public init(selector: UInt16, base: UInt32, limit: UInt32, attributes: UInt16) {
        self.selector = selector
        self.base = base
        self.limit = limit
        self.attributes = attributes
        self.access = SegmentAccess.compute(attributes: attributes, selector: selector)
    }

    @inline(__always) public var dpl: UInt8 { UInt8((attributes >> 5) & 3) }
    @inline(__always) public var present: Bool { attributes & 0x80 != 0 }
    /// D/B bit: 32-bit default operand size (code) or 32-bit stack (SS) or 4 GiB upper bound (expand-down).
    @inline(__always) public var big: Bool { attributes & 0x4000 != 0 }
    @inline(__always) public var type: UInt8 { UInt8(attributes & 0xF) }
    @inline(__always) public var isSystem: Bool { attributes & 0x10 == 0 }
}

/// Fast-path permissions of a loaded data segment, precomputed at load time so that an access
/// tests one bit. Anything unusual (null, expand-down, execute-only) leaves the bit clear and
/// takes the slow path, which raises the exact fault.
public enum SegmentAccess {
    public static let read: UInt8 = 1
    public static let write: UInt8 = 2

    static func compute(attributes: UInt16, selector: UInt16) -> UInt8 {
        guard attributes & 0x80 != 0, attributes & 0x10 != 0 else { return 0 }
        let type = attributes & 0xF
        if type & 8 != 0 {  // code: readable if R; never writable
            return type & 2 != 0 ? read : 0
        }
        if type & 4 != 0 { return 0 }  // expand-down: slow path checks the inverted limit
        return type & 2 != 0 ? read | write : read
    }
}

/// GDTR and IDTR (SDM Vol. 3A §2.4.1).
public struct TableRegister: Sendable, Equatable {
    public var base: UInt32 = 0
    public var limit: UInt16 = 0
    public init(base: UInt32 = 0, limit: UInt16 = 0) { self.base = base; self.limit = limit }
}

/// Segment register numbers in encoding order (ModRM.reg of MOV Sreg; SDM Vol. 2A Table 3-?).
public enum SegmentRegister: Int, Sendable, CaseIterable {
    case es = 0, cs, ss, ds, fs, gs
}

/// General-purpose register numbers in encoding order.
public enum Register: Int, Sendable, CaseIterable {
    case eax = 0, ecx, edx, ebx, esp, ebp, esi, edi
}

/// The architectural state of the CPU: plain data, no references, so a snapshot is a copy and the
/// interpreter reaches every field through one pointer.
///
/// EFLAGS is split: `flags` holds every bit, but while `lazy.op != .none` its six arithmetic
/// bits (OF SF ZF AF PF CF) are stale and `lazy` is the truth. `CPU.eflags` materializes.
public struct CPUState: Sendable {
    public var regs: InlineArray<8, UInt32> = .init(repeating: 0)
    public var eip: UInt32 = 0xFFF0
    /// EIP of the instruction being executed (equal to `eip` between instructions).
    public var currentEIP: UInt32 = 0xFFF0
    public var flags: UInt32 = 0x2
    public var lazy = LazyFlags()
    public var segments: InlineArray<6, SegmentCache> = .init(repeating: SegmentCache())
    public var gdtr = TableRegister()
    public var idtr = TableRegister(base: 0, limit: 0x3FF)
    public var ldtr = SegmentCache()
    public var tr = SegmentCache()
    /// The guest-visible control registers.
    public var cr0: UInt32 = 0x6000_0010
    public var cr2: UInt32 = 0
    public var cr3: UInt32 = 0
    public var cr4: UInt32 = 0
    /// The page directory the MMU walks. Equal to `cr3 & ~0xFFF` on bare hardware; the VMM sets it
    /// to a shadow page directory and keeps `cr3` as the guest's value.
    public var pagingRoot: UInt32 = 0
    public var dr: InlineArray<8, UInt32> = .init(repeating: 0)
    /// Current privilege level (CS.RPL in protected mode).
    public var cpl: UInt8 = 0
    /// Soft-TLB bank for CPL-3 accesses: 1, or 2 (never filled) while alignment checking is on.
    public var userBank: UInt8 = 1
    /// One-instruction interrupt shadow after STI / MOV SS / POP SS (SDM Vol. 3A §6.8.3).
    public var interruptShadow: Bool = false
    public var halted: Bool = false
    /// NMIs are blocked: from the delivery of an NMI until the next IRET (SDM Vol. 3A §6.7.1).
    public var nmiBlocked: Bool = false
    /// Retired instructions; also the TSC base (the clock is virtual: see `tscOffset`).
    public var instructions: UInt64 = 0
    public var tscOffset: UInt64 = 0
    public var sysenterCS: UInt32 = 0
    public var sysenterESP: UInt32 = 0
    public var sysenterEIP: UInt32 = 0
    public var apicBase: UInt32 = 0xFEE0_0900
    public var miscEnable: UInt64 = 1
    public var pat: UInt64 = 0x0007_0406_0007_0406
    /// The x87/MMX/SSE state (last: the fields the loops read keep their offsets).
    public var fpu = FPUState()

    public init() {
        segments[SegmentRegister.cs.rawValue] = SegmentCache(
            selector: 0xF000, base: 0xFFFF_0000, limit: 0xFFFF, attributes: 0x9B)
    }

    @inline(__always) public subscript(_ r: Register) -> UInt32 {
        get { regs[r.rawValue] }
        set { regs[r.rawValue] = newValue }
    }
    @inline(__always) public subscript(_ s: SegmentRegister) -> SegmentCache {
        get { segments[s.rawValue] }
        set { segments[s.rawValue] = newValue }
    }

    public var protectedMode: Bool { cr0 & CR0.pe != 0 }
    public var pagingEnabled: Bool { cr0 & CR0.pg != 0 && cr0 & CR0.pe != 0 }
}

/// EFLAGS bits (SDM Vol. 1 §3.4.3).
public enum EFLAGS {
    public static let cf: UInt32 = 1 << 0
    public static let fixed1: UInt32 = 1 << 1
    public static let pf: UInt32 = 1 << 2
    public static let af: UInt32 = 1 << 4
    public static let zf: UInt32 = 1 << 6
    public static let sf: UInt32 = 1 << 7
    public static let tf: UInt32 = 1 << 8
    public static let `if`: UInt32 = 1 << 9
    public static let df: UInt32 = 1 << 10
    public static let of: UInt32 = 1 << 11
    public static let iopl: UInt32 = 3 << 12
    public static let nt: UInt32 = 1 << 14
    public static let rf: UInt32 = 1 << 16
    public static let vm: UInt32 = 1 << 17
    public static let ac: UInt32 = 1 << 18
    public static let vif: UInt32 = 1 << 19
    public static let vip: UInt32 = 1 << 20
    public static let id: UInt32 = 1 << 21
    /// The six arithmetic status flags.
    public static let arithmetic: UInt32 = cf | pf | af | zf | sf | of
    /// Bits software can change at all on an i686 with CPUID (AC, ID included).
    public static let writable: UInt32 = arithmetic | tf | `if` | df | iopl | nt | rf | vm | ac | vif | vip | id
}

/// CR0 bits (SDM Vol. 3A §2.5).
public enum CR0 {
    public static let pe: UInt32 = 1 << 0
    public static let mp: UInt32 = 1 << 1
    public static let em: UInt32 = 1 << 2
    public static let ts: UInt32 = 1 << 3
    public static let et: UInt32 = 1 << 4
    public static let ne: UInt32 = 1 << 5
    public static let wp: UInt32 = 1 << 16
    public static let am: UInt32 = 1 << 18
    public static let nw: UInt32 = 1 << 29
    public static let cd: UInt32 = 1 << 30
    public static let pg: UInt32 = 1 << 31
}

/// CR4 bits implemented (SDM Vol. 3A §2.5).
public enum CR4 {
    public static let vme: UInt32 = 1 << 0
    public static let pvi: UInt32 = 1 << 1
    public static let tsd: UInt32 = 1 << 2
    public static let de: UInt32 = 1 << 3
    public static let pse: UInt32 = 1 << 4
    public static let pae: UInt32 = 1 << 5
    public static let mce: UInt32 = 1 << 6
    public static let pge: UInt32 = 1 << 7
    public static let pce: UInt32 = 1 << 8
    public static let osfxsr: UInt32 = 1 << 9
    public static let osxmmexcpt: UInt32 = 1 << 10
    /// User-mode instruction prevention (SDM Vol. 3A §2.5): SGDT, SIDT, SLDT, SMSW and STR raise
    /// #GP(0) at CPL > 0. Only with `CPU.umipSupported` (CPUs since 2017; off for the i686 model).
    public static let umip: UInt32 = 1 << 11
    /// Bits this CPU accepts; setting any other bit is #GP(0). PAE is not implemented and CPUID
    /// does not advertise it.
    public static let supported: UInt32 = vme | pvi | tsd | de | pse | mce | pge | pce | osfxsr | osxmmexcpt
}
