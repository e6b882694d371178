import X86Core

/// QEMU's `pc-testdev`, the ISA device kvm-unit-tests and other kernel test suites use to poke
/// the emulator (QEMU hw/misc/pc-testdev.c): a scratch I/O register, a "flush page" port, 24
/// interrupt lines the guest drives itself, and 64 KiB of MMIO that behaves as RAM. QEMU has it
/// only with `-device pc-testdev`; x86v only with `--device pc-testdev` (`PCMachine.attachTestDevice`).
///
/// | Port / address | Access | What it does |
/// | --- | --- | --- |
/// | 0xE0–0xE3 | 1, 2, 4 bytes, aligned to the size | a 32-bit register: byte n of it at 0xE0 + n |
/// | 0xE8, 0xEA–0xEB | any | the same register a byte at a time (0xE9 stays the debug console) |
/// | 0xE4–0xE7 | 32-bit write to 0xE4 | "flush page" of the physical address written: nothing to do in x86v (below) |
/// | 0x2000 + n, n = 0…23 | 8-bit write | drives interrupt line n: high for a non-zero value, low for 0 |
/// | 0xFF000000–0xFF00FFFF | any width, unaligned, page-crossing | plain storage (kvm-unit-tests' IORAM) |
///
/// Each was checked against QEMU 7.2 (the test guest `testdev`). Where x86v departs from it:
/// an unaligned access to 0xE0–0xE3 (0xE1 as a word) reads 0 and writes nothing on both, but an
/// access past the end of the MMIO window reads 0 in QEMU and all ones in x86v (nothing decodes
/// it); lines 16–23 go to I/O APIC pins 16–23 (QEMU 7.2 aborts on an assertion: its ISA bus has
/// 16 IRQs); 0xE9 is the debug console, not a fourth byte of the register.
///
/// "Flush page" is for KVM: QEMU write-protects and re-enables the host page behind the guest
/// frame, so that KVM has to rebuild its EPT entry on the next access. x86v has no host mapping
/// per frame to redo, and what it caches is coherent with guest memory by construction (the soft
/// TLB holds linear→physical translations the guest's own INVLPG/CR3 rules govern, decoded code
/// is dropped on every store to its page), so the write is accepted and does nothing, which is
/// all a guest can observe under QEMU too.
public final class PCTestDevice: PortDevice {
    /// The I/O ports the device answers (0xE9 is left to `DebugPorts`).
    public static let portRanges: [ClosedRange<UInt16>] = [0xE0...0xE8, 0xEA...0xEB, 0x2000...0x2017]
    /// The MMIO window (QEMU's IOMEM_LEN, kvm-unit-tests' IORAM_BASE_PHYS/IORAM_LEN).
    public static let memoryBase: UInt32 = 0xFF00_0000
    public static let memorySize: UInt32 = 0x1_0000
    /// Interrupt lines the 0x2000 ports drive.
    public static let lineCount = 24

    /// The scratch register at 0xE0.
    var scratch: UInt32 = 0
    /// Lines 16–23, which only the I/O APIC has (bit n − 16); 0–15 are `InterruptLines`' own.
    var upperLines: UInt8 = 0
    /// The MMIO window's bytes.
    let memory: Storage
    let lines: InterruptLines

    public init(lines: InterruptLines) {
        self.lines = lines
        memory = Storage()
    }

    public func read(port: UInt16, size: Int) -> UInt32 {
        switch port {
        case 0xE0...0xE3:
            let byte = Int(port - 0xE0)
            guard byte % size == 0 else { return 0 }
            return scratch >> (8 * UInt32(byte))
        case 0xE8, 0xEA, 0xEB:
            // QEMU splits the access into bytes, each at (port & 3) of the register.
            let byte = Int(port & 3)
            return scratch >> (8 * UInt32(byte))
        default:
            return 0  // 0xE4 and the IRQ ports are write-only: QEMU reads 0
        }
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        switch port {
        case 0xE0...0xE3:
            let byte = Int(port - 0xE0)
            guard byte % size == 0 else { return }
            setScratch(byte: byte, size: size, value: value)
        case 0xE8, 0xEA, 0xEB:
            let byte = Int(port & 3)
            setScratch(byte: byte, size: min(size, 4 - byte), value: value)
        case 0xE4...0xE7:
            break  // flush page: see the type's comment
        case 0x2000...0x2017:
            guard size == 1 else { return }
            setLine(Int(port - 0x2000), high: value != 0)
        default:
            break
        }
    }

    private func setScratch(byte: Int, size: Int, value: UInt32) {
        let shift = 8 * UInt32(byte)
        let mask = IOBus.mask(size) << shift
        scratch = (scratch & ~mask) | ((value << shift) & mask)
    }

    /// Whether line `n` (0–23) is high.
    public func isLineHigh(_ n: Int) -> Bool {
        n < 16 ? lines.isHigh(n) : n < Self.lineCount && upperLines & (1 << UInt8(n - 16)) != 0
    }

    /// Line `n` (0–23): 0–15 are the ISA lines (both 8259s and the I/O APIC see them), 16–23
    /// reach I/O APIC pins 16–23 only.
    func setLine(_ n: Int, high: Bool) {
        if n < 16 {
            lines.set(n, high: high)
            return
        }
        let bit = UInt8(1) << UInt8(n - 16)
        guard (upperLines & bit != 0) != high else { return }
        if high { upperLines |= bit } else { upperLines &= ~bit }
        lines.ioapic.setPin(n, level: high)
    }

    /// The 64 KiB window as an MMIO region: bytes stored as written, little endian.
    final class Storage: MMIORegion {
        var bytes = [UInt8](repeating: 0, count: Int(PCTestDevice.memorySize))

        init() { super.init(base: PCTestDevice.memoryBase, size: PCTestDevice.memorySize) }

        override func read(offset: UInt32, size: Int) -> UInt32 {
            var v: UInt32 = 0
            for i in 0..<size {
                let at = Int(offset) + i
                // A byte past the window is nobody's: all ones, as on the bus.
                let b = at < bytes.count ? bytes[at] : 0xFF
                v |= UInt32(b) << (8 * UInt32(i))
            }
            return v
        }

        override func write(offset: UInt32, size: Int, value: UInt32) {
            for i in 0..<size where Int(offset) + i < bytes.count {
                bytes[Int(offset) + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))
            }
        }
    }
}

extension PCMachine {
    /// Adds QEMU's pc-testdev (`x86v run --device pc-testdev`): its ports and its MMIO window
    /// (seen by the VMM as MMIO exits, like the APICs'). Does nothing if it is already there.
    /// Call before the run starts (a snapshot restore calls it for a machine saved with one).
    @discardableResult
    public func attachTestDevice() -> PCTestDevice {
        if let device = testDevice { return device }
        let device = PCTestDevice(lines: lines)
        for r in PCTestDevice.portRanges { bus.attach(device, ports: r) }
        memory.add(ObservedRegion(device.memory, name: "pc-testdev", machine: self))
        testDevice = device
        return device
    }
}
