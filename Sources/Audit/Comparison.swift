import Machine

/// `x86v audit --compare`: one guest on several machines, one table — the lecture: which holes a
/// classic VMM leaves open, which the UMIP fix closes, and what hardware support costs.
public struct Comparison {
    public struct Row: Sendable {
        public var machine: String
        public var holes: Int?
        public var differing: Int?
        public var traps: String?
        public var instructions: UInt64
        public var stop: StopReason
        public var sameOutputAsBare: Bool
        public init(machine: String, holes: Int?, differing: Int?, traps: String?, instructions: UInt64,
                    stop: StopReason, sameOutputAsBare: Bool) {
            self.machine = machine; self.holes = holes; self.differing = differing; self.traps = traps
            self.instructions = instructions; self.stop = stop; self.sameOutputAsBare = sameOutputAsBare
        }
    }

    public var guest: String
    public var rows: [Row] = []
    /// The binary translator's counts (blocks scanned, holes marked, traps).
    public var translation: String? = nil

    public init(guest: String) { self.guest = guest }

    public func table() -> String {
        var out = "x86v audit --compare: \(guest)\n\n"
        let header = ["machine", "holes hit", "differing", "traps/exits", "instructions", "stop (status)", "output = bare run"]
        var lines: [[String]] = [header]
        for r in rows {
            lines.append([r.machine, r.holes.map(String.init) ?? "-", r.differing.map(String.init) ?? "-", r.traps ?? "-",
                          String(r.instructions), "\(r.stop.name) (\(r.stop.exitStatus))", r.sameOutputAsBare ? "yes" : "NO"])
        }
        let widths = (0..<header.count).map { c in lines.map { $0[c].count }.max() ?? 0 }
        for l in lines {
            out += l.enumerated().map { i, cell in i == l.count - 1 ? cell : cell.padded(widths[i] + 2) }.joined() + "\n"
        }
        out += "\nholes hit: hole sites executed; differing: sites where the guest saw the virtualization;\n"
        out += "traps: instructions the classic VMM emulated (hw: VM exits; bt: with the translated holes).\n"
        if let t = translation { out += t + "\n" }
        return out
    }
}
