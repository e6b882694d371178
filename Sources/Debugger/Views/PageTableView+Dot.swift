import Machine
import ShadowMMU
import VMM
import X86Core

/// `pt dot`: the guest's table tree and the shadow's as one Graphviz digraph (`dot -Tsvg`).
///
/// Two clusters: `cluster_guest` (CR3 → page directory → one node per present PDE: a page
/// table, or a run of 4 MiB pages → one node per run of PTEs, consecutive entries with
/// contiguous frames and equal rights collapsed) and `cluster_shadow` (the real root → its
/// shadow page tables → runs of filled shadow PTEs, `hole` marked). Dashed edges go from each
/// shadow table to the guest table it shadows (the root to the guest's directory, a shadow PT to
/// the guest PT of its slot, or to the 4 MiB page it splits). Long lists are cut
/// (`maxTables`, `maxRunsPerTable`) with a node saying how much was left out.
extension PageTableView {
    static let maxTables = 64
    static let maxRunsPerTable = 16

    public static func dot(machine: PCMachine, vmm: VMM?) -> String {
        let memory = machine.memory
        var out = [
            "digraph pagetables {",
            "  rankdir=LR;",
            "  node [shape=box, fontname=\"monospace\", fontsize=10];",
            "  edge [fontname=\"monospace\", fontsize=9];",
        ]
        // The guest tree.
        out.append("  subgraph cluster_guest {")
        let guest = ViewSupport.guestControls(machine, vmm)
        var guestTree: Tree? = nil
        if let g = guest {
            let t = Tree.read(memory: memory, root: g.cr3, pse: g.pse, pge: g.pge, top: memory.guestSize, shadow: false)
            guestTree = t
            out.append("    label=\"guest tables\";")
            out.append("    g_cr3 [shape=ellipse, label=\"guest CR3\\n\(hex(g.cr3))\"];")
            out += treeNodes(t, prefix: "g", rootLabel: "page directory\\n\(hex(t.root))", shadow: false)
            out.append("    g_cr3 -> g_root;")
        } else {
            out.append("    label=\"guest tables\";")
            out.append("    g_off [shape=plaintext, label=\"guest paging off\\nlinear = guest-physical\"];")
        }
        out.append("  }")
        // The shadow tree.
        out.append("  subgraph cluster_shadow {")
        out.append("    label=\"shadow tables (VMM private memory)\";")
        var shadowTree: Tree? = nil
        if vmm?.shadow == nil {
            out.append("    s_none [shape=plaintext, label=\"no shadow (\(vmm == nil ? "--virt=none" : "--mmu=direct"))\\nthe CPU walks the guest's tables\"];")
        } else if let real = ViewSupport.realControls(machine) {
            let t = Tree.read(memory: memory, root: real.cr3, pse: real.pse, pge: real.pge, top: memory.size, shadow: true)
            shadowTree = t
            let whose = guest.map { "for guest CR3 \(hex($0.cr3))" } ?? "identity root (guest paging off)"
            out.append("    s_cr3 [shape=ellipse, label=\"real CR3\\n\(hex(real.cr3))\"];")
            out += treeNodes(t, prefix: "s", rootLabel: "shadow root \(hex(t.root))\\n\(whose)", shadow: true)
            out.append("    s_cr3 -> s_root;")
        } else {
            out.append("    s_off [shape=plaintext, label=\"the CPU does not page\"];")
        }
        out.append("  }")
        // Shadow table → the guest table it was built from.
        if let s = shadowTree, let g = guestTree, !s.directoryUnreadable, !g.directoryUnreadable {
            let style = "[style=dashed, color=gray40, constraint=false, label=\"shadows\"]"
            out.append("  s_root -> g_root \(style);")
            for table in s.tables.prefix(maxTables) {
                if let gt = g.tables.first(where: { $0.slot == table.slot }), g.tables.prefix(maxTables).contains(where: { $0.slot == table.slot }) {
                    out.append("  s_pt_\(table.slot) -> g_pt_\(gt.slot) \(style);")
                } else if let big = largeRunNode(containing: table.slot, in: g) {
                    out.append("  s_pt_\(table.slot) -> \(big) [style=dashed, color=gray40, constraint=false, label=\"splits\"];")
                }
            }
        }
        out.append("}")
        return out.joined(separator: "\n")
    }

    /// The nodes and edges of one tree: `<prefix>_root`, `<prefix>_pt_<slot>`,
    /// `<prefix>_pt_<slot>_r<k>` (a run of PTEs), `<prefix>_big_<slot>` (a run of 4 MiB pages).
    static func treeNodes(_ t: Tree, prefix p: String, rootLabel: String, shadow: Bool) -> [String] {
        var out = ["    \(p)_root [label=\"\(rootLabel)\"];"]
        if t.directoryUnreadable {
            out.append("    \(p)_root_bad [shape=plaintext, label=\"not RAM: not read\"];")
            out.append("    \(p)_root -> \(p)_root_bad;")
            return out
        }
        for run in Run.merge(t.largePages) {
            let first = run.first.index, last = first + run.count - 1
            let slots = run.count == 1 ? "PDE \(first)" : "PDE \(first)-\(last)"
            out.append("    \(p)_big_\(first) [shape=note, label=\"\(slots): 4 MiB page\(run.count == 1 ? "" : "s")\\n\(run.linearText)\\n-> \(run.physicalText)\\n\(run.rightsText)\"];")
            out.append("    \(p)_root -> \(p)_big_\(first);")
        }
        for table in t.tables.prefix(maxTables) {
            let s = table.slot
            let span = "\(hex(s << 22))-\(hex(s << 22 | 0x3F_FFFF))"
            let name = shadow ? "shadow PT" : "PT"
            out.append("    \(p)_pt_\(s) [label=\"\(name) \(hex(table.pde & 0xFFFF_F000))\\nslot \(s): \(span)\"];")
            out.append("    \(p)_root -> \(p)_pt_\(s) [label=\"\(s)\"];")
            guard let leaves = table.mappings else {
                out.append("    \(p)_pt_\(s)_bad [shape=plaintext, label=\"not RAM: not read\"];")
                out.append("    \(p)_pt_\(s) -> \(p)_pt_\(s)_bad;")
                continue
            }
            let runs = Run.merge(leaves)
            if runs.isEmpty {
                out.append("    \(p)_pt_\(s)_r0 [shape=plaintext, label=\"\(shadow ? "nothing filled yet" : "no present PTE")\"];")
                out.append("    \(p)_pt_\(s) -> \(p)_pt_\(s)_r0;")
            }
            for (k, run) in runs.prefix(maxRunsPerTable).enumerated() {
                let first = run.first.index, last = first + run.count - 1
                let entries = run.count == 1 ? "PTE \(first)" : "PTE \(first)-\(last)"
                out.append("    \(p)_pt_\(s)_r\(k) [shape=note, label=\"\(entries)\\n\(run.linearText)\\n-> \(run.physicalText)\\n\(run.rightsText)\"];")
                out.append("    \(p)_pt_\(s) -> \(p)_pt_\(s)_r\(k);")
            }
            if runs.count > maxRunsPerTable {
                let rest = runs.dropFirst(maxRunsPerTable)
                let pages = rest.reduce(0) { $0 + $1.count }
                out.append("    \(p)_pt_\(s)_more [shape=plaintext, label=\"... \(rest.count) more runs (\(pages) pages)\"];")
                out.append("    \(p)_pt_\(s) -> \(p)_pt_\(s)_more;")
            }
        }
        if t.tables.count > maxTables {
            out.append("    \(p)_more [shape=plaintext, label=\"... \(t.tables.count - maxTables) more page tables\"];")
            out.append("    \(p)_root -> \(p)_more;")
        }
        return out
    }

    /// The node of the 4 MiB run (in the guest tree) that covers PD slot `slot`.
    static func largeRunNode(containing slot: UInt32, in t: Tree) -> String? {
        for run in Run.merge(t.largePages) {
            let first = run.first.index
            if Int(slot) >= first && Int(slot) < first + run.count { return "g_big_\(first)" }
        }
        return nil
    }
}
