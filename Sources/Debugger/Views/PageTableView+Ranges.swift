import Machine
import ShadowMMU
import VMM
import X86Core

/// `pt ranges`: the address space as merged ranges, one line each,
///
///     0x00000000-0x003fffff → 0x00000000-0x003fffff  rw- user  4M
///
/// linear range → physical range, rights (`r`, `w` or `-`, `g` for a global page or `-`),
/// `user` or `super`, and the page size. Contiguous runs (linear and physical) with equal rights
/// and page size are one line. `shadow: true` lists what the shadow tables map now (filled
/// lazily, so only pages the guest has touched), with guest frames outside guest RAM shown as
/// `hole`, the frame the shadow sends them to.
extension PageTableView {
    public static func ranges(machine: PCMachine, vmm: VMM?, shadow: Bool) -> String {
        let memory = machine.memory
        let tree: Tree
        if shadow {
            guard vmm?.shadow != nil else {
                return "no shadow tables (\(vmm == nil ? "--virt=none" : "--mmu=direct")): the CPU walks the guest's tables"
            }
            guard let real = ViewSupport.realControls(machine) else { return "paging off: the CPU does not page, linear = physical" }
            tree = Tree.read(memory: memory, root: real.cr3, pse: real.pse, pge: real.pge, top: memory.size, shadow: true)
        } else {
            guard let g = ViewSupport.guestControls(machine, vmm) else { return "paging off: linear = physical" }
            tree = Tree.read(memory: memory, root: g.cr3, pse: g.pse, pge: g.pge, top: memory.guestSize, shadow: false)
        }
        var lines: [String] = []
        if tree.directoryUnreadable { return "the page directory \(hex(tree.root)) is not RAM: nothing to show" }
        for run in Run.merge(tree.mappings) { lines.append(run.line) }
        for slot in tree.unreadableTables {
            lines.append("PD slot \(slot): its page table is not RAM (\(hex(slot << 22))-\(hex(slot << 22 | 0x3F_FFFF)) not shown)")
        }
        return lines.isEmpty ? "no pages mapped" : lines.joined(separator: "\n")
    }

    /// One present leaf: a 4 KiB PTE or a 4 MiB PDE.
    struct Mapping {
        var linear: UInt32
        var physical: UInt32
        var large: Bool
        var writable: Bool
        var user: Bool
        var global: Bool
        /// A shadow PTE sending the page to the hole frame (guest frame outside guest RAM).
        var hole: Bool
        /// Index of the leaf in its table (PTE index, or PD slot for a 4 MiB page).
        var index: Int
        var bytes: UInt64 { large ? 0x40_0000 : 0x1000 }
    }

    /// One page directory read in address order: its present PDEs and leaves.
    struct Tree {
        struct Table {
            var slot: UInt32
            var pde: UInt32
            /// nil when the table is not RAM.
            var mappings: [Mapping]?
        }

        var root: UInt32
        var directoryUnreadable = false
        /// Present PDEs in slot order: a 4 MiB page (in `mappings`) or a table.
        var tables: [Table] = []
        var largePages: [Mapping] = []
        var mappings: [Mapping] = []
        var unreadableTables: [UInt32] = []

        static func read(memory: PhysicalMemory, root: UInt32, pse: Bool, pge: Bool, top: UInt32, shadow: Bool) -> Tree {
            var t = Tree(root: root & 0xFFFF_F000)
            for slot in UInt32(0)..<1024 {
                guard let pde = ViewSupport.read32(memory, t.root + slot * 4, below: top) else {
                    t.directoryUnreadable = true
                    return t
                }
                guard pde & 1 != 0 else { continue }
                if pse && pde & 0x80 != 0 {
                    let m = Mapping(linear: slot << 22, physical: pde & 0xFFC0_0000, large: true, writable: pde & 2 != 0,
                                    user: pde & 4 != 0, global: pge && pde & 0x100 != 0, hole: false, index: Int(slot))
                    t.largePages.append(m)
                    t.mappings.append(m)
                    continue
                }
                let base = pde & 0xFFFF_F000
                guard ViewSupport.read32(memory, base, below: top) != nil, top - base >= 4096 else {
                    t.unreadableTables.append(slot)
                    t.tables.append(Table(slot: slot, pde: pde, mappings: nil))
                    continue
                }
                var leaves: [Mapping] = []
                for i in UInt32(0)..<1024 {
                    let pte = memory.read32(base + i * 4)
                    guard pte & 1 != 0 else { continue }
                    let frame = pte & 0xFFFF_F000
                    leaves.append(Mapping(linear: slot << 22 | i << 12, physical: frame, large: false,
                                          writable: pde & pte & 2 != 0, user: pde & pte & 4 != 0,
                                          global: pge && pte & 0x100 != 0,
                                          hole: shadow && frame == ViewSupport.holeFrame, index: Int(i)))
                }
                t.tables.append(Table(slot: slot, pde: pde, mappings: leaves))
                t.mappings += leaves
            }
            return t
        }
    }

    /// Consecutive mappings with contiguous linear and physical addresses and equal attributes.
    struct Run {
        var first: Mapping
        var bytes: UInt64
        var count: Int

        var lastLinear: UInt32 { UInt32(truncatingIfNeeded: UInt64(first.linear) + bytes - 1) }
        var lastPhysical: UInt32 { UInt32(truncatingIfNeeded: UInt64(first.physical) + bytes - 1) }

        func extends(with m: Mapping) -> Bool {
            guard UInt64(first.linear) + bytes == UInt64(m.linear), m.large == first.large,
                  m.writable == first.writable, m.user == first.user, m.global == first.global,
                  m.hole == first.hole else { return false }
            return m.hole || UInt64(first.physical) + bytes == UInt64(m.physical)
        }

        static func merge(_ mappings: [Mapping]) -> [Run] {
            var runs: [Run] = []
            for m in mappings {
                if let last = runs.last, last.extends(with: m) {
                    runs[runs.count - 1].bytes += m.bytes
                    runs[runs.count - 1].count += 1
                } else {
                    runs.append(Run(first: m, bytes: m.bytes, count: 1))
                }
            }
            return runs
        }

        var linearText: String { "\(hex(first.linear))-\(hex(lastLinear))" }
        var physicalText: String { first.hole ? "hole" : "\(hex(first.physical))-\(hex(lastPhysical))" }
        var rightsText: String {
            ViewSupport.rights(writable: first.writable, global: first.global) + " " + ViewSupport.privilege(user: first.user)
        }

        var line: String {
            linearText + " → " + ViewSupport.pad(physicalText, 21) + "  " + ViewSupport.pad(rightsText, 9)
                + " " + (first.large ? "4M" : "4K")
        }
    }
}
