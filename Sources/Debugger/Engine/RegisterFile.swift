import Machine
import VMM
import X86Core

/// The registers a user can name (`condition`, address expressions, `regs`), read as the guest
/// sees them: CR0/CR3/CR4 are the guest's own values (the VMM's virtual copies), not the real
/// registers the VMM loaded.
public struct RegisterFile {
    public static let gprNames = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
    public static let segmentNames = ["es", "cs", "ss", "ds", "fs", "gs"]
    public static let names: Set<String> = Set(gprNames + segmentNames + ["eip", "eflags", "cr0", "cr2", "cr3", "cr4", "cpl", "icount"])

    let cpu: CPU
    let vmm: VMM?

    public func value(_ name: String) -> UInt32? {
        let st = cpu.statePointer.pointee
        if let i = Self.gprNames.firstIndex(of: name) { return st.regs[i] }
        if let i = Self.segmentNames.firstIndex(of: name) { return UInt32(st.segments[i].selector) }
        switch name {
        case "eip": return st.eip
        case "eflags": return cpu.eflags
        case "cr0": return vmm?.virtualCPU.cr0 ?? st.cr0
        case "cr2": return st.cr2
        case "cr3": return vmm?.virtualCPU.cr3 ?? st.cr3
        case "cr4": return vmm?.virtualCPU.cr4 ?? st.cr4
        case "cpl": return UInt32(st.cpl)
        case "icount": return UInt32(truncatingIfNeeded: st.instructions)
        default: return nil
        }
    }

    /// Writes a general register, EIP or EFLAGS (the debugger's `set` and GDB's `P`/`G`).
    /// Segment and control registers are not written this way: loading them has rules.
    public func set(_ name: String, _ v: UInt32) -> Bool {
        if let i = Self.gprNames.firstIndex(of: name) { cpu.statePointer.pointee.regs[i] = v; return true }
        switch name {
        case "eip":
            cpu.statePointer.pointee.eip = v
            cpu.statePointer.pointee.currentEIP = v
            return true
        case "eflags":
            cpu.eflags = v
            return true
        default: return false
        }
    }
}
