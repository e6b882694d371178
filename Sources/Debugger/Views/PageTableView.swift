import Machine
import ShadowMMU
import VMM
import X86Core

/// The debugger's page-table views (`pt`, `pt ranges`, `pt dot`): pure functions from machine
/// state to text, deterministic (tables are read in address order), no colour. Nothing is
/// written: A/D bits, shadows and the soft TLB stay as they were.
///
/// API: `public enum PageTableView` with static functions; each returns lines joined by "\n",
/// without a final newline.
/// - `walk(machine:vmm:linear:)`: one address, the guest's walk beside the real one (the shadow
///   tables, `--mmu=shadow`), level by level, and why they differ.
/// - `ranges(machine:vmm:shadow:)` (`PageTableView+Ranges.swift`): the address space as merged
///   ranges.
/// - `dot(machine:vmm:)` (`PageTableView+Dot.swift`): the guest and shadow trees for Graphviz.
///
/// The reasons come from the shadow MMU's rules (`ShadowMMU+Fill.swift`, `+Sync.swift`), read
/// off the shadow PTE bits, the guest walk and what is public: only the current root's tables
/// are visible (the root cache and the tracked-frame map are internal to ShadowMMU), so a frame
/// write-protected as a table of another cached address space is named as such, not located.
public enum PageTableView {
    /// One linear address: the guest's walk and the real one side by side (entry address, raw
    /// value, flags, what it points to), then whether they agree and, if not, why.
    public static func walk(machine: PCMachine, vmm: VMM?, linear: UInt32) -> String {
        let memory = machine.memory
        let guest = ViewSupport.guestControls(machine, vmm)
        var out = ["linear \(hex(linear)): PD slot \(linear >> 22), PT slot \((linear >> 12) & 0x3FF), offset \(hex(linear & 0xFFF, digits: 3))"]
        let readGuest = { (a: UInt32) in ViewSupport.read32(memory, a, below: memory.guestSize) }
        let guestWalk = guest.map {
            TableWalk.walk(root: $0.cr3, linear: linear, pse: $0.pse, pge: $0.pge, read: readGuest)
        }
        if let g = guest {
            out.append("guest   paging on: CR3 \(hex(g.cr3))  WP \(g.wp ? 1 : 0)  PSE \(g.pse ? 1 : 0)  PGE \(g.pge ? 1 : 0)")
        } else {
            out.append("guest   paging off: linear = guest-physical")
        }
        guard let shadow = vmm?.shadow else {
            // The CPU walks the guest's tables itself: there is no second walk to compare.
            let who = vmm == nil ? "--virt=none" : "--mmu=direct"
            out.append("real    no shadow (\(who)): the hardware walks the guest's tables directly")
            if let w = guestWalk {
                out += rows(level: "PDE", guest: w, real: nil)
                out += rows(level: "PTE", guest: w, real: nil)
                out.append(w.mapped ? "result: \(describe(w, linear)) (the hardware's own walk)"
                                    : "result: not mapped: an access raises #PF")
            } else {
                out.append("result: \(hex(linear)) (no paging)")
            }
            return out.joined(separator: "\n")
        }
        guard let real = ViewSupport.realControls(machine) else {
            out.append("real    the CPU does not page (the guest is not in protected mode): linear = physical")
            return out.joined(separator: "\n")
        }
        let readAll = { (a: UInt32) in ViewSupport.read32(memory, a, below: memory.size) }
        let s = TableWalk.walk(root: real.cr3, linear: linear, pse: real.pse, pge: real.pge, read: readAll)
        let inPool = real.cr3 >= memory.guestSize && real.cr3 < memory.size
        let whose = guest.map { "the shadow of guest CR3 \(hex($0.cr3))" } ?? "the identity root: guest paging off"
        out.append("shadow  root \(hex(real.cr3)) (\(inPool ? "VMM private memory" : "not in the shadow pool!"); \(whose))")
        out += rows(level: "PDE", guest: guestWalk, real: s)
        out += rows(level: "PTE", guest: guestWalk, real: s)
        out += verdict(machine: machine, shadow: shadow, guest: guest, g: guestWalk, s: s, linear: linear)
        return out.joined(separator: "\n")
    }

    // MARK: Rows

    static let flagWidth = 25

    /// The guest row and the real row of one level (nil guest: guest paging off; nil real: no
    /// shadow).
    static func rows(level: String, guest g: TableWalk?, real s: TableWalk?) -> [String] {
        let isPTE = level == "PTE"
        var lines: [String] = []
        if let g {
            lines.append("guest   " + row(isPTE ? g.pte : g.pde, pte: isPTE, target: target(g, pte: isPTE, shadow: false),
                                          missing: missingPTE(g)))
        } else if !isPTE {
            lines.append("guest   none: paging off")
        }
        if let s {
            lines.append("shadow  " + row(isPTE ? s.pte : s.pde, pte: isPTE, target: target(s, pte: isPTE, shadow: true),
                                          missing: missingPTE(s)))
        }
        return lines.enumerated().map { ($0.offset == 0 ? level : "   ") + "  " + $0.element }
    }

    static func row(_ e: TableWalk.Entry?, pte: Bool, target: String, missing: String) -> String {
        guard let e else { return missing }
        guard let v = e.value else { return "@\(hex(e.address)) = (not RAM: the view does not read it)" }
        return "@\(hex(e.address)) = \(hex(v))  " + ViewSupport.pad(ViewSupport.flags(v, pte: pte), flagWidth) + "  → " + target
    }

    static func missingPTE(_ w: TableWalk) -> String {
        if w.large { return "none: the 4 MiB PDE is the leaf" }
        return w.pde.value == nil ? "none: the PDE was not read" : "none: the PDE is not present"
    }

    static func target(_ w: TableWalk, pte: Bool, shadow: Bool) -> String {
        if !pte {
            guard let v = w.pde.value, v & 1 != 0 else { return "not present" }
            if w.large { return "4 MiB page \(hex(v & 0xFFC0_0000))" }
            return (shadow ? "shadow PT " : "PT ") + hex(v & 0xFFFF_F000)
        }
        guard let v = w.pte?.value, v & 1 != 0 else { return "not present" }
        let frame = v & 0xFFFF_F000
        return shadow && frame == ViewSupport.holeFrame ? "hole frame \(hex(frame))" : "frame \(hex(frame))"
    }

    /// "0x00300234 rw- super"; a shadow walk reaching the hole frame says "hole".
    static func describe(_ w: TableWalk, _ linear: UInt32, shadow: Bool = false) -> String {
        let where_ = shadow && w.frame == ViewSupport.holeFrame ? "hole" : hex(w.frame | (linear & 0xFFF))
        return "\(where_) \(ViewSupport.rights(writable: w.writable, global: w.global)) \(ViewSupport.privilege(user: w.user))"
    }

    // MARK: Why they differ

    /// Whether the guest walk and the shadow walk agree, and the shadow rule behind each
    /// difference (or note worth knowing when they agree).
    static func verdict(machine: PCMachine, shadow: ShadowMMU, guest: GuestPageWalk.Controls?, g: TableWalk?,
                        s: TableWalk, linear: UInt32) -> [String] {
        let memory = machine.memory
        let guestTop = memory.guestSize
        guard let guest, let g else {
            // Guest paging off: the identity root maps every page 1:1, writable, user.
            let expected = ViewSupport.shadowTarget(linear & 0xFFFF_F000, guestTop: guestTop)
            guard s.mapped else {
                return ["differ: linear = guest-physical \(hex(linear)), the shadow has no entry yet",
                        "  - not yet shadowed: the first access will take a hidden fault and fill it 1:1 (guest paging off: the identity root)"]
            }
            var lines: [String] = []
            if s.frame == expected && s.writable && s.user {
                lines.append("agree: linear = guest-physical \(hex(linear)), shadow \(describe(s, linear, shadow: true))")
                lines.append("  - guest paging off: the identity shadow maps it 1:1")
            } else {
                lines.append("differ: linear = guest-physical \(hex(linear)), shadow \(describe(s, linear, shadow: true))")
                lines.append("  - shadow stale: the identity root should map frame \(hex(expected)) rw- user")
            }
            if linear >= guestTop && linear < ViewSupport.mmioStart { lines.append("  - " + holeReason(linear & 0xFFFF_F000)) }
            return lines
        }
        if g.pde.value == nil || (g.pte.map { $0.value == nil } ?? false) {
            let what = g.pde.value == nil ? "page directory" : "page table"
            return ["differ: the guest's \(what) is not guest RAM (the view cannot read it)",
                    s.mapped ? "  - the shadow maps \(describe(s, linear, shadow: true))" : "  - the shadow has no entry"]
        }
        guard g.mapped else {
            if !s.mapped {
                return ["agree: not mapped in either: an access is a true fault, the VMM gives the guest its #PF"]
            }
            return ["differ: the guest does not map it, the shadow maps \(describe(s, linear, shadow: true))",
                    "  - shadow stale: the guest entry was cleared and the VMM has not seen it yet (a guest write to a tracked table is synced at the next instruction boundary; a write the VMM never saw, such as the debugger's, stays until INVLPG or a shadow reset)"]
        }
        guard s.mapped else {
            var lines = ["differ: guest maps \(describe(g, linear)), the shadow has no entry yet",
                         "  - not yet shadowed: the first access will take a hidden fault and fill it" +
                         (s.pde.present ? "" : " (creating the shadow PT for PD slot \(linear >> 22))")]
            if g.large { lines.append("  - " + largeReason) }
            return lines
        }
        let expected = ViewSupport.shadowTarget(g.frame, guestTop: guestTop)
        var why: [String] = []
        var notes: [String] = []
        if s.frame != expected {
            why.append("shadow stale: it maps frame \(hex(s.frame)), the guest's entry now gives \(hex(g.frame)) (a guest write to a tracked table is synced at the next instruction boundary; a write the VMM never saw, such as the debugger's, stays until INVLPG or a shadow reset)")
        } else if g.frame >= guestTop && g.frame < ViewSupport.mmioStart {
            notes.append(holeReason(g.frame))
        } else if g.frame >= guestTop {
            notes.append("device MMIO frame: the shadow maps it as itself, so accesses reach the device")
        }
        if g.large { notes.append(largeReason) }
        let role = tableRole(g.frame, memory: memory, guest: guest, shadowRoot: machine.cpu.statePointer.pointee.pagingRoot)
        let supervisorWritable = !guest.wp && s.writable && !s.user && !g.writable
        if supervisorWritable {
            why.append("shadow supervisor-writable: guest CR0.WP=0 lets ring 0 write a read-only page" +
                       (g.user ? " (user code is kept out: a user access takes a hidden fault and refills it read-only)" : ""))
        } else {
            if g.user && !s.user { why.append("shadow stale: supervisor-only though the guest allows user access") }
            if !g.user && s.user { why.append("shadow stale: it allows user access the guest forbids") }
            if !g.writable && s.writable { why.append("shadow stale: writable though the guest maps it read-only") }
        }
        if g.writable && !s.writable {
            if !g.dirty { why.append("shadow read-only: the guest D bit is clear, the first write will set it") }
            if let role {
                why.append("shadow read-only: guest frame \(hex(g.frame)) holds a page table the VMM write-protects (\(role); the VMM does a guest store to it and updates the shadow entries built from what changed, or, for a leaf table, lets the table go out of sync at its first write)")
            } else if g.dirty {
                why.append(unexplainedReadOnly(g, otherSpaces: shadow.stats.cr3Switches > 0))
            }
        } else if g.writable && s.writable, let role {
            if shadow.isOutOfSync(frame: g.frame) {
                notes.append("guest frame \(hex(g.frame)) holds a page table (\(role)) that is out of sync: the guest writes it directly, and the shadow entries built from it catch up at the guest's next INVLPG of their address or its next CR3 write")
            } else {
                notes.append("guest frame \(hex(g.frame)) holds a page table (\(role)): the current instruction is writing it, the VMM let the write through and compares the page at the next instruction boundary")
            }
        }
        if g.global != s.global { why.append("shadow stale: its G bit differs from the guest's") }
        if g.cacheBits != 0 { notes.append("the shadow does not copy PWT/PCD (x86v models no caches)") }
        let head = why.isEmpty ? "agree: both map \(describe(g, linear))"
                               : "differ: guest maps \(describe(g, linear)), shadow \(describe(s, linear, shadow: true))"
        return [head] + (why + notes).map { "  - " + $0 }
    }

    /// A read-only shadow PTE for a dirty, writable guest page that is no table of this address
    /// space: what the shadow rules leave possible (which one is not visible from outside
    /// ShadowMMU). Tracked frames stay read-only in every root; an entry filled while its frame
    /// was a table, or (for a 4 MiB page, whose one D bit covers 1024 shadow PTEs) before a write
    /// to another piece set D, stays read-only until its first write refills it.
    static func unexplainedReadOnly(_ g: TableWalk, otherSpaces: Bool) -> String {
        let frame = hex(g.frame)
        if g.large {
            return "shadow read-only: this 4 KiB piece was filled while the 4 MiB page's D bit was clear (a write to another piece has set it since) or while guest frame \(frame) was a page table; the first write takes a hidden fault and makes it writable"
                + (otherSpaces ? ", unless guest frame \(frame) is a page table of another cached address space, which the VMM write-protects everywhere" : "")
        }
        if otherSpaces {
            return "shadow read-only: guest frame \(frame) is no page table of this address space; either it is one of another cached address space (the VMM write-protects it everywhere), or it was a table when this entry was filled (then the first write takes a hidden fault and makes it writable)"
        }
        return "shadow read-only: guest frame \(frame) was a page table when this entry was filled (the VMM write-protected it then); the first write takes a hidden fault and makes it writable"
    }

    static let largeReason = "guest 4 MiB page shown as a 4 KiB shadow PTE (the real CR4.PSE is off; each 4 KiB piece is filled on first use)"

    static func holeReason(_ frame: UInt32) -> String {
        "frame beyond guest RAM: the shadow maps guest frame \(hex(frame)) to the hole frame \(hex(ViewSupport.holeFrame)) (reads give all ones, writes vanish)"
    }

    /// What guest table `frame` holds in the current address space, when the shadow is built
    /// from it (so the VMM tracks and write-protects it): the page directory, or the page table
    /// of a PD slot that has a shadow PT. nil otherwise.
    static func tableRole(_ frame: UInt32, memory: PhysicalMemory, guest: GuestPageWalk.Controls,
                          shadowRoot: UInt32) -> String? {
        if frame == guest.cr3 { return "the guest's page directory" }
        for slot in UInt32(0)..<1024 {
            guard let pde = ViewSupport.read32(memory, guest.cr3 + slot * 4, below: memory.guestSize),
                  pde & 1 != 0, !(guest.pse && pde & 0x80 != 0), pde & 0xFFFF_F000 == frame,
                  let spde = ViewSupport.read32(memory, (shadowRoot & 0xFFFF_F000) + slot * 4, below: memory.size),
                  spde & 1 != 0 else { continue }
            return "the page table of PD slot \(slot), \(hex(slot << 22))-\(hex(slot << 22 | 0x3F_FFFF))"
        }
        return nil
    }
}
