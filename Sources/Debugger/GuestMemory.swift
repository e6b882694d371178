import Machine
import ShadowMMU
import VMM
import X86Core

/// The debugger's window on guest memory: reads and writes by guest-linear address through the
/// guest's own page tables (a software walk, so nothing the debugger does sets an A or D bit,
/// fills a shadow or the soft TLB), or by guest-physical address. Device MMIO is never touched
/// (a read could acknowledge an interrupt): those bytes read as unavailable.
public struct GuestMemory {
    public let machine: PCMachine
    /// The guest's paging controls (its own CR0/CR3/CR4: the VMM's virtual copies), nil with
    /// guest paging off.
    public let controls: GuestPageWalk.Controls?

    public init(machine: PCMachine, vmm: VMM?) {
        self.machine = machine
        let st = machine.cpu.statePointer.pointee
        let (cr0, cr3, cr4) = vmm.map { ($0.virtualCPU.cr0, $0.virtualCPU.cr3, $0.virtualCPU.cr4) } ?? (st.cr0, st.cr3, st.cr4)
        controls = cr0 & CR0.pg != 0 && cr0 & CR0.pe != 0 ? GuestPageWalk.Controls(cr0: cr0, cr3: cr3, cr4: cr4) : nil
    }

    var memory: PhysicalMemory { machine.memory }

    /// Guest-physical address of a guest-linear one, or nil when the guest's tables do not map it.
    public func translate(_ linear: UInt32) -> UInt32? {
        guard let c = controls else { return linear }
        let w = GuestPageWalk.walk(memory, c, linear: linear, write: false, user: false)
        if w.pde & 1 == 0 || (w.pte.map { $0 & 1 == 0 } ?? false) { return nil }
        return w.frame | (linear & 0xFFF)
    }

    /// One byte of guest RAM by physical address (nil beyond guest RAM: MMIO or nothing).
    public func readPhysical(_ address: UInt32) -> UInt8? {
        guard address < memory.guestSize else { return nil }
        return memory.read8(address)
    }

    /// `count` bytes from a linear (or, with `physical`, a physical) address; nil if any byte is
    /// unmapped or not RAM.
    public func read(_ address: UInt32, count: Int, physical: Bool = false) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let a = address &+ UInt32(truncatingIfNeeded: i)
            guard let p = physical ? a : translate(a), let b = readPhysical(p) else { return nil }
            out.append(b)
        }
        return out
    }

    public func read32(_ address: UInt32, physical: Bool = false) -> UInt32? {
        guard let b = read(address, count: 4, physical: physical) else { return nil }
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    /// Writes bytes (the debugger's `set` and GDB's `M`): every byte must be mapped guest RAM.
    /// The CPU's caches are told, as after DMA.
    public func write(_ address: UInt32, bytes: [UInt8], physical: Bool = false) -> Bool {
        var targets: [UInt32] = []
        for i in 0..<bytes.count {
            let a = address &+ UInt32(truncatingIfNeeded: i)
            guard let p = physical ? a : translate(a), p < memory.guestSize else { return false }
            targets.append(p)
        }
        for (p, b) in zip(targets, bytes) { memory.write8(p, b) }
        return true
    }
}
