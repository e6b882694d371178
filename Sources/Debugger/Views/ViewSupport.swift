import Machine
import ShadowMMU
import VMM
import X86Core

/// What the views share: how they read page tables without side effects, one software walk
/// that keeps every entry it read, and the text of entry flags and page rights.
///
/// Tables are read by physical address only where the address is RAM (`PhysicalMemory.size`):
/// an entry naming a device page would be an MMIO read, which can have side effects, so the
/// views say "not RAM" instead of reading it. (The CPU's walker and `GuestPageWalk` do read it.)
enum ViewSupport {
    /// Where the shadow MMU sends guest frames that are not guest RAM and not device MMIO
    /// (`ShadowMMU.holeFrame`, internal there), and where device MMIO starts (`mmioStart`).
    static let holeFrame: UInt32 = 0xFFFF_F000
    static let mmioStart: UInt32 = 0xF000_0000

    /// One 32-bit entry by physical address, nil unless all four bytes are below `top`.
    static func read32(_ memory: PhysicalMemory, _ address: UInt32, below top: UInt32) -> UInt32? {
        guard address < top, top - address >= 4 else { return nil }
        return memory.read32(address)
    }

    /// The paging controls the guest believes in: the VMM's virtual CR0/CR3/CR4, or the CPU's own
    /// registers without a VMM. nil when the guest has paging off.
    static func guestControls(_ machine: PCMachine, _ vmm: VMM?) -> GuestPageWalk.Controls? {
        let st = machine.cpu.statePointer.pointee
        let (cr0, cr3, cr4) = vmm.map { ($0.virtualCPU.cr0, $0.virtualCPU.cr3, $0.virtualCPU.cr4) } ?? (st.cr0, st.cr3, st.cr4)
        guard cr0 & CR0.pg != 0 && cr0 & CR0.pe != 0 else { return nil }
        return GuestPageWalk.Controls(cr0: cr0, cr3: cr3, cr4: cr4)
    }

    /// The controls of the CPU's real registers (what its walker uses), nil with paging off.
    static func realControls(_ machine: PCMachine) -> GuestPageWalk.Controls? {
        let st = machine.cpu.statePointer.pointee
        guard st.cr0 & CR0.pg != 0 else { return nil }
        return GuestPageWalk.Controls(cr3: st.pagingRoot & 0xFFFF_F000, wp: st.cr0 & CR0.wp != 0,
                                      pse: st.cr4 & CR4.pse != 0, pge: st.cr4 & CR4.pge != 0)
    }

    /// Guest-physical frame → the frame the shadow maps it to (`ShadowMMU.hostFrame`).
    static func shadowTarget(_ frame: UInt32, guestTop: UInt32) -> UInt32 {
        frame < guestTop || frame >= mmioStart ? frame : holeFrame
    }

    // MARK: Entry text

    /// The nine flag columns of a PDE/PTE at fixed positions, "-" for a clear bit, so a guest
    /// entry and its shadow line up: `P RW US PWT PCD A D PS G` (bit 7 is PAT in a PTE).
    static func flags(_ e: UInt32, pte: Bool) -> String {
        let names: [(UInt32, String)] = [(0x1, "P"), (0x2, "RW"), (0x4, "US"), (0x8, "PWT"), (0x10, "PCD"),
                                         (0x20, "A"), (0x40, "D"), (0x80, pte ? "PAT" : "PS"), (0x100, "G")]
        return names.map { e & $0.0 != 0 ? $0.1 : String(repeating: "-", count: $0.1.count) }.joined(separator: " ")
    }

    /// "rw-", "r--", "rwg", "r-g": read (always, for a present page), write, global.
    static func rights(writable: Bool, global: Bool) -> String {
        "r" + (writable ? "w" : "-") + (global ? "g" : "-")
    }

    static func privilege(user: Bool) -> String { user ? "user" : "super" }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    static func padLeft(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}

/// One walk of a two-level 32-bit table tree (SDM Vol. 3A §4.3), keeping what it read at each
/// level and nothing else: no A/D bits, no fault code (the views judge rights themselves).
struct TableWalk {
    struct Entry {
        var address: UInt32
        /// nil when the address is not RAM the view may read.
        var value: UInt32?
        var present: Bool { (value ?? 0) & 1 != 0 }
    }

    var pde: Entry
    /// nil for a 4 MiB page or when the PDE is not present.
    var pte: Entry?
    var large = false
    /// The leaf is present: the address is mapped.
    var mapped = false
    /// The 4 KiB frame the address reaches (for a 4 MiB page, the 4 KiB piece of it).
    var frame: UInt32 = 0
    /// Combined rights of both levels.
    var writable = false
    var user = false
    var global = false
    /// The leaf's D and its PWT/PCD bits.
    var dirty = false
    var cacheBits: UInt32 = 0

    static func walk(root: UInt32, linear: UInt32, pse: Bool, pge: Bool,
                     read: (UInt32) -> UInt32?) -> TableWalk {
        let pdeAddress = (root & 0xFFFF_F000) | ((linear >> 20) & 0xFFC)
        var w = TableWalk(pde: Entry(address: pdeAddress, value: read(pdeAddress)))
        guard let pde = w.pde.value, pde & 1 != 0 else { return w }
        if pse && pde & 0x80 != 0 {
            w.large = true
            w.mapped = true
            w.frame = (pde & 0xFFC0_0000) | (linear & 0x003F_F000)
            w.writable = pde & 2 != 0
            w.user = pde & 4 != 0
            w.global = pge && pde & 0x100 != 0
            w.dirty = pde & 0x40 != 0
            w.cacheBits = pde & 0x18
            return w
        }
        let pteAddress = (pde & 0xFFFF_F000) | ((linear >> 10) & 0xFFC)
        w.pte = Entry(address: pteAddress, value: read(pteAddress))
        guard let pte = w.pte!.value, pte & 1 != 0 else { return w }
        w.mapped = true
        w.frame = pte & 0xFFFF_F000
        w.writable = pde & pte & 2 != 0
        w.user = pde & pte & 4 != 0
        w.global = pge && pte & 0x100 != 0
        w.dirty = pte & 0x40 != 0
        w.cacheBits = pte & 0x18
        return w
    }
}
