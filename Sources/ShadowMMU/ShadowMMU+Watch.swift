/// Write tracing of guest pages for the owner, the way a pre-VT VMM traced the guest's
/// descriptor tables (Adams & Agesen 2006 §3.2, "tracing"): the shadow keeps every mapping of a
/// watched frame read-only, each guest store to it takes a hidden write-protect fault and is
/// emulated like a store to a page table, and `watchedWrite` runs at the next instruction
/// boundary, before the guest's next instruction can use what it wrote. The faults count as
/// write-protect faults (`Stats.writeProtectFaults`).
extension ShadowMMU {
    /// Replaces the set of watched guest frames; newly watched ones lose their writable mappings.
    public func watch(frames: Set<UInt32>) {
        guard frames != watchedFrames else { return }
        let added = frames.subtracting(watchedFrames)
        watchedFrames = frames
        for frame in added { writeProtect(frame) }
    }

    @inline(__always)
    func isWatched(_ frame: UInt32) -> Bool {
        !watchedFrames.isEmpty && watchedFrames.contains(frame)
    }

    func noteWatchedWrite() {
        watchedDirty = true
        cpu.requestBoundaryCallback()
    }
}
