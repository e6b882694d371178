import Testing
import X86Core
import Machine

private func out(_ m: PCMachine, _ port: UInt16, _ v: UInt32, size: Int = 1) { m.bus.write(port: port, size: size, value: v) }
private func inb(_ m: PCMachine, _ port: UInt16) -> UInt8 { UInt8(m.bus.read(port: port, size: 1)) }
private func crtc(_ m: PCMachine, _ i: UInt8) -> UInt8 { out(m, 0x3D4, UInt32(i)); return inb(m, 0x3D5) }

@Test func vgaPowerOnRegistersAreMode3s() {
    let m = PCMachine(memorySize: 1 << 20)
    #expect(inb(m, 0x3CC) == 0x67)
    #expect((0..<25).map { crtc(m, UInt8($0)) } == VGAText.mode3CRTC)
    #expect(crtc(m, 0x19) == 0 && inb(m, 0x3D4) == 0x19)
}

@Test func vgaWriteProtectAndWordWrites() {
    let m = PCMachine(memorySize: 1 << 20)
    out(m, 0x3D4, 0x01); out(m, 0x3D5, 0x33)
    #expect(crtc(m, 0x01) == 0x4F)  // CR11 bit 7 protects CR0–CR7
    out(m, 0x3D4, 0x07); out(m, 0x3D5, 0x00)
    #expect(crtc(m, 0x07) == 0x0F)  // but CR7 bit 4
    out(m, 0x3D4, 0x0A0E, size: 2)
    #expect(crtc(m, 0x0E) == 0x0A)
}

@Test func vgaStatusTogglesAndMonoPortsFollowMisc() {
    let m = PCMachine(memorySize: 1 << 20)
    let a = inb(m, 0x3DA), b = inb(m, 0x3DA)
    #expect(a ^ b == 0x09)
    #expect(inb(m, 0x3B4) == 0xFF && inb(m, 0x3BA) == 0xFF)
    out(m, 0x3C2, 0x76)  // mono; bit 4 is not stored
    #expect(inb(m, 0x3CC) == 0x66)
    out(m, 0x3B4, 0x0F)
    #expect(inb(m, 0x3B4) == 0x0F && inb(m, 0x3D4) == 0xFF && inb(m, 0x3D5) == 0xFF)
    out(m, 0x3D4, 0x00)  // ignored while mono
    #expect(inb(m, 0x3B4) == 0x0F)
}

@Test func vgaScreenFollowsStartAddressAndCursor() {
    let m = PCMachine(memorySize: 1 << 20)
    m.vga.clearScreen()
    m.memory.write(0xB8000 + 160, size: 2, value: 0x1F41)  // 'A' on row 1
    var s = m.vga.screen()
    #expect(s.cells[80] == 0x1F41 && s.cells[0] == 0x0720)
    #expect(s.cursorRow == 0 && s.cursorColumn == 0)  // home
    out(m, 0x3D4, 0x0E); out(m, 0x3D5, 0x02)
    out(m, 0x3D4, 0x0F); out(m, 0x3D5, 0x85)  // row 8, column 5
    out(m, 0x3D4, 0x0D); out(m, 0x3D5, 80)  // start one row down
    s = m.vga.screen()
    #expect(s.cells[0] == 0x1F41 && s.cursorRow == 7 && s.cursorColumn == 5)
    out(m, 0x3D4, 0x0A); out(m, 0x3D5, 0x2D)  // cursor off
    #expect(m.vga.screen().cursorRow == nil)
    out(m, 0x3D4, 0x0A); out(m, 0x3D5, 0x0F)  // start below end: nothing drawn
    #expect(m.vga.screen().cursorRow == nil)
}

@Test func vgaSnapshotRoundTrip() throws {
    let a = PCMachine(memorySize: 1 << 20)
    out(a, 0x3D4, 0x0E); out(a, 0x3D5, 0x01)
    _ = inb(a, 0x3DA)
    var w = StateWriter()
    a.vga.saveState(to: &w)
    let b = PCMachine(memorySize: 1 << 20)
    var r = StateReader(w.bytes)
    try b.vga.restoreState(from: &r)
    #expect(crtc(b, 0x0E) == 0x01 && inb(b, 0x3DA) == inb(a, 0x3DA))
}
