/// A map from guest frame addresses (page-aligned guest-physical addresses) to values, as a flat
/// array indexed by frame number: the shadow MMU looks one up on every fault and every write to a
/// page table, where hashing a dictionary key was the largest single cost (~13% of a PTE-churn
/// run under callgrind). Frames past guest RAM (a guest table pointing outside RAM) go to a
/// small dictionary; `removeAll` clears only the slots in use.
struct FrameTable<Value> {
    fileprivate var slots: [Value?]
    /// Frame numbers of occupied slots (unordered; `keys` sorts them).
    private var occupied: [UInt32] = []
    /// Position of each occupied frame in `occupied` (for O(1) removal).
    private var position: [Int32]
    fileprivate var outside: [UInt32: Value] = [:]

    init(frames: Int) {
        slots = Array(repeating: nil, count: frames)
        position = Array(repeating: -1, count: frames)
    }

    var count: Int { occupied.count + outside.count }
    var isEmpty: Bool { count == 0 }

    /// Occupied keys (frame addresses), ascending: for snapshots and deterministic walks.
    var keys: [UInt32] {
        (occupied.map { $0 << 12 } + outside.keys).sorted()
    }

    @inline(__always)
    fileprivate func index(_ key: UInt32) -> Int? {
        let i = Int(key >> 12)
        return i < slots.count ? i : nil
    }

    /// Whether `key` has a value (without copying it: no retain of an array value).
    @inline(__always)
    func contains(_ key: UInt32) -> Bool {
        guard let i = index(key) else { return outside[key] != nil }
        return position[i] >= 0
    }

    subscript(key: UInt32) -> Value? {
        get {
            guard let i = index(key) else { return outside[key] }
            return slots[i]
        }
        set {
            guard let i = index(key) else { outside[key] = newValue; return }
            if newValue != nil {
                if slots[i] == nil {
                    position[i] = Int32(occupied.count)
                    occupied.append(UInt32(i))
                }
                slots[i] = newValue
            } else if slots[i] != nil {
                slots[i] = nil
                let p = Int(position[i])
                let last = occupied.removeLast()
                if p < occupied.count {
                    occupied[p] = last
                    position[Int(last)] = Int32(p)
                }
                position[i] = -1
            }
        }
    }

    /// In-place update of a value that is there (no copy of an array value).
    @inline(__always)
    mutating func modify(_ key: UInt32, _ body: (inout Value) -> Void) {
        guard let i = index(key) else {
            if var v = outside[key] { body(&v); outside[key] = v }
            return
        }
        guard slots[i] != nil else { return }
        body(&slots[i]!)
    }

    mutating func removeAll() {
        for i in occupied {
            slots[Int(i)] = nil
            position[Int(i)] = -1
        }
        occupied.removeAll(keepingCapacity: true)
        outside.removeAll()
    }
}

/// A root's shadow page tables by page-directory slot: 1,024 slots in one array (a table's
/// address is a pool page, never 0, so 0 means none), looked up on every fill.
struct SlotTable {
    private var slots = [UInt32](repeating: 0, count: 1024)
    private(set) var count = 0

    init() {}

    subscript(index: UInt16) -> UInt32? {
        get { let v = slots[Int(index) & 1023]; return v == 0 ? nil : v }
        set {
            let i = Int(index) & 1023
            let had = slots[i] != 0
            slots[i] = newValue ?? 0
            count += (newValue != nil ? 1 : 0) - (had ? 1 : 0)
        }
    }

    mutating func removeValue(forKey index: UInt16) -> UInt32? {
        let v = self[index]
        self[index] = nil
        return v
    }

    /// Occupied slots, ascending.
    var keys: [UInt16] {
        slots.indices.filter { slots[$0] != 0 }.map { UInt16($0) }
    }
}

extension FrameTable where Value == ShadowMMU.Tracked {
    /// A tracked frame's flood count, read in place (0 if untracked).
    @inline(__always)
    func writesSinceUse(_ key: UInt32) -> Int {
        guard let i = index(key) else { return outside[key]?.writesSinceUse ?? 0 }
        return slots[i]?.writesSinceUse ?? 0
    }

    /// Whether a tracked frame is out of sync, read in place (false if untracked).
    @inline(__always)
    func isUnsync(_ key: UInt32) -> Bool {
        guard let i = index(key) else { return outside[key]?.unsync ?? false }
        return slots[i]?.unsync ?? false
    }
}
