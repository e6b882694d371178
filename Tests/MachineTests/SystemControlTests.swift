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

@Test func i8042StatusWithNothingAttached() {
    let (sc, _) = rig()
    #expect(sc.read(port: 0x64, size: 1) == 0x1C)
    #expect(sc.read(port: 0x60, size: 1) == 0x00)
    sc.write(port: 0x60, size: 1, value: 0xFF)  // a keyboard reset: nobody answers
    #expect(sc.read(port: 0x64, size: 1) == 0x14)  // last write was data, buffers empty
}

@Test func i8042PulseResetCommandResets() {
    let (sc, resets) = rig()
    sc.write(port: 0x64, size: 1, value: 0xAD)
    sc.write(port: 0x64, size: 1, value: 0xAE)
    #expect(resets() == 0)
    sc.write(port: 0x64, size: 1, value: 0xFE)
    #expect(resets() == 1)
    sc.write(port: 0x64, size: 1, value: 0xFF)  // pulses nothing
    #expect(resets() == 1)
}

@Test func i8042OutputPortWriteWithBit0ClearResets() {
    let (sc, resets) = rig()
    sc.write(port: 0x64, size: 1, value: 0xD1)
    sc.write(port: 0x60, size: 1, value: 0xDF)  // A20 on, not reset
    #expect(resets() == 0)
    sc.write(port: 0x64, size: 1, value: 0xD0)
    #expect(sc.read(port: 0x64, size: 1) & 1 == 1)
    #expect(sc.read(port: 0x60, size: 1) == 0xDF)
    sc.write(port: 0x64, size: 1, value: 0xD1)
    sc.write(port: 0x60, size: 1, value: 0xDC)  // A20 off is ignored, bit 0 = 0 resets
    #expect(resets() == 1)
    sc.write(port: 0x60, size: 1, value: 0x00)  // without D1 first, data is for the keyboard
    #expect(resets() == 1)
}

@Test func i8042CommandByteReadAndWrite() {
    let (sc, _) = rig()
    sc.write(port: 0x64, size: 1, value: 0x20)
    #expect(sc.read(port: 0x64, size: 1) == 0x1D)  // output buffer full
    #expect(sc.read(port: 0x60, size: 1) == 0x65)
    #expect(sc.read(port: 0x64, size: 1) & 1 == 0)
    sc.write(port: 0x64, size: 1, value: 0x60)
    sc.write(port: 0x60, size: 1, value: 0x47)
    sc.write(port: 0x64, size: 1, value: 0x20)
    #expect(sc.read(port: 0x60, size: 1) == 0x47)
    sc.write(port: 0x64, size: 1, value: 0xAA)
    #expect(sc.read(port: 0x60, size: 1) == 0x55)
}
