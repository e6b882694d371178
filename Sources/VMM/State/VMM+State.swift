import Machine
import ShadowMMU
import X86Core

// The VMM's part of a machine snapshot (section "VMM "):
//
//     policy     FNV-1a 64 of the exit policy (checked: the VMM restored into must have been
//                built with the same policy and MMU, which the snapshot's config guarantees)
//     stats      exit counts by basic reason (64), injected events
//     guest      virtual CR0, CR3, CR4; HLT activity state; NMI window requested
//     trace      the exit trace's last `seq` (the exit count when no trace is attached: every
//                recorded exit is counted and traced, so the two move together)
//     shadow     present flag, then the shadow MMU's section "SHMU"
//
// The fault trace's counters are the aggregator's (`MachineSnapshot`), because without the shadow
// MMU that trace hangs on the CPU, not on the VMM. The policy, the MMU mode, the observers and
// the trace files are the VMM's configuration and wiring: a snapshot is restored into a VMM
// built the same way, and never changes them.

extension VMM {
    /// Appends the VMM's state (section "VMM ") and the shadow MMU's, if any.
    public func saveState(to w: inout StateWriter) {
        w.tag("VMM ")
        w.put(policy.fingerprint)
        w.put(UInt32(stats.counts.count))
        for c in stats.counts { w.put(c) }
        w.put(stats.injectedEvents)
        w.put(virtualCPU.cr0); w.put(virtualCPU.cr3); w.put(virtualCPU.cr4)
        w.put(guestHalted)
        w.put(nmiWindowRequested)
        w.put(trace?.sequence ?? stats.total)
        w.put(shadow != nil)
        shadow?.saveState(to: &w)
        w.put(classic != nil)
        classic?.saveState(to: &w)
    }

    /// Reads what `saveState` wrote. On a throw nothing has changed.
    public func restoreState(from r: inout StateReader) throws(StateError) {
        try readState(from: &r)()
    }

    /// Reads and checks the section; the closure installs it (a machine restores all or nothing).
    public func readState(from r: inout StateReader) throws(StateError) -> () -> Void {
        try r.expect("VMM ")
        guard try r.get(UInt64.self) == policy.fingerprint else {
            throw StateError("the snapshot was taken under another exit policy (--exits) than this VMM's")
        }
        let n = try r.getCount(limit: 256)
        guard n == stats.counts.count else { throw StateError("snapshot corrupt: \(n) exit reasons") }
        var s = ExitStats()
        for i in 0..<n { s.counts[i] = try r.get() }
        s.injectedEvents = try r.get()
        let v = VirtualCPU(cr0: try r.get(), cr3: try r.get(), cr4: try r.get())
        let halted = try r.getBool()
        let nmiWindow = try r.getBool()
        let exitSequence: UInt64 = try r.get()
        let hasShadow = try r.getBool()
        guard hasShadow == (shadow != nil) else {
            throw StateError("the snapshot was taken with --mmu=\(hasShadow ? "shadow" : "direct"), this VMM uses --mmu=\(shadow != nil ? "shadow" : "direct")")
        }
        let shadowCommit = try shadow?.readState(from: &r)
        guard try r.getBool() == (classic != nil) else {
            throw StateError("the snapshot was taken \(classic == nil ? "under" : "without") classic virtualization")
        }
        let classicCommit = try classic?.readState(from: &r)
        return {
            classicCommit?()
            self.stats = s
            self.virtualCPU = v
            self.guestHalted = halted
            self.nmiWindowRequested = nmiWindow
            self.trace?.sequence = exitSequence
            shadowCommit?()
        }
    }
}

extension ExitPolicy {
    /// FNV-1a 64 of every field: equal policies, equal fingerprints.
    var fingerprint: UInt64 {
        var h = FNV1a64()
        for word in ioPorts.words { h.add(word) }
        for flag in [cr0Write, cr3Write, cr3Read, cr4Write, invlpg, hlt, cpuid, msr, rdtsc, drAccess,
                     descriptorTables, mmio] {
            h.add(UInt8(flag ? 1 : 0))
        }
        h.add(exceptions)
        return h.value
    }
}

/// FNV-1a, 64 bits (the policy fingerprint; word-wise, the snapshot file's checksum).
struct FNV1a64 {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01B3

    mutating func add<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { add($0) }
    }

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for b in bytes { h = (h ^ UInt64(b)) &* Self.prime }
        value = h
    }

    /// FNV-1a with 64-bit little-endian words as the unit (the bytes of a last partial word one
    /// by one): eight times fewer multiplies, for the snapshot file's checksum (128 MiB of pages
    /// in about 40 ms instead of 300).
    mutating func addWords(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        let words = bytes.count / 8
        for i in 0..<words {
            h = (h ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) &* Self.prime
        }
        for b in bytes[(words * 8)...] { h = (h ^ UInt64(b)) &* Self.prime }
        value = h
    }
}
