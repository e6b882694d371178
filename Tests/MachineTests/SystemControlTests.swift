import Testing
import Machine

private func rig() -> (SystemControl, () -> Int) {
    let sc = SystemControl()
    var resets = 0
    sc.onReset = { resets += 1 }
    return (sc, { resets })
}

@Test func port92ReadsBackWithA20AlwaysOnAndResetsOnARisingBit0() {
    let (sc, resets) = rig()
    #expect(sc.read(port: 0x92, size: 1) == 0x02)
    sc.write(port: 0x92, size: 1, value: 0x00)  // "disable A20": still reads enabled
    #expect(sc.read(port: 0x92, size: 1) == 0x02)
    #expect(resets() == 0)
    sc.write(port: 0x92, size: 1, value: 0x01)
    #expect(resets() == 1)
    #expect(sc.read(port: 0x92, size: 1) == 0x03)
    sc.write(port: 0x92, size: 1, value: 0x03)  // bit 0 already set: no new reset
    #expect(resets() == 1)
    sc.write(port: 0x92, size: 1, value: 0x02)
    sc.write(port: 0x92, size: 1, value: 0x03)
    #expect(resets() == 2)
}

@Test func the8042IsNoLongerSystemControls() {
    #expect(SystemControl.portRanges == [0x92...0x92])
    let m = PCMachine(memorySize: 1 << 20)
    // 0x60/0x64 belong to the keyboard controller now: a reset through it still stops the run.
    m.bus.write(port: 0x64, size: 1, value: 0xFE)
    #expect(m.stopRequest == .resetRequested)
}
