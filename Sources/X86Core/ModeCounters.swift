/// How often the CPU changed operating mode or task (`--stats`): counted where the change
/// happens (MOV CR0 / LMSW, IRET and interrupt delivery for virtual-8086 mode, the task switch),
/// off the hot loop, the same in both engines; not architectural state (not in snapshots).
public struct ModeCounters: Sendable, Equatable {
    /// CR0.PE 0 → 1.
    public var realToProtected: UInt64 = 0
    /// CR0.PE 1 → 0.
    public var protectedToReal: UInt64 = 0
    /// Entries into virtual-8086 mode (IRET or a task switch with EFLAGS.VM = 1).
    public var v86Entries: UInt64 = 0
    /// Exits from virtual-8086 mode (an interrupt, exception or task switch to a protected-mode task).
    public var v86Exits: UInt64 = 0
    /// Hardware task switches (JMP/CALL to a TSS or task gate, IRET with NT, a task gate in the IDT).
    public var taskSwitches: UInt64 = 0
    public init() {}
}
