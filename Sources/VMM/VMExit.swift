import X86Core
import X86Decode

/// One VM exit: why, where, and the exit qualification (SDM Vol. 3C §27.2.1), plus what the VMM
/// did about it. `--trace-exits` writes one per line.
public struct VMExit: Sendable {
    public var reason: VMExitReason
    /// Guest EIP of the instruction that exited (for an interrupt exit: the next instruction).
    public var eip: UInt32
    /// Retired guest instructions at the exit (the virtual clock's reading).
    public var instructionCount: UInt64
    /// The exiting instruction, when an instruction caused the exit.
    public var instruction: DecodedInstruction?
    public var qualification: Qualification
    /// What the VMM did: "emulated", "injected #GP(0)", "injected vector 0x20"…
    public var action: String = "emulated"

    public enum Qualification: Sendable {
        case none
        case io(PortAccess)
        /// CR number, the access (mov-to, mov-from, clts, lmsw), the general register and the value.
        case controlRegister(number: Int, access: CRAccess, register: Int?, value: UInt32)
        case exception(vector: UInt8, errorCode: UInt32?, cr2: UInt32?)
        /// The timer deadline that fired (virtual ns).
        case timer(deadline: UInt64)
        case linearAddress(UInt32)
        case msr(index: UInt32, value: UInt64?)
        case cpuid(leaf: UInt32, subleaf: UInt32)
        case mmio(device: String, address: UInt32, size: Int, isWrite: Bool, value: UInt32)
        case vector(UInt8)
        /// TASK_SWITCH (SDM Vol. 3C Table 28-2): the new TSS selector and the source.
        case taskSwitch(selector: UInt16, source: TaskSwitchSource)
    }

    public enum CRAccess: String, Sendable {
        case movTo = "mov-to-cr", movFrom = "mov-from-cr", clts = "clts", lmsw = "lmsw"
    }
}
