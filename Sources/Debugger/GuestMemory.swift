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
    let vmm: VMM?

    public init(machine: PCMachine, vmm: VMM?) {
        self.machine = machine
        self.vmm = vmm
        let st = machine.cpu.statePointer.pointee
        let (cr0, cr3, cr4) = vmm.map { ($0.virtualCPU.cr0, $0.virtualCPU.cr3, $0.virtualCPU.cr4) } ?? (st.cr0, st.cr3, st.cr4)
        controls = cr0 & CR0.pg != 0 && cr0 & CR0.pe != 0 ? GuestPageWalk.Controls(cr0: cr0, cr3: cr3, cr4: cr4) : nil
    }

    var memory: PhysicalMemory { machine.memory }

    /// Guest-physical address of a guest-linear one, or nil when the guest's tables do not map it.
    /// Tables are read only where they are guest RAM (a table in device memory is not followed:
    /// reading it could change the device).
    public func translate(_ linear: UInt32) -> UInt32? {
        guard let c = controls else { return linear }
        guard let pde = entry(c.cr3 & 0xFFFF_F000 | (linear >> 20) & 0xFFC), pde & 1 != 0 else { return nil }
        if pde & 0x80 != 0 && c.pse { return pde & 0xFFC0_0000 | linear & 0x003F_FFFF }
        guard let pte = entry(pde & 0xFFFF_F000 | (linear >> 10) & 0xFFC), pte & 1 != 0 else { return nil }
        return pte & 0xFFFF_F000 | linear & 0xFFF
    }

    /// The guest's tables map this address to guest RAM (a breakpoint or watchpoint there can hit).
    public func isMappedRAM(_ linear: UInt32) -> Bool {
        translate(linear).map { $0 < memory.guestSize } ?? false
    }

    func entry(_ address: UInt32) -> UInt32? {
        address <= memory.guestSize &- 4 ? memory.read32(address) : nil
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
        // The write may have changed a guest page table behind the shadow MMU's back: drop every
        // shadow (they refill from the guest's tables) and every cached translation.
        if let v = vmm, let sh = v.shadow {
            sh.reset()
            let g = v.virtualCPU
            sh.guestControlRegistersChanged(cr0: g.cr0, cr3: g.cr3, cr4: g.cr4)
        }
        machine.cpu.flushTLB()
        return true
    }
}
