import X86Core
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The snapshot file (`x86v run --save FILE`, `--resume FILE`; docs/formats.md, "Machine
// snapshots"). Little-endian, every string and blob length-prefixed (u32):
//
//     "X86VSNAP"  magic (8 bytes)
//     u32         format version (`formatVersion`)
//     u64         length of the whole file (a short file is "truncated", not "corrupt")
//     string      build identity of the x86v that wrote it (`buildIdentity`)
//     CONF        the `SnapshotConfig`
//     SNAP        u64 instruction count, u8 fault-trace counters present, [u64 last seq,
//                 u64 delivered], u64 × 5 mode switches (real→protected, protected→real, V86
//                 entries, V86 exits, task switches)
//     blob        section "CPU "
//     u8 + blob   VMM present, section "VMM " (with "SHMU" under the shadow MMU)
//     blob        sections "MACH" … "LNXW" (PCMachine)
//     RAM         the sparse RAM image (`RAMImage.write`)
//     "END "
//     u64         FNV-1a 64 of every byte before it, taken as little-endian 64-bit words (the
//                 bytes of a last partial word one by one)
//
// Reading checks, in this order: the magic, the version, the length, the checksum, the build
// identity; only then are the sections parsed (each one checked again as it is read).

extension MachineSnapshot {
    public static let formatVersion: UInt32 = 5

    /// Names the x86v build: a snapshot is only resumed by the build that wrote it, since another
    /// build may execute differently and the resumed run would no longer be exact. On Linux it
    /// is the FNV-1a 64 of the running executable; elsewhere the format version alone.
    public static let buildIdentity: String = {
        var h = FNV1a64()
        guard let f = fopen("/proc/self/exe", "rb") else { return "x86v snapshot format \(formatVersion)" }
        defer { fclose(f) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let n = fread(buffer, 1, 1 << 16, f)
            if n <= 0 { break }
            h.addWords(UnsafeRawBufferPointer(start: buffer, count: n))
            total += n
        }
        return "x86v snapshot format \(formatVersion), build \(hex64(h.value)) (\(total) bytes)"
    }()

    static let magic: [UInt8] = Array("X86VSNAP".utf8)

    /// The file form of this snapshot, with the machine's `config`.
    public func fileBytes(config: SnapshotConfig) -> [UInt8] {
        var w = StateWriter(reserving: 1 << 16 + ram.nonZeroPages * (RAMImage.pageSize + 8))
        for b in Self.magic { w.put(b) }
        w.put(Self.formatVersion)
        w.put(UInt64(0))  // the length, patched below
        w.put(Self.buildIdentity)
        config.write(to: &w)
        w.tag("SNAP")
        w.put(instructionCount)
        w.put(faultCounters != nil)
        if let f = faultCounters { w.put(f.sequence); w.put(f.delivered) }
        let m = modeCounters
        w.put(m.realToProtected); w.put(m.protectedToReal); w.put(m.v86Entries); w.put(m.v86Exits); w.put(m.taskSwitches)
        w.put(bytes: cpuState)
        w.put(vmmState != nil)
        if let v = vmmState { w.put(bytes: v) }
        w.put(bytes: machineState)
        ram.write(to: &w)
        w.tag("END ")
        var bytes = w.finish()
        let length = UInt64(bytes.count + 8)
        for i in 0..<8 { bytes[12 + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(i))) }
        var h = FNV1a64()
        bytes.withUnsafeBytes { h.addWords($0) }
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: h.value >> (8 * UInt64(i)))) }
        return bytes
    }

    /// Parses a snapshot file. Errors name the problem in one line: not a snapshot, another
    /// format version or x86v build, truncated, corrupt (checksum or a bad field).
    public static func read(fileBytes bytes: [UInt8]) throws(StateError) -> (SnapshotConfig, MachineSnapshot) {
        guard bytes.count >= 8, Array(bytes[0..<8]) == magic else {
            throw StateError(bytes.count < 8 && bytes == Array(magic.prefix(bytes.count))
                             ? "snapshot truncated at byte \(bytes.count) (of the header)"
                             : "not an x86v snapshot (no X86VSNAP header)")
        }
        var r = StateReader(bytes, offset: 8)
        let version: UInt32 = try r.get()
        guard version == formatVersion else {
            throw StateError("snapshot format version \(version): this x86v reads version \(formatVersion) only")
        }
        let length: UInt64 = try r.get()
        guard UInt64(bytes.count) >= length else {
            throw StateError("snapshot truncated: \(bytes.count) of \(length) bytes")
        }
        guard UInt64(bytes.count) == length, length >= 8 else {
            throw StateError("snapshot corrupt: \(bytes.count) bytes where the header says \(length)")
        }
        var h = FNV1a64()
        bytes.withUnsafeBytes { h.addWords(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 8)])) }
        var stored: UInt64 = 0
        for i in 0..<8 { stored |= UInt64(bytes[bytes.count - 8 + i]) << (8 * UInt64(i)) }
        guard stored == h.value else { throw StateError("snapshot corrupt: checksum mismatch") }
        let identity = try r.getString(limit: 4096)
        guard identity == buildIdentity else {
            throw StateError("snapshot written by another x86v build (\(identity)); this is \(buildIdentity)")
        }
        let config = try SnapshotConfig.read(from: &r)
        try r.expect("SNAP")
        let count: UInt64 = try r.get()
        var faults: FaultCounters? = nil
        if try r.getBool() { faults = FaultCounters(sequence: try r.get(), delivered: try r.get()) }
        var modes = ModeCounters()
        modes.realToProtected = try r.get(); modes.protectedToReal = try r.get()
        modes.v86Entries = try r.get(); modes.v86Exits = try r.get(); modes.taskSwitches = try r.get()
        let cpu = Array(try r.getBytes(limit: 1 << 24))
        var vmm: [UInt8]? = nil
        if try r.getBool() { vmm = Array(try r.getBytes(limit: 1 << 28)) }
        guard (vmm != nil) == (config.virt != .none) else {
            throw StateError("snapshot corrupt: VMM state \(vmm == nil ? "missing" : "present") with --virt=\(config.virt.rawValue)")
        }
        let machine = Array(try r.getBytes(limit: 1 << 28))
        let pageCount = (config.memoryBytes + config.privateMemoryBytes) / RAMImage.pageSize
        let ram = try RAMImage.read(from: &r, pageCount: pageCount)
        try r.expect("END ")
        guard r.remaining == 8 else { throw StateError("snapshot corrupt: \(r.remaining - 8) stray bytes before the checksum") }
        return (config, MachineSnapshot(cpuState: cpu, machineState: machine, vmmState: vmm, faultCounters: faults,
                                        modeCounters: modes, ram: ram, instructionCount: count))
    }
}

func hex64(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}
