import Testing
import X86Core
import Machine

/// The tests that need a working 8259 run once `DualPIC` is more than a stub.
let picIsImplemented: Bool = {
    let pic = DualPIC()
    initializePIC(pic)
    pic.setIRQ(1, level: true)
    return pic.interruptOutput
}()

/// ICW1–4 as a PC BIOS or kernel sends them: master at vector 0x20, slave at 0x28, all unmasked.
func initializePIC(_ pic: DualPIC) {
    for (port, value) in [(0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01),
                          (0xA0, 0x11), (0xA1, 0x28), (0xA1, 0x02), (0xA1, 0x01),
                          (0x21, 0x00), (0xA1, 0x00)] as [(UInt16, UInt32)] {
        pic.write(port: port, size: 1, value: value)
    }
}

final class ControllerBench {
    let apic = APICBench()
    let pic = DualPIC()
    let controller: InterruptController

    init() {
        initializePIC(pic)
        controller = InterruptController(pic: pic, lapic: apic.lapic)
    }
}

@Test func lapicInterruptsReachINTRAndRequestsThatVanishAreSpurious() {
    let b = ControllerBench()
    #expect(!b.controller.pending)
    b.apic.lapic.accept(vector: 0x50, levelTriggered: false)
    #expect(b.controller.pending)
    #expect(b.controller.acknowledge() == 0x50)
    #expect(!b.controller.pending)
    b.apic.write(0xB0, 0)
    b.apic.lapic.accept(vector: 0x40, levelTriggered: false)
    #expect(b.controller.pending)
    b.apic.write(0x80, 0x80)  // TPR raised before INTA
    #expect(!b.controller.pending)
    #expect(b.controller.acknowledge() == 0xFF)  // SVR spurious vector, no ISR bit
    #expect(b.apic.read(0x120) == 0)  // ISR vectors 0x40–0x5F
    b.apic.write(0xF0, 0x0EF)  // software disabled: nothing at all
    #expect(b.controller.acknowledge() == nil)
}

@Test(.enabled(if: picIsImplemented, "DualPIC is still a stub"))
func extINTFromThe8259GoesFirstAndIgnoresTPR() {
    let b = ControllerBench()
    b.apic.lapic.accept(vector: 0xE0, levelTriggered: false)
    b.apic.write(0x80, 0xF0)  // blocks every fixed vector, not ExtINT
    b.pic.setIRQ(1, level: true)
    #expect(b.controller.pending)
    #expect(b.controller.acknowledge() == 0x21)
    b.pic.write(port: 0x20, size: 1, value: 0x20)  // 8259 EOI
    b.pic.setIRQ(1, level: false)
    #expect(!b.controller.pending)
    b.apic.write(0x80, 0)
    b.pic.setIRQ(3, level: true)
    #expect(b.controller.acknowledge() == 0x23)  // ExtINT before the waiting fixed 0xE0
    #expect(b.controller.acknowledge() == 0xE0)
}

@Test(.enabled(if: picIsImplemented, "DualPIC is still a stub"))
func lint0GatesThe8259() {
    let b = ControllerBench()
    b.pic.setIRQ(4, level: true)
    b.apic.write(0x350, 0x10700)  // LINT0 masked: the 8259 is cut off
    #expect(!b.controller.pending)
    #expect(b.controller.acknowledge() == 0xFF)
    b.apic.write(0xF0, 0xFF)  // APIC software disabled: the 8259 passes again
    #expect(b.controller.pending)
    #expect(b.controller.acknowledge() == 0x24)
}
