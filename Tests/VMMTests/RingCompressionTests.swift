import Testing
import VMM

/// The shadow descriptor rules of ring compression, on the descriptors a flat kernel uses.
@Suite struct RingCompressionTests {
    // Flat 4 GiB descriptors (SDM Vol. 3A §3.4.5): 0x00CF9A000000FFFF is ring-0 code, …
    static let kernelCode: UInt64 = 0x00CF_9A00_0000_FFFF
    static let kernelData: UInt64 = 0x00CF_9200_0000_FFFF
    static let userCode: UInt64 = 0x00CF_FA00_0000_FFFF
    static let userData: UInt64 = 0x00CF_F200_0000_FFFF
    static let busyTSS: UInt64 = 0x0000_8B10_F1A0_0067

    @Test func kernelSegmentsMoveToRingOneAndAreAccessed() {
        #expect(RingCompression.shadowDescriptor(Self.kernelCode) == 0x00CF_BB00_0000_FFFF)
        #expect(RingCompression.shadowDescriptor(Self.kernelData) == 0x00CF_B300_0000_FFFF)
    }

    @Test func userSegmentsOnlyGainTheAccessedBit() {
        #expect(RingCompression.shadowDescriptor(Self.userCode) == Self.userCode | 1 << 40)
        #expect(RingCompression.shadowDescriptor(Self.userData) == Self.userData | 1 << 40)
    }

    @Test func notPresentAndSystemDescriptors() {
        #expect(RingCompression.shadowDescriptor(0) == 0)
        #expect(RingCompression.shadowDescriptor(Self.kernelCode & ~(1 << 47)) == Self.kernelCode & ~(1 << 47))
        // TSSs and task gates are not present in the shadow: a task switch must fault and exit.
        #expect(RingCompression.shadowDescriptor(Self.busyTSS) == 0x0000_0B10_F1A0_0067)
        #expect(RingCompression.shadowDescriptor(0x0000_8500_0028_0000) == 0x0000_0500_0028_0000)
        let callGate: UInt64 = 0x0010_8C00_0008_2000  // 32-bit call gate, DPL 0, 0x08:0x00102000
        #expect(RingCompression.shadowDescriptor(callGate) == 0x0010_AC00_0008_2000)
    }

    @Test func gatesOfDPLZeroBecomeDPLOne() {
        let interrupt: UInt64 = 0x0010_8E00_0008_0028  // 32-bit interrupt gate, DPL 0
        let userTrap: UInt64 = 0x0010_EF00_0008_1C43   // 32-bit trap gate, DPL 3
        let task: UInt64 = 0x0000_8500_0028_0000
        #expect(RingCompression.shadowGate(interrupt) == 0x0010_AE00_0008_0028)
        #expect(RingCompression.shadowGate(userTrap) == userTrap)
        #expect(RingCompression.shadowGate(task) == task & ~(1 << 47))
    }

    @Test func theMiddleRingsCannotBeCompressed() {
        #expect(RingCompression.problem(withDescriptor: Self.kernelCode) == nil)
        #expect(RingCompression.problem(withDescriptor: Self.userData) == nil)
        #expect(RingCompression.problem(withDescriptor: 0x00CF_BA00_0000_FFFF) != nil)  // DPL 1 code
        #expect(RingCompression.realRing(ofGuestRing: 0) == 1 && RingCompression.guestRing(ofRealRing: 1) == 0)
        #expect(RingCompression.realRing(ofGuestRing: 3) == 3)
    }
}
