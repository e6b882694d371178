import Testing
import X86Core
import Machine

final class UARTBench {
    let apic = APICBench()
    let lines: InterruptLines
    let uart: UART16550
    var sent: [UInt8] = []

    init() {
        lines = InterruptLines(pic: DualPIC(), ioapic: IOAPIC(lapic: apic.lapic))
        uart = UART16550(lines: lines)
        uart.onTransmit = { [unowned self] in self.sent.append($0) }
    }

    func inb(_ offset: UInt16) -> UInt8 { UInt8(uart.read(port: 0x3F8 + offset, size: 1)) }
    func outb(_ offset: UInt16, _ value: UInt8) { uart.write(port: 0x3F8 + offset, size: 1, value: UInt32(value)) }
    var irq4: Bool { lines.isHigh(4) }
}

@Test func uartResetStateMatchesQEMUWithNoModem() {
    let b = UARTBench()
    #expect(b.inb(1) == 0)
    #expect(b.inb(2) == 0x01)
    #expect(b.inb(3) == 0)
    #expect(b.inb(4) == 0x08)
    #expect(b.inb(5) == 0x60)
    #expect(b.inb(6) == 0xB0)
    #expect(b.uart.wantsInput)
    #expect(!b.irq4)
}

@Test func dlabSwitchesTheFirstTwoPortsToTheDivisorLatch() {
    let b = UARTBench()
    b.outb(1, 0x05)
    b.outb(3, 0x83)
    #expect(b.inb(0) == 0x0C && b.inb(1) == 0)  // 9600 baud default
    b.outb(0, 0x01)
    b.outb(1, 0x02)
    #expect(b.sent.isEmpty)
    #expect(b.inb(0) == 0x01 && b.inb(1) == 0x02)
    b.outb(3, 0x03)
    #expect(b.inb(1) == 0x05)
    b.outb(0, 0x41)
    #expect(b.sent == [0x41])
    b.outb(7, 0x5A)
    #expect(b.inb(7) == 0x5A)
}

@Test func receivedBytesAreReadInOrderAndSetDataReady() {
    let b = UARTBench()
    b.uart.receive([0x41, 0x42])
    #expect(!b.uart.wantsInput)  // one-byte holding register with FIFOs off
    #expect(b.inb(5) & 1 == 1)
    #expect(b.inb(0) == 0x41)
    #expect(b.uart.wantsInput)
    #expect(b.inb(0) == 0x42)
    #expect(b.inb(5) == 0x60)
}

@Test func interruptIdentificationFollowsThe16550Priorities() {
    let b = UARTBench()
    b.outb(4, 0x18)  // loopback + OUT2: CTS and DSR drop → DCTS, DDSR
    b.outb(1, 0x0F)
    b.outb(0, 0x61)
    b.outb(0, 0x62)  // holding register full: overrun, the new byte replaces it
    #expect(!b.irq4)  // loopback forces the OUT2 pin inactive
    #expect(b.inb(2) == 0x06)
    #expect(b.inb(5) == 0x63)  // DR | OE | THRE | TEMT; reading clears OE
    #expect(b.inb(2) == 0x04)
    #expect(b.inb(0) == 0x62)
    #expect(b.inb(2) == 0x02)  // reading IIR with THRE as the source clears it
    #expect(b.inb(2) == 0x00)
    #expect(b.inb(6) == 0x83)  // DCD (OUT2) | DDSR | DCTS
    #expect(b.inb(2) == 0x01)
    #expect(!b.irq4)
    #expect(b.sent.isEmpty)
}

@Test func loopbackEchoesTransmittedBytesAndMirrorsMCRInMSR() {
    let b = UARTBench()
    b.outb(2, 0x07)  // FIFOs on and reset
    b.outb(4, 0x1F)
    for c in [UInt8](arrayLiteral: 0x68, 0x69) { b.outb(0, c) }
    #expect(b.sent.isEmpty)
    #expect(b.inb(0) == 0x68 && b.inb(0) == 0x69)
    #expect(b.inb(6) & 0xF0 == 0xF0)
    b.outb(4, 0x10)  // RI falls: TERI
    #expect(b.inb(6) == 0x0F)  // CTS, DSR, RI, DCD all fell
    #expect(b.inb(6) == 0x00)
    b.uart.receive([0x70])  // the serial input is disconnected in loopback
    #expect(b.inb(5) & 1 == 0)
    b.outb(4, 0x08)
    #expect(b.inb(0) == 0x70)
}

@Test func aFullFIFOKeepsItsBytesOnOverrun() {
    let b = UARTBench()
    b.outb(2, 0x01)
    b.outb(4, 0x10)
    for c in UInt8(0)..<17 { b.outb(0, c) }
    #expect(b.inb(5) == 0x63)
    var got: [UInt8] = []
    while b.inb(5) & 1 != 0 { got.append(b.inb(0)) }
    #expect(got == Array(0..<16))
}

@Test func fifoInterruptsAtTheTriggerLevelAndKeepsHostInput() {
    let b = UARTBench()
    b.outb(2, 0xC1)  // FIFOs on, trigger 14
    b.outb(1, 0x01)
    #expect(b.inb(2) == 0xC1)
    b.uart.receive(Array(0..<13))
    #expect(b.inb(2) == 0xCC)  // below trigger: character timeout
    b.uart.receive(Array(13..<20))
    #expect(b.inb(2) == 0xC4)
    #expect(!b.uart.wantsInput)  // 16 in the FIFO, 4 waiting
    var got: [UInt8] = []
    for _ in 0..<4 { got.append(b.inb(0)) }
    #expect(b.uart.wantsInput)
    while b.inb(5) & 1 != 0 { got.append(b.inb(0)) }
    #expect(got == Array(0..<20))
    #expect(b.inb(2) == 0xC1)
    b.outb(2, 0x81)  // trigger 8
    b.uart.receive(Array(0..<8))
    #expect(b.inb(2) == 0xC4)
    b.outb(2, 0x83)  // RX FIFO reset
    #expect(b.inb(5) & 1 == 0)
    b.outb(2, 0x00)
    #expect(b.inb(2) == 0x01)
}

@Test func out2LeavesTheIRQLineAloneAsQEMUWiresIt() {
    let b = UARTBench()
    b.outb(4, 0x00)  // xv6's uartinit: MCR = 0, then the receive interrupt on
    b.outb(1, 0x02)
    #expect(b.irq4)
    b.outb(4, 0x10)  // loopback still cuts the line
    #expect(!b.irq4)
}

@Test func out2GatesTheIRQLineOnAPCATAdapter() {
    let b = UARTBench()
    b.uart.out2GatesIRQ = true
    b.outb(4, 0x00)
    b.outb(1, 0x02)  // THRE interrupt pending at once
    #expect(!b.irq4)
    b.outb(4, 0x08)
    #expect(b.irq4)
    b.outb(4, 0x18)
    #expect(!b.irq4)
    b.outb(4, 0x08)
    #expect(b.inb(2) == 0x02)
    #expect(!b.irq4)
}

@Test func thrEmptyInterruptRearmsOnIEREnableAndTHRWrite() {
    let b = UARTBench()
    b.outb(1, 0x02)
    #expect(b.inb(2) == 0x02)
    #expect(b.inb(2) == 0x01)
    b.outb(1, 0x02)  // already enabled: no new interrupt
    #expect(b.inb(2) == 0x01)
    b.outb(1, 0x00)
    b.outb(1, 0x02)
    #expect(b.irq4)
    #expect(b.inb(2) == 0x02)
    b.outb(0, 0x41)
    #expect(b.irq4)
    #expect(b.inb(2) == 0x02)
    #expect(b.sent == [0x41])
}

/// On a machine (a clock attached) host input waits for 100 ms of virtual time, then arrives as
/// a timer event: a kernel that reads RBR and unmasks IRQ4 during its start-up (xv6) loses none.
@Test func hostInputWaitsForTheStartOfTypingOnAMachine() {
    let b = UARTBench()
    b.uart.clock = b.apic.clock
    b.outb(1, 0x01)  // receive interrupt on
    b.uart.receive(Array("ls\n".utf8))
    #expect(b.inb(5) & 1 == 0 && !b.irq4)
    #expect(b.uart.nextDeadline() == UART16550.inputStart)
    b.apic.at(UART16550.inputStart)
    b.uart.tick(now: UART16550.inputStart)
    #expect(b.uart.nextDeadline() == nil)
    #expect(b.irq4 && b.inb(5) & 1 == 1)
    #expect(b.inb(0) == UInt8(ascii: "l") && b.inb(0) == UInt8(ascii: "s") && b.inb(0) == 10)
    b.uart.receive([0x41])  // later input flows at once
    #expect(b.inb(5) & 1 == 1 && b.inb(0) == 0x41)
}
