import Foundation
import Testing
import X86Core
import Machine

// The host survives any guest byte stream: seeded random port and MMIO accesses, at every width,
// to every device of the PC (the issue-18 devices among them: IDE with two drives, the text
// screen, the 8042, fw_cfg, pc-testdev, ACPI PM), with virtual time moving and timers ticking.
// Afterwards whatever state the devices were driven into must still save and restore into a
// machine built the same way (the snapshot checks every register against what its write path
// can set), and a `snapshot` drive's file must be unchanged.

/// xorshift64*: a small deterministic generator (the seed names the run).
struct FuzzRNG {
    var s: UInt64
    init(seed: UInt64) { s = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27
        return s &* 0x2545_F491_4F6C_DD1D
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Every port a device of the machine answers, and a few nobody does.
let fuzzPortRanges: [ClosedRange<UInt16>] = [
    0x20...0x21, 0xA0...0xA1, 0x4D0...0x4D1, 0x40...0x43, 0x61...0x61, 0x70...0x71, 0x60...0x60,
    0x64...0x64, 0x92...0x92, 0x1F0...0x1F7, 0x3F6...0x3F7, 0x170...0x177, 0x376...0x377,
    0x3B4...0x3B5, 0x3C0...0x3DA, 0x3F8...0x3FF, 0x510...0x514, 0xE0...0xEB, 0x2000...0x2017,
    0x600...0x60B, 0xAFE0...0xAFE3, 0xB2...0xB3, 0xCF8...0xCFF, 0xF0...0xF1, 0x80...0x80, 0x1234...0x1236,
]

func fuzzMachine(disk: String, readOnlyDisk: String) throws -> PCMachine {
    let m = PCMachine(memorySize: 4 << 20)
    m.attachDrive(try DiskImage(path: disk, snapshot: true), index: 0)
    m.attachDrive(try DiskImage(path: readOnlyDisk, readOnly: true), index: 3)
    _ = m.attachTestDevice()
    return m
}

@Test(arguments: [1 as UInt64, 2, 3])
func randomDeviceAccessesNeverCrashAndLeaveASavableMachine(seed: UInt64) throws {
    let dir = FileManager.default.temporaryDirectory.path
    let disk = "\(dir)/x86v-fuzz-\(seed)-a.img", other = "\(dir)/x86v-fuzz-\(seed)-b.img"
    let pattern = (0..<(64 * 512)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
    try Data(pattern).write(to: URL(fileURLWithPath: disk))
    try Data(pattern.reversed()).write(to: URL(fileURLWithPath: other))
    defer { try? FileManager.default.removeItem(atPath: disk); try? FileManager.default.removeItem(atPath: other) }

    let m = try fuzzMachine(disk: disk, readOnlyDisk: other)
    var rng = FuzzRNG(seed: seed)
    let sizes: [UInt8] = [1, 1, 1, 2, 4]
    let windows: [(base: UInt32, size: UInt32)] = [(0xFEE0_0000, 0x1000), (0xFEC0_0000, 0x20), (0xFF00_0000, 0x1_0000)]
    var stops = 0
    for step in 0..<200_000 {
        switch rng.below(10) {
        case 0:
            // MMIO: the APICs and pc-testdev's window, any offset and width (unaligned too).
            let w = windows[rng.below(windows.count)]
            let address = w.base &+ UInt32(rng.below(Int(w.size)))
            let n = Int(sizes[rng.below(sizes.count)])
            if rng.below(2) == 0 {
                _ = m.memory.read(address, size: n)
            } else {
                m.memory.write(address, size: n, value: UInt32(truncatingIfNeeded: rng.next()))
            }
        case 1:
            // Time passes: timers and held input become due.
            m.cpu.statePointer.pointee.instructions &+= UInt64(rng.below(200_000))
            m.runDueTimers()
            if rng.below(4) == 0, m.interrupts.pending { _ = m.interrupts.acknowledge() }
            if m.interrupts.nmiPending { m.interrupts.acknowledgeNMI() }
        default:
            let range = fuzzPortRanges[rng.below(fuzzPortRanges.count)]
            let port = range.lowerBound &+ UInt16(rng.below(range.count))
            // Mostly small values (commands, indexes), sometimes anything.
            let value = rng.below(3) == 0 ? UInt32(truncatingIfNeeded: rng.next()) : UInt32(rng.below(0x100))
            _ = m.performPortIO(PortAccess(port: port, size: sizes[rng.below(sizes.count)], isIn: rng.below(2) == 0,
                                           isString: false, isRep: false, value: value))
        }
        if m.stopRequest != nil {
            // A debug exit, a reset or a power-off the guest asked for: the run would end here.
            stops += 1
            m.stopRequest = nil
        }
        if step % 50_000 == 49_999 {
            var decoder = KeyDecoder()
            m.keyboard.type(decoder.decode(Array("typed\n".utf8)))
        }
    }
    #expect(stops > 0, "the fuzz should reach at least one reset or power-off request")

    var w = StateWriter()
    m.saveState(to: &w)
    let bytes = w.finish()
    let copy = try fuzzMachine(disk: disk, readOnlyDisk: other)
    copy.cpu.statePointer.pointee.instructions = m.cpu.statePointer.pointee.instructions
    var r = StateReader(bytes)
    try copy.restoreState(from: &r)
    #expect(r.remaining == 0)
    var w2 = StateWriter()
    copy.saveState(to: &w2)
    #expect(w2.finish() == bytes, "a restored machine saves the same bytes")
    // The snapshot drive and the read-only drive kept their files.
    #expect(try Data(contentsOf: URL(fileURLWithPath: disk)) == Data(pattern))
    #expect(try Data(contentsOf: URL(fileURLWithPath: other)) == Data(pattern.reversed()))
}
