import X86Core

/// A software walk of the guest's own page tables (SDM Vol. 3A §4.3, 32-bit paging with PSE),
/// reading guest-physical memory: what the hardware walker would conclude for one access, with
/// the entries it used. Used by the shadow MMU to fill shadows and by fault traces.
public struct GuestPageWalk: Sendable, Equatable {
    /// The guest's paging controls (its virtual CR0.WP, CR3, CR4.PSE/PGE).
    public struct Controls: Sendable, Equatable {
        public var cr3: UInt32
        public var wp: Bool
        public var pse: Bool
        public var pge: Bool
        public init(cr3: UInt32, wp: Bool, pse: Bool, pge: Bool) {
            self.cr3 = cr3; self.wp = wp; self.pse = pse; self.pge = pge
        }

        /// The controls that CR0/CR3/CR4 values give.
        public init(cr0: UInt32, cr3: UInt32, cr4: UInt32) {
            self.init(cr3: cr3 & 0xFFFF_F000, wp: cr0 & CR0.wp != 0, pse: cr4 & CR4.pse != 0,
                      pge: cr4 & CR4.pge != 0)
        }

        /// The controls of the CPU's own registers, or nil with paging off (a CPU walking the
        /// guest's tables directly: `--virt=none`, `--mmu=direct`).
        public init?(cpu: CPU) {
            let st = cpu.statePointer.pointee
            guard st.cr0 & CR0.pg != 0 else { return nil }
            self.init(cr0: st.cr0, cr3: st.cr3, cr4: st.cr4)
        }
    }

    public var pdeAddress: UInt32
    public var pde: UInt32
    /// nil for a 4 MiB page (the PDE is the leaf) or when the PDE is not present.
    public var pteAddress: UInt32?
    public var pte: UInt32?
    /// The #PF error code hardware would report, or nil if the access is allowed.
    public var faultCode: UInt32?
    /// Guest-physical page the access reaches (when allowed).
    public var frame: UInt32 = 0
    /// Combined R/W and U/S of both levels.
    public var writable = false
    public var user = false
    public var global = false
    public var large = false
    /// The leaf's D bit before this access.
    public var dirty = false

    /// Walks for an access; nothing is modified (A/D are the caller's business).
    /// `guestTables`: the tables are the guest's, so nothing past guest RAM is read as one (the
    /// VMM's private memory is not the guest's); false to walk the shadow tables themselves.
    public static func walk(_ memory: PhysicalMemory, _ c: Controls, linear: UInt32, write: Bool,
                            user: Bool, guestTables: Bool = true) -> GuestPageWalk {
        let pdeAddress = (c.cr3 & 0xFFFF_F000) | ((linear >> 20) & 0xFFC)
        let pde = guestTables ? Self.readEntry(memory, pdeAddress) : memory.read32(pdeAddress)
        var w = GuestPageWalk(pdeAddress: pdeAddress, pde: pde)
        let accessBits: UInt32 = (write ? 2 : 0) | (user ? 4 : 0)
        guard pde & 1 != 0 else { w.faultCode = accessBits; return w }
        if pde & 0x80 != 0 && c.pse {
            w.large = true
            w.writable = pde & 2 != 0
            w.user = pde & 4 != 0
            w.global = c.pge && pde & 0x100 != 0
            w.dirty = pde & 0x40 != 0
            w.frame = (pde & 0xFFC0_0000) | (linear & 0x003F_F000)
        } else {
            let pteAddress = (pde & 0xFFFF_F000) | ((linear >> 10) & 0xFFC)
            let pte = guestTables ? Self.readEntry(memory, pteAddress) : memory.read32(pteAddress)
            w.pteAddress = pteAddress
            w.pte = pte
            guard pte & 1 != 0 else { w.faultCode = accessBits; return w }
            w.writable = pde & pte & 2 != 0
            w.user = pde & pte & 4 != 0
            w.global = c.pge && pte & 0x100 != 0
            w.dirty = pte & 0x40 != 0
            w.frame = pte & 0xFFFF_F000
        }
        if user && !w.user {
            w.faultCode = 1 | accessBits
        } else if write && !(w.writable || (!user && !c.wp)) {
            w.faultCode = 1 | accessBits
        }
        return w
    }

    /// Sets the A bits (and D for a write) this access sets on hardware: PDE.A always; for a
    /// 4 KiB page PTE.A (and PTE.D); for a 4 MiB page PDE.D on a write.
    public func setAccessedDirty(_ memory: PhysicalMemory, write: Bool) {
        if large {
            let new = pde | 0x20 | (write ? 0x40 : 0)
            if new != pde { Self.writeEntry(memory, pdeAddress, new) }
            return
        }
        if pde & 0x20 == 0 { Self.writeEntry(memory, pdeAddress, pde | 0x20) }
        if let a = pteAddress, let p = pte {
            let new = p | 0x20 | (write ? 0x40 : 0)
            if new != p { Self.writeEntry(memory, a, new) }
        }
    }

    /// A guest paging-structure entry at a guest-physical address. The VMM's private memory after
    /// guest RAM is not the guest's: a guest table pointing there reads as nothing decodes it
    /// (all ones), exactly as with no private memory (the direct MMU), and is never written.
    static func readEntry(_ memory: PhysicalMemory, _ address: UInt32) -> UInt32 {
        address >= memory.guestSize && address < memory.size ? 0xFFFF_FFFF : memory.read32(address)
    }

    static func writeEntry(_ memory: PhysicalMemory, _ address: UInt32, _ value: UInt32) {
        guard address < memory.guestSize || address >= memory.size else { return }
        memory.write32(address, value)
    }
}
